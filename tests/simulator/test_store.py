"""The SQLite store: documents, ordering, pagination, transactions, durability across reopen."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftsim.simulator.core.store import SCHEMA_VERSION, Store, StoreError


@pytest.fixture
def store():
    s = Store(":memory:")
    yield s
    s.close()


def test_put_get_delete_roundtrip(store):
    store.put("file", "t1", "a", {"id": "a", "n": 1})
    assert store.get("file", "t1", "a") == {"id": "a", "n": 1}
    assert store.get("file", "t2", "a") is None  # other tenant
    assert store.delete("file", "t1", "a") is True
    assert store.delete("file", "t1", "a") is False
    assert store.get("file", "t1", "a") is None


def test_replace_keeps_listing_position(store):
    for i in "abc":
        store.put("job", "t", i, {"id": i, "v": 0})
    store.put("job", "t", "a", {"id": "a", "v": 1})
    items, more = store.page("job", "t", limit=10)
    assert [d["id"] for d in items] == ["c", "b", "a"]
    assert items[-1]["v"] == 1 and more is False


def test_page_after_desc_and_asc(store):
    for i in range(5):
        store.put("event", "t", f"e{i}", {"id": f"e{i}"}, parent="job1")
    store.put("event", "t", "other", {"id": "other"}, parent="job2")
    page, more = store.page("event", "t", parent="job1", limit=2)
    assert [d["id"] for d in page] == ["e4", "e3"] and more
    page, more = store.page("event", "t", parent="job1", after="e3", limit=2)
    assert [d["id"] for d in page] == ["e2", "e1"] and more
    page, more = store.page("event", "t", parent="job1", after="e1", limit=2)
    assert [d["id"] for d in page] == ["e0"] and not more
    page, _ = store.page("event", "t", parent="job1", order="asc", after="e2", limit=10)
    assert [d["id"] for d in page] == ["e3", "e4"]


def test_page_unknown_after_is_empty(store):
    store.put("file", "t", "a", {"id": "a"})
    assert store.page("file", "t", after="nope") == ([], False)


def test_page_where_filters_before_limit(store):
    for i in range(6):
        store.put("file", "t", f"f{i}", {"id": f"f{i}", "purpose": "batch" if i % 2 else "fine-tune"})
    page, more = store.page("file", "t", limit=2, where=lambda d: d["purpose"] == "fine-tune")
    assert [d["id"] for d in page] == ["f4", "f2"] and more


def test_transaction_rolls_back_on_error(store):
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.put("file", "t", "a", {"id": "a"})
            with store.transaction():  # nested joins the outer one
                store.put("file", "t", "b", {"id": "b"})
            raise RuntimeError("boom")
    assert store.count("file") == 0


def test_meta_roundtrip(store):
    assert store.meta_get("clock", 7) == 7
    store.meta_set("clock", 123)
    assert store.meta_get("clock") == 123


def test_reopen_keeps_committed_writes(tmp_path):
    db = tmp_path / "x.db"
    s = Store(db)
    with s.transaction():
        s.put("file", "t", "a", {"id": "a"})
        s.meta_set("clock", 42)
    s.close()
    s2 = Store(db)
    assert s2.get("file", "t", "a") == {"id": "a"}
    assert s2.meta_get("clock") == 42
    s2.close()


def test_blob_path_never_escapes(store):
    path = store.blob_path("../../etc", "../passwd")
    assert store.blob_dir in path.parents
    assert ".." not in path.parts


def test_wipe_forgets_everything(store):
    store.put("file", "t", "a", {"id": "a"})
    store.meta_set("clock", 1)
    store.wipe()
    assert store.count("file") == 0 and store.meta_get("clock") is None


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 30), limit=st.integers(1, 10))
def test_paging_visits_every_item_once(n, limit):
    s = Store(":memory:")
    for i in range(n):
        s.put("job", "t", f"j{i:03d}", {"id": f"j{i:03d}"})
    seen, after = [], None
    while True:
        page, more = s.page("job", "t", after=after, limit=limit)
        seen += [d["id"] for d in page]
        if not more:
            break
        after = page[-1]["id"]
    s.close()
    assert seen == [f"j{i:03d}" for i in reversed(range(n))]


# -- durability and spools ------------------------------------------------------------------------------------


@pytest.mark.parametrize("durability,pragma,synced", [("process", 1, False), ("full", 2, True)])
def test_durability_sets_sqlite_sync_and_file_fsync(tmp_path, monkeypatch, durability, pragma, synced):
    """`process` leaves flushing to the OS (synchronous=NORMAL, no fsync); `full` syncs commits, file bytes, and the
    folder entries of a new tenant folder and of a blob renamed into place."""
    files, folders = [], []
    real = os.fsync

    def spy(fd):
        (folders if stat.S_ISDIR(os.fstat(fd).st_mode) else files).append(fd)
        return real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    s = Store(tmp_path / "x.db", durability=durability)
    try:
        assert s._conn.execute("PRAGMA synchronous").fetchone()[0] == pragma
        path, size = s.spool("t", [b"ab", b"cd"])
        assert path.read_bytes() == b"abcd" and size == 4
        assert len(files) == (1 if synced else 0)
        before = len(folders)
        s.adopt(path, s.blob_path("t", "file-1"))
        assert s.blob_path("t", "file-1").read_bytes() == b"abcd" and not path.exists()
        assert len(folders) == before + (1 if synced else 0)
        assert (before > 0) is synced  # the new tenant folder's entry in the blob folder
    finally:
        s.close()


def test_unknown_durability_is_refused(tmp_path):
    with pytest.raises(ValueError, match="durability"):
        Store(tmp_path / "x.db", durability="sometimes")


def test_spool_over_its_limit_leaves_nothing(store):
    spool = store.spool_file("t", limit=3, too_large=OverflowError("too big"))
    spool.write(b"abc")
    with pytest.raises(OverflowError):
        spool.write(b"d")
    assert not spool.path.exists()
    spool.discard()  # idempotent


def test_a_finished_or_discarded_spool_refuses_more_work(store):
    spool = store.spool_file("t")
    spool.write(b"abc")
    path, size = spool.finish()
    assert (path.read_bytes(), size) == (b"abc", 3)
    with pytest.raises(ValueError, match="already finished or discarded"):
        spool.write(b"more")
    with pytest.raises(ValueError, match="already finished or discarded"):
        spool.finish()
    assert path.read_bytes() == b"abc"
    other = store.spool_file("t")
    other.discard()
    with pytest.raises(ValueError, match="already finished or discarded"):
        other.write(b"x")


def test_reopening_sweeps_spools_a_killed_server_left(tmp_path):
    """Half-written spools (dot names) beside the blobs, and blobs no row names (renamed into place by a transaction
    that never committed), are deleted when the store opens; the blobs of files and parts stay."""
    s = Store(tmp_path / "x.db")
    s.blob_path("t", "file-1").write_bytes(b"kept")
    s.blob_path("t", "part_1").write_bytes(b"part")
    s.put("file", "t", "file-1", {"id": "file-1", "bytes": 4})
    s.put("upload_part", "t", "part_1", {"id": "part_1", "bytes": 4}, parent="upload_1")
    orphan = s.blob_path("t", "file-2")
    orphan.write_bytes(b"no row")
    leftover = s.spool_file("t", prefix=".upload-")
    leftover.write(b"half")
    s.close()
    s2 = Store(tmp_path / "x.db")
    try:
        assert not leftover.path.exists() and not orphan.exists()
        assert s2.blob_path("t", "file-1").read_bytes() == b"kept"
        assert s2.blob_path("t", "part_1").read_bytes() == b"part"
    finally:
        s2.close()


def test_blob_folders_come_back_after_wipe(store):
    """The remembered tenant folders are forgotten by wipe: the next spool recreates its folder."""
    store.spool("t", [b"x"])
    store.wipe()
    path, _ = store.spool("t", [b"y"])
    assert path.read_bytes() == b"y" and store.blob_path("t", "z").parent.is_dir()


# -- what the store agrees to open ------------------------------------------------------------------------------


def test_a_new_database_is_stamped_with_the_schema_version(tmp_path):
    s = Store(tmp_path / "x.db")
    s.wipe()
    s.close()
    s2 = Store(tmp_path / "x.db")
    try:
        assert s2.meta_get("schema_version") == SCHEMA_VERSION
    finally:
        s2.close()


def test_a_database_from_a_newer_ftsim_is_refused_untouched(tmp_path):
    db = tmp_path / "x.db"
    Store(db).close()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer ftsim"):
        Store(db)


def test_another_programs_database_is_refused_and_left_alone(tmp_path):
    db = tmp_path / "theirs.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not an ftsim database"):
        Store(db)
    conn = sqlite3.connect(db)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    assert tables == {"invoices"} and mode == "delete"
    assert not (tmp_path / "theirs.db.files").exists()


def test_a_second_process_cannot_open_a_database_in_use(tmp_path):
    """The lock file keeps a second server off a live database (whose spools its sweep would delete)."""
    import subprocess
    import sys

    db = tmp_path / "x.db"
    s = Store(db)
    try:
        spool = s.spool_file("t", prefix=".upload-")
        spool.write(b"in flight")
        code = ("import sys; from ftsim.simulator.core.store import Store, StoreError\n"
                "try:\n    Store(sys.argv[1])\nexcept StoreError as e:\n    print(e); sys.exit(3)\n")
        out = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 3 and "in use by another ftsim process" in out.stdout
        assert spool.path.exists()  # the other process swept nothing
    finally:
        s.close()
    Store(db).close()  # free again once closed


def test_reset_keeps_an_upload_under_way(store):
    """A spool being written when the world is reset survives, and lands in the new world."""
    spool = store.spool_file("t", prefix=".upload-")
    spool.write(b"late")
    old = store.blob_path("t", "file-old")
    old.write_bytes(b"old")
    store.wipe()
    assert not old.exists() and spool.path.exists()
    path, _ = spool.finish()
    store.adopt(path, store.blob_path("t", "file-new"))
    assert store.blob_path("t", "file-new").read_bytes() == b"late"


def test_put_many_stores_in_order_and_replaces_like_put(tmp_path):
    from ftsim.simulator.core.store import Store

    store = Store(str(tmp_path / "db.sqlite"))
    try:
        with store.transaction():
            store.put_many("event", "t", [{"id": f"e{i}", "n": i} for i in range(5)], parent="job")
            store.put_many("event", "t", [{"id": "e2", "n": 20}], parent="job")  # a replace keeps its place
            store.put_many("event", "t", [], parent="job")
        assert store.get("event", "t", "e2") == {"id": "e2", "n": 20}
        page, _ = store.page("event", "t", parent="job", limit=10)
        assert [doc["id"] for doc in page] == ["e4", "e3", "e2", "e1", "e0"]  # newest first, by insertion
    finally:
        store.close()


def test_locate_finds_a_document_by_id_whatever_its_tenant(store):
    store.put("job", "tenant-a", "ftjob-1", {"id": "ftjob-1", "n": 1})
    store.put("job", "tenant-b", "ftjob-2", {"id": "ftjob-2", "n": 2})
    store.put("file", "tenant-b", "ftjob-3", {"id": "ftjob-3"})  # another kind with the id asked below
    assert store.locate("job", "ftjob-2") == ("tenant-b", {"id": "ftjob-2", "n": 2})
    assert store.locate("job", "ftjob-1") == ("tenant-a", {"id": "ftjob-1", "n": 1})
    assert store.locate("job", "ftjob-3") is None and store.locate("job", "ftjob-9") is None
    store.delete("job", "tenant-a", "ftjob-1")
    assert store.locate("job", "ftjob-1") is None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=80, deadline=None)
@given(data=st.dictionaries(st.text(max_size=6), _JSON, max_size=5))
def test_stored_text_is_compact_json_dumps(data):
    """The stored text is what `json.dumps(separators=(",", ":"), allow_nan=False)` gives (responses splice it),
    through `put` and `put_many` alike."""
    import json

    store = Store(":memory:")
    try:
        store.put("x", "t", "one", data)
        store.put_many("y", "t", [{**data, "id": "two"}])
        texts = [row[0] for row in store._conn.execute("SELECT data FROM objects ORDER BY seq").fetchall()]
        assert texts == [json.dumps(data, separators=(",", ":"), allow_nan=False),
                         json.dumps({**data, "id": "two"}, separators=(",", ":"), allow_nan=False)]
        with pytest.raises(ValueError):
            store.put("x", "t", "nan", {"v": float("nan")})
    finally:
        store.close()
