"""The bundled tokenizer: files held to tiktoken's pins, loaded with no network, broken installs named as such."""

from __future__ import annotations

import hashlib
import inspect
import socket
from pathlib import Path

import pytest

from ftsim.pricing.dataset import tokenizer
from ftsim.pricing.dataset.tokenizer import ENCODINGS, bundled_dir, check, get_encoding, status
from ftsim.pricing.errors import EncodingUnavailable


def test_bundled_files_match_the_sha256_tiktoken_pins() -> None:
    import tiktoken_ext.openai_public as public

    source = inspect.getsource(public)
    for row in status():
        spec = ENCODINGS[row.name]
        assert spec.url in source and spec.sha256 in source  # the same URL and pin tiktoken itself uses
        data = Path(row.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == spec.sha256 == row.sha256
        assert row.ok and Path(row.path).parent == bundled_dir()


def test_encodings_build_with_no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def no_socket(*_args, **_kwargs):
        raise AssertionError("the tokenizer opened a socket")

    monkeypatch.setattr(socket, "socket", no_socket)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty"))
    tokenizer._load.cache_clear()
    try:
        assert get_encoding("cl100k_base").encode_ordinary("hello world") == [15339, 1917]
        assert len(get_encoding("o200k_base").encode_ordinary("hello world")) == 2
    finally:
        tokenizer._load.cache_clear()
    assert get_encoding("o200k_base") is get_encoding("o200k_base")  # cached per process


def test_missing_file_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tokenizer, "bundled_dir", lambda: tmp_path)
    with pytest.raises(EncodingUnavailable, match="reinstall") as info:
        get_encoding("o200k_base")
    assert "\n" not in str(info.value) and "missing" in str(info.value)
    with pytest.raises(EncodingUnavailable, match="missing"):
        check(directory=tmp_path)


def test_corrupt_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "cl100k_base.tiktoken").write_bytes(b"aGVsbG8= 0\n")
    monkeypatch.setattr(tokenizer, "bundled_dir", lambda: tmp_path)
    with pytest.raises(EncodingUnavailable, match="sha256 mismatch"):
        get_encoding("cl100k_base")
    with pytest.raises(EncodingUnavailable, match="sha256 mismatch"):
        check(("cl100k_base",), directory=tmp_path)
    assert not status(tmp_path)[1].ok


def test_unknown_encoding() -> None:
    with pytest.raises(EncodingUnavailable, match="unknown encoding"):
        get_encoding("p50k_base")
