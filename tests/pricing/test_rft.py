"""ftsim.pricing.costs.rft: hourly RFT billing, grader tokens, captured forward progress, the duration model."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ftsim.pricing.catalog.catalog import load_catalog
from ftsim.pricing.errors import PricingError, UnknownModel
from ftsim.pricing.costs.rft import (
    GraderSpec,
    GraderUsage,
    billable_seconds,
    estimate_duration,
    given_duration,
    grader_cost,
    rft_cost,
)

CAT = load_catalog()
O4 = CAT.resolve("o4-mini")
H = 3600


def test_tv5_four_billed_hours() -> None:
    # 6 h wall clock, 4 h in the training loop: only the loop is billed
    assert rft_cost(O4, given_duration(4), catalog=CAT).training_cost_usd == Decimal("400")


def test_tv5_failure_bills_to_last_checkpoint() -> None:
    seconds = billable_seconds("failure", elapsed_seconds=3 * H, last_checkpoint_seconds=2 * H)
    assert seconds == 2 * H
    cost = rft_cost(O4, given_duration(Decimal(seconds) / H), catalog=CAT)
    assert cost.training_cost_usd == Decimal("200")


def test_captured_forward_progress_events() -> None:
    assert billable_seconds("cancel", elapsed_seconds=5000, last_checkpoint_seconds=3000) == 5000
    assert billable_seconds("pause", elapsed_seconds=5000, last_checkpoint_seconds=5000, already_billed_seconds=1000) == 4000
    assert billable_seconds("success", elapsed_seconds=9000, last_checkpoint_seconds=7200, already_billed_seconds=4000) == 5000
    assert billable_seconds("failure", elapsed_seconds=9000, last_checkpoint_seconds=3000, already_billed_seconds=4000) == 0
    with pytest.raises(PricingError):
        billable_seconds("failure", elapsed_seconds=10, last_checkpoint_seconds=20)
    with pytest.raises(PricingError):
        billable_seconds("explode", elapsed_seconds=10, last_checkpoint_seconds=0)  # type: ignore[arg-type]


def test_tv5_invoice_line() -> None:
    assert rft_cost(O4, given_duration("2.55"), catalog=CAT).training_cost_usd == Decimal("255.00")


def test_tv5_azure_grader_variant() -> None:
    grader = GraderUsage(model="o3-mini", input_tokens=5_000_000, output_tokens=4_900_000)
    assert grader_cost(grader, CAT).cost_usd == Decimal("27.06")
    cost = rft_cost(O4, given_duration(4), catalog=CAT, graders=[grader])
    assert cost.grader_cost_usd == Decimal("27.06") and cost.total_cost_usd == Decimal("427.06")


def test_grader_uses_base_prices_and_known_models() -> None:
    line = grader_cost(GraderUsage(model="gpt-4o-mini", input_tokens=10**6, cached_input_tokens=10**6), CAT)
    assert line.cost_usd == Decimal("0.075")  # base cached input, not the tuned price
    with pytest.raises(UnknownModel):
        grader_cost(GraderUsage(model="gpt-9"), CAT)


def test_rft_needs_an_hourly_model() -> None:
    with pytest.raises(PricingError):
        rft_cost(CAT.resolve("gpt-4o-mini"), given_duration(1), catalog=CAT)


def test_duration_model_anchor_and_range() -> None:
    d = estimate_duration(n_examples=100, n_validation=50)
    assert d.hours_low <= d.hours_expected <= d.hours_high
    assert Decimal(2) <= d.hours_expected <= Decimal(6)  # near the worked example's 4 billable hours
    assert d.seconds_high == 2 * d.seconds_expected and not d.given
    cost = rft_cost(O4, d, catalog=CAT)
    assert cost.training_cost_usd_low < cost.training_cost_usd < cost.training_cost_usd_high
    assert cost.training_cost_usd == (Decimal(100) * d.seconds_expected / H).quantize(Decimal("0.000001"))


def test_duration_drivers() -> None:
    base = estimate_duration(n_examples=50, n_validation=20).seconds_expected
    assert estimate_duration(n_examples=50, n_validation=20, reasoning_effort="high").seconds_expected > base
    assert estimate_duration(n_examples=50, n_validation=20, reasoning_effort="low").seconds_expected < base
    assert estimate_duration(n_examples=50, n_validation=20, compute_multiplier="2").seconds_expected > base
    assert estimate_duration(n_examples=50, n_validation=20, eval_samples=3).seconds_expected > base
    assert estimate_duration(n_examples=50, n_validation=20, eval_interval=1).seconds_expected > base
    assert estimate_duration(n_examples=50, n_validation=0).seconds_expected < base
    assert estimate_duration(n_examples=50, n_validation=20, grader_kind="reasoning_model").seconds_expected > base


def test_grader_specs_scale_with_graded_calls() -> None:
    d = estimate_duration(n_examples=10, n_validation=0, n_epochs=2)
    assert d.graded_calls == 20
    cost = rft_cost(O4, d, catalog=CAT, grader_specs=[GraderSpec(model="gpt-4.1", input_tokens_per_call=1000, output_tokens_per_call=100)])
    assert cost.grader_cost_usd == 20 * (1000 * Decimal(2) + 100 * Decimal(8)) / 10**6


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_examples": 0},
        {"n_examples": 10, "compute_multiplier": "11"},
        {"n_examples": 10, "reasoning_effort": "extreme"},
        {"n_examples": 10, "eval_interval": 0},
        {"n_examples": 10, "grader_kind": "oracle"},
    ],
)
def test_bad_duration_inputs(kwargs: dict) -> None:
    with pytest.raises(PricingError):
        estimate_duration(**kwargs)


def test_negative_hours_refused() -> None:
    with pytest.raises(PricingError):
        given_duration("-1")
    with pytest.raises(TypeError):
        given_duration(1.5)  # type: ignore[arg-type]


@given(n=st.integers(1, 5000), extra=st.integers(1, 100), val=st.integers(0, 200))
def test_duration_grows_with_examples(n: int, extra: int, val: int) -> None:
    a = estimate_duration(n_examples=n, n_validation=val, n_epochs=1)
    b = estimate_duration(n_examples=n + extra, n_validation=val, n_epochs=1)
    assert b.seconds_expected >= a.seconds_expected


def test_auto_eval_count_never_drops_when_the_dataset_grows() -> None:
    a = estimate_duration(n_examples=10, n_validation=200, n_epochs=1)
    b = estimate_duration(n_examples=11, n_validation=200, n_epochs=1)
    assert b.seconds_expected >= a.seconds_expected
