"""The `ftsim` command line: one module per subcommand, each exposing `register(subparsers)`.

A subcommand's handler returns an exit code. Errors a user can cause (`CliError`, and the typed errors
of the layers below) are printed as one line on stderr, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

__all__ = ["main", "CliError", "COMMANDS"]

# Subcommand modules, in the order `ftsim --help` lists them.
COMMANDS = ["serve", "validate", "estimate", "prices", "compare", "whatif", "decide", "doctor"]


class CliError(Exception):
    """A user-facing error: printed as one line, exit code `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(prog="ftsim", description="Offline OpenAI fine-tuning simulator and cost planner.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"api.cli.{name}")
        except ModuleNotFoundError as exc:  # a subcommand not built yet
            if exc.name == f"api.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ftsim` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except CliError as exc:
        print(f"ftsim: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("ftsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `ftsim decide --json | head`: the reader left, nothing to report
        _silence_stdout()
        return 0
    except _user_errors() as exc:
        print(f"ftsim: {exc}", file=sys.stderr)
        return 2 if type(exc).__name__ == "UnknownModel" else 1  # an unknown --model is a usage error


def _silence_stdout() -> None:
    """Point stdout at devnull so the interpreter's final flush does not raise again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _user_errors() -> tuple[type[BaseException], ...]:
    """Typed errors from the layers below that carry a user-readable message."""
    errors: list[type[BaseException]] = []
    try:
        from pricing.errors import PricingError

        errors.append(PricingError)
    except ImportError:
        pass
    from simulator.errors import SimulatorError

    errors.append(SimulatorError)
    return tuple(errors)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
