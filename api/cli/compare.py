"""`ftsim compare`: a fine-tuned model with a short prompt against its base model with a long prompt."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from decimal import Decimal, InvalidOperation
from typing import Literal

from pydantic import ValidationError

from ftsim.api.cli import CliError

__all__ = ["register", "run", "print_compare", "print_providers", "decimal_arg", "date_arg", "validation_line",
           "load_catalog_arg", "yes_no"]


def decimal_arg(text: str) -> Decimal:
    """argparse type: a decimal number (exact, never a float)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def date_arg(text: str) -> dt.date:
    """argparse type: an ISO date (YYYY-MM-DD), no later than the planner's last as-of date."""
    from ftsim.pricing.planning.bounds import MAX_AS_OF

    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None
    if day > MAX_AS_OF:
        raise argparse.ArgumentTypeError(f"must be {MAX_AS_OF.isoformat()} or earlier, got {text!r}")
    return day


def yes_no(text: str) -> bool:
    """argparse type: yes/no (y/n, true/false)."""
    value = text.strip().lower()
    if value in ("y", "yes", "true"):
        return True
    if value in ("n", "no", "false"):
        return False
    raise argparse.ArgumentTypeError(f"answer yes or no, not {text!r}")


def validation_line(exc: ValidationError) -> str:
    """One readable line for a pydantic validation error."""
    err = exc.errors()[0]
    loc = ".".join(str(part) for part in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def load_catalog_arg(path: str | None):
    """The catalog named by --catalog, or the bundled newest."""
    from ftsim.api.cli import check_small_file
    from ftsim.pricing.catalog.catalog import load_catalog

    if path:
        check_small_file(path, "catalog")
    return load_catalog(path) if path else load_catalog()


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `compare` subcommand."""
    p = sub.add_parser("compare", help="fine-tuned model vs base model with a long prompt: break-even at a volume")
    p.add_argument("--model", required=True, help="model to fine-tune (alias or snapshot)")
    p.add_argument("--calls-per-month", type=int, required=True)
    p.add_argument("--system-prompt-tokens", type=int, required=True, help="S: the base path's long system prompt")
    p.add_argument("--input-tokens", type=int, required=True, help="I: user input per call")
    p.add_argument("--output-tokens", type=int, required=True, help="O: output per call")
    p.add_argument("--base-model", help="default: the tuned model's own base")
    p.add_argument("--tuned-system-prompt-tokens", type=int, default=0, help="T: the tuned path's prompt (0)")
    p.add_argument("--cached-fraction", type=decimal_arg, default=None,
                   help="share of S billed as cached (default: 0.5 when S >= 1,024 tokens, with a warning; else 0)")
    p.add_argument("--batch-fraction", type=decimal_arg, default=Decimal(0), help="share of calls via Batch API")
    training = p.add_mutually_exclusive_group()  # none: no training cost (a warning says so)
    training.add_argument("--training-tokens", type=int, help="billed training tokens, epochs included")
    training.add_argument("--training-file", help="JSONL dataset to estimate the training cost from")
    training.add_argument("--training-hours", type=decimal_arg, help="RFT: billed training-loop hours")
    p.add_argument("--method", choices=["supervised", "dpo", "reinforcement"], default="supervised")
    p.add_argument("--epochs", help="with --training-file: an integer or auto (default auto)")
    p.add_argument("--months", type=int, default=12, help="horizon in months (capped at the lifecycle dates)")
    p.add_argument("--retrain-every", type=int, help="months between retrainings")
    p.add_argument("--today", type=date_arg, help="the as-of date: eligibility, horizons, lifecycle (default: today)")
    p.add_argument("--provider", choices=["openai", "azure", "both"], default="openai",
                   help="where the model is fine-tuned and served (both: side by side)")
    p.add_argument("--azure-tier", choices=["global", "data_zone", "regional_us", "regional_sweden", "developer"],
                   default="global", help="Azure training and deployment type (default global)")
    p.add_argument("--deployments", type=int, default=1, help="Azure: fine-tuned deployments kept (hosting each)")
    p.add_argument("--hosting-region", choices=["default", "southeast_asia"], default="default",
                   help="Azure hosting rate ($1.70/h; Southeast Asia $2.04/h)")
    p.add_argument("--azure-existing-customer", action="store_true",
                   help="Azure: you already fine-tune there (training continues past the base model's retirement)")
    p.add_argument("--has-fine-tuned-before", type=yes_no, metavar="yes|no",
                   help="OpenAI: has your organization run fine-tuning before?")
    p.add_argument("--recent-fine-tuned-inference", type=yes_no, metavar="yes|no",
                   help="OpenAI: inference on a fine-tuned model in the last 60 days?")
    p.add_argument("--after-shutdown-cost", type=decimal_arg, default=Decimal(0), metavar="USD",
                   help="one-off cost of retraining elsewhere when the tuned model shuts down inside the horizon")
    p.add_argument("--catalog", help="price catalog JSON (default: the bundled newest)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=run)


def _epochs(text: str | None) -> int | Literal["auto"] | None:
    if text is None:
        return None
    if text == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise CliError(f"--epochs must be an integer or auto, not {text!r}", code=2) from None


def run(args: argparse.Namespace) -> int:
    """Handler of `ftsim compare`."""
    from ftsim.pricing.planning.compare import CompareInput, compare, compare_providers

    if args.epochs is not None and args.training_file is None:
        raise CliError("--epochs goes with --training-file (--training-tokens already include epochs)", code=2)
    from ftsim.api.cli import check_example_path

    check_example_path(args.training_file, "dataset file")
    try:
        params = CompareInput(
            model=args.model, calls_per_month=args.calls_per_month, system_prompt_tokens=args.system_prompt_tokens,
            input_tokens=args.input_tokens, output_tokens=args.output_tokens, base_model=args.base_model,
            tuned_system_prompt_tokens=args.tuned_system_prompt_tokens, cached_fraction=args.cached_fraction,
            batch_fraction=args.batch_fraction, training_tokens=args.training_tokens,
            training_file=args.training_file, training_hours=args.training_hours, method=args.method,
            epochs=_epochs(args.epochs), months=args.months, retrain_every=args.retrain_every,
            today=args.today or dt.date.today(), provider=args.provider, azure_tier=args.azure_tier,
            deployments=args.deployments, hosting_region=args.hosting_region,
            azure_existing_customer=args.azure_existing_customer, has_fine_tuned_before=args.has_fine_tuned_before,
            recent_fine_tuned_inference=args.recent_fine_tuned_inference,
            after_shutdown_cost_usd=args.after_shutdown_cost,
        )
    except ValidationError as exc:
        raise CliError(validation_line(exc), code=2) from None
    from ftsim.api.cli import progress as progress_mod

    catalog = load_catalog_arg(args.catalog)
    with progress_mod.scan_progress(args.training_file or "", "counting training tokens",
                                    enabled=args.training_file is not None) as progress:
        if args.provider == "both":
            both = compare_providers(params, catalog=catalog, progress=progress)
        else:
            result = compare(params, catalog=catalog, progress=progress)
    if args.provider == "both":
        print(both.model_dump_json(indent=2)) if args.json else print_providers(both)
        return 0
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        print_compare(result)
    return 0


def _be_volume(result) -> str:
    if result.break_even_calls_per_month is None:
        return "none (the tuned call is not cheaper)"
    return f"{result.break_even_calls_per_month:,} calls/month"


def _share(result) -> str:
    from ftsim.pricing.planning.compare import _pct

    share = result.break_even_cached_fraction
    if share is None:
        return "caching does not change the answer"
    if share >= 1:
        return "pays back even fully cached"
    if share <= 0:
        return "does not pay back even uncached"
    return f"stops paying back above {_pct(share)} cached"


def print_compare(result, file=None) -> None:
    """The answer first (verdict, net saving, break-even, as-of date), then the per-path table and warnings."""
    from rich.console import Console
    from rich.table import Table

    from ftsim.pricing.planning.compare import _pct, usd

    console = Console(file=file or sys.stdout, highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console.width = 200
    b, t = result.base, result.tuned
    where = {"openai": "OpenAI", "azure": "Azure OpenAI"}[result.provider]
    console.print(f"as of {result.as_of.isoformat()} ({where}, catalog {result.catalog_version})")
    console.print(f"verdict: [bold]{result.verdict.replace('_', ' ')}[/bold]. {result.summary}")
    console.print(f"net saving over {result.horizon_months} months (to {result.horizon_end.isoformat()}): "
                  f"{usd(result.net_savings_over_horizon_usd)}   break-even volume: {_be_volume(result)}   "
                  f"cached share {_pct(result.cached_fraction)}"
                  + (" (assumed)" if result.cached_fraction_assumed else "") + f": {_share(result)}")
    table = Table(title=f"Fine-tuned vs base model with a long prompt ({where})")
    table.add_column("")
    table.add_column(f"base + long prompt\n{b.snapshot}", justify="right")
    table.add_column(f"fine-tuned\n{t.snapshot}", justify="right")
    table.add_row("prompt tokens per call", f"{b.prompt_tokens:,}", f"{t.prompt_tokens:,}")
    table.add_row("cost per call", usd(b.cost_per_call_usd, 6), usd(t.cost_per_call_usd, 6))
    table.add_row("monthly cost", usd(b.monthly_cost_usd), usd(t.monthly_cost_usd))
    if t.hosting_monthly_usd:
        table.add_row("hosting a month (in monthly cost)", "-", usd(t.hosting_monthly_usd))
    table.add_row("training", "-", f"{usd(t.training_cost_usd)} x {t.trainings}")
    table.add_row(f"total over {result.horizon_months} months", usd(b.horizon_cost_usd), usd(t.horizon_cost_usd))
    console.print(table)
    if result.break_even_months is not None:
        console.print(f"payback at {result.inputs.calls_per_month:,} calls/month: {result.break_even_months} months")
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")


def print_providers(both, file=None) -> None:
    """`--provider both`: one table, a column per provider and path, the answer on top."""
    from rich.console import Console
    from rich.table import Table

    from ftsim.pricing.planning.compare import usd

    console = Console(file=file or sys.stdout, highlight=False)
    console.print(both.summary)
    table = Table(title="Base with a long prompt vs fine-tuned, by provider")
    table.add_column("")
    for r in both.results:
        name = {"openai": "OpenAI", "azure": "Azure"}[r.provider]
        table.add_column(f"{name} base", justify="right")
        table.add_column(f"{name} tuned", justify="right")
    rows = [
        ("cost per call", lambda r: (usd(r.base.cost_per_call_usd, 6), usd(r.tuned.cost_per_call_usd, 6))),
        ("monthly cost", lambda r: (usd(r.base.monthly_cost_usd), usd(r.tuned.monthly_cost_usd))),
        ("hosting a month", lambda r: ("-", usd(r.tuned.hosting_monthly_usd))),
        ("training", lambda r: ("-", f"{usd(r.tuned.training_cost_usd)} x {r.tuned.trainings}")),
        ("horizon", lambda r: (f"{r.horizon_months} months", f"to {r.horizon_end.isoformat()}")),
        ("horizon total", lambda r: (usd(r.base.horizon_cost_usd), usd(r.tuned.horizon_cost_usd))),
        ("net saving", lambda r: ("", usd(r.net_savings_over_horizon_usd))),
        ("break-even volume", lambda r: ("", _be_volume(r))),
        ("cached share", lambda r: ("", _share(r))),
        ("verdict", lambda r: ("", r.verdict.replace("_", " "))),
    ]
    for label, cells in rows:
        table.add_row(label, *[c for r in both.results for c in cells(r)])
    console.print(table)
    for provider, why in both.unavailable.items():
        console.print(f"{provider}: not available: {why}")
    for warning in both.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
