"""The official openai SDK drives the jobs API in-process; every JSON response is checked against the spec."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import openai
import pytest
from starlette.testclient import TestClient

from ftsim.api.http.app import create_app
from ftsim.simulator.core.backend import Backend
from tests.openapi_schema import assert_schema

pytestmark = pytest.mark.sdk2

MINI = "gpt-4.1-mini-2025-04-14"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "datasets"

# (method, path regex) -> schema name of a successful answer
SCHEMAS = [
    ("POST", r"/v1/fine_tuning/jobs", "FineTuningJob"),
    ("GET", r"/v1/fine_tuning/jobs", "ListPaginatedFineTuningJobsResponse"),
    ("GET", r"/v1/fine_tuning/jobs/[^/]+", "FineTuningJob"),
    ("POST", r"/v1/fine_tuning/jobs/[^/]+/(cancel|pause|resume)", "FineTuningJob"),
    ("GET", r"/v1/fine_tuning/jobs/[^/]+/events", "ListFineTuningJobEventsResponse"),
    ("GET", r"/v1/fine_tuning/jobs/[^/]+/checkpoints", "ListFineTuningJobCheckpointsResponse"),
    ("POST", r"/v1/fine_tuning/checkpoints/.+/permissions", "ListFineTuningCheckpointPermissionResponse"),
    ("GET", r"/v1/fine_tuning/checkpoints/.+/permissions", "ListFineTuningCheckpointPermissionResponse"),
    ("DELETE", r"/v1/fine_tuning/checkpoints/.+/permissions/[^/]+", "DeleteFineTuningCheckpointPermissionResponse"),
]


class World:
    """A fresh backend, its app, an SDK client per key, and every JSON answer seen."""

    def __init__(self) -> None:
        self.backend = Backend()
        self.http = TestClient(create_app(self.backend))
        self.seen: list[tuple[str, str, int, object]] = []
        self.http.event_hooks = {"response": [self._record]}

    def _record(self, response) -> None:
        response.read()
        if response.headers.get("content-type", "").startswith("application/json"):
            self.seen.append((response.request.method, response.request.url.path, response.status_code,
                              response.json()))

    def client(self, key: str = "sk-test") -> openai.OpenAI:
        return openai.OpenAI(api_key=key, base_url="http://testserver/v1", http_client=self.http, max_retries=0)

    def check_schemas(self) -> int:
        """Validate every recorded job-API answer; returns how many were checked."""
        checked = 0
        for method, path, status, body in self.seen:
            if not path.startswith("/v1/fine_tuning/"):
                continue
            if status >= 400:
                assert_schema(body, "ErrorResponse")
                checked += 1
                continue
            name = next((n for m, rx, n in reversed(SCHEMAS) if m == method and re.fullmatch(rx, path)), None)
            assert name, f"no schema mapped for {method} {path}"
            assert_schema(body, name)
            checked += 1
        return checked


@pytest.fixture
def world():
    w = World()
    yield w
    assert w.check_schemas() > 0
    w.backend.close()


def dataset(n: int, *, extra: dict | None = None) -> bytes:
    rows = [{"messages": [{"role": "user", "content": f"Capital number {i}?"},
                          {"role": "assistant", "content": f"City {i}"}], **(extra or {})} for i in range(n)]
    return "\n".join(json.dumps(r) for r in rows).encode()


def upload(client, content: bytes, name="train.jsonl"):
    return client.files.create(file=(name, content), purpose="fine-tune")


def poll(world, client, job_id, *, step=30, limit=20_000):
    """Poll like a user's pipeline, moving the simulated clock between polls."""
    for _ in range(limit):
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in ("succeeded", "failed", "cancelled"):
            return job
        world.backend.advance(step)
    raise AssertionError("job never finished")


def test_pipeline_upload_create_poll_events_checkpoints_results(world):
    client = world.client()
    f = upload(client, dataset(20))
    job = client.fine_tuning.jobs.create(model=MINI, training_file=f.id, suffix="pipeline", seed=7)
    assert job.status == "validating_files" and job.error is not None and job.error.code is None
    done = poll(world, client, job.id)
    assert done.status == "succeeded" and done.seed == 7
    assert re.fullmatch(rf"ft:{MINI}:personal:pipeline:[0-9A-Za-z]{{8}}", done.fine_tuned_model)
    assert done.hyperparameters.n_epochs == 5 and done.hyperparameters.batch_size == 1
    assert done.trained_tokens > 0 and done.finished_at > done.created_at

    events = list(client.fine_tuning.jobs.list_events(done.id, limit=7))  # the auto-pager walks every page
    assert len(events) == len({e.id for e in events}) == world.backend.store.count("event")
    assert events[0].message == "The job has successfully completed"
    assert events[-1].message == f"Created fine-tuning job: {done.id}"
    assert [e.created_at for e in events] == sorted((e.created_at for e in events), reverse=True)
    started = next(e for e in events if e.message == "Fine-tuning job started")
    assert started.data is None
    metrics = [e for e in events if e.type == "metrics"]
    assert len(metrics) == 100 and metrics[0].message.startswith("Step 100/100: training loss=")

    ckpts = client.fine_tuning.jobs.checkpoints.list(done.id)
    assert [c.step_number for c in ckpts.data] == [100, 80, 60]
    assert ckpts.data[0].fine_tuned_model_checkpoint == done.fine_tuned_model
    assert ckpts.data[1].fine_tuned_model_checkpoint.endswith(":ckpt-step-80")

    raw = client.files.content(done.result_files[0]).read()
    csv = base64.b64decode(raw).decode()
    assert csv.splitlines()[0] == "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"
    assert len(csv.splitlines()) == 101


def test_fixture_with_too_few_examples_fails_asynchronously(world):
    client = world.client()
    path = FIXTURES / "toy_chat_fine_tuning.jsonl"
    n = sum(1 for line in path.read_text().splitlines() if line.strip())
    f = client.files.create(file=path.open("rb"), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=MINI, training_file=f.id)
    assert job.status == "validating_files"
    failed = poll(world, client, job.id)
    assert failed.status == "failed" and failed.finished_at is None
    assert failed.error.code == "invalid_n_examples" and failed.error.param == "training_file"
    assert failed.error.message == f"Training file has {n} example(s), but must have at least 10 examples"


def test_create_errors_are_openai_errors(world):
    client = world.client()
    with pytest.raises(openai.BadRequestError) as info:
        client.fine_tuning.jobs.create(model="gpt-4.1-mini", training_file="file-nope")
    assert info.value.param == "training_file" and "invalid training_file: file-nope" in str(info.value)
    f = upload(client, dataset(12))
    with pytest.raises(openai.BadRequestError) as info:
        client.fine_tuning.jobs.create(model="gpt-4.1-mini", training_file=f.id)
    assert info.value.code == "model_not_available"
    with pytest.raises(openai.BadRequestError) as info:
        client.fine_tuning.jobs.create(model=MINI, training_file=f.id,
                                       method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 99}}})
    assert info.value.param == "method.supervised.hyperparameters.n_epochs"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.list(limit=0)
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.create(model=MINI, training_file=f.id, extra_body={"bogus": 1})


def test_cancel_pause_resume_and_wrong_state_400(world):
    client = world.client()
    f = upload(client, dataset(40))
    job = client.fine_tuning.jobs.create(model=MINI, training_file=f.id)
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.resume(job.id)
    world.backend.advance(60)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "running"
    paused = client.fine_tuning.jobs.pause(job.id)
    assert paused.status == "paused"
    world.backend.advance(3600)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "paused"
    assert client.fine_tuning.jobs.resume(job.id).status == "queued"
    assert poll(world, client, job.id).status == "succeeded"
    other = client.fine_tuning.jobs.create(model=MINI, training_file=f.id)
    cancelled = client.fine_tuning.jobs.cancel(other.id)
    assert cancelled.status == "cancelled"
    newest = client.fine_tuning.jobs.list_events(other.id, limit=1).data[0]
    assert newest.level == "warn" and newest.message == "Fine tuning process stopping due to job cancellation"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(other.id)


def test_dpo_and_rft_jobs(world):
    client = world.client()
    pref = [{"input": {"messages": [{"role": "user", "content": f"Greet {i}"}]},
             "preferred_output": [{"role": "assistant", "content": "Hello!"}],
             "non_preferred_output": [{"role": "assistant", "content": "No."}]} for i in range(12)]
    f = upload(client, "\n".join(map(json.dumps, pref)).encode())
    dpo = client.fine_tuning.jobs.create(model=MINI, training_file=f.id,
                                         method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}})
    assert dpo.hyperparameters is None and dpo.method.dpo.hyperparameters.beta == 0.2
    done = poll(world, client, dpo.id)
    assert done.status == "succeeded" and done.method.dpo.hyperparameters.n_epochs == 8

    train = upload(client, dataset(12, extra={"answer": "x"}))
    grader = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
              "reference": "{{item.answer}}", "operation": "eq"}
    rft = client.fine_tuning.jobs.create(model="o4-mini-2025-04-16", training_file=train.id,
                                         validation_file=train.id,
                                         method={"type": "reinforcement", "reinforcement": {"grader": grader}})
    assert rft.method.reinforcement.grader.name == "exact"
    world.backend.advance(1800)  # 96 samples + 10 evals of 12 rows: the planner's 3,456 s loop
    assert client.fine_tuning.jobs.retrieve(rft.id).status == "running"  # RFT takes the better part of an hour
    done = poll(world, client, rft.id, step=3600)
    assert done.status == "succeeded"
    reward = next(e for e in client.fine_tuning.jobs.list_events(rft.id, limit=5) if e.type == "metrics")
    assert " , train mean reward=" in reward.message


def test_tenant_isolation_and_metadata_filter(world):
    alice, bob = world.client("sk-alice"), world.client("sk-bob")
    f = upload(alice, dataset(12))
    job = alice.fine_tuning.jobs.create(model=MINI, training_file=f.id, metadata={"team": "a"})
    alice.fine_tuning.jobs.create(model=MINI, training_file=f.id)
    with pytest.raises(openai.NotFoundError) as info:
        bob.fine_tuning.jobs.retrieve(job.id)
    assert info.value.param == "fine_tune_id" and info.value.code == "fine_tune_not_found"
    with pytest.raises(openai.NotFoundError):
        bob.fine_tuning.jobs.list_events(job.id)
    assert list(bob.fine_tuning.jobs.list()) == []
    assert [j.id for j in alice.fine_tuning.jobs.list(metadata={"team": "a"})] == [job.id]
    assert len(list(alice.fine_tuning.jobs.list(limit=1))) == 2  # the auto-pager crosses pages


def test_simultaneous_job_limit_is_a_429(world):
    client = world.client()
    f = upload(client, dataset(12))
    for _ in range(3):
        client.fine_tuning.jobs.create(model=MINI, training_file=f.id)
    with pytest.raises(openai.RateLimitError) as info:
        client.fine_tuning.jobs.create(model=MINI, training_file=f.id)
    assert info.value.code == "rate_limit_exceeded"


def test_checkpoint_permissions_with_colon_names(world):
    client = world.client()
    f = upload(client, dataset(12))
    job = client.fine_tuning.jobs.create(model=MINI, training_file=f.id, suffix="perm")
    done = poll(world, client, job.id)
    name = client.fine_tuning.jobs.checkpoints.list(done.id).data[1].fine_tuned_model_checkpoint
    created = client.fine_tuning.checkpoints.permissions.create(name, project_ids=["proj_a", "proj_b", "proj_c"])
    assert [p.project_id for p in created.data] == ["proj_a", "proj_b", "proj_c"]
    listed = list(client.fine_tuning.checkpoints.permissions.list(name, limit=1))  # pages by last_id
    assert [p.project_id for p in listed] == ["proj_c", "proj_b", "proj_a"]
    gone = client.fine_tuning.checkpoints.permissions.delete(created.data[0].id, fine_tuned_model_checkpoint=name)
    assert gone.deleted is True
    with pytest.raises(openai.NotFoundError):
        world.client("sk-other").fine_tuning.checkpoints.permissions.create(name, project_ids=["proj_x"])


def test_http_metadata_null_filter_bad_json_and_limits(world):
    client = world.client()
    f = upload(client, dataset(12))
    tagged = client.fine_tuning.jobs.create(model=MINI, training_file=f.id, metadata={"k": "v"})
    plain = client.fine_tuning.jobs.create(model=MINI, training_file=f.id)
    auth = {"Authorization": "Bearer sk-test"}
    r = world.http.get("/v1/fine_tuning/jobs?metadata=null", headers=auth)
    assert r.status_code == 200 and [j["id"] for j in r.json()["data"]] == [plain.id]
    r = world.http.get("/v1/fine_tuning/jobs?metadata%5Bk%5D=v", headers=auth)
    assert [j["id"] for j in r.json()["data"]] == [tagged.id]
    assert "first_id" not in r.json()
    r = world.http.post("/v1/fine_tuning/jobs", content=b"{nope", headers={**auth, "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    for query in ("limit=101", "limit=abc"):
        r = world.http.get(f"/v1/fine_tuning/jobs/{tagged.id}/events?{query}", headers=auth)
        assert r.status_code == 400, query
    r = world.http.post(f"/v1/fine_tuning/jobs/{tagged.id}/pause", headers=auth)
    assert r.status_code == 400  # wrong state: 400, never 409
    r = world.http.get(f"/v1/fine_tuning/jobs/{tagged.id}")
    assert r.status_code == 401
