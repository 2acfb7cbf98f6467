"""A user's fine-tuning pipeline tested in-process with the official SDK (openai 3.x here, 2.x in .venv-sdk2).

Every test is marked sdk2 so `make test` also runs it with openai 2.x. No real sleep anywhere: the user's
polling loop is given `sim.advance` as its sleep function.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable

import openai
import pytest

from ftsim.api.testing.simulator import Simulator

pytestmark = pytest.mark.sdk2

MODEL = "gpt-4o-mini-2024-07-18"
TERMINAL = {"succeeded", "failed", "cancelled"}


def training_bytes(n: int = 12) -> bytes:
    """A small valid chat dataset."""
    rows = [
        {"messages": [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": f"answer {i}"}]}
        for i in range(n)
    ]
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode()


# -- the user's code under test ----------------------------------------------------------------------------


def wait_for_job(client: Any, job_id: str, *, poll: float = 30, sleep: Callable[[float], Any] = time.sleep) -> Any:
    """What a pipeline typically does: poll until the job is terminal."""
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in TERMINAL:
            return job
        sleep(poll)


def start_job(client: Any, *, suffix: str | None = None, epochs: int = 3) -> Any:
    """Upload the dataset and create a supervised job."""
    f = client.files.create(file=("train.jsonl", training_bytes()), purpose="fine-tune")
    return client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=f.id,
        suffix=suffix,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": epochs}}},
    )


# -- tests ----------------------------------------------------------------------------------------------------


@pytest.fixture
def sim():
    with Simulator(seed=1) as s:
        yield s


def test_polling_pipeline_succeeds_with_events_and_checkpoints(sim):
    client = sim.client()
    job = start_job(client, suffix="demo")
    assert job.status == "validating_files"
    assert job.error is not None and job.error.code is None  # the live `error: {}`

    done = wait_for_job(client, job.id, sleep=sim.advance)

    assert done.status == "succeeded"
    assert done.fine_tuned_model and done.fine_tuned_model.startswith(f"ft:{MODEL}:")
    assert ":demo:" in done.fine_tuned_model
    assert done.finished_at is not None and done.finished_at <= sim.now()
    assert done.trained_tokens and done.trained_tokens > 0
    events = list(client.fine_tuning.jobs.list_events(job.id, limit=5))  # auto-pages across several pages
    assert events[0].message == "The job has successfully completed"  # newest first
    assert [e.created_at for e in events] == sorted((e.created_at for e in events), reverse=True)
    assert len(events) == len(sim.events(job.id))
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert checkpoints and checkpoints[0].fine_tuned_model_checkpoint == done.fine_tuned_model
    assert {c.step_number for c in checkpoints} == {c.step_number for c in sim.checkpoints(job.id)}
    assert client.models.retrieve(done.fine_tuned_model).id == done.fine_tuned_model


def test_simulated_hours_take_no_real_time(sim):
    client = sim.client()
    job = start_job(client, epochs=25)
    began = time.perf_counter()
    done = sim.run_until_complete(job.id)
    elapsed = time.perf_counter() - began
    assert done.status == "succeeded"
    assert done.finished_at - job.created_at > 60  # simulated minutes at least
    assert elapsed < 5  # and no real sleep
    assert client.fine_tuning.jobs.retrieve(job.id).status == "succeeded"


def test_validation_failure_path(sim):
    client = sim.client()
    sim.fault("job_fails_validation", message="The job failed due to an invalid training file. Bad row 3.")
    job = start_job(client)
    done = wait_for_job(client, job.id, sleep=sim.advance)
    assert done.status == "failed"
    assert done.error.code == "invalid_training_file"
    assert done.error.message == "The job failed due to an invalid training file. Bad row 3."
    assert done.error.param == "training_file"
    assert done.fine_tuned_model is None
    newest = client.fine_tuning.jobs.list_events(job.id, limit=1).data[0]
    assert newest.level == "error"
    # the rule was one-shot: the next job succeeds
    assert sim.run_until_complete(start_job(client).id).status == "succeeded"


def test_failure_midway_keeps_earlier_progress(sim):
    client = sim.client()
    sim.fault("job_fails_midway", step=5, code="internal_error")
    job = start_job(client)
    done = sim.run_until_complete(job.id)
    assert done.status == "failed"
    assert done.error.code == "internal_error"
    metrics = [e for e in sim.events(job.id) if e.type == "metrics"]
    assert metrics and max(e.data["step"] for e in metrics) == 4
    assert client.fine_tuning.jobs.checkpoints.list(job.id).data == []


def test_exhausted_quota_reaches_the_user_as_a_rate_limit_error(sim):
    """The SDK surfaces the quota preset as RateLimitError with code insufficient_quota, as with the live API."""
    client = sim.client(max_retries=0)
    sim.fault("insufficient_quota", method="POST", path="/v1/files")
    with pytest.raises(openai.RateLimitError) as info:
        client.files.create(file=("train.jsonl", training_bytes()), purpose="fine-tune")
    assert info.value.code == "insufficient_quota" and info.value.type == "insufficient_quota"
    assert info.value.request_id and info.value.request_id.startswith("req_")


def test_sdk_retries_a_429_by_itself(sim):
    client = sim.client()  # the SDK's default max_retries (2)
    f = client.files.create(file=("train.jsonl", training_bytes()), purpose="fine-tune")
    sim.fault("rate_limited_once", method="POST", path="/v1/fine_tuning/jobs")
    began = time.perf_counter()
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=f.id)
    assert time.perf_counter() - began < 2  # retry-after-ms: 1, not the SDK's 0.5 s backoff
    assert job.status == "validating_files"
    posts = [e.status for e in sim.journal if e.method == "POST" and e.path == "/v1/fine_tuning/jobs"]
    assert posts == [429, 200]
    assert len(sim.jobs) == 1  # the rate-limited attempt created nothing


def test_429_surfaces_when_retries_are_off(sim):
    client = sim.client(max_retries=0)
    sim.fault("rate_limited_once", path="/v1/files")
    with pytest.raises(openai.RateLimitError) as info:
        client.files.list()
    err = info.value
    assert err.status_code == 429
    assert err.code == "rate_limit_exceeded"
    assert err.response.headers["retry-after-ms"] == "1"
    assert err.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert err.request_id and err.request_id.startswith("req_")
    assert client.files.list().data == []  # one-shot


def test_persistent_5xx_exhausts_the_sdk_retries(sim):
    client = sim.client(max_retries=2)
    sim.fault(kind="error", status=503, path="/v1/files", times=3)
    with pytest.raises(openai.InternalServerError):
        client.files.list()
    assert [e.status for e in sim.journal if e.path == "/v1/files"] == [503, 503, 503]
    assert client.files.list().object == "list"


async def test_async_pipeline(sim):
    client = sim.async_client()
    f = await client.files.create(file=("train.jsonl", training_bytes()), purpose="fine-tune")
    sim.fault("rate_limited_once", path="/v1/fine_tuning/jobs*", method="GET")
    job = await client.fine_tuning.jobs.create(model=MODEL, training_file=f.id)
    while (job := await client.fine_tuning.jobs.retrieve(job.id)).status not in TERMINAL:
        sim.advance(60)
    assert job.status == "succeeded"
    events = [e async for e in client.fine_tuning.jobs.list_events(job.id)]
    assert events[-1].message.startswith("Created fine-tuning job")
    assert 429 in [e.status for e in sim.journal]
    await client.close()


def test_mock_routes_the_default_client(sim):
    with sim.mock():
        client = openai.OpenAI()  # httpx2 on openai 3.x, httpx before: both served
        job = start_job(client)
        sim.run_until_complete(job.id)
        assert wait_for_job(client, job.id, sleep=sim.advance).status == "succeeded"
    assert {e.path for e in sim.journal} >= {"/v1/files", "/v1/fine_tuning/jobs"}


async def test_mock_routes_the_default_async_client(sim):
    with sim.mock():
        client = openai.AsyncOpenAI()
        files = await client.files.list()
        assert files.data == []
    assert sim.journal[-1].path == "/v1/files"


def test_upload_is_replayed_whole_after_a_429(sim):
    client = sim.client()
    sim.fault("rate_limited_once", method="POST", path="/v1/files")
    f = client.files.create(file=("train.jsonl", training_bytes()), purpose="fine-tune")
    assert f.bytes == len(training_bytes())
    assert client.files.content(f.id).read() == training_bytes()
    assert [e.status for e in sim.journal if e.method == "POST"] == [429, 200]
