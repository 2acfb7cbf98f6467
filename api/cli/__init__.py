"""The `ftsim` command line: one module per subcommand, each exposing `register(subparsers)`.

A subcommand's handler returns an exit code. Errors a user can cause (`CliError`, and the typed errors
of the layers below) are printed as one line on stderr, never as a traceback.
"""

from __future__ import annotations

import argparse
import errno
import sys
from typing import Sequence

from ftsim._version import __version__

__all__ = ["main", "CliError", "check_small_file", "check_example_path", "example_hint", "MAX_SMALL_FILE_BYTES"]

# Third-party modules that come with an extra rather than the core install, and the extra that brings each.
OPTIONAL_MODULES = {"uvicorn": "server", "rich": "planning", "pandas": "planning", "numpy": "planning"}


class CliError(Exception):
    """A user-facing error: printed as one line, exit code `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# The largest catalog, scenario, answers or keys file the command reads whole. ftsim's choice: the bundled
# catalog is about 20 KB; this only stops a mistaken path (a dataset, a disk image) from filling memory.
MAX_SMALL_FILE_BYTES = 16 * 1024 * 1024


def check_small_file(path: str, what: str) -> None:
    """Refuse a device, pipe or socket (read whole, /dev/zero never ends) and a file too big to be `what`.

    A missing file or a directory is left to the loader, which reports it in its own words.
    """
    import os
    import stat

    try:
        info = os.stat(path)
    except OSError:
        return
    if stat.S_ISDIR(info.st_mode):
        return
    if not stat.S_ISREG(info.st_mode):
        raise CliError(f"{what} {path} is not a regular file")
    if info.st_size > MAX_SMALL_FILE_BYTES:
        raise CliError(f"{what} {path} is {info.st_size:,} bytes; at most {MAX_SMALL_FILE_BYTES:,}")


def example_hint(path: str) -> str:
    """For a missing README example path (`fixtures/...`): where those files come from; else ''."""
    from pathlib import Path

    if Path(path).parts[:1] != ("fixtures",) or Path(path).exists():
        return ""
    return " (the README's fixtures/ examples are not installed as files: `ftsim examples` writes them into ./fixtures/)"


def check_example_path(path: str | None, what: str) -> None:
    """CliError for a README example path (`fixtures/...`) that is not here, saying how to get it."""
    if path is not None and (hint := example_hint(path)):
        raise CliError(f"{what} not found: {path}{hint}")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(prog="ftsim", description="Offline OpenAI fine-tuning simulator and cost planner.")
    parser.add_argument("--version", action="version", version=f"ftsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from ftsim.api.cli import compare, decide, doctor, estimate, examples, prices, serve, validate, whatif

    for module in (serve, validate, estimate, prices, compare, whatif, decide, examples, doctor):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ftsim` console script."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # the subcommand's usage, not ftsim's, and the option meant when it is a near miss
        _subcommand_parser(parser, getattr(args, "command", None)).error(_unrecognized(parser, args, unknown))
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
    except ModuleNotFoundError as exc:
        extra = OPTIONAL_MODULES.get((exc.name or "").partition(".")[0])
        if extra is None:
            raise
        print(f"ftsim: `ftsim {args.command}` needs the {extra} extra: pip install 'ftsim-openai[{extra}]'",
              file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `ftsim decide --json | head`: the reader left, nothing to report
        _silence_stdout()
        return 0
    except OSError as exc:
        if exc.errno not in _WRITE_FAILURES:
            raise
        # e.g. `ftsim prices > file` on a full disk: the output is lost, say so once
        print(f"ftsim: cannot write the output: {exc.strerror or exc}", file=sys.stderr)
        _silence_stdout()
        return 1
    except _user_errors() as exc:
        print(f"ftsim: {exc}", file=sys.stderr)
        # an unknown --model, or a --today before the catalog, is a usage error
        return 2 if type(exc).__name__ in ("UnknownModel", "AsOfOutOfRange") else 1


def _subcommand_parser(parser: argparse.ArgumentParser, command: str | None) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return parser


def _unrecognized(parser: argparse.ArgumentParser, args: argparse.Namespace, unknown: list[str]) -> str:
    """argparse's message, plus the closest option of the subcommand for a mistyped --option."""
    import difflib

    sub = _subcommand_parser(parser, getattr(args, "command", None))
    options = [o for a in sub._actions for o in a.option_strings if o.startswith("--")]
    message = f"unrecognized arguments: {' '.join(unknown)}"
    for word in unknown:
        name = word.partition("=")[0]
        if name.startswith("--") and (close := difflib.get_close_matches(name, options, n=1, cutoff=0.75)):
            return f"{message} (did you mean {close[0]}?)"
    return message


# errno values of a write that cannot complete (disk full, quota, file too large, I/O error)
_WRITE_FAILURES = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}


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
    from ftsim.pricing.errors import PricingError
    from ftsim.simulator.core.errors import SimulatorError

    return (PricingError, SimulatorError)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
