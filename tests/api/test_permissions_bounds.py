"""POST .../checkpoints/{ckpt}/permissions is bounded: one call wrote every project id it was given under the
world's lock (100,000 ids held every other tenant's writes for seconds)."""

from __future__ import annotations

import functools
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ftsim.api.http.app import create_app
from ftsim.simulator.core.backend import Backend
from ftsim.simulator.fine_tuning.permissions import MAX_PROJECT_ID_CHARS, MAX_PROJECT_IDS

AUTH = {"Authorization": "Bearer sk-perm"}


@functools.cache
def _world() -> tuple[TestClient, str]:
    """An app with one finished job of the tenant: (its client, the job's final checkpoint)."""
    http = TestClient(create_app(Backend()))
    rows = "".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                            {"role": "assistant", "content": f"a{i}"}]}) + "\n" for i in range(10))
    file_id = http.post("/v1/files", headers=AUTH, data={"purpose": "fine-tune"},
                        files={"file": ("t.jsonl", rows.encode())}).json()["id"]
    job = http.post("/v1/fine_tuning/jobs", headers=AUTH,
                    json={"model": "gpt-4o-mini-2024-07-18", "training_file": file_id}).json()["id"]
    http.post("/_sim/clock/advance", headers=AUTH, json={"seconds": 86400})
    checkpoint = http.get(f"/v1/fine_tuning/jobs/{job}/checkpoints", headers=AUTH).json()["data"][0]
    return http, checkpoint["fine_tuned_model_checkpoint"]


def _count(http: TestClient, checkpoint: str) -> int:
    page = http.get(f"/v1/fine_tuning/checkpoints/{checkpoint}/permissions", headers=AUTH,
                    params={"limit": 100}).json()
    return len(page["data"])


@settings(max_examples=10, deadline=None)
@given(n=st.integers(min_value=MAX_PROJECT_IDS + 1, max_value=5 * MAX_PROJECT_IDS))
def test_too_many_project_ids_are_refused_before_any_is_written(n: int) -> None:
    http, checkpoint = _world()
    before = _count(http, checkpoint)
    res = http.post(f"/v1/fine_tuning/checkpoints/{checkpoint}/permissions", headers=AUTH,
                    json={"project_ids": [f"proj_{i:024d}" for i in range(n)]})
    assert res.status_code == 400, res.text[:200]
    assert res.json()["error"]["param"] == "project_ids"
    assert _count(http, checkpoint) == before


@settings(max_examples=10, deadline=None)
@given(extra=st.integers(min_value=1, max_value=10**6))
def test_an_overlong_project_id_is_refused(extra: int) -> None:
    http, checkpoint = _world()
    res = http.post(f"/v1/fine_tuning/checkpoints/{checkpoint}/permissions", headers=AUTH,
                    json={"project_ids": ["p" * (MAX_PROJECT_ID_CHARS + extra)]})
    assert res.status_code == 400 and res.json()["error"]["param"] == "project_ids"


def test_up_to_the_bound_every_project_is_granted() -> None:
    http, checkpoint = _world()
    ids = [f"proj_bound{i:019d}" for i in range(MAX_PROJECT_IDS)]
    res = http.post(f"/v1/fine_tuning/checkpoints/{checkpoint}/permissions", headers=AUTH, json={"project_ids": ids})
    assert res.status_code == 200, res.text[:200]
    assert [p["project_id"] for p in res.json()["data"]] == ids
