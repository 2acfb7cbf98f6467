"""/_sim as a control plane (issue 13, defect 8): the sim key, and fault rules scoped to one tenant."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from ftsim.api.http.app import create_app
from ftsim.simulator.core.backend import Backend

ALICE = {"Authorization": "Bearer sk-alice-0000000000"}
BOB = {"Authorization": "Bearer sk-bob-00000000000"}
SIM = {"x-ftsim-sim-key": "the-sim-key"}

SIM_ROUTES = [
    ("GET", "/_sim/clock", None), ("POST", "/_sim/clock/advance", {"seconds": 1}), ("POST", "/_sim/reset", None),
    ("GET", "/_sim/faults", None), ("POST", "/_sim/faults", {"preset": "server_error_once"}),
    ("DELETE", "/_sim/faults", None), ("GET", "/_sim/faults/fault_1", None), ("DELETE", "/_sim/faults/fault_1", None),
    ("GET", "/_sim/fine_tuning/jobs/ftjob-x/cost", None),
]


@pytest.fixture
def backend():
    b = Backend()
    yield b
    b.close()


def _call(client, method, path, body, headers):
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("method, path, body", SIM_ROUTES)
def test_with_a_sim_key_every_sim_route_needs_it(backend, method, path, body):
    client = TestClient(create_app(backend, sim_key="the-sim-key"))
    for headers in ({}, ALICE, {"x-ftsim-sim-key": "wrong"}, {"Authorization": "Bearer wrong"}):
        resp = _call(client, method, path, body, headers)
        assert resp.status_code == 401, (headers, resp.text)
        assert resp.json()["error"]["code"] == "invalid_sim_key"
        assert resp.headers["x-request-id"].startswith("req_")
    assert backend.faults.list() == []


def test_the_sim_key_opens_the_control_plane_by_header_or_bearer(backend):
    client = TestClient(create_app(backend, sim_key="the-sim-key"))
    assert client.post("/_sim/clock/advance", json={"seconds": 60}, headers=SIM).status_code == 200
    assert client.get("/_sim/clock", headers={"Authorization": "Bearer the-sim-key"}).status_code == 200
    # the cost route: the sim key in its header, the tenant's own key in Authorization
    resp = client.get("/_sim/fine_tuning/jobs/ftjob-nope/cost", headers=SIM | ALICE)
    assert resp.status_code == 404
    # the OpenAI surface does not take the sim key's place: /v1 still authenticates tenants as before
    assert client.get("/v1/files", headers=ALICE).status_code == 200


def test_without_a_sim_key_the_control_plane_stays_open(backend):
    client = TestClient(create_app(backend))
    assert client.post("/_sim/clock/advance", json={"seconds": 1}).status_code == 200


def test_a_scoped_error_rule_faults_only_its_tenant(backend):
    client = TestClient(create_app(backend))
    rule = client.post("/_sim/faults", json={"kind": "error", "status": 500, "times": None,
                                             "api_key": ALICE["Authorization"][7:]}).json()
    assert rule["api_key"] == "sk-alice********0000"  # shown masked
    assert client.get("/v1/files", headers=ALICE).status_code == 500
    assert client.get("/v1/files", headers=BOB).status_code == 200
    assert client.get("/v1/files").status_code == 401  # no key: not the scoped tenant's request
    assert backend.faults.get(rule["id"]).hits == 1


def test_a_scoped_job_rule_fails_only_its_tenants_jobs(backend):
    alice, bob = backend.tenant(ALICE["Authorization"][7:]), backend.tenant(BOB["Authorization"][7:])
    backend.faults.add(kind="job", stage="validation", times=None, api_key=ALICE["Authorization"][7:])
    job = {"model": "gpt-4.1-mini-2025-04-14", "id": "ftjob-1"}
    assert backend.faults.job_failure(bob, job) is None
    assert backend.faults.job_failure(alice, job) is not None


def test_fault_lists_filter_by_tenant_and_kind(backend):
    client = TestClient(create_app(backend))
    a = ALICE["Authorization"][7:]
    client.post("/_sim/faults", json={"preset": "rate_limited", "api_key": a})
    client.post("/_sim/faults", json={"preset": "job_fails_validation", "api_key": a})
    client.post("/_sim/faults", json={"preset": "slow"})
    ids = lambda **q: [f["id"] for f in client.get("/_sim/faults", params=q).json()["data"]]  # noqa: E731
    assert ids() == ["fault_1", "fault_2", "fault_3"]
    assert ids(api_key=a) == ["fault_1", "fault_2"]
    assert ids(api_key=a, kind="job") == ["fault_2"]
    assert ids(api_key=BOB["Authorization"][7:]) == []
    assert ids(kind="latency") == ["fault_3"]
