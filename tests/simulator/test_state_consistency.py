"""In-memory state never disagrees with what is committed: after a deletion, a rollback, a reset or a restart, a
service answers as a fresh backend on the same rows would (caches, counters, the clock)."""

from __future__ import annotations

import json
import os
import threading
from fractions import Fraction
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ftsim.simulator.core.errors import BadRequestError, RateLimitError
from ftsim.simulator.core.backend import Backend, SimConfig
from ftsim.simulator.core.clock import DEFAULT_START, ManualClock
from ftsim.simulator.core.store import StorageFault, Store
from ftsim.simulator.core.tenancy import azure_tenant
from ftsim.simulator.inference.chat import ChatCompletionRequest
from ftsim.simulator.inference.deployments import PROVISION_SECONDS, DeploymentRequest, Deployments
from tests.api.test_storage_faults import _fill_database

EXAMPLES = int(os.environ.get("FTSIM_STATE_EXAMPLES", "15"))  # raise it to hunt longer
MINI = "gpt-4.1-mini-2025-04-14"
TUNED = "ft:gpt-4o-mini-2024-07-18:personal:qa:abc12345"
ROWS = [{"messages": [{"role": "user", "content": "Capital of France?"}, {"role": "assistant", "content": "Paris."}]}]


def chat_lines(n: int, variant: str = "") -> bytes:
    rows = [{"messages": [{"role": "user", "content": f"What is {i} + {i}?"},
                          {"role": "assistant", "content": f"{2 * i}{variant}"}]} for i in range(n)]
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode()


@pytest.fixture
def backend():
    b = Backend(store=Store(":memory:"), clock=ManualClock(), config=SimConfig(seed=3))
    yield b
    b.close()


def ask(backend, tenant, text):
    req = ChatCompletionRequest(model=TUNED, messages=[{"role": "user", "content": text}])
    return backend.chat.create(tenant, req).choices[0].message.content


def test_deleting_a_file_after_the_clock_moved_catches_jobs_up_first(backend):
    """The clock moved with no request in between (a scaled clock does so on its own): the deletion used to run the
    catch-up inside its own transaction, which Backend.sync refuses (RuntimeError, a 500)."""
    tenant = backend.tenant("sk-delete")
    f = backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[chat_lines(12)])
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id)
    while backend.jobs.retrieve(tenant, job.id).status == "validating_files":
        backend.advance(5)  # until validated: its end is known
    end = backend.jobs.expected_end(tenant.key, job.id)
    assert end is not None
    backend.clock.advance(end + 60 - backend.now())  # past its end; nobody has caught up yet
    backend.files.delete(tenant, f.id)
    done = backend.jobs.retrieve(tenant, job.id)
    assert done.status == "succeeded" and done.finished_at <= end  # finished before its file went: not failed


def test_a_warm_learned_cache_forgets_a_deleted_training_file(backend):
    """A tuned model answers generically once its training file is deleted (as after a restart, whose cache is
    cold); a cache warmed before the deletion used to keep answering from the deleted file."""
    tenant = backend.tenant("sk-cache")
    body = ("\n".join(json.dumps(r) for r in ROWS) + "\n").encode()
    f = backend.files.create_bytes(tenant, filename="train.jsonl", purpose="fine-tune", content=body)
    backend.store.put("model", tenant.key, TUNED, {
        "id": TUNED, "object": "model", "created": backend.now(), "owned_by": "personal",
        "fine_tuning_job_id": "ftjob-1", "base_model": "gpt-4o-mini-2024-07-18", "training_file": f.id})
    assert ask(backend, tenant, "Capital of France?") == "Paris."  # the cache is warm
    backend.files.delete(tenant, f.id)
    cold = Backend(store=backend.store, clock=ManualClock(backend.now()), config=SimConfig(seed=3))
    assert ask(backend, tenant, "Capital of France?") == ask(cold, tenant, "Capital of France?") != "Paris."


# -- ids: per tenant, never ahead of the store ---------------------------------------------------------------------

OPS = st.lists(st.sampled_from(["file", "job", "upload", "chat", "bad_job"]), min_size=1, max_size=6)
LINE = b'{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}\n'


def _do(backend: Backend, key: str, op: str, seen: list[str]) -> None:
    """One request of tenant `key` (an Azure account for `az-` keys); the ids it is answered with go to `seen`."""
    tenant = azure_tenant(backend.tenancy, key) if key.startswith("az-") else backend.tenant(key)
    if op == "file" or (op == "job" and not any(i.startswith("file-") for i in seen)):
        seen.append(backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[LINE * 12]).id)
    elif op == "job":
        files = [i for i in seen if i.startswith("file-")]
        try:
            seen.append(backend.jobs.create(tenant, model=MINI, training_file=files[-1]).id)
        except RateLimitError:  # the tenant's 4th simultaneous job: refused, without using up an id
            seen.append("refused")
    elif op == "upload":
        seen.append(backend.uploads.create(tenant, filename="u.jsonl", purpose="fine-tune", bytes=3,
                                           mime_type="text/jsonl").id)
    elif op == "chat":
        req = ChatCompletionRequest(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        seen.append(backend.chat.create(tenant, req).id)
    else:  # refused: it must not use up an id either
        with pytest.raises(BadRequestError):
            backend.jobs.create(tenant, model="gpt-unknown", training_file="file-nope")


@settings(max_examples=EXAMPLES + 10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=OPS, b=OPS, order=st.lists(st.booleans(), max_size=12))
def test_a_tenants_ids_do_not_depend_on_other_tenants_requests(a, b, order):
    """Each tenant (an OpenAI organization, an Azure account) gets the ids it would get alone, however its requests
    interleave with the other's (ids used to come from one counter for the whole world)."""

    def run(plan: list[tuple[str, str]]) -> dict[str, list[str]]:
        world = Backend(store=Store(":memory:"), clock=ManualClock(), config=SimConfig(seed=5))
        seen: dict[str, list[str]] = {"sk-a": [], "az-b": []}
        try:
            for key, op in plan:
                _do(world, key, op, seen[key])
        finally:
            world.close()
        return seen

    alone = {**run([("sk-a", op) for op in a]), "az-b": run([("az-b", op) for op in b])["az-b"]}
    queues = {"sk-a": list(a), "az-b": list(b)}
    plan: list[tuple[str, str]] = []
    for pick_a in order + [True] * len(a) + [False] * len(b):
        key = "sk-a" if pick_a else "az-b"
        if queues[key]:
            plan.append((key, queues[key].pop(0)))
    assert run(plan) == alone


def test_a_rolled_back_transaction_takes_its_ids_back(tmp_path):
    """An id minted in a transaction that rolls back is minted again next, as a restart on the same file would do
    (the counter used to stay ahead in memory)."""
    path = tmp_path / "ids.db"
    backend = Backend(store=Store(path), clock=ManualClock(), config=SimConfig(seed=7))
    tenant = backend.tenant("sk-rollback")
    with pytest.raises(ZeroDivisionError), backend.store.transaction():
        lost = backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[LINE]).id
        1 / 0
    again = backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[LINE]).id
    assert again == lost
    with pytest.raises(ZeroDivisionError), backend.store.transaction():
        next_lost = backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[LINE]).id
        1 / 0
    backend.close()
    restarted = Backend(store=Store(path), clock=ManualClock(), config=SimConfig(seed=7))
    try:
        assert restarted.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[LINE]).id == next_lost
    finally:
        restarted.close()


# -- the clock: one big step or many small ones give the same world --------------------------------------------

def _world_after(chunks: list[int]) -> dict[str, object]:
    """Two tenants, three jobs of different lengths, the clock moved by `chunks`; every job, event and file."""
    world = Backend(store=Store(":memory:"), clock=ManualClock(), config=SimConfig(seed=11))
    try:
        jobs = []
        for key, sizes in (("sk-x", (12, 90, 30)), ("sk-y", (40, 20))):
            tenant = world.tenant(key)
            for n in sizes:
                f = world.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[chat_lines(n)])
                jobs.append((tenant, world.jobs.create(tenant, model=MINI, training_file=f.id).id))
        for step in chunks:
            world.advance(step)
        out: dict[str, object] = {}
        for tenant, job_id in jobs:
            out[job_id] = (world.jobs.retrieve(tenant, job_id).model_dump(mode="json"),
                           sorted(e["id"] for e in world.jobs.list_events(tenant, job_id, limit=100)["data"]))
            out[tenant.key] = ([f["id"] for f in world.files.list(tenant)["data"]],  # in the order listed
                               [f["id"] for f in world.files.list(tenant, order="asc", limit=2)["data"]],
                               [m["id"] for m in world.models.list(tenant)["data"]])
        return out
    finally:
        world.close()


@settings(max_examples=max(10, EXAMPLES // 2), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=st.lists(st.integers(min_value=1, max_value=200), min_size=1, max_size=12))  # jobs end 200-500 s in
def test_advancing_in_chunks_gives_the_world_of_one_step(chunks):
    """Job objects (result files included), their events, every tenant's files and models, in the order they are
    listed, are the same whether the clock moved in one step or in many (results files used to take the next number
    of a counter, and files and models were listed in the order written, whichever order the catch-up reached the
    jobs in)."""
    total = sum(chunks) + 3 * 24 * 3600  # every job is over by then
    assert _world_after(chunks + [3 * 24 * 3600]) == _world_after([total])


# -- storage faults: a transaction SQLite rolled back by itself stays rolled back ----------------------------------

def _full(store: Store) -> None:
    """From now on the database may not grow by one page (SQLITE_FULL, the real error)."""
    _fill_database(SimpleNamespace(store=store))


def test_no_write_escapes_a_transaction_sqlite_rolled_back(tmp_path):
    """After a full disk SQLite may roll the whole transaction back: a caller that catches the error and writes on
    used to write in autocommit, outside any transaction (and its commit then failed with a bare sqlite3 error)."""
    store = Store(tmp_path / "s.db")
    store.put("doc", "t", "kept", {"v": 1})
    _full(store)
    with pytest.raises(StorageFault):
        with store.transaction():
            store.put("doc", "t", "kept", {"v": 2})  # fits: an update in place
            with pytest.raises(StorageFault):
                with store.savepoint():
                    store.put_many("doc", "t", [{"id": f"big{i}", "pad": "x" * 4000} for i in range(50)])
            store.delete("doc", "t", "kept")  # would have run alone, committed at once
    assert store.get("doc", "t", "kept") == {"v": 1}
    store.close()


def test_a_full_disk_during_the_catch_up_fails_no_job_and_keeps_the_schedule(tmp_path):
    """The catch-up under a full disk answers a StorageFault (503) and changes nothing: it used to take the disk's
    error for the job's own defect, try to fail the job, write its row unscheduled in autocommit (the in-memory
    schedule still had it) and end with a bare sqlite3 error (500)."""
    backend = Backend(store=Store(tmp_path / "w.db"), clock=ManualClock(), config=SimConfig(seed=2))
    tenant = backend.tenant("sk-full")
    f = backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[chat_lines(20)])
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id)
    _full(backend.store)
    with pytest.raises(StorageFault):
        backend.advance(3600)
    assert backend.jobs.retrieve(tenant, job.id).status == "validating_files"
    assert backend.jobs.schedule() == backend.jobs.schedule_from_rows() != {}
    backend.store._conn.execute("PRAGMA max_page_count = 1073741823")  # room again: the job carries on
    backend.sync()
    assert backend.jobs.retrieve(tenant, job.id).status == "succeeded"
    backend.close()


def test_a_job_rule_spent_on_a_rolled_back_validation_is_given_back(tmp_path):
    """A one-shot "fail at validation" rule drawn for a job whose validation outcome then failed to commit (full
    disk) used to stay spent: once the disk had room the job validated and ran as if no rule had been set."""
    backend = Backend(store=Store(tmp_path / "r.db"), clock=ManualClock(), config=SimConfig(seed=4))
    tenant = backend.tenant("sk-rule")
    f = backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[chat_lines(20)])
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id)
    rule = backend.faults.add(preset="job_fails_validation")
    _full(backend.store)
    with pytest.raises(StorageFault):
        backend.advance(3600)
    assert backend.faults.get(rule.id).remaining == 1  # nothing was committed: nothing spent
    backend.store._conn.execute("PRAGMA max_page_count = 1073741823")
    backend.sync()
    failed = backend.jobs.retrieve(tenant, job.id)
    assert failed.status == "failed" and failed.error.code == "invalid_training_file"
    assert backend.faults.get(rule.id).remaining == 0 and backend.faults.get(rule.id).hits == 1
    backend.close()


# -- restart and reset: the same world as a backend that never kept anything in memory ---------------------------

WORLD_OPS = st.lists(st.tuples(st.sampled_from(["sk-p", "sk-q"]),
                               st.sampled_from(["file", "job", "chat", "advance", "cancel", "pause", "resume",
                                                "delete", "rule"])),
                     min_size=1, max_size=10)


def _act(backend: Backend, key: str, op: str, log: list[object], variant: str = "") -> None:
    """One request; what it answered goes to `log`. `variant` changes the training files' answers."""
    tenant = backend.tenant(key)
    files = [f["id"] for f in backend.files.list(tenant, purpose="fine-tune")["data"]]
    jobs = [j["id"] if isinstance(j, dict) else j.id for j in backend.jobs.list(tenant)["data"]]
    if op == "file" or (op == "job" and not files):
        log.append(backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune",
                                        chunks=[chat_lines(15, variant)]).id)
    elif op == "job":
        try:
            log.append(backend.jobs.create(tenant, model=MINI, training_file=files[0]).id)
        except RateLimitError:
            log.append("refused")
    elif op == "chat":
        tuned = [m["id"] for _, m in backend.store.scan("model", tenant.key) if ":ckpt-step-" not in m["id"]]
        req = ChatCompletionRequest(model=tuned[0] if tuned else "gpt-4o-mini",  # a tuned one answers as learned
                                    messages=[{"role": "user", "content": "What is 3 + 3?"}])
        out = backend.chat.create(tenant, req)
        log.append((out.id, out.choices[0].message.content))
    elif op == "advance":
        backend.advance(397)
    elif op in ("cancel", "pause", "resume") and jobs:
        try:
            log.append(getattr(backend.jobs, op)(tenant, jobs[-1]).status)
        except BadRequestError:
            log.append(f"cannot {op}")
    elif op == "delete" and files:
        log.append(backend.files.delete(tenant, files[0]).id)
    elif op == "rule":
        backend.faults.add(preset="job_fails_midway", api_key=key)


def _snapshot(backend: Backend) -> dict[str, object]:
    """Every document of the world, by kind, tenant and id (insertion order kept within a kind)."""
    backend.advance(3 * 24 * 3600)
    rows = backend.store._conn.execute("SELECT kind, tenant, id, data FROM objects ORDER BY seq").fetchall()
    return {"rows": [tuple(r) for r in rows], "now": backend.now()}


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=WORLD_OPS, at=st.integers(min_value=0, max_value=10))
def test_a_restart_on_the_same_file_gives_the_same_world(tmp_path_factory, ops, at):
    """Stopping and starting again on the same database, anywhere in a sequence of requests, answers every later
    request as if the server had kept running (fault rules, test-time configuration, are added again)."""
    at = min(at, len(ops))

    def run(restart: bool) -> tuple[list[object], dict[str, object]]:
        path = tmp_path_factory.mktemp("db") / "w.db"
        backend = Backend(store=Store(path), clock=ManualClock(), config=SimConfig(seed=9))
        log: list[object] = []
        for i, (key, op) in enumerate(ops):
            if restart and i == at:
                remaining = [r.remaining for r in backend.faults.list()]
                backend.close()
                backend = Backend(store=Store(path), clock=ManualClock(), config=SimConfig(seed=9))
                rule_keys = [k for k, o in ops[:i] if o == "rule"]
                for rule_key, left in zip(rule_keys, remaining):  # rules live in memory only: set again if unspent
                    if left:
                        backend.faults.add(preset="job_fails_midway", api_key=rule_key)
                    else:
                        backend.faults.add(preset="job_fails_midway", api_key=rule_key, model="none")
            _act(backend, key, op, log)
        try:
            return log, _snapshot(backend)
        finally:
            backend.close()

    assert run(restart=True) == run(restart=False)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(before=[("sk-p", "file"), ("sk-p", "job"), ("sk-p", "advance"), ("sk-p", "chat")],
         after=[("sk-p", "file"), ("sk-p", "job"), ("sk-p", "advance"), ("sk-p", "chat")])  # a warm learned cache
@given(before=WORLD_OPS, after=WORLD_OPS)
def test_reset_then_replay_gives_the_world_of_a_fresh_backend(before, after):
    """After `reset()` the same requests give what a new backend with the same seed (its clock at the same
    present) gives: nothing of the old world lingers in memory (schedules, caches, counters, fault rules)."""
    used = Backend(store=Store(":memory:"), clock=ManualClock(), config=SimConfig(seed=9))
    for key, op in before:
        _act(used, key, op, [], variant=" (the old world)")
    used.reset()
    fresh = Backend(store=Store(":memory:"), clock=ManualClock(used.now()), config=SimConfig(seed=9))
    try:
        logs: list[list[object]] = [[], []]
        for world, log in zip((used, fresh), logs):
            for key, op in after:
                _act(world, key, op, log)
        assert logs[0] == logs[1]
        assert _snapshot(used) == _snapshot(fresh)
    finally:
        used.close()
        fresh.close()


@settings(max_examples=200, deadline=None)
@given(chunks=st.lists(st.sampled_from([0.05, 0.1, 0.2, 0.3, 0.7, 1.5, 2.25, 60.0]), min_size=1, max_size=40))
def test_the_manual_clock_lands_on_the_same_second_however_it_is_advanced(chunks):
    """Fractions of a second add up exactly (POST /_sim/advance takes a float): the clock used to sum floats, so
    that ten steps of 0.1 s could end a second short of one step of 1 s, and a job's events with it."""
    exact = Fraction(DEFAULT_START) + sum(Fraction(str(c)) for c in chunks)
    many, one = ManualClock(), ManualClock()
    for c in chunks:
        many.advance(c)
    one.advance(float(sum(Fraction(str(c)) for c in chunks)))
    assert many.now() == one.now() == int(exact)


# -- Azure deployments: read and written in one transaction --------------------------------------------------------

def test_a_deployment_is_read_in_the_transaction_that_writes_what_follows_from_it(backend, monkeypatch):
    """A call to a deployment (its last use), a read that ends an expired one, a PUT and a DELETE decide from the
    stored record and write: the record used to be read outside the transaction, so a PUT another request committed
    in between was overwritten by the stale record (the call's `last_used`) or deleted as the expired one."""
    tenant = azure_tenant(backend.tenancy, "az-deploy")
    model = "gpt-4.1-mini-2025-04-14.ft-0123456789abcdef0123456789abcdef"
    backend.store.put("model", tenant.key, model, {"id": model, "base_model": MINI})
    deployments = Deployments(backend)
    body = DeploymentRequest.model_validate({"sku": {"name": "Standard", "capacity": 1},
                                             "properties": {"model": {"format": "OpenAI", "name": model}}})
    outside: list[str] = []
    real_get = backend.store.get

    def watched_get(kind, tenant_key, id):
        if kind == "azure_deployment" and not backend.store.in_transaction():
            outside.append(id)
        return real_get(kind, tenant_key, id)

    monkeypatch.setattr(backend.store, "get", watched_get)
    deployments.put(tenant, resource_id="/x/deployments/d1", name="d1", body=body)
    backend.advance(PROVISION_SECONDS)
    assert deployments.model_for_call(tenant, "d1") == model
    deployments.get(tenant, "d1")
    deployments.list(tenant)
    deployments.put(tenant, resource_id="/x/deployments/d1", name="d1", body=body)
    assert deployments.delete(tenant, "d1")
    assert outside == []


def test_files_page_by_creation_time_with_cursors(backend):
    """Results files dated before files uploaded earlier in the store still page without a gap or a repeat."""
    tenant = backend.tenant("sk-pages")
    for n in (40, 12, 25):
        f = backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[chat_lines(n)])
        backend.jobs.create(tenant, model=MINI, training_file=f.id)
    backend.advance(86400)  # three results files, written in the order of the jobs' keys
    backend.files.create(tenant, filename="late.jsonl", purpose="fine-tune", chunks=[chat_lines(3)])
    full = backend.files.list(tenant)["data"]
    assert [f["created_at"] for f in full] == sorted((f["created_at"] for f in full), reverse=True)
    for order, expected in (("desc", full), ("asc", full[::-1])):
        walked, after = [], None
        while True:
            page = backend.files.list(tenant, order=order, limit=1, after=after)
            walked += page["data"]
            if not page["has_more"]:
                break
            after = page["last_id"]
        assert [f["id"] for f in walked] == [f["id"] for f in expected]


def test_deleted_bytes_go_while_the_backend_lock_is_held(backend, monkeypatch):
    """A file's or an upload's parts' bytes are deleted once their rows' deletion commits, before the backend lock is
    let go: they used to be deleted after, where a reset and a new world's file or part minted with the same id
    (ids restart with the seed) could come in between and lose their acknowledged bytes."""
    tenant = backend.tenant("sk-bytes")
    free_while_unlinking: list[bool] = []
    real_delete_blob = backend.store.delete_blob

    def watched(tenant_key, id):
        def probe() -> None:  # another thread: may it take the backend lock now?
            got = backend.lock.acquire(blocking=False)
            if got:
                backend.lock.release()
            free_while_unlinking.append(got)

        thread = threading.Thread(target=probe)
        thread.start()
        thread.join()
        real_delete_blob(tenant_key, id)

    monkeypatch.setattr(backend.store, "delete_blob", watched)
    f = backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[LINE])
    backend.files.delete(tenant, f.id)
    for finish in ("cancel", "complete"):
        up = backend.uploads.create(tenant, filename="u.jsonl", purpose="fine-tune", bytes=len(LINE),
                                    mime_type="text/jsonl")
        part = backend.uploads.add_part(tenant, up.id, chunks=[LINE])
        if finish == "cancel":
            backend.uploads.cancel(tenant, up.id)
        else:
            backend.uploads.complete(tenant, up.id, part_ids=[part.id])
    assert free_while_unlinking == [False, False, False]


def test_a_reset_keeps_the_boot_count_with_the_wipe(tmp_path, monkeypatch):
    """The boot count (request ids mix it in) survives a reset in the wipe's own transaction: it used to be written
    after the wipe, so a storage fault there left it lost (a later restart repeated an earlier boot's number) and
    the reset half done (the rows wiped, the jobs' schedule and the caches in memory still the old world's)."""
    path = tmp_path / "boots.db"
    Backend(store=Store(path), clock=ManualClock()).close()
    backend = Backend(store=Store(path), clock=ManualClock())
    assert backend.boot == 2
    tenant = backend.tenant("sk-boots")
    f = backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[chat_lines(12)])
    backend.jobs.create(tenant, model=MINI, training_file=f.id)
    real_meta_set = backend.store.meta_set

    def failing_meta_set(key, value):
        if key == "boots":
            raise StorageFault("the disk holding the database is full")
        real_meta_set(key, value)

    monkeypatch.setattr(backend.store, "meta_set", failing_meta_set)
    backend.reset()
    assert backend.jobs.schedule() == backend.jobs.schedule_from_rows() == {}
    backend.close()
    restarted = Backend(store=Store(path), clock=ManualClock())
    assert restarted.boot == 3
    restarted.close()


def test_a_probabilistic_job_rule_draws_the_same_for_a_job_whatever_other_tenants_did():
    """An unscoped rule failing half the jobs at validation fails the same jobs of a tenant whether or not another
    tenant's jobs were validated first: the draws used to come one after another from the rule's generator."""

    def failed(other_first: bool) -> list[bool]:
        world = Backend(store=Store(":memory:"), clock=ManualClock(),
                        config=SimConfig(seed=6, max_concurrent_jobs_per_model=10))
        try:
            world.faults.add(kind="job", stage="validation", times=None, probability=0.5)
            if other_first:
                other = world.tenant("sk-other")
                f = world.files.create(other, filename="t.jsonl", purpose="fine-tune", chunks=[chat_lines(12)])
                for _ in range(3):
                    world.jobs.create(other, model=MINI, training_file=f.id)
                world.advance(600)
            tenant = world.tenant("sk-mine")
            f = world.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[chat_lines(12)])
            jobs = [world.jobs.create(tenant, model=MINI, training_file=f.id).id for _ in range(8)]
            world.advance(600)
            return [world.jobs.retrieve(tenant, j).status == "failed" for j in jobs]
        finally:
            world.close()

    alone = failed(other_first=False)
    assert True in alone and False in alone  # the rule does draw
    assert failed(other_first=True) == alone


def test_the_clock_stops_at_its_end_instead_of_breaking_the_world():
    # Past the year 9999 no date can be written: a clock moved there answered every later request with a 500, for
    # good. An advance past CLOCK_END is refused (400 on /_sim, ValueError in the kit) and the world stays usable.
    from ftsim import Simulator
    from ftsim.api.testing.transport import http_client
    from ftsim.simulator.core.clock import CLOCK_END

    with Simulator(start="9989-12-30T00:00:00Z") as sim:
        http = http_client(sim.app)
        refused = http.post("/_sim/clock/advance", json={"seconds": 10 * 365 * 86400})
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "seconds"
        with pytest.raises(ValueError, match="clock ends on 9989-12-31"):
            sim.advance(days=2)
        assert sim.advance(CLOCK_END - sim.now()) == CLOCK_END  # up to the last second is fine
        client = sim.client()
        f = client.files.create(file=("t.jsonl", b'{"messages": [{"role": "user", "content": "a"}, '
                                                 b'{"role": "assistant", "content": "b"}]}\n' * 10), purpose="fine-tune")
        assert client.files.retrieve(f.id).id == f.id
        assert http.post("/_sim/clock/advance", json={"seconds": 1}).status_code == 400


def _four_tenants_jobs(world: Backend) -> list:
    """(tenant, job id) of a job for each of four tenants, created a second apart."""
    jobs = []
    for key in ("sk-a", "sk-b", "sk-c", "sk-d"):
        tenant = world.tenant(key)
        f = world.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[chat_lines(12)])
        jobs.append((tenant, world.jobs.create(tenant, model=MINI, training_file=f.id).id))
        world.advance(1)
    return jobs


def _one_shot_rule_victims(moves: list[float]) -> list[str]:
    """Four tenants' jobs created a second apart, then a one-shot "fail at validation" rule for any job, then the
    clock moved by `moves`: the statuses of the jobs, in creation order."""
    world = Backend(store=Store(":memory:"), clock=ManualClock(), config=SimConfig(seed=1))
    try:
        jobs = _four_tenants_jobs(world)
        world.faults.add(preset="job_fails_validation")
        for move in moves:
            world.advance(move)
        return [world.jobs.retrieve(tenant, job_id).status for tenant, job_id in jobs]
    finally:
        world.close()


def test_a_one_shot_job_rule_fails_the_same_job_whether_the_clock_moved_in_one_step_or_many():
    """The catch-up validated the jobs due at once in the order of their keys, not of their due times: after one big
    move the rule failed the third job, after moves of a second the first (whose files were due first)."""
    fine = _one_shot_rule_victims([1.0] * 3600)
    assert fine.count("failed") == 1
    assert _one_shot_rule_victims([3600.0]) == fine == _one_shot_rule_victims([0.5] * 20 + [3590.0])


@settings(max_examples=50, deadline=None)
@given(fraction=st.integers(min_value=1, max_value=999_999), pieces=st.integers(min_value=1, max_value=4))
def test_a_move_to_the_clock_end_is_refused_alike_in_one_step_or_several(fraction, pieces):
    """From a clock standing a fraction of a second past a whole one, the room to CLOCK_END was counted from the
    whole second: the same total move (up to CLOCK_END and the fraction beyond) was accepted in two steps and
    refused in one. Now the room is counted to the microsecond: refused either way, the clock stays put."""
    from ftsim.simulator.core.clock import CLOCK_END

    world = Backend(store=Store(":memory:"), clock=ManualClock(CLOCK_END - 10), config=SimConfig(seed=1))
    try:
        world.advance(fraction / 1_000_000)
        assert round(world.clock_room() * 1_000_000) == 10_000_000 - fraction
        total = 10.0  # to CLOCK_END plus `fraction` microseconds
        with pytest.raises(BadRequestError):
            world.advance(total)
        before = world.clock.micros()
        base, extra = divmod(10_000_000, pieces)  # the same total in whole microseconds
        refused = False
        for i in range(pieces):
            try:
                world.advance((base + (extra if i == 0 else 0)) / 1_000_000)
            except BadRequestError:
                refused = True
                break
        assert refused and world.now() <= CLOCK_END
        assert world.clock.micros() <= CLOCK_END * 1_000_000 and world.clock.micros() >= before
        world.advance(world.clock_room())  # to the end exactly is allowed
        assert world.clock.micros() == CLOCK_END * 1_000_000 and world.clock_room() == 0
    finally:
        world.close()


def test_a_move_of_the_clocks_room_reaches_its_end_exactly_from_a_fractional_present():
    """The room from a present between two seconds, some 2.5e11 s, is a float that cannot say its microseconds: the
    move `clock_room()` stands for is taken, to the end exactly, neither refused nor past it."""
    from ftsim.simulator.core.clock import CLOCK_END, DEFAULT_START

    world = Backend(store=Store(":memory:"), clock=ManualClock(DEFAULT_START + 0.123457), config=SimConfig(seed=1))
    try:
        assert world.advance(world.clock_room()) == CLOCK_END
        assert world.clock.micros() == CLOCK_END * 1_000_000 and world.clock_room() == 0
        with pytest.raises(BadRequestError):
            world.advance(0.000001)
    finally:
        world.close()


@pytest.mark.parametrize("poller", [None, "sk-a", "sk-b", "sk-c", "sk-d"])
def test_a_one_shot_job_rule_fails_the_same_job_whoever_polls_first(poller):
    """A request catches up its own tenant's due validations and leaves other tenants' to them (issue 13): with a
    one-shot rule for any job, the rule went to the job of whichever tenant polled first, not to the job whose files
    were due first (the same requests, in another order, gave another world)."""
    world = Backend(store=Store(":memory:"), clock=ManualClock(), config=SimConfig(seed=1))
    try:
        jobs = _four_tenants_jobs(world)
        world.faults.add(preset="job_fails_validation")
        world.clock.advance(3600)  # a running clock: nothing caught up until a request comes
        if poller is not None:
            world.sync(world.tenant(poller))  # that tenant's request
        world.sync()
        statuses = [world.jobs.retrieve(tenant, job_id).status for tenant, job_id in jobs]
        assert statuses == ["failed", "succeeded", "succeeded", "succeeded"]  # sk-a's files were due first
    finally:
        world.close()


def test_a_restart_carries_on_from_the_fraction_of_a_second_the_clock_stood_at(tmp_path):
    """The clock was persisted in whole seconds: a world restarted at 0.75 s past a second carried on from the
    second, so that a later move of 0.5 s crossed into the next second in the world that kept running and not in
    the restarted one (their timestamps differed by a second)."""
    path = tmp_path / "fraction.db"
    kept = Backend(store=Store(tmp_path / "kept.db"), clock=ManualClock(), config=SimConfig(seed=1))
    first = Backend(store=Store(path), clock=ManualClock(), config=SimConfig(seed=1))
    for world in (kept, first):
        world.advance(0.75)
    first.close()
    restarted = Backend(store=Store(path), clock=ManualClock(), config=SimConfig(seed=1))
    try:
        assert restarted.clock.micros() == kept.clock.micros()
        assert restarted.advance(0.5) == kept.advance(0.5) == DEFAULT_START + 1
    finally:
        restarted.close()
        kept.close()


@pytest.mark.parametrize("poller", ["sk-late-a", "sk-late-b", None])
def test_a_job_rule_added_after_a_jobs_validation_time_does_not_fail_it_whoever_polls(poller):
    """Another tenant's request leaves a job's due validation to its owner: a "fail at validation" rule added after
    the job's validation time, before its owner polled, failed it, though a catch-up for everyone (or the owner's
    own poll) before the rule validated it clean (the same requests gave another world, by who polled when)."""
    world = Backend(store=Store(":memory:"), clock=ManualClock(), config=SimConfig(seed=1))
    try:
        owner, other = world.tenant("sk-late-a"), world.tenant("sk-late-b")
        f = world.files.create(owner, filename="t.jsonl", purpose="fine-tune", chunks=[chat_lines(12)])
        job = world.jobs.create(owner, model=MINI, training_file=f.id)
        world.clock.advance(3600)  # past its validation time; nobody has caught up yet
        if poller is not None:
            world.sync(world.tenant(poller))
        else:
            world.sync()
        world.faults.add(preset="job_fails_validation")
        world.advance(3 * 86400)
        assert world.jobs.retrieve(owner, job.id).status == "succeeded"
        assert world.faults.list()[0].remaining == 1  # still there for the next job
    finally:
        world.close()
