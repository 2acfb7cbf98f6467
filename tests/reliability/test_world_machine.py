"""Property test of a whole world over the clocks real servers see: a hypothesis RuleBasedStateMachine.

The two other machines (test_state_machine.py, test_progression_machine.py) move one in-memory world by a few fixed
amounts. This one drives a world on a SQLite file, with several tenants (two OpenAI organizations and an Azure account
running reinforcement jobs long enough to pause at Azure's $5,000 cost cap, or Developer-tier ones the system pauses
and resumes), fault rules that fail jobs at validation or at a step (one-shot rules for any job, standing rules, and
step rules naming a job already running), the simultaneous-jobs limit, every action from every status (polling in
1 s steps catches the 2-5 s a job spends queued), restarts on the same file, `reset()`, chat with tuned models, clock
moves from one microsecond to years (up to the clock's end, `CLOCK_END`), each made in one step or split into
several, and a clock that runs with nobody catching up until one tenant's request (which leaves other tenants'
scans to them).

Beside it runs a *lazy twin*: the same seed and the same requests, on an in-memory store, whose clock is moved only
when a request needs it, in one step by everything the world moved since (the promise of `ManualClock` and of the
catch-up: the world does not depend on how the clock was advanced). The twin never restarts. The `compare` rule (and
the teardown) catches the twin up and asserts that both worlds hold the same rows, events and checkpoints in the same
order, listings in the same order, and the same stored clock and id counters; every request is answered the same in
both (ids included).

After every step, on the world: the in-memory schedule equals the rows' (`FineTuningJobs._due`), the saved clock
equals the stored one, no fault-rule use is left granted outside a catch-up; terminal statuses stay terminal; a
status only changes along `lifecycle.TRANSITIONS`; events and checkpoints only grow (nothing stored is lost), newer
ones never dated before older ones; `trained_tokens` and `finished_at` only as documented; an Azure job paused at the
cap is billed the cap, exactly. After a restart every acknowledged file and job is still there, as it was.

FTSIM_STATEFUL_EXAMPLES raises the number of runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from ftsim.simulator.core.backend import Backend, SimConfig
from ftsim.simulator.core.clock import CLOCK_END, ManualClock
from ftsim.simulator.core.errors import SimulatorError
from ftsim.simulator.core.store import Store
from ftsim.simulator.core.tenancy import Tenant, azure_tenant
from ftsim.simulator.fine_tuning import azure as azure_jobs
from ftsim.simulator.fine_tuning import lifecycle
from ftsim.simulator.inference.chat import ChatCompletionRequest

EXAMPLES = int(os.environ.get("FTSIM_STATEFUL_EXAMPLES", "40"))
SEED = 23
TERMINAL = lifecycle.TERMINAL
KEYS = ["sk-world-a", "sk-world-b"]
AZURE_KEY = "az-world"
MODELS = ["gpt-4o-mini-2024-07-18", "gpt-4.1-mini-2025-04-14"]
O4 = "o4-mini-2025-04-16"
CAP = Decimal(5000)
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "datasets"
GRADER = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
          "reference": "{{item.answer}}", "operation": "eq"}
# 50 steps of about 1.6 simulated hours at $100 an hour (GlobalStandard): over the $5,000 cap (tests/api/test_azure_stops.py)
LONG_RFT = {"n_epochs": 50, "batch_size": 12, "compute_multiplier": 10, "reasoning_effort": "high", "eval_interval": 4}
LINE = '{"messages":[{"role":"user","content":"What is %d + %d?"},{"role":"assistant","content":"%d"}]}\n'
BAD_FILE = b'{"messages": [{"role": "user", "content": "no assistant turn"}]}\n' * 12
# standing rules, set in both worlds at the start (and again after a restart: rules live in memory only)
STANDING = [dict(kind="job", stage="validation", suffix="failv", times=None, code="invalid_training_file"),
            dict(kind="job", stage="step", step=3, suffix="fails", times=None)]
_MICRO = 1_000_000
# clock moves: from one microsecond to years (in microseconds, the manual clock's resolution)
MOVES = st.sampled_from([1, 250_000, _MICRO, 7 * _MICRO, 59 * _MICRO, 600 * _MICRO, 3600 * _MICRO,
                         6 * 3600 * _MICRO, 86400 * _MICRO, 7 * 86400 * _MICRO, 30 * 86400 * _MICRO,
                         400 * 86400 * _MICRO, 3 * 365 * 86400 * _MICRO])


def _reachable(status: str) -> set[str]:
    """The statuses a job may be in later, by any sequence of `lifecycle.TRANSITIONS` (itself included)."""
    seen, todo = {status}, [status]
    while todo:
        here = todo.pop()
        for (source, _), target in lifecycle.TRANSITIONS.items():
            if source == here and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def chat_file(n: int) -> bytes:
    return "".join(LINE % (i, i, 2 * i) for i in range(n)).encode()


def _answer(fn: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """What a request answered: ("ok", value) or ("error", type, message); a non-API exception propagates."""
    try:
        return ("ok", fn(*args, **kwargs))
    except SimulatorError as exc:
        return ("error", (type(exc).__name__, exc.message))


def dump(backend: Backend) -> dict[str, Any]:
    """Every row of the world (its store order within each job's events and checkpoints), the stored clock and id
    counters, and the order every listing shows."""
    conn = backend.store._conn
    rows = conn.execute("SELECT kind, tenant, id, parent, data FROM objects ORDER BY seq").fetchall()
    ordered: dict[tuple[str, str, str], list[str]] = {}
    for kind, tenant, id_, parent, _ in rows:
        if kind in ("event", "checkpoint"):
            ordered.setdefault((kind, tenant, parent), []).append(id_)
    # not the restarts, nor how the clock was moved (the twin moves its own to the microsecond without `advance`)
    meta = {k: v for k, v in conn.execute("SELECT key, value FROM meta").fetchall()
            if k not in ("boots", "clock_micros")}
    return {"rows": {(k, t, i): (p, d) for k, t, i, p, d in rows}, "order": ordered, "meta": meta}


def listings(backend: Backend, tenants: list[Tenant]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for t in tenants:
        out[t.key] = ([j["id"] if isinstance(j, dict) else j.id for j in backend.jobs.list(t, limit=100)["data"]],
                      [f["id"] for f in backend.files.list(t)["data"]],
                      [m["id"] for m in backend.models.list(t)["data"]])
    return out


class WorldMachine(RuleBasedStateMachine):
    """A persisted multi-tenant world and its lazy in-memory twin, moved by the clocks real servers see."""

    jobs = Bundle("jobs")

    # -- setup ----------------------------------------------------------------------------------------------

    def _open(self) -> Backend:
        return Backend(store=Store(self.path), clock=ManualClock(), config=self.config())

    @staticmethod
    def config() -> SimConfig:
        # Developer-tier jobs are preempted (paused by the system, resumed by themselves) about every third step
        return SimConfig(seed=SEED, max_concurrent_jobs_per_model=2, developer_preemption=0.25)

    @initialize()
    def start(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="ftsim-world-")
        self.path = Path(self.dir) / "world.db"
        self.world = self._open()
        self.twin = Backend(store=Store(":memory:"), clock=ManualClock(), config=self.config())
        self.micros = self.world.now() * _MICRO  # the world's clock, exactly
        self.lag = 0  # microseconds the world's clock moved that the twin's has not yet
        self.tenants = [self.world.tenant(k) for k in KEYS]
        az = azure_tenant(self.world.tenancy, AZURE_KEY)
        assert az is not None
        self.azure = az
        self.files: dict[str, list[str]] = {}  # acknowledged files, by tenant key (good ones first-class)
        self.good: dict[str, list[str]] = {}
        self.acked_jobs: dict[str, Tenant] = {}  # job id -> tenant
        self.seen: dict[str, dict[str, Any]] = {}  # job id -> {status, events: {id: created_at}, ckpts: {id: step}}
        self.restarts = 0
        for b in (self.world, self.twin):
            for spec in STANDING:
                b.faults.add(**spec)
        for t in self.tenants:
            self._new_file(t, good=True)
        self._rft_files()

    def teardown(self) -> None:
        try:
            if hasattr(self, "world"):
                self.compare()
        finally:
            for name in ("world", "twin"):
                if hasattr(self, name):
                    getattr(self, name).close()
            if hasattr(self, "dir"):
                shutil.rmtree(self.dir, ignore_errors=True)

    # -- both worlds ----------------------------------------------------------------------------------------

    def _moved(self, before: int) -> None:
        """The world's clock moved since it stood at `before` (microseconds): the twin lags by that much more."""
        self.micros = self.world.clock.micros()
        self.lag_added = self.micros - before
        self.lag += self.lag_added

    def _catch_up_twin(self) -> None:
        """Move the twin's clock by everything the world's moved since, in one step (`Backend.advance`, to the
        microsecond: a float of seconds cannot say them past about 4e9 s, as far as the clock's end is)."""
        if self.lag:
            self.twin.clock.advance_micros(self.lag)
            self.twin.sync()
            self.lag = 0
        assert self.twin.clock.micros() == self.world.clock.micros()

    def _both(self, fn_name: str, *args: Any, **kwargs: Any) -> tuple[str, Any]:
        """The same request to both worlds (the twin caught up first): answered the same, ids included."""
        self._catch_up_twin()
        answers = []
        for b in (self.world, self.twin):
            service, method = fn_name.split(".")
            answers.append(_answer(getattr(getattr(b, service), method), *args, **kwargs))
        (kind_w, got_w), (kind_t, got_t) = answers
        dump_w = got_w.model_dump(mode="json") if hasattr(got_w, "model_dump") else got_w
        dump_t = got_t.model_dump(mode="json") if hasattr(got_t, "model_dump") else got_t
        assert (kind_w, dump_w) == (kind_t, dump_t), f"{fn_name}: the world and its lazy twin answered differently"
        return kind_w, got_w

    def _new_file(self, tenant: Tenant, good: bool) -> None:
        kind, f = self._both("files.create", tenant, filename="t.jsonl", purpose="fine-tune",
                             chunks=[chat_file(12) if good else BAD_FILE])
        assert kind == "ok", f
        self.files.setdefault(tenant.key, []).append(f.id)
        if good:
            self.good.setdefault(tenant.key, []).append(f.id)

    def _rft_files(self) -> None:
        for name in ("rft_train.jsonl", "rft_valid.jsonl"):
            kind, f = self._both("files.create", self.azure, filename=name, purpose="fine-tune",
                                 chunks=[(FIXTURES / name).read_bytes()])
            assert kind == "ok", f
            self.files.setdefault(self.azure.key, []).append(f.id)

    def _ack_job(self, tenant: Tenant, job: Any) -> str:
        self.acked_jobs[job.id] = tenant
        self.seen[job.id] = {"status": job.status, "events": {}, "ckpts": {}}
        return job.id

    # -- rules: requests ------------------------------------------------------------------------------------

    @rule(who=st.integers(0, 1), good=st.booleans())
    def new_file(self, who: int, good: bool) -> None:
        self._new_file(self.tenants[who], good)

    @rule(who=st.integers(0, 2), newest=st.booleans())
    def delete_file(self, who: int, newest: bool) -> None:
        """Delete a training file: the tenant's moving jobs on it fail (those already over stay as they ended)."""
        tenant = (self.tenants + [self.azure])[who]
        files = self.files.get(tenant.key, [])
        if not files:
            return
        file_id = files[-1] if newest else files[0]
        kind, out = self._both("files.delete", tenant, file_id)
        assert kind == "ok" and out.deleted, out
        files.remove(file_id)
        if file_id in self.good.get(tenant.key, []):
            self.good[tenant.key].remove(file_id)
        if tenant.key != self.azure.key and not self.good.get(tenant.key):
            self._new_file(tenant, good=True)  # new_job trains on the newest good file
        elif tenant.key == self.azure.key and len(files) < 2:
            self.files[self.azure.key] = []
            self._rft_files()
        event("training file deleted")

    @rule(target=jobs, who=st.integers(0, 1), model=st.sampled_from(MODELS), good=st.booleans(),
          suffix=st.sampled_from([None, "ok", "failv", "fails"]))
    def new_job(self, who: int, model: str, good: bool, suffix: str | None) -> str:
        tenant = self.tenants[who]
        files = self.good[tenant.key] if good else self.files[tenant.key]
        kind, job = self._both("jobs.create", tenant, model=model, training_file=files[-1], suffix=suffix)
        if kind == "error":
            event(f"job refused: {job[0]}")
            assert job[0] == "RateLimitError", job
            return "ftjob-refused"
        event("job created")
        return self._ack_job(tenant, job)

    @rule(target=jobs, training_type=st.sampled_from(["GlobalStandard", "DeveloperTier"]))
    def new_azure_rft(self, training_type: str) -> str:
        """An Azure RFT job long enough to reach the $5,000 cap (GlobalStandard), or preempted now and then
        (DeveloperTier)."""
        train, valid = self.files[self.azure.key][:2]
        method = {"type": "reinforcement", "reinforcement": {"grader": GRADER, "hyperparameters": LONG_RFT}}
        self._catch_up_twin()
        answers = []
        for b in (self.world, self.twin):
            hook = azure_jobs.training_type_writer(b, self.azure, training_type)
            answers.append(_answer(b.jobs.create, self.azure, model=O4, training_file=train, validation_file=valid,
                                   method=method, on_create=hook))
        (kind, job), (kind_t, twin_job) = answers
        assert kind == kind_t and (job if kind == "error" else job.id) == (twin_job if kind == "error" else twin_job.id)
        if kind == "error":
            event(f"azure job refused: {job[0]}")
            assert job[0] == "RateLimitError", job
            return "ftjob-refused"
        event(f"azure rft created ({training_type})")
        return self._ack_job(self.azure, job)

    @rule(job_id=jobs, verb=st.sampled_from(["cancel", "pause", "resume"]))
    def act(self, job_id: str, verb: str) -> None:
        """An action from whatever status the job is in: accepted exactly when TRANSITIONS allow it."""
        if job_id not in self.acked_jobs:
            return
        tenant = self.acked_jobs[job_id]
        self._catch_up_twin()
        self.world.sync()  # the status the action meets (the action's own catch-up would do the same)
        before = self.world.jobs.retrieve(tenant, job_id).status
        kind, job = self._both(f"jobs.{verb}", tenant, job_id)
        allowed = (before, verb) in lifecycle.TRANSITIONS
        event(f"{verb} from {before}: {'accepted' if kind == 'ok' else 'refused'}")
        assert (kind == "ok") == allowed, (verb, before, job)
        if kind == "ok":
            assert job.status == lifecycle.TRANSITIONS[(before, verb)]

    @rule(job_id=jobs, step=st.integers(1, 60))
    def fail_at_step(self, job_id: str, step: int) -> None:
        """A step rule naming a job, added whatever its status (mid-run: it fails at that step or the next one)."""
        if job_id not in self.acked_jobs:
            return
        self._catch_up_twin()
        for b in (self.world, self.twin):
            b.faults.add(kind="job", stage="step", step=step, job_id=job_id)
        event("step rule on a job")

    @rule()
    def one_shot_validation_rule(self) -> None:
        """A one-shot rule for whichever job is validated next (any tenant)."""
        self._catch_up_twin()
        for b in (self.world, self.twin):
            b.faults.add(kind="job", stage="validation", times=1)

    @rule(who=st.integers(0, 2))
    def chat(self, who: int) -> None:
        """A tuned model (or a base one) answers the same in both worlds (a restarted world's learned cache is cold)."""
        tenant = (self.tenants + [self.azure])[who]
        self._catch_up_twin()
        self.world.sync()
        tuned = sorted(m["id"] for _, m in self.world.store.scan("model", tenant.key) if ":ckpt-step-" not in m["id"])
        model = tuned[0] if tuned else "gpt-4o-mini"
        event("chat with a tuned model" if tuned else "chat with a base model")
        req = ChatCompletionRequest(model=model, messages=[{"role": "user", "content": "What is 3 + 3?"}])
        kind, out = self._both("chat.create", tenant, req)
        assert kind == "ok", out

    # -- rules: time, restarts, reset ------------------------------------------------------------------------

    @rule(micros=MOVES, pieces=st.integers(1, 6))
    def advance(self, micros: int, pieces: int) -> None:
        """Move the world's clock by `micros` in `pieces` steps (the twin's stays behind); 400 past the clock's end."""
        room = CLOCK_END * _MICRO - self.micros  # to the start of the clock's last second
        if micros > room:
            before = self.world.clock.now()
            try:
                self.world.advance(micros / _MICRO)
            except SimulatorError:
                event("advance refused at the clock's end")
                assert self.world.clock.now() == before
                return
            raise AssertionError("moved past the clock's end")
        base, extra = divmod(micros, pieces)
        before = self.world.clock.micros()
        for i in range(pieces):
            self.world.advance((base + (extra if i == 0 else 0)) / _MICRO)
        self._moved(before)
        assert self.lag_added == micros
        event(f"advance in {'one step' if pieces == 1 else 'several'}")

    @rule(micros=MOVES, who=st.integers(0, 2))
    def clock_runs_then_a_tenant_polls(self, micros: int, who: int) -> None:
        """The clock runs with nobody catching up (a scaled clock between requests), then one tenant's request
        catches up what is its own to catch up (other tenants' scans are left to them)."""
        micros = -(-micros // _MICRO) * _MICRO  # whole seconds: a fraction moved so is stored with the next second
        if micros > CLOCK_END * _MICRO - self.micros:
            return
        before = self.world.clock.micros()
        self.world.clock.advance(micros / _MICRO)
        self._moved(before)
        self.world.sync((self.tenants + [self.azure])[who])
        event("a tenant polls after the clock ran")

    @rule(job_id=jobs, step=st.sampled_from([1, 1, 13, 60, 600, 3600]),  # 1 s: a queue lasts 2 to 5 s
          then=st.sampled_from([None, "cancel", "pause", "resume", "fail_at_step"]))
    def until_it_changes(self, job_id: str, step: int, then: str | None) -> None:
        """Move the clock in small steps until the job's status changes (bounded), as a poller sees it; then maybe
        act on it at once: how a pause meets a job just queued, a cancel one just validating, and so on."""
        if job_id not in self.acked_jobs:
            return
        tenant = self.acked_jobs[job_id]
        start = self.world.jobs.retrieve(tenant, job_id).status
        for _ in range(400):
            if self.world.jobs.retrieve(tenant, job_id).status != start or self.micros + step * _MICRO > CLOCK_END * _MICRO:
                break
            self.advance(step * _MICRO, 1)
        status = self.world.jobs.retrieve(tenant, job_id).status
        event(f"until: {start} -> {status}")
        if then == "fail_at_step":
            self.fail_at_step(job_id, 1 + self.micros % 7)
        elif then is not None:
            self.act(job_id, then)

    @rule(draw=st.integers(0, 7))
    def to_the_clock_end(self, draw: int) -> None:
        """Rarely (one draw in 8): straight to the clock's last second (jobs still running there stop moving)."""
        if draw or self.micros >= CLOCK_END * _MICRO:
            return
        before = self.world.clock.micros()
        self.world.advance(self.world.clock_room())  # what a user does: as far as it goes
        self._moved(before)
        assert self.world.now() == CLOCK_END and self.world.clock_room() == 0
        event("clock end reached")

    @rule()
    def restart(self) -> None:
        """Stop and start again on the same file: everything acknowledged is still there, as it was; the
        in-memory schedule is rebuilt from the rows; rules (memory only) are set again as they were left."""
        self.world.sync()
        before, clock = dump(self.world), self.world.clock.micros()
        rules = [r for r in self.world.faults.list()]
        self.world.close()
        self.world = self._open()
        self.restarts += 1
        assert dump(self.world) == before, "a restart changed the committed world"
        assert self.world.clock.micros() == clock, "a restart moved the clock"
        for r in rules:
            if r.remaining != 0:
                spec = r.model_dump(include={"kind", "stage", "step", "suffix", "job_id", "code", "model"})
                self.world.faults.add(**spec, times=r.remaining)
        for job_id, tenant in self.acked_jobs.items():
            assert self.world.jobs.retrieve(tenant, job_id).id == job_id
        for key, ids in self.files.items():
            tenant = self.azure if key == self.azure.key else next(t for t in self.tenants if t.key == key)
            for file_id in ids:
                assert self.world.files.get(tenant, file_id).id == file_id
        event("restart")

    @rule(draw=st.integers(0, 7))
    def reset(self, draw: int) -> None:
        """Rarely (one draw in 8): both worlds forget everything; the standing rules are set again."""
        if draw:
            return
        self._catch_up_twin()
        for b in (self.world, self.twin):
            b.reset()
            for spec in STANDING:
                b.faults.add(**spec)
        self.files.clear()
        self.good.clear()
        self.acked_jobs.clear()
        self.seen.clear()
        for t in self.tenants:
            self._new_file(t, good=True)
        self._rft_files()
        event("reset")

    @rule()
    def compare(self) -> None:
        """Catch the twin up in one step: both worlds hold the same rows in the same orders."""
        self._catch_up_twin()
        for b in (self.world, self.twin):
            b.sync()
        mine, twins = dump(self.world), dump(self.twin)
        assert mine["meta"] == twins["meta"], (mine["meta"], twins["meta"])
        assert mine["rows"].keys() == twins["rows"].keys(), set(mine["rows"]) ^ set(twins["rows"])
        for key, row in mine["rows"].items():
            assert row == twins["rows"][key], key
        assert mine["order"] == twins["order"]
        everyone = self.tenants + [self.azure]
        assert listings(self.world, everyone) == listings(self.twin, everyone)

    # -- invariants -----------------------------------------------------------------------------------------

    @invariant()
    def memory_agrees_with_the_store(self) -> None:
        if not hasattr(self, "world"):
            return
        for b in (self.world, self.twin):
            assert b.jobs.schedule() == b.jobs.schedule_from_rows()
            rows = b.jobs._moving_rows()
            assert b.jobs._validating == {k for k, (_, status) in rows.items() if status == "validating_files"}
            assert not b.jobs._busy  # no job left claimed by a catch-up that is over
            assert b._clock_saved == b.store.meta_get("clock"), (b._clock_saved, b.store.meta_get("clock"))
            assert not b.faults._granted, b.faults._granted  # a use granted outside a catch-up: settled or refunded

    @invariant()
    def jobs_move_as_documented(self) -> None:
        if not hasattr(self, "world"):
            return
        for job_id, tenant in self.acked_jobs.items():
            job = self.world.jobs.retrieve(tenant, job_id)
            seen = self.seen[job_id]
            last = seen["status"]
            event(f"status {job.status}")
            if last in TERMINAL:
                assert job.status == last, f"{job_id} left terminal {last} for {job.status}"
            assert job.status in _reachable(last), f"{job_id} went from {last} to {job.status}"
            seen["status"] = job.status
            self._check_job(tenant, job)
            self._check_growth(tenant, job_id, seen)

    def _check_job(self, tenant: Tenant, job: Any) -> None:
        dumped = job.model_dump(mode="json")
        assert (job.trained_tokens is not None) == (job.status == "succeeded"), (job.status, job.trained_tokens)
        assert (job.finished_at is not None) <= (job.status in ("succeeded", "failed")), (job.status, job.finished_at)
        if job.status == "succeeded":
            assert job.finished_at is not None and job.fine_tuned_model is not None and job.result_files
        if job.status == "failed":
            assert dumped["error"].get("code") and dumped["error"].get("message"), dumped["error"]
        else:
            assert dumped["error"] == {}, dumped["error"]
        rec = self.world.jobs.record(tenant.key, job.id)
        assert rec is not None
        plan = rec.plan
        cost = self.world.jobs.estimated_cost(tenant, job.id)
        validated = plan.outcome is not None and plan.outcome.ok
        assert (cost["cost_usd"] is not None) == validated, (job.status, cost)  # priced once the files are
        if job.status == "succeeded" and job.method.type != "reinforcement":
            assert cost["trained_tokens"] == job.trained_tokens, (cost, job.trained_tokens)
        if tenant.key != self.azure.key:
            return
        billed = sum((ln.usd for ln in azure_jobs.account_cost(self.world, tenant).lines if ln.id == job.id),
                     Decimal(0))
        seen = self.seen[job.id]
        if job.status != "failed":  # only a failure takes back billed work ("work lost due to a service error")
            assert billed >= seen.get("billed", Decimal(0)), (job.id, billed, seen.get("billed"))
        seen["billed"] = billed
        cap_passed = plan.cap_step is not None and (plan.steps_done or 0) >= plan.cap_step
        if not cap_passed:
            assert billed <= CAP, (job.id, billed)
        at_cap = job.status == "paused" and plan.cap_step is not None and plan.steps_done == plan.cap_step \
            and plan.resume_at is None
        if job.status == "paused" and plan.resume_at is not None:
            event("azure job preempted (resumes by itself)")
        if at_cap:
            event("azure job paused at the cost cap")
            lines = [ln for ln in azure_jobs.account_cost(self.world, tenant).lines if ln.id == job.id]
            assert sum((ln.usd for ln in lines), Decimal(0)) == CAP and any(ln.capped for ln in lines), lines

    def _check_growth(self, tenant: Tenant, job_id: str, seen: dict[str, Any]) -> None:
        """Events and checkpoints only grow (but the checkpoints beyond the 3 kept), never dated back."""
        page = self.world.jobs.list_events(tenant, job_id, limit=100)["data"]
        events = [e for _, e in self.world.store.scan("event", tenant.key, parent=job_id)]  # as stored, oldest first
        stamps = [e["created_at"] for e in events]
        assert stamps == sorted(stamps), "events stored out of time order"
        assert [e["id"] for e in page] == [e["id"] for e in reversed(events)][:100], "events not listed newest first"
        now_ids = {e["id"]: e["created_at"] for e in events}
        old = seen["events"]
        assert old.keys() <= now_ids.keys(), f"{job_id} lost events {sorted(old.keys() - now_ids.keys())[:3]}"
        newest_old = max(old.values(), default=0)
        assert all(at >= newest_old for i, at in now_ids.items() if i not in old), "a new event dated before an old one"
        seen["events"] = now_ids
        ckpts = self.world.jobs.list_checkpoints(tenant, job_id, limit=100)["data"]
        assert len(ckpts) <= 3
        now_ck = {c["id"]: (c["step_number"], c["created_at"]) for c in ckpts}
        old_ck = seen["ckpts"]
        top_step, top_at = seen.get("ck_top", (0, 0))
        for cid, (step, at) in now_ck.items():
            if cid in old_ck:
                assert old_ck[cid] == (step, at)
            else:  # a new checkpoint is of a later step than any seen, and not dated before them
                assert step > top_step and at >= top_at, (job_id, step, top_step, at, top_at)
        if not old_ck.keys() <= now_ck.keys():  # dropped only for newer (or, RFT, better) ones: 3 are kept
            assert len(now_ck) == 3, f"{job_id} lost checkpoints below the 3 kept"
        seen["ckpts"] = now_ck
        if now_ck:
            seen["ck_top"] = (max(top_step, *(s for s, _ in now_ck.values())),
                              max(top_at, *(a for _, a in now_ck.values())))

WorldMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    phases=[Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if os.environ.get("FTSIM_SHRINK", "1") == "1" else []),
    stateful_step_count=int(os.environ.get("FTSIM_STATEFUL_STEPS", "30")),
    derandomize=os.environ.get("FTSIM_DERANDOMIZE", "1") == "1",  # 0: other runs each time, to hunt
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
test_world_machine = WorldMachine.TestCase


# -- runs the generated ones may miss, replayed with the machine's own rules and invariants ---------------------

def _drive(monkeypatch: Any, steps: list[tuple[str, dict[str, Any]]]) -> WorldMachine:
    """Run `steps` (rule name, arguments; "$n" names the n-th job created) on a fresh machine, every invariant
    after each, then the teardown (which compares the world with its twin)."""
    monkeypatch.setattr(__import__(__name__, fromlist=["event"]), "event", lambda *_: None)  # outside a hypothesis test
    machine = WorldMachine()
    created: list[str] = []
    try:
        machine.start()
        for name, kwargs in steps:
            args = {k: created[int(v[1:])] if isinstance(v, str) and v.startswith("$") else v
                    for k, v in kwargs.items()}
            out = getattr(machine, name)(**args)
            if name.startswith("new_") and name != "new_file":
                created.append(out)
            machine.memory_agrees_with_the_store()
            machine.jobs_move_as_documented()
    finally:
        machine.teardown()
    return machine


HOUR = 3600 * _MICRO


def test_replay_an_azure_job_paused_at_the_cap_survives_a_restart_and_resumes(monkeypatch):
    steps: list[tuple[str, dict[str, Any]]] = [("new_azure_rft", {"training_type": "GlobalStandard"})]
    steps += [("advance", {"micros": 6 * HOUR, "pieces": 3})] * 12  # 72 h: past the cap (about 50 h in)
    steps += [("restart", {}), ("act", {"job_id": "$0", "verb": "resume"}),
              ("advance", {"micros": 30 * 86400 * _MICRO, "pieces": 1}), ("compare", {})]
    machine = _drive(monkeypatch, steps)
    assert machine.seen[next(iter(machine.seen))]["status"] == "succeeded"


def test_replay_developer_preemptions_with_polls_and_a_restart(monkeypatch):
    steps: list[tuple[str, dict[str, Any]]] = [("new_azure_rft", {"training_type": "DeveloperTier"})]
    for i in range(30):
        steps.append(("clock_runs_then_a_tenant_polls", {"micros": 2 * HOUR, "who": i % 3}))
        if i == 15:
            steps.append(("restart", {}))
    steps.append(("compare", {}))
    _drive(monkeypatch, steps)


def test_replay_actions_on_a_queued_job_and_one_shot_rules_across_tenants(monkeypatch):
    _drive(monkeypatch, [
        ("new_job", {"who": 0, "model": MODELS[0], "good": True, "suffix": None}),
        ("advance", {"micros": _MICRO, "pieces": 1}),
        ("new_job", {"who": 1, "model": MODELS[0], "good": True, "suffix": None}),
        ("one_shot_validation_rule", {}),
        ("until_it_changes", {"job_id": "$0", "step": 1, "then": "pause"}),  # queued: refused
        ("act", {"job_id": "$0", "verb": "cancel"}),
        ("advance", {"micros": 250_000, "pieces": 1}),
        ("restart", {}),
        ("advance", {"micros": 86400 * _MICRO, "pieces": 6}),
        ("compare", {}),
    ])


@pytest.mark.parametrize("first", [0, 1])
def test_replay_one_shot_rules_meet_validations_due_together(monkeypatch, first):
    """Two tenants' validations fall due in one move of the twin, in the world one second at a time; and a rule
    added after a validation time that only another tenant's poll had reached."""
    _drive(monkeypatch, [
        ("new_job", {"who": first, "model": MODELS[0], "good": True, "suffix": None}),
        ("advance", {"micros": _MICRO, "pieces": 1}),
        ("new_job", {"who": 1 - first, "model": MODELS[0], "good": True, "suffix": None}),
        ("one_shot_validation_rule", {}),
        ("until_it_changes", {"job_id": "$1", "step": 1, "then": None}),
        ("compare", {}),
        ("new_job", {"who": first, "model": MODELS[1], "good": True, "suffix": None}),
        ("clock_runs_then_a_tenant_polls", {"micros": HOUR, "who": 1 - first}),  # leaves the scan to its owner
        ("one_shot_validation_rule", {}),
        ("compare", {}),
    ])
