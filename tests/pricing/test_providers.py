"""Azure OpenAI as a second provider, OpenAI's wind-down, the break-even volume and cache share (issue 15).

Figures from ../shared/reference/fine-tuning-in-december-2026.md: Azure hosts every fine-tuned deployment at
$1.70 an hour (730 h: $1,241 a month), bills tuned inference at the base price, and with gpt-4.1-mini on
Global and a 2,000-token prompt removed breaks even near 1.55 M calls a month (about 6.2 M when that prompt
would have been cached).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ftsim.pricing.catalog.catalog import load_catalog
from ftsim.pricing.catalog.providers import load_providers, openai_training_block
from ftsim.pricing.errors import PricingError, UnknownModel
from ftsim.pricing.planning.compare import CompareInput, compare, compare_providers

CATALOG = load_catalog()
TODAY = dt.date(2026, 12, 5)


def azure(**overrides) -> CompareInput:
    values = dict(model="gpt-4.1-mini", calls_per_month=1_000_000, system_prompt_tokens=2000, input_tokens=500,
                  output_tokens=300, provider="azure", today=TODAY, cached_fraction=Decimal(0))
    values.update(overrides)
    return CompareInput(**values)


def test_worked_figure_azure_global_break_even_near_1_55_million_calls():
    result = compare(azure(), catalog=CATALOG)
    assert result.provider == "azure"
    assert result.tuned.hosting_monthly_usd == Decimal("1241.00")  # $1.70 x 730 h
    assert result.saving_per_call_usd == Decimal("0.0008")  # 2,000 tokens x $0.40 / 1M
    assert result.break_even_calls_per_month == 1_551_250  # 1,241 / 0.0008
    # tuned inference costs the base price: the tuned call is the base call without the prompt
    assert result.tuned.cost_per_call_usd == Decimal("0.00068") and result.base.cost_per_call_usd == Decimal("0.00148")
    assert result.verdict == "never_pays_back"  # 1 M calls a month is below the break-even volume


def test_worked_figure_azure_when_the_prompt_would_have_been_cached():
    result = compare(azure(cached_fraction=Decimal(1)), catalog=CATALOG)
    assert result.saving_per_call_usd == Decimal("0.0002")  # 2,000 x $0.10 cached
    assert result.break_even_calls_per_month == 6_205_000


def test_azure_pays_back_above_the_break_even_volume_and_states_the_net_saving():
    result = compare(azure(calls_per_month=2_000_000), catalog=CATALOG)
    assert result.verdict == "pays_back"
    monthly = Decimal("0.0008") * 2_000_000 - Decimal("1241")
    assert result.net_savings_over_horizon_usd == (monthly * result.horizon_months).quantize(Decimal("0.01"))
    assert "net saving" in result.summary


def test_azure_horizon_stops_at_the_deployment_retirement():
    result = compare(azure(), catalog=CATALOG)
    assert result.horizon_end == dt.date(2027, 10, 14)
    assert result.horizon_months < 12


def test_deployments_multiply_hosting_and_the_break_even_volume():
    result = compare(azure(deployments=2), catalog=CATALOG)
    assert result.tuned.hosting_monthly_usd == Decimal("2482.00")
    assert result.break_even_calls_per_month == 3_102_500


def test_southeast_asia_hosting_rate():
    result = compare(azure(hosting_region="southeast_asia"), catalog=CATALOG)
    assert result.tuned.hosting_monthly_usd == Decimal("1489.20")  # $2.04 x 730


@pytest.mark.parametrize("tier", ["data_zone", "regional_us", "regional_sweden"])
def test_regional_and_data_zone_inference_pay_the_uplift(tier):
    result = compare(azure(azure_tier=tier), catalog=CATALOG)
    assert result.base.cost_per_call_usd == Decimal("0.001628")  # 0.00148 x 1.10
    assert result.saving_per_call_usd == Decimal("0.00088")


@pytest.mark.parametrize(("tier", "rate"), [("global", "5.00"), ("data_zone", "5.50"), ("regional_sweden", "6.05"),
                                            ("developer", "2.50")])
def test_training_price_by_tier(tier, rate):
    result = compare(azure(azure_tier=tier, training_tokens=2_000_000), catalog=CATALOG)
    assert result.tuned.training_cost_usd == Decimal(rate) * 2


def test_developer_tier_has_no_hosting_and_warns_it_is_for_evaluation():
    result = compare(azure(azure_tier="developer"), catalog=CATALOG)
    assert result.tuned.hosting_monthly_usd == 0
    assert any("24 hours" in w and "evaluation" in w for w in result.warnings)


def test_rft_is_capped_at_5000_a_job_for_existing_customers():
    params = azure(model="o4-mini", method="reinforcement", training_hours=Decimal(60), azure_existing_customer=True)
    result = compare(params, catalog=CATALOG)
    assert result.tuned.training_cost_usd == Decimal("5000.00")
    assert any("caps an RFT job at $5,000.00" in w for w in result.warnings)
    assert result.can_train is True


def test_rft_cannot_run_for_new_azure_customers_after_the_base_retired():
    result = compare(azure(model="o4-mini", method="reinforcement", training_hours=Decimal(4)), catalog=CATALOG)
    assert result.verdict == "cannot_train"
    assert "2026-10-16" in result.eligibility and "Azure will not train this" in result.summary


def test_a_model_not_fine_tunable_on_azure_is_refused():
    with pytest.raises(UnknownModel):
        compare(azure(model="o3"), catalog=CATALOG)
    with pytest.raises(PricingError):
        compare(azure(model="gpt-4o-mini", method="dpo", training_tokens=1).model_copy(
            update={"provider": "both"}), catalog=CATALOG)


# --- OpenAI's wind-down ----------------------------------------------------------------------------------------

def openai(**overrides) -> CompareInput:
    values = dict(model="gpt-4.1-mini", calls_per_month=100_000, system_prompt_tokens=2000, input_tokens=500,
                  output_tokens=300, training_tokens=2_400_000, today=TODAY, cached_fraction=Decimal(0))
    values.update(overrides)
    return CompareInput(**values)


@pytest.mark.parametrize(("before", "recent", "allowed"), [
    (False, None, False), (True, False, False), (True, True, True), (None, None, None), (True, None, None),
])
def test_eligibility_on_2026_12_05(before, recent, allowed):
    result = openai_training_block(load_providers(), TODAY, has_fine_tuned_before=before,
                                   recent_fine_tuned_inference=recent)
    assert result.allowed is allowed
    if allowed is False:
        assert result.reason.startswith("OpenAI will not train this")


def test_eligibility_by_date():
    providers = load_providers()
    never = dict(has_fine_tuned_before=False, recent_fine_tuned_inference=False)
    assert openai_training_block(providers, dt.date(2026, 5, 6), **never).allowed is True
    assert openai_training_block(providers, dt.date(2026, 5, 7), **never).allowed is False
    active = dict(has_fine_tuned_before=True, recent_fine_tuned_inference=True)
    assert openai_training_block(providers, dt.date(2027, 1, 5), **active).allowed is True
    assert openai_training_block(providers, dt.date(2027, 1, 6), **active).allowed is False


def test_a_blocked_organization_gets_cannot_train():
    result = compare(openai(has_fine_tuned_before=True, recent_fine_tuned_inference=False), catalog=CATALOG)
    assert result.verdict == "cannot_train" and result.can_train is False
    assert result.summary.startswith("OpenAI will not train this")


def test_unknown_eligibility_is_warned_about():
    result = compare(openai(), catalog=CATALOG)
    assert result.can_train is None and result.verdict == "pays_back"
    assert any("OpenAI may refuse the job" in w for w in result.warnings)


def test_openai_horizon_stops_at_the_2027_01_14_shutdown_and_after_shutdown_cost_is_added():
    result = compare(openai(), catalog=CATALOG)
    assert result.horizon_end == dt.date(2027, 1, 14)  # 40 days from 2026-12-05
    with_move = compare(openai(after_shutdown_cost_usd=Decimal(500)), catalog=CATALOG)
    assert with_move.tuned.horizon_cost_usd == result.tuned.horizon_cost_usd + 500
    assert with_move.break_even_calls_per_month > result.break_even_calls_per_month


def test_after_shutdown_cost_is_not_added_when_the_base_model_ends_the_horizon_first():
    """Regression: the horizon is capped by the first shutdown of either path; when it is the base model's (here o3,
    2026-12-11) the fine-tune still serves (to 2027-01-14) and needs no retraining elsewhere, yet the after-shutdown
    cost was added to the tuned path, with a warning that the tuned model stopped serving on the base's date."""
    plain = compare(openai(base_model="o3"), catalog=CATALOG)
    assert plain.horizon_end == dt.date(2026, 12, 11)
    moved = compare(openai(base_model="o3", after_shutdown_cost_usd=Decimal(1000)), catalog=CATALOG)
    assert moved.tuned.horizon_cost_usd == plain.tuned.horizon_cost_usd
    assert moved.verdict == plain.verdict and moved.break_even_calls == plain.break_even_calls
    assert not any("The tuned model stops serving" in w for w in moved.warnings)


def test_model_whose_training_ended_cannot_train():
    result = compare(openai(model="gpt-4.1-nano", has_fine_tuned_before=True, recent_fine_tuned_inference=True,
                            today=dt.date(2026, 10, 1)), catalog=CATALOG)
    assert result.verdict != "cannot_train"
    late = compare(openai(model="gpt-4.1-nano", today=dt.date(2026, 10, 23)), catalog=CATALOG)
    assert late.verdict == "cannot_train"


# --- caching ---------------------------------------------------------------------------------------------------

def test_default_cached_share_for_long_prompts_is_stated_and_warned():
    result = compare(openai(cached_fraction=None), catalog=CATALOG)
    assert result.cached_fraction == Decimal("0.5") and result.cached_fraction_assumed
    assert result.warnings[0].startswith("Cached share not given: 50% of the 2,000-token system prompt")
    assert "stops paying back above a cached share of" in result.warnings[0]
    short = compare(openai(cached_fraction=None, system_prompt_tokens=1023), catalog=CATALOG)
    assert short.cached_fraction == 0 and not short.cached_fraction_assumed


def test_tv8_break_even_cache_share():
    """TV8 on OpenAI: at any volume the tuned path stops paying back once 20% of the prompt is cached (issue 15);
    at 100,000 calls a month, with $12 of training to repay inside the horizon, already above 8.5%."""
    huge = compare(openai(today=dt.date(2026, 11, 22), calls_per_month=10**9), catalog=CATALOG)
    assert Decimal("0.1999") <= huge.break_even_cached_fraction <= Decimal("0.2")
    result = compare(openai(today=dt.date(2026, 11, 22)), catalog=CATALOG)
    share = result.break_even_cached_fraction
    assert share == Decimal("0.0850")
    at = compare(openai(today=dt.date(2026, 11, 22), cached_fraction=share), catalog=CATALOG)
    above = compare(openai(today=dt.date(2026, 11, 22), cached_fraction=share + Decimal("0.01")), catalog=CATALOG)
    assert at.net_savings_over_horizon_usd >= Decimal("-0.01")
    assert above.net_savings_over_horizon_usd < 0
    # the README's second figure: 13 days later the same $12 is repaid over 1.31 months, not 1.74
    later = compare(openai(today=dt.date(2026, 12, 5)), catalog=CATALOG)
    assert later.break_even_cached_fraction == Decimal("0.0473")


@settings(max_examples=60, deadline=None)
@given(calls=st.integers(1, 10_000_000), s=st.integers(1, 8000), tokens=st.integers(0, 50_000_000),
       provider=st.sampled_from(["openai", "azure"]), model=st.sampled_from(["gpt-4.1-mini", "gpt-4o", "gpt-4.1"]))
def test_property_break_even_volume_and_share_are_where_the_totals_meet(calls, s, tokens, provider, model):
    params = CompareInput(model=model, calls_per_month=calls, system_prompt_tokens=s, input_tokens=100,
                          output_tokens=100, training_tokens=tokens, provider=provider, today=TODAY,
                          cached_fraction=Decimal(0))
    result = compare(params, catalog=CATALOG)
    volume = result.break_even_calls_per_month
    if volume is not None and volume > 0:
        at = compare(params.model_copy(update={"calls_per_month": min(volume, 10**12)}), catalog=CATALOG)
        below = compare(params.model_copy(update={"calls_per_month": volume - 1}), catalog=CATALOG)
        assert at.net_savings_over_horizon_usd >= Decimal("-0.01")
        assert below.net_savings_over_horizon_usd <= Decimal("0.01")
    share = result.break_even_cached_fraction
    if share is not None and 0 < share < 1:
        above = compare(params.model_copy(update={"cached_fraction": min(share + Decimal("0.001"), Decimal(1))}),
                        catalog=CATALOG)
        assert above.net_savings_over_horizon_usd <= Decimal("0.01")


def test_compare_both_providers_side_by_side():
    both = compare_providers(openai(), catalog=CATALOG)
    assert [r.provider for r in both.results] == ["openai", "azure"]
    assert {r.as_of for r in both.results} == {TODAY} and both.as_of == TODAY
    assert both.best is not None and "As of 2026-12-05" in both.summary


def test_compare_both_lists_a_provider_that_cannot_host_the_model():
    both = compare_providers(openai(model="gpt-3.5-turbo", today=dt.date(2026, 9, 1)), catalog=CATALOG)
    assert [r.provider for r in both.results] == ["openai"] and "azure" in both.unavailable


@settings(max_examples=60, deadline=None)
@example(after=100, calls=100_000)  # was pays_back, with a net of -$96.28 over the 40 days left
@given(after=st.integers(min_value=0, max_value=100_000), calls=st.integers(min_value=0, max_value=2_000_000))
def test_the_verdict_never_says_pays_back_when_the_horizon_loses_money(after, calls):
    # The after-shutdown cost is paid inside the horizon: a verdict of pays_back with a negative net over the
    # horizon (savings repaid the training, not the retraining elsewhere) contradicted the figures beside it.
    result = compare(openai(after_shutdown_cost_usd=Decimal(after), calls_per_month=calls, cached_fraction=Decimal(0)),
                     catalog=CATALOG)
    if result.verdict == "pays_back":
        assert result.net_savings_over_horizon_usd >= 0
    if result.net_savings_over_horizon_usd < 0:
        assert result.verdict in ("never_pays_back", "pays_back_after_horizon", "cannot_train")


@pytest.mark.parametrize(("tier", "cost"), [("global", "50.00"), ("developer", "25.00"), ("regional_us", "55.00"),
                                            ("data_zone", "55.00"), ("regional_sweden", "60.50")])
def test_tv10_as_corrected_azure_sft_1m_tokens_times_2_epochs_on_gpt_4_1(tier, cost):
    """TV10 with the December 2026 correction: Azure trains gpt-4.1 at $25 (Global), $12.50 (Developer), $27.50
    (Regional US = Data Zone) and $30.25 (Sweden) per 1M, so 1M tokens x 2 epochs is $50 / $25 / $55 / $60.50."""
    result = compare(azure(model="gpt-4.1", azure_tier=tier, training_tokens=2_000_000), catalog=CATALOG)
    assert result.tuned.training_cost_usd == Decimal(cost)


@pytest.mark.parametrize(("region", "monthly"), [("default", "1241.00"), ("southeast_asia", "1489.20")])
def test_azure_hosting_is_the_hourly_rate_times_730_hours_per_deployment(region, monthly):
    """December 2026 reference: $1.70 an hour ($2.04 in Southeast Asia) per deployment, 730 h a month."""
    one = compare(azure(hosting_region=region), catalog=CATALOG)
    assert one.tuned.hosting_monthly_usd == Decimal(monthly)
    three = compare(azure(hosting_region=region, deployments=3), catalog=CATALOG)
    assert three.tuned.hosting_monthly_usd == Decimal(monthly) * 3
    assert compare(azure(hosting_region=region, azure_tier="developer"), catalog=CATALOG).tuned.hosting_monthly_usd == 0
