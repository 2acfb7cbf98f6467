"""Dialects: how one simulated world names things for an OpenAI organization and for an Azure OpenAI account.

An Azure account is a tenant like any other (same store, clock, services, isolation); only its names differ
(reference §3): jobs `ftjob-`, files `file-`, events `ftevent-` and checkpoints `ftchkpt-`, each followed by 32
lowercase hex digits, and tuned models `<base>.ft-<the job's hex>[-suffix]`.

A tenant is an Azure account when its organization id starts with `AZURE_ORG_PREFIX` (so that a tenant rebuilt
from a stored job keeps its dialect). Everything a job derives (events, checkpoints, model names) follows its
job id: an Azure job id is the only `ftjob-` id of 32 hex digits (OpenAI's are 24 base62 characters), so these
functions need no tenant and the services need only one hook each where an id is minted.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from ftsim.simulator.core.ids import base62

__all__ = [
    "AZURE_ORG_PREFIX",
    "is_azure",
    "is_azure_job_id",
    "new_job_id",
    "new_file_id",
    "result_file_id",
    "event_id",
    "checkpoint_id",
    "model_name",
    "checkpoint_name",
]

AZURE_ORG_PREFIX = "azure-"
_AZURE_JOB = re.compile(r"ftjob-([0-9a-f]{32})")
HEX_LENGTH = 32


def is_azure(tenant: Any) -> bool:
    """Whether `tenant` (a Tenant) is an Azure OpenAI account."""
    return str(getattr(tenant, "org_id", "")).startswith(AZURE_ORG_PREFIX)


def is_azure_job_id(job_id: str) -> bool:
    """Whether a job id has Azure's form (`ftjob-` + 32 hex)."""
    return _AZURE_JOB.fullmatch(job_id) is not None


def new_job_id(backend: Any, tenant: Any) -> str:
    """A new seeded job id in `tenant`'s form (`Backend.new_id`: its counter persisted with the caller's write)."""
    if is_azure(tenant):
        return backend.new_id("ftjob-", HEX_LENGTH, hex=True, tenant=tenant.key)
    return backend.new_id("ftjob-", tenant=tenant.key)


def new_file_id(backend: Any, tenant: Any) -> str:
    """A new seeded file id in `tenant`'s form."""
    if is_azure(tenant):
        return backend.new_id("file-", HEX_LENGTH, hex=True, tenant=tenant.key)
    return backend.new_id("file-", 22, tenant=tenant.key)


def result_file_id(job_id: str) -> str:
    """The id of a job's results file (`step_metrics.csv`), derived from the job id in its dialect's form.

    Not numbered by the tenant's counter: the catch-up writes results files in whichever order it reaches the
    jobs, and that order depends on how the clock was advanced (one big step or many small ones)."""
    if is_azure_job_id(job_id):
        return "file-" + _hex(job_id, "result-file")
    return "file-" + base62(hashlib.sha256(f"{job_id}:result-file".encode()).digest(), 22)


def _hex(job_id: str, label: str) -> str:
    return hashlib.sha256(f"{job_id}:{label}".encode()).hexdigest()[:HEX_LENGTH]


def event_id(job_id: str, seq: int) -> str | None:
    """The Azure id of a job's `seq`-th event, or None for an OpenAI job (the caller keeps its own form)."""
    return "ftevent-" + _hex(job_id, f"event:{seq}") if is_azure_job_id(job_id) else None


def checkpoint_id(job_id: str, step: int) -> str | None:
    """The Azure id of a job's checkpoint at `step`, or None for an OpenAI job."""
    return "ftchkpt-" + _hex(job_id, f"ckpt:{step}") if is_azure_job_id(job_id) else None


def model_name(snapshot: str, suffix: str | None, job_id: str) -> str | None:
    """`<snapshot>.ft-<the job's hex>[-suffix]` for an Azure job (reference §3), or None for an OpenAI job."""
    match = _AZURE_JOB.fullmatch(job_id)
    if match is None:
        return None
    return f"{snapshot}.ft-{match.group(1)}" + (f"-{suffix}" if suffix else "")


def checkpoint_name(snapshot: str, suffix: str | None, job_id: str, step: int) -> str | None:
    """An Azure job's non-final checkpoint: the model name then `:ckpt-step-N` (Azure's documented samples name
    checkpoints this way; the exact form for a suffixed model is an assumption), or None for an OpenAI job."""
    base = model_name(snapshot, suffix, job_id)
    return None if base is None else f"{base}:ckpt-step-{step}"
