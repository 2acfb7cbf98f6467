"""`ftsim doctor`: provisioned encodings with hashes, database path, versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftsim.api.cli import main
from ftsim.pricing.dataset.tokenizer import ENCODINGS


def test_doctor_text(capsys) -> None:
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for name, spec in ENCODINGS.items():
        assert name in out and spec.sha256 in out
    assert ".ftsim/ftsim.db" in out and "tiktoken" in out and "python" in out


def test_doctor_json(capsys) -> None:
    assert main(["doctor", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and {e["name"] for e in data["encodings"]} == set(ENCODINGS)
    assert all(e["sha256"] == e["expected_sha256"] for e in data["encodings"])
    assert {"python", "openai", "fastapi", "pydantic", "tiktoken", "ftsim-openai"} <= set(data["versions"])


def test_doctor_missing_encoding_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr("ftsim.pricing.dataset.tokenizer.bundled_dir", lambda: tmp_path)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "MISSING" in out and "reinstall" in out
