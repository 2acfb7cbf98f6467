"""The decision walkthrough: "should we fine-tune at all?", as declared data.

The questions are a list of `Question` nodes, asked in order. Each node names the answer that ends the walk
(`stop_when`) and the recommendation it leads to; an answer that does not stop moves on to the next node.
Only the nodes reached are asked, so the walk is also usable one question at a time (`next_question`).

Order and ids follow issue 6 (the product brief's framework):

1. fact_retrieval yes          -> `rag`
2. failure_is_style yes        -> `prompting`
3. has_rubric no               -> `build_evals`
4. n_examples < 50             -> `collect_data`
5. few_shot_works yes          -> `ship_prompt`
6. prompt_cost_pain yes        -> has_preference_data ? `sft_then_dpo` : `sft` (with compare figures)
7. verifiable_task yes         -> `rft` (hourly budget and availability from the catalog)
otherwise                      -> `fix_upstream`

A walk that ends in training asks follow-ups (`FOLLOW_UPS`): whether the organization has fine-tuned before and
ran fine-tuned inference in the last 60 days (OpenAI's wind-down), and for the cost play the volume and token
counts (and, interactively, an optional dataset path), so that the decision ends in numbers. The method is then
checked against every provider on the as-of date (`ProviderAvailability`): a method no provider can run is
never recommended (`rft` -> `prompt_with_grader`, `sft` -> `shorten_prompt`). The cost play is priced on the
providers that can train, DPO included for `sft_then_dpo`, and the cheaper one over its horizon is named; when
even that one does not repay the training within its horizon, the walk ends in `shorten_prompt` with its figures.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from ftsim.pricing.planning.bounds import (
    MAX_AS_OF, MAX_CALLS_PER_MONTH, MAX_N_EXAMPLES, MAX_TOKENS_PER_CALL, MAX_TRAINING_HOURS, MAX_TRAINING_TOKENS,
    MAX_USD,
)
from ftsim.pricing.errors import PricingError
from ftsim.pricing.planning.compare import CompareInput, CompareResult, compare
from ftsim.pricing.costs.hyperparameters import auto_n_epochs
from ftsim.pricing.costs.money import UsdAmount

__all__ = [
    "Question",
    "QUESTIONS",
    "Recommendation",
    "DecideInput",
    "PathStep",
    "RftBudget",
    "Decision",
    "next_question",
    "decide",
    "parse_answer",
    "FOLLOW_UPS",
    "ProviderAvailability",
    "DpoCost",
]

Recommendation = Literal[
    "rag", "prompting", "build_evals", "collect_data", "ship_prompt", "sft", "sft_then_dpo", "rft", "fix_upstream",
    "prompt_with_grader", "shorten_prompt",
]

MIN_EXAMPLES = 50
RECOMMENDED_EXAMPLES = 100
DEFAULT_RFT_MODEL = "o4-mini"
DEFAULT_RFT_HOURS = Decimal(4)


class Question(BaseModel):
    """One node of the walkthrough: the question, its answer type, and when it ends the walk."""

    model_config = ConfigDict(frozen=True)

    id: str
    text: str
    kind: Literal["bool", "int", "path", "percent"] = "bool"
    optional: bool = False  # asked interactively; a blank answer (or none in a file) is fine
    stop: Callable[[bool | int], bool]
    leads_to: Recommendation | None = None
    reason_stop: str
    reason_continue: str
    only_if: Callable[[dict[str, bool | int]], bool] = lambda answers: True
    refined_by: str | None = None  # a stop that a follow-up question refines (sft -> sft / sft_then_dpo)
    after: tuple[str, ...] = ()  # follow-ups: the recommendations after which they are asked

    @property
    def hint(self) -> str:
        """What an answer looks like, shown beside the question by every door that asks it (CLI, console)."""
        return {"int": "whole number", "path": "path, or blank", "percent": "0-100, or blank"}.get(self.kind, "y/n")


def _is(value: bool) -> Callable[[bool | int], bool]:
    """A stop rule that fires on one boolean answer."""
    return lambda answer: bool(answer) is value


QUESTIONS: list[Question] = [
    Question(
        id="fact_retrieval",
        text="Is the task mainly retrieving facts (answers that live in documents or a database)?",
        stop=_is(True),
        leads_to="rag",
        reason_stop="Fine-tuning teaches behaviour, not facts: retrieve the facts at query time (RAG) instead.",
        reason_continue="Not a retrieval problem, so knowledge injection is not the goal.",
    ),
    Question(
        id="failure_is_style",
        text="Is the failure mostly tone, format or style?",
        stop=_is(True),
        leads_to="prompting",
        reason_stop="Tone and format are fixed cheaper with a stricter prompt and a structured output schema.",
        reason_continue="The failure is not just tone or format.",
    ),
    Question(
        id="has_rubric",
        text="Can you write a clear rubric for what a good answer looks like?",
        stop=_is(False),
        leads_to="build_evals",
        reason_stop="Without a rubric you cannot evaluate a fine-tune: build evals first.",
        reason_continue="A rubric exists, so a fine-tune can be evaluated.",
    ),
    Question(
        id="n_examples",
        text="How many high-quality examples do you have?",
        kind="int",
        stop=lambda n: int(n) < MIN_EXAMPLES,
        leads_to="collect_data",
        reason_stop=f"Fewer than {MIN_EXAMPLES} examples: collect {MIN_EXAMPLES}-{RECOMMENDED_EXAMPLES} "
        "high-quality examples first.",
        reason_continue=f"At least {MIN_EXAMPLES} examples: enough to start.",
    ),
    Question(
        id="few_shot_works",
        text="Have you tried few-shot prompting with 5-10 examples, and does it work?",
        stop=_is(True),
        leads_to="ship_prompt",
        reason_stop="Few-shot prompting already works: ship the prompt, no training needed.",
        reason_continue="Few-shot prompting is not enough.",
    ),
    Question(
        id="prompt_cost_pain",
        text="Is prompt cost the pain (a long system prompt at high volume)?",
        stop=_is(True),
        leads_to="sft",
        reason_stop="Fine-tuning as a cost play: bake the long prompt into the weights (SFT).",
        reason_continue="Prompt cost is not the pain.",
        refined_by="has_preference_data",
    ),
    Question(
        id="has_preference_data",
        text="Do you have preference pairs (a preferred and a non-preferred answer per prompt)?",
        stop=lambda answer: True,
        leads_to=None,  # resolved by decide(): sft or sft_then_dpo
        reason_stop="",
        reason_continue="",
        only_if=lambda answers: bool(answers.get("prompt_cost_pain")),
    ),
    Question(
        id="verifiable_task",
        text="Is it a verifiable task (a grader can score answers) that needs consistent reasoning?",
        stop=_is(True),
        leads_to="rft",
        reason_stop="A verifiable reasoning task is what reinforcement fine-tuning (RFT) is for.",
        reason_continue="Not a verifiable reasoning task either.",
        only_if=lambda answers: not answers.get("prompt_cost_pain"),
    ),
]

TRAINING = ("sft", "sft_then_dpo", "rft")
COST_PLAY = ("sft", "sft_then_dpo")


def _follow_up(id: str, text: str, kind: Literal["bool", "int", "path", "percent"], when: tuple[str, ...],
               only_if=lambda a: True, optional=False):
    return Question(id=id, text=text, kind=kind, stop=lambda a: False, reason_stop="", reason_continue="",
                    only_if=only_if, optional=optional, leads_to=None, after=when)


FOLLOW_UPS: list[Question] = [
    _follow_up("has_fine_tuned_before", "Has your organization run a fine-tuning job on OpenAI before?", "bool",
               TRAINING),
    _follow_up("recent_fine_tuned_inference",
               "Has it run inference on a fine-tuned OpenAI model in the last 60 days?", "bool", TRAINING,
               only_if=lambda a: a.get("has_fine_tuned_before") is not False),
    _follow_up("calls_per_month", "How many calls a month will the model serve?", "int", COST_PLAY),
    _follow_up("system_prompt_tokens", "How many tokens is the long system prompt that fine-tuning would remove?",
               "int", COST_PLAY),
    _follow_up("input_tokens", "How many input tokens does a call carry besides that prompt?", "int", COST_PLAY),
    _follow_up("output_tokens", "How many output tokens does a call produce?", "int", COST_PLAY),
    # the verdict turns on it (a prompt of 1,024 tokens or more is cached automatically): asked, not only assumed
    _follow_up("cached_fraction", "What percentage of that system prompt is served from the prompt cache "
               "(blank: assume 50%)?", "percent", COST_PLAY, optional=True,
               only_if=lambda a: int(a.get("system_prompt_tokens") or 0) >= 1024),
    _follow_up("training_file", "Path to your training JSONL to price it (blank: estimate from the examples)",
               "path", COST_PLAY, optional=True),
]

QUESTION_IDS = [q.id for q in QUESTIONS]
FOLLOW_UP_IDS = [q.id for q in FOLLOW_UPS]


class DecideInput(BaseModel):
    """Answers (any may be missing while walking) plus optional figures for the cost and RFT steps."""

    model_config = ConfigDict(extra="forbid")

    fact_retrieval: bool | None = None
    failure_is_style: bool | None = None
    has_rubric: bool | None = None
    n_examples: int | None = Field(default=None, ge=0, le=MAX_N_EXAMPLES)
    few_shot_works: bool | None = None
    prompt_cost_pain: bool | None = None
    verifiable_task: bool | None = None
    has_preference_data: bool | None = None
    # Follow-ups: OpenAI's eligibility, then figures.
    has_fine_tuned_before: bool | None = None
    recent_fine_tuned_inference: bool | None = None
    training_file: str | None = Field(default=None, description="a dataset to price (CLI; blank = none)")
    provider: Literal["openai", "azure", "both"] = Field(default="both", description="providers to consider")
    azure_tier: Literal["global", "data_zone", "regional_us", "regional_sweden", "developer"] = "global"
    azure_existing_customer: bool = False
    deployments: int = Field(default=1, ge=1, le=10_000)
    dpo_examples: int | None = Field(default=None, ge=0, le=MAX_N_EXAMPLES, description="default: n_examples")
    after_shutdown_cost_usd: Decimal = Field(
        default=Decimal(0), ge=0, le=MAX_USD,
        description="one-off cost of retraining elsewhere when the tuned model shuts down inside the horizon",
    )
    # Figures for the cost step (compare); model defaults to gpt-4.1-mini.
    model: str = "gpt-4.1-mini"
    base_model: str | None = None
    calls_per_month: int | None = Field(default=None, ge=0, le=MAX_CALLS_PER_MONTH)
    system_prompt_tokens: int | None = Field(default=None, ge=0, le=MAX_TOKENS_PER_CALL)
    input_tokens: int | None = Field(default=None, ge=0, le=MAX_TOKENS_PER_CALL)
    output_tokens: int | None = Field(default=None, ge=0, le=MAX_TOKENS_PER_CALL)
    tuned_system_prompt_tokens: int = Field(default=0, ge=0, le=MAX_TOKENS_PER_CALL)
    cached_fraction: Decimal | None = Field(default=None, ge=0, le=1)
    batch_fraction: Decimal = Field(default=Decimal(0), ge=0, le=1)
    training_tokens: int | None = Field(default=None, ge=0, le=MAX_TRAINING_TOKENS)
    months: int = Field(default=12, ge=1, le=120)
    # Figures for the RFT step.
    rft_model: str = DEFAULT_RFT_MODEL
    rft_hours: Decimal = Field(default=DEFAULT_RFT_HOURS, gt=0, le=MAX_TRAINING_HOURS)
    today: dt.date | None = Field(default=None, le=MAX_AS_OF)

    def answers(self) -> dict[str, bool | int]:
        """The walkthrough answers given so far (follow-ups included), by question id."""
        return {k: getattr(self, k) for k in QUESTION_IDS + FOLLOW_UP_IDS if getattr(self, k) is not None}


class PathStep(BaseModel):
    """One question asked: its id, its text, the answer given and why it led where it did."""

    question: str
    text: str
    answer: bool | int
    reason: str


class RftBudget(BaseModel):
    """The RFT step's figures: hourly rate, a budget for the given hours, and availability."""

    model: str
    snapshot: str
    hourly_rate_usd: UsdAmount
    hours: Decimal
    budget_usd: UsdAmount
    available: bool
    training_until: dt.date | None
    inference_until: dt.date | None
    availability: str


class ProviderAvailability(BaseModel):
    """Whether a provider can run the recommended method for this organization on the as-of date."""

    provider: Literal["openai", "azure"]
    method: str
    model: str
    can_train: bool | None
    reason: str


class DpoCost(BaseModel):
    """The DPO job of `sft_then_dpo`, billed per token like SFT (upper bound: the prompt counted per output)."""

    examples: int
    tokens_per_example: int
    epochs: int
    trained_tokens: int
    cost_usd: UsdAmount


class Decision(BaseModel):
    """The walkthrough's outcome (the JSON of `ftsim decide --json`)."""

    as_of: dt.date
    recommendation: Recommendation
    summary: str
    path: list[PathStep]
    provider: Literal["openai", "azure"] | None = None
    availability: list[ProviderAvailability] = Field(default_factory=list)
    compare: CompareResult | None = None
    compared: list[CompareResult] = Field(default_factory=list, description="the cost play on each provider")
    dpo: DpoCost | None = None
    rft: RftBudget | None = None
    warnings: list[str] = Field(default_factory=list, description="every warning, the compare figures' included")


SUMMARIES: dict[str, str] = {
    "rag": "Use retrieval-augmented generation, not fine-tuning.",
    "prompting": "Use a stricter prompt and a structured output schema.",
    "build_evals": "Build evals first: write the rubric and a graded test set.",
    "collect_data": f"Collect at least {MIN_EXAMPLES}-{RECOMMENDED_EXAMPLES} high-quality examples first.",
    "ship_prompt": "Ship the few-shot prompt.",
    "sft": "Supervised fine-tuning as a cost play.",
    "sft_then_dpo": "Supervised fine-tuning, then DPO on your preference pairs.",
    "rft": "Reinforcement fine-tuning (RFT) with a grader.",
    "fix_upstream": "Fix the upstream problem first: neither cost nor verifiable reasoning justifies a fine-tune.",
    "prompt_with_grader": "No provider can run reinforcement fine-tuning for you now: keep the grader as an eval "
    "and improve the prompt against it.",
    "shorten_prompt": "No provider can fine-tune this model for you now: shorten the prompt and let caching cut "
    "its cost.",
}


# `shorten_prompt` when a provider can train but the cost play does not repay its training in time
NOT_PAYING_BACK = ("Do not fine-tune: at these figures the tuned model does not repay its training while it can "
                   "serve. Shorten the prompt and let caching cut its cost.")


def next_question(answers: dict[str, bool | int], *, interactive: bool = False,
                  skip: tuple[str, ...] = ()) -> Question | None:
    """The next question to ask given the answers so far, or None when the walk and its follow-ups are done.
    Optional follow-ups (the cached share, a dataset path) are asked only `interactive`ly; `skip` names optional
    follow-ups a door cannot ask (the console has no local path to read)."""
    for question in QUESTIONS:
        if not question.only_if(answers):
            continue
        if question.id not in answers:
            return question
        if question.stop(answers[question.id]) and question.refined_by is None:
            break
    recommendation = _recommendation(answers)
    for question in FOLLOW_UPS:
        if recommendation not in question.after or not question.only_if(answers):
            continue
        if question.optional and question.id in skip:
            continue
        if question.id not in answers and (interactive or not question.optional):
            return question
    return None


def _recommendation(answers: dict[str, bool | int]) -> str | None:
    """Where the walk leads with these answers (None while it is incomplete)."""
    for question in QUESTIONS:
        if not question.only_if(answers):
            continue
        if question.id not in answers:
            return None
        if question.id == "has_preference_data":
            return "sft_then_dpo" if answers[question.id] else "sft"
        if question.stop(answers[question.id]):
            if question.refined_by is not None:
                continue
            return question.leads_to
    return "fix_upstream"


def parse_answer(question: Question, text: str) -> bool | int | str | Decimal:
    """Parse a typed answer (y/yes/true/1, n/no/false/0, an integer, a path or a percentage as a share); ValueError
    when unreadable."""
    raw = text.strip().lower()
    if question.kind == "path":
        from pathlib import Path

        path = text.strip()
        if path and not Path(path).is_file():
            raise ValueError(f"expected a path to a JSONL file, or a blank line to skip; no file at {path!r}")
        return path
    if question.kind == "percent":
        number = raw.removesuffix("%").strip()
        if not number:
            return ""  # blank: the compare's stated assumption
        try:
            share = Decimal(number)
        except ArithmeticError:
            share = Decimal(-1)
        if not share.is_finite() or not 0 <= share <= 100:
            raise ValueError(f"expected a percentage from 0 to 100 such as 30, or a blank line, not {text.strip()!r}")
        return share / 100
    if question.kind == "int":
        digits = raw.replace(",", "").replace("_", "")
        if not digits.isdigit():
            raise ValueError(f"expected a whole number such as 1200 (commas allowed), not {text.strip()!r}")
        value = int(digits)
        if value > MAX_CALLS_PER_MONTH:
            raise ValueError(f"expected a whole number up to {MAX_CALLS_PER_MONTH:,}, not {text.strip()!r}")
        return value
    if raw in {"y", "yes", "true", "1"}:
        return True
    if raw in {"n", "no", "false", "0"}:
        return False
    raise ValueError(f"answer yes or no, not {text.strip()!r}")


def decide(data: DecideInput, *, catalog, today: dt.date | None = None,
           progress: Callable[[int, int], None] | None = None) -> Decision:
    """Walk the questions with the given answers; ValueError names the first missing answer of the walk.
    Missing follow-ups (eligibility, figures) leave warnings, not errors, so a partial decision still prints.
    `progress(done, total)` follows the scan of `training_file`, when one is priced."""
    answers = data.answers()
    path: list[PathStep] = []
    warnings: list[str] = []
    recommendation: Recommendation = "fix_upstream"
    for question in QUESTIONS:
        if not question.only_if(answers):
            continue
        if question.id not in answers:
            raise ValueError(f"missing answer: {question.id} ({question.text})")
        answer = answers[question.id]
        if question.id == "has_preference_data":
            recommendation = "sft_then_dpo" if answer else "sft"
            reason = (
                "Preference pairs exist: after SFT, a DPO job aligns the model with the preferred answers."
                if answer
                else "No preference pairs: SFT alone."
            )
            path.append(PathStep(question=question.id, text=question.text, answer=answer, reason=reason))
            break
        stops = question.stop(answer)
        reason = question.reason_stop if stops else question.reason_continue
        if question.id == "n_examples" and not stops and int(answer) < RECOMMENDED_EXAMPLES:
            reason = f"{answer} examples: enough to start, though {RECOMMENDED_EXAMPLES}+ is safer."
        path.append(PathStep(question=question.id, text=question.text, answer=answer, reason=reason))
        if stops:
            if question.refined_by is not None:
                continue
            recommendation = question.leads_to or "fix_upstream"
            break
    day = today or data.today or catalog_effective_date(catalog) or dt.date.today()
    catalog.check_as_of(day)
    figures, rft, dpo, provider = None, None, None, None
    not_paying = False
    availability: list[ProviderAvailability] = []
    compared: list[CompareResult] = []
    if recommendation in TRAINING:
        for question in FOLLOW_UPS[:2]:
            if question.only_if(answers) and question.id in answers:
                path.append(PathStep(question=question.id, text=question.text, answer=answers[question.id],
                                     reason="OpenAI's wind-down depends on it."))
        availability = _availability(recommendation, data, catalog, day)
        runnable = [a for a in availability if a.can_train is not False]
        for a in availability:
            if a.can_train is None:
                warnings.append(a.reason)
        if not runnable:
            blocked = "; ".join(a.reason.removesuffix(".") for a in availability)
            recommendation = "prompt_with_grader" if recommendation == "rft" else "shorten_prompt"
            warnings.insert(0, f"As of {day.isoformat()} no provider can run it: {blocked}")
        else:
            provider = runnable[0].provider
    if recommendation in COST_PLAY:
        figures, compared, dpo = _cost_figures(data, recommendation, [a.provider for a in runnable], catalog=catalog,
                                               today=day, warnings=warnings, progress=progress)
        if figures is not None:
            provider = figures.provider
            if figures.verdict in ("never_pays_back", "pays_back_after_horizon"):
                # the best provider's figures do not repay the training while the tuned model can serve: the
                # cost play fails on its own terms, so the walk does not end in a fine-tune (figures kept)
                recommendation = "shorten_prompt"
                not_paying = True
    if recommendation == "rft":
        rft = _rft_budget(data, catalog=catalog, today=day, provider=provider or "openai")
        if not rft.available:
            warnings.append(rft.availability)
    summary = NOT_PAYING_BACK if not_paying else SUMMARIES[recommendation]
    if provider is not None:
        summary += f" On {'OpenAI' if provider == 'openai' else 'Azure OpenAI'} (as of {day.isoformat()})."
    if figures is not None:
        summary += " " + figures.summary
    return Decision(
        as_of=day, recommendation=recommendation, summary=summary, path=path, provider=provider,
        availability=availability, compare=figures, compared=compared, dpo=dpo, rft=rft, warnings=warnings,
    )


def _availability(recommendation: str, data: DecideInput, catalog, day: dt.date) -> list[ProviderAvailability]:
    """Whether each provider (of those asked for) can run the recommended method on `day`."""
    from ftsim.pricing.catalog.providers import load_providers, openai_training_block
    from ftsim.pricing.errors import UnknownModel

    methods = {"sft": ["supervised"], "sft_then_dpo": ["supervised", "dpo"], "rft": ["reinforcement"]}[recommendation]
    model = data.rft_model if recommendation == "rft" else data.model
    providers = load_providers()
    out: list[ProviderAvailability] = []
    if data.provider in ("openai", "both"):
        entry = catalog.resolve(model)
        eligibility = openai_training_block(providers, day, has_fine_tuned_before=data.has_fine_tuned_before,
                                            recent_fine_tuned_inference=data.recent_fine_tuned_inference)
        can, reason = eligibility.allowed, eligibility.reason
        missing = [m for m in methods if m not in entry.methods]
        if missing:
            can, reason = False, f"OpenAI will not train this: {entry.snapshot} does not allow {', '.join(missing)}."
        elif not entry.training_open(day):
            can = False
            reason = (f"OpenAI will not train this: {entry.snapshot} accepts no new fine-tuning jobs since "
                      f"{entry.training_until.isoformat()}.")
        out.append(ProviderAvailability(provider="openai", method="+".join(methods), model=entry.snapshot,
                                        can_train=can, reason=reason))
    if data.provider in ("azure", "both"):
        try:
            found = providers.azure.resolve(model)
        except UnknownModel as exc:
            out.append(ProviderAvailability(provider="azure", method="+".join(methods), model=model, can_train=False,
                                            reason=f"Azure will not train this: {exc}"))
            return out
        until = found.training_until(data.azure_existing_customer)
        missing = [m for m in methods if m not in found.methods]
        if missing:
            can, reason = False, f"Azure will not train this: {found.snapshot} does not allow {', '.join(missing)} there."
        elif until is not None and day >= until:
            who = "existing customers" if data.azure_existing_customer else "new customers"
            can, reason = False, (f"Azure will not train this: {found.snapshot} training ended for {who} on "
                                  f"{until.isoformat()}.")
        else:
            can = True
            reason = f"Azure OpenAI trains {found.snapshot}" + (f" until {until.isoformat()}." if until else ".")
        out.append(ProviderAvailability(provider="azure", method="+".join(methods), model=found.snapshot,
                                        can_train=can, reason=reason))
    return out


def catalog_effective_date(catalog) -> dt.date | None:
    """The catalog's effective date, if it declares one."""
    for name in ("effective_date", "effective_from", "date", "as_of"):
        value = getattr(catalog, name, None)
        if isinstance(value, dt.date):
            return value
    return None


_VERDICT_RANK = {"pays_back": 0, "pays_back_after_horizon": 1, "never_pays_back": 2, "cannot_train": 3}


def _cost_figures(data: DecideInput, recommendation: str, providers: list[Literal["openai", "azure"]], *, catalog, today: dt.date,
                  warnings: list[str], progress: Callable[[int, int], None] | None = None,
                  ) -> tuple[CompareResult | None, list[CompareResult], "DpoCost | None"]:
    """The cost play priced on each provider that can train (DPO included), and the better of them."""
    needed = ("calls_per_month", "system_prompt_tokens", "input_tokens", "output_tokens")
    missing = [name for name in needed if getattr(data, name) is None]
    calls, system_tokens, input_tokens, output_tokens = (
        data.calls_per_month, data.system_prompt_tokens, data.input_tokens, data.output_tokens)
    if missing or calls is None or system_tokens is None or input_tokens is None or output_tokens is None:
        warnings.append("No compare figures: give " + ", ".join(missing) + " to see the break-even.")
        return None, [], None
    if not providers:
        return None, [], None
    per_example = data.tuned_system_prompt_tokens + int(input_tokens) + int(output_tokens)
    n = max(int(data.n_examples or 0), 1)
    training_tokens = data.training_tokens
    if data.training_file:
        from ftsim.pricing.costs.estimate import estimate

        est = estimate(data.training_file, model=data.model, catalog=catalog, today=today, partial=True,
                       progress=progress)
        training_tokens, n = est.trained_tokens, est.n_examples
        warnings.extend(w for w in est.warnings if w not in warnings)
    elif training_tokens is None:
        training_tokens = n * per_example * auto_n_epochs(n)
        warnings.append(
            f"Training tokens assumed: {n} examples x {per_example} tokens (short prompt + input + output) x "
            f"{auto_n_epochs(n)} epochs (auto) = {training_tokens}; pass training_tokens (or training_file) for your figure."
        )
    dpo = None
    if recommendation == "sft_then_dpo":
        pairs = data.dpo_examples if data.dpo_examples is not None else n
        # DPO bills per token like SFT; OpenAI does not say how the two outputs count, so the upper bound is used:
        # the prompt once per output (pricing reference 2.2).
        dpo_per_example = 2 * per_example
        epochs = auto_n_epochs(max(pairs, 1))
        dpo_tokens = pairs * dpo_per_example * epochs
        dpo = DpoCost(examples=pairs, tokens_per_example=dpo_per_example, epochs=epochs, trained_tokens=dpo_tokens,
                      cost_usd=Decimal(0))
        training_tokens += dpo_tokens
        warnings.append(f"SFT then DPO is two jobs, each billed: the DPO job ({pairs} pairs x {dpo_per_example} "
                        f"tokens x {epochs} epochs = {dpo_tokens:,} tokens, upper bound) is included in the "
                        "training cost.")
    results = []
    for provider in providers:
        params = CompareInput(
            model=data.model, base_model=data.base_model if provider == "openai" else None,
            calls_per_month=int(calls), system_prompt_tokens=int(system_tokens),
            input_tokens=int(input_tokens), output_tokens=int(output_tokens),
            tuned_system_prompt_tokens=data.tuned_system_prompt_tokens, cached_fraction=data.cached_fraction,
            batch_fraction=data.batch_fraction, training_tokens=min(training_tokens, MAX_TRAINING_TOKENS),
            months=data.months, today=today, provider=provider, azure_tier=data.azure_tier,
            deployments=data.deployments, azure_existing_customer=data.azure_existing_customer,
            has_fine_tuned_before=data.has_fine_tuned_before,
            recent_fine_tuned_inference=data.recent_fine_tuned_inference,
            method="dpo" if recommendation == "sft_then_dpo" else "supervised",
            after_shutdown_cost_usd=data.after_shutdown_cost_usd,
        )
        results.append(compare(params, catalog=catalog))
    runnable = [r for r in results if r.verdict != "cannot_train"] or results
    best = min(runnable, key=lambda r: (_VERDICT_RANK[r.verdict],
                                        -(r.net_savings_over_horizon_usd / r.horizon_months if r.horizon_months
                                          else Decimal(0))))
    if dpo is not None:
        # the DPO job's own tokens at the chosen provider's training rate (DPO bills per token like SFT, pricing
        # reference 2.2), rounded once: not a share of the cent-rounded SFT + DPO total
        rate = _training_rate(data, best.provider, catalog)
        if rate is not None:
            dpo = dpo.model_copy(update={"cost_usd": (rate * dpo.trained_tokens / Decimal(1_000_000)).quantize(
                Decimal("0.01"), rounding=ROUND_HALF_UP)})
    for r in [best] + [r for r in results if r is not best]:  # the chosen figures' warnings as they are
        prefix = "" if r is best else f"{r.provider}: "
        warnings.extend(prefix + w for w in r.warnings if prefix + w not in warnings)
    return best, results, dpo


def _training_rate(data: DecideInput, provider: str, catalog) -> Decimal | None:
    """The per-1M-token training rate of `data.model` on `provider` (Azure: at `data.azure_tier`)."""
    if provider == "azure":
        from ftsim.pricing.catalog.providers import load_providers

        azure = load_providers().azure
        found = azure.resolve(data.model)
        return found.training_price(data.azure_tier, azure.tiers) if found.training_unit == "per_1m_tokens" else None
    training = catalog.resolve(data.model).training
    return training.price if training is not None and training.unit == "per_1m_tokens" else None


def _rft_budget(data: DecideInput, *, catalog, today: dt.date | None, provider: str = "openai") -> RftBudget:
    """The RFT hourly budget on `provider` and whether RFT can still run there on `today`."""
    from ftsim.pricing.planning.compare import rates_of

    entry = catalog.resolve(data.rft_model)
    if provider == "azure":
        from ftsim.pricing.catalog.providers import load_providers

        azure = load_providers().azure
        found = azure.resolve(data.rft_model)
        rate = found.training_price(data.azure_tier, azure.tiers)
        if rate is None:
            raise PricingError(f"Azure OpenAI does not list an RFT training price for {found.snapshot} "
                               f"on the {data.azure_tier} tier")
        until = found.training_until(data.azure_existing_customer)
        budget = min(rate * data.rft_hours, azure.rft_job_cap_usd).quantize(Decimal("0.01"))
        available = until is None or today is None or today < until
        availability = (f"Azure OpenAI runs RFT on {found.snapshot} until {until.isoformat()}"
                        f" (capped at ${azure.rft_job_cap_usd:,} a job)." if available and until else
                        f"Azure OpenAI stopped RFT on {found.snapshot} on {until}.")
        return RftBudget(model=data.rft_model, snapshot=found.snapshot, hourly_rate_usd=rate, hours=data.rft_hours,
                         budget_usd=budget, available=available, training_until=until,
                         inference_until=found.deployment_until, availability=availability)
    rate = rates_of(entry).training_per_hour
    if rate is None:
        raise ValueError(f"{data.rft_model} is not billed by the hour: it has no RFT price in the catalog")
    budget = (rate * data.rft_hours).quantize(Decimal("0.01"))
    ends = [d for d in (entry.training_until, entry.inference_until) if d is not None]
    available = True
    if today is not None and ends and min(ends) <= today:
        available = False
        availability = (
            f"{entry.snapshot} shut down on {min(ends).isoformat()} (before {today.isoformat()}): "
            "RFT cannot run on OpenAI now; the budget is for what-if use only."
        )
    elif ends:
        availability = f"{entry.snapshot} accepts RFT jobs until {min(ends).isoformat()}."
    else:
        availability = f"{entry.snapshot} has no announced shutdown date."
    return RftBudget(
        model=data.rft_model,
        snapshot=entry.snapshot,
        hourly_rate_usd=rate,
        hours=data.rft_hours,
        budget_usd=budget,
        available=available,
        training_until=entry.training_until,
        inference_until=entry.inference_until,
        availability=availability,
    )
