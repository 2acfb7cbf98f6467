"""`ftsim estimate`: the JSON, the table, one-line failures."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from ftsim.api.cli import main
from ftsim.pricing.dataset.tokenizer import get_encoding

ROOT = Path(__file__).parents[2]
TOY = str(ROOT / "fixtures" / "datasets" / "toy_chat_fine_tuning.jsonl")


def run_json(capsys, *argv: str) -> dict:
    assert main(["estimate", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_keys_and_tv3_figure(capsys) -> None:
    data = run_json(capsys, TOY, "--model", "gpt-3.5-turbo-0613")
    for key in ("model", "method", "n_examples", "tokens_per_epoch", "n_epochs", "trained_tokens",
                "training_cost_usd", "price_source", "warnings"):
        assert key in data
    assert data["model"] == "gpt-3.5-turbo-0613" and data["method"] == "supervised"
    assert (data["n_examples"], data["tokens_per_epoch"], data["n_epochs"], data["trained_tokens"]) == (5, 4298, 20, 85960)  # TV3's 4,306 less 2 per uncapped example
    assert Decimal(data["training_cost_usd"]) == Decimal("0.68768")


def test_epochs_and_validation_file(capsys, tmp_path: Path) -> None:
    enc = get_encoding("o200k_base")
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]} for i in range(10)]
    train = tmp_path / "t.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    expected = sum(1 + sum(3 + len(enc.encode_ordinary(m["role"])) + len(enc.encode_ordinary(m["content"]))
                           for m in r["messages"]) for r in rows)
    data = run_json(capsys, str(train), "--model", "gpt-4.1-mini-2025-04-14", "--epochs", "4",
                    "--validation-file", str(train))
    assert data["tokens_per_epoch"] == expected and data["n_epochs"] == 4
    assert Decimal(data["training_cost_usd"]) == Decimal(5) * expected * 4 / 1_000_000
    assert data["validation"]["tokens_per_epoch"] == expected and data["validation"]["billed_tokens"] == 0


def test_rft_hours(capsys, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"{i}?"}], "answer": "x"}) + "\n"
                            for i in range(10)))
    data = run_json(capsys, str(path), "--model", "o4-mini", "--method", "reinforcement", "--hours", "2.55")
    assert Decimal(data["training_cost_usd"]) == Decimal("255.00") and data["rft"]["hours_given"] is True


def test_table_output(capsys) -> None:
    assert main(["estimate", TOY, "--model", "gpt-4o-mini"]) == 0
    out = capsys.readouterr().out
    assert "training cost" in out and "$0.49338" in out and "164,460" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["nope.jsonl", "--model", "gpt-4o-mini"], "not found"),
        ([TOY, "--model", "gpt-4o-mini", "--hours", "3"], "reinforcement"),
        ([TOY, "--model", "gpt-4o", "--method", "dpo"], "invalid"),
        ([TOY, "--model", "gpt-4o-mini", "--catalog", "missing.json"], "catalog"),
    ],
)
def test_failures_are_one_line(capsys, argv: list[str], needle: str) -> None:
    assert main(["estimate", *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ftsim: ") and needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_unknown_model_is_a_one_line_usage_error(capsys) -> None:
    assert main(["estimate", TOY, "--model", "gpt-9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ftsim: ") and "unknown model" in err and err.count("\n") == 1


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--epochs", "many"], ["--hours", "-1"], ["--method", "magic"]])
def test_bad_arguments_exit_2(capsys, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["estimate", TOY, "--model", "gpt-4o-mini", *argv])
    assert info.value.code == 2


def _bad_file(tmp_path) -> str:
    import json as _json

    rows = [_json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]})
            for i in range(40)]
    rows[4] = "not json"
    rows[9] = _json.dumps({"messages": [{"role": "user", "content": "no answer"}]})
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


def test_partial_estimate_by_default_strict_refuses(tmp_path, capsys) -> None:
    path = _bad_file(tmp_path)
    assert main(["estimate", path, "--model", "gpt-4o-mini", "--today", "2026-12-05"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PARTIAL") and "38 valid examples" in out and "lines 5, 10" in out
    assert "as of" in out and "2026-12-05" in out
    assert main(["estimate", path, "--model", "gpt-4o-mini", "--strict"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line 5" in err
    assert main(["validate", path]) == 1  # validate stays strict


def test_partial_estimate_json(tmp_path, capsys) -> None:
    import json as _json

    assert main(["estimate", _bad_file(tmp_path), "--model", "gpt-4o-mini", "--json", "--today", "2026-12-05"]) == 0
    data = _json.loads(capsys.readouterr().out)
    assert data["partial"] is True and data["n_examples"] == 38 and data["as_of"] == "2026-12-05"
    assert sum(g["count"] for g in data["errors"]) == 2


def test_rft_grader_inputs_and_shutdown(tmp_path, capsys) -> None:
    import json as _json

    rows = [_json.dumps({"messages": [{"role": "user", "content": f"{i}+{i}?"}], "answer": str(2 * i)})
            for i in range(20)]
    path = tmp_path / "rft.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    argv = ["estimate", str(path), "--model", "o4-mini", "--method", "reinforcement", "--hours", "4",
            "--grader-model", "o3-mini", "--grader-input-tokens", "1000", "--grader-output-tokens", "100", "--json"]
    assert main([*argv, "--today", "2026-12-05"]) == 1
    assert "2026-10-23" in capsys.readouterr().err
    assert main([*argv, "--today", "2026-10-01"]) == 0
    data = _json.loads(capsys.readouterr().out)
    assert data["rft"]["graders"][0]["model"].startswith("o3-mini")
    assert main(["estimate", str(path), "--model", "o4-mini", "--method", "reinforcement",
                 "--grader-input-tokens", "5"]) == 2


def test_azure_estimate(capsys) -> None:
    import json as _json

    assert main(["estimate", TOY, "--model", "gpt-4o-mini", "--provider", "azure", "--azure-tier", "developer",
                 "--json", "--today", "2026-12-05"]) == 0
    data = _json.loads(capsys.readouterr().out)
    assert data["provider"] == "azure" and data["rate_usd"] == "1.50"


def test_as_of_defaults_to_today_not_the_catalog_date(capsys) -> None:
    """Issue 15: estimate counted days left from the catalog's date while compare used today."""
    import datetime as dt
    import json as _json

    assert main(["estimate", TOY, "--model", "gpt-4.1-mini", "--json"]) == 0
    data = _json.loads(capsys.readouterr().out)
    today = dt.date.today()
    assert data["as_of"] == today.isoformat() != data["catalog_effective_date"]
    days = (dt.date(2027, 1, 6) - today).days
    if days > 0:
        assert any(f"({days} days left)" in w for w in data["warnings"])


def test_partial_summary_counts_one_bad_example_in_the_singular(capsys) -> None:
    """It read "1 examples with errors left out ... first at lines 5"."""
    root = Path(__file__).resolve().parents[2]
    assert main(["estimate", str(root / "fixtures/datasets/sft_bad_role.jsonl"), "--model", "gpt-4.1-mini"]) == 0
    out = capsys.readouterr().out
    assert "priced 10 valid examples; 1 example with errors left out" in out and "first at line 5:" in out


@pytest.mark.parametrize("name, argv, meant", [
    ("dpo_valid.jsonl", ["--model", "gpt-4.1-mini"], "dpo"),
    ("rft_train.jsonl", ["--model", "o4-mini"], "reinforcement"),
    ("sft_valid.jsonl", ["--model", "gpt-4.1-mini", "--method", "dpo"], "supervised"),
])
def test_a_file_of_another_method_names_the_method_to_pass(name, argv, meant, capsys) -> None:
    """`estimate` defaults to supervised where `validate` detects the method: the refusal said only
    "... not using 'dpo' as the training method (provided method=supervised)", cut off on a terminal."""
    root = Path(__file__).resolve().parents[2]
    assert main(["estimate", str(root / "fixtures" / "datasets" / name), *argv]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.rstrip().endswith(f"pass --method {meant})")
    assert main(["estimate", str(root / "fixtures" / "datasets" / "binary.jsonl"), "--model", "gpt-4.1-mini"]) == 1
    assert "--method" not in capsys.readouterr().err  # not another method's file: no hint
