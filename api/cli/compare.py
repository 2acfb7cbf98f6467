"""`ftsim compare`: a fine-tuned model with a short prompt against its base model with a long prompt."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from decimal import Decimal, InvalidOperation
from typing import Literal

from pydantic import ValidationError

from ftsim.api.cli import CliError

__all__ = ["register", "run", "print_compare", "decimal_arg", "date_arg", "validation_line", "load_catalog_arg"]


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
    """argparse type: an ISO date (YYYY-MM-DD)."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def validation_line(exc: ValidationError) -> str:
    """One readable line for a pydantic validation error."""
    err = exc.errors()[0]
    loc = ".".join(str(part) for part in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def load_catalog_arg(path: str | None):
    """The catalog named by --catalog, or the bundled newest."""
    from ftsim.pricing.catalog.catalog import load_catalog

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
    p.add_argument("--cached-fraction", type=decimal_arg, default=Decimal(0), help="share of S billed as cached")
    p.add_argument("--batch-fraction", type=decimal_arg, default=Decimal(0), help="share of calls via Batch API")
    training = p.add_mutually_exclusive_group()  # none: no training cost (a warning says so)
    training.add_argument("--training-tokens", type=int, help="billed training tokens, epochs included")
    training.add_argument("--training-file", help="JSONL dataset to estimate the training cost from")
    training.add_argument("--training-hours", type=decimal_arg, help="RFT: billed training-loop hours")
    p.add_argument("--method", choices=["supervised", "dpo", "reinforcement"], default="supervised")
    p.add_argument("--epochs", help="with --training-file: an integer or auto (default auto)")
    p.add_argument("--months", type=int, default=12, help="horizon in months (capped at the lifecycle dates)")
    p.add_argument("--retrain-every", type=int, help="months between retrainings")
    p.add_argument("--today", type=date_arg, help="the date the horizon starts (default: today)")
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
    from ftsim.pricing.planning.compare import CompareInput, compare

    if args.epochs is not None and args.training_file is None:
        raise CliError("--epochs goes with --training-file (--training-tokens already include epochs)", code=2)
    try:
        params = CompareInput(
            model=args.model, calls_per_month=args.calls_per_month, system_prompt_tokens=args.system_prompt_tokens,
            input_tokens=args.input_tokens, output_tokens=args.output_tokens, base_model=args.base_model,
            tuned_system_prompt_tokens=args.tuned_system_prompt_tokens, cached_fraction=args.cached_fraction,
            batch_fraction=args.batch_fraction, training_tokens=args.training_tokens,
            training_file=args.training_file, training_hours=args.training_hours, method=args.method,
            epochs=_epochs(args.epochs), months=args.months, retrain_every=args.retrain_every,
            today=args.today or dt.date.today(),
        )
    except ValidationError as exc:
        raise CliError(validation_line(exc), code=2) from None
    result = compare(params, catalog=load_catalog_arg(args.catalog))
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        print_compare(result)
    return 0


def print_compare(result, file=None) -> None:
    """The comparison as rich tables: per call, per month, horizon, break-even, warnings."""
    from rich.console import Console
    from rich.table import Table

    from ftsim.pricing.planning.compare import usd

    console = Console(file=file or sys.stdout, highlight=False)
    b, t = result.base, result.tuned
    table = Table(title="Fine-tuned vs base model with a long prompt")
    table.add_column("")
    table.add_column(f"base + long prompt\n{b.snapshot}", justify="right")
    table.add_column(f"fine-tuned\n{t.snapshot}", justify="right")
    table.add_row("prompt tokens per call", f"{b.prompt_tokens:,}", f"{t.prompt_tokens:,}")
    table.add_row("cost per call", usd(b.cost_per_call_usd, 6), usd(t.cost_per_call_usd, 6))
    table.add_row("monthly cost", usd(b.monthly_cost_usd), usd(t.monthly_cost_usd))
    table.add_row("training", "-", f"{usd(t.training_cost_usd)} x {t.trainings}")
    table.add_row(f"total over {result.horizon_months} months", usd(b.horizon_cost_usd), usd(t.horizon_cost_usd))
    console.print(table)
    be = "never" if result.break_even_calls is None else f"{result.break_even_calls:,} calls"
    if result.break_even_months is not None:
        be += f" ({result.break_even_months} months)"
    console.print(f"monthly savings: {usd(result.monthly_savings_usd)}   break-even: {be}")
    console.print(f"verdict: [bold]{result.verdict.replace('_', ' ')}[/bold]. {result.summary}")
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
