"""`ftsim estimate` on every fixture dataset gives the figure computed here independently, to the cent.

The independent counter below follows the documented convention (pricing/dataset/counting.py docstring; the live API's
count, measured on real jobs): 1 per example + per message (3 + tokens of every value except `weight`, +1 for `name`), non-string values as
compact JSON, `tools` as compact JSON once per example; image parts by the gpt-4o rule, the size read from the
PNG header here. It shares no code with ftsim.pricing.dataset.counting.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from decimal import Decimal
from pathlib import Path

import pytest

from ftsim.api.cli import main
from ftsim.pricing.catalog.catalog import load_catalog
from ftsim.pricing.costs.hyperparameters import auto_n_epochs
from ftsim.pricing.dataset.tokenizer import get_encoding

FIX = Path(__file__).parents[2] / "fixtures" / "datasets"
CAT = load_catalog()

pytestmark = pytest.mark.skipif(not (FIX / "sft_valid.jsonl").exists(), reason="fixture datasets not written yet")


def gpt4o_image_tokens(width: int, height: int, detail: str) -> int:
    if detail == "low":
        return 85
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    short = min(w, h)
    if short > 768:
        w, h = w * 768 / short, h * 768 / short
    return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)


def png_size(url: str) -> tuple[int, int]:
    data = base64.b64decode(url.split(",", 1)[1])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


class Independent:
    def __init__(self, encoding: str) -> None:
        self.enc = get_encoding(encoding)

    def value(self, value: object) -> int:
        if value is None:
            return 0
        if isinstance(value, str):
            return len(self.enc.encode_ordinary(value))
        return len(self.enc.encode_ordinary(json.dumps(value, separators=(",", ":"), ensure_ascii=False)))

    def content(self, content: object) -> int:
        if not isinstance(content, list):
            return self.value(content)
        total = 0
        for part in content:
            if part.get("type") == "text":
                total += self.value(part["text"])
            else:
                spec = part["image_url"]
                total += gpt4o_image_tokens(*png_size(spec["url"]), spec.get("detail", "auto"))
        return total

    def messages(self, messages: list[dict]) -> int:
        n = 0
        for m in messages:
            n += 3
            for key, value in m.items():
                if key == "weight":
                    continue
                n += self.content(value) if key == "content" else self.value(value)
                n += 1 if key == "name" else 0
        return n

    def sft(self, row: dict) -> int:
        return 1 + self.messages(row["messages"]) + sum(self.value(row[k]) for k in ("tools", "functions") if k in row)

    def dpo(self, row: dict) -> tuple[int, int]:
        prompt = 1 + self.messages(row["input"]["messages"]) + (self.value(row["input"]["tools"]) if "tools" in row["input"] else 0)
        pref, rej = self.messages(row["preferred_output"]), self.messages(row["non_preferred_output"])
        return prompt + pref + rej, (prompt + pref) + (prompt + rej)


def rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIX / name).read_text().splitlines() if line.strip()]


def cli_json(capsys, *argv: str) -> dict:
    assert main(["estimate", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("fixture", "model", "method"),
    [
        ("sft_valid.jsonl", "gpt-4o-mini-2024-07-18", "supervised"),
        ("sft_valid.jsonl", "gpt-4.1-2025-04-14", "supervised"),
        ("sft_valid.jsonl", "gpt-3.5-turbo-0125", "supervised"),
        ("sft_blank_lines.jsonl", "gpt-4.1-mini-2025-04-14", "supervised"),
        ("sft_too_few.jsonl", "gpt-4.1-nano-2025-04-14", "supervised"),
        ("toy_chat_fine_tuning.jsonl", "gpt-4o-2024-08-06", "supervised"),
        ("vision_valid.jsonl", "gpt-4o-2024-08-06", "vision"),
    ],
)
def test_token_methods(capsys, fixture: str, model: str, method: str) -> None:
    entry = CAT.resolve(model)
    counter = Independent(entry.tokenizer)
    data = rows(fixture)
    tokens = sum(min(entry.training_context, counter.sft(r)) for r in data)
    epochs = auto_n_epochs(len(data))
    expected = entry.training.price * tokens * epochs / 1_000_000  # type: ignore[union-attr]
    out = cli_json(capsys, str(FIX / fixture), "--model", model, "--method", method)
    assert (out["n_examples"], out["tokens_per_epoch"], out["n_epochs"]) == (len(data), tokens, epochs)
    assert Decimal(out["training_cost_usd"]) == expected
    assert Decimal(out["training_cost_usd"]).quantize(Decimal("0.01")) == expected.quantize(Decimal("0.01"))


def test_vision_fixture_counts_images(capsys) -> None:
    out = cli_json(capsys, str(FIX / "vision_valid.jsonl"), "--model", "gpt-4o-2024-08-06", "--method", "vision")
    images = [p["image_url"] for r in rows("vision_valid.jsonl") for m in r["messages"]
              if isinstance(m.get("content"), list) for p in m["content"] if p.get("type") == "image_url"]
    assert out["n_images"] == len(images)
    assert out["image_tokens"] == sum(gpt4o_image_tokens(*png_size(i["url"]), i.get("detail", "auto")) for i in images)


@pytest.mark.parametrize("model", ["gpt-4.1-mini-2025-04-14", "gpt-4o-2024-08-06"])
def test_dpo_fixture(capsys, model: str) -> None:
    entry = CAT.resolve(model)
    counter = Independent(entry.tokenizer)
    pairs = [counter.dpo(r) for r in rows("dpo_valid.jsonl")]
    low, high = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
    out = cli_json(capsys, str(FIX / "dpo_valid.jsonl"), "--model", model, "--method", "dpo", "--epochs", "3")
    assert (out["tokens_per_epoch_low"], out["tokens_per_epoch"]) == (low, high)
    rate = entry.training.price  # type: ignore[union-attr]
    assert Decimal(out["training_cost_usd"]) == rate * high * 3 / 1_000_000
    assert Decimal(out["training_cost_usd_low"]) == rate * low * 3 / 1_000_000


def test_rft_fixture(capsys) -> None:
    out = cli_json(capsys, str(FIX / "rft_train.jsonl"), "--model", "o4-mini", "--method", "reinforcement",
                   "--validation-file", str(FIX / "rft_valid.jsonl"), "--hours", "4")
    assert Decimal(out["training_cost_usd"]) == Decimal(400)
    assert out["n_examples"] == len(rows("rft_train.jsonl")) and out["validation"]["n_examples"] == 5
    estimated = cli_json(capsys, str(FIX / "rft_train.jsonl"), "--model", "o4-mini", "--method", "reinforcement",
                         "--validation-file", str(FIX / "rft_valid.jsonl"))
    rft = estimated["rft"]
    assert Decimal(rft["hours_low"]) < Decimal(rft["hours_expected"]) < Decimal(rft["hours_high"])


@pytest.mark.parametrize(
    ("fixture", "needle"),
    [
        ("empty.jsonl", "empty"),
        ("binary.jsonl", "invalid_training_file"),
        ("sft_bad_json.jsonl", "line 4"),
        ("sft_bad_role.jsonl", "line 5"),
        ("sft_bad_weight.jsonl", "line 3"),
        ("sft_missing_role.jsonl", "line 6"),
        ("sft_no_assistant.jsonl", "line 7"),
        ("sft_not_object.jsonl", "line 9"),
        ("sft_extra_key.jsonl", "line 1"),
        ("not_utf8.jsonl", "line 3"),
        ("vision_image_in_assistant.jsonl", "line 4"),
    ],
)
def test_invalid_fixtures_are_refused_in_one_line(capsys, fixture: str, needle: str) -> None:
    model = "gpt-4o-2024-08-06"
    assert main(["estimate", str(FIX / fixture), "--model", model, "--strict"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ftsim: ") and needle in err and err.count("\n") == 1


def test_dpo_invalid_fixture(capsys) -> None:
    assert main(["estimate", str(FIX / "dpo_missing_input.jsonl"), "--model", "gpt-4.1", "--method", "dpo", "--strict"]) == 1
    assert "line 1" in capsys.readouterr().err
