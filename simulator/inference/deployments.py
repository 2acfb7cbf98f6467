"""Azure OpenAI deployments of tuned models: the management plane's state, on the simulated clock.

A deployment names one of the account's tuned models (or checkpoints) and serves it under its own name. Its life,
as Azure runs it (reference §2): `Creating` then `Succeeded` after a provisioning delay; a Developer-tier deployment
is deleted 24 hours after it was created; any deployment is deleted after 15 days without a call (the model is
kept). A PUT that changes a deployment's SKU or model starts a new period, billed at its own SKU (the hours before
stay billed at the old one). Expiry is applied when a deployment is read (the clock only moves forward, so a read
is never early).

Shapes are those of Microsoft's REST reference for `Deployments - Create Or Update / Get / Delete / List`
(Microsoft.CognitiveServices): `{id, type, name, sku: {name, capacity}, properties: {model: {format, name,
version}, provisioningState, ...}}`.
"""

from __future__ import annotations

import builtins
import datetime as dt
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from ftsim.simulator.core.errors import SimulatorError

__all__ = ["Deployments", "Deployment", "DeploymentRequest", "DeploymentError", "SKUS", "PROVISION_SECONDS"]

KIND = "azure_deployment"
LEDGER = "azure_hosting"  # ended deployments: (sku, start, end), kept for the account's hosting cost
USAGE = "azure_usage"  # tokens each deployment served (by name@since): its base model, SKU and token counts
# Provisioning a fine-tuned deployment takes minutes on Azure; the exact delay is not documented (assumed 10 min).
PROVISION_SECONDS = 600
DEVELOPER_LIFETIME = 24 * 3600
INACTIVE_LIMIT = 15 * 86400
# Deployment SKUs of fine-tuned models, by lowercase name -> (canonical name, catalog tier). Developer's SKU name
# is written `DeveloperTier` in Microsoft's samples (assumed case-insensitive, like the training types).
SKUS = {
    "standard": ("Standard", "regional_us"),
    "globalstandard": ("GlobalStandard", "global"),
    "datazonestandard": ("DataZoneStandard", "data_zone"),
    "developertier": ("DeveloperTier", "developer"),
}


class DeploymentError(SimulatorError):
    """An ARM error: `{"error": {"code", "message"}}` with an ARM code (`body_arm`)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.status_code = status

    def body_arm(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


# The PUT body's fields Microsoft's schema (fixtures/azure/deployments.arm-2024-10-01.json) lets a caller write,
# typed as it types them: what is kept is echoed in every later answer, so a value of the wrong type would make each
# of them break that schema. Unknown and read-only fields are dropped, not refused (assumed: ARM ignores read-only
# properties in a PUT; the sources do not say what it does with unknown ones).
_INT32_MAX = 2**31 - 1
_UPGRADE_OPTIONS = Literal["OnceNewDefaultVersionAvailable", "OnceCurrentVersionExpired", "NoAutoUpgrade"]


class Sku(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    name: str
    # capacity: a count of the SKU's units (int32 in the schema); at least 1 (assumed: ARM refuses a deployment of
    # no capacity, and the sources give no fine-tuned SKU's maximum)
    capacity: Optional[Annotated[int, Field(ge=1, le=_INT32_MAX)]] = None
    tier: Optional[Literal["Free", "Basic", "Standard", "Premium", "Enterprise"]] = None
    size: Optional[str] = None
    family: Optional[str] = None


class DeploymentModel(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    format: str = "OpenAI"
    name: str
    version: Optional[str] = None


class DeploymentProperties(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    model: DeploymentModel
    provisioningState: Optional[str] = None  # read-only: set by the answer, never taken from a body
    raiPolicyName: Optional[str] = None
    versionUpgradeOption: Optional[_UPGRADE_OPTIONS] = None


class DeploymentRequest(BaseModel):
    """The PUT body."""

    model_config = ConfigDict(extra="ignore", strict=True)

    sku: Sku
    properties: DeploymentProperties


class Deployment(BaseModel):
    """A deployment as ARM answers it."""

    id: str
    type: str = "Microsoft.CognitiveServices/accounts/deployments"
    name: str
    sku: Sku
    properties: DeploymentProperties
    system_data: dict[str, Any] = Field(default_factory=dict, alias="systemData")

    model_config = ConfigDict(populate_by_name=True)


def _key(name: str) -> str:
    """The store key of deployment `name`. ARM resource names are case-insensitive unless Microsoft's naming rules
    say otherwise for the type ("Resource and resource group names are case-insensitive unless specifically noted
    in the Valid Characters column ... Always perform a case-insensitive comparison of names": learn.microsoft.com
    /azure/azure-resource-manager/management/resource-name-rules), and they say nothing of accounts/deployments:
    `Support` and `support` are one deployment, on both planes. Its name is kept as first written. (Which case
    folding ARM applies beyond ASCII is not documented: `str.lower` is assumed.)"""
    return name.lower()


def _iso(seconds: int) -> str:
    """ARM's `date-time` (ISO 8601, UTC), as Microsoft's `systemData` schema types `createdAt` / `lastModifiedAt`."""
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Deployments:
    """The account's deployments (a tenant's, in the store), read and written on the simulated clock."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def _live(self, tenant: Any, name: str, now: int) -> dict | None:
        """The stored record, or None (and deleted) once expired. Call inside the transaction that writes what it
        decides from the record: read outside it, a PUT committed in between by another request would be lost
        (overwritten by the stale record, or deleted as if it were the expired one)."""
        rec = self.backend.store.get(KIND, tenant.key, _key(name))
        if rec is None and _key(name) != name:  # stored by a version that kept the name's case: moved to its key
            rec = self.backend.store.get(KIND, tenant.key, name)
            if rec is not None:
                self.backend.store.delete(KIND, tenant.key, name)
                self.backend.store.put(KIND, tenant.key, _key(name), rec)
        if rec is None:
            return None
        end = self._expiry(tenant, rec)
        if now >= end:
            self._end(tenant, rec, end)
            return None
        return rec

    @staticmethod
    def _since(rec: dict) -> int:
        """When the deployment's current period began: its creation, or the last PUT that changed its SKU or model
        (each period is billed at its own SKU, and a Developer deployment's 24 hours count from its start)."""
        return rec.get("since", rec["created"])

    @staticmethod
    def _ready(rec: dict) -> int:
        """When the deployment serves: `PROVISION_SECONDS` after its creation or its last change of model."""
        return rec.get("ready", rec["created"] + PROVISION_SECONDS)

    def _expiry(self, tenant: Any, rec: dict) -> int:
        """When the deployment is deleted if nothing happens: 15 days after its last call, or (Developer) 24 h
        after it became a Developer deployment (its creation, or the PUT that moved it to that SKU: assumed, the
        sources only speak of deployments created on it), or (lifecycle `enforce`) when its model's fine-tuned
        deployments retire on Azure."""
        end = rec["last_used"] + INACTIVE_LIMIT
        if rec["sku"]["name"] == "DeveloperTier":
            end = min(end, Deployments._since(rec) + DEVELOPER_LIFETIME)
        retires = self._retires(tenant, rec["properties"]["model"]["name"])
        return end if retires is None else min(end, max(retires, self._since(rec)))

    def _retires(self, tenant: Any, model: str) -> int | None:
        """With lifecycle `enforce`: when Azure retires fine-tuned deployments of `model`'s base (reference §2,
        the catalog's `deployment_until`, at 00:00 UTC that day), or None (no date known, or not enforced).

        Assumed where Microsoft's retirement notices are silent: a retired deployment is gone (deleted, its
        hosting billed up to that instant), like an expired one; the tuned model itself is kept."""
        if self.backend.config.lifecycle != "enforce":
            return None
        from ftsim.pricing.errors import UnknownModel
        from ftsim.simulator.fine_tuning.azure import azure_prices

        tuned = self.backend.store.get("model", tenant.key, model)
        base = tuned.get("base_model") if isinstance(tuned, dict) else None
        if not isinstance(base, str):
            return None
        try:
            until = azure_prices().resolve(base).deployment_until
        except UnknownModel:
            return None
        if until is None:
            return None
        return int(dt.datetime(until.year, until.month, until.day, tzinfo=dt.timezone.utc).timestamp())

    def _close_period(self, tenant: Any, rec: dict, end: int) -> None:
        """Keep the hosting of the deployment's current period (its SKU, from `_since` to `end`) in the ledger."""
        since = self._since(rec)
        self.backend.store.put(LEDGER, tenant.key, f"{rec['name']}@{since}", {
            "name": rec["name"], "sku": rec["sku"]["name"], "start": since, "end": end})

    def _end(self, tenant: Any, rec: dict, end: int) -> None:
        """Delete the deployment, its hosting up to `end` kept in the ledger (one transaction)."""
        with self.backend.lock, self.backend.store.transaction():
            self._close_period(tenant, rec, end)
            self.backend.store.delete(KIND, tenant.key, _key(rec["name"]))

    def hosting_periods(self, tenant: Any) -> list[tuple[str, str, int, int]]:
        """(deployment, sku, start, end) of every deployment the account had, live ones up to now.

        A period starts at the PUT, so the minutes a deployment spends `Creating` are billed. Assumed: Microsoft's
        pages say only that deploying a fine-tuned model "incurs an hourly hosting charge" whether or not it is
        called (fine-tuning-deploy, manage-costs), not whether the charge starts at the PUT or at `Succeeded`."""
        now = self.backend.sync(tenant)
        self.list(tenant)  # applies any expiry that is due
        ended = [(r["name"], r["sku"], r["start"], r["end"]) for _, r in self.backend.store.scan(LEDGER, tenant.key)]
        live = [(r["name"], r["sku"]["name"], self._since(r), now)
                for _, r in self.backend.store.scan(KIND, tenant.key)]
        return ended + live

    @staticmethod
    def _view(rec: dict, now: int) -> Deployment:
        state = "Succeeded" if now >= Deployments._ready(rec) else "Creating"
        props = {**rec["properties"], "provisioningState": state}
        return Deployment(id=rec["id"], name=rec["name"], sku=Sku(**rec["sku"]),
                          properties=DeploymentProperties(**props),
                          systemData={"createdAt": _iso(rec["created"]), "lastModifiedAt": _iso(rec["modified"])})

    def put(self, tenant: Any, *, resource_id: str, name: str, body: DeploymentRequest) -> tuple[Deployment, bool]:
        """Create or update; (the deployment, whether it is new). Only the account's tuned models deploy."""
        sku = SKUS.get(body.sku.name.lower())
        if sku is None:
            raise DeploymentError(400, "InvalidResourceProperties",
                                  f"The specified SKU '{body.sku.name}' for model deployment is not supported.")
        model = body.properties.model.name
        if body.properties.model.format.lower() != "openai":  # tuned models are of format OpenAI (code assumed)
            raise DeploymentError(400, "DeploymentModelNotSupported",
                                  f"The model format '{body.properties.model.format}' is not supported: a fine-tuned "
                                  "model's format is 'OpenAI'.")
        now = self.backend.sync(tenant)
        with self.backend.lock, self.backend.store.transaction():
            if self.backend.store.get("model", tenant.key, model) is None:
                raise DeploymentError(400, "DeploymentModelNotSupported",
                                      f"The model '{model}' is not a fine-tuned model or checkpoint of this account.")
            retires = self._retires(tenant, model)
            if retires is not None and now >= retires:  # ARM's code for a retired model (assumed: ARM's own code
                # for deploying a deprecated base model)
                raise DeploymentError(400, "ServiceModelDeprecated",
                                      f"The model '{model}' can no longer be deployed: fine-tuned deployments of its "
                                      f"base model retired on {_iso(retires)[:10]}.")
            return self._put(tenant, resource_id, name, body, sku, model, now)

    def _put(self, tenant: Any, resource_id: str, name: str, body: DeploymentRequest, sku: tuple[str, str],
             model: str, now: int) -> tuple[Deployment, bool]:
        old = self._live(tenant, name, now)
        if old is not None and old["name"] != name:  # the same deployment named in another case: its name is kept
            if resource_id.endswith("/" + name):
                resource_id = resource_id[:len(resource_id) - len(name)] + old["name"]
            name = old["name"]
        rec = {
            "id": resource_id, "name": name,
            "sku": {**body.sku.model_dump(exclude_none=True), "name": sku[0]},
            "properties": {**body.properties.model_dump(exclude_none=True, exclude={"provisioningState"})},
            "created": old["created"] if old else now, "modified": now,
            "last_used": old["last_used"] if old else now,
            "since": self._since(old) if old else now, "ready": self._ready(old) if old else now + PROVISION_SECONDS,
        }
        new_model = old is not None and old["properties"]["model"]["name"] != model
        if old is not None and (new_model or old["sku"]["name"] != sku[0]):
            # the hours so far are billed at the old SKU; the new one's period starts now
            self._close_period(tenant, old, now)
            rec["since"] = now
        if new_model:
            rec["ready"] = now + PROVISION_SECONDS  # a new model provisions again (assumed)
        self.backend.store.put(KIND, tenant.key, _key(name), rec)
        return self._view(rec, now), old is None

    def get(self, tenant: Any, name: str) -> Deployment:
        now = self.backend.sync(tenant)
        with self.backend.lock, self.backend.store.transaction():
            rec = self._live(tenant, name, now)
        if rec is None:
            raise DeploymentError(404, "DeploymentNotFound", f"Deployment '{name}' not found.")
        return self._view(rec, now)

    def list(self, tenant: Any) -> list[Deployment]:
        now = self.backend.sync(tenant)
        with self.backend.lock, self.backend.store.transaction():
            names = [rec["name"] for _, rec in self.backend.store.scan(KIND, tenant.key)]
            live = [self._live(tenant, n, now) for n in names]
        return [self._view(r, now) for r in live if r is not None]

    def delete(self, tenant: Any, name: str) -> bool:
        """Whether a deployment was deleted (ARM answers 204 when there was none)."""
        now = self.backend.sync(tenant)
        with self.backend.lock, self.backend.store.transaction():
            rec = self._live(tenant, name, now)
            if rec is None:
                return False
            self._end(tenant, rec, now)
        return True

    def record_usage(self, tenant: Any, name: str, usage: Any) -> None:
        """Add one answered call's `usage` (the chat completion's) to what deployment `name` served."""
        if not isinstance(usage, dict):
            return
        details = usage.get("prompt_tokens_details") or {}
        prompt, output = usage.get("prompt_tokens"), usage.get("completion_tokens")
        cached = (details.get("cached_tokens") if isinstance(details, dict) else 0) or 0
        if not (isinstance(prompt, int) and isinstance(output, int) and isinstance(cached, int)
                and min(prompt, output, cached) >= 0):
            return
        with self.backend.lock, self.backend.store.transaction():
            rec = self.backend.store.get(KIND, tenant.key, _key(name))
            tuned = rec and self.backend.store.get("model", tenant.key, rec["properties"]["model"]["name"])
            if not rec or not tuned:
                return
            name = rec["name"]  # a call may name it in another case (`_key`): its usage is the deployment's
            key = f"{name}@{self._since(rec)}"
            old = self.backend.store.get(USAGE, tenant.key, key) or {
                "name": name, "sku": rec["sku"]["name"], "base": tuned["base_model"],
                "input": 0, "cached_input": 0, "output": 0}
            self.backend.store.put(USAGE, tenant.key, key, {
                **old, "input": old["input"] + prompt - min(cached, prompt),
                "cached_input": old["cached_input"] + min(cached, prompt), "output": old["output"] + output})

    def usage(self, tenant: Any) -> "builtins.list[tuple[str, str, str, Any]]":
        """(deployment, sku, base model, TokenCounts) of every deployment that served tokens."""
        from ftsim.simulator.fine_tuning.azure import TokenCounts

        return [(r["name"], r["sku"], r["base"], TokenCounts(input=r["input"], cached_input=r["cached_input"],
                                                             output=r["output"]))
                for _, r in self.backend.store.scan(USAGE, tenant.key)]

    def model_for_call(self, tenant: Any, name: str) -> str | None:
        """The model a call to deployment `name` reaches (its last use dated now), or None when it does not serve
        (unknown, expired, or still provisioning)."""
        now = self.backend.sync(tenant)
        with self.backend.lock, self.backend.store.transaction():
            rec = self._live(tenant, name, now)
            if rec is None or now < self._ready(rec):
                return None
            self.backend.store.put(KIND, tenant.key, _key(name), {**rec, "last_used": now})
        return rec["properties"]["model"]["name"]
