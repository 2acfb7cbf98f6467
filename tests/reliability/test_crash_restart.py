"""Crash and restart: kill -9 a real `ftsim serve` mid-write, mid-upload and mid-job, restart it on the same
database, and check that nothing acknowledged is lost or duplicated, the clock resumes, and jobs carry on."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from tests.reliability.server_proc import ServerProcess

KEY = "sk-crash-tenant"
AUTH = {"Authorization": f"Bearer {KEY}"}


def sdk(server: ServerProcess) -> openai.OpenAI:
    """The official client pointed at the subprocess, without retries (a retry could hide a lost write)."""
    return openai.OpenAI(base_url=server.base + "/v1", api_key=KEY, max_retries=0, timeout=10.0)


def jsonl(i: int) -> bytes:
    """A small valid chat training file, distinct per `i`."""
    line = '{"messages":[{"role":"user","content":"q%d-%d"},{"role":"assistant","content":"a%d"}]}\n'
    return "".join(line % (i, n, n) for n in range(12)).encode()


def all_files(client: openai.OpenAI) -> list:
    """Every file of the tenant, through pagination."""
    return list(client.files.list(limit=7))


def clock(server: ServerProcess) -> int:
    """The simulated present."""
    return httpx.get(server.base + "/_sim/clock", timeout=5).json()["now"]


def advance(server: ServerProcess, seconds: float) -> int:
    """Move the simulated clock."""
    response = httpx.post(server.base + "/_sim/clock/advance", json={"seconds": seconds}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["now"]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A fresh database path."""
    return tmp_path / "state" / "ftsim.db"


def test_acknowledged_files_and_clock_survive_kill_9(db: Path) -> None:
    """Files acknowledged before a SIGKILL are all there after restart, once each, bytes intact; the clock resumes."""
    server = ServerProcess(db).start()
    try:
        client = sdk(server)
        acked = {}
        for i in range(5):
            obj = client.files.create(file=(f"train-{i}.jsonl", jsonl(i)), purpose="fine-tune")
            acked[obj.id] = jsonl(i)
        before = advance(server, 3 * 3600 + 17)
    finally:
        server.kill()
    server = ServerProcess(db).start()
    try:
        client = sdk(server)
        assert clock(server) == before  # speed 0: resumes exactly from the persisted value
        listed = [f.id for f in all_files(client)]
        assert sorted(listed) == sorted(acked)  # nothing lost, nothing duplicated
        for file_id, content in acked.items():
            assert client.files.content(file_id).read() == content
            assert client.files.retrieve(file_id).bytes == len(content)
        new = client.files.create(file=("after.jsonl", jsonl(99)), purpose="fine-tune")
        assert new.id not in acked  # the persisted id counter does not reissue an id
    finally:
        server.stop()


def test_restart_resumes_from_a_persisted_clock_behind_wall_time(db: Path) -> None:
    """A world whose persisted clock is in the past restarts at that instant, not at the machine's time."""
    from ftsim.simulator.core.clock import DEFAULT_START
    from ftsim.simulator.core.store import Store

    store = Store(db)
    store.meta_set("clock", DEFAULT_START)
    store.close()
    with ServerProcess(db) as server:
        assert clock(server) == DEFAULT_START
        advance(server, 60)
    with ServerProcess(db) as server:
        assert clock(server) == DEFAULT_START + 60


@pytest.mark.parametrize("durability", ["process", "full"])
def test_kill_9_during_concurrent_writes_loses_no_acknowledged_file(db: Path, durability: str) -> None:
    """SIGKILL while eight clients upload: every 200 is durable; nothing shows up twice (either durability)."""
    server = ServerProcess(db, extra=["--durability", durability]).start()
    acked: list[str] = []
    lock = threading.Lock()
    half = threading.Event()

    def writer(w: int) -> None:
        client = sdk(server)
        for n in range(200):
            try:
                obj = client.files.create(file=(f"w{w}-{n}.jsonl", jsonl(w * 1000 + n)), purpose="fine-tune")
            except openai.APIConnectionError:
                return  # the server is gone
            with lock:
                acked.append(obj.id)
                if len(acked) >= 40:
                    half.set()

    try:
        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(writer, w) for w in range(8)]
            assert half.wait(60), "writers made no progress"
            server.kill()  # mid-stream: several requests are in flight
            for future in futures:
                future.result()
    finally:
        server.kill()
    server = ServerProcess(db).start()
    try:
        listed = [f.id for f in all_files(sdk(server))]
        assert len(listed) == len(set(listed))
        assert set(acked) <= set(listed)
        # at most the requests in flight at the kill were committed without their answer
        assert len(listed) - len(acked) <= 8
    finally:
        server.stop()


def test_kill_9_mid_upload_leaves_no_partial_file(db: Path) -> None:
    """A multipart body cut off by SIGKILL halfway is not a file after restart; earlier files are intact."""
    server = ServerProcess(db).start()
    try:
        client = sdk(server)
        kept = client.files.create(file=("kept.jsonl", jsonl(1)), purpose="fine-tune")
        boundary = "ftsimboundary"
        head = (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jsonl\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        sent_half = threading.Event()
        release = threading.Event()

        def body():
            yield head
            for _ in range(64):
                yield jsonl(7) * 50
            sent_half.set()
            release.wait(30)
            yield f"\r\n--{boundary}--\r\n".encode()

        outcome: list[object] = []

        def upload() -> None:
            try:
                with httpx.Client(timeout=30) as raw:
                    outcome.append(raw.post(server.base + "/v1/files", content=body(), headers={
                        **AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"}))
            except httpx.TransportError as exc:
                outcome.append(exc)

        thread = threading.Thread(target=upload)
        thread.start()
        assert sent_half.wait(30)
        server.kill()
        release.set()
        thread.join(30)
        assert outcome and isinstance(outcome[0], httpx.TransportError)  # never acknowledged
    finally:
        server.kill()
    server = ServerProcess(db).start()
    try:
        listed = all_files(sdk(server))
        assert [f.id for f in listed] == [kept.id]
        assert sdk(server).files.content(kept.id).read() == jsonl(1)
        leftovers = [p for p in db.parent.rglob(".upload-*")]
        assert leftovers == []  # no half-written spool left beside the blobs
    finally:
        server.stop()


def all_events(client: openai.OpenAI, job_id: str) -> list[str]:
    """Every event id of a job, newest first, through pagination."""
    return [e.id for e in client.fine_tuning.jobs.list_events(job_id, limit=50)]


def wait_status(server: ServerProcess, client: openai.OpenAI, job_id: str, wanted: str) -> None:
    """Advance the simulated clock in small steps until the job reaches `wanted` (bounded)."""
    for _ in range(200):
        if client.fine_tuning.jobs.retrieve(job_id).status == wanted:
            return
        advance(server, 5)
    raise AssertionError(f"{job_id} never reached {wanted}")


def test_running_job_survives_kill_9_and_carries_on(db: Path) -> None:
    """SIGKILL while a job runs: after restart it is still running with the same events, then finishes once."""
    server = ServerProcess(db).start()
    try:
        client = sdk(server)
        training = client.files.create(file=("train.jsonl", jsonl(3)), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model="gpt-4.1-mini-2025-04-14", training_file=training.id, suffix="crash")
        wait_status(server, client, job.id, "running")
        advance(server, 3)
        before = client.fine_tuning.jobs.retrieve(job.id)
        events_before = all_events(client, job.id)
        now_before = clock(server)
    finally:
        server.kill()
    server = ServerProcess(db).start()
    try:
        client = sdk(server)
        assert clock(server) == now_before
        after = client.fine_tuning.jobs.retrieve(job.id)
        assert after.status == before.status == "running"
        assert all_events(client, job.id) == events_before
        advance(server, 86400)
        done = client.fine_tuning.jobs.retrieve(job.id)
        assert done.status == "succeeded", done.status
        events = all_events(client, job.id)
        assert len(events) == len(set(events))
        assert events[-len(events_before):] == events_before  # history kept, new events on top, none twice
        assert len(list(client.fine_tuning.jobs.checkpoints.list(job.id))) <= 3
        assert client.models.retrieve(done.fine_tuned_model).id == done.fine_tuned_model
        assert [j.id for j in client.fine_tuning.jobs.list()] == [job.id]
    finally:
        server.stop()


def test_kill_9_during_catch_up_is_all_or_nothing(db: Path) -> None:
    """A SIGKILL during a day-long catch-up leaves each job either as before it or through the whole day, never
    half; the clock stored is the old one until every job has moved; after the restart every job finishes."""
    server = ServerProcess(db).start()
    keys = [f"sk-crash-{n}" for n in range(2)]
    jobs: list[tuple[str, str]] = []
    try:
        for key in keys:
            client = openai.OpenAI(base_url=server.base + "/v1", api_key=key, max_retries=0, timeout=10)
            training = client.files.create(file=("t.jsonl", jsonl(5)), purpose="fine-tune")
            for n in range(3):
                jobs.append((key, client.fine_tuning.jobs.create(model="gpt-4.1-mini-2025-04-14",
                                                                 training_file=training.id).id))
        start = advance(server, 600)
        status_before = {}
        for key, job_id in jobs:
            client = openai.OpenAI(base_url=server.base + "/v1", api_key=key, max_retries=0, timeout=10)
            status_before[job_id] = (client.fine_tuning.jobs.retrieve(job_id).status, all_events(client, job_id))
        fired = threading.Event()

        def jump() -> None:
            fired.set()
            try:
                httpx.post(server.base + "/_sim/clock/advance", json={"seconds": 86400}, timeout=30)
            except httpx.TransportError:
                pass

        thread = threading.Thread(target=jump)
        thread.start()
        assert fired.wait(10)
        server.kill()
        thread.join(30)
    finally:
        server.kill()
    server = ServerProcess(db).start()
    try:
        now = clock(server)
        assert now in (start, start + 86400), (start, now)
        moved = set()
        for key, job_id in jobs:
            client = openai.OpenAI(base_url=server.base + "/v1", api_key=key, max_retries=0, timeout=10)
            status, events = client.fine_tuning.jobs.retrieve(job_id).status, all_events(client, job_id)
            assert len(events) == len(set(events))
            if (status, events) != status_before[job_id]:  # its catch-up committed: the whole day on its history
                moved.add(job_id)
                assert status == "succeeded" and events[-len(status_before[job_id][1]):] == status_before[job_id][1]
        if now == start + 86400:  # the clock is stored once every job has moved
            assert moved == {job_id for _, job_id in jobs}
        advance(server, 86400)
        for key, job_id in jobs:
            client = openai.OpenAI(base_url=server.base + "/v1", api_key=key, max_retries=0, timeout=10)
            assert client.fine_tuning.jobs.retrieve(job_id).status == "succeeded"
    finally:
        server.stop()


def test_upload_parts_survive_kill_9_mid_part(db: Path) -> None:
    """Acknowledged parts of an Upload survive a SIGKILL that cuts another part off; the upload then completes."""
    part1, part2 = jsonl(1) * 40, jsonl(2) * 40
    server = ServerProcess(db).start()
    try:
        client = sdk(server)
        upload = client.uploads.create(bytes=len(part1) + len(part2), filename="big.jsonl",
                                       mime_type="application/jsonl", purpose="fine-tune")
        first = client.uploads.parts.create(upload.id, data=part1)
        boundary = "ftsimpartboundary"
        sent_half = threading.Event()
        release = threading.Event()

        def body():
            yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"data\"; filename=\"blob\"\r\n"
                   "Content-Type: application/octet-stream\r\n\r\n").encode()
            yield part2[: len(part2) // 2]
            sent_half.set()
            release.wait(30)
            yield part2[len(part2) // 2:] + f"\r\n--{boundary}--\r\n".encode()

        def send_part() -> None:
            try:
                httpx.post(f"{server.base}/v1/uploads/{upload.id}/parts", content=body(), timeout=30,
                           headers={**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"})
            except httpx.TransportError:
                pass

        thread = threading.Thread(target=send_part)
        thread.start()
        assert sent_half.wait(30)
        server.kill()
        release.set()
        thread.join(30)
    finally:
        server.kill()
    server = ServerProcess(db).start()
    try:
        client = sdk(server)
        second = client.uploads.parts.create(upload.id, data=part2)
        done = client.uploads.complete(upload.id, part_ids=[first.id, second.id])
        assert done.status == "completed" and done.file is not None
        assert client.files.content(done.file.id).read() == part1 + part2
        assert [f.id for f in all_files(client)] == [done.file.id]
    finally:
        server.stop()
