"""Azure's management plane for deployments: PUT, GET, DELETE and list of
`/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{account}/deployments`.

The caller is the Azure account of the credential the data plane uses (`Authorization: Bearer <token>` or
`api-key`), so one key serves both planes; the subscription, resource group and account of the path are echoed in
the resource id. Errors answer ARM's envelope `{"error": {"code", "message"}}` (MissingApiVersionParameter,
AuthenticationFailed, DeploymentNotFound: ARM's codes; the others are assumed).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from ftsim.api.http import json_body
from ftsim.api.http.azure import ARM_METHODS, _key, api_version_ok
from ftsim.api.http.deps import require_sim_key
from ftsim.simulator.fine_tuning.azure import account_cost
from ftsim.simulator.core.tenancy import azure_tenant
from ftsim.simulator.inference.deployments import DeploymentError, DeploymentRequest, Deployments

# Out of the OpenAPI document, which describes the OpenAI surface (its fuzzer holds errors to OpenAI's envelope);
# these ARM shapes and errors are held by tests/api/test_azure.py, its fuzz test included.
router = APIRouter(tags=["azure"], include_in_schema=False)

PATH = ("/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.CognitiveServices/accounts/"
        "{account}/deployments")


def _arm_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _caller(request: Request) -> tuple[Any, JSONResponse | None]:
    """(the Azure account, None), or (None, the ARM error to answer).

    The api-version is checked before the key: a public report of a keyless browser visit to management.azure.com
    quotes MissingApiVersionParameter (MicrosoftDocs/feedback#2279). That a keyless request with a malformed
    api-version gets InvalidApiVersionParameter rather than 401 follows from it by analogy (no source shows it)."""
    version = request.query_params.get("api-version")
    if not version:
        return None, _arm_error(400, "MissingApiVersionParameter",
                                "The api-version query parameter (?api-version=) is required for all requests.")
    # ARM refuses a malformed api-version with 400 InvalidApiVersionParameter; a well-formed one the provider does
    # not publish is NoRegisteredProviderFound there. Microsoft.CognitiveServices' list of versions is not among the
    # sources (and the reference's own example, 2024-10-21, is a data-plane date), so every well-formed version from
    # the first CognitiveServices one (2016-02-01-preview) on is served (assumed).
    if not api_version_ok(version, dt.date(2016, 2, 1)):
        return None, _arm_error(400, "InvalidApiVersionParameter",
                                f"The api-version '{version}' is invalid. The supported versions are dates of the "
                                "form 'YYYY-MM-DD' or 'YYYY-MM-DD-preview'.")
    key = _key(list(request.scope.get("headers", [])))
    if key is None:
        return None, _arm_error(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is "
                                                             "missing.")
    tenant = azure_tenant(request.app.state.backend.tenancy, key)
    if tenant is None:
        return None, _arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.")
    return tenant, None


def _resource_id(subscription: str, group: str, account: str, name: str) -> str:
    return (f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.CognitiveServices/accounts/"
            f"{account}/deployments/{name}")


def _json(value: Any, status: int = 200) -> Response:
    return JSONResponse(value.model_dump(mode="json", by_alias=True, exclude_none=True), status_code=status)


@router.put(PATH + "/{name}")
async def put_deployment(subscription: str, group: str, account: str, name: str, request: Request) -> Response:
    """Create (201) or update (200) a deployment of one of the account's tuned models.

    Any name the path carries is taken: Microsoft's REST and template references give `deploymentName` no length
    or characters (unlike an account's 2-64, `^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`), and the naming-rules page has no row
    for accounts/deployments, so which names ARM refuses, and with which code, is not known (names compare
    case-insensitively: simulator/inference/deployments.py `_key`)."""
    tenant, refusal = _caller(request)
    if refusal is not None:
        return refusal
    try:  # strict JSON first: a NaN or a 10^5-level nesting kept in `extra` fields would be stored and echoed
        body = DeploymentRequest.model_validate(json_body.loads(await json_body.read_body(request.headers,
                                                                                          request.stream())))
    except ValidationError as exc:
        return _arm_error(400, "InvalidRequestContent", f"The request content was invalid: {exc.errors()[0]['msg']}.")
    except ValueError:
        return _arm_error(400, "InvalidRequestContent", "The request content was invalid: not a JSON document.")
    except json_body.BodyTooLarge as exc:  # ARM's code for an oversized body is not recorded: assumed
        return _arm_error(413, "RequestEntityTooLarge", str(exc.detail))
    try:
        deployment, new = Deployments(request.app.state.backend).put(
            tenant, resource_id=_resource_id(subscription, group, account, name), name=name, body=body)
    except DeploymentError as exc:
        return JSONResponse(exc.body_arm(), status_code=exc.status_code)
    return _json(deployment, 201 if new else 200)


@router.get(PATH + "/{name}")
async def get_deployment(subscription: str, group: str, account: str, name: str, request: Request) -> Response:
    tenant, refusal = _caller(request)
    if refusal is not None:
        return refusal
    try:
        return _json(Deployments(request.app.state.backend).get(tenant, name))
    except DeploymentError as exc:
        return JSONResponse(exc.body_arm(), status_code=exc.status_code)


@router.get(PATH)
async def list_deployments(subscription: str, group: str, account: str, request: Request) -> Response:
    tenant, refusal = _caller(request)
    if refusal is not None:
        return refusal
    found = Deployments(request.app.state.backend).list(tenant)
    return JSONResponse({"value": [d.model_dump(mode="json", by_alias=True, exclude_none=True) for d in found]})


@router.delete(PATH + "/{name}")
async def delete_deployment(subscription: str, group: str, account: str, name: str, request: Request) -> Response:
    """200 when deleted, 204 when there was nothing to delete (ARM's convention for a synchronous delete)."""
    tenant, refusal = _caller(request)
    if refusal is not None:
        return refusal
    deleted = Deployments(request.app.state.backend).delete(tenant, name)
    return Response(status_code=200 if deleted else 204)


@router.get("/_sim/azure/cost", dependencies=[Depends(require_sim_key)])
async def azure_cost(request: Request) -> Response:
    """The Azure account's bill so far (training by tier, RFT hours with the per-job cap, hosting per
    deployment-hour, deployments' tokens at their base model's rates), priced from the catalog's Azure entries.
    The account's key goes in `api-key` (a Bearer header may carry the server's sim key)."""
    key = request.headers.get("api-key", "").strip()
    tenant = azure_tenant(request.app.state.backend.tenancy, key) if key else None
    if tenant is None:
        return _arm_error(401, "401", "Access denied due to missing or invalid subscription key.")
    cost = await run_in_threadpool(account_cost, request.app.state.backend, tenant)
    return JSONResponse(cost.model_dump(mode="json"))


@router.api_route("/subscriptions/{rest:path}", methods=sorted(ARM_METHODS))  # others: api/http/azure.py answers
async def arm_fallback(rest: str) -> Response:
    """Anything else under /subscriptions: ARM's envelope (code assumed), not the OpenAI surface's."""
    return _arm_error(404, "NotFound", "The requested resource or operation is not served by this simulator.")
