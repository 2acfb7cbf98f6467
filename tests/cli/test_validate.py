"""`ftsim validate`: every fixture's verdict through the CLI (exit code and output)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftsim.api.cli import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "datasets"

CASES = [
    # (file, extra args, exit code, fragment expected in stdout)
    ("sft_valid.jsonl", [], 0, "VALID"),
    ("sft_blank_lines.jsonl", [], 0, "Line 6 is blank"),
    ("sft_too_few.jsonl", [], 1, "Training file has 7 example(s), but must have at least 10 examples"),
    ("sft_bad_json.jsonl", [], 1, "line 4 [invalid_file_format]"),
    ("sft_extra_key.jsonl", [], 1, 'Invalid file format. Example 1 contains an extra "weight".'),
    ("sft_bad_role.jsonl", [], 1, "Example 5, message 2 Input tag 'customer'"),
    ("sft_bad_weight.jsonl", [], 1, "Example 3, message 3 has an invalid weight 2"),
    ("sft_missing_role.jsonl", [], 1, "Example 6, message 2 Discriminator 'role' is missing in value"),
    ("sft_no_assistant.jsonl", [], 1, "Example 7 has no assistant message"),
    ("sft_not_object.jsonl", [], 1, "Example 9 is not a JSON object"),
    ("not_utf8.jsonl", [], 1, "Example 3 is not valid UTF-8"),
    ("empty.jsonl", [], 1, "Training file has 0 example(s)"),
    ("binary.jsonl", [], 1, "Unexpected file format, expected either prompt/completion pairs or chat messages."),
    ("toy_chat_fine_tuning.jsonl", ["--model", "gpt-3.5-turbo-0125"], 1, "8,232"),
    ("toy_chat_fine_tuning.jsonl", ["--model", "gpt-3.5-turbo-0613"], 1, "truncated to 4096 tokens"),
    ("dpo_valid.jsonl", [], 0, "method dpo (auto-detected)"),
    ("dpo_missing_input.jsonl", [], 1, "Example 1 is missing key 'input'."),
    ("rft_train.jsonl", [], 0, "method reinforcement (auto-detected), model o4-mini-2025-04-16"),
    ("rft_valid.jsonl", ["--method", "reinforcement", "--validation"], 0, "VALID"),
    ("rft_valid.jsonl", ["--method", "reinforcement"], 1, "Training file has 5 example(s)"),
    ("vision_valid.jsonl", [], 0, "model gpt-4o-2024-08-06"),
    ("vision_image_in_assistant.jsonl", [], 1, "not allowed in assistant messages"),
    ("sft_valid.jsonl", ["--method", "dpo"], 1, "is in the fine-tune-chat format, but the specified fine-tuning job is not using 'supervised'"),
    ("dpo_valid.jsonl", ["--method", "supervised"], 1, "is in the fine-tune-preference format"),
]


@pytest.mark.parametrize(("name", "extra", "code", "fragment"), CASES, ids=[f"{c[0]}{''.join(c[1])}" for c in CASES])
def test_fixture_verdict(name: str, extra: list[str], code: int, fragment: str, capsys) -> None:
    assert main(["validate", str(FIXTURES / name), *extra]) == code
    out, err = capsys.readouterr()
    assert fragment in out, out
    assert ("INVALID" in out) == (code == 1) and err == ""


def test_every_fixture_is_covered() -> None:
    assert {c[0] for c in CASES} == {p.name for p in FIXTURES.glob("*.jsonl")}


def test_json_output(capsys) -> None:
    assert main(["validate", str(FIXTURES / "sft_too_few.jsonl"), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is False and data["n_examples"] == 7 and data["first_error"]["code"] == "invalid_n_examples"
    assert data["method"] == "supervised" and data["model"] == "gpt-4o-mini-2024-07-18"
    assert main(["validate", str(FIXTURES / "dpo_valid.jsonl"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tokens_per_epoch"] > data["tokens_per_epoch_low"]


def test_alias_model_resolves(capsys) -> None:
    assert main(["validate", str(FIXTURES / "sft_valid.jsonl"), "--model", "gpt-4o-mini", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "gpt-4o-mini-2024-07-18"


@pytest.mark.parametrize("path", ["missing.jsonl", "."])
def test_unreadable_is_one_line(path: str, tmp_path: Path, capsys) -> None:
    target = tmp_path / path
    assert main(["validate", str(target)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("ftsim: ")


def test_usage_errors_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["validate", str(FIXTURES / "sft_valid.jsonl"), "--method", "rlhf"])
    assert info.value.code == 2
    assert main(["validate", str(FIXTURES / "sft_valid.jsonl"), "--model", "no-such-model"]) == 2
    assert "no-such-model" in capsys.readouterr().err


def test_missing_encoding_names_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr("ftsim.pricing.dataset.tokenizer.bundled_dir", lambda: tmp_path)
    assert main(["validate", str(FIXTURES / "sft_valid.jsonl")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "reinstall" in err


def test_unreadable_file_with_json_still_prints_a_json_finding(tmp_path, capsys):
    import json as _json

    from ftsim.api.cli import main as _main

    code = _main(["validate", str(tmp_path / "missing.jsonl"), "--json"])
    out, err = capsys.readouterr()
    body = _json.loads(out)
    assert code == 1 and body["valid"] is False and body["findings"][0]["code"] == "unreadable_file"
    assert err.startswith("ftsim: ") and err.count("\n") == 1


def test_unknown_model_is_a_usage_error_in_every_command(capsys):
    from ftsim.api.cli import main as _main

    data = "fixtures/datasets/sft_valid.jsonl"
    assert _main(["validate", data, "--model", "nope"]) == 2
    assert _main(["estimate", data, "--model", "nope"]) == 2


def test_validate_refuses_a_special_token_as_the_live_api_does(tmp_path: Path, capsys) -> None:
    rows = [{"messages": [{"role": "user", "content": f"Complete {i}"}, {"role": "assistant", "content": f"ok {i}"}]}
            for i in range(12)]
    rows[5]["messages"][1]["content"] = "def f():<|fim_suffix|>"
    path = tmp_path / "code.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["validate", str(path), "--model", "gpt-3.5-turbo-0125"]) == 1
    out = capsys.readouterr().out
    assert "Invalid file format. Example 6 message contains an invalid token: <|fim_suffix|>." in out
    # o200k_base has no <|fim_...|> tokens, so for gpt-4o-mini the same text is ordinary; <|endoftext|> is special in both
    assert main(["validate", str(path), "--model", "gpt-4o-mini"]) == 0
    rows[5]["messages"][1]["content"] = "the end<|endoftext|>"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["validate", str(path), "--model", "gpt-4o-mini"]) == 1
    assert "Example 6 message contains an invalid token: <|endoftext|>." in capsys.readouterr().out
