"""Files: upload (streamed to disk), list, retrieve, delete, content.

`bytes` is the content length. Contents are written to a temporary file beside the store, fsynced, renamed into
place, and only then is the object committed: an acknowledged file is never lost or half-written.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Literal, Optional

from pydantic import BaseModel

from ftsim.simulator.core import dialect
from ftsim.simulator.core.errors import BadRequestError, NotFoundError, PayloadTooLargeError
from ftsim.simulator.core.pagination import check_limit, list_envelope
from ftsim.simulator.core.tenancy import Tenant

if TYPE_CHECKING:
    from ftsim.simulator.core.backend import Backend

__all__ = ["FileObject", "FileDeleted", "Files", "MAX_FILE_BYTES", "UPLOAD_PURPOSES"]

MAX_FILE_BYTES = 512 * 1024 * 1024
UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
NOT_DOWNLOADABLE = ("assistants", "user_data")
CHUNK = 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class FileObject(BaseModel):
    """OpenAI's File object, keys in the live API's order."""

    object: Literal["file"] = "file"
    id: str
    purpose: str
    filename: str
    bytes: int
    created_at: int
    expires_at: Optional[int] = None
    status: str = "processed"
    status_details: Optional[str] = None


class FileDeleted(BaseModel):
    """Answer to DELETE /v1/files/{id}, keys in the live order."""

    object: Literal["file"] = "file"
    deleted: bool = True
    id: str


def clean_filename(name: str | None) -> str:
    """The base name without path separators or control characters (never used as a disk path)."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _CONTROL.sub("", name).strip()
    return name[:255] or "file"


class Files:
    """The files service."""

    def __init__(self, backend: "Backend") -> None:
        self.backend = backend

    def create(
        self,
        tenant: Tenant,
        *,
        filename: str | None,
        purpose: str,
        chunks: Iterable[bytes],
        expires_after_seconds: int | None = None,
        limit: int = MAX_FILE_BYTES,
    ) -> FileObject:
        """Store an uploaded file, streaming its chunks to disk."""
        name = self._checked(filename, purpose, expires_after_seconds)
        tmp, size = self._spool(tenant, chunks, limit)
        return self._commit(tenant, tmp, size, name, purpose, expires_after_seconds)

    def create_from_spool(
        self,
        tenant: Tenant,
        *,
        filename: str | None,
        purpose: str,
        path: Path,
        size: int,
        expires_after_seconds: int | None = None,
    ) -> FileObject:
        """Store an upload already spooled (and fsynced) to `path`; a refused spool is deleted."""
        try:
            name = self._checked(filename, purpose, expires_after_seconds)
        except BadRequestError:
            path.unlink(missing_ok=True)
            raise
        return self._commit(tenant, path, size, name, purpose, expires_after_seconds)

    def create_bytes(
        self, tenant: Tenant, *, filename: str, purpose: str, content: bytes, created_at: int | None = None,
        file_id: str | None = None,
    ) -> FileObject:
        """Store a file the simulator makes itself (e.g. a job's result file, dated `created_at` when given, with
        the id `file_id` when given, else a new one)."""
        tmp, size = self._spool(tenant, [content], None)
        return self._commit(tenant, tmp, size, filename, purpose, None, created_at, file_id)

    def create_from_path(self, tenant: Tenant, *, filename: str, purpose: str, path: Path, size: int) -> FileObject:
        """Adopt an assembled file (an upload's parts) as a new file object."""
        return self._commit(tenant, path, size, clean_filename(filename), purpose, None)

    def get(self, tenant: Tenant, file_id: str) -> FileObject:
        """One file (404 if unknown or another tenant's)."""
        data = self.backend.store.get("file", tenant.key, file_id)
        if data is None:
            raise NotFoundError(f"No such File object: {file_id}", param="id")
        return FileObject.model_validate(data)

    def list(
        self,
        tenant: Tenant,
        *,
        purpose: str | None = None,
        limit: int | None = None,
        order: str = "desc",
        after: str | None = None,
    ) -> dict:
        """A page of files, newest first by default."""
        size = check_limit(limit, default=10_000, maximum=10_000)
        if order not in ("asc", "desc"):
            raise BadRequestError(f"Invalid 'order': expected 'asc' or 'desc', got '{order}'.", param="order")
        where = (lambda d: d["purpose"] == purpose) if purpose else None
        # By `created_at` (the API's documented order), then insertion: a job's results file is dated when the job
        # finished and written when the catch-up reaches it, which in one big clock step is in the order of the
        # jobs' keys, not of their finishing times; by insertion alone the list would depend on how the clock moved.
        items, more = self.backend.store.page("file", tenant.key, after=after, limit=size, order=order, where=where,
                                              by="$.created_at")
        return list_envelope(items, more, ids=True)

    def delete(self, tenant: Tenant, file_id: str) -> FileDeleted:
        """Delete a file and its bytes (the jobs training on it fail)."""
        # The catch-up is its own step, never inside this transaction (Backend.sync refuses that): every job is
        # brought up to the present first, so that one that already finished is not failed by the deletion.
        now = self.backend.sync(tenant)
        store = self.backend.store
        with self.backend.lock, store.transaction():
            self.get(tenant, file_id)
            store.delete("file", tenant.key, file_id)
            self.backend.jobs.training_file_deleted(tenant, file_id, now)
            # The bytes go once the row's deletion commits, still under the backend lock: later, a reset and a new
            # world's file minted with the same id (ids restart with the seed) could come in between and lose theirs.
            store.after_commit(lambda: store.delete_blob(tenant.key, file_id))
        return FileDeleted(id=file_id)

    def content_path(self, tenant: Tenant, file_id: str) -> Path:
        """The path of a file's bytes (404 if unknown)."""
        self.get(tenant, file_id)
        return self.backend.store.blob_path(tenant.key, file_id)

    def download(self, tenant: Tenant, file_id: str) -> Path:
        """The path of a downloadable file's bytes (400 for purposes the live API refuses to serve)."""
        obj = self.get(tenant, file_id)
        if obj.purpose in NOT_DOWNLOADABLE:
            raise BadRequestError(f"Not allowed to download files of purpose: {obj.purpose}")
        return self.backend.store.blob_path(tenant.key, file_id)

    # -- internals ----------------------------------------------------------------------------------

    @staticmethod
    def _checked(filename: str | None, purpose: str, expires_after_seconds: int | None) -> str:
        """The clean filename, once purpose, name and expiry are valid (400 otherwise)."""
        if purpose not in UPLOAD_PURPOSES:
            raise BadRequestError(
                f"'{purpose}' is not one of {list(UPLOAD_PURPOSES)} - 'purpose'", param="purpose"
            )
        name = clean_filename(filename)
        if purpose == "fine-tune" and not name.lower().endswith(".jsonl"):
            raise BadRequestError("Invalid file format for Fine-Tuning API. Must be .jsonl", param="file")
        if expires_after_seconds is not None and not 3600 <= expires_after_seconds <= 2_592_000:
            raise BadRequestError(
                "Invalid 'expires_after.seconds': must be between 3600 and 2592000.", param="expires_after.seconds"
            )
        return name

    def _spool(self, tenant: Tenant, chunks: Iterable[bytes], limit: int | None) -> tuple[Path, int]:
        """Write chunks to a temporary file beside the blobs, refusing to go past `limit`."""
        too_large = PayloadTooLargeError(f"File is too large: the limit is {limit} bytes.", param="file",
                                         code="file_too_large")
        return self.backend.store.spool(tenant.key, chunks, prefix=".upload-", limit=limit, too_large=too_large)

    def _commit(
        self, tenant: Tenant, tmp: Path, size: int, filename: str, purpose: str, expires_after: int | None,
        created_at: int | None = None, file_id: str | None = None,
    ) -> FileObject:
        try:
            return self._record(tenant, tmp, size, filename, purpose, expires_after, created_at, file_id)
        except BaseException:
            tmp.unlink(missing_ok=True)  # refused before its bytes were placed (a no-op once renamed: see adopt)
            raise

    def _record(
        self, tenant: Tenant, tmp: Path, size: int, filename: str, purpose: str, expires_after: int | None,
        created_at: int | None, file_id: str | None,
    ) -> FileObject:
        """Place the bytes and write the row in one transaction; a rollback takes the bytes back (`Store.adopt`)."""
        backend = self.backend
        with backend.lock, backend.store.transaction():
            now = backend.now() if created_at is None else int(created_at)
            file_id = file_id or dialect.new_file_id(backend, tenant)
            obj = FileObject(
                id=file_id,
                purpose=purpose,
                filename=filename,
                bytes=size,
                created_at=now,
                expires_at=now + expires_after if expires_after else None,
            )
            dest = backend.store.blob_path(tenant.key, file_id)
            backend.store.adopt(tmp, dest)
            backend.store.put("file", tenant.key, file_id, obj.model_dump(mode="json"))
        return obj


def iter_file(path: Path, chunk: int = CHUNK) -> Iterable[bytes]:
    """Read a file in chunks (for streaming responses)."""
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            yield block
