"""/v1/files: upload (multipart, streamed), list, retrieve, delete, content."""

from __future__ import annotations

from typing import Literal, Optional

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from ftsim.api.http.deps import BackendDep, TenantDep, json_response
from ftsim.api.http.json_body import JSONRoute
from ftsim.api.http.multipart import read_upload, store_upload
from ftsim.simulator.core.backend import Backend
from ftsim.simulator.core.errors import BadRequestError, PayloadTooLargeError
from ftsim.simulator.files.files import MAX_FILE_BYTES, FileDeleted, FileObject, iter_file
from ftsim.simulator.core.tenancy import Tenant

router = APIRouter(route_class=JSONRoute, prefix="/v1/files", tags=["files"])

async def upload_file(request: Request, backend: Backend, tenant: Tenant) -> Response:
    """Store the multipart upload (`file`, `purpose`, `expires_after[seconds]`), its file part streamed to disk."""
    too_large = PayloadTooLargeError(f"File is too large: the limit is {MAX_FILE_BYTES} bytes.", param="file",
                                     code="file_too_large")
    form = await read_upload(request, backend.store, tenant.key, file_field="file", limit=MAX_FILE_BYTES,
                             too_large=too_large, prefix=".upload-", expected="'file' and 'purpose'")
    try:
        if form.file is None or form.filename is None:
            raise BadRequestError("Missing required parameter: 'file'.", param="file")
        purpose = form.fields.get("purpose")
        if not purpose:
            raise BadRequestError("Missing required parameter: 'purpose'.", param="purpose")
        seconds = form.fields.get("expires_after[seconds]")
        expires = None
        if seconds is not None:
            if not (seconds.isascii() and seconds.isdigit()):
                raise BadRequestError("Invalid 'expires_after.seconds': expected an integer.",
                                      param="expires_after.seconds")
            digits = seconds.lstrip("0") or "0"
            expires = int(digits) if len(digits) <= 10 else 10**10  # out of range either way; no 5,000-digit int()
        return json_response(await store_upload(
            form, backend.store.durability, backend.files.create_from_spool,
            tenant, filename=form.filename, purpose=purpose, expires_after_seconds=expires,
        ))
    except BaseException:
        form.discard()
        raise


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
