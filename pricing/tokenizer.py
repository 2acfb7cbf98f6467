"""Offline, exact tiktoken encodings (`o200k_base`, `cl100k_base`).

tiktoken downloads its BPE files on first use, and hangs or fails without network. This module keeps those
files in a per-user cache laid out exactly like tiktoken's own cache (each file is named after the sha1 of the
blob URL that `tiktoken_ext.openai_public` uses), so `tiktoken.get_encoding` also works offline when
`TIKTOKEN_CACHE_DIR` points at it.

- `cache_dir()`: `$TIKTOKEN_CACHE_DIR` if set, else `($XDG_CACHE_HOME or ~/.cache)/ftsim/tiktoken`.
- `get_encoding(name)`: checks that the file is present and matches tiktoken's pinned sha256 *before* building
  the encoding (never touching the network); raises `EncodingUnavailable` with the fix otherwise.
- `provision()`: fills the cache, first from tiktoken's own URL (short timeout), else from the npm package
  `tiktoken@1.0.22` (its `encoders/<name>.json` holds the same ranks in a compact form). A file is only ever
  written after its sha256 matched (temp file, verify, rename).
- `python -m pricing.tokenizer provision` is what `make install` runs; `status` prints what is there.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import tiktoken

from pricing.errors import EncodingUnavailable

__all__ = [
    "ENCODINGS",
    "EncodingSpec",
    "EncodingStatus",
    "cache_dir",
    "cache_path",
    "get_encoding",
    "provision",
    "status",
    "npm_ranks",
    "ranks_from_npm_json",
]

NPM_PACKAGE = "tiktoken@1.0.22"
FIX_HINT = "run `make install` or `python -m pricing.tokenizer provision`"


@dataclass(frozen=True)
class EncodingSpec:
    """Where tiktoken fetches an encoding's BPE file from, and the sha256 it pins."""

    name: str
    url: str
    sha256: str

    @property
    def cache_key(self) -> str:
        """The file name tiktoken's cache uses: sha1 of the blob URL."""
        return hashlib.sha1(self.url.encode()).hexdigest()


ENCODINGS: dict[str, EncodingSpec] = {
    "o200k_base": EncodingSpec(
        "o200k_base",
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base": EncodingSpec(
        "cl100k_base",
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}


@dataclass(frozen=True)
class EncodingStatus:
    """What `status()` reports for one encoding."""

    name: str
    path: str
    present: bool
    sha256: str | None
    ok: bool


def cache_dir() -> Path:
    """The tokenizer cache: `$TIKTOKEN_CACHE_DIR`, else `($XDG_CACHE_HOME or ~/.cache)/ftsim/tiktoken`."""
    env = os.environ.get("TIKTOKEN_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ftsim" / "tiktoken"


def _spec(name: str) -> EncodingSpec:
    try:
        return ENCODINGS[name]
    except KeyError:
        known = ", ".join(sorted(ENCODINGS))
        raise EncodingUnavailable(f"unknown encoding {name!r} (known: {known})") from None


def cache_path(name: str, directory: Path | None = None) -> Path:
    """Path of an encoding's BPE file in the cache (tiktoken's own layout)."""
    return (directory or cache_dir()) / _spec(name).cache_key


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_valid(path: Path, spec: EncodingSpec) -> bool:
    try:
        return path.is_file() and _sha256_file(path) == spec.sha256
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------- loading

_LOAD_LOCK = threading.Lock()


def _parse_ranks(data: bytes) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def get_encoding(name: str) -> tiktoken.Encoding:
    """The named encoding, built from the verified cache file; `EncodingUnavailable` if it is not provisioned."""
    return _load(name, str(cache_dir()))


@functools.cache
def _load(name: str, directory: str) -> tiktoken.Encoding:
    spec = _spec(name)
    path = Path(directory) / spec.cache_key
    try:
        data = path.read_bytes()
    except OSError:
        raise EncodingUnavailable(f"tokenizer encoding {name} is not provisioned in {directory}: {FIX_HINT}") from None
    if hashlib.sha256(data).hexdigest() != spec.sha256:
        raise EncodingUnavailable(f"tokenizer file for {name} at {path} is corrupt (sha256 mismatch): {FIX_HINT}")
    ranks = _parse_ranks(data)
    # Take pat_str and special tokens from tiktoken's own constructor, handing it the verified ranks so that it
    # never reads a URL (no dependence on TIKTOKEN_CACHE_DIR being set).
    import tiktoken_ext.openai_public as public

    with _LOAD_LOCK:
        original = public.load_tiktoken_bpe
        public.load_tiktoken_bpe = lambda *_args, **_kwargs: ranks  # type: ignore[assignment]
        try:
            params = public.ENCODING_CONSTRUCTORS[name]()
        finally:
            public.load_tiktoken_bpe = original
    return tiktoken.Encoding(**params)


# ---------------------------------------------------------------------------------------------- provisioning

Fetcher = Callable[[EncodingSpec], bytes | None]


def ranks_from_npm_json(bpe_ranks: str) -> bytes:
    """Convert the npm package's compact `bpe_ranks` string to tiktoken's `<b64> <rank>\\n` file bytes."""
    out: list[bytes] = []
    for line in bpe_ranks.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        rank = int(parts[1])
        for token in parts[2:]:
            out.append(f"{token} {rank}\n".encode("ascii"))
            rank += 1
    return b"".join(out)


def download(spec: EncodingSpec, timeout: float = 5.0) -> bytes | None:
    """Fetch the BPE file from tiktoken's own URL; None when there is no network."""
    try:
        with urllib.request.urlopen(spec.url, timeout=timeout) as resp:  # noqa: S310 - fixed https URL
            return resp.read()
    except Exception:  # noqa: BLE001 - any failure means "not from here"
        return None


def npm_ranks(spec: EncodingSpec, timeout: float = 120.0) -> bytes | None:
    """Fetch `tiktoken@1.0.22` with `npm pack` into a temp dir and rebuild the BPE file; None on failure."""
    npm = shutil.which("npm")
    if npm is None:
        return None
    with tempfile.TemporaryDirectory(prefix="ftsim-npm-") as tmp:
        try:
            proc = subprocess.run(
                [npm, "pack", NPM_PACKAGE, "--silent", "--pack-destination", tmp],
                cwd=tmp, capture_output=True, text=True, timeout=timeout, check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        tarballs = list(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or not tarballs:
            return None
        try:
            with tarfile.open(tarballs[0]) as tar:
                member = tar.extractfile(f"package/encoders/{spec.name}.json")
                if member is None:
                    return None
                payload = json.load(member)
        except (tarfile.TarError, KeyError, OSError, ValueError):
            return None
    bpe = payload.get("bpe_ranks") if isinstance(payload, dict) else None
    return ranks_from_npm_json(bpe) if isinstance(bpe, str) else None


def _npm_cached() -> Fetcher:
    """An npm fetcher that packs the tarball once per provision() call (both encodings are in it)."""
    cache: dict[str, bytes | None] = {}

    def fetch(spec: EncodingSpec) -> bytes | None:
        if spec.name not in cache:
            cache[spec.name] = npm_ranks(spec)
        return cache[spec.name]

    return fetch


def _write_verified(data: bytes, spec: EncodingSpec, target: Path) -> bool:
    if hashlib.sha256(data).hexdigest() != spec.sha256:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{spec.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if _sha256_file(Path(tmp)) != spec.sha256:
            return False
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        return True
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def provision(
    names: Iterable[str] = tuple(ENCODINGS),
    *,
    directory: Path | None = None,
    fetchers: Iterable[Fetcher] | None = None,
) -> dict[str, str]:
    """Make every named encoding present and verified; returns name -> how ("cached", "download", "npm").

    Raises `EncodingUnavailable` naming the encodings no source could provide with a matching sha256.
    `fetchers` (each `spec -> bytes | None`) replaces the default sources, e.g. in tests.
    """
    target_dir = directory or cache_dir()
    sources: list[tuple[str, Fetcher]]
    if fetchers is None:
        sources = [("download", download), ("npm", _npm_cached())]
    else:
        sources = [(getattr(f, "__name__", "fetcher"), f) for f in fetchers]
    done: dict[str, str] = {}
    missing: list[str] = []
    for name in names:
        spec = _spec(name)
        target = target_dir / spec.cache_key
        if _is_valid(target, spec):
            done[name] = "cached"
            continue
        for label, fetch in sources:
            data = fetch(spec)
            if data is not None and _write_verified(data, spec, target):
                done[name] = label
                break
        else:
            missing.append(name)
    if missing:
        raise EncodingUnavailable(
            f"could not provision {', '.join(missing)} into {target_dir} (no network and `npm pack {NPM_PACKAGE}` "
            "failed or gave a file whose sha256 does not match); check npm can reach its registry and rerun "
            "`python -m pricing.tokenizer provision`"
        )
    return done


def status(directory: Path | None = None) -> list[EncodingStatus]:
    """Presence and sha256 of each encoding's cache file (for `ftsim doctor`)."""
    result = []
    for name, spec in ENCODINGS.items():
        path = (directory or cache_dir()) / spec.cache_key
        present = path.is_file()
        digest = _sha256_file(path) if present else None
        result.append(EncodingStatus(name, str(path), present, digest, digest == spec.sha256))
    return result


def main(argv: list[str] | None = None) -> int:
    """`python -m pricing.tokenizer provision|status`."""
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "provision"
    if command == "provision":
        try:
            how = provision()
        except EncodingUnavailable as exc:
            print(f"tokenizer: {exc}", file=sys.stderr)
            return 1
        for name, source in how.items():
            print(f"tokenizer: {name} ok ({source}) in {cache_dir()}")
        return 0
    if command == "status":
        rows = status()
        for row in rows:
            print(f"{row.name}: {'OK' if row.ok else 'MISSING' if not row.present else 'BAD HASH'} {row.path}")
        return 0 if all(r.ok for r in rows) else 1
    print("usage: python -m pricing.tokenizer [provision|status]", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
