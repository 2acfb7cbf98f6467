"""Property test of the job lifecycle: a hypothesis RuleBasedStateMachine on the service layer.

Rules: create a job (good or badly formatted file, with or without suffix), cancel, pause, resume, advance the
manual clock (or step it until a job runs), delete a tuned model. After every step, for every job: nothing leaves a terminal state, a paused job
does not move with the clock, events are listed newest first with unique ids, at most 3 checkpoints (the newest;
a pause snapshot counts among them), trained_tokens only on success, names well
formed, `error` is `{}` unless the job failed. FTSIM_STATEFUL_EXAMPLES raises the number of runs.
"""

from __future__ import annotations

import os
import re

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from ftsim.simulator.core.backend import Backend
from ftsim.simulator.core.clock import ManualClock
from ftsim.simulator.core.errors import BadRequestError, NotFoundError, RateLimitError
from ftsim.simulator.core.store import Store

EXAMPLES = int(os.environ.get("FTSIM_STATEFUL_EXAMPLES", "20"))
TERMINAL = {"succeeded", "failed", "cancelled"}
MODELS = ["gpt-4.1-mini-2025-04-14", "gpt-4o-mini-2024-07-18"]
ALLOWED = {  # status before -> statuses an action may produce
    "cancel": {"validating_files", "queued", "running", "paused"},
    "pause": {"running"},
    "resume": {"paused"},
}
AFTER = {"cancel": "cancelled", "pause": "paused", "resume": "queued"}


def training_file(n: int) -> bytes:
    """A valid chat dataset of n examples."""
    line = '{"messages":[{"role":"user","content":"question %d"},{"role":"assistant","content":"answer %d"}]}\n'
    return "".join(line % (i, i) for i in range(n)).encode()


BAD_FILE = b'{"messages": [{"role": "user", "content": "no assistant turn"}]}\n' * 12


class JobLifecycle(RuleBasedStateMachine):
    """Random sequences of job actions and clock moves; invariants checked after each step."""

    jobs = Bundle("jobs")

    @initialize(target=jobs)
    def world(self) -> str:
        """A fresh in-memory world with one good and one badly formatted training file, and a first job."""
        self.backend = Backend(store=Store(":memory:"), clock=ManualClock())
        self.tenant = self.backend.tenant("sk-state-machine")
        files = self.backend.files
        self.good = files.create(self.tenant, filename="good.jsonl", purpose="fine-tune",
                                 chunks=[training_file(12)]).id
        self.bad = files.create(self.tenant, filename="bad.jsonl", purpose="fine-tune", chunks=[BAD_FILE]).id
        self.seen: dict[str, str] = {}  # job id -> last status seen
        self.pauses: dict[str, int] = {}
        self.suffix: dict[str, str | None] = {}
        self.deleted: set[str] = set()
        return self.create(model=MODELS[0], good=True, suffix=None)

    def teardown(self) -> None:
        """Release the store."""
        if hasattr(self, "backend"):
            self.backend.close()

    @rule(target=jobs, model=st.sampled_from(MODELS), good=st.booleans(),
          suffix=st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)))
    def create(self, model: str, good: bool, suffix: str | None) -> str:
        """Create a job; only the simultaneous-jobs limit may refuse it."""
        try:
            job = self.backend.jobs.create(self.tenant, model=model, training_file=self.good if good else self.bad,
                                           suffix=suffix)
        except RateLimitError:
            active = [j for j, s in self.seen.items() if s not in TERMINAL]
            assert len(active) >= self.backend.config.max_concurrent_jobs_per_model
            return "ftjob-refused"
        assert job.status == "validating_files" and job.model == model
        self.seen[job.id] = job.status
        self.pauses[job.id] = 0
        self.suffix[job.id] = suffix
        return job.id

    def _act(self, verb: str, job_id: str) -> None:
        if job_id not in self.seen:
            return
        before = self.backend.jobs.retrieve(self.tenant, job_id).status
        try:
            job = getattr(self.backend.jobs, verb)(self.tenant, job_id)
        except BadRequestError:
            assert before not in ALLOWED[verb], f"{verb} refused from {before}"
            event(f"{verb} refused")
            assert self.backend.jobs.retrieve(self.tenant, job_id).status == before
            return
        assert before in ALLOWED[verb], f"{verb} accepted from {before}"
        event(f"{verb} accepted")
        assert job.status == AFTER[verb]
        if verb == "pause":
            self.pauses[job_id] += 1
        self.seen[job_id] = job.status

    @rule(job_id=jobs)
    def cancel(self, job_id: str) -> None:
        """Cancel: allowed from every non-terminal status."""
        self._act("cancel", job_id)

    @rule(job_id=jobs)
    def pause(self, job_id: str) -> None:
        """Pause: allowed from running only."""
        self._act("pause", job_id)

    @rule(job_id=jobs)
    def resume(self, job_id: str) -> None:
        """Resume: allowed from paused only."""
        self._act("resume", job_id)

    @rule(seconds=st.sampled_from([1, 5, 20, 60, 300, 3600, 86400]))
    def advance(self, seconds: int) -> None:
        """Move the clock; paused and terminal jobs stay where they are."""
        frozen = {j: s for j, s in self.seen.items() if s in TERMINAL or s == "paused"}
        before = self.backend.now()
        assert self.backend.advance(seconds) == before + seconds
        for job_id, status in frozen.items():
            assert self.backend.jobs.retrieve(self.tenant, job_id).status == status

    @rule(job_id=jobs, then_pause=st.booleans())
    def until_running(self, job_id: str, then_pause: bool) -> None:
        """Advance in small steps until the job leaves validating_files and queued (bounded), maybe pause it."""
        for _ in range(200):
            if job_id not in self.seen or self.seen[job_id] not in ("validating_files", "queued"):
                break
            self.advance(5)
            self.seen[job_id] = self.backend.jobs.retrieve(self.tenant, job_id).status
        if then_pause:
            self._act("pause", job_id)

    @rule(job_id=jobs)
    def delete_model(self, job_id: str) -> None:
        """Delete the tuned model of a succeeded job: it disappears; a second delete is 404."""
        if job_id not in self.seen:
            return
        name = self.backend.jobs.retrieve(self.tenant, job_id).fine_tuned_model
        if name is None:
            return
        if name in self.deleted:
            try:
                self.backend.models.delete(self.tenant, name)
            except NotFoundError:
                return
            raise AssertionError(f"deleted model {name} deleted again")
        assert self.backend.models.delete(self.tenant, name).deleted
        self.deleted.add(name)
        try:
            self.backend.models.get(self.tenant, name)
        except NotFoundError:
            pass
        else:
            raise AssertionError(f"deleted model {name} still retrievable")

    # -- invariants -----------------------------------------------------------------------------------------

    @invariant()
    def jobs_are_consistent(self) -> None:
        """Every invariant of every job."""
        if not hasattr(self, "backend"):
            return
        for job_id, last in list(self.seen.items()):
            job = self.backend.jobs.retrieve(self.tenant, job_id)
            if last in TERMINAL:
                assert job.status == last, f"{job_id} left terminal {last} for {job.status}"
            self.seen[job_id] = job.status
            self._check_job(job)
            self._check_events(job_id)
            self._check_checkpoints(job)

    def _check_job(self, job) -> None:
        dumped = job.model_dump(mode="json")
        success = job.status == "succeeded"
        assert (job.trained_tokens is not None) == success, (job.status, job.trained_tokens)
        if success:
            assert job.trained_tokens > 0 and job.fine_tuned_model is not None
        if job.fine_tuned_model is not None:  # named a few seconds before the job completes, as live
            assert job.status in ("running", "succeeded"), (job.status, job.fine_tuned_model)
            assert re.fullmatch(self._name_pattern(job), job.fine_tuned_model), job.fine_tuned_model
        if job.status == "failed":
            assert dumped["error"].get("code") and dumped["error"].get("message"), dumped["error"]
        else:
            assert dumped["error"] == {}, dumped["error"]
        if job.status != "succeeded":  # live: null while moving, after a cancel and after a failed validation
            assert job.finished_at is None or job.status == "failed", (job.status, job.finished_at)
        else:
            assert job.finished_at is not None, (job.status, job.finished_at)
        if job.finished_at is not None:
            assert job.finished_at >= job.created_at

    def _name_pattern(self, job) -> str:
        suffix = self.suffix[job.id] or ""
        return rf"ft:{re.escape(job.model)}:personal:{re.escape(suffix)}:[A-Za-z0-9]{{8}}"

    def _check_events(self, job_id: str) -> None:
        events, after = [], None
        while True:
            page = self.backend.jobs.list_events(self.tenant, job_id, after=after, limit=100)
            events += page["data"]
            if not page["has_more"]:
                break
            after = page["data"][-1]["id"]
        stamps = [e["created_at"] for e in events]
        assert stamps == sorted(stamps, reverse=True), "events not newest first"
        assert len({e["id"] for e in events}) == len(events), "duplicate event ids"
        assert events and events[-1]["message"] == f"Created fine-tuning job: {job_id}"

    def _check_checkpoints(self, job) -> None:
        ckpts = self.backend.jobs.list_checkpoints(self.tenant, job.id, limit=100)["data"]
        assert len(ckpts) <= 3, f"{len(ckpts)} checkpoints after {self.pauses[job.id]} pauses: only the newest 3 are kept"
        steps = [c["step_number"] for c in ckpts]
        assert steps == sorted(steps, reverse=True) and len(set(steps)) == len(steps)
        pattern = self._name_pattern(job)
        for c in ckpts:
            name = c["fine_tuned_model_checkpoint"]
            if ":ckpt-step-" in name:
                assert re.fullmatch(pattern + rf":ckpt-step-{c['step_number']}", name), name
            else:  # the final checkpoint carries the tuned model's name
                assert re.fullmatch(pattern, name), name
                assert job.fine_tuned_model in (None, name), (name, job.fine_tuned_model)
        if job.status == "succeeded" and ckpts:
            assert ckpts[0]["fine_tuned_model_checkpoint"] == job.fine_tuned_model


JobLifecycle.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
test_job_lifecycle = JobLifecycle.TestCase
