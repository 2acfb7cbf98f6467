"""ftsim.pricing.planning.whatif: scenario parsing, the grid, and the float sweep checked row by row against Decimal."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ftsim.pricing.catalog.catalog import load_catalog
from ftsim.pricing.planning.compare import CompareInput, compare
from ftsim.pricing.errors import PricingError
from ftsim.pricing.costs.hyperparameters import auto_n_epochs
from ftsim.pricing.planning.whatif import (
    RangeSpec, _auto_epochs, baseline_input, evaluate, grid_size, load_scenario, parse_scenario, row_input,
    sweep_warnings,
)

CATALOG = load_catalog()
SCENARIOS = Path(__file__).resolve().parents[2] / "fixtures" / "scenarios"
BASELINE = dict(model="gpt-4.1-mini", calls_per_month=100_000, system_prompt_tokens=2000, input_tokens=500,
                output_tokens=300, training_tokens=2_400_000, cached_fraction=0)


def scenario(sweep=None, **baseline):
    return parse_scenario({"title": "t", "today": dt.date(2026, 11, 22), "baseline": {**BASELINE, **baseline},
                           "sweep": sweep or {}})


def test_ranges_are_inclusive_and_integral_when_possible():
    assert RangeSpec(start=0, stop=100, step=25).values() == [0, 25, 50, 75, 100]
    assert RangeSpec(start=0, stop=1, num=3).values() == [0.0, 0.5, 1.0]
    assert RangeSpec(start=0, stop=0.3, step=0.1).values() == pytest.approx([0, 0.1, 0.2, 0.3])
    with pytest.raises(ValueError):
        RangeSpec(start=5, stop=1, step=1).values()
    with pytest.raises(ValueError):
        RangeSpec(start=0, stop=1).values()


def test_grid_is_the_cartesian_product_in_declaration_order():
    sc = scenario({"calls_per_month": [1000, 2000, 3000], "model": ["gpt-4.1-mini", "gpt-4o-mini"]})
    assert grid_size(sc) == 6
    grid = evaluate(sc, catalog=CATALOG)
    assert len(grid) == 6
    assert list(grid["calls_per_month"]) == [1000, 1000, 2000, 2000, 3000, 3000]
    assert list(grid["model"])[:2] == ["gpt-4.1-mini", "gpt-4o-mini"]
    assert set(map(tuple, grid[["calls_per_month", "model"]].to_numpy())) == {
        (c, m) for c in (1000, 2000, 3000) for m in ("gpt-4.1-mini", "gpt-4o-mini")}


def test_no_sweep_is_one_row_equal_to_compare():
    grid = evaluate(scenario(), catalog=CATALOG)
    assert len(grid) == 1
    row = grid.iloc[0]
    assert row["base_cost_per_call_usd"] == pytest.approx(0.00148, abs=1e-15)
    assert row["break_even_calls"] == 100_000
    assert row["verdict"] == "pays_back"


def test_zero_calls_a_month_never_pay_back_in_the_grid_as_in_compare():
    """It said "pays back after the horizon" for a row with no calls at all."""
    grid = evaluate(scenario({"calls_per_month": [0, 100_000]}), catalog=CATALOG)
    idle, busy = grid.iloc[0], grid.iloc[1]
    assert (idle["calls_per_month"], idle["break_even_calls"], idle["verdict"]) == (0, 100_000, "never_pays_back")
    assert busy["verdict"] == "pays_back"
    _check_rows_against_decimal(scenario({"calls_per_month": [0, 100_000]}), grid)


def test_tv8_rows_in_a_sweep():
    grid = evaluate(scenario({"model": ["gpt-4.1-mini", "gpt-4o-mini"], "cached_fraction": [0, 1]}),
                    catalog=CATALOG)
    by = {(r.model, r.cached_fraction): r for r in grid.itertuples()}
    assert by[("gpt-4.1-mini", 0)].break_even_calls == 100_000
    assert by[("gpt-4o-mini", 0)].break_even_calls == 160_000
    assert pd.isna(by[("gpt-4.1-mini", 1)].break_even_calls)
    assert by[("gpt-4.1-mini", 1)].verdict == "never_pays_back"


def _check_rows_against_decimal(sc, grid, n=60, seed=7):
    """Sampled rows of the float grid equal the Decimal path: per call to 1e-12, money to the cent."""
    rng = random.Random(seed)
    swept = list(sc.sweep)
    for index in rng.sample(range(len(grid)), min(n, len(grid))):
        row = grid.iloc[index]
        params = row_input(sc, {name: _py(row[name]) for name in swept})
        exact = compare(params, catalog=CATALOG)
        assert abs(D(row["base_cost_per_call_usd"]) - exact.base.cost_per_call_usd) < Decimal("1e-12")
        assert abs(D(row["tuned_cost_per_call_usd"]) - exact.tuned.cost_per_call_usd) < Decimal("1e-12")
        assert D(row["base_monthly_cost_usd"]).quantize(Decimal("0.01")) == exact.base.monthly_cost_usd
        assert D(row["tuned_monthly_cost_usd"]).quantize(Decimal("0.01")) == exact.tuned.monthly_cost_usd
        assert D(row["training_cost_usd"]).quantize(Decimal("0.01")) == exact.tuned.training_cost_usd
        expected_be = exact.break_even_calls
        assert (pd.isna(row["break_even_calls"]) and expected_be is None) or row["break_even_calls"] == expected_be
        assert row["verdict"] == exact.verdict
        be_volume = exact.break_even_calls_per_month
        assert (pd.isna(row["break_even_calls_per_month"]) and be_volume is None) or \
            row["break_even_calls_per_month"] == be_volume
        share = exact.break_even_cached_fraction
        assert (np.isnan(row["break_even_cached_fraction"]) and share is None) or \
            abs(D(row["break_even_cached_fraction"]) - share) <= Decimal("0.0001")
        assert D(row["horizon_months"]) == exact.horizon_months
        diff = D(row["tuned_horizon_cost_usd"]) - exact.tuned.horizon_cost_usd
        assert abs(diff) <= Decimal("0.01")


def D(value) -> Decimal:
    """A float cell as the Decimal of its shortest repr."""
    return Decimal(repr(float(value)))


def _py(value):
    if isinstance(value, np.generic):
        return value.item()
    return value


def test_float_sweep_matches_the_decimal_path_on_a_sample():
    sc = scenario({
        "model": ["gpt-4.1-mini", "gpt-4o-mini", "gpt-4o", "gpt-4.1"],
        "base_model": ["", "gpt-4.1"],
        "calls_per_month": [0, 7_000, 100_000, 1_234_567],
        "cached_fraction": [0, 0.3, 1],
        "batch_fraction": [0, 0.5, 1],
        "tuned_system_prompt_tokens": [0, 150],
        "retrain_every": [0, 1, 3],
        "months": [1, 12],
    })
    grid = evaluate(sc, catalog=CATALOG)
    assert len(grid) == 4 * 2 * 4 * 3 * 3 * 2 * 3 * 2
    _check_rows_against_decimal(sc, grid, n=80)


def test_dataset_size_and_epochs_sweep_matches_decimal():
    sc = scenario({"n_examples": [5, 40, 1000, 12_501], "epochs": ["auto", 2]}, training_tokens=None,
                  n_examples=100, tokens_per_example=800)
    grid = evaluate(sc, catalog=CATALOG)
    _check_rows_against_decimal(sc, grid, n=len(grid))
    auto_rows = grid[grid["epochs"] == "auto"]
    assert list(auto_rows["trained_tokens"]) == [n * 800 * auto_n_epochs(n) for n in (5, 40, 1000, 12_501)]


@given(st.lists(st.integers(1, 200_000), min_size=1, max_size=50))
def test_vectorised_auto_epochs_equals_the_scalar_rule(ns):
    assert list(_auto_epochs(np.array(ns))) == [auto_n_epochs(n) for n in ns]


def test_estimate_scenario_prices_training_only():
    sc = load_scenario(SCENARIOS / "dataset-size.toml")
    grid = evaluate(sc, catalog=CATALOG)
    assert len(grid) == 4 * 6 * 3
    row = grid[(grid["model"] == "gpt-4.1-mini") & (grid["n_examples"] == 1000) & (grid["epochs"] == 3)].iloc[0]
    assert row["training_cost_usd"] == pytest.approx(12.0)  # 1000 x 800 x 3 x $5/1M
    assert "verdict" not in grid.columns


def test_rft_hours_scenario():
    sc = load_scenario(SCENARIOS / "rft-hours.toml")
    grid = evaluate(sc, catalog=CATALOG)
    assert dict(zip(grid["training_hours"], grid["training_cost_usd"]))[4] == pytest.approx(400.0)
    late = sc.model_copy(update={"today": dt.date(2026, 11, 22)})
    assert any("o4-mini-2025-04-16 accepts no new" in w for w in sweep_warnings(late, CATALOG))
    early = sc.model_copy(update={"today": dt.date(2025, 6, 1)})
    assert sweep_warnings(early, CATALOG) == []


def test_support_bot_fixture_baseline_is_tv8():
    sc = load_scenario(SCENARIOS / "support-bot.toml")
    assert compare(baseline_input(sc), catalog=CATALOG).break_even_calls == 100_000
    assert len(evaluate(sc, catalog=CATALOG)) == grid_size(sc) == 21 * 3 * 2


def test_a_million_row_sweep_completes():
    sc = load_scenario(SCENARIOS / "big-grid.toml")
    seen = []
    grid = evaluate(sc, catalog=CATALOG, progress=lambda done, total: seen.append((done, total)))
    assert len(grid) == 1_000_000
    assert seen[-1] == (1_000_000, 1_000_000) and len(seen) > 1
    assert grid["verdict"].isin(["pays_back", "pays_back_after_horizon", "never_pays_back"]).all()
    _check_rows_against_decimal(sc, grid, n=25, seed=3)


@pytest.mark.parametrize("data, message", [
    ({"baseline": BASELINE, "sweep": {"colour": [1]}}, "cannot sweep 'colour'"),
    ({"baseline": BASELINE, "sweep": {"model": []}}, "empty"),
    ({"baseline": {**BASELINE, "colour": 1}}, "unknown baseline parameter"),
    ({"baseline": BASELINE, "sweep": {"cached_fraction": [0, 2]}}, "cached_fraction"),
    ({"baseline": BASELINE, "sweep": {"model": ["gpt-9"]}}, "gpt-9"),
    ({"baseline": {**BASELINE, "training_file": "data.jsonl"}}, "training_file cannot be swept"),
    ({"baseline": BASELINE, "kind": "nope"}, "kind"),
])
def test_bad_scenarios_are_pricing_errors(data, message):
    with pytest.raises(PricingError, match=message):
        sc = parse_scenario({k: v for k, v in data.items()})
        evaluate(sc, catalog=CATALOG)


def test_a_baseline_without_training_input_costs_nothing_to_train():
    base = {k: v for k, v in BASELINE.items() if k != "training_tokens"}
    sc = parse_scenario({"title": "t", "today": dt.date(2026, 11, 22), "baseline": base,
                         "sweep": {"calls_per_month": [1000, 100_000], "cached_fraction": [0, 1]}})
    grid = evaluate(sc, catalog=CATALOG)
    assert (grid["training_cost_usd"] == 0).all()
    _check_rows_against_decimal(sc, grid, n=4)
    assert any("No training cost given" in w for w in sweep_warnings(sc, CATALOG))


def test_load_scenario_errors(tmp_path):
    with pytest.raises(PricingError, match="not found"):
        load_scenario(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("title = [", encoding="utf-8")
    with pytest.raises(PricingError, match="not valid TOML"):
        load_scenario(bad)


def test_provider_scenario_is_evaluated_row_by_row_in_decimal():
    """A provider sweep goes through compare() row by row: the Azure worked figure appears in the grid."""
    sc = scenario({"provider": ["openai", "azure"], "calls_per_month": [1_000_000, 2_000_000]},
                  system_prompt_tokens=2000, training_tokens=0)
    sc = sc.model_copy(update={"today": dt.date(2026, 12, 5)})
    grid = evaluate(sc, catalog=CATALOG)
    assert len(grid) == 4 and set(grid["provider"]) == {"openai", "azure"}
    azure = grid[grid["provider"] == "azure"].iloc[0]
    assert azure["break_even_calls_per_month"] == 1_551_250 and azure["hosting_monthly_usd"] == 1241.0
    assert azure["verdict"] == "never_pays_back"


def test_default_cached_share_agrees_between_grid_and_compare():
    sc = scenario({"system_prompt_tokens": [500, 1024, 3000]}).model_copy(
        update={"baseline": {k: v for k, v in BASELINE.items() if k != "cached_fraction"}})
    grid = evaluate(sc, catalog=CATALOG)
    assert list(grid["cached_fraction_used"]) == [0.0, 0.5, 0.5]
    _check_rows_against_decimal(sc, grid, n=3)


# --- The grid's row equals compare() for the same inputs, built directly (not through row_input) -------------------

_MODELS = ["gpt-4.1-mini", "gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-nano", "gpt-3.5-turbo", "o4-mini"]
_DAYS = [dt.date(2026, 6, 1), dt.date(2026, 11, 22), dt.date(2026, 12, 6), dt.date(2027, 1, 10)]


def _compare_or_error(inputs: dict):
    try:
        return compare(CompareInput(**inputs), catalog=CATALOG), None
    except (PricingError, ValidationError) as exc:
        return None, exc


def _grid_or_error(today, baseline: dict):
    toml_baseline = {k: (float(v) if isinstance(v, Decimal) else v) for k, v in baseline.items()}
    try:
        sc = parse_scenario({"title": "p", "today": today, "baseline": toml_baseline,
                             "sweep": {"calls_per_month": [baseline["calls_per_month"]]}})
        return evaluate(sc, catalog=CATALOG).iloc[0], None
    except PricingError as exc:
        return None, exc


def _assert_row_is_compare(row, exact) -> None:
    assert abs(D(row["base_cost_per_call_usd"]) - exact.base.cost_per_call_usd) < Decimal("1e-12")
    assert abs(D(row["tuned_cost_per_call_usd"]) - exact.tuned.cost_per_call_usd) < Decimal("1e-12")
    assert D(row["base_monthly_cost_usd"]).quantize(Decimal("0.01")) == exact.base.monthly_cost_usd
    assert D(row["tuned_monthly_cost_usd"]).quantize(Decimal("0.01")) == exact.tuned.monthly_cost_usd
    assert D(row["training_cost_usd"]).quantize(Decimal("0.01")) == exact.tuned.training_cost_usd
    assert D(row["horizon_months"]) == exact.horizon_months
    assert row["verdict"] == exact.verdict
    for column, value in (("break_even_calls", exact.break_even_calls),
                          ("break_even_calls_per_month", exact.break_even_calls_per_month)):
        assert (pd.isna(row[column]) and value is None) or row[column] == value, column
    assert abs(D(row["tuned_horizon_cost_usd"]) - exact.tuned.horizon_cost_usd) <= Decimal("0.01")
    assert abs(D(row["net_savings_over_horizon_usd"]) - exact.net_savings_over_horizon_usd) <= Decimal("0.02")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    model=st.sampled_from(_MODELS), method=st.sampled_from(["supervised", "dpo", "reinforcement"]),
    provider=st.sampled_from(["openai", "azure"]),
    azure_tier=st.sampled_from(["global", "data_zone", "regional_sweden", "developer"]),
    today=st.sampled_from(_DAYS), months=st.integers(1, 36), retrain=st.sampled_from([None, 1, 2, 6]),
    calls=st.sampled_from([0, 5_000, 100_000, 2_000_000]), s=st.sampled_from([0, 800, 2000]),
    cached=st.sampled_from([None, Decimal(0), Decimal("0.5"), Decimal(1)]),
    batch=st.sampled_from([Decimal(0), Decimal("0.5")]),
    training=st.sampled_from([("training_tokens", 2_400_000), ("training_tokens", 0), ("training_hours", 4), None]),
    after_shutdown=st.sampled_from([0, 250, 50_000]),
)
def test_grid_row_equals_compare_for_the_same_inputs(model, method, provider, azure_tier, today, months, retrain,
                                                     calls, s, cached, batch, training, after_shutdown):
    """Whatever the inputs (method, provider and tier, lifecycle dates, retraining, after-shutdown cost), the
    what-if row and compare() give the same figures and verdict, or both refuse the inputs."""
    baseline: dict = dict(model=model, calls_per_month=calls, system_prompt_tokens=s, input_tokens=500,
                          output_tokens=300, months=months, method=method, batch_fraction=batch)
    if cached is not None:
        baseline["cached_fraction"] = cached
    if retrain is not None:
        baseline["retrain_every"] = retrain
    if training is not None:
        baseline[training[0]] = training[1]
    if provider == "azure":
        baseline.update(provider="azure", azure_tier=azure_tier)
    if after_shutdown:
        baseline["after_shutdown_cost_usd"] = after_shutdown
    exact, compare_error = _compare_or_error({**baseline, "today": today})
    row, grid_error = _grid_or_error(today, baseline)
    assert (compare_error is None) == (grid_error is None), (compare_error, grid_error)
    if exact is not None:
        _assert_row_is_compare(row, exact)


def test_a_method_the_provider_does_not_offer_cannot_train_in_the_grid_as_in_compare():
    """Regression: whatif dropped `method`, so DPO on Azure's gpt-4o-mini (SFT only there) 'never paid back' in the
    grid while compare() said cannot_train; likewise DPO on gpt-3.5-turbo (SFT only) on the float grid."""
    azure = scenario({"calls_per_month": [100_000]}, model="gpt-4o-mini", method="dpo", provider="azure")
    assert evaluate(azure, catalog=CATALOG).iloc[0]["verdict"] == "cannot_train"
    legacy = scenario({"calls_per_month": [100_000]}, model="gpt-3.5-turbo", method="dpo").model_copy(
        update={"today": dt.date(2026, 6, 1)})
    assert evaluate(legacy, catalog=CATALOG).iloc[0]["verdict"] == "cannot_train"
    assert evaluate(legacy.model_copy(update={"baseline": {**legacy.baseline, "method": "supervised"}}),
                    catalog=CATALOG).iloc[0]["verdict"] != "cannot_train"
