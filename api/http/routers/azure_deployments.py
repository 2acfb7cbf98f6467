"""Azure's management plane for deployments: PUT, GET, DELETE and list of
`/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{account}/deployments`.

The caller is the Azure account of the credential the data plane uses (`Authorization: Bearer <token>` or
`api-key`), so one key serves both planes; the subscription, resource group and account of the path are echoed in
the resource id. Errors answer ARM's envelope `{"error": {"code", "message"}}` (MissingApiVersionParameter,
AuthenticationFailed, DeploymentNotFound: ARM's codes; the others are assumed).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from ftsim.api.http.azure import _key
from ftsim.simulator.core.tenancy import azure_tenant
from ftsim.simulator.inference.deployments import DeploymentError, DeploymentRequest, Deployments

router = APIRouter(tags=["azure"])

PATH = ("/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.CognitiveServices/accounts/"
        "{account}/deployments")


def _arm_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _caller(request: Request) -> tuple[Any, JSONResponse | None]:
    """(the Azure account, None), or (None, the ARM error to answer)."""
    if not request.query_params.get("api-version"):
        return None, _arm_error(400, "MissingApiVersionParameter",
                                "The api-version query parameter (?api-version=) is required for all requests.")
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
    """Create (201) or update (200) a deployment of one of the account's tuned models."""
    tenant, refusal = _caller(request)
    if refusal is not None:
        return refusal
    try:
        body = DeploymentRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        return _arm_error(400, "InvalidRequestContent", f"The request content was invalid: {exc.errors()[0]['msg']}.")
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
