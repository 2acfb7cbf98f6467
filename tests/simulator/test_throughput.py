"""The duration model: calibrated on the real gpt-4o-mini job, hours for RFT, deterministic jitter."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pathlib import Path

from ftsim.pricing.catalog.catalog import load_catalog
from ftsim.pricing.costs.rft import estimate_duration
from ftsim.pricing.dataset.scan import scan_dataset
from ftsim.simulator.fine_tuning import throughput

LIVE = Path(__file__).resolve().parents[2] / "fixtures" / "live"


def test_small_file_validates_in_about_the_real_47_seconds():
    assert 40 <= throughput.validation_seconds(2_000, seed=1) <= 48


def test_validation_grows_with_file_size():
    assert throughput.validation_seconds(200_000_000, seed=1) >= throughput.validation_seconds(1_000, seed=1) + 900


def test_real_gpt_4o_mini_step_time_is_about_three_seconds():
    # R-QTRAN: 80 examples of ~1,265 billed tokens, batch 1, 240 steps in 735 s (3.06 s a step)
    tps = throughput.tokens_per_second("gpt-4o-mini-2024-07-18", load_catalog().resolve("gpt-4o-mini"))
    per_step = throughput.seconds_per_step(method="supervised", tokens_per_step=1265, tps=tps)
    assert 2.9 <= per_step <= 3.2


def test_step_timing_is_calibrated_on_the_recorded_gpt_3_5_job():
    # ruby-openai's sarcastic.jsonl job: 10 examples, 10 epochs, 100 steps, about 1.7 s a step (367 s in all)
    catalog = load_catalog()
    entry = catalog.resolve("gpt-3.5-turbo-0613")
    report = scan_dataset(LIVE / "sarcastic.jsonl", method="supervised", model=entry)
    tps = throughput.tokens_per_second(entry.snapshot, entry)
    per_step = throughput.seconds_per_step(method="supervised", tokens_per_step=report.tokens_per_epoch / 10, tps=tps)
    assert 1.6 <= per_step <= 1.8  # the old 0.2 s overhead gave about 0.3 s (89 s for the whole job)


def test_dpo_steps_are_slower_than_sft_and_rft_has_no_token_step_model():
    sft = throughput.seconds_per_step(method="supervised", tokens_per_step=500, tps=400)
    dpo = throughput.seconds_per_step(method="dpo", tokens_per_step=500, tps=400)
    assert dpo > sft
    with pytest.raises(ValueError):  # one RFT duration model: the planner's (rft_loop_seconds)
        throughput.seconds_per_step(method="reinforcement", tokens_per_step=500, tps=200)


AUTO_RFT = {"n_epochs": "auto", "batch_size": "auto", "compute_multiplier": "auto", "reasoning_effort": "default",
            "eval_interval": "auto", "eval_samples": "auto"}


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 500), n_valid=st.integers(0, 60), epochs=st.integers(1, 6), batch=st.integers(1, 16),
       mult=st.sampled_from(["auto", 0.25, 1, 2.5]), effort=st.sampled_from(["default", "low", "medium", "high"]),
       interval=st.sampled_from(["auto", 1, 7]), samples=st.sampled_from(["auto", 1, 3]),
       grader=st.sampled_from(["string_check", "python", "score_model", "text_similarity"]))
def test_rft_loop_is_the_planners_expected_duration(n, n_valid, epochs, batch, mult, effort, interval, samples, grader):
    hp = {"n_epochs": epochs, "batch_size": batch, "compute_multiplier": mult, "reasoning_effort": effort,
          "eval_interval": interval, "eval_samples": samples}
    got = throughput.rft_loop_seconds(hp, n_examples=n, n_validation=n_valid, grader={"type": grader})
    want = estimate_duration(
        n_examples=n, n_validation=n_valid, n_epochs=epochs, batch_size=batch,
        compute_multiplier=mult if mult == "auto" else str(mult), reasoning_effort=effort,
        eval_interval=interval, eval_samples=samples, grader_kind="model" if grader == "score_model" else "string",
    )
    assert got == want.seconds_expected


def test_rft_loop_follows_effort_multiplier_and_model_graders():
    base = throughput.rft_loop_seconds(AUTO_RFT, n_examples=12, n_validation=0, grader={"type": "string_check"})
    assert throughput.rft_loop_seconds({**AUTO_RFT, "reasoning_effort": "high"}, n_examples=12, n_validation=0,
                                       grader={"type": "string_check"}) == 2 * base
    assert throughput.rft_loop_seconds({**AUTO_RFT, "compute_multiplier": 0.5}, n_examples=12, n_validation=0,
                                       grader={"type": "string_check"}) == base // 2
    multi = {"type": "multi", "graders": {"a": {"type": "string_check"}, "b": {"type": "score_model"}}}
    assert throughput.rft_grader_kind(multi) == "model"
    assert throughput.rft_loop_seconds(AUTO_RFT, n_examples=12, n_validation=0, grader=multi) > base
    assert throughput.loop_seconds(7, base / 7) == base


def test_tokens_per_second_prefers_catalog_then_family_table():
    class Entry:
        tokens_per_second = 123

    assert throughput.tokens_per_second("gpt-4.1-mini-2025-04-14", Entry()) == 123
    assert throughput.tokens_per_second("gpt-4.1-mini-2025-04-14") == throughput.FALLBACK_TOKENS_PER_SECOND["gpt-4.1-mini"]
    assert throughput.tokens_per_second("gpt-4.1-2025-04-14") == throughput.FALLBACK_TOKENS_PER_SECOND["gpt-4.1"]
    assert throughput.tokens_per_second("mystery-1") == throughput.DEFAULT_TOKENS_PER_SECOND


def test_rejects_zero_throughput():
    with pytest.raises(ValueError):
        throughput.seconds_per_step(method="supervised", tokens_per_step=1, tps=0)


@given(st.integers(min_value=0, max_value=2**31 - 1), st.integers(min_value=0, max_value=5))
def test_jitter_is_deterministic_and_bounded(seed, round_):
    q = throughput.queue_seconds(seed, round_)
    assert q == throughput.queue_seconds(seed, round_)
    assert 2 <= q <= 5


def test_post_training_offsets_match_the_real_job():
    assert throughput.MODEL_CREATED_AFTER_LAST_STEP - throughput.FINISHED_AFTER_LAST_STEP == 2
    assert throughput.COMPLETED_AFTER_LAST_STEP - throughput.MODEL_CREATED_AFTER_LAST_STEP == 5
