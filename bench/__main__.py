"""`python -m bench [--only NAME] [--size-mb N]`: run the registered benchmarks, print tables, save JSON."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import sys

from rich.console import Console

from bench import RESULTS_DIR

# Benchmark modules, in run order. Add a module here (e.g. "bench.server") to add a benchmark.
REGISTRY = ["bench.estimate", "bench.server", "bench.catchup", "bench.whatif", "bench.learned", "bench.graders",
            "bench.kit", "bench.fairness"]


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run each selected benchmark, write its results JSON; with --strict exit 1 if a target is missed."""
    parser = argparse.ArgumentParser(prog="python -m bench", description="ftsim benchmarks")
    parser.add_argument("--only", action="append", help="run only this benchmark (repeatable)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a benchmark misses its target")
    modules = [importlib.import_module(name) for name in REGISTRY]
    for module in modules:
        module.add_arguments(parser)
    args = parser.parse_args(argv)
    console = Console()
    if not console.is_terminal:
        console.width = 120
    failed = False
    for module in modules:
        if args.only and module.NAME not in args.only:
            continue
        result = module.run(args, console)
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")  # a file name, not logic
        out = RESULTS_DIR / f"{module.NAME}-{stamp}.json"
        out.write_text(json.dumps(result, indent=2, default=str) + "\n")
        console.print(f"results: {out}")
        failed = failed or not result.get("passed", True)
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
