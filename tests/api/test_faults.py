"""Fault injection: rules (service), their HTTP effect through the middleware, and /_sim/faults."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftsim.api.http.app import create_app
from ftsim.api.testing.transport import http_client
from ftsim.simulator.core.faults import PRESETS, Faults, JobFailure
from ftsim.simulator.core.tenancy import Tenant

KEY = {"Authorization": "Bearer sk-faults"}
TENANT = Tenant("org-x", "personal", "proj_x")


@pytest.fixture
def client(backend):
    with http_client(create_app(backend), module="httpx") as c:
        yield c


def fake_backend(seed: int = 0) -> SimpleNamespace:
    """Just what the fault service reads from a backend."""
    return SimpleNamespace(now=lambda: 0, config=SimpleNamespace(seed=seed))


def fires(faults: Faults, n: int, method: str = "GET", path: str = "/v1/files") -> list[bool]:
    out = []
    for _ in range(n):
        decision = faults.on_request(method, path)
        out.append(decision is not None and decision.status is not None)
    return out


# -- the service --------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(times=st.integers(1, 6), requests=st.integers(0, 10))
def test_counted_rule_fires_exactly_times(times, requests):
    faults = Faults(fake_backend())
    faults.add(kind="error", status=500, path="/v1/files", times=times)
    assert fires(faults, requests) == [True] * min(times, requests) + [False] * max(0, requests - times)
    left = max(0, times - requests)
    assert fires(faults, left + 2) == [True] * left + [False, False]


def test_unlimited_rule_fires_until_deleted(backend):
    rule = backend.faults.add(kind="error", status=503, times=None)
    assert fires(backend.faults, 5) == [True] * 5
    backend.faults.delete(rule.id)
    assert fires(backend.faults, 2) == [False, False]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), p=st.floats(0.05, 0.95))
def test_probability_is_deterministic_for_a_seed(seed, p):
    a, b = Faults(fake_backend()), Faults(fake_backend())
    for f in (a, b):
        f.add(kind="error", status=503, times=None, probability=p, seed=seed)
    assert fires(a, 40) == fires(b, 40)


def test_probability_bounds_and_rate(backend):
    backend.faults.add(kind="error", status=503, times=None, probability=0.0, path="/v1/a")
    backend.faults.add(kind="error", status=503, times=None, probability=0.3, path="/v1/b", seed=3)
    assert not any(fires(backend.faults, 50, path="/v1/a"))
    rate = sum(fires(backend.faults, 400, path="/v1/b")) / 400
    assert 0.2 < rate < 0.4


def test_a_probabilistic_miss_consumes_nothing(backend):
    rule = backend.faults.add(kind="error", status=500, times=2, probability=0.5, seed=11)
    results = fires(backend.faults, 30)
    assert sum(results) == 2
    assert backend.faults.get(rule.id).hits == 2 and backend.faults.get(rule.id).remaining == 0


def test_method_and_path_filters(backend):
    backend.faults.add(kind="error", status=429, method="POST", path="/v1/fine_tuning/jobs", times=None)
    assert fires(backend.faults, 1, "GET", "/v1/fine_tuning/jobs") == [False]
    assert fires(backend.faults, 1, "POST", "/v1/fine_tuning/jobs/ftjob-1/cancel") == [False]
    assert fires(backend.faults, 1, "post", "/v1/fine_tuning/jobs") == [True]


def test_sim_paths_are_never_faulted(backend):
    backend.faults.add(kind="error", status=500, path="*", times=None)
    assert backend.faults.on_request("GET", "/_sim/clock") is None
    assert backend.faults.on_request("GET", "/v1/models") is not None


def test_first_firing_error_wins_and_later_rules_keep_their_count(backend):
    first = backend.faults.add(kind="error", status=429, times=1)
    second = backend.faults.add(kind="error", status=503, times=1)
    assert backend.faults.on_request("GET", "/v1/files").status == 429
    assert backend.faults.get(second.id).remaining == 1
    assert backend.faults.on_request("GET", "/v1/files").status == 503
    assert backend.faults.get(first.id).remaining == 0


def test_job_failure_filters_and_stages(backend):
    job = {"id": "ftjob-1", "model": "gpt-4o-mini-2024-07-18", "user_provided_suffix": "x"}
    backend.faults.add(kind="job", stage="step", step=4, suffix="other")
    backend.faults.add(kind="job", stage="validation", model="gpt-4.1")
    assert backend.faults.job_failure(TENANT, job) is None
    backend.faults.add(kind="job", stage="step", step=4, model="gpt-4o-mini", code="boom", message="It broke.")
    failure = backend.faults.job_failure(TENANT, job)
    assert failure == JobFailure("step", 4, "boom", "It broke.")
    assert failure.param is None
    assert backend.faults.job_failure(TENANT, job) is None  # one-shot
    backend.faults.add("job_fails_validation", job_id="ftjob-1")
    stage, step, code, _ = backend.faults.job_failure(TENANT, job)
    assert (stage, step, code) == ("validation", None, "invalid_training_file")
    assert backend.faults.job_failure(TENANT, job) is None


def test_bad_specs_are_400(backend):
    from ftsim.simulator.core.errors import BadRequestError

    with pytest.raises(BadRequestError):
        backend.faults.add("no_such_preset")
    with pytest.raises(BadRequestError):
        backend.faults.add(kind="error", status=200)
    with pytest.raises(BadRequestError):
        backend.faults.add(kind="latency")  # latency_ms missing
    with pytest.raises(BadRequestError):
        backend.faults.add(probability=2)


def test_every_preset_is_valid(backend):
    for name in PRESETS:
        assert backend.faults.add(name).kind == PRESETS[name]["kind"]


def test_reset_clears_rules(backend):
    backend.faults.add("rate_limited")
    backend.reset()
    assert backend.faults.list() == []
    assert backend.faults.add("rate_limited").id == "fault_1"


# -- over HTTP -------------------------------------------------------------------------------------------------


def test_insufficient_quota_answers_the_live_body_until_deleted(backend, client):
    """The quota preset gives the live 429 body (type and code insufficient_quota) on every call until removed."""
    rule = backend.faults.add("insufficient_quota", path="/v1/fine_tuning/jobs*")
    for _ in range(3):
        resp = client.get("/v1/fine_tuning/jobs", headers=KEY)
        assert resp.status_code == 429
        body = resp.json()["error"]
        assert (body["type"], body["code"], body["param"]) == ("insufficient_quota", "insufficient_quota", None)
        assert body["message"].startswith("You exceeded your current quota")
    assert client.get("/v1/files", headers=KEY).status_code == 200  # other paths are untouched
    backend.faults.delete(rule.id)
    assert client.get("/v1/fine_tuning/jobs", headers=KEY).status_code == 200


def test_429_carries_headers_and_the_rate_limit_envelope(backend, client):
    backend.faults.add("rate_limited_once", path="/v1/files", limit_requests=60, retry_after_ms=250)
    resp = client.get("/v1/files", headers=KEY)
    assert resp.status_code == 429
    body = resp.json()["error"]
    assert body["code"] == "rate_limit_exceeded" and body["type"] == "requests" and body["param"] is None
    assert "250ms" in body["message"]
    h = resp.headers
    assert h["retry-after-ms"] == "250" and "retry-after" not in h
    assert h["x-ratelimit-limit-requests"] == "60"
    assert h["x-ratelimit-remaining-requests"] == "0"
    assert h["x-ratelimit-reset-requests"] == "250ms"
    assert {"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"} <= set(h)
    assert h["x-request-id"].startswith("req_") and h["content-type"] == "application/json"
    assert client.get("/v1/files", headers=KEY).status_code == 200


def test_5xx_and_should_retry_header(backend, client):
    backend.faults.add(kind="error", status=503, should_retry=False, retry_after_ms=2500)
    resp = client.get("/v1/models", headers=KEY)
    assert resp.status_code == 503
    assert resp.json()["error"]["type"] == "server_error"
    assert resp.headers["x-should-retry"] == "false"
    assert resp.headers["retry-after"] == "3"
    assert "x-ratelimit-limit-requests" not in resp.headers


def test_latency_is_real_time_and_leaves_the_clock(backend, client):
    backend.faults.add(kind="latency", latency_ms=40, path="/v1/files", times=1)
    before = backend.now()
    began = time.perf_counter()
    assert client.get("/v1/files", headers=KEY).status_code == 200
    assert time.perf_counter() - began >= 0.04
    assert backend.now() == before


def test_faults_router_crud(client):
    created = client.post("/_sim/faults", json={"preset": "flaky_5xx", "probability": 0.5, "path": "/v1/files"})
    assert created.status_code == 200, created.text
    rule = created.json()
    assert rule["object"] == "sim.fault" and rule["status"] == 503 and rule["probability"] == 0.5
    assert rule["times"] is None and rule["remaining"] is None
    second = client.post("/_sim/faults", json={"kind": "job", "stage": "step", "step": 2}).json()
    listed = client.get("/_sim/faults").json()
    assert [r["id"] for r in listed["data"]] == [rule["id"], second["id"]]
    assert "rate_limited_once" in listed["presets"]
    assert client.get(f"/_sim/faults/{rule['id']}").json()["path"] == "/v1/files"
    assert client.delete(f"/_sim/faults/{rule['id']}").json()["deleted"] is True
    assert client.get(f"/_sim/faults/{rule['id']}").status_code == 404
    assert client.delete("/_sim/faults").json()["deleted"] == 1
    assert client.get("/_sim/faults").json()["data"] == []


@pytest.mark.parametrize(
    "body",
    [{"preset": "nope"}, {"status": 99}, {"kind": "weird"}, {"unknown": 1}, {"times": 0}, {"probability": -1}],
)
def test_faults_router_rejects_bad_bodies_with_400(client, body):
    resp = client.post("/_sim/faults", json=body)
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_request_error"


def test_control_plane_works_while_everything_is_faulted(client):
    client.post("/_sim/faults", json={"status": 500, "path": "*", "times": None})
    assert client.get("/v1/files", headers=KEY).status_code == 500
    assert client.get("/_sim/clock").status_code == 200
    assert client.delete("/_sim/faults").status_code == 200
    assert client.get("/v1/files", headers=KEY).status_code == 200


def test_a_step_rule_posted_for_a_running_job_fails_it_at_that_step(client, backend):
    import json as json_lib

    rows = "\n".join(json_lib.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                                  {"role": "assistant", "content": f"a{i}"}]}) for i in range(30))
    file = client.post("/v1/files", headers=KEY, files={"file": ("t.jsonl", rows.encode())},
                       data={"purpose": "fine-tune"}).json()
    job = client.post("/v1/fine_tuning/jobs", headers=KEY,
                      json={"model": "gpt-4o-mini-2024-07-18", "training_file": file["id"]}).json()
    client.post("/_sim/clock/advance", json={"seconds": 60})
    assert client.get(f"/v1/fine_tuning/jobs/{job['id']}", headers=KEY).json()["status"] == "running"
    rule = client.post("/_sim/faults", json={"kind": "job", "stage": "step", "step": 40, "job_id": job["id"],
                                             "api_key": "sk-faults"}).json()
    assert rule["hits"] == 1 and rule["remaining"] == 0  # taken by the running job at once
    client.post("/_sim/clock/advance", json={"seconds": 7 * 86400})
    done = client.get(f"/v1/fine_tuning/jobs/{job['id']}", headers=KEY).json()
    assert done["status"] == "failed" and done["error"]["code"] == "server_error"
    events = client.get(f"/v1/fine_tuning/jobs/{job['id']}/events?limit=100", headers=KEY).json()["data"]
    assert max(e["data"]["step"] for e in events if e["type"] == "metrics") == 39
