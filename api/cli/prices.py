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
    p.add_argument("--provider", choices=["openai", "azure"], default="openai",
                   help="openai: the catalog; azure: Azure OpenAI's training, inference, hosting and retirement dates")
    p.add_argument("--json", action="store_true", help="print the whole catalog as JSON")
    p.set_defaults(handler=run)


def _p(value: Any) -> str:
    return "-" if value is None else str(value)


def run(args: argparse.Namespace) -> int:
    """Print the catalog."""
    from ftsim.api.cli.compare import load_catalog_arg

    if getattr(args, "provider", "openai") == "azure":
        if args.catalog:  # the Azure table comes from the bundled provider data, never from a catalog file
            from ftsim.api.cli import CliError

            raise CliError("--catalog applies to --provider openai only (Azure prices are bundled)", code=2)
        return _azure(args)
    catalog = load_catalog_arg(args.catalog)
    if args.json:
        print(catalog.model_dump_json(indent=2))
        return 0
    console, table = _table(
        f"ftsim price catalog {catalog.catalog_version} (effective {catalog.effective_date}), USD per 1M tokens",
        ("model", "aliases", "methods", "training", "tuned in / cached / out", "tuned batch in / cached / out",
         "base in / cached / out", "training until", "inference until"),
    )
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


def _table(title: str, columns: tuple[str, ...]) -> tuple[Any, Any]:
    """A rich console on stdout (200 columns when not a terminal) and an empty table with these columns."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout, soft_wrap=True)
    if not console.is_terminal:
        console.width = 200
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    return console, table


def _azure(args: argparse.Namespace) -> int:
    """Azure OpenAI's fine-tuning prices and dates, with the wind-down facts beside them."""
    from ftsim.pricing.catalog.providers import load_providers

    providers = load_providers()
    azure = providers.azure
    if args.json:
        print(providers.model_dump_json(indent=2))
        return 0
    console, table = _table(
        f"Azure OpenAI fine-tuning ({providers.version}, effective {providers.effective_date}), USD",
        ("model", "methods", "training global / data zone / Sweden / developer", "unit",
         "inference in / cached / out (Global)", "training until (existing)", "base retires", "deployments retire"),
    )
    for m in azure.models:
        t = m.training
        table.add_row(
            m.snapshot, ", ".join(sorted(m.methods)),
            " / ".join(_p(t.get(k)) for k in ("global", "regional_us", "sweden", "developer")),
            "per hour" if m.training_unit == "per_hour" else "per 1M tokens",
            f"{m.inference.input} / {m.inference.cached_input} / {m.inference.output}",
            _p(m.training_until_existing), _p(m.base_retirement), _p(m.deployment_until),
        )
    console.print(table)
    hosting = ", ".join(f"{k} ${v}/h" for k, v in azure.hosting_per_hour.items())
    console.print(f"hosting per fine-tuned deployment: {hosting} x {azure.hours_per_month} h a month; "
                  f"Data Zone and regional inference x{azure.regional_uplift}; RFT capped at ${azure.rft_job_cap_usd} "
                  "a job; Developer tier: no hosting, deployments deleted after 24 h", highlight=False)
    for rule in providers.openai.wind_down:
        console.print(f"OpenAI wind-down from {rule.date}: {rule.text} ({rule.source})", highlight=False)
    console.print("sources: " + "; ".join(providers.source_text(s) for s in providers.sources), highlight=False)
    return 0
