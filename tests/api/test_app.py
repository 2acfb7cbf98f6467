"""The HTTP door: auth, OpenAI's error envelope, response headers, files and the /_sim clock."""

from __future__ import annotations

import io

import openai
import pytest
from starlette.testclient import TestClient

from ftsim.api.http.app import create_app
from ftsim.api.http.journal import Journal, JournalMiddleware
from ftsim.simulator.core.backend import Backend

AUTH = {"Authorization": "Bearer sk-test"}


@pytest.fixture
def sdk(http):
    return openai.OpenAI(api_key="sk-test", base_url="http://testserver/v1", http_client=http, max_retries=0)


def assert_envelope(resp, status):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    return body["error"]


def test_missing_key_is_401_invalid_api_key(http):
    err = assert_envelope(http.get("/v1/files"), 401)
    assert err["code"] == "invalid_api_key"


@pytest.mark.parametrize("header", ["Basic abc", "Bearer ", "Bearer a b"])
def test_malformed_key_is_401(http, header):
    err = assert_envelope(http.get("/v1/files", headers={"Authorization": header}), 401)
    assert err["code"] == "invalid_api_key"


@pytest.fixture
def strict_http():
    """A server that accepts only sk-listed (organization org-acme)."""
    from ftsim.simulator.core.backend import SimConfig
    from ftsim.simulator.core.tenancy import Tenant

    keys = {"sk-listed": Tenant(org_id="org-acme", org_slug="acme", project_id="proj_a")}
    backend = Backend(config=SimConfig(keys=keys, strict_keys=True))
    yield TestClient(create_app(backend), base_url="http://testserver")
    backend.close()


@pytest.mark.parametrize("path", ["/v1/files", "/v1/models", "/v1/fine_tuning/jobs/ftjob-x",
                                  "/v1/fine_tuning/jobs/ftjob-x/events"])
def test_strict_keys_refuse_an_unlisted_key_on_every_door(strict_http, path):
    """With strict keys an unlisted key is 401 invalid_api_key (FastAPI routes and the fast lane alike)."""
    err = assert_envelope(strict_http.get(path, headers={"Authorization": "Bearer sk-unlisted-123456"}), 401)
    assert err["code"] == "invalid_api_key" and "sk-unlis********3456" in err["message"]
    listed = strict_http.get(path, headers={"Authorization": "Bearer sk-listed"})
    assert listed.status_code in (200, 404) and listed.status_code != 401


def test_without_strict_keys_any_key_is_its_own_organization(http):
    assert http.get("/v1/files", headers={"Authorization": "Bearer sk-anything-at-all"}).status_code == 200


def test_every_response_has_a_request_id(http):
    ids = {http.get("/v1/files", headers=AUTH).headers["x-request-id"] for _ in range(3)}
    ids.add(http.get("/v1/files").headers["x-request-id"])  # errors too
    assert len(ids) == 4 and all(i.startswith("req_") and len(i) == 36 for i in ids)


def test_request_validation_is_400_not_422(http):
    err = assert_envelope(http.get("/v1/files?limit=abc", headers=AUTH), 400)
    assert err["type"] == "invalid_request_error" and err["param"] == "limit"
    err = assert_envelope(http.get("/v1/files?order=sideways", headers=AUTH), 400)
    assert err["param"] == "order"


def test_unknown_route_and_method_use_the_envelope(http):
    assert_envelope(http.get("/v1/nowhere", headers=AUTH), 404)
    assert_envelope(http.put("/v1/files", headers=AUTH), 405)


def test_bad_json_body_is_400(http):
    resp = http.post("/_sim/clock/advance", content=b"{not json", headers={"content-type": "application/json"})
    err = assert_envelope(resp, 400)
    assert "could not parse the JSON body" in err["message"]


def test_files_roundtrip_through_the_sdk(sdk):
    content = b'{"messages": []}\n' * 3
    f = sdk.files.create(file=("train.jsonl", io.BytesIO(content)), purpose="fine-tune")
    assert f.bytes == len(content) and f.status == "processed" and f.id.startswith("file-")
    assert sdk.files.retrieve(f.id) == f
    assert sdk.files.content(f.id).read() == content
    assert [x.id for x in sdk.files.list(purpose="fine-tune")] == [f.id]
    assert list(sdk.files.list(purpose="batch")) == []
    assert sdk.files.delete(f.id).deleted is True
    with pytest.raises(openai.NotFoundError) as exc:
        sdk.files.retrieve(f.id)
    assert exc.value.body["message"] == f"No such File object: {f.id}"


def test_files_list_paginates_in_order(sdk):
    ids = [sdk.files.create(file=(f"f{i}.jsonl", io.BytesIO(b"{}\n")), purpose="fine-tune").id for i in range(5)]
    assert [f.id for f in sdk.files.list(limit=2)] == ids[::-1]  # the SDK's auto-pager walks every page
    assert [f.id for f in sdk.files.list(limit=2, order="asc")] == ids


def test_fine_tune_files_must_be_jsonl_and_purpose_known(sdk):
    with pytest.raises(openai.BadRequestError, match="Must be .jsonl"):
        sdk.files.create(file=("train.csv", io.BytesIO(b"a,b\n")), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError) as exc:
        sdk.files.create(file=("x.jsonl", io.BytesIO(b"{}")), purpose="nonsense")
    assert exc.value.param == "purpose"


@pytest.mark.parametrize("seconds,status", [("3600", 200), ("2592000", 200), ("3599", 400), ("9" * 5000, 400),
                                            ("00000000000003600", 200), ("1e4", 400), ("-5", 400)])
def test_upload_expiry_is_checked_whatever_its_length(http, seconds, status):
    """`expires_after[seconds]` out of range or not an integer is a 400, even with thousands of digits."""
    resp = http.post("/v1/files", headers=AUTH, data={"purpose": "batch", "expires_after[seconds]": seconds},
                     files={"file": ("b.jsonl", b"{}")})
    assert resp.status_code == status, resp.text
    if status == 400:
        assert resp.json()["error"]["param"] == "expires_after.seconds"


def test_assistants_files_cannot_be_downloaded(sdk):
    f = sdk.files.create(file=("notes.txt", io.BytesIO(b"hi")), purpose="assistants")
    with pytest.raises(openai.BadRequestError, match="Not allowed to download files of purpose: assistants"):
        sdk.files.content(f.id)


def test_filename_is_stored_without_path_or_control_characters(sdk, backend):
    f = sdk.files.create(file=("../../etc/passwd.jsonl", io.BytesIO(b"{}\n")), purpose="fine-tune")
    assert f.filename == "passwd.jsonl"
    tenant = backend.tenant("sk-test")
    raw = backend.files.create_bytes(tenant, filename="a/b\\c\x07\x1bd.jsonl", purpose="fine-tune", content=b"{}")
    assert raw.filename == "a/b\\c\x07\x1bd.jsonl"  # internal names are kept as given
    from ftsim.simulator.files.files import clean_filename

    assert clean_filename("a/b\\c\x07\x1bd.jsonl") == "cd.jsonl"
    assert clean_filename("../..") == ".." and clean_filename("") == "file"
    path = backend.store.blob_path(next(iter(t for t, _ in backend.store.scan("file"))), f.id)
    assert backend.store.blob_dir in path.parents


def test_other_tenant_sees_404_exactly_like_a_missing_file(sdk, http):
    f = sdk.files.create(file=("a.jsonl", io.BytesIO(b"{}\n")), purpose="fine-tune")
    other = openai.OpenAI(api_key="sk-other", base_url="http://testserver/v1", http_client=http, max_retries=0)
    with pytest.raises(openai.NotFoundError) as mine:
        other.files.retrieve(f.id)
    with pytest.raises(openai.NotFoundError) as missing:
        other.files.retrieve("file-doesnotexist")
    assert mine.value.body["message"].replace(f.id, "X") == missing.value.body["message"].replace("file-doesnotexist", "X")
    assert list(other.files.list()) == []


def test_sim_clock_advance_and_reset(http, sdk):
    start = http.get("/_sim/clock").json()
    after = http.post("/_sim/clock/advance", json={"seconds": 3600}).json()
    assert after["now"] == start["now"] + 3600 and after["speed"] == 0
    assert_envelope(http.post("/_sim/clock/advance", json={"seconds": -5}), 400)
    sdk.files.create(file=("a.jsonl", io.BytesIO(b"{}\n")), purpose="fine-tune")
    assert http.post("/_sim/reset").json()["reset"] is True
    assert list(sdk.files.list()) == []


def test_clock_is_persisted_and_resumed(tmp_path):
    from ftsim.simulator.core.clock import ManualClock
    from ftsim.simulator.core.store import Store

    b = Backend(store=Store(tmp_path / "db.sqlite"), clock=ManualClock())
    target = b.advance(7200)
    b.close()
    b2 = Backend(store=Store(tmp_path / "db.sqlite"), clock=ManualClock())
    assert b2.now() == target
    b2.close()


def test_ids_do_not_repeat_after_restart(tmp_path):
    from ftsim.simulator.core.store import Store

    b = Backend(store=Store(tmp_path / "db.sqlite"))
    tenant = b.tenant("sk-a")
    first = b.files.create_bytes(tenant, filename="a.jsonl", purpose="fine-tune", content=b"{}\n").id
    b.close()
    b2 = Backend(store=Store(tmp_path / "db.sqlite"))
    second = b2.files.create_bytes(tenant, filename="b.jsonl", purpose="fine-tune", content=b"{}\n").id
    assert first != second and b2.files.get(tenant, first).filename == "a.jsonl"
    b2.close()


def test_request_ids_never_repeat_across_restarts(tmp_path):
    from ftsim.simulator.core.store import Store

    seen = set()
    for _ in range(2):
        b = Backend(store=Store(tmp_path / "db.sqlite"))
        client = TestClient(create_app(b), base_url="http://testserver")
        seen |= {client.get("/_sim/clock").headers["x-request-id"] for _ in range(3)}
        b.close()
    assert len(seen) == 6


def test_same_seed_fresh_world_gives_same_request_ids():
    def ids():
        b = Backend()
        client = TestClient(create_app(b), base_url="http://testserver")
        out = [client.get("/_sim/clock").headers["x-request-id"] for _ in range(2)]
        b.close()
        return out

    assert ids() == ids()


def test_file_responses_validate_against_the_spec(http):
    from tests.openapi_schema import assert_schema

    created = http.post("/v1/files", headers=AUTH, data={"purpose": "fine-tune"},
                        files={"file": ("t.jsonl", b"{}\n", "application/jsonl")})
    assert_schema(created.json(), "OpenAIFile")
    assert_schema(http.get(f"/v1/files/{created.json()['id']}", headers=AUTH).json(), "OpenAIFile")
    assert_schema(http.get("/v1/files", headers=AUTH).json(), "ListFilesResponse")
    assert_schema(http.delete(f"/v1/files/{created.json()['id']}", headers=AUTH).json(), "DeleteFileResponse")
    error = http.get("/v1/files/file-nope", headers=AUTH).json()
    assert_schema(error, "ErrorResponse")


@pytest.mark.parametrize(("method", "suffix"), [("get", ""), ("post", "/cancel"), ("get", "/events"),
                                                ("get", "/checkpoints"), ("post", "/pause"), ("post", "/resume")])
def test_unknown_job_is_404_could_not_find_fine_tune(http, method, suffix):
    job_id = "ftjob-abcdefghijklmnopqrstuvwx"
    resp = getattr(http, method)(f"/v1/fine_tuning/jobs/{job_id}{suffix}", headers=AUTH)
    assert resp.status_code == 404
    assert resp.json() == {"error": {"message": f"Could not find fine tune: {job_id}", "type": "invalid_request_error",
                                     "param": "fine_tune_id", "code": "fine_tune_not_found"}}


def test_unknown_model_is_404_the_model_does_not_exist_on_get_and_delete(http):
    for method in (http.get, http.delete):
        resp = method("/v1/models/ft:gpt-4o-mini-2024-07-18:personal::nope1234", headers=AUTH)
        assert resp.status_code == 404
        assert resp.json() == {"error": {"message": "The model 'ft:gpt-4o-mini-2024-07-18:personal::nope1234' does not exist",
                                         "type": "invalid_request_error", "param": "model", "code": "model_not_found"}}


@pytest.mark.parametrize("path", ["/v1/files", "/v1/models", "/v1/fine_tuning/jobs/ftjob-x"])
def test_org_or_project_header_not_matching_the_key_is_401(strict_http, path):
    good = {"Authorization": "Bearer sk-listed", "OpenAI-Organization": "org-acme", "OpenAI-Project": "proj_a"}
    assert strict_http.get(path, headers=good).status_code != 401
    err = assert_envelope(strict_http.get(path, headers={**good, "OpenAI-Organization": "org-other"}), 401)
    assert err == {"message": "OpenAI-Organization header should match organization for API key",
                   "type": "invalid_request_error", "param": None, "code": "mismatched_organization"}
    err = assert_envelope(strict_http.get(path, headers={**good, "OpenAI-Project": "proj_other"}), 401)
    assert err == {"message": "OpenAI-Project header should match project for API key",
                   "type": "invalid_request_error", "param": None, "code": "mismatched_project"}


def test_sdk_with_a_foreign_organization_is_refused(http, backend):
    own = openai.OpenAI(api_key="sk-test", organization=backend.tenant("sk-test").org_id,
                        base_url="http://testserver/v1", http_client=http, max_retries=0)
    assert list(own.files.list()) == []
    other = openai.OpenAI(api_key="sk-test", organization="org-someoneelse", base_url="http://testserver/v1",
                          http_client=http, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        other.files.list()
    assert info.value.code == "mismatched_organization"


def test_apps_share_routes_but_never_a_world():
    """Apps are copies of one routed app (built once a process): each still serves its own backend, clock,
    faults and request ids, and a middleware added to one app is not in another."""
    first, second = Backend(), Backend()
    try:
        app_one, app_two = create_app(first), create_app(second)
        assert app_one.fastapi().router is app_two.fastapi().router and app_one.state.backend is first
        assert app_one.fastapi().state.backend is first and app_two.fastapi().state.backend is second
        one = TestClient(app_one, base_url="http://testserver")
        two = TestClient(app_two, base_url="http://testserver")
        created = one.post("/v1/files", headers=AUTH, files={"file": ("a.jsonl", b"{}\n")},
                           data={"purpose": "fine-tune"})
        assert created.status_code == 200, created.text
        assert [f["id"] for f in one.get("/v1/files", headers=AUTH).json()["data"]] == [created.json()["id"]]
        assert two.get("/v1/files", headers=AUTH).json()["data"] == []
        assert two.get(f"/v1/files/{created.json()['id']}", headers=AUTH).status_code == 404
        two.post("/_sim/clock/advance", json={"seconds": 3600})
        assert second.now() == first.now() + 3600
        two.post("/_sim/faults", json={"preset": "rate_limited_once", "path": "/v1/files"})
        assert two.get("/v1/files", headers=AUTH).status_code == 429
        assert one.get("/v1/files", headers=AUTH).status_code == 200
        fresh = TestClient(create_app(Backend()), base_url="http://testserver")
        assert fresh.get("/v1/models", headers=AUTH).headers["x-request-id"] == \
            TestClient(create_app(Backend()), base_url="http://testserver").get(
                "/v1/models", headers=AUTH).headers["x-request-id"]
        journal, journaled, plain = Journal(), create_app(first), create_app(first)
        journaled.add_middleware(JournalMiddleware, journal=journal)
        TestClient(plain, base_url="http://testserver").get("/v1/models", headers=AUTH)
        assert journal.entries() == []
        TestClient(journaled, base_url="http://testserver").get("/v1/models", headers=AUTH)
        assert [entry.path for entry in journal.entries()] == ["/v1/models"]
    finally:
        first.close()
        second.close()


def test_the_openapi_document_speaks_to_users_not_of_ftsims_source():
    """Route docstrings become the descriptions `/docs` shows: no module paths or notes about ftsim's internals."""
    import re

    doc = create_app(Backend()).openapi()
    leaks = [f"{method.upper()} {path}: {op.get('description')}" for path, ops in doc["paths"].items()
             for method, op in ops.items()
             if re.search(r"\b(api|simulator|pricing)/\w|\.py\b|fast lane|fast_lane", op.get("description") or "")]
    assert leaks == []


def test_the_openapi_document_carries_the_package_version():
    import ftsim

    assert create_app(Backend()).openapi()["info"]["version"] == ftsim.__version__
