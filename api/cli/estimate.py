"""`ftsim estimate FILE --model M`: what a fine-tuning job on FILE will cost (table, or --json)."""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal, InvalidOperation
from typing import Any

from ftsim.api.cli import CliError, check_example_path
from ftsim.api.cli.compare import date_arg, load_catalog_arg
from ftsim.pricing.costs.rft import MAX_HOURS
from ftsim.pricing.planning.bounds import MAX_GRADER_TOKENS
from ftsim.api.cli.progress import PROGRESS_MIN_BYTES, scan_progress

__all__ = ["register", "run", "epochs_arg", "hours_arg", "PROGRESS_MIN_BYTES"]



def epochs_arg(text: str) -> int | str:
    """argparse type: `auto` or an integer 1..50."""
    if text == "auto":
        return text
    # str.isdigit() also admits digits such as '²' (int() refuses it) and '٣' (int() reads 3): ASCII only
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 50:
        raise argparse.ArgumentTypeError(f"must be 'auto' or an integer 1..50, got {text!r}")
    return int(text)


def hours_arg(text: str) -> Decimal:
    """argparse type: a non-negative decimal number of hours (never a float)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_finite() or value < 0 or value > MAX_HOURS:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to {MAX_HOURS:,}, got {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `estimate` subcommand."""
    p = sub.add_parser("estimate", help="estimate the training cost of a JSONL dataset")
    p.add_argument("file", metavar="FILE", help="training JSONL file")
    p.add_argument("--model", required=True, help="model: alias, snapshot or ft: name")
    p.add_argument("--method", default="supervised", choices=["supervised", "dpo", "reinforcement", "vision"])
    p.add_argument("--epochs", type=epochs_arg, default="auto", help="N or auto (default: auto, the cookbook rule)")
    p.add_argument("--validation-file", metavar="F", help="validation JSONL (counted, not billed)")
    p.add_argument("--hours", type=hours_arg, metavar="H", help="RFT: billed training-loop hours (else estimated)")
    p.add_argument("--catalog", metavar="F", help="price catalog JSON (default: the bundled newest)")
    p.add_argument("--today", type=date_arg, help="the as-of date for lifecycle warnings (default: today)")
    p.add_argument("--strict", action="store_true",
                   help="refuse a file with errors (default: price the valid examples, labelled partial)")
    p.add_argument("--provider", choices=["openai", "azure"], default="openai", help="price on OpenAI or Azure")
    p.add_argument("--azure-tier", choices=["global", "data_zone", "regional_us", "regional_sweden", "developer"],
                   default="global", help="Azure training type (default global)")
    p.add_argument("--azure-existing-customer", action="store_true",
                   help="Azure: you already fine-tune there (training continues past the base model's retirement)")
    p.add_argument("--grader-model", metavar="M", help="RFT: the model grader (its tokens are billed)")
    p.add_argument("--grader-input-tokens", type=int, default=0, metavar="N",
                   help="RFT: grader input tokens per graded sample")
    p.add_argument("--grader-output-tokens", type=int, default=0, metavar="N",
                   help="RFT: grader output tokens per graded sample")
    p.add_argument("--json", action="store_true", help="print the estimate as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Scan the file, price it, print a table (or JSON)."""
    from ftsim.pricing.costs.estimate import estimate

    import datetime as dt

    from ftsim.pricing.costs.rft import GraderSpec

    check_example_path(args.file, "dataset file")
    check_example_path(args.validation_file, "validation file")
    catalog = load_catalog_arg(args.catalog)
    if args.hours is not None and args.method != "reinforcement":
        raise CliError("--hours applies to --method reinforcement only")
    graders = []
    if args.grader_model:
        if args.method != "reinforcement":
            raise CliError("--grader-model applies to --method reinforcement only", code=2)
        if not 0 <= args.grader_input_tokens <= MAX_GRADER_TOKENS or not 0 <= args.grader_output_tokens <= MAX_GRADER_TOKENS:
            raise CliError(f"grader tokens must be between 0 and {MAX_GRADER_TOKENS:,}", code=2)
        graders.append(GraderSpec(model=args.grader_model, input_tokens_per_call=args.grader_input_tokens,
                                  output_tokens_per_call=args.grader_output_tokens))
    elif args.grader_input_tokens or args.grader_output_tokens:
        raise CliError("--grader-input-tokens and --grader-output-tokens need --grader-model", code=2)
    from ftsim.pricing.errors import PricingError, UnknownModel

    try:
        with scan_progress(args.file, "counting tokens") as progress:
            result = estimate(
                args.file, model=args.model, method=args.method, epochs=args.epochs,
                validation_file=args.validation_file, hours=args.hours, catalog=catalog, progress=progress,
                today=args.today or dt.date.today(), partial=not args.strict, provider=args.provider,
                azure_tier=args.azure_tier, azure_existing_customer=args.azure_existing_customer, graders=graders,
            )
    except PricingError as exc:  # a refused file or model: name the method the file holds, if it is another
        hint = "" if isinstance(exc, UnknownModel) else _method_hint(args.file, args.method)
        if not hint:
            raise
        raise CliError(f"{exc}{hint}") from None
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        print_estimate(result)
    return 0


def _method_hint(path: str, method: str) -> str:
    """' (... pass --method M)' when a refused file holds another method's examples (as `validate` detects it)."""
    from ftsim.api.cli.validate import detect_method

    try:
        detected = detect_method(path)
    except (OSError, ValueError):
        return ""
    if detected == method or (method == "vision" and detected == "supervised"):
        return ""
    return f" (the file holds {detected} examples: pass --method {detected})"


def print_estimate(result: Any, file: Any = None) -> None:
    """A readable table of an `Estimate`, then its warnings."""
    from rich.console import Console
    from rich.table import Table

    from ftsim.pricing.costs.estimate import summary_lines

    console = Console(file=file or sys.stdout, soft_wrap=True)
    if not console.is_terminal:
        console.width = 200
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for label, value in summary_lines(result):
        table.add_row(label, value)
    console.print(table)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", markup=True, highlight=False)
