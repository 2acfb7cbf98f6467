"""Progression is transactional and isolated (issue 13, defects 1, 2 and 11).

A request that fails after the world was caught up must not leave the in-memory schedule ahead of the rows; a job
whose advance raises fails alone; inputs behind such failures are refused at create or fail validation; a user
clock with only the protocol's methods resumes a saved database.
"""

from __future__ import annotations

import logging

import pytest

from ftsim.simulator.core.backend import Backend
from ftsim.simulator.core.clock import DEFAULT_START
from ftsim.simulator.core.errors import BadRequestError, ServiceUnavailableError
from ftsim.simulator.core.store import Store
from ftsim.simulator.fine_tuning import lifecycle

TERMINAL = {"succeeded", "failed", "cancelled"}
LINE = '{"messages":[{"role":"user","content":"q %d"},{"role":"assistant","content":"a %d"}]}\n'
DAY = 86400


def upload(backend, tenant, n: int = 12, body: bytes | None = None):
    data = body if body is not None else "".join(LINE % (i, i) for i in range(n)).encode()
    return backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[data]).id


def assert_schedule_matches_rows(backend) -> None:
    assert backend.jobs.schedule() == backend.jobs.schedule_from_rows()


def test_failed_request_after_catch_up_does_not_unschedule_a_job(backend, tenant):
    """Defect 1: create, advance 60 (running), move 7 days, a create that 400s, then 30 days: the job ends."""
    job = backend.jobs.create(tenant, model="gpt-4o-mini-2024-07-18", training_file=upload(backend, tenant))
    backend.advance(60)
    backend.clock.advance(7 * DAY)  # moved, not yet caught up: the next request's catch-up does it
    with pytest.raises(BadRequestError):
        backend.jobs.create(tenant, model="gpt-4o-mini-2024-07-18", training_file="file-unknown")
    assert_schedule_matches_rows(backend)
    backend.advance(30 * DAY)
    assert backend.jobs.retrieve(tenant, job.id).status in TERMINAL
    assert_schedule_matches_rows(backend)


@pytest.mark.parametrize("verb", ["cancel", "pause", "resume"])
def test_failed_action_after_catch_up_does_not_unschedule_jobs(backend, tenant, verb):
    """The job actions too: a 400 or 404 after the catch-up leaves every job progressing."""
    job = backend.jobs.create(tenant, model="gpt-4o-mini-2024-07-18", training_file=upload(backend, tenant))
    backend.advance(60)
    backend.clock.advance(7 * DAY)
    with pytest.raises(Exception):
        getattr(backend.jobs, verb)(tenant, "ftjob-unknown")
    assert_schedule_matches_rows(backend)
    backend.advance(30 * DAY)
    assert backend.jobs.retrieve(tenant, job.id).status in TERMINAL


def test_the_stored_clock_is_not_ahead_of_a_rolled_back_catch_up(backend, tenant):
    """The saved-clock flag follows the commit: after a failing request, a restart-free sync still runs."""
    backend.jobs.create(tenant, model="gpt-4o-mini-2024-07-18", training_file=upload(backend, tenant))
    backend.clock.advance(DAY)
    with pytest.raises(BadRequestError):
        backend.jobs.create(tenant, model="gpt-4o-mini-2024-07-18", training_file="file-unknown")
    assert backend.store.meta_get("clock") == backend.now()
    assert not backend.sync_pending()


def test_a_job_whose_advance_raises_fails_alone(backend, tenant, monkeypatch, caplog):
    """Defect 2: one job's error fails that job (readable error, logged), others and every request go on."""
    bob = backend.tenant("sk-bob")
    bad = backend.jobs.create(tenant, model="gpt-4o-mini-2024-07-18", training_file=upload(backend, tenant))
    good = backend.jobs.create(bob, model="gpt-4o-mini-2024-07-18", training_file=upload(backend, bob))
    real = lifecycle.advance

    def advance(rec, now, **kwargs):
        if rec.job.id == bad.id:
            raise TypeError("unsupported operand")
        return real(rec, now, **kwargs)

    monkeypatch.setattr(lifecycle, "advance", advance)
    with caplog.at_level(logging.ERROR, logger="ftsim.jobs"):
        backend.advance(DAY)
        assert backend.jobs.list(bob)["data"]  # a request of another tenant answers
    failed = backend.jobs.retrieve(tenant, bad.id)
    assert failed.status == "failed"
    assert failed.error.code == "internal_error" and "TypeError" in failed.error.message
    assert bad.id in caplog.text and "TypeError" in caplog.text
    assert backend.jobs.retrieve(bob, good.id).status == "succeeded"
    events = backend.jobs.list_events(tenant, bad.id)["data"]
    assert events[0]["level"] == "error"
    assert_schedule_matches_rows(backend)


def test_a_job_failing_over_http_gives_no_500(backend, http, monkeypatch):
    """Over HTTP: the catch-up before a request never turns one job's error into that request's 500."""
    alice = backend.tenant("sk-alice")
    job = backend.jobs.create(alice, model="gpt-4o-mini-2024-07-18", training_file=upload(backend, alice))
    monkeypatch.setattr(lifecycle, "advance", lambda job, now, **_: (_ for _ in ()).throw(RecursionError("deep")))
    backend.clock.advance(DAY)
    r = http.get("/v1/files", headers={"Authorization": "Bearer sk-carol"})
    assert r.status_code == 200
    r = http.get(f"/v1/fine_tuning/jobs/{job.id}", headers={"Authorization": "Bearer sk-alice"})
    assert r.status_code == 200 and r.json()["status"] == "failed"


def test_broken_tokenizer_keeps_the_job_validating_and_answers_503(backend, tenant, monkeypatch):
    """A broken install is not the job's fault: the job keeps validating, the request answers 503."""
    from ftsim.pricing.errors import EncodingUnavailable
    from ftsim.simulator.fine_tuning import validation

    job = backend.jobs.create(tenant, model="gpt-4o-mini-2024-07-18", training_file=upload(backend, tenant))

    def broken(*args, **kwargs):
        raise EncodingUnavailable("o200k_base is missing")

    monkeypatch.setattr(validation, "scan_dataset", broken)
    with pytest.raises(ServiceUnavailableError):
        backend.advance(DAY)
    assert backend.jobs.retrieve(tenant, job.id).status == "validating_files"
    monkeypatch.undo()
    backend.advance(DAY)
    assert backend.jobs.retrieve(tenant, job.id).status == "succeeded"


def _deep_tools_file(depth: int) -> bytes:
    params = "{}"
    for _ in range(depth):
        params = '{"a":' + params + "}"
    line = ('{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}],'
            '"tools":[{"type":"function","function":{"name":"f","parameters":%s}}]}\n' % params)
    return line.encode() * 12


def test_deeply_nested_tool_parameters_fail_validation_clearly(backend, tenant):
    """900-deep `tools[0].function.parameters` (a RecursionError in counting before): a clear validation failure."""
    file_id = upload(backend, tenant, body=_deep_tools_file(900))
    job = backend.jobs.create(tenant, model="gpt-4o-mini-2024-07-18", training_file=file_id)
    backend.advance(DAY)
    failed = backend.jobs.retrieve(tenant, job.id)
    assert failed.status == "failed" and failed.error.param == "training_file"
    assert "levels deep" in failed.error.message and "Example 1" in failed.error.message


def _rft(backend, tenant, grader=None, **hp):
    grader = grader or {"type": "string_check", "name": "g", "input": "{{sample.output_text}}",
                        "reference": "{{item.answer}}", "operation": "eq"}
    line = '{"messages":[{"role":"user","content":"q %d"}],"answer":"a"}\n'
    body = "".join(line % i for i in range(12)).encode()
    train, valid = upload(backend, tenant, body=body), upload(backend, tenant, body=body)
    return backend.jobs.create(tenant, model="o4-mini-2025-04-16", training_file=train, validation_file=valid,
                               method={"type": "reinforcement",
                                       "reinforcement": {"grader": grader, "hyperparameters": hp}})


def test_rft_multi_grader_with_a_number_for_graders_is_refused_at_create(backend, tenant):
    """`graders: 5` (a TypeError while the job ran before): 400 at create, naming the grader parameter."""
    with pytest.raises(BadRequestError) as info:
        _rft(backend, tenant, {"type": "multi", "name": "m", "graders": 5, "calculate_output": "1"})
    assert info.value.param == "method.reinforcement.grader"
    assert backend.jobs.list(tenant)["data"] == []


@pytest.mark.parametrize("key", ["eval_samples", "eval_interval"])
def test_huge_eval_settings_are_refused_at_create(backend, tenant, key):
    """10**30 (decimal.InvalidOperation while the job ran before): 400 at create."""
    with pytest.raises(BadRequestError) as info:
        _rft(backend, tenant, **{key: 10**30})
    assert info.value.param == f"method.reinforcement.hyperparameters.{key}"


def test_largest_accepted_eval_settings_run_to_the_end(backend, tenant):
    """The largest value accepted runs (for ages: 2**31 samples per evaluation) and ends, never failing."""
    from ftsim.simulator.fine_tuning.params import MAX_EVAL

    job = _rft(backend, tenant, eval_samples=MAX_EVAL, eval_interval=MAX_EVAL)
    backend.advance(60 * DAY)
    assert backend.jobs.retrieve(tenant, job.id).status == "running"
    # It ends some 300,000 years on, past the doors' clock end (CLOCK_END, 9989-12-31): the clock is moved under
    # them, to check that progression itself takes such a job to its end.
    backend.clock.advance(10**13)
    backend.sync()
    assert backend.jobs.retrieve(tenant, job.id).status == "succeeded"


class ProtocolClock:
    """A user clock with only what the `Clock` protocol declares."""

    def __init__(self, start: int) -> None:
        self.t = start

    def now(self) -> int:
        return int(self.t)

    def advance(self, seconds: float) -> int:
        self.t += seconds
        return int(self.t)


def test_a_protocol_only_clock_resumes_a_database_with_a_saved_clock(tmp_path):
    """Defect 11: Backend.__init__ called clock.set(), which the protocol does not declare."""
    first = Backend(store=Store(tmp_path / "db.sqlite"))
    first.advance(5000)
    first.close()
    clock = ProtocolClock(DEFAULT_START)
    again = Backend(store=Store(tmp_path / "db.sqlite"), clock=clock)
    assert again.now() == DEFAULT_START + 5000
    again.close()


def test_a_scan_holds_no_lock_another_tenant_waits_on(backend, tenant, monkeypatch):
    """Defect 3: while one tenant's files are scanned, another tenant reads, writes and catches up.

    The scan is held open on an event; the other tenant's requests run in a thread given a generous bound, a
    deadlock detector rather than a timing (before, the scan ran under the backend lock and a write transaction).
    """
    import threading

    from ftsim.simulator.fine_tuning import jobs as jobs_module

    bob = backend.tenant("sk-bob")
    job = backend.jobs.create(tenant, model="gpt-4o-mini-2024-07-18", training_file=upload(backend, tenant))
    scanning, release = threading.Event(), threading.Event()
    real = jobs_module.validate_files

    def slow(**kwargs):
        scanning.set()
        assert release.wait(60)
        return real(**kwargs)

    monkeypatch.setattr(jobs_module, "validate_files", slow)
    mover = threading.Thread(target=backend.advance, args=(DAY,))
    mover.start()
    assert scanning.wait(30)
    done = threading.Event()

    def other_tenant():
        backend.sync()
        file_id = upload(backend, bob)
        backend.jobs.create(bob, model="gpt-4o-mini-2024-07-18", training_file=file_id)
        assert backend.jobs.list(bob)["data"]
        done.set()

    worker = threading.Thread(target=other_tenant)
    worker.start()
    worker.join(30)
    finished = done.is_set()
    release.set()
    mover.join(60)
    worker.join(60)
    assert finished, "another tenant's requests waited for the scan"
    assert backend.jobs.retrieve(tenant, job.id).status == "succeeded"
