"""Tenants: which organization and project an API key belongs to.

By default each distinct key is its own organization, with ids derived from a hash of the key (the same key
is the same tenant across restarts). A keys file maps keys to named organizations and projects:

    {"sk-alice": {"org_id": "org-acme", "org_slug": "acme", "project_id": "proj_ml"},
     "sk-bob":   {"org_id": "org-acme", "org_slug": "acme", "project_id": "proj_web"}}

Two keys of the same organization share its objects; nothing of one organization is visible from another.

OpenAI's wind-down of fine-tuning blocks job creation per organization (catalog `wind_down`). An entry may say
where its organization stands; without these keys it is an active fine-tuning customer:

    {"sk-new": {"org_id": "org-new", "fine_tuned_before": false},
     "sk-idle": {"org_id": "org-idle", "last_fine_tuned_inference": "2026-03-31"}}

`fine_tuned_before` (default true) and `last_fine_tuned_inference` (an ISO date; absent: recent enough, unless
`fine_tuned_before` is false, then never). The simulated world adds to both: a job that succeeded counts as having
fine-tuned, and a call a tuned model answers dates the organization's last fine-tuned inference.
With `strict_keys` (`ftsim serve --strict-keys`) only the file's keys are accepted: the HTTP door answers any
other with 401 `invalid_api_key`, as the live API does for a revoked or mistyped key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftsim.simulator.core.dialect import AZURE_ORG_PREFIX
from ftsim.simulator.core.ids import base62

__all__ = ["Tenant", "Tenancy", "azure_tenant", "load_keys", "tenant_from_spec"]


@dataclass(frozen=True)
class Tenant:
    """An organization (and the project the key belongs to)."""

    org_id: str
    org_slug: str
    project_id: str
    fine_tuned_before: bool = True
    last_fine_tuned_inference: dt.date | None = None  # None: recent (or never, when not fine_tuned_before)

    @property
    def key(self) -> str:
        """The store's partition key."""
        return self.org_id

    @property
    def owner(self) -> str:
        """The `owned_by` of the tenant's tuned models: `user-<24 lowercase alphanumerics>` for a personal account
        (the slug `personal`), else the organization's name (its slug), as the live API answers."""
        if self.org_slug != "personal":
            return self.org_slug
        digest = hashlib.sha256(f"owner:{self.org_id}".encode()).digest()
        return "user-" + base62(digest, 40).lower()[:24]


class Tenancy:
    """Resolves API keys to tenants."""

    def __init__(self, keys: dict[str, Tenant] | None = None, *, default_slug: str = "personal",
                 strict: bool = False) -> None:
        self.keys = dict(keys or {})
        self.default_slug = default_slug
        self.strict = strict  # only the keys file's keys name tenants (read by `azure_tenant`)

    def knows(self, api_key: str) -> bool:
        """Whether `api_key` is one of the keys file's OpenAI keys (an Azure account's key is not: see `resolve`)."""
        mapped = self.keys.get(api_key)
        return mapped is not None and not mapped.org_id.startswith(AZURE_ORG_PREFIX)

    def resolve(self, api_key: str) -> Tenant:
        """The OpenAI organization of `api_key` (a mapped key, else an organization of its own).

        A key the file maps to an Azure account (`azure-` org id) names that account on Azure's doors only: sent to
        the OpenAI surface it is a key like any unlisted one (an organization of its own, or 401 with strict keys),
        so that an Azure account's objects are never seen through OpenAI's paths."""
        mapped = self.keys.get(api_key)
        if mapped is not None and not mapped.org_id.startswith(AZURE_ORG_PREFIX):
            return mapped
        digest = hashlib.sha256(api_key.encode()).digest()
        return Tenant(
            org_id="org-" + base62(digest[:18], 24),
            org_slug=self.default_slug,
            project_id="proj_" + base62(digest[18:], 24),
        )


def azure_tenant(tenancy: Tenancy, api_key: str) -> Tenant | None:
    """The Azure OpenAI account of `api_key` (the `api-key` header or an Entra token, taken as an opaque key).

    A keys-file entry whose `org_id` starts with `azure-` names an account; any other key is an account of its own,
    in a namespace apart from OpenAI's (the same string sent to api.openai.com is another tenant). With strict keys,
    None for a key the file does not map to an account.
    """
    mapped = tenancy.keys.get(api_key)
    if mapped is not None and mapped.org_id.startswith(AZURE_ORG_PREFIX):
        return mapped
    if tenancy.strict:
        return None
    digest = hashlib.sha256(b"azure:" + api_key.encode()).digest()
    return Tenant(org_id=AZURE_ORG_PREFIX + base62(digest[:18], 24), org_slug="azure",
                  project_id="proj_" + base62(digest[18:], 24))


def load_keys(path: str | Path) -> dict[str, Tenant]:
    """Read a keys file (JSON object: key -> {org_id, org_slug?, project_id?}); ValueError on a bad file."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read keys file {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"keys file {path}: expected a JSON object of key -> organization")
    out: dict[str, Tenant] = {}
    for key, spec in raw.items():
        try:
            out[key] = tenant_from_spec(spec)
        except ValueError as exc:
            raise ValueError(f"keys file {path}: {exc}") from None
    return out


def tenant_from_spec(spec: Any) -> Tenant:
    """One keys-file entry (`{org_id, org_slug?, project_id?, fine_tuned_before?, last_fine_tuned_inference?}`)."""
    if isinstance(spec, Tenant):
        return spec
    if not isinstance(spec, dict) or not isinstance(spec.get("org_id"), str):
        raise ValueError("entry for a key needs an 'org_id' string")
    org_id = spec["org_id"]
    before = spec.get("fine_tuned_before", True)
    if not isinstance(before, bool):
        raise ValueError(f"{org_id}: 'fine_tuned_before' must be true or false")
    last = spec.get("last_fine_tuned_inference")
    if last is not None and not isinstance(last, dt.date):
        try:
            last = dt.date.fromisoformat(str(last))
        except ValueError:
            raise ValueError(f"{org_id}: 'last_fine_tuned_inference' must be an ISO date (YYYY-MM-DD)") from None
    return Tenant(
        org_id=org_id,
        org_slug=str(spec.get("org_slug") or org_id.removeprefix("org-")),
        project_id=str(spec.get("project_id") or "proj_default"),
        fine_tuned_before=before,
        last_fine_tuned_inference=last,
    )
