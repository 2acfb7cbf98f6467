"""`ftsim whatif SCENARIO.toml [--out report.html|.md|.csv]`: sweep a scenario, print or write a report."""

from __future__ import annotations

import argparse
import sys

from ftsim.api.cli import CliError, check_example_path, check_small_file
from ftsim.api.cli.compare import date_arg, load_catalog_arg

__all__ = ["register", "run", "PROGRESS_MIN_ROWS", "MAX_GRID_ROWS"]

PROGRESS_MIN_ROWS = 200_000  # grids at least this big get a progress bar (on a terminal)
# The largest grid the command evaluates. ftsim's choice: a row takes about 0.5 KB while evaluated, so this is
# about 2.5 GB; the sweeps' product is otherwise unbounded (four 10,000-point ranges make 1e16 rows).
MAX_GRID_ROWS = 5_000_000


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `whatif` subcommand."""
    p = sub.add_parser("whatif", help="sweep a scenario (TOML) into a grid; HTML, Markdown or CSV report")
    p.add_argument("scenario", help="scenario TOML file (examples: fixtures/scenarios/, which `ftsim examples` writes)")
    p.add_argument("--out", help="write a report: .html (charts embedded), .md or .csv")
    p.add_argument("--rows", type=int, default=20, help="grid rows printed on the terminal (default 20)")
    p.add_argument("--today", type=date_arg, help="the date horizons start (default: the scenario's, else today)")
    p.add_argument("--catalog", help="price catalog JSON (default: the bundled newest)")
    p.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handler of `ftsim whatif`."""
    import datetime as dt

    from ftsim.pricing.planning.compare import compare
    from ftsim.pricing.reports.report import format_of, write_report
    from ftsim.pricing.planning.whatif import baseline_input, evaluate, grid_size, load_scenario, sweep_warnings

    if args.rows < 0:
        raise CliError("--rows must be >= 0", code=2)
    if args.out is not None:
        try:
            format_of(args.out)
        except ValueError as exc:
            raise CliError(str(exc), code=2) from None
        from pathlib import Path

        folder = Path(args.out).parent
        if not folder.is_dir():  # said before the grid is evaluated, and without the temporary file's name
            raise CliError(f"cannot write {args.out}: there is no folder {folder}")
    check_example_path(args.scenario, "scenario file")
    check_small_file(args.scenario, "scenario")
    scenario = load_scenario(args.scenario)
    if args.today or scenario.today is None:
        scenario = scenario.model_copy(update={"today": args.today or dt.date.today()})
    catalog = load_catalog_arg(args.catalog)
    size = _declared_rows(scenario)  # before grid_size(), which builds every swept value
    if size <= MAX_GRID_ROWS:
        size = grid_size(scenario)
    if size > MAX_GRID_ROWS:
        raise CliError(f"the grid has {size:,} rows; ftsim whatif evaluates at most {MAX_GRID_ROWS:,} "
                       "(sweep fewer values)")
    show = size >= PROGRESS_MIN_ROWS and not args.no_progress and sys.stderr.isatty()
    grid = _evaluate_with_progress(scenario, catalog, size) if show else evaluate(scenario, catalog=catalog)
    result = compare(baseline_input(scenario), catalog=catalog) if scenario.kind == "compare" else None
    warnings = list(result.warnings) if result is not None else sweep_warnings(scenario, catalog)
    if args.out is not None:
        try:
            path = write_report(args.out, scenario, grid, result, warnings, catalog)
        except OSError as exc:
            raise CliError(f"cannot write {args.out}: {exc.strerror or exc}") from None
        print(f"wrote {path} ({len(grid):,} rows)")
        return 0
    _print(scenario, grid, result, warnings, args.rows)
    return 0


def _declared_rows(scenario) -> int:
    """The grid's row count from the sweeps' lengths and the ranges' point counts, nothing built."""
    import math

    from ftsim.pricing.planning.whatif import RangeSpec

    counts = [spec.count() if isinstance(spec, RangeSpec) else len(spec) for spec in scenario.sweep.values()]
    if any(count > 10_000_000 for count in counts):
        return 0  # a range past its own bound: grid_size() names it
    return math.prod(counts)


def _evaluate_with_progress(scenario, catalog, size: int):
    """evaluate() with a rich progress bar on stderr."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ftsim.pricing.planning.whatif import evaluate

    columns = (TextColumn("grid"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("grid", total=size)
        return evaluate(scenario, catalog=catalog, progress=lambda done, total: progress.update(task, completed=done))


def _print(scenario, grid, result, warnings: list[str], rows: int) -> None:
    """The baseline comparison then the first grid rows as rich tables."""
    from rich.console import Console
    from rich.table import Table

    from ftsim.api.cli.compare import print_compare

    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console.width = 200
    console.print(f"[bold]{scenario.title}[/bold]: {len(grid):,} rows, as of {scenario.today.isoformat()}")
    if result is not None:
        print_compare(result)
    elif warnings:
        for warning in warnings:
            console.print(f"[yellow]warning:[/yellow] {warning}")
    if rows == 0:
        return
    swept = list(scenario.sweep)
    keep = swept + [c for c in ("provider", "base_cost_per_call_usd", "tuned_cost_per_call_usd", "monthly_savings_usd",
                                "training_cost_usd", "break_even_calls_per_month", "net_savings_over_horizon_usd",
                                "verdict") if c in grid.columns and c not in swept]
    from ftsim.pricing.reports.report import COLUMN_LABELS, _format_cell

    table = Table(title=f"grid (first {min(rows, len(grid))} of {len(grid):,} rows)")
    for column in keep:
        table.add_column(COLUMN_LABELS.get(column, column.replace("_", " ")),
                         justify="left" if column in ("model", "base_model", "verdict", "provider") else "right")
    for row in grid[keep].head(rows).itertuples(index=False):
        table.add_row(*(_format_cell(c, v) for c, v in zip(keep, row)))
    console.print(table)


def _cell(value) -> str:
    import pandas as pd

    if value is pd.NA:
        return "never"
    if isinstance(value, float):
        return "" if value != value else f"{value:.8g}"
    return str(value)
