"""The scan progress bar: shown only for large files on a terminal, and drawn without a background thread."""

from __future__ import annotations

import threading

import pytest

from ftsim.api.cli import progress as progress_mod
from ftsim.api.cli.progress import scan_progress

DATA = "fixtures/datasets/sft_valid.jsonl"


@pytest.fixture
def terminal(monkeypatch):
    monkeypatch.setattr(progress_mod.sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(progress_mod, "PROGRESS_MIN_BYTES", 1)


def test_no_bar_for_small_files_or_without_a_terminal(monkeypatch):
    with scan_progress(DATA, "x") as cb:
        assert cb is None  # small file (and pytest's stderr is no terminal)
    monkeypatch.setattr(progress_mod, "PROGRESS_MIN_BYTES", 1)
    monkeypatch.setattr(progress_mod.sys.stderr, "isatty", lambda: False, raising=False)
    with scan_progress(DATA, "x") as cb:
        assert cb is None


def test_disabled_or_missing_file_gives_no_bar(terminal):
    with scan_progress(DATA, "x", enabled=False) as cb:
        assert cb is None
    with scan_progress("does/not/exist.jsonl", "x") as cb:
        assert cb is None


def test_bar_runs_without_a_thread_so_the_scanner_can_fork(terminal):
    before = threading.active_count()
    with scan_progress(DATA, "x") as cb:
        assert cb is not None
        assert threading.active_count() == before
        cb(10, 100)
        cb(100, 100)


def test_estimate_with_a_bar_gives_the_same_figures(terminal, capsys):
    import json

    from ftsim.api.cli import main

    assert main(["estimate", DATA, "--model", "gpt-4o-mini", "--json"]) == 0
    with_bar = json.loads(capsys.readouterr().out)
    progress_mod.PROGRESS_MIN_BYTES = 10**12  # (restored by the fixture's monkeypatch)
    assert main(["estimate", DATA, "--model", "gpt-4o-mini", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["trained_tokens"] == with_bar["trained_tokens"]
