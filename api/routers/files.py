"""/v1/files: upload (multipart, streamed), list, retrieve, delete, content."""

from __future__ import annotations

from typing import Literal, Optional

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.deps import BackendDep, TenantDep, json_response
from api.multipart import read_form
from simulator.errors import BadRequestError, PayloadTooLargeError
from simulator.files import MAX_FILE_BYTES, FileDeleted, FileObject, copy_stream, iter_file

router = APIRouter(prefix="/v1/files", tags=["files"])

@router.post("", response_model=FileObject)
async def create_file(request: Request, tenant: TenantDep) -> Response:
    """Upload a file: multipart with `file` and `purpose`, refused (413) as soon as it passes the size limit."""
    backend = request.app.state.backend  # read off the app: one dependency fewer to solve per request
    too_large = PayloadTooLargeError(f"File is too large: the limit is {MAX_FILE_BYTES} bytes.", param="file",
                                     code="file_too_large")
    form = await read_form(request, limit=MAX_FILE_BYTES, too_large=too_large, param="file",
                           expected="'file' and 'purpose'")
    try:
        upload = form.get("file")
        purpose = form.get("purpose")
        if not isinstance(upload, UploadFile):
            raise BadRequestError("Missing required parameter: 'file'.", param="file")
        if not isinstance(purpose, str) or not purpose:
            raise BadRequestError("Missing required parameter: 'purpose'.", param="purpose")
        seconds = form.get("expires_after[seconds]")
        expires = None
        if seconds is not None:
            if not isinstance(seconds, str) or not seconds.isdigit():
                raise BadRequestError("Invalid 'expires_after.seconds': expected an integer.", param="expires_after.seconds")
            expires = int(seconds)
        return json_response(await run_in_threadpool(
            backend.files.create,
            tenant,
            filename=upload.filename,
            purpose=purpose,
            chunks=copy_stream(upload.file),
            expires_after_seconds=expires,
            limit=MAX_FILE_BYTES,
        ))
    finally:
        await form.close()


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
