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


def test_decide_shows_the_bar_while_it_prices_a_dataset(terminal, monkeypatch, capsys, tmp_path):
    """`ftsim decide` priced a dataset path without a bar, however large (`estimate` showed one)."""
    import json

    from ftsim.api.cli import main

    seen = []
    real = progress_mod.scan_progress

    def recording(path, label, *, enabled=True):
        seen.append((path, label, enabled))
        return real(path, label, enabled=enabled)

    monkeypatch.setattr(progress_mod, "scan_progress", recording)
    answers = tmp_path / "answers.toml"
    answers.write_text(
        "fact_retrieval = false\nfailure_is_style = false\nhas_rubric = true\nn_examples = 500\nfew_shot_works = false\n"
        "prompt_cost_pain = true\nhas_preference_data = false\nhas_fine_tuned_before = true\n"
        "recent_fine_tuned_inference = true\ncalls_per_month = 100000\nsystem_prompt_tokens = 2000\n"
        f"input_tokens = 500\noutput_tokens = 300\ntoday = 2026-12-06\ntraining_file = {json.dumps(DATA)}\n",
        encoding="utf-8")
    assert main(["decide", "--answers", str(answers), "--json"]) == 0
    assert seen == [(DATA, "counting training tokens", True)]
    assert json.loads(capsys.readouterr().out)["compare"]["trained_tokens"] == 792 * 8  # 12 examples, 8 epochs
