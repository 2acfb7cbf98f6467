"""The duration model: calibrated on the real gpt-4o-mini job, hours for RFT, deterministic jitter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator import throughput


def test_small_file_validates_in_about_the_real_47_seconds():
    assert 40 <= throughput.validation_seconds(2_000, seed=1) <= 48


def test_validation_grows_with_file_size():
    assert throughput.validation_seconds(200_000_000, seed=1) >= throughput.validation_seconds(1_000, seed=1) + 900


def test_real_gpt_4o_mini_step_time_is_about_three_seconds():
    # 80 examples of ~1,265 billed tokens, batch 1, at the catalog's 420 tokens/s
    per_step = throughput.seconds_per_step(method="supervised", tokens_per_step=1265, tps=420)
    assert 2.5 <= per_step <= 3.6


def test_dpo_steps_are_slower_than_sft_and_rft_steps_take_minutes():
    sft = throughput.seconds_per_step(method="supervised", tokens_per_step=500, tps=400)
    dpo = throughput.seconds_per_step(method="dpo", tokens_per_step=500, tps=400)
    rft = throughput.seconds_per_step(method="reinforcement", tokens_per_step=500, tps=200)
    assert dpo > sft
    assert rft * 300 > 3 * 3600  # a 300-step RFT run lasts hours


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
