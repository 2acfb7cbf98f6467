"""Offline, exact tiktoken encodings (`o200k_base`, `cl100k_base`), shipped inside the package.

tiktoken downloads its BPE files on first use and fails without network. ftsim ships both files in
`ftsim/pricing/dataset/encodings/<name>.tiktoken` and builds the encodings from them, so counting works the same on
a fresh machine with no network, no npm and an empty cache.

- `get_encoding(name)`: reads the bundled file, checks it against the sha256 that tiktoken itself pins, and builds
  the encoding (about 0.5 s the first time, cached per process). A missing or corrupt file raises
  `EncodingUnavailable` naming the fix: it is a broken install, never a problem with the user's data.
- `check()`: the same presence and hash check without building anything (the test kit and `ftsim serve` run it at
  start-up, so a broken install fails there, with one line).
- `status()`: one row an encoding, for `ftsim doctor`.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import tiktoken

from ftsim.pricing.errors import EncodingUnavailable

__all__ = ["ENCODINGS", "EncodingSpec", "EncodingStatus", "bundled_dir", "check", "get_encoding", "status"]

FIX_HINT = "reinstall the package (`pip install --force-reinstall ftsim-openai`)"


@dataclass(frozen=True)
class EncodingSpec:
    """An encoding's file name in the package, the URL tiktoken would fetch it from, and the sha256 it pins."""

    name: str
    url: str
    sha256: str

    @property
    def filename(self) -> str:
        return f"{self.name}.tiktoken"


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


def bundled_dir() -> Path:
    """The folder of the encoding files that ship with the package."""
    return Path(__file__).resolve().parent / "encodings"


def _spec(name: str) -> EncodingSpec:
    try:
        return ENCODINGS[name]
    except KeyError:
        known = ", ".join(sorted(ENCODINGS))
        raise EncodingUnavailable(f"unknown encoding {name!r} (known: {known})") from None


def _read_verified(name: str, directory: Path) -> bytes:
    spec = _spec(name)
    path = directory / spec.filename
    try:
        data = path.read_bytes()
    except OSError:
        raise EncodingUnavailable(f"the tokenizer file for {name} is missing from {directory}: {FIX_HINT}") from None
    if hashlib.sha256(data).hexdigest() != spec.sha256:
        raise EncodingUnavailable(f"the tokenizer file for {name} at {path} is corrupt (sha256 mismatch): {FIX_HINT}")
    return data


@functools.cache
def _checked(name: str, directory: str) -> None:
    _read_verified(name, Path(directory))


def check(names: tuple[str, ...] = tuple(ENCODINGS), directory: Path | None = None) -> None:
    """Raise `EncodingUnavailable` unless every named file is present and matches its pin (cached per process)."""
    for name in names:
        _checked(name, str(directory or bundled_dir()))


def get_encoding(name: str) -> tiktoken.Encoding:
    """The named encoding, built from the verified bundled file; `EncodingUnavailable` with the fix otherwise."""
    return _load(name, str(bundled_dir()))


_LOAD_LOCK = threading.Lock()


def _parse_ranks(data: bytes) -> dict[bytes, int]:
    """`<base64 token> <rank>` lines (already checked against the pinned sha256) as tiktoken's ranks."""
    fields = data.split()
    return dict(zip(map(binascii.a2b_base64, fields[::2]), map(int, fields[1::2])))


@functools.cache
def _load(name: str, directory: str) -> tiktoken.Encoding:
    ranks = _parse_ranks(_read_verified(name, Path(directory)))
    # Take pat_str and special tokens from tiktoken's own constructor, handing it the verified ranks so that it
    # never reads a URL or a cache.
    import tiktoken_ext.openai_public as public

    with _LOAD_LOCK:
        original = public.load_tiktoken_bpe
        public.load_tiktoken_bpe = lambda *_args, **_kwargs: ranks  # type: ignore[assignment]
        try:
            params = public.ENCODING_CONSTRUCTORS[name]()
        finally:
            public.load_tiktoken_bpe = original
    return tiktoken.Encoding(**params)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def status(directory: Path | None = None) -> list[EncodingStatus]:
    """Presence and sha256 of each bundled encoding file (for `ftsim doctor`)."""
    result = []
    for name, spec in ENCODINGS.items():
        path = (directory or bundled_dir()) / spec.filename
        present = path.is_file()
        digest = _sha256_file(path) if present else None
        result.append(EncodingStatus(name, str(path), present, digest, digest == spec.sha256))
    return result
