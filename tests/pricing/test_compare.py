"""ftsim.pricing.planning.compare: break-even figures to the cent (reference TV8, TV11), horizon caps, retraining."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ftsim.pricing.catalog.catalog import load_catalog
from ftsim.pricing.planning.compare import CompareInput, compare
from ftsim.pricing.errors import PricingError, UnknownModel

CATALOG = load_catalog()
TODAY = dt.date(2026, 11, 22)
TOY = Path(__file__).resolve().parents[2] / "fixtures" / "datasets" / "toy_chat_fine_tuning.jsonl"


def tv8(**overrides) -> CompareInput:
    """The reference's TV8 scenario: S=2000, I=500, O=300, T=0, 2.4M training tokens."""
    values = dict(model="gpt-4.1-mini", calls_per_month=100_000, system_prompt_tokens=2000, input_tokens=500,
                  output_tokens=300, training_tokens=2_400_000, today=TODAY, cached_fraction=Decimal(0))
    values.update(overrides)
    return CompareInput(**values)


def test_tv8_gpt_41_mini_breaks_even_at_100k_calls():
    result = compare(tv8(), catalog=CATALOG)
    assert result.base.cost_per_call_usd == Decimal("0.00148")
    assert result.tuned.cost_per_call_usd == Decimal("0.00136")
    assert result.saving_per_call_usd == Decimal("0.00012")
    assert result.tuned.training_cost_usd == Decimal("12.00")
    assert result.break_even_calls == 100_000
    assert result.break_even_months == Decimal("1.00")
    assert result.base.monthly_cost_usd == Decimal("148.00")
    assert result.tuned.monthly_cost_usd == Decimal("136.00")
    assert result.monthly_savings_usd == Decimal("12.00")
    assert result.verdict == "pays_back"


def test_tv8_fully_cached_prompt_never_pays_back():
    result = compare(tv8(cached_fraction=Decimal(1)), catalog=CATALOG)
    assert result.base.cost_per_call_usd == Decimal("0.00088")
    assert result.break_even_calls is None
    assert result.break_even_months is None
    assert result.verdict == "never_pays_back"
    assert result.model_dump(mode="json")["break_even_calls"] is None


def test_tv8_gpt_4o_mini_breaks_even_at_160k_calls():
    result = compare(tv8(model="gpt-4o-mini"), catalog=CATALOG)
    assert result.base.cost_per_call_usd == Decimal("0.000555")
    assert result.tuned.cost_per_call_usd == Decimal("0.00051")
    assert result.tuned.training_cost_usd == Decimal("7.20")
    assert result.break_even_calls == 160_000


def test_half_cached_prompt_bills_half_of_s_at_the_cached_price():
    result = compare(tv8(cached_fraction=Decimal("0.5")), catalog=CATALOG)
    # 1000 x 0.40 + 1000 x 0.10 + 500 x 0.40 + 300 x 1.60, per 1M
    assert result.base.cost_per_call_usd == Decimal("0.00118")
    assert result.base.breakdown_per_call_usd["system_prompt_cached"] == Decimal("0.0001")


def test_tv11_batch_uses_the_stored_irregular_batch_prices():
    params = tv8(model="gpt-4o", system_prompt_tokens=0, input_tokens=1_000_000, output_tokens=1_000_000,
                 batch_fraction=Decimal(1))
    assert compare(params, catalog=CATALOG).tuned.cost_per_call_usd == Decimal("14.725")
    standard = compare(params.model_copy(update={"batch_fraction": Decimal(0)}), catalog=CATALOG)
    assert standard.tuned.cost_per_call_usd == Decimal("18.75")
    half = compare(params.model_copy(update={"batch_fraction": Decimal("0.5")}), catalog=CATALOG)
    assert half.tuned.cost_per_call_usd == (Decimal("14.725") + Decimal("18.75")) / 2


def test_json_has_the_documented_keys():
    data = compare(tv8(), catalog=CATALOG).model_dump(mode="json")
    for key in ("cost_per_call_usd", "monthly_cost_usd"):
        assert key in data["base"] and key in data["tuned"]
    for key in ("monthly_savings_usd", "break_even_calls", "break_even_months", "verdict", "warnings"):
        assert key in data
    assert data["tuned"]["training_cost_usd"] == "12.00"


def test_horizon_is_capped_at_the_inference_shutdown_with_a_warning():
    result = compare(tv8(), catalog=CATALOG)
    assert result.horizon_end == dt.date(2027, 1, 14)
    assert result.horizon_months == Decimal("1.74")  # 53 days / 30.4375
    assert any("2027-01-14" in w and "capped" in w for w in result.warnings)
    assert result.base.horizon_cost_usd == Decimal("257.52")
    assert result.tuned.horizon_cost_usd == Decimal("248.64")  # 136 x 1.74 + 12


def test_horizon_not_capped_when_the_model_outlives_it():
    result = compare(tv8(today=dt.date(2025, 7, 1), months=6), catalog=CATALOG)
    assert result.horizon_months == Decimal(6)
    assert not any("capped" in w for w in result.warnings)


def test_a_model_already_shut_down_has_a_zero_horizon():
    result = compare(tv8(model="gpt-4.1-nano"), catalog=CATALOG)
    assert result.horizon_months == 0
    assert any("stopped serving on 2026-10-23" in w for w in result.warnings)
    assert any("no new fine-tuning jobs" in w for w in result.warnings)


def test_default_today_is_the_catalogs_effective_date():
    result = compare(tv8(today=None), catalog=CATALOG)
    assert result.today == CATALOG.effective_date


def test_retraining_adds_training_costs_inside_the_horizon():
    params = tv8(today=dt.date(2025, 7, 1), months=12, retrain_every=3)
    result = compare(params, catalog=CATALOG)
    assert result.tuned.trainings == 4  # months 0, 3, 6, 9
    assert result.tuned.horizon_cost_usd == Decimal("136.00") * 12 + Decimal("12.00") * 4
    assert result.break_even_calls == 100_000


def test_retraining_happens_strictly_inside_the_horizon():
    result = compare(tv8(today=dt.date(2026, 6, 1), months=6, retrain_every=2), catalog=CATALOG)
    assert result.tuned.trainings == 3  # 06-01, 08-01, 10-01; 12-01 is the horizon's end
    assert result.horizon_months == Decimal(6)


def test_retraining_after_training_until_is_refused_with_a_warning():
    result = compare(tv8(today=dt.date(2026, 9, 1), months=4, retrain_every=1), catalog=CATALOG)
    # 09-01 first training, then 10-01, 11-01, 12-01 (all before 2027-01-06)
    assert result.tuned.trainings == 4
    capped = compare(tv8(today=dt.date(2026, 11, 1), months=12, retrain_every=1), catalog=CATALOG)
    # horizon capped at 2027-01-14 (2.43 months): retraining 12-01 only, 01-01 would be before the cap too
    assert capped.tuned.trainings == 3
    later = compare(tv8(today=dt.date(2026, 12, 10), months=12, retrain_every=1), catalog=CATALOG)
    assert later.tuned.trainings == 1  # 2027-01-10 falls after training ends (2027-01-06), before the cap
    assert any("Retraining after 2027-01-06 is impossible" in w for w in later.warnings)


def test_retraining_that_costs_more_than_it_saves_never_pays_back():
    result = compare(tv8(calls_per_month=50_000, retrain_every=1), catalog=CATALOG)  # $6 saved per $12 training
    assert result.break_even_calls is None
    assert result.verdict == "never_pays_back"
    assert any("Retraining every 1 months" in w for w in result.warnings)


def test_low_volume_pays_back_only_after_the_horizon():
    result = compare(tv8(calls_per_month=10_000), catalog=CATALOG)
    assert result.break_even_calls == 100_000
    assert result.break_even_months == Decimal("10.00")
    assert result.verdict == "pays_back_after_horizon"


def test_zero_volume_has_no_break_even_month():
    """No calls a month never reach the 100,000 calls that repay the training: never, not "after the horizon"."""
    result = compare(tv8(calls_per_month=0), catalog=CATALOG)
    assert result.break_even_calls == 100_000
    assert result.break_even_months is None
    assert result.verdict == "never_pays_back"


def test_a_different_base_model():
    result = compare(tv8(base_model="gpt-4.1"), catalog=CATALOG)
    assert result.base.snapshot == "gpt-4.1-2025-04-14"
    assert result.base.cost_per_call_usd == Decimal("0.0074")  # 2500 x 2.00 + 300 x 8.00
    assert result.break_even_calls == 1987  # ceil(12 / 0.00604) = ceil(1986.75)


def test_rft_training_hours_on_o4_mini():
    params = tv8(model="o4-mini", training_tokens=None, training_hours=Decimal(4), today=dt.date(2025, 7, 1))
    assert compare(params, catalog=CATALOG).tuned.training_cost_usd == Decimal("400.00")
    with pytest.raises(PricingError, match="by the hour"):
        compare(tv8(model="o4-mini"), catalog=CATALOG)
    with pytest.raises(PricingError, match="not billed by the hour"):
        compare(tv8(training_tokens=None, training_hours=Decimal(1)), catalog=CATALOG)


def test_training_from_a_dataset_uses_the_estimator():
    from ftsim.pricing.costs.estimate import estimate

    params = tv8(model="gpt-4o-mini", training_tokens=None, training_file=str(TOY), epochs=3)
    result = compare(params, catalog=CATALOG)
    expected = estimate(TOY, model="gpt-4o-mini", epochs=3, catalog=CATALOG, today=TODAY)
    assert result.trained_tokens == expected.trained_tokens
    assert result.tuned.training_cost_usd == expected.training_cost_usd.quantize(Decimal("0.01"))


def test_models_without_prices_are_refused():
    with pytest.raises(UnknownModel):
        compare(tv8(model="gpt-9"), catalog=CATALOG)
    with pytest.raises(PricingError, match="no fine-tuned inference prices"):
        compare(tv8(model="o3-mini"), catalog=CATALOG)


@pytest.mark.parametrize("bad", [
    dict(training_hours=Decimal(1)),
    dict(training_file=str(TOY)),
    dict(cached_fraction=Decimal("1.5")),
    dict(batch_fraction=Decimal("-0.1")),
    dict(calls_per_month=-1),
    dict(months=0),
    dict(retrain_every=0),
    dict(unknown=1),
])
def test_bad_inputs_are_validation_errors(bad):
    with pytest.raises(ValidationError):
        tv8(**bad)


def test_no_training_input_means_no_training_cost_with_a_warning():
    result = compare(tv8(training_tokens=None), catalog=CATALOG)
    assert result.tuned.training_cost_usd == 0 and result.trained_tokens is None
    assert result.break_even_calls == 0  # inference only: the tuned call is cheaper from the first call
    assert result.verdict == "pays_back"
    assert any("No training cost given" in w and "inference only" in w for w in result.warnings)
    assert result.model_dump(mode="json")["tuned"]["training_cost_usd"] == "0.00"
    assert "Pays back from the first call" in result.summary
    never = compare(tv8(training_tokens=None, cached_fraction=Decimal(1)), catalog=CATALOG)
    assert never.break_even_calls is None and never.verdict == "never_pays_back"
    assert not any("No training cost" in w for w in compare(tv8(), catalog=CATALOG).warnings)


def test_money_strings_follow_one_rule():
    """Exact values, no exponent, trailing zeros stripped to cents (ftsim.pricing.costs.money.usd_text)."""
    data = compare(tv8(model="o4-mini", training_tokens=None, training_hours=Decimal("0.64"),
                       today=dt.date(2025, 7, 1)), catalog=CATALOG).model_dump(mode="json")
    assert data["tuned"]["training_cost_usd"] == "64.00"
    assert data["base"]["training_cost_usd"] == "0.00"
    tiny = compare(tv8(system_prompt_tokens=1, input_tokens=0, output_tokens=0), catalog=CATALOG)
    part = tiny.model_dump(mode="json")["base"]["breakdown_per_call_usd"]["system_prompt"]
    assert part == "0.0000004" and "E" not in part  # 1 token x $0.40 / 1M, never "4E-7"
    for path in ("base", "tuned"):
        for key in ("cost_per_call_usd", "monthly_cost_usd", "horizon_cost_usd"):
            text = data[path][key]
            whole, _, frac = text.partition(".")
            assert len(frac) >= 2 and (len(frac) == 2 or not frac.endswith("0")), text


@settings(max_examples=60, deadline=None)
@given(
    s=st.integers(0, 20_000), i=st.integers(0, 5_000), o=st.integers(0, 5_000), t=st.integers(0, 2_000),
    tokens=st.integers(0, 50_000_000), cached=st.integers(0, 100), batch=st.integers(0, 100),
    model=st.sampled_from(["gpt-4.1-mini", "gpt-4o-mini", "gpt-4o", "gpt-4.1"]),
)
def test_break_even_is_the_first_call_count_that_repays_training(s, i, o, t, tokens, cached, batch, model):
    params = CompareInput(
        model=model, calls_per_month=1000, system_prompt_tokens=s, input_tokens=i, output_tokens=o,
        tuned_system_prompt_tokens=t, training_tokens=tokens, cached_fraction=Decimal(cached) / 100,
        batch_fraction=Decimal(batch) / 100, today=TODAY,
    )
    result = compare(params, catalog=CATALOG)
    training = Decimal(tokens) * CATALOG.resolve(model).training.price / 1_000_000
    saving = result.saving_per_call_usd
    if saving <= 0:
        assert result.break_even_calls is None
    else:
        n = result.break_even_calls
        assert n * saving >= training
        assert n == 0 or (n - 1) * saving < training
    more_cached = compare(params.model_copy(update={"cached_fraction": Decimal(1)}), catalog=CATALOG)
    assert more_cached.base.cost_per_call_usd <= result.base.cost_per_call_usd


def test_tv9_novacalculator_with_its_illustrative_prices_in_a_user_catalog(tmp_path: Path) -> None:
    """TV9 (pricing reference 6): 200,000 requests a month of 500 in / 300 out; a large model at $10 / $30 against a
    fine-tuned one at $3 / $6 costs $2,800 against $660 a month ($2,140 saved); $800 of training plus 60 h x $75
    of labour ($5,300 up front, given here as the training price of 1M tokens) pays back in 2.48 months."""
    import json

    from ftsim.pricing.catalog.catalog import bundled_catalogs

    root = Path(__file__).resolve().parents[2]
    raw = json.loads((root / "pricing" / "catalog" / bundled_catalogs()[-1]).read_text())
    entry = next(m for m in raw["models"] if m["snapshot"] == "gpt-4.1-mini-2025-04-14")
    entry["training"]["price"] = "5300.00"
    entry["base"]["standard"].update(input="10.00", cached_input=None, output="30.00")
    entry["tuned"]["standard"].update(input="3.00", cached_input=None, output="6.00")
    path = tmp_path / "tv9.json"
    path.write_text(json.dumps(raw))
    result = compare(CompareInput(model="gpt-4.1-mini", calls_per_month=200_000, system_prompt_tokens=0,
                                  input_tokens=500, output_tokens=300, training_tokens=1_000_000, today=TODAY),
                     catalog=load_catalog(path))
    assert result.base.monthly_cost_usd == Decimal("2800.00")
    assert result.tuned.monthly_cost_usd == Decimal("660.00")
    assert result.monthly_savings_usd == Decimal("2140.00")
    assert result.tuned.training_cost_usd == Decimal("5300.00")
    assert result.break_even_months == Decimal("2.48")
