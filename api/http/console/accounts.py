"""The console's two dialects: one key's OpenAI organization and its Azure OpenAI account, shown by the same pages.

An Azure account is a tenant of its own (simulator/core/tenancy.py `azure_tenant`); the jobs, files and models
pages read it through the same services as an organization. What differs is only how Azure shows it:

- statuses and event levels as the Azure door answers them (api/http/azure.py `azure_success`: `pending` for a
  job not yet running, `warning` events), so the console and `AzureOpenAI` agree;
- tuned models named `<base>.ft-<hex>` (simulator/core/dialect.py);
- the cost: Azure's bill for the job (simulator/fine_tuning/azure.py `job_cost_lines`, the lines `/_sim/azure/cost`
  sums), not the planner's OpenAI estimate.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Optional, get_args

from pydantic import BaseModel

from ftsim.api.http.azure import azure_success
from ftsim.pricing.catalog.providers import load_providers
from ftsim.pricing.errors import UnknownModel
from ftsim.simulator.core.dialect import is_azure
from ftsim.simulator.core.tenancy import Tenant
from ftsim.simulator.fine_tuning.azure import DEFAULT_TRAINING_TYPE, CostLine, job_cost_lines, training_type_of
from ftsim.simulator.fine_tuning.lifecycle import ACTIVE
from ftsim.simulator.fine_tuning.types import JobStatus

__all__ = ["STATUSES", "statuses", "shown", "is_tuned_model", "JobBill", "job_bill", "DEFAULT_TRAINING_TYPE"]

STATUSES = list(get_args(JobStatus))
_AZURE_MODEL = re.compile(r".+\.ft-[0-9a-f]{32}(-.*)?(:ckpt-step-\d+)?")


def shown(obj: dict[str, Any], tenant: Tenant) -> dict[str, Any]:
    """A job or event (JSON form) as the tenant's door answers it: Azure's statuses and levels for an account."""
    return azure_success(dict(obj)) if is_azure(tenant) else obj


def statuses(tenant: Tenant) -> list[str]:
    """The job statuses the tenant's door answers, in lifecycle order (Azure folds the first two into `pending`)."""
    if not is_azure(tenant):
        return list(STATUSES)
    out: list[str] = []
    for status in STATUSES:
        name = shown({"object": "fine_tuning.job", "status": status}, tenant)["status"]
        if name not in out:
            out.append(name)
    return out


def is_tuned_model(model_id: str, tenant: Tenant) -> bool:
    """Whether a listed model is one of the tenant's tuned (or checkpoint) models, by the dialect's naming."""
    return _AZURE_MODEL.fullmatch(model_id) is not None if is_azure(tenant) else model_id.startswith("ft:")


class JobBill(BaseModel):
    """What Azure charges for one job: its lines so far and, while it trains, the bill once every step is trained."""

    training_type: str
    lines: list[CostLine]
    total_usd: Decimal
    projected_usd: Optional[Decimal] = None


def job_bill(backend: Any, tenant: Tenant, job_id: str) -> JobBill | None:
    """The Azure bill of an account's job, or None when Azure publishes no price for its model (the caller falls
    back to the planner's estimate, labelled as such)."""
    rec = backend.jobs.record(tenant.key, job_id)
    if rec is None:
        return None
    try:
        load_providers().azure.resolve(rec.plan.snapshot)
    except UnknownModel:
        return None
    training_type = training_type_of(backend, tenant, job_id) or DEFAULT_TRAINING_TYPE
    lines = job_cost_lines(rec, training_type, backend.catalog)
    projected = None
    if rec.job.status in ACTIVE and rec.plan.total_steps:
        whole = rec.model_copy(deep=True)
        whole.plan.steps_done = rec.plan.total_steps
        # An RFT job pauses by itself at the per-job cap (`plan.cap_step`); the projection stops there too (a job
        # resumed past the cap pays on, which no projection can know).
        whole.plan.cap_step = None
        projected = sum((ln.usd for ln in job_cost_lines(whole, training_type, backend.catalog)), Decimal(0))
    return JobBill(training_type=training_type, lines=lines,
                   total_usd=sum((ln.usd for ln in lines), Decimal(0)), projected_usd=projected)
