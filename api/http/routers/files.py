"""/v1/files: upload (multipart, streamed), list, retrieve, delete, content."""

from __future__ import annotations

from typing import Literal, Optional

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from ftsim.api.http.deps import json_response
from ftsim.api.http.handlers import upload_file
from ftsim.api.http.json_route import JSONRoute
from ftsim.api.http.params import BackendDep, TenantDep
from ftsim.simulator.files.files import FileDeleted, FileObject, iter_file

router = APIRouter(route_class=JSONRoute, prefix="/v1/files", tags=["files"])

@router.post("", response_model=FileObject)
async def create_file(request: Request, backend: BackendDep, tenant: TenantDep) -> Response:
    """Upload a file: multipart with `file` and `purpose`, refused (413) as soon as it passes the size limit."""
    return await upload_file(request, backend, tenant)


@router.get("", response_model=dict)
async def list_files(
    backend: BackendDep,
    tenant: TenantDep,
    purpose: Optional[str] = None,
    limit: Optional[int] = None,
    order: Literal["asc", "desc"] = "desc",
    after: Optional[str] = None,
) -> Response:
    """List files, newest first by default."""
    return json_response(backend.files.list(tenant, purpose=purpose, limit=limit, order=order, after=after))


@router.get("/{file_id}", response_model=FileObject)
async def retrieve_file(file_id: str, backend: BackendDep, tenant: TenantDep) -> Response:
    """Retrieve one file."""
    return json_response(backend.files.get(tenant, file_id))


@router.delete("/{file_id}", response_model=FileDeleted)
def delete_file(file_id: str, backend: BackendDep, tenant: TenantDep) -> FileDeleted:
    """Delete a file."""
    return backend.files.delete(tenant, file_id)


@router.get("/{file_id}/content")
def file_content(file_id: str, backend: BackendDep, tenant: TenantDep) -> StreamingResponse:
    """The file's raw bytes."""
    path = backend.files.download(tenant, file_id)
    return StreamingResponse(iter_file(path), media_type="application/octet-stream")
