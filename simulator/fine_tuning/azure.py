"""Azure OpenAI's own checks of a new fine-tuning job, from the catalog's Azure entries (one source with the planner).

What Azure fine-tunes differs from OpenAI (reference §2): its models and methods, its training types (tiers) and
their prices, and its training dates (existing customers train until the announced date, others until the base
model retires). The shared job service applies OpenAI's own wind-down and dates to OpenAI organizations only.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Callable, Literal, Optional

from pydantic import BaseModel

from ftsim.pricing.catalog.providers import AzureModel, load_providers
from ftsim.pricing.errors import UnknownModel
from ftsim.simulator.core.errors import BadRequestError
from ftsim.simulator.fine_tuning.loss_curve import is_eval_step
from ftsim.simulator.fine_tuning.types import JobRecord

__all__ = ["TRAINING_TYPES", "TIER_OF", "TRAINING_KIND", "AZURE_TRAINING_TYPE_STATE", "canonical_training_type",
           "check_job", "training_type_writer", "training_type_of", "TokenCounts", "CostLine", "AccountCost", "account_cost",
           "billed_steps", "billed_hours", "training_line", "inference_charge", "report_billed_hours"]

TRAINING_KIND = "azure_training"  # store kind: an Azure job's training type, written with the job
AZURE_TRAINING_TYPE_STATE = "azure_training_type"  # ASGI scope["state"] key: the create request's training type

# Azure's training types by lowercase name (the docs write both `DeveloperTier` and `developerTier`).
TRAINING_TYPES = {"standard": "Standard", "globalstandard": "GlobalStandard", "developertier": "DeveloperTier"}
# The catalog tier each training type is priced at. Standard is regional; the region of a simulated account is not
# known, so US (assumed; Sweden is the other regional price in the catalog).
TIER_OF = {"Standard": "regional_us", "GlobalStandard": "global", "DeveloperTier": "developer"}


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
    azure = load_providers().azure
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

    kind: Literal["training", "hosting", "inference"]
    id: str  # the job id, or the deployment's name
    tier: str
    quantity: Decimal  # trained tokens, billed training hours, hosted hours, or tokens served
    unit: Literal["tokens", "hours"]
    usd: Decimal
    capped: bool = False  # RFT: the charge stopped at the per-job cap
    tokens: Optional[TokenCounts] = None  # inference: the split the rates apply to


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
    from ftsim.simulator.core import dialect
    from ftsim.simulator.fine_tuning.lifecycle import ACTIVE, make_event

    rec = adv.record
    job, plan = rec.job, rec.plan
    if not dialect.is_azure_job_id(job.id) or job.status in ACTIVE:
        return
    if job.method.type != "reinforcement" or not plan.total_steps:
        return
    hours = f"{billed_hours(rec):.3f}"
    if hours == (plan.hours_reported or "0.000"):
        return
    plan.hours_reported = hours
    at = max((e["created_at"] for e in adv.events), default=job.finished_at or job.created_at)
    adv.events.append(make_event(rec, at, f"Training hours billed: {hours}"))


def training_line(rec: JobRecord, training_type: str) -> CostLine | None:
    """What Azure charges for one job's training so far, from the catalog's Azure entry; None when nothing is
    billed (queue, validation, a failed SFT/DPO job, a job cancelled before training)."""
    azure = load_providers().azure
    try:
        entry = azure.resolve(rec.plan.snapshot)
    except UnknownModel:  # a job the Azure door did not check (created in-process on a model Azure does not tune)
        return None
    tier = TIER_OF[training_type]
    rate = entry.training_price(tier, azure.tiers)
    steps, plan = billed_steps(rec), rec.plan
    if rate is None or steps <= 0 or not plan.total_steps:
        return None
    if entry.training_unit == "per_hour":
        # billed time is training time only: steps run at the plan's pace (paused Developer jobs pay nothing)
        hours = billed_hours(rec).quantize(_HOURS)
        exact = rate * hours
        charge = azure.rft_charge(rate, hours)
        return CostLine(kind="training", id=rec.job.id, tier=tier, quantity=hours, unit="hours",
                        usd=charge.quantize(_USD), capped=charge < exact)
    if rec.job.status == "succeeded" and rec.job.trained_tokens:
        tokens = rec.job.trained_tokens
    else:  # the part of the job's tokens its billed steps trained (assumed: the docs price whole jobs only)
        per_epoch = plan.outcome.tokens_per_epoch if plan.outcome and plan.outcome.tokens_per_epoch else 0
        tokens = (plan.n_epochs or 0) * per_epoch * steps // plan.total_steps
    return CostLine(kind="training", id=rec.job.id, tier=tier, quantity=Decimal(tokens), unit="tokens",
                    usd=(Decimal(tokens) * rate / _MILLION).quantize(_USD))


def inference_charge(model: str, tier: str, tokens: TokenCounts) -> Decimal:
    """Tuned inference on a `tier` deployment at the base model's token rates (regional uplift from the catalog)."""
    azure = load_providers().azure
    prices = azure.inference_prices(azure.resolve(model), tier)
    # exact (not rounded per call or per line: a call costs a fraction of a cent; Azure rounds its invoice)
    return (prices.input * tokens.input + prices.cached_input * tokens.cached_input
            + prices.output * tokens.output) / _MILLION


def account_cost(backend: Any, tenant: Any) -> AccountCost:
    """Training, hosting and inference as Azure bills them, from the catalog's Azure entries (the planner's source).

    Training: see `training_line` (per 1M tokens, or RFT per billed hour with the per-job cap). Hosting: every
    deployment's hours at the hosting rate (no fee on the Developer tier), prorated to the second from its creation
    to its deletion (assumed: Azure's meter is per hour). Inference: the tokens each deployment served, at its base
    model's rates for the deployment's tier.
    """
    from ftsim.simulator.inference.deployments import SKUS, Deployments

    azure = load_providers().azure
    lines: list[CostLine] = []
    for _, row in backend.store.scan("job", tenant.key):
        rec = JobRecord.from_row(row)
        line = training_line(rec, training_type_of(backend, tenant, rec.job.id) or "Standard")
        if line is not None:
            lines.append(line)
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
