"""The console's Azure page: the Azure OpenAI deployments of the console key's Azure account (issue 17).

One key names an OpenAI organization and, apart from it, an Azure account (simulator/core/tenancy.py
`azure_tenant`); the other pages show the account the header's switch picks, this one the deployments of the Azure
account shown (of the key's own Azure account while its organization is shown): name, state on the
simulated clock (Creating, then Succeeded), SKU, the tuned model it serves, and a delete button. Read only through
`Deployments` (simulator/inference/deployments.py), which applies Azure's expiry rules when it lists.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ftsim.api.http.console import views as v
from ftsim.api.http.console.routes import ConsoleError, _backend, _serve, _viewed
from ftsim.api.http.console.views import esc
from ftsim.simulator.core.dialect import is_azure
from ftsim.simulator.core.tenancy import Tenant, azure_tenant
from ftsim.simulator.inference.deployments import Deployments

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _account(request: Request) -> Tenant:
    """The Azure account the console shows (the switch's), else the one of the console's key (a 404 page when the
    server maps the key to none)."""
    shown, key = _viewed(request)
    if is_azure(shown):
        return shown
    account = azure_tenant(_backend(request).tenancy, key)
    if account is None:
        raise ConsoleError(404, "No Azure account", "This server maps the console's key to no Azure account "
                                                     "(its keys file lists the Azure accounts it accepts).")
    return account


def _table(backend: Any, account: Tenant, note: str = "") -> str:
    rows = []
    for d in Deployments(backend).list(account):
        state = d.properties.provisioningState or ""
        created = d.system_data.get("createdAt")
        sku = d.sku.name + (f" × {d.sku.capacity}" if d.sku.capacity is not None else "")
        path = f"/console/azure/deployments/{quote(d.name, safe='')}/delete"
        button = (f'<button type="button" class="danger" hx-post="{esc(path)}" '
                  f'hx-target="#deployments" hx-swap="outerHTML" hx-confirm="Delete the deployment {esc(d.name)}?" '
                  f'aria-label="Delete deployment {esc(d.name)}">Delete</button>')
        badge = f'<span class="badge {esc(state.lower())}">{esc(state)}</span>' if state else ""
        rows.append([f'<span class="mono">{esc(d.name)}</span>', badge,
                     esc(sku), f'<span class="mono">{esc(d.properties.model.name)}</span>', v.when(created),
                     button])
    said = f'<p class="note" role="status">{esc(note)}</p>' if note else ""
    return (f'<div id="deployments" hx-get="/console/azure/deployments/rows" '
            f'hx-trigger="every 2s, clock-changed from:body" hx-swap="outerHTML">{said}'
            + v.table(["Deployment", "State", "SKU", "Tuned model", "Created", ""], rows,
                      caption="Azure deployments", table_id="deployments-table",
                      empty="No deployment: create one through Azure's management API (PUT .../deployments/NAME).")
            + "</div>")


INTRO = ('<p class="muted">The deployments of this key\'s Azure OpenAI account (an account apart from the OpenAI '
         "organization of the same key). A deployment serves its tuned model once provisioned; a Developer one is "
         "deleted 24 hours after it was created, any one after 15 days without a call.</p>")


@router.get("/console/azure/deployments")
async def deployments_page(request: Request) -> Response:
    """The Azure account's deployments with their state and tuned model."""
    def build(tenant: Any) -> tuple[str, str]:
        return "Azure deployments", INTRO + _table(_backend(request), _account(request))

    return await _serve(request, build)


@router.get("/console/azure/deployments/rows")
async def deployments_rows(request: Request) -> Response:
    """The deployments table alone (polled: a deployment's state moves with the clock)."""
    return await _serve(request, lambda tenant: _table(_backend(request), _account(request)))


@router.post("/console/azure/deployments/{name}/delete")
async def delete_deployment(request: Request, name: str) -> Response:
    """Delete one of the account's deployments (another account's is not found); answers the table."""
    def build(tenant: Any) -> str:
        backend, account = _backend(request), _account(request)
        if not Deployments(backend).delete(account, name):
            raise ConsoleError(404, "Not found", f"No deployment {name} in this Azure account.")
        return _table(backend, account, note=f"Deleted the deployment {name}.")

    return await _serve(request, build, write=True)
