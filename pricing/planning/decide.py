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
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

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
]

Recommendation = Literal[
    "rag", "prompting", "build_evals", "collect_data", "ship_prompt", "sft", "sft_then_dpo", "rft", "fix_upstream"
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
    kind: Literal["bool", "int"] = "bool"
    stop: Callable[[bool | int], bool]
    leads_to: Recommendation | None = None
    reason_stop: str
    reason_continue: str
    only_if: Callable[[dict[str, bool | int]], bool] = lambda answers: True
    refined_by: str | None = None  # a stop that a follow-up question refines (sft -> sft / sft_then_dpo)


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

QUESTION_IDS = [q.id for q in QUESTIONS]


class DecideInput(BaseModel):
    """Answers (any may be missing while walking) plus optional figures for the cost and RFT steps."""

    model_config = ConfigDict(extra="forbid")

    fact_retrieval: bool | None = None
    failure_is_style: bool | None = None
    has_rubric: bool | None = None
    n_examples: int | None = Field(default=None, ge=0)
    few_shot_works: bool | None = None
    prompt_cost_pain: bool | None = None
    verifiable_task: bool | None = None
    has_preference_data: bool | None = None
    # Figures for the cost step (compare); model defaults to gpt-4.1-mini.
    model: str = "gpt-4.1-mini"
    base_model: str | None = None
    calls_per_month: int | None = Field(default=None, ge=0)
    system_prompt_tokens: int | None = Field(default=None, ge=0)
    input_tokens: int | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=0)
    tuned_system_prompt_tokens: int = Field(default=0, ge=0)
    cached_fraction: Decimal = Field(default=Decimal(0), ge=0, le=1)
    batch_fraction: Decimal = Field(default=Decimal(0), ge=0, le=1)
    training_tokens: int | None = Field(default=None, ge=0)
    months: int = Field(default=12, ge=1, le=120)
    # Figures for the RFT step.
    rft_model: str = DEFAULT_RFT_MODEL
    rft_hours: Decimal = Field(default=DEFAULT_RFT_HOURS, gt=0)
    today: dt.date | None = None

    def answers(self) -> dict[str, bool | int]:
        """The walkthrough answers given so far, by question id."""
        return {k: getattr(self, k) for k in QUESTION_IDS if getattr(self, k) is not None}


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


class Decision(BaseModel):
    """The walkthrough's outcome (the JSON of `ftsim decide --json`)."""

    recommendation: Recommendation
    summary: str
    path: list[PathStep]
    compare: CompareResult | None = None
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
}


def next_question(answers: dict[str, bool | int]) -> Question | None:
    """The next question to ask given the answers so far, or None when the walk has ended."""
    for question in QUESTIONS:
        if not question.only_if(answers):
            continue
        if question.id not in answers:
            return question
        if question.stop(answers[question.id]) and question.refined_by is None:
            return None
    return None


def parse_answer(question: Question, text: str) -> bool | int:
    """Parse a typed answer (y/yes/true/1, n/no/false/0, or an integer); ValueError when unreadable."""
    raw = text.strip().lower()
    if question.kind == "int":
        value = int(raw.replace(",", "").replace("_", ""))
        if value < 0:
            raise ValueError("the number of examples cannot be negative")
        return value
    if raw in {"y", "yes", "true", "1"}:
        return True
    if raw in {"n", "no", "false", "0"}:
        return False
    raise ValueError(f"answer yes or no, not {text.strip()!r}")


def decide(data: DecideInput, *, catalog, today: dt.date | None = None) -> Decision:
    """Walk the questions with the given answers; ValueError names the first missing answer."""
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
                continue  # the follow-up question settles sft vs sft_then_dpo
            recommendation = question.leads_to or "fix_upstream"
            break
    day = today or data.today or catalog_effective_date(catalog)
    figures, rft = None, None
    if recommendation in ("sft", "sft_then_dpo"):
        figures = _cost_figures(data, catalog=catalog, today=day, warnings=warnings)
        if recommendation == "sft_then_dpo":
            warnings.append("SFT then DPO is two jobs, each billed: budget the DPO job on top of the SFT cost.")
    if recommendation == "rft":
        rft = _rft_budget(data, catalog=catalog, today=day)
        if not rft.available:
            warnings.append(rft.availability)
    return Decision(
        recommendation=recommendation, summary=SUMMARIES[recommendation], path=path, compare=figures, rft=rft,
        warnings=warnings,
    )


def catalog_effective_date(catalog) -> dt.date | None:
    """The catalog's effective date, if it declares one."""
    for name in ("effective_date", "effective_from", "date", "as_of"):
        value = getattr(catalog, name, None)
        if isinstance(value, dt.date):
            return value
    return None


def _cost_figures(data: DecideInput, *, catalog, today: dt.date | None, warnings: list[str]) -> CompareResult | None:
    """The compare figures for the cost step, when the volume and prompt figures were given."""
    needed = ("calls_per_month", "system_prompt_tokens", "input_tokens", "output_tokens")
    missing = [name for name in needed if getattr(data, name) is None]
    calls, system_tokens, input_tokens, output_tokens = (
        data.calls_per_month, data.system_prompt_tokens, data.input_tokens, data.output_tokens)
    if missing or calls is None or system_tokens is None or input_tokens is None or output_tokens is None:
        warnings.append("No compare figures: give " + ", ".join(missing) + " to see the break-even.")
        return None
    training_tokens = data.training_tokens
    if training_tokens is None:
        n = max(int(data.n_examples or 0), 1)
        per_example = data.tuned_system_prompt_tokens + int(input_tokens) + int(output_tokens)
        training_tokens = n * per_example * auto_n_epochs(n)
        warnings.append(
            f"Training tokens assumed: {n} examples x {per_example} tokens (short prompt + input + output) x "
            f"{auto_n_epochs(n)} epochs (auto) = {training_tokens}; pass training_tokens for your figure."
        )
    params = CompareInput(
        model=data.model,
        base_model=data.base_model,
        calls_per_month=int(calls),
        system_prompt_tokens=int(system_tokens),
        input_tokens=int(input_tokens),
        output_tokens=int(output_tokens),
        tuned_system_prompt_tokens=data.tuned_system_prompt_tokens,
        cached_fraction=data.cached_fraction,
        batch_fraction=data.batch_fraction,
        training_tokens=training_tokens,
        months=data.months,
        today=today,
    )
    result = compare(params, catalog=catalog)
    warnings.extend(w for w in result.warnings if w not in warnings)  # the figures' warnings, surfaced on top
    if result.break_even_calls is None:
        warnings.append("At these figures the tuned model never pays back: the cost play does not hold.")
    return result


def _rft_budget(data: DecideInput, *, catalog, today: dt.date | None) -> RftBudget:
    """The RFT hourly budget and whether RFT can still run on `today`."""
    from ftsim.pricing.planning.compare import rates_of

    entry = catalog.resolve(data.rft_model)
    rate = rates_of(entry).training_per_hour
    if rate is None:
        raise ValueError(f"{data.rft_model} is not billed by the hour: it has no RFT price in the catalog")
    budget = (rate * data.rft_hours).quantize(Decimal("0.01"))
    ends = [d for d in (entry.training_until, entry.inference_until) if d is not None]
    available = True
    if today is not None and ends and min(ends) < today:
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
