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

__all__ = ["TRAINING_TYPES", "TIER_OF", "TRAINING_KIND", "AZURE_TRAINING_TYPE_STATE", "canonical_training_type",
           "check_job", "training_type_writer", "training_type_of", "CostLine", "AccountCost", "account_cost"]

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


class CostLine(BaseModel):
    """One line of an Azure account's bill."""

    kind: Literal["training", "hosting"]
    id: str  # the job id, or the deployment's name
    tier: str
    quantity: Decimal  # trained tokens, or hosted hours
    unit: Literal["tokens", "hours"]
    usd: Optional[Decimal]  # None: not priced by the simulator (RFT hours)


class AccountCost(BaseModel):
    lines: list[CostLine]
    total_usd: Decimal


_HOUR = Decimal(3600)
_MILLION = Decimal(1_000_000)


def account_cost(backend: Any, tenant: Any) -> AccountCost:
    """Training and hosting as Azure bills them, from the catalog's Azure entries (the planner's source).

    Training: succeeded jobs' trained tokens at their training type's price (no charge for failed jobs or jobs
    cancelled before training: their trained_tokens is empty). RFT bills by the hour, which the simulator does not
    price yet (its line has no amount). Hosting: every deployment's hours at the hosting rate (no fee on the
    Developer tier), prorated to the second from its creation to its deletion (assumed: Azure's meter is per hour).
    """
    from ftsim.simulator.inference.deployments import SKUS, Deployments

    azure = load_providers().azure
    lines: list[CostLine] = []
    for _, job in backend.store.scan("job", tenant.key):
        tokens = job.get("trained_tokens")
        if job.get("status") != "succeeded" or not tokens:
            continue
        rec = backend.store.get(TRAINING_KIND, tenant.key, job["id"])
        training_type = rec["training_type"] if rec else "Standard"
        tier = TIER_OF[training_type]
        entry = azure.resolve(job["model"])
        price = entry.training_price(tier, azure.tiers)
        per_token = entry.training_unit == "per_1m_tokens" and price is not None
        lines.append(CostLine(kind="training", id=job["id"], tier=tier, quantity=Decimal(tokens), unit="tokens",
                              usd=(Decimal(tokens) * price / _MILLION).quantize(Decimal("0.0001"))
                              if per_token and price is not None else None))
    rate = azure.hosting_rate()
    for name, sku, start, end in Deployments(backend).hosting_periods(tenant):
        tier = SKUS[sku.lower()][1]
        hours = Decimal(max(0, end - start)) / _HOUR
        fee = rate if azure.tiers[tier].hosting else Decimal(0)
        lines.append(CostLine(kind="hosting", id=name, tier=tier, quantity=hours.quantize(Decimal("0.0001")),
                              unit="hours", usd=(hours * fee).quantize(Decimal("0.0001"))))
    return AccountCost(lines=lines, total_usd=sum((ln.usd or Decimal(0) for ln in lines), Decimal(0)))
