"""HTTP door of /v1/uploads: bodies validate against the spec, errors are OpenAI envelopes (never 422/500)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.openapi_schema import assert_schema

AUTH = {"Authorization": "Bearer sk-test"}


def envelope(resp, status):
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    return error


def create(http, size, **kw):
    body = {"filename": "train.jsonl", "purpose": "fine-tune", "bytes": size, "mime_type": "text/jsonl"} | kw
    return http.post("/v1/uploads", json=body, headers=AUTH)


def part(http, upload_id, data: bytes):
    return http.post(f"/v1/uploads/{upload_id}/parts", files={"data": ("upload", data, "application/octet-stream")},
                     headers=AUTH)


def test_full_flow_validates_against_the_spec(http):
    resp = create(http, 6)
    assert resp.status_code == 200
    up = resp.json()
    assert_schema(up, "Upload")
    assert up["status"] == "pending" and up["expires_at"] == up["created_at"] + 3600
    p1, p2 = part(http, up["id"], b"abc").json(), part(http, up["id"], b"def").json()
    assert_schema(p1, "UploadPart")
    done = http.post(f"/v1/uploads/{up['id']}/complete", json={"part_ids": [p2["id"], p1["id"]]}, headers=AUTH)
    assert done.status_code == 200, done.text
    assert_schema(done.json(), "Upload")
    file = done.json()["file"]
    assert file["bytes"] == 6 and file["object"] == "file"
    assert http.get(f"/v1/files/{file['id']}/content", headers=AUTH).content == b"defabc"


@pytest.mark.parametrize("missing", ["filename", "purpose", "bytes", "mime_type"])
def test_every_create_field_is_required(http, missing):
    body = {"filename": "train.jsonl", "purpose": "fine-tune", "bytes": 1, "mime_type": "text/jsonl"}
    del body[missing]
    error = envelope(http.post("/v1/uploads", json=body, headers=AUTH), 400)
    assert error["param"] == missing


def test_part_errors(http):
    envelope(part(http, "upload_nope", b"x"), 404)
    up = create(http, 1).json()
    error = envelope(http.post(f"/v1/uploads/{up['id']}/parts", data={"other": "x"}, headers=AUTH), 400)
    assert error["param"] == "data"
    envelope(http.post(f"/v1/uploads/{up['id']}/parts", json={"data": "x"}, headers=AUTH), 400)


def test_mismatch_and_wrong_state_are_400(http):
    up = create(http, 4).json()
    p = part(http, up["id"], b"abc").json()
    error = envelope(http.post(f"/v1/uploads/{up['id']}/complete", json={"part_ids": [p["id"]]}, headers=AUTH), 400)
    assert error["param"] == "bytes"
    envelope(http.post(f"/v1/uploads/{up['id']}/complete", json={}, headers=AUTH), 400)
    cancelled = http.post(f"/v1/uploads/{up['id']}/cancel", headers=AUTH)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert_schema(cancelled.json(), "Upload")
    envelope(http.post(f"/v1/uploads/{up['id']}/cancel", headers=AUTH), 400)
    envelope(part(http, up["id"], b"x"), 400)


def test_expired_upload_refuses_parts(http, backend):
    up = create(http, 1).json()
    backend.advance(3600)
    error = envelope(part(http, up["id"], b"x"), 400)
    assert "expired" in error["message"]


def test_uploads_are_private_to_their_tenant(http):
    up = create(http, 1).json()
    other = {"Authorization": "Bearer sk-other"}
    resp = http.post(f"/v1/uploads/{up['id']}/cancel", headers=other)
    envelope(resp, 404)


def test_a_part_over_the_limit_is_refused_while_it_streams(http, monkeypatch):
    """A chunked part (no Content-Length) is cut off soon after it passes the limit, with a 413 envelope."""
    import asyncio

    import httpx

    import ftsim.simulator.files.uploads as uploads_mod

    monkeypatch.setattr("ftsim.api.http.routers.uploads.MAX_PART_BYTES", 1024)
    monkeypatch.setattr(uploads_mod, "MAX_PART_BYTES", 1024)
    up = http.post("/v1/uploads", headers=AUTH, json={"filename": "t.jsonl", "purpose": "fine-tune",
                                                      "bytes": 10, "mime_type": "text/jsonl"}).json()
    pulled = []

    async def body():
        yield b'--b\r\nContent-Disposition: form-data; name="data"; filename="upload"\r\n\r\n'
        for _ in range(64):  # 64 x 64 KiB = 4 MiB, far past the limit + framing allowance
            pulled.append(1)
            yield b"x" * 65536
        yield b"\r\n--b--\r\n"

    async def go():
        transport = httpx.ASGITransport(app=http.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.post(f"/v1/uploads/{up['id']}/parts", content=body(),
                                     headers={**AUTH, "content-type": "multipart/form-data; boundary=b"})

    resp = asyncio.run(go())
    assert resp.status_code == 413, resp.text
    assert resp.json()["error"]["param"] == "data"
    assert len(pulled) < 64  # refused before the whole body was read


def test_upload_and_part_ids_are_32_hex_and_a_pending_upload_has_no_file_key(http):
    import re

    up = create(http, 3).json()
    assert re.fullmatch(r"upload_[0-9a-f]{32}", up["id"]) and "file" not in up
    assert_schema(up, "Upload")
    p = part(http, up["id"], b"abc").json()
    assert re.fullmatch(r"part_[0-9a-f]{32}", p["id"])
    done = http.post(f"/v1/uploads/{up['id']}/complete", json={"part_ids": [p["id"]]}, headers=AUTH).json()
    assert done["status"] == "completed" and done["file"]["bytes"] == 3


def test_file_delete_keys_come_object_deleted_id(http):
    created = http.post("/v1/files", files={"file": ("a.jsonl", b"{}\n")}, data={"purpose": "fine-tune"}, headers=AUTH)
    file_id = created.json()["id"]
    resp = http.delete(f"/v1/files/{file_id}", headers=AUTH)
    assert list(resp.json().items()) == [("object", "file"), ("deleted", True), ("id", file_id)]


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=8))
def test_an_upload_holds_a_bounded_number_of_parts_and_bytes(sizes: list[int]) -> None:
    """Parts were taken without end (empty ones forever, or 64 MB ones past 8 GB), every byte kept on the shared
    disk though no upload could complete with them. Each part past either cap is now a 400 (caps lowered here)."""
    from unittest import mock

    from starlette.testclient import TestClient

    from ftsim.api.http.app import create_app
    from ftsim.simulator.core.backend import Backend
    from ftsim.simulator.files import uploads

    with mock.patch.object(uploads, "MAX_UPLOAD_PARTS", 5, create=True), mock.patch.object(uploads, "MAX_UPLOAD_BYTES", 20), \
            TestClient(create_app(Backend())) as http:
        upload_id = create(http, 20).json()["id"]
        held, total = 0, 0
        for size in sizes:
            resp = part(http, upload_id, b"x" * size)
            if held < 5 and total + size <= 20:
                assert resp.status_code == 200, resp.text
                held, total = held + 1, total + size
            else:
                error = envelope(resp, 400)
                assert error["param"] in ("upload_id", "data")
