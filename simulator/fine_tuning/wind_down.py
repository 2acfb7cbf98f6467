"""OpenAI's wind-down of fine-tuning, per organization: may this organization create a job today?

The dates are the catalog's `wind_down` (source S12, OpenAI's deprecations page): from `never_fine_tuned_from`
an organization that never fine-tuned is refused; from `inactive_from` one without inference on a fine-tuned model
in the previous `inactive_days` days; from `everyone_from`, every organization. What the simulator knows of an
organization is its keys-file entry (`Tenant.fine_tuned_before`, `Tenant.last_fine_tuned_inference`) plus the
simulated world: a job of its that succeeded, and the last day it called a tuned model (`record_tuned_inference`).

Live answer (a public build log of 2026-05-31 and a public issue of 2026-05-26): HTTP 403, `invalid_request_error`,
code `training_not_available`, the message below. Only its first sentence is recorded; the second is ftsim's
choice, OpenAI's stated rule for existing fine-tunes (the deprecations page).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from ftsim.simulator.core.errors import PermissionDeniedError
from ftsim.simulator.core.tenancy import Tenant

if TYPE_CHECKING:
    from ftsim.simulator.core.backend import Backend

__all__ = ["MESSAGE", "blocked_reason", "training_not_available", "record_tuned_inference", "organization_state"]

MESSAGE = (
    "OpenAI is winding down the fine-tuning platform and your organization is no longer able to create new "
    "fine-tuning training jobs. Inference on fine-tuned models will continue to be available until the base models "
    "are deprecated."
)
_ACTIVITY = ("org_activity", "fine_tuning")  # store kind and id of an organization's world-made facts


def training_not_available() -> PermissionDeniedError:
    """The live 403 of `POST /v1/fine_tuning/jobs` for a blocked organization."""
    return PermissionDeniedError(MESSAGE, code="training_not_available")


def blocked_reason(wind_down: Any, today: dt.date, *, fine_tuned: bool, last_inference: dt.date | None,
                   active: bool) -> str | None:
    """Why an organization may not create jobs on `today` (None: it may). `active`: no date known, recent enough."""
    if wind_down is None:
        return None
    if today >= wind_down.everyone_from:
        return f"no organization can create fine-tuning jobs from {wind_down.everyone_from.isoformat()}"
    if today >= wind_down.never_fine_tuned_from and not fine_tuned:
        return (f"organizations that never ran fine-tuning cannot create jobs from "
                f"{wind_down.never_fine_tuned_from.isoformat()}")
    if today >= wind_down.inactive_from and not active:
        if last_inference is None or (today - last_inference).days > wind_down.inactive_days:
            seen = last_inference.isoformat() if last_inference else "never"
            return (f"organizations without inference on a fine-tuned model in the previous {wind_down.inactive_days} "
                    f"days cannot create jobs from {wind_down.inactive_from.isoformat()} (last: {seen})")
    return None


def organization_state(backend: "Backend", tenant: Tenant) -> tuple[bool, dt.date | None, bool]:
    """(fine-tuned before, last fine-tuned inference, active by default) from the tenant's options and the world."""
    store = backend.store
    active = tenant.fine_tuned_before and tenant.last_fine_tuned_inference is None
    if active:
        return True, None, True
    fine_tuned = tenant.fine_tuned_before or any(
        rec.get("status") == "succeeded" for _, rec in store.scan("job", tenant.key))
    activity = store.get(_ACTIVITY[0], tenant.key, _ACTIVITY[1]) or {}
    seen = activity.get("last_tuned_inference")
    dates = [d for d in (tenant.last_fine_tuned_inference, dt.date.fromisoformat(seen) if seen else None) if d]
    return fine_tuned, (max(dates) if dates else None), False


def record_tuned_inference(backend: "Backend", tenant: Tenant, today: dt.date) -> None:
    """Date the organization's last call to a fine-tuned model (one write a day at most)."""
    store = backend.store
    activity = store.get(_ACTIVITY[0], tenant.key, _ACTIVITY[1]) or {}
    if activity.get("last_tuned_inference") != today.isoformat():
        store.put(_ACTIVITY[0], tenant.key, _ACTIVITY[1], {**activity, "last_tuned_inference": today.isoformat()})
