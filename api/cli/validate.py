"""`ftsim validate FILE`: check a fine-tuning dataset as OpenAI would, and count its billed tokens.

Method: `--method` if given; otherwise detected from the first 50 lines: preference lines -> `dpo`; chat
prompts without an assistant reply (a developer role or reference keys) -> `reinforcement`; else `supervised`.
Model: `--model` if given; otherwise per method `gpt-4o-mini-2024-07-18` (supervised; `gpt-4o-2024-08-06` when
the file holds images), `gpt-4.1-mini-2025-04-14` (dpo), `o4-mini-2025-04-16` (reinforcement).
Exit codes: 0 valid, 1 invalid (or unreadable), 2 usage error.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from ftsim.api.cli import CliError, example_hint
from ftsim.api.cli.progress import scan_progress

__all__ = ["register", "run", "detect_method", "default_model"]

METHODS = ("supervised", "dpo", "reinforcement")
DEFAULT_MODELS = {
    "supervised": "gpt-4o-mini-2024-07-18",
    "vision": "gpt-4o-2024-08-06",
    "dpo": "gpt-4.1-mini-2025-04-14",
    "reinforcement": "o4-mini-2025-04-16",
}
SHOWN_FINDINGS = 20
# The most worker processes a scan may start. ftsim's choice: past the cores they only add processes (each a
# forked interpreter), and an unbounded count forks that many.
MAX_WORKERS = 64


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `validate` subcommand."""
    p = sub.add_parser("validate", help="check a JSONL dataset's format and count its billed tokens",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", help="JSONL dataset")
    p.add_argument("--method", choices=METHODS, help="fine-tuning method (default: detected from the file)")
    p.add_argument("--model", help="base model snapshot or alias (default: per method, see above)")
    p.add_argument("--validation", action="store_true", help="check it as a validation file (no 10-example minimum)")
    p.add_argument("--workers", type=int, help=f"processes to use, 1 to {MAX_WORKERS} (default: every core)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=run)


def _peek(path: str, limit: int = 50) -> tuple[int, int, int, bool]:
    """(chat lines, preference lines, chat lines without an assistant reply, any image) among the first lines."""
    from ftsim.pricing.dataset.reader import read_jsonl
    from ftsim.pricing.dataset.validation import example_format

    chat = pref = prompts = 0
    images = False
    for _line, obj in itertools.islice(read_jsonl(path), limit):
        if isinstance(obj, dict):
            fmt = example_format(obj)
            chat += fmt == "chat"
            pref += fmt == "preference"
            messages = obj.get("messages")
            if fmt == "chat" and isinstance(messages, list):
                roles = [m.get("role") for m in messages if isinstance(m, dict)]
                prompts += "assistant" not in roles and ("developer" in roles or bool(set(obj) - {"messages", "tools"}))
            images = images or '"image_url"' in json.dumps(obj)
    return chat, pref, prompts, images


def detect_method(path: str) -> str:
    """`dpo` for preference examples; `reinforcement` for prompts without replies (developer role or reference
    keys); else `supervised`, judged on the first 50 lines."""
    chat, pref, prompts, _ = _peek(path)
    if pref > chat:
        return "dpo"
    return "reinforcement" if chat and prompts * 2 > chat else "supervised"


def default_model(method: str, path: str) -> str:
    """The model `validate` checks against when `--model` is not given."""
    if method == "supervised" and _peek(path)[3]:
        return DEFAULT_MODELS["vision"]
    return DEFAULT_MODELS[method]


def run(args: argparse.Namespace) -> int:
    """Handler of `ftsim validate`."""
    from ftsim.pricing.catalog.catalog import load_catalog
    from ftsim.pricing.dataset.reader import check_readable
    from ftsim.pricing.errors import DatasetError, UnknownModel
    from ftsim.pricing.dataset.scan import scan_dataset

    try:
        size = check_readable(args.file)
    except DatasetError as exc:
        if args.json:  # still a JSON finding on stdout, so pipelines can read it
            finding = {"line": None, "severity": "error", "code": "unreadable_file", "message": str(exc), "param": None}
            print(json.dumps({"path": args.file, "valid": False, "findings": [finding]}, indent=2))
        raise CliError(str(exc) + example_hint(args.file), code=1) from None
    if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
        raise CliError(f"--workers must be between 1 and {MAX_WORKERS}, got {args.workers}", code=2)
    method = args.method or (detect_method(args.file) if size else "supervised")
    model_name = args.model if args.model is not None else default_model(method, args.file)
    try:
        model = load_catalog().resolve(model_name)
    except UnknownModel as exc:
        raise CliError(str(exc), code=2) from None
    param = "validation_file" if args.validation else "training_file"
    kwargs = dict(method=method, model=model, workers=args.workers, param=param)
    with scan_progress(args.file, f"scanning {Path(args.file).name}", enabled=not args.json) as progress:
        report = scan_dataset(args.file, progress=progress, **kwargs)
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        _print_report(report, auto_method=args.method is None)
    return 0 if report.valid else 1


def _print_report(report, *, auto_method: bool) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    verdict = "[bold green]VALID[/]" if report.valid else "[bold red]INVALID[/]"
    how = " (auto-detected)" if auto_method else ""
    console.print(f"{escape(report.path)}: {verdict}  method {report.method}{how}, model {report.model} ({report.tokenizer}, "
                  f"context {report.training_context:,})")
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("format", report.detected_format),
        ("lines", f"{report.n_lines:,}"),
        ("examples", f"{report.n_examples:,}"),
        ("billed tokens per epoch", f"{report.tokens_per_epoch:,}"),
    ]
    if report.tokens_per_epoch_low != report.tokens_per_epoch:
        rows.append(("  low bound (DPO)", f"{report.tokens_per_epoch_low:,}"))
    stats = report.token_stats
    if stats:
        rows.append(("tokens per example", f"min {stats.min:,}  median {stats.median:,.0f}  mean {stats.mean:,.1f}  max {stats.max:,}"))
        rows.append(("  p10 / p90", f"{stats.p10:,.0f} / {stats.p90:,.0f}"))
    if report.n_truncated:
        rows.append(("truncated examples", f"{report.n_truncated:,}"))
    if report.n_images:
        rows.append(("images", f"{report.n_images:,} ({report.image_tokens:,} tokens)"))
    rows.append(("errors / warnings", f"{report.n_errors:,} / {report.n_warnings:,}"))
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    shown = report.findings[:SHOWN_FINDINGS]
    for finding in shown:
        where = f"line {finding.line}" if finding.line is not None else "file"
        colour = "red" if finding.severity == "error" else "yellow"
        console.print(f"[{colour}]{finding.severity}[/] {where} {escape('[' + finding.code + ']')}: {escape(finding.message)}")
    hidden = report.n_errors + report.n_warnings - len(shown)
    if hidden > 0:
        counts = ", ".join(f"{code} {n:,}" for code, n in sorted(report.counts.items()))
        console.print(f"... and {hidden:,} more (by code: {counts}); use --json for the sample of the first {len(report.findings)}")
