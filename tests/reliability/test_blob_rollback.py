"""Nothing is left behind on a rollback, nothing acknowledged is lost on success: a file's (or an upload part's)
bytes are renamed into place inside the transaction that records them, and used to stay on disk with no row when
that transaction rolled back (a full disk, a storage fault, a failed job advance around a result file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftsim.simulator.core.backend import Backend, SimConfig
from ftsim.simulator.core.clock import ManualClock
from ftsim.simulator.core.errors import BadRequestError
from ftsim.simulator.core.store import StorageFault, Store
from tests.api.test_storage_faults import _fill_database

LINE = b'{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}\n'
MINI = "gpt-4o-mini-2024-07-18"


class Boom(Exception):
    """A failure of the request around the write (a refused check, a bug): its transaction rolls back."""


@pytest.fixture
def backend(tmp_path):
    b = Backend(store=Store(tmp_path / "w.db"), clock=ManualClock(), config=SimConfig(seed=8))
    yield b
    b.close()


def on_disk(store: Store) -> set[Path]:
    """Every file under the blob folders: bytes of files and parts, and any spool."""
    return {p for p in store.blob_dir.glob("*/*") if p.is_file()}


def recorded(store: Store) -> dict[Path, int]:
    """The blob path of every committed file and upload part, with its recorded size."""
    out = {}
    for kind in ("file", "upload_part"):
        for tenant, row in store.scan(kind):
            out[store.blob_path(tenant, row["id"])] = int(row["bytes"])
    return out


def assert_disk_matches_rows(store: Store) -> None:
    rows = recorded(store)
    assert on_disk(store) == set(rows)  # no orphan, no spool, no recorded file without its bytes
    assert all(path.stat().st_size == size for path, size in rows.items())


def _unfill(store: Store) -> None:
    store._conn.execute("PRAGMA max_page_count = 1073741823")


def test_a_file_create_that_cannot_commit_leaves_no_bytes(backend):
    tenant = backend.tenant("sk-full")
    kept = backend.files.create(tenant, filename="kept.jsonl", purpose="fine-tune", chunks=[LINE * 3])
    _fill_database(backend)
    with pytest.raises(StorageFault):
        backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[LINE * 50])
    assert_disk_matches_rows(backend.store)
    _unfill(backend.store)
    again = backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[LINE * 50])
    assert backend.files.content_path(tenant, again.id).read_bytes() == LINE * 50
    assert backend.files.content_path(tenant, kept.id).read_bytes() == LINE * 3  # acknowledged: kept
    assert_disk_matches_rows(backend.store)


def test_a_file_create_refused_before_its_bytes_are_placed_leaves_no_spool(backend, monkeypatch):
    """The database refuses the transaction at once (deleted, read-only): the spooled bytes used to stay behind
    until the next start swept them."""
    tenant = backend.tenant("sk-refused")

    def refused() -> None:
        raise StorageFault("the database file was deleted or replaced")

    monkeypatch.setattr(backend.store, "check_writable", refused)
    with pytest.raises(StorageFault):
        backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[LINE * 5])
    with pytest.raises(StorageFault):
        backend.files.create_bytes(tenant, filename="r.csv", purpose="fine-tune-results", content=b"a\n")
    assert on_disk(backend.store) == set()


def test_a_file_created_in_a_transaction_that_rolls_back_leaves_no_bytes(backend):
    tenant = backend.tenant("sk-outer")
    with pytest.raises(Boom), backend.store.transaction():
        backend.files.create_bytes(tenant, filename="r.csv", purpose="fine-tune-results", content=b"a,b\n")
        raise Boom
    assert_disk_matches_rows(backend.store)
    assert on_disk(backend.store) == set()


def test_a_savepoint_that_rolls_back_takes_its_own_bytes_only(backend):
    """A job advance that fails after writing its result file rolls back its savepoint alone: that file's bytes go,
    those of a file written before the savepoint in the same transaction stay (and stay once it commits)."""
    tenant = backend.tenant("sk-savepoint")
    with backend.store.transaction():
        before = backend.files.create_bytes(tenant, filename="a.csv", purpose="fine-tune-results", content=b"1\n")
        with backend.store.savepoint():  # released: its bytes are the transaction's, kept when it commits
            inner = backend.files.create_bytes(tenant, filename="c.csv", purpose="fine-tune-results", content=b"3\n")
        with pytest.raises(Boom), backend.store.savepoint():
            backend.files.create_bytes(tenant, filename="b.csv", purpose="fine-tune-results", content=b"2\n")
            raise Boom
    assert_disk_matches_rows(backend.store)
    assert {f["id"] for f in backend.files.list(tenant)["data"]} == {before.id, inner.id}


def test_a_released_savepoint_s_bytes_go_when_the_transaction_rolls_back(backend):
    tenant = backend.tenant("sk-released")
    with pytest.raises(Boom), backend.store.transaction():
        with backend.store.savepoint():
            backend.files.create_bytes(tenant, filename="c.csv", purpose="fine-tune-results", content=b"3\n")
        raise Boom
    assert on_disk(backend.store) == set()


def test_a_job_whose_advance_fails_after_its_result_file_leaves_no_bytes(backend, monkeypatch):
    """The catch-up fails a job whose advance raises (in a savepoint): its result file, written just before,
    used to keep its bytes with no row."""
    tenant = backend.tenant("sk-job")
    f = backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[LINE * 12])
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id)
    real = backend.jobs._result_file

    def then_fail(rec):
        real(rec)
        raise Boom

    monkeypatch.setattr(backend.jobs, "_result_file", then_fail)
    backend.advance(3 * 24 * 3600)
    assert backend.jobs.retrieve(tenant, job.id).status == "failed"
    assert_disk_matches_rows(backend.store)


def test_an_upload_part_and_a_complete_that_cannot_commit_leave_no_bytes(backend):
    tenant = backend.tenant("sk-upload")
    up = backend.uploads.create(tenant, filename="u.jsonl", purpose="fine-tune", bytes=len(LINE) * 2,
                                mime_type="text/jsonl")
    first = backend.uploads.add_part(tenant, up.id, chunks=[LINE])
    _fill_database(backend)
    with pytest.raises(StorageFault):
        backend.uploads.add_part(tenant, up.id, chunks=[LINE])
    assert_disk_matches_rows(backend.store)
    _unfill(backend.store)
    second = backend.uploads.add_part(tenant, up.id, chunks=[LINE])
    _fill_database(backend)
    with pytest.raises(StorageFault):
        backend.uploads.complete(tenant, up.id, part_ids=[first.id, second.id])
    assert_disk_matches_rows(backend.store)  # the parts (acknowledged) keep their bytes; no file's bytes
    _unfill(backend.store)
    done = backend.uploads.complete(tenant, up.id, part_ids=[first.id, second.id])
    assert backend.files.content_path(tenant, done.file.id).read_bytes() == LINE * 2
    assert_disk_matches_rows(backend.store)


# -- any mix of commits and rollbacks: the blobs on disk are those of the committed rows ---------------------------

OPS = st.lists(st.tuples(st.sampled_from(["file", "result", "part", "complete", "delete"]),
                         st.sampled_from(["commit", "rollback", "savepoint", "full"])), min_size=1, max_size=10)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_the_bytes_on_disk_are_those_of_the_committed_rows(tmp_path_factory, ops):
    path = tmp_path_factory.mktemp("blobs") / "w.db"
    backend = Backend(store=Store(path), clock=ManualClock(), config=SimConfig(seed=2))
    store = backend.store
    tenant = backend.tenant("sk-mix")
    contents: dict[str, bytes] = {}
    try:
        up = backend.uploads.create(tenant, filename="u.jsonl", purpose="fine-tune", bytes=len(LINE) * 2,
                                    mime_type="text/jsonl").id
        for i, (op, fate) in enumerate(ops):
            body = LINE * (i + 1)

            def act() -> None:
                nonlocal up
                if op == "file":
                    f = backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[body])
                    contents[f.id] = body
                elif op == "result":
                    f = backend.files.create_bytes(tenant, filename="r.csv", purpose="fine-tune-results",
                                                   content=body)
                    contents[f.id] = body
                elif op == "part":
                    backend.uploads.add_part(tenant, up, chunks=[LINE])
                elif op == "complete":
                    parts = [p["id"] for _, p in store.scan("upload_part", tenant.key, parent=up)]
                    done = backend.uploads.complete(tenant, up, part_ids=parts)
                    if done.file is not None:
                        contents[done.file.id] = LINE * len(parts)
                elif contents:
                    backend.files.delete(tenant, sorted(contents)[0])

            if fate == "full":
                _fill_database(backend)
            try:
                if fate == "commit" or fate == "full":
                    act()
                elif fate == "rollback":
                    with pytest.raises(Boom), store.transaction():
                        act()
                        raise Boom
                else:
                    with store.transaction():
                        with pytest.raises(Boom), store.savepoint():
                            act()
                            raise Boom
            except (StorageFault, BadRequestError):
                pass
            finally:
                if fate == "full":
                    _unfill(store)
            live = {f["id"] for f in backend.files.list(tenant)["data"]}
            for gone in set(contents) - live:  # refused, rolled back or deleted
                contents.pop(gone)
            assert_disk_matches_rows(store)
            for file_id, data in contents.items():
                assert backend.files.content_path(tenant, file_id).read_bytes() == data
            if store.get("upload", tenant.key, up)["status"] != "pending":  # a new upload to add parts to
                up = backend.uploads.create(tenant, filename="u.jsonl", purpose="fine-tune", bytes=len(LINE) * 2,
                                            mime_type="text/jsonl").id
    finally:
        backend.close()


_KILLED_MID_CREATE = """
import os, sys
from ftsim.simulator.core.backend import Backend, SimConfig
from ftsim.simulator.core.clock import ManualClock
from ftsim.simulator.core.store import Store

backend = Backend(store=Store(sys.argv[1]), clock=ManualClock(), config=SimConfig(seed=8))
tenant = backend.tenant("sk-killed")
backend.files.create(tenant, filename="kept.jsonl", purpose="fine-tune", chunks=[b"kept\\n"])
real = backend.store.put

def put(kind, *args, **kwargs):
    if kind == "file":
        os._exit(9)  # killed once the bytes are in place, before the row is written and committed
    return real(kind, *args, **kwargs)

backend.store.put = put
backend.files.create(tenant, filename="lost.jsonl", purpose="fine-tune", chunks=[b"never acknowledged\\n"])
"""


def test_bytes_of_a_create_killed_before_its_commit_are_swept_at_the_next_start(tmp_path):
    """A process killed between renaming a file's bytes into place and committing its row left them on disk for
    good, named by no row; the store now sweeps them when it opens (and keeps every committed file's)."""
    import subprocess
    import sys

    path = tmp_path / "killed.db"
    done = subprocess.run([sys.executable, "-c", _KILLED_MID_CREATE, str(path)], capture_output=True, text=True)
    assert done.returncode == 9, done.stderr
    store = Store(path)
    try:
        assert_disk_matches_rows(store)
        assert [row["filename"] for _, row in store.scan("file")] == ["kept.jsonl"]
    finally:
        store.close()
