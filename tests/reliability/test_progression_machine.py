"""Property test of progression (issue 13): jobs never stick, one job never breaks another's requests.

A hypothesis RuleBasedStateMachine on a *scaled* clock (simulated time runs on its own, at `SPEED` simulated
seconds per tick of a fake real clock that the machine moves, as a server's clock runs between requests), with
manual jumps too. Rules interleave successful requests (create, cancel, pause, resume), failing ones (unknown
file, unknown job, action from the wrong status, over the concurrency limit), a job whose advance raises (a
"poison" suffix makes `lifecycle.advance` raise for it), bursts of concurrent clients (threads mixing all of
these), and clock moves without any catch-up. After every step the in-memory schedule equals the one the rows
give, and no request failed but with the API error its input calls for. At the end, paused jobs are resumed and
time runs: every job reaches a terminal status, the poison ones `failed` with an error a user can read.
FTSIM_STATEFUL_EXAMPLES raises the number of runs.
"""

from __future__ import annotations

import os
import threading

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from ftsim.simulator.core.backend import Backend, SimConfig
from ftsim.simulator.core.clock import DEFAULT_START, ScaledClock
from ftsim.simulator.core.errors import BadRequestError, NotFoundError, RateLimitError, SimulatorError
from ftsim.simulator.core.store import Store
from ftsim.simulator.fine_tuning import lifecycle

EXAMPLES = int(os.environ.get("FTSIM_STATEFUL_EXAMPLES", "15"))
TERMINAL = {"succeeded", "failed", "cancelled"}
MODEL = "gpt-4o-mini-2024-07-18"
SPEED = 60.0  # simulated seconds per fake real second
KEYS = ["sk-prog-a", "sk-prog-b", "sk-prog-c"]
LINE = '{"messages":[{"role":"user","content":"q %d"},{"role":"assistant","content":"a %d"}]}\n'
EXPECTED = (BadRequestError, NotFoundError, RateLimitError)
_REAL_ADVANCE = lifecycle.advance


def _poisoned_advance(rec, now, **kwargs):
    if rec.job.user_provided_suffix == "poison" and rec.job.status != "validating_files":
        raise ZeroDivisionError("poisoned job")
    return _REAL_ADVANCE(rec, now, **kwargs)


class FakeReal:
    """The 'real' time under the scaled clock: it moves only when the machine says so."""

    def __init__(self) -> None:
        self.t = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.t

    def move(self, seconds: float) -> None:
        with self.lock:
            self.t += seconds


class Progression(RuleBasedStateMachine):
    """Requests that succeed and fail, concurrent clients and clock moves; jobs always progress."""

    jobs = Bundle("jobs")

    @initialize()
    def world(self) -> None:
        self.real = FakeReal()
        self.backend = Backend(store=Store(":memory:"), clock=ScaledClock(DEFAULT_START, SPEED, real=self.real),
                               config=SimConfig(max_concurrent_jobs_per_model=4))
        lifecycle.advance = _poisoned_advance
        self.tenants = {key: self.backend.tenant(key) for key in KEYS}
        data = "".join(LINE % (i, i) for i in range(12)).encode()
        self.files = {key: self.backend.files.create(t, filename="t.jsonl", purpose="fine-tune", chunks=[data]).id
                      for key, t in self.tenants.items()}
        self.created: dict[str, tuple[str, str | None]] = {}  # job id -> (key, suffix)
        self.unexpected: list[BaseException] = []

    def teardown(self) -> None:
        """Resume what is paused, let a long time pass: every job ends; then release the store."""
        try:
            if not hasattr(self, "backend"):
                return
            for job_id, (key, _) in self.created.items():
                if self.backend.jobs.retrieve(self.tenants[key], job_id).status == "paused":
                    self.backend.jobs.resume(self.tenants[key], job_id)
            self.real.move(90 * 86400 / SPEED)
            self.backend.sync()
            for job_id, (key, suffix) in self.created.items():
                job = self.backend.jobs.retrieve(self.tenants[key], job_id)
                assert job.status in TERMINAL, f"{job_id} stuck in {job.status}"
                if suffix == "poison" and job.status == "failed":
                    assert job.error.code == "internal_error" and "could not advance" in job.error.message
                else:  # the poison fails alone: every other job ends as its requests made it end
                    assert job.status in ("succeeded", "cancelled"), (job_id, job.status, job.error)
            assert self.backend.jobs.schedule() == self.backend.jobs.schedule_from_rows() == {}
        finally:
            lifecycle.advance = _REAL_ADVANCE
            if hasattr(self, "backend"):
                self.backend.close()

    # -- requests -------------------------------------------------------------------------------------------

    def _call(self, fn, *args, **kwargs):
        """Call a service; an API error is an answer (4xx), anything else is a defect."""
        try:
            return fn(*args, **kwargs)
        except EXPECTED:
            return None
        except BaseException as exc:  # noqa: BLE001 - recorded, asserted by the invariant
            self.unexpected.append(exc)
            return None

    @rule(target=jobs, key=st.sampled_from(KEYS), suffix=st.sampled_from([None, "ok", "poison"]))
    def create(self, key: str, suffix: str | None):
        job = self._call(self.backend.jobs.create, self.tenants[key], model=MODEL, training_file=self.files[key],
                         suffix=suffix)
        if job is None:
            return "ftjob-refused"
        self.created[job.id] = (key, suffix)
        return job.id

    @rule(key=st.sampled_from(KEYS), kind=st.sampled_from(["file", "model", "job", "grader"]))
    def failing_request(self, key: str, kind: str) -> None:
        """A request that fails after the catch-up it triggers: it must not undo that catch-up."""
        tenant, jobs = self.tenants[key], self.backend.jobs
        try:
            if kind == "file":
                jobs.create(tenant, model=MODEL, training_file="file-unknown")
            elif kind == "model":
                jobs.create(tenant, model="gpt-unknown", training_file=self.files[key])
            elif kind == "job":
                jobs.cancel(tenant, "ftjob-unknown")
            else:
                jobs.create(tenant, model="o4-mini-2025-04-16", training_file=self.files[key],
                            validation_file=self.files[key], method={"type": "reinforcement", "reinforcement": {
                                "grader": {"type": "multi", "name": "m", "graders": 5, "calculate_output": "1"}}})
        except EXPECTED:
            return
        raise AssertionError(f"failing request {kind} succeeded")

    @rule(job_id=jobs, verb=st.sampled_from(["cancel", "pause", "resume", "retrieve"]))
    def act(self, job_id: str, verb: str) -> None:
        if job_id not in self.created:
            return
        self._call(getattr(self.backend.jobs, verb), self.tenants[self.created[job_id][0]], job_id)

    @rule(seconds=st.sampled_from([1, 10, 60, 600, 3600]))
    def real_time_passes(self, seconds: float) -> None:
        """The scaled clock runs on; nothing catches up until the next request."""
        self.real.move(seconds)

    @rule(seconds=st.sampled_from([30, 3600, 7 * 86400]))
    def clock_jumps(self, seconds: int) -> None:
        """A manual jump (the clock only: the catch-up comes with the next request)."""
        self.backend.clock.advance(seconds)

    @rule(n=st.integers(min_value=2, max_value=6), seed=st.integers(min_value=0, max_value=2**16))
    def concurrent_clients(self, n: int, seed: int) -> None:
        """Threads mixing creates, failing requests, reads, actions and clock moves at once."""
        ids = list(self.created)
        lock = threading.Lock()

        def client(i: int) -> None:
            key = KEYS[(seed + i) % len(KEYS)]
            step = (seed >> i) % 5
            if step == 0:
                job = self._call(self.backend.jobs.create, self.tenants[key], model=MODEL,
                                 training_file=self.files[key])
                if job is not None:
                    with lock:
                        self.created[job.id] = (key, None)
            elif step == 1:
                self._call(self.backend.jobs.create, self.tenants[key], model=MODEL, training_file="file-nope")
            elif step == 2:
                self._call(self.backend.jobs.list, self.tenants[key])
                self._call(self.backend.sync)
            elif step == 3 and ids:
                job_id = ids[(seed + i) % len(ids)]
                verb = ("cancel", "pause", "resume")[i % 3]
                self._call(getattr(self.backend.jobs, verb), self.tenants[self.created[job_id][0]], job_id)
            else:
                self.real.move(30)
                self._call(self.backend.advance, 60)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    # -- invariants -----------------------------------------------------------------------------------------

    @invariant()
    def no_request_failed_unexpectedly(self) -> None:
        if hasattr(self, "unexpected"):
            assert not self.unexpected, [repr(e) for e in self.unexpected]

    @invariant()
    def schedule_matches_rows(self) -> None:
        if hasattr(self, "backend"):
            assert self.backend.jobs.schedule() == self.backend.jobs.schedule_from_rows()


Progression.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=30,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
test_progression = Progression.TestCase

assert issubclass(BadRequestError, SimulatorError)
