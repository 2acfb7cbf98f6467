"""`ftsim examples`: a pip user gets the README's `fixtures/...` files, and a missing one says how to get it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ftsim.api.cli import main

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# every example path the README names in a command or in prose
NAMED = sorted(set(re.findall(r"fixtures/(?:answers|scenarios|datasets)/[\w.-]+\.(?:toml|jsonl)", README)))


def test_the_readme_names_example_files():
    assert "fixtures/answers/sft-cost-play.toml" in NAMED and "fixtures/scenarios/support-bot.toml" in NAMED


def test_examples_writes_every_file_the_readme_names(tmp_path, capsys):
    assert main(["examples", str(tmp_path)]) == 0
    assert "wrote 35 example files" in capsys.readouterr().out
    for name in NAMED:
        assert (tmp_path / name).read_bytes() == (ROOT / name).read_bytes(), name
    assert not (tmp_path / "fixtures" / "azure").exists() and not (tmp_path / "fixtures" / "live").exists()


def test_examples_keeps_files_already_there(tmp_path, capsys):
    mine = tmp_path / "fixtures" / "answers" / "sft-cost-play.toml"
    mine.parent.mkdir(parents=True)
    mine.write_text("fact_retrieval = true\n", encoding="utf-8")
    assert main(["examples", str(tmp_path)]) == 0
    assert "(1 already there, kept)" in capsys.readouterr().out
    assert mine.read_text(encoding="utf-8") == "fact_retrieval = true\n"


def test_examples_into_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "fixtures").write_text("not a folder", encoding="utf-8")
    assert main(["examples", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ftsim: cannot write ") and len(err.splitlines()) == 1


@pytest.mark.parametrize("argv", [
    ["validate", "fixtures/datasets/sft_valid.jsonl"],
    ["validate", "fixtures/datasets/sft_valid.jsonl", "--json"],
    ["estimate", "fixtures/datasets/sft_valid.jsonl", "--model", "gpt-4.1-mini"],
    ["estimate", "train.jsonl", "--model", "gpt-4.1-mini", "--validation-file", "fixtures/datasets/rft_valid.jsonl"],
    ["compare", "--model", "gpt-4.1-mini", "--calls-per-month", "1", "--system-prompt-tokens", "1",
     "--input-tokens", "1", "--output-tokens", "1", "--training-file", "fixtures/datasets/sft_valid.jsonl"],
    ["whatif", "fixtures/scenarios/support-bot.toml"],
    ["decide", "--answers", "fixtures/answers/sft-cost-play.toml"],
])
def test_a_missing_readme_example_says_how_to_get_it(argv, tmp_path, monkeypatch, capsys):
    """Run where a pip user runs the README's commands: a folder without fixtures/."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.jsonl").write_bytes((ROOT / "fixtures/datasets/sft_valid.jsonl").read_bytes())
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "not found: fixtures/" in err and "`ftsim examples` writes them into ./fixtures/" in err
    assert len(err.splitlines()) == 1


def test_a_missing_file_elsewhere_has_no_examples_hint(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["decide", "--answers", "mine.toml"]) == 1
    assert "ftsim examples" not in capsys.readouterr().err
