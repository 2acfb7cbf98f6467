"""/v1/models: the fine-tunable base snapshots of the catalog plus the tenant's tuned models.

Tuned models are documents of kind "model" (tenant key) written by the jobs service when a job succeeds, one for
the final model and one per checkpoint: `{id, object, created, owned_by, ...extra}`; only the four public fields
(and `shutdown_date` when present) leave the server. Checkpoint models are listed too (UNCONFIRMED live).

Base models carry `owned_by: "system"`; their `created` is the date in the snapshot name (e.g. `-2024-07-18`),
else a known live value or the catalog's effective date, and `shutdown_date` is the catalog's `inference_until`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Optional

from pydantic import BaseModel

from ftsim.pricing.catalog.catalog import ModelEntry
from ftsim.simulator.core.dialect import is_azure
from ftsim.simulator.core.errors import NotFoundError, PermissionDeniedError
from ftsim.simulator.core.tenancy import Tenant

if TYPE_CHECKING:
    from ftsim.simulator.core.backend import Backend

__all__ = ["Model", "ModelDeleted", "Models", "ResolvedModel", "model_not_found", "model_object_not_found"]

_DATE = re.compile(r"-(\d{4})-(\d{2})-(\d{2})$")
_SHORT_DATE = re.compile(r"-(\d{2})(\d{2})$")  # gpt-3.5-turbo-0613: month and day of 2023/2024
# Live `created` of base models whose names carry no date (GET /v1/models, 2023 releases).
KNOWN_CREATED = {"davinci-002": 1692634301, "babbage-002": 1692634615}
MISSING_SCOPE = "You have insufficient permissions for this operation. Missing scopes: api.delete"


class Model(BaseModel):
    """OpenAI's Model object."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    shutdown_date: Optional[str] = None


class ModelDeleted(BaseModel):
    """Answer to DELETE /v1/models/{model}."""

    id: str
    object: Literal["model"] = "model"
    deleted: bool = True


@dataclass(frozen=True)
class ResolvedModel:
    """A model that inference may call: its name, its base catalog entry, and its tuned record if any."""

    id: str
    entry: ModelEntry
    record: Optional[dict[str, Any]] = None

    @property
    def tuned(self) -> bool:
        """True for a tuned (or checkpoint) model."""
        return self.record is not None

    @property
    def training_file(self) -> Optional[str]:
        """The training file id a tuned model learned from (None for a base model)."""
        return (self.record or {}).get("training_file")


def model_not_found(model: str) -> NotFoundError:
    """The live 404 for an unknown, deleted or foreign model."""
    return NotFoundError(
        f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found"
    )


def model_object_not_found(model: str) -> NotFoundError:
    """The live 404 of `GET` and `DELETE /v1/models/{model}` for an unknown, deleted or foreign model."""
    return NotFoundError(f"The model '{model}' does not exist", param="model", code="model_not_found")


def _epoch(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp())


def base_created(entry: ModelEntry, fallback: dt.date) -> int:
    """A base snapshot's `created`: the live value or the date in its name, else `fallback`."""
    if entry.snapshot in KNOWN_CREATED:
        return KNOWN_CREATED[entry.snapshot]
    match = _DATE.search(entry.snapshot)
    if match:
        return _epoch(dt.date(int(match[1]), int(match[2]), int(match[3])))
    match = _SHORT_DATE.search(entry.snapshot)
    if match and 1 <= int(match[1]) <= 12 and 1 <= int(match[2]) <= 31:
        year = 2024 if int(match[1]) < 6 else 2023
        try:
            return _epoch(dt.date(year, int(match[1]), int(match[2])))
        except ValueError:
            pass
    return _epoch(fallback)


def _created(record: dict[str, Any]) -> int:
    created = record.get("created")
    return created if isinstance(created, int) else 0


def _public(record: dict[str, Any]) -> Model:
    return Model.model_validate({k: record[k] for k in Model.model_fields if k in record})


class Models:
    """The models service."""

    def __init__(self, backend: "Backend") -> None:
        self.backend = backend

    def base_model(self, entry: ModelEntry) -> Model:
        """The Model object of a base snapshot."""
        shutdown = entry.inference_until.isoformat() if entry.inference_until else None
        created = base_created(entry, self.backend.catalog.effective_date)
        return Model(id=entry.snapshot, created=created, owned_by="system", shutdown_date=shutdown)

    def list(self, tenant: Tenant) -> dict:
        """`{"object":"list","data":[...]}`: base snapshots first, then the tenant's tuned models (no has_more)."""
        data = [self.base_model(e).model_dump(mode="json", exclude_none=True) for e in self.backend.catalog.fine_tunable()]
        # Tuned models by creation time, then insertion (a stable sort): the catch-up writes several jobs' models in
        # the order of the jobs' keys within one clock step, so insertion alone would depend on how the clock moved.
        tuned = [record for _, record in self.backend.store.scan("model", tenant.key)]
        tuned.sort(key=_created)
        for record in tuned:
            data.append(_public(record).model_dump(mode="json", exclude_none=True))
        return {"object": "list", "data": data}

    def get(self, tenant: Tenant, model: str) -> Model:
        """One model: a base snapshot or alias of the catalog, or one of the tenant's tuned models."""
        record = self.backend.store.get("model", tenant.key, model)
        if record is not None:
            return _public(record)
        entry = self.backend.catalog.get(model)
        if entry is not None and not model.startswith("ft:"):
            found = self.base_model(entry)
            return found.model_copy(update={"id": model})
        raise model_object_not_found(model)

    def delete(self, tenant: Tenant, model: str) -> ModelDeleted:
        """Delete one of the tenant's tuned models (403 for a base model, 404 for unknown or foreign)."""
        with self.backend.lock, self.backend.store.transaction():
            if self.backend.store.delete("model", tenant.key, model):
                return ModelDeleted(id=model)
        entry = self.backend.catalog.get(model)
        if entry is not None and not model.startswith("ft:"):
            raise PermissionDeniedError(MISSING_SCOPE)
        raise model_object_not_found(model)

    def resolve_for_inference(self, tenant: Tenant, model: str) -> ResolvedModel:
        """The callable model named `model` (404 `model_not_found` for unknown, deleted or foreign)."""
        if not isinstance(model, str) or not model:
            raise model_not_found(str(model))
        record = self.backend.store.get("model", tenant.key, model)
        entry = self.backend.catalog.get(model)
        if entry is None and record is not None:
            base = record.get("base_model") or record.get("model") or record.get("snapshot")
            entry = self.backend.catalog.get(base) if isinstance(base, str) else None
        if entry is None or (record is None and model.startswith("ft:")):
            raise model_not_found(model)
        today = dt.datetime.fromtimestamp(self.backend.now(), dt.timezone.utc).date()
        if is_azure(tenant):  # OpenAI's retirement dates and wind-down are not Azure's: an Azure account's tuned
            # models serve while their deployment does (simulator/inference/deployments.py retires those)
            return ResolvedModel(id=model, entry=entry, record=record)
        if self.backend.config.lifecycle == "enforce":
            if not entry.inference_open(today):
                raise model_not_found(model)
        return ResolvedModel(id=model, entry=entry, record=record)

    def answered(self, tenant: Tenant, model: ResolvedModel) -> None:
        """Note a call `model` answered: the wind-down counts an organization's calls to its fine-tuned models.

        Called once the answer is built, never for a request refused on the way (a bad knob, a bad message):
        OpenAI's notice speaks of inference on fine-tuned models, and a refused request is neither served nor
        billed, so it is assumed not to count (the sources do not say)."""
        if model.record is None or is_azure(tenant):  # Azure's tuned models serve while deployed: no wind-down
            return
        from ftsim.simulator.fine_tuning.wind_down import record_tuned_inference

        today = dt.datetime.fromtimestamp(self.backend.now(), dt.timezone.utc).date()
        record_tuned_inference(self.backend, tenant, today)
