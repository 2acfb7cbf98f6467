"""`ftsim decide`: should we fine-tune? One question at a time, or `--answers FILE.toml` non-interactively."""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path
from typing import Any, Callable

from pydantic import ValidationError

from ftsim.api.cli import CliError, check_example_path, check_small_file
from ftsim.api.cli.compare import date_arg, load_catalog_arg, validation_line

__all__ = ["register", "run", "ask_all", "load_answers", "print_decision"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `decide` subcommand."""
    p = sub.add_parser("decide", help="decision walkthrough: should we fine-tune, and how?")
    p.add_argument("--answers", help="TOML file of answers (non-interactive); examples: fixtures/answers/ (`ftsim examples` writes them)")
    p.add_argument("--today", type=date_arg,
                   help="the date for availability and horizons (default: the answers file's today, else today)")
    p.add_argument("--catalog", help="price catalog JSON (default: the bundled newest)")
    p.add_argument("--json", action="store_true", help="print the decision as JSON")
    p.set_defaults(handler=run)


def load_answers(path: str) -> dict[str, Any]:
    """The answers TOML as a dict (CliError on a missing or malformed file)."""
    check_example_path(path, "answers file")
    check_small_file(path, "answers file")
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CliError(f"answers file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read answers file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CliError(f"answers file {path} is not valid TOML: {exc}", code=2) from None


def ask_all(data: dict[str, Any], ask: Callable[[str], str] | None = None, out=None) -> dict[str, Any]:
    """Ask every question the walk reaches and has no answer for, re-asking on unreadable answers."""
    from ftsim.pricing.planning.decide import next_question, parse_answer

    out = out or sys.stdout
    ask = ask or input
    answers = {k: v for k, v in data.items() if v is not None}
    while (question := next_question(answers, interactive=True)) is not None:
        suffix = f" [{question.hint}]"
        while True:
            try:
                text = ask(f"{question.text}{suffix} ")
            except EOFError:
                print(file=out)  # end the prompt's line: the error gets a line of its own
                raise CliError(f"no answer to {question.id!r} (input ended)") from None
            try:
                answers[question.id] = parse_answer(question, text)
                break
            except ValueError as exc:
                print(f"  {exc}", file=out)
    if answers.get("cached_fraction") == "":
        answers["cached_fraction"] = None  # blank: the stated assumption
    if answers.get("training_file") == "":
        answers["training_file"] = None  # blank: estimate from the examples
        answers.setdefault("_skipped", True)
    return answers


def _ask_on_stderr(prompt: str) -> str:
    """input() with the prompt on stderr, so that stdout stays pure JSON."""
    print(prompt, end="", file=sys.stderr, flush=True)
    return input()


def run(args: argparse.Namespace) -> int:
    """Handler of `ftsim decide`."""
    import datetime as dt

    from ftsim.pricing.planning.decide import DecideInput, decide

    raw = load_answers(args.answers) if args.answers else {}
    try:
        DecideInput.model_validate(raw)
    except ValidationError as exc:
        raise CliError(f"answers: {validation_line(exc)}", code=2) from None
    if not args.answers:
        raw = ask_all(raw, ask=_ask_on_stderr if args.json else None, out=sys.stderr if args.json else sys.stdout)
        raw.pop("_skipped", None)
    try:
        data = DecideInput.model_validate(raw)
    except ValidationError as exc:
        raise CliError(f"answers: {validation_line(exc)}", code=2) from None
    catalog = load_catalog_arg(args.catalog)
    from ftsim.api.cli.progress import scan_progress

    try:
        # a large dataset to price takes a while: the same bar as `ftsim estimate`
        with scan_progress(data.training_file or "", "counting training tokens",
                           enabled=bool(data.training_file)) as progress:
            decision = decide(data, catalog=catalog, today=args.today or data.today or dt.date.today(),
                              progress=progress)
    except ValueError as exc:
        raise CliError(f"answers file {args.answers}: {exc}" if args.answers else str(exc), code=2) from None
    if args.json:
        print(decision.model_dump_json(indent=2))
    else:
        print_decision(decision)
    return 0


def print_decision(decision, file=None) -> None:
    """The answer first (recommendation, provider, as-of date, figures), then the walk and the warnings."""
    from rich.console import Console
    from rich.table import Table

    from ftsim.api.cli.compare import print_compare

    console = Console(file=file or sys.stdout, highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console.width = 200
    where = {"openai": "OpenAI", "azure": "Azure OpenAI", None: "-"}[decision.provider]
    console.print(f"as of {decision.as_of.isoformat()}")
    console.print(f"recommendation: [bold]{decision.recommendation}[/bold] (provider: {where}): {decision.summary}")
    for a in decision.availability:
        state = {True: "can train", False: "cannot train", None: "may refuse"}[a.can_train]
        console.print(f"  {a.provider}: {state}: {a.reason}")
    table = Table(title="Decision path")
    table.add_column("question")
    table.add_column("answer", justify="center")
    table.add_column("why")
    for step in decision.path:
        answer = step.answer if isinstance(step.answer, int) and not isinstance(step.answer, bool) else (
            "yes" if step.answer else "no")
        table.add_row(step.text, str(answer), step.reason)
    console.print(table)
    shown: set[str] = set()
    if decision.compare is not None:
        print_compare(decision.compare, file=file)
        shown = set(decision.compare.warnings)  # print_compare did
    if decision.dpo is not None:
        d = decision.dpo
        console.print(f"DPO job: {d.examples:,} pairs x {d.tokens_per_example:,} tokens x {d.epochs} epochs = "
                      f"{d.trained_tokens:,} tokens, ${d.cost_usd:,} (included in the training cost above)")
    if decision.rft is not None:
        r = decision.rft
        console.print(f"RFT on {r.snapshot}: ${r.hourly_rate_usd}/hour x {r.hours} h = ${r.budget_usd} "
                      f"(training-loop hours only; grader tokens extra). {r.availability}")
    for warning in decision.warnings:
        if warning not in shown:
            console.print(f"[yellow]warning:[/yellow] {warning}")
