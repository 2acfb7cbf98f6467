"""HTTP door of /v1/models: colon ids in the path, spec-valid bodies, live error texts and statuses."""

from __future__ import annotations

import pytest

from ftsim.simulator.core.backend import Backend
from tests.openapi_schema import assert_schema

AUTH = {"Authorization": "Bearer sk-test"}
TUNED = "ft:gpt-4o-mini-2024-07-18:personal:suf:abc12345"


@pytest.fixture
def backend():
    b = Backend()
    tenant = b.tenant("sk-test")
    b.store.put("model", tenant.key, TUNED, {"id": TUNED, "object": "model", "created": b.now(), "owned_by": "personal",
                                             "fine_tuning_job_id": "ftjob-1", "base_model": "gpt-4o-mini-2024-07-18",
                                             "training_file": "file-1"})
    yield b
    b.close()


def test_list(http):
    resp = http.get("/v1/models", headers=AUTH)
    assert resp.status_code == 200
    body = resp.json()
    assert_schema(body, "ListModelsResponse")
    assert "has_more" not in body and body["data"][-1]["id"] == TUNED
    assert "training_file" not in body["data"][-1]


def test_retrieve_with_colons_in_the_path(http):
    resp = http.get(f"/v1/models/{TUNED}", headers=AUTH)
    assert resp.status_code == 200, resp.text
    assert_schema(resp.json(), "Model")
    assert resp.json() == {"id": TUNED, "object": "model", "created": resp.json()["created"], "owned_by": "personal"}
    base = http.get("/v1/models/gpt-4o-mini", headers=AUTH).json()
    assert_schema(base, "Model")
    assert base["owned_by"] == "system"


def test_errors(http):
    resp = http.get("/v1/models/ft:gpt-4o-mini-2024-07-18:personal::nope1234", headers=AUTH)
    assert resp.status_code == 404
    assert resp.json() == {"error": {
        "message": "The model 'ft:gpt-4o-mini-2024-07-18:personal::nope1234' does not exist",
        "type": "invalid_request_error", "param": "model", "code": "model_not_found"}}
    resp = http.delete("/v1/models/gpt-4o-mini", headers=AUTH)
    assert resp.status_code == 403
    assert resp.json()["error"]["message"].endswith("Missing scopes: api.delete")
    assert http.get(f"/v1/models/{TUNED}", headers={"Authorization": "Bearer sk-other"}).status_code == 404
    assert http.delete(f"/v1/models/{TUNED}", headers={"Authorization": "Bearer sk-other"}).status_code == 404


def test_delete(http):
    resp = http.delete(f"/v1/models/{TUNED}", headers=AUTH)
    assert resp.status_code == 200
    assert_schema(resp.json(), "DeleteModelResponse")
    assert resp.json() == {"id": TUNED, "object": "model", "deleted": True}
    assert http.get(f"/v1/models/{TUNED}", headers=AUTH).status_code == 404
