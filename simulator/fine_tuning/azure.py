"""Azure OpenAI's own checks of a new fine-tuning job, from the catalog's Azure entries (one source with the planner).

What Azure fine-tunes differs from OpenAI (reference §2): its models and methods, its training types (tiers) and
their prices, and its training dates (existing customers train until the announced date, others until the base
model retires). The shared job service applies OpenAI's own wind-down and dates to OpenAI organizations only.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Callable, Literal, Optional

from pydantic import BaseModel

from ftsim.pricing.costs.rft import GraderUsage, grader_cost
from ftsim.pricing.errors import PricingError, UnknownModel
from ftsim.simulator.core.errors import BadRequestError
from ftsim.simulator.fine_tuning.loss_curve import graders_of, is_eval_step, reward_metrics_at
from ftsim.simulator.fine_tuning.types import JobRecord

if TYPE_CHECKING:
    from ftsim.pricing.catalog.providers import Azure, AzureModel

__all__ = ["DEFAULT_TRAINING_TYPE", "TRAINING_TYPES", "TIER_OF", "TRAINING_KIND", "AZURE_TRAINING_TYPE_STATE", "canonical_training_type",
           "check_job", "training_type_writer", "training_type_of", "TokenCounts", "CostLine", "AccountCost", "account_cost",
           "billed_steps", "billed_hours", "inference_charge", "report_billed_hours",
           "grader_tokens", "grading_charge", "report_hours_at", "plan_stops", "job_cost_lines", "MODEL_GRADERS"]

TRAINING_KIND = "azure_training"  # store kind: an Azure job's training type, written with the job
AZURE_TRAINING_TYPE_STATE = "azure_training_type"  # ASGI scope["state"] key: the create request's training type

# Azure's training types by lowercase name (the docs write both `DeveloperTier` and `developerTier`).
TRAINING_TYPES = {"standard": "Standard", "globalstandard": "GlobalStandard", "developertier": "DeveloperTier"}
# The training type of a job created without one (the Azure door's body, or a job stored without its kind):
# "Standard" (assumed: Microsoft's docs call Standard the regional default).
DEFAULT_TRAINING_TYPE = "Standard"
# The catalog tier each training type is priced at. Standard is regional; the region of a simulated account is not
# known, so US (assumed; Sweden is the other regional price in the catalog).
TIER_OF = {"Standard": "regional_us", "GlobalStandard": "global", "DeveloperTier": "developer"}


def azure_prices() -> Azure:
    """Azure's prices and rules (pricing/catalog/providers.py), imported on the first Azure job or bill rather
    than with the app: a world without Azure accounts never reads them."""
    from ftsim.pricing.catalog.providers import load_providers

    return load_providers().azure


def canonical_training_type(value: Any) -> str | None:
    """`value`'s canonical spelling, or None when it is not one of Azure's training types."""
    return TRAINING_TYPES.get(value.lower()) if isinstance(value, str) else None


def training_type_writer(backend: Any, tenant: Any, training_type: str) -> Callable[[str], None]:
    """The jobs service's `on_create` hook keeping an Azure job's training type in the job's own transaction (so
    that no crash can leave a job without it)."""
    def write(job_id: str) -> None:
        backend.store.put(TRAINING_KIND, tenant.key, job_id, {"training_type": training_type})
    return write


def training_type_of(backend: Any, tenant: Any, job_id: str) -> str | None:
    """The training type an Azure job was created with (None for a job not created through the Azure door)."""
    rec = backend.store.get(TRAINING_KIND, tenant.key, job_id)
    return rec["training_type"] if rec else None


def _bad(message: str, param: str) -> BadRequestError:
    # Azure answers a refused job with code `invalidPayload` (assumed for each of these cases; the REST reference
    # lists the code, not every message).
    return BadRequestError(message, param=param, code="invalidPayload")


def check_job(backend: Any, tenant: Any, *, model: Any, method: Any, training_type: str) -> AzureModel:
    """The Azure entry of `model` once the job passes Azure's checks; BadRequestError (Azure's code) otherwise."""
    azure = azure_prices()
    try:
        entry = azure.resolve(model if isinstance(model, str) else "")
    except UnknownModel:
        raise _bad(f"The specified base model {model!r} does not support fine-tuning.", "model") from None
    if model != entry.snapshot:  # snapshots only, as the shared service and Azure's samples name them
        raise _bad(f"The specified base model {model!r} does not support fine-tuning.", "model")
    kind = method.get("type") if isinstance(method, dict) else None
    kind = kind if isinstance(kind, str) else "supervised"
    if kind not in entry.methods:
        raise _bad(f"Fine-tuning method '{kind}' is not available for {entry.snapshot} on Azure OpenAI.",
                   "method.type")
    tier = azure.tiers[TIER_OF[training_type]]
    if entry.training.get(tier.training_key) is None:
        raise _bad(f"Training type {training_type} is not available for {entry.snapshot}.", "trainingType")
    if backend.config.lifecycle == "enforce":
        today = dt.datetime.fromtimestamp(backend.now(), dt.timezone.utc).date()
        until = entry.training_until(existing_customer=tenant.fine_tuned_before)
        if until is not None and today >= until:
            raise _bad(f"{entry.snapshot} no longer accepts new fine-tuning jobs on Azure OpenAI "
                       f"(since {until.isoformat()}).", "model")
    return entry


class TokenCounts(BaseModel):
    """Tokens served by a deployment: input (not cached), cached input, output."""

    input: int = 0
    cached_input: int = 0
    output: int = 0


class CostLine(BaseModel):
    """One line of an Azure account's bill."""

    kind: Literal["training", "grading", "hosting", "inference"]
    id: str  # the job id, or the deployment's name
    tier: str
    quantity: Decimal  # trained tokens, billed training hours, hosted hours, or tokens served or graded
    unit: Literal["tokens", "hours"]
    usd: Decimal
    capped: bool = False  # RFT: the charge stopped at the per-job cap
    tokens: Optional[TokenCounts] = None  # inference and grading: the split the rates apply to
    model: Optional[str] = None  # grading: the grader model


class AccountCost(BaseModel):
    lines: list[CostLine]
    total_usd: Decimal


_HOUR = Decimal(3600)
_MILLION = Decimal(1_000_000)
_USD = Decimal("0.0001")
_HOURS = Decimal("0.01")  # Azure bills RFT time "in hours rounded to two decimal places" (cost-management doc)


def billed_steps(rec: JobRecord) -> int:
    """The training steps a job is billed for (cost-management doc): all it trained once it succeeded or while it
    runs or is paused; a cancelled job the steps done before the cancellation ("charged for work completed");
    a failed job nothing for SFT/DPO ("not charged for failed jobs") and, for RFT, the steps up to its last
    checkpoint ("not billed for work lost due to a service error")."""
    plan, status = rec.plan, rec.job.status
    done = plan.steps_done or 0
    if status != "failed":
        return done
    if rec.job.method is None or rec.job.method.type != "reinforcement" or not plan.total_steps:
        return 0
    saved = set(plan.snapshots or ())
    return next((s for s in range(done, 0, -1)
                 if s in saved or is_eval_step(s, plan.total_steps, plan.eval_every or 1)), 0)


def billed_hours(rec: JobRecord) -> Decimal:
    """An hourly-billed (RFT) job's training time billed so far, unrounded: its billed steps at the plan's pace
    (queue, validation and paused time are not training time: a paused Developer job pays nothing)."""
    return Decimal(str(rec.plan.sec_per_step or 0)) * billed_steps(rec) / _HOUR


def report_billed_hours(adv: Any) -> None:
    """The jobs service's hook on every advance of a job: an Azure RFT job that stops moving (paused, or terminal)
    with more training hours billed than it last reported gets the event "Training hours billed: H" (reference §3;
    when Azure emits it is not documented: assumed at each stop, with the job's total so far, to 3 decimals)."""
    from ftsim.simulator.fine_tuning.lifecycle import ACTIVE

    rec = adv.record
    if rec.job.status in ACTIVE:
        return
    at = max((e["created_at"] for e in adv.events), default=rec.job.finished_at or rec.job.created_at)
    report_hours_at(rec, adv.events, at)


def report_hours_at(rec: JobRecord, events: list[dict[str, Any]], at: int) -> None:
    """Append "Training hours billed: H" at `at` to `events` when an Azure RFT job's billed hours grew since its
    last report (also called by a pause the job takes by itself, which may end within the same advance)."""
    from ftsim.simulator.core import dialect
    from ftsim.simulator.fine_tuning.lifecycle import make_event

    job, plan = rec.job, rec.plan
    if not dialect.is_azure_job_id(job.id) or job.method.type != "reinforcement" or not plan.total_steps:
        return
    hours = f"{billed_hours(rec):.3f}"
    if hours == (plan.hours_reported or "0.000"):
        return
    plan.hours_reported = hours
    events.append(make_event(rec, at, f"Training hours billed: {hours}"))


MODEL_GRADERS = ("score_model", "label_model")  # graders that call a model: their tokens are billed


def _grader_key(grader: Any) -> str | None:
    """The job's grader as hashable text, or None when none of its graders calls a model (nothing to bill)."""
    if not any(g["type"] in MODEL_GRADERS and isinstance(g["model"], str) for g in graders_of(grader)):
        return None
    return json.dumps(grader, sort_keys=True)


@functools.lru_cache(maxsize=64)  # a job's bill is asked again on every cost read; its plan does not change
def _grading_totals(seed: int, total: int, eval_every: int, sec_per_step: float,
                    grader: str) -> tuple[dict[str, TokenCounts], ...]:
    """Grader tokens by model summed over steps 1..s, for every s in 0..total (index s): the counts each step's
    metrics event reports (`model_graders_token_usage`, training and validation samples alike)."""
    parsed = json.loads(grader)
    running: dict[str, list[int]] = {}
    out: list[dict[str, TokenCounts]] = [{}]
    for step in range(1, total + 1):
        data = reward_metrics_at(seed, step, total, eval_every=eval_every, grader=parsed, sec_per_step=sec_per_step)
        for model, used in data["model_graders_token_usage"].items():
            acc = running.setdefault(model, [0, 0, 0])
            cached = used["train_cached_tokens"] + used["eval_cached_tokens"]
            acc[0] += used["train_prompt_tokens"] + used["eval_prompt_tokens"] - cached
            acc[1] += cached
            acc[2] += used["train_completion_tokens"] + used["eval_completion_tokens"]
        out.append({m: TokenCounts(input=a, cached_input=c, output=o) for m, (a, c, o) in running.items()})
    return tuple(out)


def grader_tokens(rec: JobRecord, steps: int) -> dict[str, TokenCounts]:
    """The tokens an RFT job's model graders used in its first `steps` training steps, by grader model."""
    plan = rec.plan
    key = _grader_key(rec.job.method.grader()) if rec.job.method.type == "reinforcement" else None
    if key is None or not plan.total_steps or steps <= 0:
        return {}
    totals = _grading_totals(plan.seed, plan.total_steps, plan.eval_every or 1, float(plan.sec_per_step or 0), key)
    return totals[min(steps, plan.total_steps)]


def grading_charge(model: str, tokens: TokenCounts, catalog: Any) -> Decimal | None:
    """Grader tokens at Azure's data-zone rates for the grader model (reference §2: "Grader tokens are billed at
    data-zone rates"), from the catalog's Azure graders; a grader model without an Azure price is priced at its
    OpenAI standard rate, as the planner does (`pricing/costs/estimate.py`); None when neither is known. Cached
    grader input is billed as input (assumed: no cached grader rate is published)."""
    found = azure_prices().grader(model)
    if found is not None and found.input is not None and found.output is not None:
        return (found.input * (tokens.input + tokens.cached_input) + found.output * tokens.output) / _MILLION
    if catalog is None:
        return None
    try:
        usage = GraderUsage(model=model, input_tokens=tokens.input + tokens.cached_input,
                            cached_input_tokens=tokens.cached_input, output_tokens=tokens.output)
        return grader_cost(usage, catalog).cost_usd
    except PricingError:
        return None


def _grading_usd(rec: JobRecord, steps: int, catalog: Any) -> tuple[Decimal, list[tuple[str, TokenCounts, Decimal]]]:
    """(total, [(model, tokens, usd)]) of the grading of the first `steps` steps (unpriced models left off)."""
    priced = []
    for model, tokens in sorted(grader_tokens(rec, steps).items()):
        usd = grading_charge(model, tokens, catalog)
        if usd is not None:
            priced.append((model, tokens, usd))
    return sum((usd for _, _, usd in priced), Decimal(0)), priced


def _hourly(rate: Decimal, rec: JobRecord, steps: int) -> tuple[Decimal, Decimal]:
    """(billed hours, their charge) of an hourly-billed job's first `steps` steps, hours rounded as Azure does."""
    # half up, as the planner's invoice hours (`ftsim.pricing.costs.rft`): the doc does not say how it rounds
    hours = (Decimal(str(rec.plan.sec_per_step or 0)) * steps / _HOUR).quantize(_HOURS, rounding=ROUND_HALF_UP)
    return hours, rate * hours


def _rft_rate(rec: JobRecord, training_type: str) -> Decimal | None:
    """An hourly-billed job's rate for its training type; None when it is billed per token or unpriced."""
    azure = azure_prices()
    try:
        entry = azure.resolve(rec.plan.snapshot)
    except UnknownModel:
        return None
    if entry.training_unit != "per_hour":
        return None
    return entry.training_price(TIER_OF[training_type], azure.tiers)


def plan_stops(backend: Any, tenant: Any, rec: JobRecord) -> None:
    """Plan the pauses an Azure job takes by itself (simulator/fine_tuning/stops.py), once its steps are planned:

    - RFT: `cap_step`, the first step whose billed cost (hours at the tier's rate plus grading, Microsoft's "total
      training costs (training + grading)") reaches the per-job cap, when that comes before the last step;
    - Developer tier: `preempt_per_hour`, the world's `developer_preemption` setting (0, the default: never).
    """
    from ftsim.simulator.core import dialect

    plan = rec.plan
    if not dialect.is_azure_job_id(rec.job.id) or not plan.total_steps:
        return
    training_type = training_type_of(backend, tenant, rec.job.id) or DEFAULT_TRAINING_TYPE
    rate = getattr(backend.config, "developer_preemption", 0.0)
    if training_type == "DeveloperTier" and rate and rate > 0:
        plan.preempt_per_hour = float(rate)
    hourly = _rft_rate(rec, training_type)
    if hourly is None:
        return
    cap = azure_prices().rft_job_cap_usd
    catalog = getattr(backend, "catalog", None)

    def cost(steps: int) -> Decimal:
        return _hourly(hourly, rec, steps)[1] + _grading_usd(rec, steps, catalog)[0]

    low, high = 1, plan.total_steps - 1  # the last step completes the job: no pause there
    if high < 1 or cost(high) < cap:
        return
    while low < high:  # the cost never falls as steps accrue: the first step at the cap by bisection
        mid = (low + high) // 2
        if cost(mid) >= cap:
            high = mid
        else:
            low = mid + 1
    plan.cap_step = low


def job_cost_lines(rec: JobRecord, training_type: str, catalog: Any = None) -> list[CostLine]:
    """What Azure charges for one job so far: its training line and (RFT with model graders) one grading line per
    grader model; nothing while nothing is billed (queue, validation, a failed SFT/DPO job, a job cancelled before
    training).

    RFT: billed hours (rounded to the hundredth) at the tier's hourly rate plus grading, the pair capped at the
    per-job cap (Microsoft: the cap counts "total training costs (training + grading)"; the grading line is shown
    in full and the training line stops where the pair reaches the cap). A job resumed past the step where it
    reached the cap (`plan.cap_step`) pays on "with no further price limits": the cap, plus everything after that
    step. Grading is shown as it accrues, step by step like the hours (Microsoft bills it "once training is
    complete"; the invoice's timing is not simulated).
    """
    azure = azure_prices()
    try:
        entry = azure.resolve(rec.plan.snapshot)
    except UnknownModel:  # a job the Azure door did not check (created in-process on a model Azure does not tune)
        return []
    tier = TIER_OF[training_type]
    rate = entry.training_price(tier, azure.tiers)
    steps, plan = billed_steps(rec), rec.plan
    if rate is None or steps <= 0 or not plan.total_steps:
        return []
    if entry.training_unit == "per_hour":
        cap = azure.rft_job_cap_usd
        hours, training = _hourly(rate, rec, steps)
        grading, graded = _grading_usd(rec, steps, catalog)
        lines = [CostLine(kind="grading", id=rec.job.id, tier="data_zone", model=model, unit="tokens", tokens=tokens,
                          quantity=Decimal(tokens.input + tokens.cached_input + tokens.output), usd=usd)
                 for model, tokens, usd in graded]
        if plan.cap_step is not None and steps > plan.cap_step:  # resumed past the cap: no further limit
            _, at_cap = _hourly(rate, rec, plan.cap_step)
            grading_at_cap, _ = _grading_usd(rec, plan.cap_step, catalog)
            charge = min(at_cap, cap - min(grading_at_cap, cap)) + (training - at_cap)
        else:
            charge = min(training, cap - min(grading, cap))
        capped = charge < training
        usd = charge.quantize(_USD, rounding=ROUND_DOWN if capped else ROUND_HALF_EVEN)  # never above the cap
        return [CostLine(kind="training", id=rec.job.id, tier=tier, quantity=hours, unit="hours", usd=usd,
                         capped=capped), *lines]
    if rec.job.status == "succeeded" and rec.job.trained_tokens:
        tokens = rec.job.trained_tokens
    else:  # the part of the job's tokens its billed steps trained (assumed: the docs price whole jobs only)
        per_epoch = plan.outcome.tokens_per_epoch if plan.outcome and plan.outcome.tokens_per_epoch else 0
        tokens = (plan.n_epochs or 0) * per_epoch * steps // plan.total_steps
    return [CostLine(kind="training", id=rec.job.id, tier=tier, quantity=Decimal(tokens), unit="tokens",
                     usd=(Decimal(tokens) * rate / _MILLION).quantize(_USD))]


def inference_charge(model: str, tier: str, tokens: TokenCounts) -> Decimal:
    """Tuned inference on a `tier` deployment at the base model's token rates (regional uplift from the catalog)."""
    azure = azure_prices()
    prices = azure.inference_prices(azure.resolve(model), tier)
    # exact (not rounded per call or per line: a call costs a fraction of a cent; Azure rounds its invoice)
    return (prices.input * tokens.input + prices.cached_input * tokens.cached_input
            + prices.output * tokens.output) / _MILLION


def account_cost(backend: Any, tenant: Any) -> AccountCost:
    """Training, hosting and inference as Azure bills them, from the catalog's Azure entries (the planner's source).

    Training and grading: see `job_cost_lines` (per 1M tokens, or RFT per billed hour plus grading, with the
    per-job cap). Hosting: every deployment's hours at the hosting rate (no fee on the Developer tier), prorated to
    the second from its creation to its deletion (assumed: Azure's meter is per hour). Inference: the tokens each deployment served, at its base
    model's rates for the deployment's tier.
    """
    from ftsim.simulator.inference.deployments import SKUS, Deployments

    azure = azure_prices()
    lines: list[CostLine] = []
    for _, row in backend.store.scan("job", tenant.key):
        rec = JobRecord.from_row(row)
        lines.extend(job_cost_lines(rec, training_type_of(backend, tenant, rec.job.id) or "Standard",
                                    backend.catalog))
    rate = azure.hosting_rate()
    deployments = Deployments(backend)
    for name, sku, start, end in deployments.hosting_periods(tenant):
        tier = SKUS[sku.lower()][1]
        hours = Decimal(max(0, end - start)) / _HOUR
        fee = rate if azure.tiers[tier].hosting else Decimal(0)
        lines.append(CostLine(kind="hosting", id=name, tier=tier, quantity=hours.quantize(_USD),
                              unit="hours", usd=(hours * fee).quantize(_USD)))
    for name, sku, base, tokens in deployments.usage(tenant):
        tier = SKUS[sku.lower()][1]
        try:
            usd = inference_charge(base, tier, tokens)
        except UnknownModel:  # likewise: a base model without Azure prices
            continue
        lines.append(CostLine(kind="inference", id=name, tier=tier, unit="tokens", tokens=tokens,
                              quantity=Decimal(tokens.input + tokens.cached_input + tokens.output),
                              usd=usd))
    return AccountCost(lines=lines, total_usd=sum((ln.usd for ln in lines), Decimal(0)))
