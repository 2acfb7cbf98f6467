"""The requests both doors answer, FastAPI's routes (api/http/routers/) and the fast lane (api/http/fast_lane.py):
one function each, so that both send the same bytes. Imports no FastAPI.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ftsim.api.http.deps import json_response
from ftsim.api.http.multipart import read_upload, store_upload
from ftsim.simulator.core.backend import Backend
from ftsim.simulator.core.errors import BadRequestError, PayloadTooLargeError
from ftsim.simulator.core.tenancy import Tenant
from ftsim.simulator.files.files import MAX_FILE_BYTES
from ftsim.simulator.fine_tuning import azure as azure_jobs
from ftsim.simulator.fine_tuning.azure import AZURE_TRAINING_TYPE_STATE
from ftsim.simulator.fine_tuning.types import CreateJobRequest

__all__ = ["upload_file", "create_job"]


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


def create_job(request: Request, backend: Backend, tenant: Tenant, body: CreateJobRequest) -> Response:
    """Create a fine-tuning job (it starts in `validating_files`); an Azure job keeps its training type with it."""
    training_type = (request.scope.get("state") or {}).get(AZURE_TRAINING_TYPE_STATE)
    hook = azure_jobs.training_type_writer(backend, tenant, training_type) if training_type else None
    return json_response(backend.jobs.create(tenant, **body.model_dump(), on_create=hook))
