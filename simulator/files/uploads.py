"""Uploads: create, add parts (each streamed to disk), complete into a File, cancel.

An Upload takes parts of at most 64 MB each (8 GB in all); `complete` orders them by `part_ids`, checks that
their byte total equals the `bytes` given at create (and the md5 when one is given), concatenates them on disk
(never in memory) and adopts the result as a File. An upload expires an hour after its creation by the simulated
clock: afterwards it answers `status: "expired"` and refuses parts, complete and cancel with 400.

The error texts for these cases are UNCONFIRMED on the live API (reference §1.2); ours name the upload and param.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Literal, Optional

from pydantic import BaseModel, model_serializer

from ftsim.simulator.core.errors import BadRequestError, NotFoundError, PayloadTooLargeError
from ftsim.simulator.files.files import CHUNK, FileObject, clean_filename
from ftsim.simulator.core.tenancy import Tenant

if TYPE_CHECKING:
    from ftsim.simulator.core.backend import Backend

__all__ = ["Upload", "UploadPart", "Uploads", "MAX_PART_BYTES", "MAX_UPLOAD_BYTES", "MAX_UPLOAD_PARTS", "UPLOAD_PURPOSES", "UPLOAD_TTL"]

MAX_PART_BYTES = 64 * 1024 * 1024
MAX_UPLOAD_BYTES = 8 * 1024 * 1024 * 1024
# Parts one upload may hold. The live cap is not published; 10,000 parts let 8 GB arrive in parts of ~800 KB (the
# SDK's helper sends 64 MB ones), and bound what a client adding empty parts forever makes the store keep.
MAX_UPLOAD_PARTS = 10_000
UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision")
UPLOAD_TTL = 3600


class Upload(BaseModel):
    """OpenAI's Upload object."""

    id: str
    object: Literal["upload"] = "upload"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: Literal["pending", "completed", "cancelled", "expired"]
    expires_at: int
    file: Optional[FileObject] = None

    @model_serializer(mode="wrap")
    def _no_file_while_pending(self, handler: Any) -> dict[str, Any]:
        """Live: a pending (or expired) upload has no `file` key at all; completed and cancelled ones carry it."""
        data = handler(self)
        if self.status in ("pending", "expired"):
            data.pop("file", None)
        return data


class UploadPart(BaseModel):
    """OpenAI's Upload Part object."""

    id: str
    object: Literal["upload.part"] = "upload.part"
    created_at: int
    upload_id: str


def _public(data: dict[str, Any], now: int) -> Upload:
    """The stored document as an Upload, a pending one past its expiry shown as expired."""
    upload = Upload.model_validate({k: v for k, v in data.items() if k in Upload.model_fields})
    if upload.status == "pending" and now >= upload.expires_at:
        upload = upload.model_copy(update={"status": "expired"})
    return upload


class Uploads:
    """The uploads service."""

    def __init__(self, backend: "Backend") -> None:
        self.backend = backend

    # -- create -------------------------------------------------------------------------------------

    def create(
        self,
        tenant: Tenant,
        *,
        filename: str,
        purpose: str,
        bytes: int,
        mime_type: str,
        expires_after: dict[str, Any] | None = None,
    ) -> Upload:
        """Open a pending upload that expires an hour later."""
        if purpose not in UPLOAD_PURPOSES:
            raise BadRequestError(f"'{purpose}' is not one of {list(UPLOAD_PURPOSES)} - 'purpose'", param="purpose")
        name = clean_filename(filename)
        if not filename or not filename.strip():
            raise BadRequestError("Invalid 'filename': must be a non-empty string.", param="filename")
        if bytes < 0:
            raise BadRequestError(f"Invalid 'bytes': must be >= 0, got {bytes}.", param="bytes")
        if bytes > MAX_UPLOAD_BYTES:
            raise BadRequestError(
                f"Invalid 'bytes': an upload can hold at most {MAX_UPLOAD_BYTES} bytes (8 GB), got {bytes}.",
                param="bytes",
            )
        if not mime_type or not mime_type.strip():
            raise BadRequestError("Invalid 'mime_type': must be a non-empty string.", param="mime_type")
        if purpose == "fine-tune" and not name.lower().endswith(".jsonl"):
            raise BadRequestError("Invalid file format for Fine-Tuning API. Must be .jsonl", param="filename")
        if expires_after is not None:
            seconds = expires_after.get("seconds")
            if expires_after.get("anchor", "created_at") != "created_at":
                raise BadRequestError("Invalid 'expires_after.anchor': expected 'created_at'.", param="expires_after.anchor")
            if not isinstance(seconds, int) or not 3600 <= seconds <= 2_592_000:
                raise BadRequestError(
                    "Invalid 'expires_after.seconds': must be between 3600 and 2592000.", param="expires_after.seconds"
                )
        backend = self.backend
        with backend.lock, backend.store.transaction():
            now = backend.now()
            upload = Upload(
                id=backend.new_id("upload_", 32, hex=True, tenant=tenant.key),  # live: upload_ + 32 hex
                bytes=bytes,
                created_at=now,
                filename=name,
                purpose=purpose,
                status="pending",
                expires_at=now + UPLOAD_TTL,
            )
            doc = upload.model_dump(mode="json") | {"mime_type": mime_type, "expires_after": expires_after}
            backend.store.put("upload", tenant.key, upload.id, doc)
        return upload

    # -- parts --------------------------------------------------------------------------------------

    def add_part(self, tenant: Tenant, upload_id: str, *, chunks: Iterable[bytes]) -> UploadPart:
        """Add one part (≤ 64 MB), streamed to disk."""
        self.check_pending(tenant, upload_id)  # fail fast, before reading the body
        tmp, size = self._spool(tenant, chunks)
        return self.add_part_from_spool(tenant, upload_id, path=tmp, size=size)

    def check_pending(self, tenant: Tenant, upload_id: str) -> None:
        """Refuse (404/400) unless the upload exists and still takes parts."""
        self._pending(tenant, upload_id)

    def add_part_from_spool(self, tenant: Tenant, upload_id: str, *, path: Path, size: int) -> UploadPart:
        """Add one part already spooled (and fsynced) to `path`; the spool is deleted if the part is refused."""
        backend = self.backend
        try:
            with backend.lock, backend.store.transaction():
                self._pending(tenant, upload_id)  # the upload may have completed meanwhile
                self._check_room(tenant, upload_id, size)
                part = UploadPart(id=backend.new_id("part_", 32, hex=True, tenant=tenant.key), created_at=backend.now(),
                                  upload_id=upload_id)
                dest = backend.store.blob_path(tenant.key, part.id)
                backend.store.adopt(path, dest)
                doc = part.model_dump(mode="json") | {"bytes": size}
                backend.store.put("upload_part", tenant.key, part.id, doc, parent=upload_id)
        finally:
            path.unlink(missing_ok=True)
        return part

    # -- complete / cancel --------------------------------------------------------------------------

    def complete(self, tenant: Tenant, upload_id: str, *, part_ids: list[str], md5: str | None = None) -> Upload:
        """Assemble the parts in the given order into a File; the upload becomes completed."""
        backend = self.backend
        with backend.lock, backend.store.transaction():
            doc = self._checked_parts(tenant, upload_id, part_ids)
        # concatenate outside the lock (up to 8 GB), then re-check and commit
        try:
            path, digest = self._assemble(tenant, part_ids)
        except FileNotFoundError:
            # A concurrent complete (a client's retry) or cancel committed first and dropped the parts' bytes:
            # answer what the upload has become, the same 400 a complete sent after it would get.
            with backend.lock, backend.store.transaction():
                self._checked_parts(tenant, upload_id, part_ids)
            raise  # still pending with its parts: the bytes went missing some other way (a real fault)
        try:
            if md5 is not None and md5.strip().lower() != digest:
                raise BadRequestError(
                    f"The md5 checksum of the uploaded bytes ({digest}) does not match 'md5' ({md5}).", param="md5"
                )
            with backend.lock, backend.store.transaction():
                doc = self._checked_parts(tenant, upload_id, part_ids)  # a cancel may have won the race
                file = backend.files.create_from_path(
                    tenant, filename=doc["filename"], purpose=doc["purpose"], path=path, size=int(doc["bytes"])
                )
                seconds = (doc.get("expires_after") or {}).get("seconds")
                if seconds:  # the File expires as asked at create (anchor created_at)
                    file = file.model_copy(update={"expires_at": file.created_at + int(seconds)})
                    backend.store.put("file", tenant.key, file.id, file.model_dump(mode="json"))
                doc = doc | {"status": "completed", "file": file.model_dump(mode="json")}
                backend.store.put("upload", tenant.key, upload_id, doc)
                self._drop_parts(tenant, upload_id)
        finally:
            path.unlink(missing_ok=True)  # no-op once the file adopted it
        return _public(doc, backend.now())

    def _checked_parts(self, tenant: Tenant, upload_id: str, part_ids: list[str]) -> dict[str, Any]:
        """The pending upload, once `part_ids` are checked: its own parts, each once, summing to `bytes`."""
        doc = self._pending(tenant, upload_id)
        if not part_ids:
            raise BadRequestError("Invalid 'part_ids': expected at least one part id.", param="part_ids")
        if len(set(part_ids)) != len(part_ids):
            raise BadRequestError("Invalid 'part_ids': a part id is listed more than once.", param="part_ids")
        total = 0
        for part_id in part_ids:
            part = self.backend.store.get("upload_part", tenant.key, part_id)
            if part is None or part.get("upload_id") != upload_id:
                raise BadRequestError(
                    f"Invalid 'part_ids': part {part_id} does not belong to upload {upload_id}.", param="part_ids"
                )
            total += int(part["bytes"])
        if total != doc["bytes"]:
            raise BadRequestError(
                f"The number of bytes uploaded ({total}) does not match the expected number of bytes for "
                f"upload {upload_id} ({doc['bytes']}).",
                param="bytes",
            )
        return doc

    def cancel(self, tenant: Tenant, upload_id: str) -> Upload:
        """Cancel a pending upload; its parts are discarded."""
        backend = self.backend
        with backend.lock, backend.store.transaction():
            doc = self._pending(tenant, upload_id) | {"status": "cancelled"}
            backend.store.put("upload", tenant.key, upload_id, doc)
            self._drop_parts(tenant, upload_id)
        return _public(doc, backend.now())

    def get(self, tenant: Tenant, upload_id: str) -> Upload:
        """One upload as it stands now (404 if unknown or another tenant's)."""
        return _public(self._doc(tenant, upload_id), self.backend.now())

    # -- internals ----------------------------------------------------------------------------------

    def _doc(self, tenant: Tenant, upload_id: str) -> dict[str, Any]:
        doc = self.backend.store.get("upload", tenant.key, upload_id)
        if doc is None:
            raise NotFoundError(f"No such Upload object: {upload_id}", param="upload_id")
        return doc

    def _check_room(self, tenant: Tenant, upload_id: str, size: int) -> None:
        """400 when one more part of `size` bytes would take the upload past MAX_UPLOAD_PARTS parts or its parts
        past 8 GB in all: no upload can complete beyond that, and the bytes would sit on the shared disk."""
        sizes = [int(part["bytes"]) for _, part in self.backend.store.scan("upload_part", tenant.key, parent=upload_id)]
        if len(sizes) >= MAX_UPLOAD_PARTS:
            raise BadRequestError(
                f"Upload {upload_id} already has {len(sizes)} parts: an upload holds at most {MAX_UPLOAD_PARTS}.",
                param="upload_id")
        if sum(sizes) + size > MAX_UPLOAD_BYTES:
            raise BadRequestError(
                f"Upload {upload_id} would hold more than {MAX_UPLOAD_BYTES} bytes (8 GB) with this part.",
                param="data")

    def _pending(self, tenant: Tenant, upload_id: str) -> dict[str, Any]:
        """The stored upload, which must still accept parts (400 otherwise)."""
        doc = self._doc(tenant, upload_id)
        status = _public(doc, self.backend.now()).status
        if status != "pending":
            raise BadRequestError(
                f"Upload {upload_id} is {status}: it no longer accepts parts, complete or cancel.", param="upload_id"
            )
        return doc

    def _spool(self, tenant: Tenant, chunks: Iterable[bytes]) -> tuple[Path, int]:
        """Write a part's chunks to a temporary file, refusing to go past 64 MB."""
        too_large = PayloadTooLargeError(f"Part is too large: the limit is {MAX_PART_BYTES} bytes (64 MB).",
                                         param="data")
        return self.backend.store.spool(tenant.key, chunks, prefix=".part-", limit=MAX_PART_BYTES,
                                        too_large=too_large)

    def _assemble(self, tenant: Tenant, part_ids: list[str]) -> tuple[Path, str]:
        """Concatenate the parts' bytes (streamed) into a temporary file; (path, md5 hex)."""
        store = self.backend.store
        digest = hashlib.md5(usedforsecurity=False)

        def blocks() -> Iterable[bytes]:
            for part_id in part_ids:
                with open(store.blob_path(tenant.key, part_id), "rb") as src:
                    while block := src.read(CHUNK):
                        digest.update(block)
                        yield block

        path, _ = store.spool(tenant.key, blocks(), prefix=".assemble-")
        return path, digest.hexdigest()

    def _drop_parts(self, tenant: Tenant, upload_id: str) -> None:
        """Forget an upload's part rows (in the caller's transaction); their bytes go once it commits.

        Deleting the bytes first would let a kill -9 before the commit leave acknowledged parts without bytes; deleting
        them after the caller has let the backend lock go would let a reset and a new world's part minted with the
        same id (ids restart with the seed) come in between and lose its bytes.
        """
        store = self.backend.store
        ids = [part["id"] for _, part in store.scan("upload_part", tenant.key, parent=upload_id)]
        for part_id in ids:
            store.delete("upload_part", tenant.key, part_id)

        def drop_bytes() -> None:
            for part_id in ids:
                store.delete_blob(tenant.key, part_id)

        store.after_commit(drop_bytes)
