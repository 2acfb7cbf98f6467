"""`ftsim compare`: TV8 over the CLI, JSON keys, the table, one-line failures."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from ftsim.api.cli import main

ROOT = Path(__file__).parents[2]
TOY = str(ROOT / "fixtures" / "datasets" / "toy_chat_fine_tuning.jsonl")
TV8 = ["compare", "--model", "gpt-4.1-mini", "--calls-per-month", "100000", "--system-prompt-tokens", "2000",
       "--input-tokens", "500", "--output-tokens", "300", "--today", "2026-11-22", "--cached-fraction", "0"]


def run_json(capsys, *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_tv8_json(capsys):
    data = run_json(capsys, *TV8, "--training-tokens", "2400000")
    assert Decimal(data["base"]["cost_per_call_usd"]) == Decimal("0.00148")
    assert Decimal(data["tuned"]["cost_per_call_usd"]) == Decimal("0.00136")
    assert Decimal(data["tuned"]["training_cost_usd"]) == Decimal("12.00")
    assert data["break_even_calls"] == 100000
    assert Decimal(data["break_even_months"]) == 1
    assert Decimal(data["monthly_savings_usd"]) == Decimal("12.00")
    assert data["verdict"] == "pays_back"
    assert any("2027-01-14" in w for w in data["warnings"])


def test_cached_prompt_never_pays_back(capsys):
    data = run_json(capsys, *TV8, "--training-tokens", "2400000", "--cached-fraction", "1")
    assert data["break_even_calls"] is None and data["verdict"] == "never_pays_back"


def test_gpt_4o_mini_and_options(capsys):
    swap = {"gpt-4.1-mini": "gpt-4o-mini", "100000": "400000"}
    argv = [swap.get(a, a) for a in TV8]
    data = run_json(capsys, *argv, "--training-tokens", "2400000", "--retrain-every", "1", "--months", "2")
    assert data["break_even_calls"] == 160000
    assert data["tuned"]["trainings"] == 2  # month 0 and month 1, inside the 1.74-month capped horizon
    data = run_json(capsys, *TV8, "--training-tokens", "2400000", "--retrain-every", "1", "--model", "gpt-4o-mini")
    assert data["break_even_calls"] is None  # $4.50 saved a month never repays $7.20 each month


def test_training_input_is_optional(capsys):
    data = run_json(capsys, *TV8)
    assert Decimal(data["tuned"]["training_cost_usd"]) == 0 and data["tuned"]["training_cost_usd"] == "0.00"
    assert data["break_even_calls"] == 0 and data["verdict"] == "pays_back"
    assert any("No training cost given" in w for w in data["warnings"])
    assert main(TV8) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "warning: No training cost given" in out and "inference only" in out


def test_training_file_and_epochs(capsys):
    data = run_json(capsys, *TV8, "--training-file", TOY, "--epochs", "2")
    assert data["trained_tokens"] > 0 and data["inputs"]["epochs"] == 2


def test_human_table(capsys):
    assert main([*TV8, "--training-tokens", "2400000"]) == 0
    out = capsys.readouterr().out
    assert "$0.001480" in out and "$0.001360" in out
    assert out.startswith("as of 2026-11-22 (OpenAI, catalog 2026-11)")
    assert "pays back" in out and "warning:" in out and "break-even volume: 57,472 calls/month" in out


@pytest.mark.parametrize("extra, code, text", [
    (["--training-tokens", "1", "--cached-fraction", "2"], 2, "cached_fraction"),
    (["--training-tokens", "1", "--epochs", "3"], 2, "--epochs goes with --training-file"),
    (["--training-file", TOY, "--epochs", "many"], 2, "--epochs must be an integer"),
    (["--training-tokens", "1", "--base-model", "gpt-9"], 2, "unknown model 'gpt-9'"),
    (["--training-file", "/nonexistent.jsonl"], 1, "nonexistent"),
    (["--training-hours", "4"], 1, "not billed by the hour"),
])
def test_one_line_failures(capsys, extra, code, text):
    assert main([*TV8, *extra]) == code
    err = capsys.readouterr().err
    assert text in err and err.count("\n") == 1 and "Traceback" not in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--model", "gpt-4.1-mini"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main([*TV8, "--training-tokens", "1", "--training-hours", "2"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main([*TV8, "--training-tokens", "1", "--cached-fraction", "lots"])
    assert exc.value.code == 2


def test_cached_fraction_given_twice_takes_the_last(capsys):
    data = run_json(capsys, *TV8, "--training-tokens", "2400000", "--cached-fraction", "1")
    assert data["cached_fraction"] == "1" and not data["cached_fraction_assumed"]


def test_azure_worked_figure_over_the_cli(capsys):
    data = run_json(capsys, *TV8, "--provider", "azure", "--calls-per-month", "1000000")
    assert data["provider"] == "azure" and data["break_even_calls_per_month"] == 1551250
    assert data["tuned"]["hosting_monthly_usd"] == "1241.00"


def test_both_providers_table(capsys):
    assert main([*TV8, "--provider", "both", "--training-tokens", "2400000"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("As of 2026-11-22:") and "Azure tuned" in out and "OpenAI tuned" in out
    data = run_json(capsys, *TV8, "--provider", "both")
    assert [r["provider"] for r in data["results"]] == ["openai", "azure"]


def test_blocked_organization_over_the_cli(capsys):
    data = run_json(capsys, *TV8, "--training-tokens", "1", "--today", "2026-12-05", "--has-fine-tuned-before",
                    "no")
    assert data["verdict"] == "cannot_train" and data["summary"].startswith("OpenAI will not train this")
    with pytest.raises(SystemExit) as exit_:
        main([*TV8, "--has-fine-tuned-before", "maybe"])
    assert exit_.value.code == 2 and "answer yes or no" in capsys.readouterr().err


def test_a_warning_that_asks_for_an_input_names_its_option(capsys):
    """The warnings named only the JSON fields (`cached_fraction`), not the options of this command."""
    import re

    from ftsim.api.cli import build_parser

    data = run_json(capsys, "compare", "--model", "gpt-4.1-mini", "--calls-per-month", "100000",
                    "--system-prompt-tokens", "2000", "--input-tokens", "500", "--output-tokens", "300",
                    "--today", "2026-12-06")
    asking = [w for w in data["warnings"] if w.startswith(("Cached share not given", "OpenAI may refuse"))]
    assert len(asking) == 2
    compare = next(a for a in build_parser()._actions if a.dest == "command").choices["compare"]
    options = {o for a in compare._actions for o in a.option_strings}
    for warning in asking:
        named = re.findall(r"--[a-z][a-z-]*", warning)
        assert named and set(named) <= options, warning
