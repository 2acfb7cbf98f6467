"""`ftsim decide`: answers files (every branch), the interactive walk, JSON, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftsim.api.cli import main
from ftsim.api.cli.decide import ask_all

ROOT = Path(__file__).parents[2]
ANSWERS = ROOT / "fixtures" / "answers"


@pytest.mark.parametrize("name, recommendation", [
    ("rag", "rag"), ("prompting", "prompting"), ("build-evals", "build_evals"), ("collect-data", "collect_data"),
    ("ship-prompt", "ship_prompt"), ("sft-cost-play", "sft"), ("sft-then-dpo", "sft_then_dpo"), ("rft", "rft"),
    ("fix-upstream", "fix_upstream"), ("rft-unavailable", "prompt_with_grader"),
])
def test_answers_files_json(capsys, name, recommendation):
    assert main(["decide", "--answers", str(ANSWERS / f"{name}.toml"), "--json", "--today", "2026-11-22"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["recommendation"] == recommendation
    assert all({"question", "answer", "reason"} <= set(step) for step in data["path"])
    if recommendation == "sft":
        assert data["compare"]["break_even_calls"] == 100000
    if recommendation == "rft":
        assert data["rft"]["budget_usd"] == "400.00" and data["rft"]["available"] is True
        assert data["provider"] == "azure"  # o4-mini shut down on OpenAI on 2026-10-23
    assert data["as_of"] == "2026-11-22"


def test_sft_json_surfaces_the_compare_warnings_on_top(capsys):
    assert main(["decide", "--answers", str(ANSWERS / "sft-cost-play.toml"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert any("Horizon capped" in w for w in data["compare"]["warnings"])
    assert set(data["compare"]["warnings"]) <= set(data["warnings"])
    assert main(["decide", "--answers", str(ANSWERS / "sft-cost-play.toml")]) == 0
    out = capsys.readouterr().out
    assert out.count("Horizon capped at 1.74") == 1  # the table prints each warning once


def test_human_output(capsys):
    assert main(["decide", "--answers", str(ANSWERS / "rft.toml"), "--today", "2026-11-22"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("as of 2026-11-22")
    assert "recommendation: rft (provider: Azure OpenAI)" in out and "$400.00" in out and "2026-10-23" in out


def test_interactive_walk_ends_in_numbers(monkeypatch, capsys):
    """Interactively: the walk, the eligibility follow-ups, then volume and token counts; 'lots' is re-asked."""
    replies = iter(["no", "n", "yes", "maybe", "y", "lots", "1000", "no", "yes", "no",
                    "yes", "yes", "100000", "2000", "500", "300", "", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(replies))
    assert main(["decide", "--json", "--today", "2026-11-22"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    # a 2,000-token prompt, assumed half cached, is cheaper than the tuned call: the walk does not end in a fine-tune
    assert data["recommendation"] == "shorten_prompt" and data["summary"].startswith("Do not fine-tune")
    assert "expected a whole number such as 1200" in captured.err and "Traceback" not in captured.err
    assert data["compare"] is not None and data["compare"]["inputs"]["calls_per_month"] == 100000
    assert data["compare"]["cached_fraction_assumed"] is True  # a 2,000-token prompt: half cached, warned
    assert data["compare"]["verdict"] == "never_pays_back" and data["compare"]["net_savings_over_horizon_usd"]
    assert not any("No compare figures" in w for w in data["warnings"])


def test_interactive_walk_asks_the_cached_share_it_turns_on(monkeypatch, capsys):
    """The verdict turns on the cached share of a long prompt: it was only ever assumed (50%) interactively."""
    replies = iter(["no", "n", "yes", "1000", "no", "yes", "no", "yes", "yes", "100000", "2000", "500", "300",
                    "150", "half", "0%", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(replies))
    assert main(["decide", "--json", "--today", "2026-12-06"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert captured.err.count("expected a percentage from 0 to 100") == 2
    assert data["compare"]["cached_fraction"] == "0" and data["compare"]["cached_fraction_assumed"] is False
    assert (data["recommendation"], data["compare"]["verdict"]) == ("sft", "pays_back")


def test_the_cached_share_is_not_asked_for_a_short_prompt():
    from ftsim.pricing.planning.decide import next_question

    answers = dict(fact_retrieval=False, failure_is_style=False, has_rubric=True, n_examples=1000,
                   few_shot_works=False, prompt_cost_pain=True, has_preference_data=False, has_fine_tuned_before=True,
                   recent_fine_tuned_inference=True, calls_per_month=1, input_tokens=1, output_tokens=1)
    assert next_question(dict(answers, system_prompt_tokens=1023), interactive=True).id == "training_file"
    assert next_question(dict(answers, system_prompt_tokens=1024), interactive=True).id == "cached_fraction"
    assert next_question(dict(answers, system_prompt_tokens=1024)) is None  # optional: never asked of a file


def test_interactive_dataset_path_is_priced(monkeypatch, capsys, tmp_path):
    rows = [json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]})
            for i in range(60)]
    dataset = tmp_path / "train.jsonl"
    dataset.write_text("\n".join(rows) + "\n", encoding="utf-8")
    replies = iter(["no", "no", "yes", "60", "no", "yes", "yes", "yes", "yes", "100000", "2000", "500", "300", "",
                    "/nonexistent.jsonl", str(dataset)])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(replies))
    assert main(["decide", "--json", "--today", "2026-11-22"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    # priced as SFT then DPO; half the 2,000-token prompt assumed cached, it does not pay back: no fine-tune
    assert data["recommendation"] == "shorten_prompt" and data["dpo"]["cost_usd"] != "0.00"
    assert "no file at" in captured.err
    assert data["compare"]["trained_tokens"] > data["dpo"]["trained_tokens"]


def test_ask_all_reasks_and_stops_on_eof(capsys):
    replies = iter(["perhaps", "yes"])
    assert ask_all({}, ask=lambda prompt: next(replies)) == {"fact_retrieval": True}
    assert "answer yes or no" in capsys.readouterr().out

    def eof(prompt):
        raise EOFError

    from ftsim.api.cli import CliError

    with pytest.raises(CliError, match="fact_retrieval"):
        ask_all({}, ask=eof)


def test_incomplete_answers_file(tmp_path, capsys):
    partial = tmp_path / "a.toml"
    partial.write_text("fact_retrieval = false\n", encoding="utf-8")
    assert main(["decide", "--answers", str(partial)]) == 2
    err = capsys.readouterr().err
    assert "failure_is_style" in err and err.count("\n") == 1


@pytest.mark.parametrize("content, text", [
    ("fact_retrieval = 'sometimes'\n", "fact_retrieval"),
    ("colour = 1\n", "colour"),
    ("fact_retrieval = \n", "not valid TOML"),
])
def test_bad_answers_files(tmp_path, capsys, content, text):
    bad = tmp_path / "a.toml"
    bad.write_text(content, encoding="utf-8")
    assert main(["decide", "--answers", str(bad)]) == 2
    err = capsys.readouterr().err
    assert text in err and "Traceback" not in err


def test_missing_answers_file(capsys):
    assert main(["decide", "--answers", "/nonexistent.toml"]) == 1
    assert "not found" in capsys.readouterr().err


def test_closed_pipe_is_not_a_traceback():
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "ftsim.api.cli", "decide", "--answers", "fixtures/answers/sft-cost-play.toml", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader leaves before the first write, as `| head` does
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert b"Traceback" not in err and b"BrokenPipe" not in err
