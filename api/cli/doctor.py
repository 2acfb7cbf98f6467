"""`ftsim doctor`: what this install has (bundled tokenizer encodings and their hashes, database path, versions)."""

from __future__ import annotations

import argparse
import json
import platform
from importlib import metadata

__all__ = ["register", "run", "collect"]

PACKAGES = ("ftsim-openai", "openai", "httpx", "httpx2", "fastapi", "pydantic", "tiktoken")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `doctor` subcommand."""
    p = sub.add_parser("doctor", help="show the bundled tokenizer files, database path and package versions")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(handler=run)


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def collect() -> dict:
    """Everything `doctor` reports, as plain data."""
    from ftsim.api.cli.serve import DEFAULT_DB
    from ftsim.pricing.dataset.tokenizer import ENCODINGS, bundled_dir, status

    encodings = [
        {"name": s.name, "path": s.path, "ok": s.ok, "present": s.present, "sha256": s.sha256,
         "expected_sha256": ENCODINGS[s.name].sha256}
        for s in status()
    ]
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        version = _version(name)
        if version is not None or name != "httpx2":  # httpx2 only where it is installed
            versions[name] = version
    return {"tokenizer_files": str(bundled_dir()), "encodings": encodings, "database": DEFAULT_DB, "versions": versions}


def run(args: argparse.Namespace) -> int:
    """Handler of `ftsim doctor`: exit 1 when an encoding is missing or corrupt."""
    info = collect()
    ok = all(e["ok"] for e in info["encodings"])
    if args.json:
        print(json.dumps(info | {"ok": ok}, indent=2))
        return 0 if ok else 1
    print(f"tokenizer files: {info['tokenizer_files']}")
    for e in info["encodings"]:
        state = "OK" if e["ok"] else ("MISSING" if not e["present"] else "BAD HASH")
        print(f"  {e['name']:<12} {state:<8} sha256 {e['sha256'] or '-'}  {e['path']}")
    if not ok:
        print("  fix: reinstall the package (`pip install --force-reinstall ftsim-openai`)")
    print(f"database (default): {info['database']}")
    print("versions: " + ", ".join(f"{k} {v or 'not installed'}" for k, v in info["versions"].items()))
    return 0 if ok else 1
