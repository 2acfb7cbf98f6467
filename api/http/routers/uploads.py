"""/v1/uploads: create, parts (multipart `data`, streamed to disk), complete, cancel."""

from __future__ import annotations

from typing import Literal, Optional

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, StrictInt

from ftsim.api.http.params import BackendDep, TenantDep
from ftsim.api.http.json_route import JSONRoute
from ftsim.api.http.multipart import read_upload, store_upload
from ftsim.simulator.core.errors import BadRequestError, PayloadTooLargeError
from ftsim.simulator.files.uploads import MAX_PART_BYTES, Upload, UploadPart

router = APIRouter(route_class=JSONRoute, prefix="/v1/uploads", tags=["uploads"])

class ExpiresAfter(BaseModel):
    """`expires_after` of the file the upload becomes."""

    model_config = ConfigDict(extra="forbid")
    anchor: Literal["created_at"] = "created_at"
    seconds: StrictInt


class CreateUploadRequest(BaseModel):
    """Body of POST /v1/uploads (all four main fields required)."""

    model_config = ConfigDict(extra="forbid")
    filename: str
    purpose: str
    bytes: StrictInt
    mime_type: str
    expires_after: Optional[ExpiresAfter] = None


class CompleteUploadRequest(BaseModel):
    """Body of POST /v1/uploads/{id}/complete."""

    model_config = ConfigDict(extra="forbid")
    part_ids: list[str]
    md5: Optional[str] = None


@router.post("", response_model=Upload)
def create_upload(body: CreateUploadRequest, backend: BackendDep, tenant: TenantDep) -> Upload:
    """Open an upload."""
    return backend.uploads.create(
        tenant,
        filename=body.filename,
        purpose=body.purpose,
        bytes=body.bytes,
        mime_type=body.mime_type,
        expires_after=body.expires_after.model_dump() if body.expires_after else None,
    )


@router.post("/{upload_id}/parts", response_model=UploadPart)
async def add_part(upload_id: str, request: Request, backend: BackendDep, tenant: TenantDep) -> UploadPart:
    """Add a part: multipart with the binary field `data`, refused (413) as soon as it passes 64 MB."""
    backend.uploads.check_pending(tenant, upload_id)  # before reading the body
    too_large = PayloadTooLargeError(f"Part is too large: the limit is {MAX_PART_BYTES} bytes (64 MB).", param="data")
    form = await read_upload(request, backend.store, tenant.key, file_field="data", limit=MAX_PART_BYTES,
                             too_large=too_large, prefix=".part-", expected="the field 'data'")
    try:
        if form.file is None:  # `data` sent as a text field is read like a file part: bytes to us either way
            raise BadRequestError("Missing required parameter: 'data'.", param="data")
        return await store_upload(form, backend.store.durability, backend.uploads.add_part_from_spool, tenant,
                                  upload_id)
    except BaseException:
        form.discard()
        raise


@router.post("/{upload_id}/complete", response_model=Upload)
def complete_upload(upload_id: str, body: CompleteUploadRequest, backend: BackendDep, tenant: TenantDep) -> Upload:
    """Complete an upload: its parts, in the given order, become a File."""
    return backend.uploads.complete(tenant, upload_id, part_ids=body.part_ids, md5=body.md5)


@router.post("/{upload_id}/cancel", response_model=Upload)
def cancel_upload(upload_id: str, backend: BackendDep, tenant: TenantDep) -> Upload:
    """Cancel an upload."""
    return backend.uploads.cancel(tenant, upload_id)
