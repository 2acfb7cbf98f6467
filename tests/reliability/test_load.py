"""Load: concurrent clients (threads with OpenAI, asyncio with AsyncOpenAI) against a real `ftsim serve`.

Bounded in count. No request fails, no object is lost or duplicated; requests/s and p50/p99 latency are printed
(figures for the bench and the README, never asserted: timing depends on the machine).
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from tests.reliability.server_proc import ServerProcess

THREADS = 6
TASKS = 6
PER_CLIENT = 6
JOB_CLIENTS = 4
KIT_PER_CLIENT = 4


def jsonl(tag: str) -> bytes:
    """A small valid chat training file."""
    line = '{"messages":[{"role":"user","content":"%s %d"},{"role":"assistant","content":"ok %d"}]}\n'
    return "".join(line % (tag, n, n) for n in range(10)).encode()


class Timings:
    """Thread-safe latency recorder."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.lock = threading.Lock()

    def add(self, seconds: float) -> None:
        """Record one request."""
        with self.lock:
            self.samples.append(seconds)

    def summary(self, wall: float) -> str:
        """requests/s, p50 and p99 in milliseconds."""
        s = sorted(self.samples)
        p99 = s[min(len(s) - 1, int(len(s) * 0.99))]
        return f"{len(s)} requests, {len(s) / wall:.0f} req/s, p50 {statistics.median(s) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """One server for the module, on its own database."""
    with ServerProcess(tmp_path_factory.mktemp("load") / "ftsim.db") as srv:
        yield srv


def timed(timings: Timings, fn, *args, **kwargs):
    """Call fn, recording its latency."""
    started = time.perf_counter()
    try:
        return fn(*args, **kwargs)
    finally:
        timings.add(time.perf_counter() - started)


def test_threaded_clients_create_and_poll_files(server: ServerProcess) -> None:
    """Threads each create files and poll them; every one is listed exactly once, none errors."""
    timings = Timings()
    key = "sk-load-threads"

    def worker(w: int) -> list[str]:
        client = openai.OpenAI(base_url=server.base + "/v1", api_key=key, max_retries=0, timeout=30)
        mine = []
        for n in range(PER_CLIENT):
            obj = timed(timings, client.files.create, file=(f"t{w}-{n}.jsonl", jsonl(f"t{w}-{n}")), purpose="fine-tune")
            got = timed(timings, client.files.retrieve, obj.id)
            assert got.id == obj.id and got.bytes == len(jsonl(f"t{w}-{n}"))
            mine.append(obj.id)
        timed(timings, client.files.list, limit=5)
        return mine

    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        created = [i for ids in pool.map(worker, range(THREADS)) for i in ids]
    wall = time.perf_counter() - started
    listed = [f.id for f in openai.OpenAI(base_url=server.base + "/v1", api_key=key, max_retries=0).files.list()]
    assert len(created) == THREADS * PER_CLIENT == len(set(created))
    assert sorted(listed) == sorted(created)
    print(f"\n[load threads x{THREADS}] {timings.summary(wall)}")


def test_async_clients_create_and_poll_files(server: ServerProcess) -> None:
    """asyncio tasks on AsyncOpenAI do the same; ids stay unique across both kinds of client."""
    key = "sk-load-async"
    timings = Timings()

    async def worker(client: openai.AsyncOpenAI, w: int) -> list[str]:
        mine = []
        for n in range(PER_CLIENT):
            started = time.perf_counter()
            obj = await client.files.create(file=(f"a{w}-{n}.jsonl", jsonl(f"a{w}-{n}")), purpose="fine-tune")
            timings.add(time.perf_counter() - started)
            started = time.perf_counter()
            got = await client.files.retrieve(obj.id)
            timings.add(time.perf_counter() - started)
            assert got.id == obj.id
            mine.append(obj.id)
        return mine

    async def main() -> list[str]:
        async with openai.AsyncOpenAI(base_url=server.base + "/v1", api_key=key, max_retries=0, timeout=30) as client:
            results = await asyncio.gather(*(worker(client, w) for w in range(TASKS)))
            listed = [f.id async for f in client.files.list(limit=7)]
        ids = [i for r in results for i in r]
        assert sorted(listed) == sorted(ids)
        return ids

    started = time.perf_counter()
    ids = asyncio.run(main())
    wall = time.perf_counter() - started
    assert len(ids) == TASKS * PER_CLIENT == len(set(ids))
    print(f"\n[load asyncio x{TASKS}] {timings.summary(wall)}")


def test_concurrent_tenants_create_jobs_and_poll(server: ServerProcess) -> None:
    """Threads and asyncio tasks, each its own organization, create jobs while a clock thread advances time; every
    job is listed once, finishes, and keeps a consistent event history."""
    import httpx

    timings = Timings()
    models = ["gpt-4.1-mini-2025-04-14", "gpt-4o-mini-2024-07-18"]
    stop = threading.Event()

    def clock_driver() -> None:
        with httpx.Client(base_url=server.base, timeout=30) as raw:
            for _ in range(40):  # bounded: 40 catch-ups of 30 simulated seconds while the clients work
                if stop.is_set():
                    return
                assert raw.post("/_sim/clock/advance", json={"seconds": 30}).status_code == 200

    def thread_tenant(w: int) -> tuple[str, list[str]]:
        key = f"sk-load-jobs-t{w}"
        client = openai.OpenAI(base_url=server.base + "/v1", api_key=key, max_retries=0, timeout=30)
        training = timed(timings, client.files.create, file=("t.jsonl", jsonl(f"job{w}")), purpose="fine-tune")
        ids = [timed(timings, client.fine_tuning.jobs.create, model=m, training_file=training.id).id for m in models]
        for job_id in ids:
            for _ in range(3):
                timed(timings, client.fine_tuning.jobs.retrieve, job_id)
                timed(timings, client.fine_tuning.jobs.list_events, job_id, limit=5)
        return key, ids

    async def async_tenant(w: int) -> tuple[str, list[str]]:
        key = f"sk-load-jobs-a{w}"
        async with openai.AsyncOpenAI(base_url=server.base + "/v1", api_key=key, max_retries=0, timeout=30) as client:
            training = await client.files.create(file=("t.jsonl", jsonl(f"ajob{w}")), purpose="fine-tune")
            ids = [(await client.fine_tuning.jobs.create(model=m, training_file=training.id)).id for m in models]
            for job_id in ids:
                for _ in range(3):
                    started = time.perf_counter()
                    await client.fine_tuning.jobs.retrieve(job_id)
                    timings.add(time.perf_counter() - started)
        return key, ids

    async def async_side() -> list[tuple[str, list[str]]]:
        return list(await asyncio.gather(*(async_tenant(w) for w in range(JOB_CLIENTS))))

    driver = threading.Thread(target=clock_driver)
    started = time.perf_counter()
    driver.start()
    try:
        with ThreadPoolExecutor(THREADS + 1) as pool:
            async_future = pool.submit(asyncio.run, async_side())
            created = list(pool.map(thread_tenant, range(JOB_CLIENTS))) + async_future.result()
    finally:
        stop.set()
        driver.join()
    wall = time.perf_counter() - started
    httpx.post(server.base + "/_sim/clock/advance", json={"seconds": 86400}, timeout=60)
    for key, ids in created:
        client = openai.OpenAI(base_url=server.base + "/v1", api_key=key, max_retries=0, timeout=30)
        listed = [j.id for j in client.fine_tuning.jobs.list()]
        assert sorted(listed) == sorted(ids) and len(set(listed)) == len(listed)
        for job_id in ids:
            assert client.fine_tuning.jobs.retrieve(job_id).status == "succeeded"
            events = list(client.fine_tuning.jobs.list_events(job_id, limit=100))
            stamps = [e.created_at for e in events]
            assert stamps == sorted(stamps, reverse=True) and len({e.id for e in events}) == len(events)
    print(f"\n[load jobs {JOB_CLIENTS} threads + {JOB_CLIENTS} tasks + clock] {timings.summary(wall)}")


def test_in_process_kit_under_concurrent_clients() -> None:
    """The in-process test kit (ftsim.api.testing.simulator.Simulator) under threads and asyncio tasks at once: every object
    created is there exactly once, and jobs created concurrently all finish."""
    from ftsim.api.testing.simulator import Simulator

    timings = Timings()
    with Simulator(seed=0, max_concurrent_jobs=100) as sim:

        def thread_worker(w: int) -> list[str]:
            client = sim.client(api_key="sk-kit", max_retries=0)
            ids = []
            for n in range(KIT_PER_CLIENT):
                obj = timed(timings, client.files.create, file=(f"k{w}-{n}.jsonl", jsonl(f"k{w}-{n}")), purpose="fine-tune")
                ids.append(obj.id)
            job = timed(timings, client.fine_tuning.jobs.create, model="gpt-4.1-mini-2025-04-14", training_file=ids[0])
            return ids + [job.id]

        async def async_side() -> list[str]:
            client = sim.async_client(api_key="sk-kit", max_retries=0)

            async def one(w: int) -> list[str]:
                out = []
                for n in range(KIT_PER_CLIENT):
                    started = time.perf_counter()
                    obj = await client.files.create(file=(f"ka{w}-{n}.jsonl", jsonl(f"ka{w}-{n}")), purpose="fine-tune")
                    timings.add(time.perf_counter() - started)
                    out.append(obj.id)
                return out

            return [i for ids in await asyncio.gather(*(one(w) for w in range(TASKS))) for i in ids]

        started = time.perf_counter()
        with ThreadPoolExecutor(THREADS + 1) as pool:
            async_future = pool.submit(asyncio.run, async_side())
            created = [i for ids in pool.map(thread_worker, range(THREADS)) for i in ids] + async_future.result()
        wall = time.perf_counter() - started
        assert len(created) == len(set(created))
        client = sim.client(api_key="sk-kit", max_retries=0)
        files = [f.id for f in client.files.list()]
        jobs = [j.id for j in client.fine_tuning.jobs.list(limit=100)]
        assert sorted(files + jobs) == sorted(created)
        sim.advance(days=1)
        assert {client.fine_tuning.jobs.retrieve(j).status for j in jobs} == {"succeeded"}
        assert all(entry.status == 200 for entry in sim.journal)
    print(f"\n[load in-process kit {THREADS} threads + {TASKS} tasks] {timings.summary(wall)}")


def test_hundred_clients_with_failing_requests_every_job_finishes(tmp_path) -> None:
    """Issue 13: 100 concurrent clients on a running clock (--speed 600) with a clock mover, each creating a job,
    sending requests that fail (unknown file, unknown job, an action from the wrong status) and polling; once time
    has run on, every job is terminal (before, 147 of 2,542 such jobs stuck)."""
    import httpx

    clients, stop = 100, threading.Event()
    failures: list[str] = []

    def mover(base: str) -> None:
        with httpx.Client(base_url=base, timeout=60) as raw:
            for _ in range(30):  # bounded: moves of an hour while the clients work
                if stop.is_set():
                    return
                if raw.post("/_sim/clock/advance", json={"seconds": 3600}).status_code != 200:
                    failures.append("clock move failed")

    def client(base: str, w: int) -> tuple[str, str | None]:
        key = f"sk-hundred-{w}"
        with httpx.Client(base_url=base + "/v1", headers={"Authorization": f"Bearer {key}"}, timeout=120) as http:
            up = http.post("/files", files={"file": ("t.jsonl", jsonl(f"h{w}"))}, data={"purpose": "fine-tune"})
            if up.status_code != 200:
                failures.append(f"upload {up.status_code}")
                return key, None
            body = {"model": "gpt-4o-mini-2024-07-18", "training_file": up.json()["id"]}
            job = http.post("/fine_tuning/jobs", json=body)
            if job.status_code != 200:
                failures.append(f"create {job.status_code} {job.text[:200]}")
                return key, None
            job_id = job.json()["id"]
            for n in range(3):
                bad = http.post("/fine_tuning/jobs", json={**body, "training_file": "file-unknown"})
                gone = http.post("/fine_tuning/jobs/ftjob-unknown/cancel")
                odd = http.post(f"/fine_tuning/jobs/{job_id}/resume")  # never paused: 400
                got = http.get(f"/fine_tuning/jobs/{job_id}")
                if (bad.status_code, gone.status_code, odd.status_code, got.status_code) != (400, 404, 400, 200):
                    failures.append(f"round {n}: {bad.status_code} {gone.status_code} {odd.status_code} "
                                    f"{got.status_code}")
            return key, job_id

    with ServerProcess(tmp_path / "ftsim.db", speed=600) as server:
        driver = threading.Thread(target=mover, args=(server.base,))
        driver.start()
        try:
            with ThreadPoolExecutor(clients) as pool:
                created = list(pool.map(lambda w: client(server.base, w), range(clients)))
        finally:
            stop.set()
            driver.join()
        assert not failures, failures[:10]
        httpx.post(server.base + "/_sim/clock/advance", json={"seconds": 7 * 86400}, timeout=120)
        statuses: dict[str, int] = {}
        for key, job_id in created:
            got = httpx.get(f"{server.base}/v1/fine_tuning/jobs/{job_id}",
                            headers={"Authorization": f"Bearer {key}"}, timeout=60).json()
            statuses[got["status"]] = statuses.get(got["status"], 0) + 1
        assert statuses == {"succeeded": clients}, statuses
