"""`ftsim examples [DIR]`: write the README's example files (answers, scenarios, datasets) under DIR/fixtures/.

The README's commands name `fixtures/...` paths of the source repository. The wheel carries the same files as
`ftsim.examples` (mapped from the repository's `fixtures/` folder), so a pip user can have them too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ftsim.api.cli import CliError

__all__ = ["register", "run", "example_files", "FOLDERS"]

# the folders the README's commands use (fixtures/live and fixtures/azure belong to the test suite)
FOLDERS = {"answers": "*.toml", "scenarios": "*.toml", "datasets": "*"}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `examples` subcommand."""
    p = sub.add_parser("examples", help="write the README's example files under DIR/fixtures/ (default: here)")
    p.add_argument("dir", metavar="DIR", nargs="?", default=".",
                   help="folder to write fixtures/answers, fixtures/scenarios and fixtures/datasets into (default .)")
    p.set_defaults(handler=run)


def _source() -> Path:
    """The bundled examples: the wheel's `ftsim/examples`, or the repository's `fixtures/` in a source checkout
    (an editable install maps `ftsim` onto api/_root, which has no examples folder)."""
    import ftsim

    bundled = Path(ftsim.__file__).resolve().parent / "examples"
    return bundled if (bundled / "answers").is_dir() else Path(__file__).resolve().parents[2] / "fixtures"


def example_files() -> list[tuple[str, Path]]:
    """(relative path under fixtures/, bundled file) for every example file, sorted."""
    root = _source()
    found = [(f"{folder}/{path.name}", path) for folder, pattern in FOLDERS.items()
             for path in sorted((root / folder).glob(pattern))]
    if not found:
        raise CliError("this install carries no example files; they are in the source repository's fixtures/")
    return found


def run(args: argparse.Namespace) -> int:
    """Copy each example to DIR/fixtures/, leaving files that already exist as they are."""
    target = Path(args.dir) / "fixtures"
    written = kept = 0
    for relative, source in example_files():
        dest = target / relative
        if dest.exists():
            kept += 1
            continue
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(source.read_bytes())
        except OSError as exc:
            raise CliError(f"cannot write {dest}: {exc.strerror or exc}") from None
        written += 1
    print(f"wrote {written} example files under {target}" + (f" ({kept} already there, kept)" if kept else ""))
    print(f"try: ftsim decide --answers {target / 'answers' / 'sft-cost-play.toml'}")
    return 0
