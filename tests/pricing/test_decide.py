"""ftsim.pricing.planning.decide: the walkthrough's order, every branch, and its figures (compare, RFT budget)."""

from __future__ import annotations

import datetime as dt
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftsim.pricing.catalog.catalog import load_catalog
from ftsim.pricing.planning.compare import CompareInput, compare
from ftsim.pricing.planning.decide import QUESTIONS, DecideInput, decide, next_question, parse_answer

CATALOG = load_catalog()
ANSWERS = Path(__file__).resolve().parents[2] / "fixtures" / "answers"
TODAY = dt.date(2026, 11, 22)
PASS = dict(fact_retrieval=False, failure_is_style=False, has_rubric=True, n_examples=500, few_shot_works=False)


def walk(**answers):
    return decide(DecideInput(**answers), catalog=CATALOG, today=TODAY)


def test_questions_are_declared_in_the_briefs_order():
    assert [q.id for q in QUESTIONS] == [
        "fact_retrieval", "failure_is_style", "has_rubric", "n_examples", "few_shot_works", "prompt_cost_pain",
        "has_preference_data", "verifiable_task",
    ]


@pytest.mark.parametrize("answers, recommendation, asked", [
    (dict(fact_retrieval=True), "rag", 1),
    (dict(fact_retrieval=False, failure_is_style=True), "prompting", 2),
    (dict(fact_retrieval=False, failure_is_style=False, has_rubric=False), "build_evals", 3),
    (dict(PASS, n_examples=49), "collect_data", 4),
    (dict(PASS, few_shot_works=True), "ship_prompt", 5),
    (dict(PASS, prompt_cost_pain=True, has_preference_data=False), "sft", 7),
    (dict(PASS, prompt_cost_pain=True, has_preference_data=True), "sft_then_dpo", 7),
    (dict(PASS, prompt_cost_pain=False, verifiable_task=True, azure_existing_customer=True), "rft", 7),
    (dict(PASS, prompt_cost_pain=False, verifiable_task=True), "prompt_with_grader", 7),
    (dict(PASS, prompt_cost_pain=False, verifiable_task=False), "fix_upstream", 7),
])
def test_every_branch(answers, recommendation, asked):
    decision = walk(**answers)
    assert decision.recommendation == recommendation
    assert len(decision.path) == asked
    assert all(step.reason for step in decision.path)
    assert [step.answer for step in decision.path] == [answers[step.question] for step in decision.path]
    assert decision.as_of == TODAY


def test_later_answers_are_ignored_once_the_walk_stops():
    decision = walk(fact_retrieval=True, failure_is_style=True, verifiable_task=True)
    assert decision.recommendation == "rag"
    assert [s.question for s in decision.path] == ["fact_retrieval"]


def test_fifty_examples_is_enough_to_go_on():
    decision = walk(**dict(PASS, n_examples=50, few_shot_works=True))
    assert decision.recommendation == "ship_prompt"
    assert "100+" in decision.path[3].reason


def test_missing_answer_is_named():
    with pytest.raises(ValueError, match="missing answer: has_rubric"):
        walk(fact_retrieval=False, failure_is_style=False)


def test_next_question_walks_one_at_a_time():
    answers: dict = {}
    asked = []
    script = dict(PASS, prompt_cost_pain=False, verifiable_task=False)
    while (question := next_question(answers)) is not None:
        asked.append(question.id)
        answers[question.id] = script[question.id]
    assert asked == ["fact_retrieval", "failure_is_style", "has_rubric", "n_examples", "few_shot_works",
                     "prompt_cost_pain", "verifiable_task"]
    assert next_question({"fact_retrieval": True}) is None
    assert next_question(dict(PASS, prompt_cost_pain=True)).id == "has_preference_data"


@pytest.mark.parametrize("text, value", [("y", True), ("Yes", True), ("no", False), ("N", False), ("true", True)])
def test_parse_boolean_answers(text, value):
    assert parse_answer(QUESTIONS[0], text) is value


def test_parse_integer_and_bad_answers():
    n_examples = QUESTIONS[3]
    assert parse_answer(n_examples, "1,200") == 1200
    for bad in ("maybe", ""):
        with pytest.raises(ValueError):
            parse_answer(QUESTIONS[0], bad)
    for bad in ("lots", "-3"):
        with pytest.raises(ValueError):
            parse_answer(n_examples, bad)


def test_cost_step_shows_the_compare_figures():
    decision = walk(**dict(PASS, prompt_cost_pain=True, has_preference_data=False), calls_per_month=100_000,
                    system_prompt_tokens=2000, input_tokens=500, output_tokens=300, training_tokens=2_400_000,
                    cached_fraction=Decimal(0))
    assert decision.compare is not None and decision.provider == "openai"
    assert [r.provider for r in decision.compared] == ["openai", "azure"]
    assert decision.compare.break_even_calls == 100_000
    assert decision.compare.tuned.training_cost_usd == Decimal("12.00")


def test_every_compare_warning_is_surfaced_in_the_decisions_warnings():
    decision = walk(**dict(PASS, prompt_cost_pain=True, has_preference_data=False), calls_per_month=100_000,
                    system_prompt_tokens=2000, input_tokens=500, output_tokens=300, training_tokens=2_400_000,
                    today=dt.date(2026, 11, 22))
    assert decision.compare.warnings and any("Horizon capped" in w for w in decision.compare.warnings)
    assert set(decision.compare.warnings) <= set(decision.warnings)
    assert len(decision.warnings) == len(set(decision.warnings))


def test_cost_step_without_figures_says_what_is_missing():
    decision = walk(**dict(PASS, prompt_cost_pain=True, has_preference_data=False))
    assert decision.compare is None
    assert any("calls_per_month" in w for w in decision.warnings)


def test_cost_step_assumes_training_tokens_from_the_examples():
    decision = walk(**dict(PASS, n_examples=1000, prompt_cost_pain=True, has_preference_data=True),
                    calls_per_month=100_000, system_prompt_tokens=2000, input_tokens=500, output_tokens=300)
    # SFT: 1,000 x 800 x 3; DPO (upper bound, the prompt once per output): 1,000 x 1,600 x 3, priced too
    assert decision.compare.trained_tokens == 1000 * 800 * 3 + 1000 * 1600 * 3
    assert decision.dpo.trained_tokens == 4_800_000 and decision.dpo.cost_usd == Decimal("24.00")
    assert any("assumed" in w for w in decision.warnings)
    assert any("DPO job" in w for w in decision.warnings)


@pytest.mark.parametrize("provider, rate", [("openai", Decimal(5)), ("azure", Decimal(5))])
def test_dpo_cost_is_its_tokens_at_the_training_rate_not_a_share_of_the_rounded_total(provider, rate):
    """Regression: the DPO job's cost was the cent-rounded SFT + DPO total prorated by tokens, which can land a cent
    off: 6 pairs x 1,600 tokens x 16 epochs = 153,600 tokens at $5 / 1M is $0.768 -> $0.77, reported as $0.76."""
    decision = walk(**dict(PASS, prompt_cost_pain=True, has_preference_data=True), provider=provider,
                    has_fine_tuned_before=True, recent_fine_tuned_inference=True, calls_per_month=100_000,
                    system_prompt_tokens=2000, input_tokens=500, output_tokens=300, training_tokens=1009,
                    dpo_examples=6)
    assert decision.dpo.trained_tokens == 6 * 1600 * 16 == 153_600
    assert decision.dpo.cost_usd == (rate * 153_600 / 1_000_000).quantize(Decimal("0.01")) == Decimal("0.77")


def test_rft_is_never_recommended_where_no_provider_can_run_it():
    """o4-mini shut down on OpenAI on 2026-10-23; on Azure new customers lost RFT when the base retired."""
    decision = walk(**dict(PASS, prompt_cost_pain=False, verifiable_task=True), rft_hours=Decimal(4))
    assert decision.recommendation == "prompt_with_grader" and decision.rft is None
    assert "rft" not in decision.summary.lower().split()
    assert any("2026-10-23" in w and "2026-10-16" in w for w in decision.warnings)
    assert {a.provider: a.can_train for a in decision.availability} == {"openai": False, "azure": False}


def test_rft_on_azure_for_existing_customers_with_its_budget():
    decision = walk(**dict(PASS, prompt_cost_pain=False, verifiable_task=True), rft_hours=Decimal(4),
                    azure_existing_customer=True)
    assert decision.recommendation == "rft" and decision.provider == "azure"
    assert decision.rft.budget_usd == Decimal("400.00") and decision.rft.available
    assert "2027-04-16" in decision.rft.availability


def test_blocked_organization_moves_the_cost_play_to_azure():
    decision = walk(**dict(PASS, prompt_cost_pain=True, has_preference_data=False), has_fine_tuned_before=False,
                    calls_per_month=3_000_000, system_prompt_tokens=2000, input_tokens=500, output_tokens=300,
                    cached_fraction=Decimal(0), today=dt.date(2026, 12, 5))
    openai = next(a for a in decision.availability if a.provider == "openai")
    assert openai.can_train is False and openai.reason.startswith("OpenAI will not train this")
    assert decision.recommendation == "sft" and decision.provider == "azure"
    assert decision.compare.provider == "azure" and decision.compare.tuned.hosting_monthly_usd == Decimal("1241.00")


def test_no_provider_for_the_cost_play_means_shorten_prompt():
    decision = walk(**dict(PASS, prompt_cost_pain=True, has_preference_data=False), has_fine_tuned_before=False,
                    provider="openai", calls_per_month=1, system_prompt_tokens=2000, input_tokens=1, output_tokens=1)
    assert decision.recommendation == "shorten_prompt" and decision.compare is None


@pytest.mark.parametrize("today, provider, verdict", [
    (dt.date(2026, 12, 6), "openai", "never_pays_back"),  # half the prompt cached: the tuned call costs more
    (dt.date(2027, 1, 7), "azure", "never_pays_back"),  # only Azure trains: $1,241 a month of hosting at 100k calls
])
def test_a_cost_play_that_does_not_pay_back_is_not_a_fine_tune(today, provider, verdict):
    decision = decide(DecideInput(**dict(PASS, prompt_cost_pain=True, has_preference_data=False),
                                  has_fine_tuned_before=True, recent_fine_tuned_inference=True,
                                  calls_per_month=100_000, system_prompt_tokens=2000, input_tokens=500,
                                  output_tokens=300, training_tokens=2_400_000), catalog=CATALOG, today=today)
    assert decision.compare is not None and decision.compare.verdict == verdict
    assert (decision.recommendation, decision.provider) == ("shorten_prompt", provider)
    assert decision.summary.startswith("Do not fine-tune") and decision.compare.summary in decision.summary
    paying = decide(DecideInput(**dict(PASS, prompt_cost_pain=True, has_preference_data=False),
                                has_fine_tuned_before=True, recent_fine_tuned_inference=True,
                                calls_per_month=100_000, system_prompt_tokens=2000, input_tokens=500,
                                output_tokens=300, training_tokens=2_400_000, cached_fraction=Decimal(0)),
                    catalog=CATALOG, today=dt.date(2026, 12, 6))
    assert paying.compare.verdict == "pays_back" and paying.recommendation == "sft"


def test_azure_trains_nothing_once_its_fine_tuned_deployments_retire():
    """gpt-4.1-mini's fine-tuned deployments retire on Azure on 2027-10-14: no base retirement is announced, but
    a model trained after that day could never be deployed, so Azure is not offered from then on."""
    answers = dict(PASS, prompt_cost_pain=True, has_preference_data=False, provider="azure",
                   calls_per_month=3_000_000, system_prompt_tokens=2000, input_tokens=500, output_tokens=300)
    before = decide(DecideInput(**answers), catalog=CATALOG, today=dt.date(2027, 10, 13))
    assert [a.can_train for a in before.availability] == [True]
    for day in (dt.date(2027, 10, 14), dt.date(2099, 1, 1)):
        after = decide(DecideInput(**answers), catalog=CATALOG, today=day)
        assert [a.can_train for a in after.availability] == [False], day
        assert "2027-10-14" in after.availability[0].reason
        assert after.recommendation == "shorten_prompt" and after.compare is None


def test_rft_was_available_before_the_shutdown():
    decision = decide(DecideInput(**dict(PASS, prompt_cost_pain=False, verifiable_task=True)), catalog=CATALOG,
                      today=dt.date(2025, 7, 1))  # the catalog covers from its oldest price copy
    assert decision.rft.available is True
    assert "until 2026-10-23" in decision.rft.availability


EXPECTED = {
    "rag.toml": "rag", "prompting.toml": "prompting", "build-evals.toml": "build_evals",
    "collect-data.toml": "collect_data", "ship-prompt.toml": "ship_prompt", "sft-cost-play.toml": "sft",
    "sft-then-dpo.toml": "sft_then_dpo", "rft.toml": "rft", "fix-upstream.toml": "fix_upstream",
    "rft-unavailable.toml": "prompt_with_grader",
}


def test_answer_fixtures_cover_every_recommendation():
    files = sorted(p.name for p in ANSWERS.glob("*.toml"))
    assert set(EXPECTED) <= set(files)
    seen = set()
    for name, expected in EXPECTED.items():
        data = tomllib.loads((ANSWERS / name).read_text(encoding="utf-8"))
        decision = decide(DecideInput(**data), catalog=CATALOG, today=TODAY)
        assert decision.recommendation == expected, name
        seen.add(decision.recommendation)
    assert seen == {"rag", "prompting", "build_evals", "collect_data", "ship_prompt", "sft", "sft_then_dpo", "rft",
                    "fix_upstream", "prompt_with_grader"}


def test_answers_files_answer_every_follow_up():
    for name in EXPECTED:
        data = tomllib.loads((ANSWERS / name).read_text(encoding="utf-8"))
        assert next_question(DecideInput(**data).answers()) is None, name


def test_follow_ups_come_after_a_training_recommendation():
    answers = dict(PASS, prompt_cost_pain=True, has_preference_data=False)
    asked = []
    script = dict(has_fine_tuned_before=True, recent_fine_tuned_inference=True, calls_per_month=1000,
                  system_prompt_tokens=2000, input_tokens=10, output_tokens=10, cached_fraction="",
                  training_file="")
    while (question := next_question(answers, interactive=True)) is not None:
        asked.append(question.id)
        answers[question.id] = script[question.id]
    assert asked == list(script)
    assert next_question(dict(PASS, prompt_cost_pain=True, has_preference_data=False, has_fine_tuned_before=False,
                              calls_per_month=1, system_prompt_tokens=1, input_tokens=1, output_tokens=1)) is None


def test_bad_number_answer_states_the_expected_form():
    with pytest.raises(ValueError, match="expected a whole number such as 1200"):
        parse_answer(QUESTIONS[3], "lots")


def test_after_shutdown_cost_reaches_the_figures():
    figures = dict(PASS, prompt_cost_pain=True, has_preference_data=False, calls_per_month=100_000,
                   system_prompt_tokens=2000, input_tokens=500, output_tokens=300, training_tokens=2_400_000,
                   cached_fraction=Decimal(0), provider="openai", has_fine_tuned_before=True,
                   recent_fine_tuned_inference=True)
    plain = walk(**figures)
    moved = walk(**figures, after_shutdown_cost_usd=Decimal(100))
    assert moved.compare.tuned.horizon_cost_usd == plain.compare.tuned.horizon_cost_usd + 100


@settings(max_examples=40, deadline=None)
@given(
    provider=st.sampled_from(["openai", "azure"]), model=st.sampled_from(["gpt-4.1-mini", "gpt-4o-mini", "gpt-4.1"]),
    today=st.sampled_from([dt.date(2026, 11, 22), dt.date(2026, 12, 6)]), months=st.integers(1, 24),
    calls=st.sampled_from([0, 50_000, 2_000_000]), s=st.sampled_from([0, 2000]),
    cached=st.sampled_from([None, Decimal(0), Decimal("0.5")]), tokens=st.sampled_from([0, 2_400_000]),
    after=st.sampled_from([Decimal(0), Decimal(300)]), tier=st.sampled_from(["global", "developer", "data_zone"]),
)
def test_decide_figures_are_compare_for_the_same_inputs(provider, model, today, months, calls, s, cached, tokens,
                                                       after, tier):
    """The cost play's figures are exactly compare()'s for the same inputs, on either provider."""
    figures = dict(calls_per_month=calls, system_prompt_tokens=s, input_tokens=500, output_tokens=300,
                   cached_fraction=cached, training_tokens=tokens, months=months, after_shutdown_cost_usd=after)
    decision = decide(DecideInput(**dict(PASS, prompt_cost_pain=True, has_preference_data=False), provider=provider,
                                  model=model, azure_tier=tier, has_fine_tuned_before=True,
                                  recent_fine_tuned_inference=True, today=today, **figures), catalog=CATALOG)
    if decision.compare is None:
        assert decision.recommendation == "shorten_prompt"  # no provider can train it on this day
        return
    exact = compare(CompareInput(model=model, provider=provider, azure_tier=tier, today=today,
                                 has_fine_tuned_before=True, recent_fine_tuned_inference=True, **figures),
                    catalog=CATALOG)
    got = decision.compare
    assert got.model_dump(exclude={"inputs", "summary", "warnings"}) == \
        exact.model_dump(exclude={"inputs", "summary", "warnings"})
