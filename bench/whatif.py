"""The million-row what-if sweep (issue 6: "a million rows in seconds"): grid evaluation time and peak memory.

The sweep is `fixtures/scenarios/big-grid.toml` (100 volumes x 100 prompt lengths x 10 cache x 10 batch shares),
evaluated in a child process so that its peak RSS is its own. The CSV report of the same grid is timed too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import peak_rss_mb
from rich.console import Console
from rich.table import Table

NAME = "whatif"
SCENARIO = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios" / "big-grid.toml"
SECONDS_TARGET = 10.0  # "a million rows in seconds"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options of its own: the scenario is fixed so that runs compare."""


def child() -> dict[str, Any]:
    """One measurement (run in a fresh process): evaluate the grid, then write it as CSV."""
    from ftsim.pricing.catalog.catalog import load_catalog
    from ftsim.pricing.reports.report import write_report
    from ftsim.pricing.planning.whatif import evaluate, load_scenario

    catalog = load_catalog()
    scenario = load_scenario(SCENARIO)
    started = time.perf_counter()
    grid = evaluate(scenario, catalog=catalog)
    evaluate_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        write_report(Path(tmp) / "grid.csv", scenario, grid, None, [])
        csv_s = time.perf_counter() - started
    peak_mb = peak_rss_mb()
    return {"rows": len(grid), "evaluate_s": evaluate_s, "csv_s": csv_s, "peak_rss_mb": peak_mb}


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """Measure in a child process; print the table; return the results."""
    cmd = [sys.executable, "-m", "bench.whatif", "--child"]
    out = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True,
                         timeout=600, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"what-if child failed: {out.stderr[-2000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    passed = r["rows"] >= 1_000_000 and r["evaluate_s"] < SECONDS_TARGET
    table = Table(title="what-if: a million-row sweep (fixtures/scenarios/big-grid.toml)")
    for col in ("rows", "evaluate s", "CSV write s", "peak RSS MB", "target", "ok"):
        table.add_column(col)
    table.add_row(f"{r['rows']:,}", f"{r['evaluate_s']:.2f}", f"{r['csv_s']:.2f}", f"{r['peak_rss_mb']:.0f}",
                  f"evaluate < {SECONDS_TARGET:g} s", "yes" if passed else "NO")
    console.print(table)
    return {"benchmark": NAME, "cpu_count": os.cpu_count(), "loadavg": list(os.getloadavg()), **r,
            "seconds_target": SECONDS_TARGET, "passed": passed}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child()))
        sys.exit(0)
    sys.exit(0 if run(argparse.Namespace(), Console())["passed"] else 1)
