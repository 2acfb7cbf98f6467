"""`ftsim prices`: the price catalog (fine-tunable models first), as a table or --json."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `prices` subcommand."""
    p = sub.add_parser("prices", help="show the price catalog (USD per 1M tokens)")
    p.add_argument("--catalog", metavar="F", help="price catalog JSON (default: the bundled newest)")
    p.add_argument("--json", action="store_true", help="print the whole catalog as JSON")
    p.set_defaults(handler=run)


def _p(value: Any) -> str:
    return "-" if value is None else str(value)


def run(args: argparse.Namespace) -> int:
    """Print the catalog."""
    from ftsim.pricing.catalog.catalog import load_catalog

    catalog = load_catalog(args.catalog) if args.catalog else load_catalog()
    if args.json:
        print(catalog.model_dump_json(indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout, soft_wrap=True)
    if not console.is_terminal:
        console.width = 200
    table = Table(title=f"ftsim price catalog {catalog.catalog_version} (effective {catalog.effective_date}), USD per 1M tokens")
    for col in ("model", "aliases", "methods", "training", "tuned in / cached / out", "tuned batch in / cached / out",
                "base in / cached / out", "training until", "inference until"):
        table.add_column(col)
    for entry in catalog.models:
        training = "-"
        if entry.training is not None:
            training = f"{entry.training.price}/h" if entry.hourly else str(entry.training.price)
        def tri(prices: Any) -> str:
            return "-" if prices is None else f"{prices.input} / {_p(prices.cached_input)} / {prices.output}"
        table.add_row(
            entry.snapshot, ", ".join(entry.aliases) or "-", ", ".join(sorted(entry.methods)) or "(inference only)",
            training, tri(entry.tuned.standard if entry.tuned else None), tri(entry.tuned.batch if entry.tuned else None),
            tri(entry.base.standard if entry.base else None), _p(entry.training_until), _p(entry.inference_until),
        )
    console.print(table)
    console.print("sources: " + "; ".join(catalog.source_text(s) for s in catalog.sources), highlight=False)
    return 0
