"""The in-process test kit: Simulator construction, clients, clock, state access, journal, reset (mock(): test_mock.py)."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import openai
import pytest

from ftsim.api.testing.simulator import DEFAULT_API_KEY, Simulator, SimulatorClosed, SimulatorStuck
from ftsim.simulator.core.clock import DEFAULT_START

MODEL = "gpt-4o-mini-2024-07-18"
pytestmark = [pytest.mark.sdk1, pytest.mark.sdk2]  # in-process SDK tests: also run with openai 1.x and 2.x
SDK_MAJOR = int(openai.__version__.split(".")[0])


def dataset(n: int = 12) -> bytes:
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(n)]
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode()


@pytest.fixture
def sim():
    with Simulator(seed=3) as s:
        yield s


def new_job(client, **extra):
    f = client.files.create(file=("d.jsonl", dataset()), purpose="fine-tune")
    return client.fine_tuning.jobs.create(model=MODEL, training_file=f.id, **extra)


def test_manual_clock_by_default(sim):
    assert sim.now() == DEFAULT_START
    assert sim.advance(hours=1, minutes=1, seconds=1) == DEFAULT_START + 3661
    assert sim.advance(days=1) == DEFAULT_START + 3661 + 86400
    with pytest.raises(ValueError):
        sim.advance(-1)


@pytest.mark.parametrize(
    "start, expected",
    [(dt.datetime(2025, 1, 2, tzinfo=dt.timezone.utc), 1735776000), (dt.date(2025, 1, 2), 1735776000), (1.7e9, 1700000000)],
)
def test_start_is_configurable(start, expected):
    with Simulator(start=start) as s:
        assert s.now() == expected
        assert s.client().files.create(file=("d.jsonl", dataset()), purpose="fine-tune").created_at == expected


def test_bad_options_are_refused():
    with pytest.raises(ValueError):
        Simulator(lifecycle="strict")
    with pytest.raises(ValueError):
        Simulator(speed=-1)


def test_scaled_clock_when_speed_is_set():
    with Simulator(speed=1000) as s:
        assert s.backend.clock.speed == 1000
        assert s.advance(10) >= DEFAULT_START + 10


def test_clients_use_the_native_http_stack(sim):
    native = "httpx2" if SDK_MAJOR >= 3 else "httpx"
    assert type(sim.client()._client).__module__.split(".")[0] == native
    assert type(sim.async_client()._client).__module__.split(".")[0] == native
    legacy = sim.client(http="httpx")
    assert isinstance(legacy._client, httpx.Client)
    assert legacy.files.list().data == []
    assert sim.client().api_key == DEFAULT_API_KEY
    assert sim.client().max_retries == openai.OpenAI(api_key="x").max_retries  # the SDK's default kept


def test_state_access_is_per_tenant_on_request(sim):
    alice, bob = sim.client(api_key="sk-alice"), sim.client(api_key="sk-bob")
    fa = alice.files.create(file=("a.jsonl", dataset()), purpose="fine-tune")
    fb = bob.files.create(file=("b.jsonl", dataset()), purpose="fine-tune")
    assert [f.id for f in sim.files] == [fa.id, fb.id]
    assert [f.id for f in sim.for_key("sk-alice").files] == [fa.id]
    assert [f.id for f in sim.for_key("sk-bob").files] == [fb.id]
    assert sim.for_key("sk-nobody").files == []
    assert isinstance(sim.files[0], openai.types.FileObject)


def test_jobs_events_checkpoints_and_models(sim):
    client = sim.client()
    job = new_job(client, suffix="kit")
    assert [j.id for j in sim.jobs] == [job.id]
    assert sim.jobs[0].status == "validating_files"
    done = sim.run_until_complete(job.id)
    assert isinstance(done, openai.types.fine_tuning.FineTuningJob)
    assert sim.jobs[0].status == "succeeded"
    events = sim.events(job.id)
    assert events[0].message.startswith("Created fine-tuning job")  # oldest first
    assert events[-1].message == "The job has successfully completed"
    api_events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    assert [e.id for e in api_events] == [e.id for e in reversed(events)]
    assert sim.checkpoints(job.id)[-1].fine_tuned_model_checkpoint == done.fine_tuned_model
    assert done.fine_tuned_model in [m.id for m in sim.models]
    assert "_sim" not in done.model_dump()


def test_run_until_complete_stops_exactly_at_the_end(sim):
    client = sim.client()
    job = new_job(client)
    done = sim.run_until_complete(job.id)
    last_event = sim.events(job.id)[-1]
    assert sim.now() == last_event.created_at
    assert done.finished_at <= sim.now()


def test_run_until_complete_on_a_terminal_job_moves_nothing(sim):
    client = sim.client()
    job = new_job(client)
    client.fine_tuning.jobs.cancel(job.id)
    before = sim.now()
    assert sim.run_until_complete(job.id).status == "cancelled"
    assert sim.now() == before


def test_run_until_complete_refuses_a_paused_job(sim):
    client = sim.client()
    if not hasattr(client.fine_tuning.jobs, "pause"):
        pytest.skip("this openai SDK predates jobs.pause (and the `method` argument)")
    job = new_job(client, method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 10}}})
    while client.fine_tuning.jobs.retrieve(job.id).status != "running":
        sim.advance(5)
    client.fine_tuning.jobs.pause(job.id)
    with pytest.raises(SimulatorStuck, match="paused"):
        sim.run_until_complete(job.id)
    client.fine_tuning.jobs.resume(job.id)
    assert sim.run_until_complete(job.id).status == "succeeded"


def test_run_until_complete_honours_max_seconds(sim):
    job = new_job(sim.client())
    before = sim.now()
    with pytest.raises(SimulatorStuck, match="max_seconds"):
        sim.run_until_complete(job.id, max_seconds=1)
    assert sim.now() - before <= 1


def test_run_until_complete_unknown_job(sim):
    with pytest.raises(KeyError):
        sim.run_until_complete("ftjob-nope")


def test_journal_records_every_request(sim):
    client = sim.client(api_key="sk-journal", max_retries=0)
    client.files.list(limit=2)
    sim.advance(100)
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("file-missing")
    sim.fault("server_error_once", path="/v1/models")
    with pytest.raises(openai.InternalServerError):
        client.models.list()
    unauthenticated = sim.client(api_key="sk-journal", default_headers={"Authorization": ""}, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        unauthenticated.files.list()
    j = sim.journal
    tenant = sim.tenant("sk-journal").org_id
    assert [(e.method, e.path, e.status) for e in j] == [
        ("GET", "/v1/files", 200),
        ("GET", "/v1/files/file-missing", 404),
        ("GET", "/v1/models", 500),
        ("GET", "/v1/files", 401),
    ]
    assert j[0].query == "limit=2" and j[0].tenant == tenant and j[-1].tenant is None
    assert j[0].time == DEFAULT_START and j[1].time == DEFAULT_START + 100
    assert len({e.request_id for e in j}) == 4


def test_reset_forgets_objects_faults_and_journal(sim):
    client = sim.client()
    client.files.create(file=("d.jsonl", dataset()), purpose="fine-tune")
    sim.fault("rate_limited")
    now = sim.now()
    sim.reset()
    assert sim.files == [] and sim.faults.list() == [] and sim.journal == []
    assert sim.now() == now
    assert client.files.list().data == []


def test_two_simulators_share_nothing():
    with Simulator(seed=1) as a, Simulator(seed=1) as b:
        fa = a.client().files.create(file=("d.jsonl", dataset()), purpose="fine-tune")
        a.fault("rate_limited")
        a.advance(500)
        assert b.files == [] and b.faults.list() == [] and b.now() == DEFAULT_START
        fb = b.client().files.create(file=("d.jsonl", dataset()), purpose="fine-tune")
        assert fa.id == fb.id  # same seed, same sequence: same ids


def test_kit_clients_ignore_an_org_id_meant_for_the_live_api(monkeypatch):
    from ftsim.api.testing.simulator import Simulator

    monkeypatch.setenv("OPENAI_ORG_ID", "org-live-account")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_live")
    with Simulator() as sim:
        assert list(sim.client().files.list()) == []
        import openai

        with pytest.raises(openai.AuthenticationError) as info:
            sim.client(organization="org-someone-else").files.list()
        assert info.value.code == "mismatched_organization"


# -- after close() ------------------------------------------------------------------------------------------


def test_close_twice_is_harmless_and_any_later_use_is_one_clear_error():
    """After close() a client's request used to be a 500 the SDK retried (a raw sqlite3 error in the log), and
    state access a raw sqlite3.ProgrammingError."""
    sim = Simulator()
    client = sim.client()
    view = sim.for_key("sk-other")
    sim.close()
    sim.close()
    with pytest.raises(SimulatorClosed, match=r"closed \(a request \(GET /v1/models\)"):
        client.models.list()
    uses = {
        "sim.files": lambda: sim.files, "sim.jobs": lambda: sim.jobs, "sim.models": lambda: sim.models,
        "sim.events": lambda: sim.events("ftjob-x"), "sim.checkpoints": lambda: sim.checkpoints("ftjob-x"),
        "sim.advance": lambda: sim.advance(1), "sim.run_until_complete": lambda: sim.run_until_complete("ftjob-x"),
        "sim.client": sim.client, "sim.async_client": sim.async_client, "sim.reset": sim.reset,
        "sim.mock": lambda: sim.mock().__enter__(), "sim.fault": lambda: sim.fault("rate_limited_once"),
        "sim.files of a view": lambda: view.files,
    }
    for name, use in uses.items():
        with pytest.raises(SimulatorClosed, match=r"Simulator is closed \(" + name.split(" ")[0]):
            use()
    assert "closed" in repr(sim) and sim.journal == []


async def test_an_async_client_after_close_raises_at_once():
    sim = Simulator()
    client = sim.async_client()
    sim.close()
    with pytest.raises(SimulatorClosed):
        await client.models.list()
    assert sim.journal == []


def test_a_mock_whose_simulator_closed_refuses_clearly(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    sim = Simulator()
    with sim.mock():
        sim.close()
        with pytest.raises(SimulatorClosed):
            openai.OpenAI().models.list()


# -- numbers that are no time -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_advance_refuses_a_non_finite_time(sim, bad):
    """NaN and infinity used to escape as "cannot convert float NaN to integer" / OverflowError."""
    before = sim.now()
    for kwargs in ({"seconds": bad}, {"hours": bad}, {"days": bad}):
        with pytest.raises(ValueError, match="finite|forward"):
            sim.advance(**kwargs)
    assert sim.now() == before


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -5])
def test_run_until_complete_refuses_a_max_seconds_that_bounds_nothing(sim, bad):
    """max_seconds=nan used to remove the bound silently (a job that never settles would loop for ever)."""
    job = new_job(sim.client())
    before = sim.now()
    with pytest.raises(ValueError, match="max_seconds"):
        sim.run_until_complete(job.id, max_seconds=bad)
    assert sim.now() == before


@pytest.mark.parametrize("options, message", [
    ({"speed": float("nan")}, "speed must be a finite number"),
    ({"speed": float("inf")}, "speed must be a finite number"),
    ({"speed": "fast"}, "speed must be a number"),
    ({"speed": True}, "speed must be a number"),
    ({"seed": "7"}, "seed must be an int"),
    ({"seed": {"seed": 3}}, "seed must be an int"),
    ({"seed": 1.5}, "seed must be an int"),
    ({"max_concurrent_jobs": 0}, "max_concurrent_jobs must be an int >= 1"),
])
def test_bad_numbers_are_refused_with_their_name(options, message):
    with pytest.raises((TypeError, ValueError), match=message):
        Simulator(**options)


@pytest.mark.parametrize("base", ["https://gw.example.com/openai/v1", "http://ftsim.test/team%20a/v1/"])
def test_a_kit_client_on_a_gateways_base_path_is_served(sim, base):
    """A client given the base URL the code under test uses (a gateway's path) used to get 404 for every call."""
    client = sim.client(base_url=base)
    f = client.files.create(file=("d.jsonl", dataset()), purpose="fine-tune")
    assert client.files.retrieve(f.id).id == f.id
    assert [e.path for e in sim.journal] == ["/v1/files", f"/v1/files/{f.id}"]


async def test_an_async_kit_client_on_a_gateways_base_path_is_served(sim):
    client = sim.async_client(base_url="https://gw.example.com/openai/v1")
    assert (await client.models.list()).data


def test_the_job_object_itself_is_taken_where_a_job_id_is(sim):
    """`sim.run_until_complete(job)` (the object, not job.id) used to fail with a raw sqlite3 binding error."""
    job = new_job(sim.client())
    assert sim.run_until_complete(job).status == "succeeded"
    assert [e.id for e in sim.events(job)] == [e.id for e in sim.events(job.id)]
    assert [c.id for c in sim.checkpoints(job)] == [c.id for c in sim.checkpoints(job.id)]
    for bad in (None, 7, b"ftjob-x"):
        with pytest.raises(TypeError, match="fine-tuning job id"):
            sim.run_until_complete(bad)
        with pytest.raises(TypeError, match="fine-tuning job id"):
            sim.events(bad)


def test_start_takes_an_iso_string_and_refuses_what_is_no_time():
    """A string start failed as "could not convert string to float", NaN as "cannot convert float NaN to integer",
    and True started the world at 1970-01-01T00:00:01."""
    with Simulator(start="2025-01-02") as s:
        assert s.now() == 1735776000
    with Simulator(start="2025-01-02T06:00:00+06:00") as s:
        assert s.now() == 1735776000
    for bad in ("next tuesday", float("nan"), float("inf"), True, [1]):
        with pytest.raises(ValueError, match="start must be a datetime, a date, Unix seconds or an ISO 8601 string"):
            Simulator(start=bad)
