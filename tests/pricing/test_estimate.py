"""ftsim.pricing.costs.estimate: dataset -> Estimate, checked against an independent tiktoken count in the test."""

from __future__ import annotations

import base64
import datetime as dt
import json
import struct
import zlib
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftsim.pricing.catalog.catalog import bundled_catalogs, load_catalog
from ftsim.pricing.errors import DatasetError, PricingError
from ftsim.pricing.costs.estimate import InvalidDataset, estimate, estimate_examples, summary_lines

TODAY = dt.date(2026, 12, 5)
from ftsim.pricing.costs.hyperparameters import auto_n_epochs
from ftsim.pricing.costs.rft import GraderUsage
from ftsim.pricing.dataset.tokenizer import get_encoding

ROOT = Path(__file__).parents[2]
TOY = ROOT / "fixtures" / "datasets" / "toy_chat_fine_tuning.jsonl"
CAT = load_catalog()


def cookbook_tokens(messages: list[dict], enc_name: str) -> int:
    """The cookbook's num_tokens_from_messages, written independently: 3/message + values + 1/name + 3."""
    return live_tokens(messages, enc_name) + 2


def live_tokens(messages: list[dict], enc_name: str) -> int:
    """What the live API bills, written independently: 1 + 3/message + values + 1/name."""
    enc = get_encoding(enc_name)
    n = 1
    for message in messages:
        n += 3
        for key, value in message.items():
            n += len(enc.encode_ordinary(value))
            if key == "name":
                n += 1
    return n


def chat(i: int, words: int = 5) -> dict:
    return {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": f"Question {i}: " + "why " * words},
            {"role": "assistant", "content": f"Answer {i}."},
        ]
    }


def write(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ---- TV3, the cookbook toy dataset -------------------------------------------------------------------------


def toy_rows() -> list[dict]:
    return [json.loads(line) for line in TOY.read_text().splitlines() if line.strip()]


def test_tv3_toy_per_example_counts_match_the_notebook() -> None:
    counts = [cookbook_tokens(r["messages"], "cl100k_base") for r in toy_rows()]
    assert counts == [45, 111, 26, 28, 8032]
    assert [cookbook_tokens(r["messages"], "o200k_base") for r in toy_rows()] == [43, 106, 26, 27, 8031]


def test_tv3_toy_bills_two_tokens_an_example_less_than_the_notebook() -> None:
    # The pricing reference's TV3 is what the cookbook notebook prints (4,306 tokens at the 4,096 cap, 86,120
    # over 20 epochs, $0.68896); the live API adds 1 per example, not 3, so ftsim bills 2 an example less.
    est = estimate(TOY, model="gpt-3.5-turbo-0613")  # the 4,096 training context
    notebook = [min(4096, cookbook_tokens(r["messages"], "cl100k_base")) for r in toy_rows()]
    assert sum(notebook) == 4_306
    untruncated = 4  # the fifth example is capped, so the 2 tokens it loses are lost to the cap anyway
    assert est.tokens_per_epoch == 4_306 - 2 * untruncated == 4_298
    assert est.n_epochs == 20 and est.trained_tokens == 85_960 == 86_120 - 20 * 2 * untruncated
    assert est.training_cost_usd == Decimal("0.68768")
    assert est.n_truncated == 1
    assert any("at least 10 examples" in w for w in est.warnings)


def test_tv3_toy_at_3_dollars_with_a_user_catalog(tmp_path: Path) -> None:
    raw = json.loads((ROOT / "pricing" / "catalog" / bundled_catalogs()[-1]).read_text())
    for model in raw["models"]:
        if model["snapshot"] == "gpt-3.5-turbo-0613":
            model["training"]["price"] = "3.00"
    cat = tmp_path / "negotiated.json"
    cat.write_text(json.dumps(raw))
    est = estimate(TOY, model="gpt-3.5-turbo-0613", catalog=str(cat))
    assert est.training_cost_usd == Decimal("0.25788")
    assert str(cat) in est.price_source


def test_tv3_toy_at_16385_and_o200k() -> None:
    est = estimate(TOY, model="gpt-3.5-turbo-0125")
    # the notebook's 8,242 and 8,233 less 2 tokens for each of the 5 examples (none is capped here)
    assert (est.tokens_per_epoch, est.trained_tokens) == (8_232, 164_640)
    assert est.training_cost_usd == Decimal("8") * 164_640 / 1_000_000
    est4o = estimate(TOY, model="gpt-4o-mini")
    assert est4o.tokens_per_epoch == 8_223 and est4o.tokenizer == "o200k_base"


# ---- synthetic datasets, every method ----------------------------------------------------------------------


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1", "gpt-3.5-turbo", "gpt-4o"])
def test_supervised_matches_independent_count(tmp_path: Path, model: str) -> None:
    rows = [chat(i, words=i % 7) for i in range(40)]
    entry = CAT.resolve(model)
    expected_tokens = sum(live_tokens(r["messages"], entry.tokenizer) for r in rows)
    epochs = auto_n_epochs(40)
    est = estimate(write(tmp_path / "d.jsonl", rows), model=model)
    assert (est.n_examples, est.tokens_per_epoch, est.n_epochs) == (40, expected_tokens, epochs)
    assert est.trained_tokens == expected_tokens * epochs
    assert est.training_cost_usd == entry.training.price * expected_tokens * epochs / 1_000_000  # type: ignore[union-attr]
    assert est.model == entry.snapshot and est.method == "supervised" and est.billing_unit == "token"


def test_explicit_epochs(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", [chat(i) for i in range(12)])
    assert estimate(path, model="gpt-4o-mini", epochs=2).n_epochs == 2
    with pytest.raises(PricingError):
        estimate(path, model="gpt-4o-mini", epochs=0)


def test_validation_tokens_are_free(tmp_path: Path) -> None:
    train = write(tmp_path / "t.jsonl", [chat(i) for i in range(12)])
    val_rows = [chat(100 + i, words=30) for i in range(10)]
    val = write(tmp_path / "v.jsonl", val_rows)
    with_val = estimate(train, model="gpt-4o-mini", validation_file=val)
    without = estimate(train, model="gpt-4o-mini")
    assert with_val.training_cost_usd == without.training_cost_usd
    assert with_val.validation is not None and with_val.validation.billed_tokens == 0
    assert with_val.validation.tokens_per_epoch == sum(live_tokens(r["messages"], "o200k_base") for r in val_rows)


def dpo_row(i: int) -> dict:
    return {
        "input": {"messages": [{"role": "user", "content": f"Say hello number {i}"}]},
        "preferred_output": [{"role": "assistant", "content": "Hello there, friend!"}],
        "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
    }


def test_dpo_low_and_high(tmp_path: Path) -> None:
    rows = [dpo_row(i) for i in range(10)]
    low = high = 0
    for r in rows:
        prompt = live_tokens(r["input"]["messages"], "o200k_base")  # includes the 1 per example
        pref = live_tokens(r["preferred_output"], "o200k_base") - 1
        rej = live_tokens(r["non_preferred_output"], "o200k_base") - 1
        low += prompt + pref + rej
        high += (prompt + pref) + (prompt + rej)
    est = estimate(write(tmp_path / "p.jsonl", rows), model="gpt-4.1-mini", method="dpo", epochs=3)
    assert (est.tokens_per_epoch_low, est.tokens_per_epoch) == (low, high)
    assert est.training_cost_usd == Decimal(5) * high * 3 / 1_000_000
    assert est.training_cost_usd_low == Decimal(5) * low * 3 / 1_000_000 < est.training_cost_usd


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x00" * (width * 3) for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_vision_image_tokens(tmp_path: Path) -> None:
    url = "data:image/png;base64," + base64.b64encode(png(1024, 1024)).decode()
    rows = []
    for i in range(10):
        row = chat(i)
        row["messages"][1]["content"] = [
            {"type": "text", "text": f"What is in image {i}?"},
            {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
        ]
        rows.append(row)
    enc = get_encoding("o200k_base")
    text = 0
    for r in rows:
        flat = [dict(m) for m in r["messages"]]
        flat[1]["content"] = r["messages"][1]["content"][0]["text"]
        text += live_tokens(flat, "o200k_base")
    assert enc  # encoding available
    est = estimate(write(tmp_path / "v.jsonl", rows), model="gpt-4o-2024-08-06", method="vision", epochs=3)
    assert (est.n_images, est.image_tokens) == (10, 7_650)
    assert est.tokens_per_epoch == text + 7_650
    assert est.training_cost_usd == Decimal(25) * (text + 7_650) * 3 / 1_000_000


def rft_row(i: int) -> dict:
    return {"messages": [{"role": "user", "content": f"What is {i} + {i}?"}], "answer": str(2 * i)}


def test_rft_given_hours_tv5(tmp_path: Path) -> None:
    path = write(tmp_path / "r.jsonl", [rft_row(i) for i in range(20)])
    est = estimate(path, model="o4-mini", method="reinforcement", hours=4)
    assert est.training_cost_usd == Decimal(400) and est.billing_unit == "hour"
    assert est.rft is not None and est.rft.hours_given and est.rft.hours_expected == 4
    graded = estimate(
        path, model="o4-mini", method="reinforcement", hours="4", today=dt.date(2026, 10, 1),
        graders=[GraderUsage(model="o3-mini", input_tokens=5_000_000, output_tokens=4_900_000)],
    )
    assert graded.total_cost_usd == Decimal("427.06")
    assert any("stopped serving" in w for w in est.warnings)  # o4-mini shut down 2026-10-23


def test_rft_estimated_hours_range(tmp_path: Path) -> None:
    path = write(tmp_path / "r.jsonl", [rft_row(i) for i in range(20)])
    val = write(tmp_path / "rv.jsonl", [rft_row(100 + i) for i in range(5)])
    est = estimate(path, model="o4-mini", method="reinforcement", validation_file=val)
    assert est.rft is not None and not est.rft.hours_given
    assert est.rft.hours_low < est.rft.hours_expected < est.rft.hours_high
    assert est.training_cost_usd_low < est.training_cost_usd < est.training_cost_usd_high
    more = estimate(path, model="o4-mini", method="reinforcement", validation_file=val, reasoning_effort="high")
    assert more.training_cost_usd > est.training_cost_usd


# ---- refusals and warnings ---------------------------------------------------------------------------------


def test_empty_dataset_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    with pytest.raises(PricingError):
        estimate(path, model="gpt-4o-mini")


def test_invalid_dataset_names_first_error(tmp_path: Path) -> None:
    rows = [chat(i) for i in range(12)]
    rows[3] = {"messages": [{"role": "user", "content": "no answer"}]}
    with pytest.raises(InvalidDataset) as info:
        estimate(write(tmp_path / "bad.jsonl", rows), model="gpt-4o-mini")
    assert "line 4" in str(info.value) and info.value.report is not None


def test_missing_file_and_unknown_model(tmp_path: Path) -> None:
    with pytest.raises(DatasetError):
        estimate(tmp_path / "nope.jsonl", model="gpt-4o-mini")
    with pytest.raises(PricingError):
        estimate(TOY, model="gpt-5")


def test_method_model_mismatch() -> None:
    with pytest.raises(PricingError, match="hourly"):
        estimate(TOY, model="gpt-4o-mini", method="reinforcement")
    with pytest.raises(PricingError, match="per hour"):
        estimate(TOY, model="o4-mini", method="supervised")
    with pytest.raises(PricingError, match="training price"):
        estimate(TOY, model="gpt-4-0613")
    with pytest.raises(PricingError, match="reinforcement"):
        estimate(TOY, model="gpt-4o-mini", hours=2)


def test_lifecycle_warnings_follow_the_given_date(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", [chat(i) for i in range(12)])
    before = estimate(path, model="gpt-4o-mini-2024-07-18", today=dt.date(2026, 1, 1))
    after = estimate(path, model="gpt-4o-mini-2024-07-18", today=dt.date(2027, 1, 10))
    assert not any("refused since" in w for w in before.warnings)
    assert any("refused since 2027-01-06" in w for w in after.warnings)
    assert before.training_cost_usd == after.training_cost_usd


def test_inline_examples_match_the_file(tmp_path: Path) -> None:
    rows = [chat(i) for i in range(15)]
    from_file = estimate(write(tmp_path / "d.jsonl", rows), model="gpt-4.1-mini")
    inline = estimate_examples(rows, model="gpt-4.1-mini")
    assert inline.trained_tokens == from_file.trained_tokens
    assert inline.training_cost_usd == from_file.training_cost_usd
    with pytest.raises(PricingError):
        estimate_examples([], model="gpt-4.1-mini")


def test_json_money_is_exact_strings() -> None:
    data = json.loads(estimate(TOY, model="gpt-4o-mini").model_dump_json())
    for key in ("model", "method", "n_examples", "tokens_per_epoch", "n_epochs", "trained_tokens",
                "training_cost_usd", "price_source", "warnings"):
        assert key in data
    assert isinstance(data["training_cost_usd"], str) and Decimal(data["training_cost_usd"]) == Decimal("0.49338")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(10, 30), words=st.integers(0, 40), epochs=st.integers(1, 10))
def test_cost_grows_with_tokens_and_epochs(n: int, words: int, epochs: int) -> None:
    rows = [chat(i, words) for i in range(n)]
    base = estimate_examples(rows, model="gpt-4o-mini", epochs=epochs)
    longer = estimate_examples([chat(i, words + 5) for i in range(n)], model="gpt-4o-mini", epochs=epochs)
    more = estimate_examples(rows, model="gpt-4o-mini", epochs=epochs + 1)
    bigger = estimate_examples(rows + [chat(n)], model="gpt-4o-mini", epochs=epochs)
    assert longer.training_cost_usd > base.training_cost_usd
    assert more.training_cost_usd > base.training_cost_usd
    assert bigger.training_cost_usd > base.training_cost_usd
    assert isinstance(base.training_cost_usd, Decimal)


@settings(max_examples=10, deadline=None)
@given(blank=st.lists(st.sampled_from(["", " ", "\t", "  "]), min_size=0, max_size=5))
def test_any_blank_file_is_refused(blank: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "blank.jsonl"
        path.write_text("\n".join(blank))
        with pytest.raises(PricingError):
            estimate(path, model="gpt-4o-mini")


def _walk(obj: object, key: str = ""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, k)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk(v, key)
    else:
        yield key, obj


@pytest.mark.parametrize(
    ("model", "method", "kwargs"),
    [("gpt-4.1-mini", "supervised", {}), ("o4-mini", "reinforcement", {"hours": "1.5",
      "graders": [GraderUsage(model="gpt-4o-mini", input_tokens=1000, output_tokens=10)]})],
)
def test_no_float_anywhere_in_money(tmp_path: Path, model: str, method: str, kwargs: dict) -> None:
    rows = [chat(i) for i in range(10)] if method == "supervised" else [rft_row(i) for i in range(10)]
    est = estimate(write(tmp_path / "d.jsonl", rows), model=model, method=method, **kwargs)  # type: ignore[arg-type]
    money = [(k, v) for k, v in _walk(json.loads(est.model_dump_json())) if k.endswith("_usd") or k.startswith("rate")]
    assert money and all(isinstance(v, str) for _, v in money)
    assert all(not isinstance(v, float) for _, v in _walk(est.model_dump()))


def test_rft_grader_that_shut_down_is_refused(tmp_path: Path) -> None:
    """o3-mini stopped serving on OpenAI on 2026-10-23: a job graded by it cannot run after that."""
    path = write(tmp_path / "r.jsonl", [rft_row(i) for i in range(20)])
    grader = [GraderUsage(model="o3-mini", input_tokens=1, output_tokens=1)]
    with pytest.raises(PricingError, match="2026-10-23"):
        estimate(path, model="o4-mini", method="reinforcement", hours=4, today=dt.date(2026, 10, 23), graders=grader)
    with pytest.raises(PricingError, match="2026-12-11"):
        estimate(path, model="o4-mini", method="reinforcement", hours=4, today=dt.date(2026, 12, 11),
                 graders=[GraderUsage(model="o3", input_tokens=1, output_tokens=1)])


def test_rft_tv5_on_azure_grader_tokens_at_data_zone_rates(tmp_path: Path) -> None:
    """Reference correction: TV5's Azure variant is $400 + $29.77 of grading = $429.77."""
    path = write(tmp_path / "r.jsonl", [rft_row(i) for i in range(20)])
    est = estimate(path, model="o4-mini", method="reinforcement", hours=4, today=dt.date(2026, 9, 1),
                   provider="azure", graders=[GraderUsage(model="o3-mini", input_tokens=5_000_000,
                                                            output_tokens=4_900_000)])
    assert est.provider == "azure" and est.training_cost_usd == Decimal(400)
    assert est.rft.grader_cost_usd.quantize(Decimal("0.01")) == Decimal("29.77")
    assert est.total_cost_usd.quantize(Decimal("0.01")) == Decimal("429.77")


def test_rft_on_azure_bills_hours_rounded_to_the_hundredth_as_the_simulator_does(tmp_path: Path) -> None:
    """Regression: Azure bills RFT time in hours rounded to two decimals (the simulator's Azure bill,
    simulator/fine_tuning/azure.py, does), but the planner's Azure estimate billed the unrounded seconds."""
    path = write(tmp_path / "r.jsonl", [rft_row(i) for i in range(21)])  # 2,496 s expected: 0.6933 h
    val = write(tmp_path / "rv.jsonl", [rft_row(100 + i) for i in range(5)])
    est = estimate(path, model="o4-mini", method="reinforcement", validation_file=val, today=dt.date(2026, 9, 1),
                   provider="azure")
    assert est.rft is not None and not est.rft.hours_given
    assert est.rft.hours_expected == Decimal("0.69") and est.training_cost_usd == Decimal(69)
    for hours, cost in ((est.rft.hours_low, est.training_cost_usd_low), (est.rft.hours_expected, est.training_cost_usd),
                        (est.rft.hours_high, est.training_cost_usd_high)):
        assert hours == hours.quantize(Decimal("0.01"))
        assert cost == Decimal(100) * hours


def test_rft_on_azure_is_capped_at_5000(tmp_path: Path) -> None:
    path = write(tmp_path / "r.jsonl", [rft_row(i) for i in range(20)])
    est = estimate(path, model="o4-mini", method="reinforcement", hours=60, today=dt.date(2026, 9, 1),
                   provider="azure")
    assert est.training_cost_usd == Decimal(5000)
    assert any("caps an RFT job" in w for w in est.warnings)


def test_rft_on_azure_counts_grading_in_the_cap(tmp_path: Path) -> None:
    """Microsoft: RFT jobs pause at $5,000 of "training + grading": the grading in full, the training up to the cap."""
    path = write(tmp_path / "r.jsonl", [rft_row(i) for i in range(20)])
    graders = [GraderUsage(model="o3-mini", input_tokens=10_000_000, output_tokens=1_000_000)]
    est = estimate(path, model="o4-mini", method="reinforcement", hours=60, today=dt.date(2026, 9, 1),
                   provider="azure", graders=graders)
    grading = Decimal("12.10") + Decimal("4.84")  # o3-mini at Azure's data-zone $1.21 / $4.84 per 1M
    assert est.rft.grader_cost_usd == grading
    assert est.training_cost_usd == Decimal(5000) - grading and est.total_cost_usd == Decimal(5000)
    under = estimate(path, model="o4-mini", method="reinforcement", hours=10, today=dt.date(2026, 9, 1),
                     provider="azure", graders=graders)
    assert under.training_cost_usd == Decimal(1000) and under.total_cost_usd == Decimal(1000) + grading


@pytest.mark.parametrize(("tier", "cost"), [("global", "0.50"), ("data_zone", "0.55"), ("developer", "0.25")])
def test_sft_on_azure_by_tier(tmp_path: Path, tier: str, cost: str) -> None:
    """TV10 with gpt-4.1-mini rates: 100,000 trained tokens at $5 / $5.50 / $2.50 per 1M."""
    rows = [chat(i) for i in range(12)]
    path = write(tmp_path / "a.jsonl", rows)
    base = estimate(path, model="gpt-4.1-mini", today=TODAY)
    est = estimate(path, model="gpt-4.1-mini", provider="azure", azure_tier=tier, today=TODAY)
    assert est.trained_tokens == base.trained_tokens
    assert est.training_cost_usd == Decimal(cost) * est.trained_tokens / Decimal(100_000)


def test_partial_estimate_of_a_file_with_injected_bad_lines(tmp_path: Path) -> None:
    rows = [json.dumps(chat(i)) for i in range(3000)]
    bad = {17: "not json", 1200: json.dumps({"messages": [{"role": "user", "content": "x"}]}),
           2999: json.dumps({"messages": [{"role": "user", "content": "x"}]})}
    for index, text in bad.items():
        rows[index] = text
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(InvalidDataset):
        estimate(path, model="gpt-4o-mini", today=TODAY)  # the library is strict unless asked
    est = estimate(path, model="gpt-4o-mini", today=TODAY, partial=True)
    clean_rows = [r for i, r in enumerate(rows) if i not in bad]
    clean = tmp_path / "clean.jsonl"
    clean.write_text("\n".join(clean_rows) + "\n", encoding="utf-8")
    expected = estimate(clean, model="gpt-4o-mini", today=TODAY)
    assert est.partial and est.n_examples == 2997 and est.n_lines_with_errors == 3
    assert est.trained_tokens == expected.trained_tokens and est.training_cost_usd == expected.training_cost_usd
    lines = sorted(n for group in est.errors for n in group.first_lines)
    assert lines == [18, 1201, 3000] and sum(g.count for g in est.errors) == 3
    assert est.warnings[0].startswith("PARTIAL ESTIMATE")
    assert summary_lines(est)[0][0] == "PARTIAL"


def test_a_file_with_no_valid_example_is_refused_even_when_partial(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("nope\n" * 12, encoding="utf-8")
    with pytest.raises(InvalidDataset):
        estimate(path, model="gpt-4o-mini", partial=True)


def test_estimate_carries_its_as_of_date(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", [chat(i) for i in range(12)])
    est = estimate(path, model="gpt-4.1-mini", today=dt.date(2026, 12, 5))
    assert est.as_of == dt.date(2026, 12, 5)
    assert any("(32 days left)" in w for w in est.warnings)  # to 2027-01-06
    assert any("(40 days after 2026-12-05)" in w for w in est.warnings)  # to 2027-01-14
