"""One tenant's input never affects another tenant: a request catches up its own tenant's file scans, never another
tenant's (a poll used to scan, and wait on, the files of whichever tenant's validation fell due first), and the
world is the same whoever's requests come first."""

from __future__ import annotations

import json
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftsim import Simulator
from ftsim.simulator.core.backend import Backend, SimConfig
from ftsim.simulator.core.clock import ManualClock
from ftsim.simulator.core.store import Store
from ftsim.simulator.fine_tuning import jobs as jobs_module

MINI = "gpt-4o-mini-2024-07-18"


def chat_lines(n: int, tag: str = "") -> bytes:
    rows = [{"messages": [{"role": "user", "content": f"{tag} what is {i} + {i}?"},
                          {"role": "assistant", "content": f"{2 * i}"}]} for i in range(n)]
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode()


@pytest.fixture
def scanned(monkeypatch):
    """The training file ids whose scan ran, in order (the real scan still runs)."""
    seen: list[str] = []
    real = jobs_module.validate_files

    def spy(**kwargs):
        seen.append(kwargs["training"][0])
        return real(**kwargs)

    monkeypatch.setattr(jobs_module, "validate_files", spy)
    return seen


def _job_on(client, tag: str, n: int = 12) -> tuple[str, str]:
    f = client.files.create(file=(f"{tag}.jsonl", chat_lines(n, tag)), purpose="fine-tune")
    return f.id, client.fine_tuning.jobs.create(model=MINI, training_file=f.id).id


def test_a_poll_scans_its_own_tenants_files_only(scanned):
    """The clock moves on its own (as a scaled clock does, or between a control-plane move and its catch-up): tenant
    B's poll, the first request after both validations fell due, used to scan tenant A's file too, B paying for
    (waiting on) A's scan. B's poll now scans B's file alone; A's own next request scans A's, with the outcome a
    catch-up for everybody gives."""
    outcomes = {}
    for moved_by_polls in (True, False):
        with Simulator(seed=21) as sim:
            a, b = sim.client(api_key="sk-fair-a"), sim.client(api_key="sk-fair-b")
            file_a, job_a = _job_on(a, "a", 40)
            file_b, job_b = _job_on(b, "b")
            scanned.clear()
            if moved_by_polls:
                sim.backend.clock.advance(3600)  # nobody caught up yet
                assert b.fine_tuning.jobs.retrieve(job_b).status != "validating_files"
                assert scanned == [file_b]
                tenant_a, tenant_b = sim.backend.tenant("sk-fair-a"), sim.backend.tenant("sk-fair-b")
                assert sim.backend.jobs.record(tenant_a.key, job_a).job.status == "validating_files"  # left to A
                # B's next requests have nothing to catch up (no trip to a worker thread for A's pending scan)
                assert not sim.backend.sync_pending(tenant_b)
                assert sim.backend.sync_pending(tenant_a) and sim.backend.sync_pending()
                assert a.fine_tuning.jobs.retrieve(job_a).status != "validating_files"
                assert scanned == [file_b, file_a]
            else:
                sim.advance(3600)  # the control plane catches everybody up
                assert sorted(scanned) == sorted([file_a, file_b])
            sim.advance(3 * 24 * 3600)
            outcomes[moved_by_polls] = [c.fine_tuning.jobs.retrieve(j).model_dump(mode="json")
                                        for c, j in ((a, job_a), (b, job_b))]
    assert outcomes[True] == outcomes[False]
    assert all(job["status"] == "succeeded" for job in outcomes[True])


def test_a_poll_does_not_wait_on_another_tenants_scan_under_way(monkeypatch):
    """While a catch-up in another thread scans tenant A's file (held here until B's poll is answered), B's poll
    is answered: it neither runs nor waits on that scan. If it waited, the scan would be released only by its
    safety timeout, and `released_by_poll` would say so."""
    real = jobs_module.validate_files
    started, release = threading.Event(), threading.Event()
    held: dict[str, bool] = {}

    with Simulator(seed=22) as sim:
        a, b = sim.client(api_key="sk-wait-a"), sim.client(api_key="sk-wait-b")
        _, job_b = _job_on(b, "b")
        sim.advance(3600)  # B's job is past validation
        file_a, job_a = _job_on(a, "a", 30)

        def blocking(**kwargs):
            if kwargs["training"][0] == file_a:
                started.set()
                held["released_by_poll"] = release.wait(timeout=60)  # a safety net against a hang, not a timing
            return real(**kwargs)

        monkeypatch.setattr(jobs_module, "validate_files", blocking)
        sim.backend.clock.advance(3600)
        mover = threading.Thread(target=sim.backend.sync)  # the control plane's catch-up, scanning A's file
        mover.start()
        try:
            assert started.wait(timeout=60)
            polled = b.fine_tuning.jobs.retrieve(job_b)  # answered while A's scan is held
            listed = b.fine_tuning.jobs.list()
        finally:
            release.set()
            mover.join()
        assert held == {"released_by_poll": True}
        assert polled.status != "validating_files" and [j.id for j in listed.data] == [job_b]
        assert a.fine_tuning.jobs.retrieve(job_a).status != "validating_files"


# -- the same world whoever's requests come first --------------------------------------------------------------------

STEPS = st.lists(st.tuples(st.sampled_from(["a", "b", "move"]), st.integers(min_value=1, max_value=400)),
                 min_size=1, max_size=12)


def _world(steps: list[tuple[str, int]], only: str | None = None) -> tuple[dict[str, list[object]], object]:
    """Two tenants with two jobs each; the clock moved by itself (no catch-up) and polls of a, b in `steps` order
    (`only`: that tenant's polls alone). Each tenant's answers, then every row once a catch-up for everybody ran."""
    world = Backend(store=Store(":memory:"), clock=ManualClock(), config=SimConfig(seed=13))
    try:
        jobs: dict[str, list[str]] = {}
        tenants = {name: world.tenant(f"sk-order-{name}") for name in ("a", "b")}
        world.faults.add(preset="job_fails_validation", api_key="sk-order-a")  # scoped: A's first validated job
        for name, sizes in (("a", (12, 60)), ("b", (30, 8))):
            tenant = tenants[name]
            jobs[name] = []
            for n in sizes:
                f = world.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[chat_lines(n, name)])
                jobs[name].append(world.jobs.create(tenant, model=MINI, training_file=f.id).id)
        answers: dict[str, list[object]] = {"a": [], "b": []}
        for who, seconds in steps:
            if who == "move":
                world.clock.advance(seconds)
            elif only is None or who == only:
                world.sync(tenants[who])  # what the tenant's request does first
                answers[who].append([world.jobs.retrieve(tenants[who], j).model_dump(mode="json") for j in jobs[who]])
        world.advance(3 * 24 * 3600)
        rows = world.store._conn.execute("SELECT kind, tenant, id, data FROM objects ORDER BY kind, tenant, id")
        return answers, sorted(tuple(r) for r in rows.fetchall())
    finally:
        world.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS)
def test_the_world_does_not_depend_on_whose_requests_come_first(steps):
    """Each tenant's polls answer what they answer with no other tenant around, and the world ends the same as
    with nobody polling (the catch-up leaves other tenants' scans to them, and their outcome does not depend on
    when they run)."""
    answers, rows = _world(steps)
    assert answers["a"] == _world(steps, only="a")[0]["a"]
    assert answers["b"] == _world(steps, only="b")[0]["b"]
    assert rows == _world([s for s in steps if s[0] == "move"])[1]
