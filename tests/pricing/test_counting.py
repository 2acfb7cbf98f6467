"""Billed tokens per example: the live API's count (real jobs), TV3 against it, non-string values, images, DPO, the cap."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from ftsim.pricing.dataset.counting import count_example, count_messages
from ftsim.pricing.dataset.images import image_tokens
from ftsim.pricing.dataset.tokenizer import get_encoding

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "datasets"
LIVE = Path(__file__).resolve().parents[2] / "fixtures" / "live"
BIG = 1_000_000


def toy() -> list[dict]:
    lines = (FIXTURES / "toy_chat_fine_tuning.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_toy_fixture_is_the_cookbook_file() -> None:
    assert (FIXTURES / "toy_chat_fine_tuning.jsonl").stat().st_size == 27_385  # size the reference gives
    assert toy()[4]["messages"][-1]["content"] == "Eat a banana!" * 2000


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("name", "epochs", "trained_tokens"),
    [("sarcastic.jsonl", 10, 5070), ("fine_tuning_sample.jsonl", 10, 5830)],
)
def test_trained_tokens_match_live_jobs(name: str, epochs: int, trained_tokens: int) -> None:
    # Two real jobs (gpt-3.5-turbo-0613 and -0125, cl100k_base) with their data and live `trained_tokens`
    # (fixtures/live/README.md). The cookbook's 3 per example would give 200 more on each.
    enc = get_encoding("cl100k_base")
    rows = read_jsonl(LIVE / name)
    assert epochs * sum(count_example(ex, "supervised", enc, 16_385).tokens for ex in rows) == trained_tokens


def test_trained_tokens_of_a_live_job_through_the_estimate() -> None:
    from ftsim.pricing.costs.estimate import estimate

    est = estimate(LIVE / "sarcastic.jsonl", model="gpt-3.5-turbo-0613")
    assert (est.n_examples, est.n_epochs, est.trained_tokens) == (10, 10, 5070)


def test_the_live_formula_is_one_plus_three_role_content_per_message() -> None:
    enc = get_encoding("cl100k_base")
    n = lambda text: len(enc.encode_ordinary(text))  # noqa: E731
    for ex in read_jsonl(LIVE / "fine_tuning_sample.jsonl"):
        expected = 1 + sum(3 + n(m["role"]) + n(m["content"]) for m in ex["messages"])
        assert count_example(ex, "supervised", enc, BIG).tokens == expected


@pytest.mark.parametrize(
    ("encoding", "notebook"),
    [("cl100k_base", [45, 111, 26, 28, 8032]), ("o200k_base", [43, 106, 26, 27, 8031])],
)
def test_tv3_per_example_tokens_are_two_below_the_notebook(encoding: str, notebook: list[int]) -> None:
    # TV3 (pricing reference) is what the cookbook notebook prints: 3 per example. The live API bills 1.
    enc = get_encoding(encoding)
    expected = [t - 2 for t in notebook]
    assert [count_example(ex, "supervised", enc, BIG).tokens for ex in toy()] == expected
    assert [count_messages(ex["messages"], enc) for ex in toy()] == expected


def test_tv3_caps() -> None:
    enc = get_encoding("cl100k_base")
    capped = [count_example(ex, "supervised", enc, 4096) for ex in toy()]
    assert sum(c.tokens for c in capped) == 4306 - 4 * 2  # the notebook's 4,306 less 2 for each uncapped example
    assert [c.truncated for c in capped] == [False] * 4 + [True] and capped[4].raw == 8030


def test_formula_parts() -> None:
    enc = get_encoding("o200k_base")
    n = lambda text: len(enc.encode_ordinary(text))  # noqa: E731
    base = {"messages": [{"role": "user", "content": "hi there"}, {"role": "assistant", "content": "hello"}]}
    expected = 1 + (3 + n("user") + n("hi there")) + (3 + n("assistant") + n("hello"))
    assert count_example(base, "supervised", enc, BIG).tokens == expected
    named = {"messages": [{"role": "user", "content": "hi there", "name": "ana"}, base["messages"][1]]}
    assert count_example(named, "supervised", enc, BIG).tokens == expected + n("ana") + 1
    weighted = {"messages": [base["messages"][0], {**base["messages"][1], "weight": 0}]}
    assert count_example(weighted, "supervised", enc, BIG).tokens == expected  # weight is metadata, still billed


def test_non_string_values_count_as_compact_json() -> None:
    enc = get_encoding("o200k_base")
    n = lambda text: len(enc.encode_ordinary(text))  # noqa: E731
    call = [{"id": "c1", "type": "function", "function": {"name": "stock", "arguments": "{\"part\":\"tube\"}"}}]
    tools = [{"type": "function", "function": {"name": "stock", "parameters": {"type": "object"}}}]
    msg = {"role": "assistant", "content": None, "tool_calls": call}
    ex = {"tools": tools, "parallel_tool_calls": True, "messages": [msg]}
    compact = lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=False)  # noqa: E731
    expected = 1 + (3 + n("assistant") + n(compact(call))) + n(compact(tools))
    assert count_example(ex, "supervised", enc, BIG).tokens == expected


def test_images_count_by_gpt4o_rule() -> None:
    enc = get_encoding("o200k_base")
    png = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + (1024).to_bytes(4, "big") + (2048).to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    parts = [{"type": "text", "text": "what"}, {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
             {"type": "image_url", "image_url": {"url": "https://example.com/x.png", "detail": "low"}}]
    with_images = {"messages": [{"role": "user", "content": parts}, {"role": "assistant", "content": "ok"}]}
    text_only = {"messages": [{"role": "user", "content": "what"}, {"role": "assistant", "content": "ok"}]}
    a = count_example(with_images, "supervised", enc, BIG)
    b = count_example(text_only, "supervised", enc, BIG)
    assert a.n_images == 2 and a.image_tokens == image_tokens(1024, 2048) + 85 == 1105 + 85
    assert a.tokens - b.tokens == a.image_tokens


def test_dpo_bounds() -> None:
    enc = get_encoding("o200k_base")
    inp = [{"role": "user", "content": "Name a fruit."}]
    good = [{"role": "assistant", "content": "Banana."}]
    bad = [{"role": "assistant", "content": "I cannot answer that question, sorry."}]
    ex = {"input": {"messages": inp}, "preferred_output": good, "non_preferred_output": bad}
    prompt = count_messages(inp, enc)
    p, r = count_messages(good, enc) - 1, count_messages(bad, enc) - 1
    counted = count_example(ex, "dpo", enc, BIG)
    assert counted.tokens == (prompt + p) + (prompt + r)  # high bound: the billed figure
    assert counted.tokens_low == prompt + p + r
    assert counted.tokens > counted.tokens_low
    capped = count_example(ex, "dpo", enc, prompt + p)
    assert capped.tokens == 2 * (prompt + p) and capped.truncated


def test_odd_input_never_raises() -> None:
    enc = get_encoding("cl100k_base")
    for obj in (None, [], {"messages": "x"}, {"messages": [1, None, {"role": 5}]}, {"input": 3}):
        for method in ("supervised", "dpo", "reinforcement"):
            assert count_example(obj, method, enc, 100).tokens >= 0
