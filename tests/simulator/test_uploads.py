"""Uploads service: create, parts, complete (ordered, byte total, md5), cancel, expiry by the simulated clock."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings, HealthCheck
from hypothesis import strategies as st

import ftsim.simulator.files.uploads as uploads_mod
from ftsim.simulator.core.errors import BadRequestError, NotFoundError, PayloadTooLargeError


def _open(backend, tenant, size, **kw):
    args = {"filename": "train.jsonl", "purpose": "fine-tune", "bytes": size, "mime_type": "text/jsonl"} | kw
    return backend.uploads.create(tenant, **args)


def _content(backend, tenant, file_id) -> bytes:
    return backend.files.content_path(tenant, file_id).read_bytes()


def test_create_is_pending_and_expires_an_hour_later(backend, tenant):
    up = _open(backend, tenant, 10)
    assert up.status == "pending" and up.object == "upload" and up.file is None
    assert up.id.startswith("upload_")
    assert up.created_at == backend.now() and up.expires_at == up.created_at + 3600
    assert (up.filename, up.purpose, up.bytes) == ("train.jsonl", "fine-tune", 10)


@pytest.mark.parametrize(
    "kw, param",
    [
        ({"purpose": "fine-tune-results"}, "purpose"),
        ({"purpose": "user_data"}, "purpose"),
        ({"bytes": -1}, "bytes"),
        ({"bytes": 8 * 1024**3 + 1}, "bytes"),
        ({"mime_type": ""}, "mime_type"),
        ({"filename": ""}, "filename"),
        ({"filename": "train.csv"}, "filename"),
        ({"expires_after": {"anchor": "created_at", "seconds": 10}}, "expires_after.seconds"),
    ],
)
def test_create_rejects_bad_input(backend, tenant, kw, param):
    args = {"filename": "train.jsonl", "purpose": "fine-tune", "bytes": 3, "mime_type": "text/jsonl"} | kw
    with pytest.raises(BadRequestError) as exc:
        backend.uploads.create(tenant, **args)
    assert exc.value.param == param


def test_parts_are_assembled_in_the_order_given(backend, tenant):
    up = _open(backend, tenant, 9)
    a = backend.uploads.add_part(tenant, up.id, chunks=[b"aaa"])
    b = backend.uploads.add_part(tenant, up.id, chunks=[b"b", b"bb"])
    c = backend.uploads.add_part(tenant, up.id, chunks=[b"ccc"])
    assert a.object == "upload.part" and a.upload_id == up.id and a.id.startswith("part_")
    done = backend.uploads.complete(tenant, up.id, part_ids=[c.id, a.id, b.id])
    assert done.status == "completed" and done.file is not None
    assert done.file.bytes == 9 and done.file.filename == "train.jsonl" and done.file.purpose == "fine-tune"
    assert _content(backend, tenant, done.file.id) == b"cccaaabbb"
    assert backend.files.get(tenant, done.file.id).id == done.file.id
    # the parts are gone once assembled
    assert backend.store.count("upload_part", tenant.key) == 0


def test_byte_total_must_match(backend, tenant):
    up = _open(backend, tenant, 5)
    p = backend.uploads.add_part(tenant, up.id, chunks=[b"abcd"])
    with pytest.raises(BadRequestError) as exc:
        backend.uploads.complete(tenant, up.id, part_ids=[p.id])
    assert exc.value.param == "bytes"
    assert backend.uploads.get(tenant, up.id).status == "pending"  # nothing happened
    q = backend.uploads.add_part(tenant, up.id, chunks=[b"e"])
    assert backend.uploads.complete(tenant, up.id, part_ids=[p.id, q.id]).status == "completed"


def test_md5_is_checked_when_given(backend, tenant):
    up = _open(backend, tenant, 3)
    p = backend.uploads.add_part(tenant, up.id, chunks=[b"xyz"])
    with pytest.raises(BadRequestError) as exc:
        backend.uploads.complete(tenant, up.id, part_ids=[p.id], md5="0" * 32)
    assert exc.value.param == "md5"
    done = backend.uploads.complete(tenant, up.id, part_ids=[p.id], md5=hashlib.md5(b"xyz").hexdigest())
    assert done.status == "completed"


def test_part_ids_must_belong_to_the_upload_and_be_unique(backend, tenant):
    one, two = _open(backend, tenant, 2), _open(backend, tenant, 2)
    p1 = backend.uploads.add_part(tenant, one.id, chunks=[b"ab"])
    p2 = backend.uploads.add_part(tenant, two.id, chunks=[b"ab"])
    for ids in ([p2.id], [p1.id, p1.id], [], ["part_nope"]):
        with pytest.raises(BadRequestError) as exc:
            backend.uploads.complete(tenant, one.id, part_ids=ids)
        assert exc.value.param == "part_ids"


def test_no_parts_complete_or_cancel_after_complete(backend, tenant):
    up = _open(backend, tenant, 1)
    p = backend.uploads.add_part(tenant, up.id, chunks=[b"x"])
    backend.uploads.complete(tenant, up.id, part_ids=[p.id])
    for action in (
        lambda: backend.uploads.add_part(tenant, up.id, chunks=[b"y"]),
        lambda: backend.uploads.complete(tenant, up.id, part_ids=[p.id]),
        lambda: backend.uploads.cancel(tenant, up.id),
    ):
        with pytest.raises(BadRequestError):
            action()


def test_cancel(backend, tenant):
    up = _open(backend, tenant, 1)
    p = backend.uploads.add_part(tenant, up.id, chunks=[b"x"])
    cancelled = backend.uploads.cancel(tenant, up.id)
    assert cancelled.status == "cancelled" and cancelled.file is None
    assert not backend.store.blob_path(tenant.key, p.id).exists()
    with pytest.raises(BadRequestError):
        backend.uploads.add_part(tenant, up.id, chunks=[b"y"])


def test_expiry_follows_the_simulated_clock(backend, tenant):
    up = _open(backend, tenant, 1)
    backend.advance(3599)
    p = backend.uploads.add_part(tenant, up.id, chunks=[b"x"])
    backend.advance(1)
    assert backend.uploads.get(tenant, up.id).status == "expired"
    with pytest.raises(BadRequestError):
        backend.uploads.complete(tenant, up.id, part_ids=[p.id])
    with pytest.raises(BadRequestError):
        backend.uploads.add_part(tenant, up.id, chunks=[b"y"])


def test_unknown_and_foreign_uploads_are_404(backend, tenant):
    up = _open(backend, tenant, 1)
    mallory = backend.tenant("sk-mallory")
    for who, upload_id in ((tenant, "upload_nope"), (mallory, up.id)):
        with pytest.raises(NotFoundError):
            backend.uploads.add_part(who, upload_id, chunks=[b"x"])
        with pytest.raises(NotFoundError):
            backend.uploads.complete(who, upload_id, part_ids=["part_x"])
        with pytest.raises(NotFoundError):
            backend.uploads.cancel(who, upload_id)


def test_oversized_part_is_refused_without_leaving_bytes(backend, tenant, monkeypatch):
    monkeypatch.setattr(uploads_mod, "MAX_PART_BYTES", 8)
    up = _open(backend, tenant, 20)
    with pytest.raises(PayloadTooLargeError):
        backend.uploads.add_part(tenant, up.id, chunks=[b"12345", b"67890"])
    folder = backend.store.blob_path(tenant.key, "x").parent
    assert not any(folder.glob(".part-*"))
    assert backend.store.count("upload_part", tenant.key) == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), blob=st.binary(min_size=1, max_size=200))
def test_any_split_and_order_assembles_exactly(backend, tenant, data, blob):
    cuts = sorted(data.draw(st.sets(st.integers(1, len(blob) - 1), max_size=5)) if len(blob) > 1 else [])
    pieces = [blob[i:j] for i, j in zip([0, *cuts], [*cuts, len(blob)])]
    order = data.draw(st.permutations(range(len(pieces))))
    up = _open(backend, tenant, len(blob))
    ids = [backend.uploads.add_part(tenant, up.id, chunks=[p]).id for p in pieces]
    done = backend.uploads.complete(tenant, up.id, part_ids=[ids[i] for i in order])
    assert _content(backend, tenant, done.file.id) == b"".join(pieces[i] for i in order)
    assert done.file.bytes == len(blob)


def test_a_cancel_during_assembly_wins_and_leaves_nothing(backend, tenant, monkeypatch):
    up = _open(backend, tenant, 2)
    p = backend.uploads.add_part(tenant, up.id, chunks=[b"ok"])
    assemble = backend.uploads._assemble

    def racing(who, ids):
        out = assemble(who, ids)
        backend.uploads.cancel(who, up.id)  # another request gets in while the bytes are copied
        return out

    monkeypatch.setattr(backend.uploads, "_assemble", racing)
    with pytest.raises(BadRequestError):
        backend.uploads.complete(tenant, up.id, part_ids=[p.id])
    assert backend.uploads.get(tenant, up.id).status == "cancelled"
    assert backend.store.count("file", tenant.key) == 0
    assert not any(backend.store.blob_path(tenant.key, "x").parent.glob(".assemble-*"))


def test_expires_after_applies_to_the_file(backend, tenant):
    up = _open(backend, tenant, 1, expires_after={"anchor": "created_at", "seconds": 7200})
    p = backend.uploads.add_part(tenant, up.id, chunks=[b"x"])
    done = backend.uploads.complete(tenant, up.id, part_ids=[p.id])
    assert done.file.expires_at == done.file.created_at + 7200
    assert backend.files.get(tenant, done.file.id).expires_at == done.file.expires_at


@pytest.mark.parametrize("action", ["complete", "cancel"])
def test_part_bytes_outlive_a_transaction_that_does_not_commit(backend, tenant, monkeypatch, action):
    """Parts' bytes go only after their rows' deletion commits: a failure (or a kill) before it keeps both."""
    up = _open(backend, tenant, 2)
    parts = [backend.uploads.add_part(tenant, up.id, chunks=[c]) for c in (b"a", b"b")]
    real = backend.uploads._drop_parts

    def drop_then_die(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError("the process dies before the commit")

    monkeypatch.setattr(backend.uploads, "_drop_parts", drop_then_die)
    with pytest.raises(RuntimeError):
        if action == "complete":
            backend.uploads.complete(tenant, up.id, part_ids=[p.id for p in parts])
        else:
            backend.uploads.cancel(tenant, up.id)
    monkeypatch.undo()
    assert backend.uploads.get(tenant, up.id).status == "pending"
    assert all(backend.store.blob_path(tenant.key, p.id).read_bytes() for p in parts)
    done = backend.uploads.complete(tenant, up.id, part_ids=[p.id for p in parts])
    assert _content(backend, tenant, done.file.id) == b"ab"
    assert not any(backend.store.blob_path(tenant.key, p.id).exists() for p in parts)


# -- races (issue 13, defect 7) -------------------------------------------------------------------------------------

def _pause_assembly_of(backend, monkeypatch, thread_name):
    """Make `thread_name`'s assembly stop after its first part until `go` is set; `paused` tells it got there."""
    import threading

    paused, go = threading.Event(), threading.Event()
    blob_path = backend.store.blob_path
    seen = []

    def slow_blob_path(tenant_key, blob_id):
        if threading.current_thread().name == thread_name and blob_id.startswith("part_"):
            seen.append(blob_id)
            if len(seen) == 2:  # about to open the second part
                paused.set()
                go.wait(10)
        return blob_path(tenant_key, blob_id)

    monkeypatch.setattr(backend.store, "blob_path", slow_blob_path)
    return paused, go


@pytest.mark.parametrize("other", ["complete", "cancel"])
def test_complete_racing_a_retry_or_a_cancel_is_a_400_never_a_crash(backend, tenant, monkeypatch, other):
    import threading

    up = _open(backend, tenant, 4)
    ids = [backend.uploads.add_part(tenant, up.id, chunks=[b"ab"]).id, backend.uploads.add_part(tenant, up.id, chunks=[b"cd"]).id]
    paused, go = _pause_assembly_of(backend, monkeypatch, "first")
    outcome = {}

    def first():
        try:
            outcome["first"] = backend.uploads.complete(tenant, up.id, part_ids=ids)
        except Exception as exc:  # noqa: BLE001 - the test inspects what escaped
            outcome["first"] = exc

    thread = threading.Thread(target=first, name="first")
    thread.start()
    assert paused.wait(10)
    # the retry (or the cancel) runs to the end while the first complete is half-way through the parts
    won = backend.uploads.complete(tenant, up.id, part_ids=ids) if other == "complete" else backend.uploads.cancel(tenant, up.id)
    go.set()
    thread.join(10)
    assert isinstance(outcome["first"], BadRequestError), outcome["first"]
    assert outcome["first"].param == "upload_id" and f"is {won.status}" in outcome["first"].message
    assert backend.uploads.get(tenant, up.id).status == won.status
    assert backend.store.count("file", tenant.key) == (1 if other == "complete" else 0)
    if other == "complete":
        assert _content(backend, tenant, won.file.id) == b"abcd"
    assert not any(backend.store.blob_path(tenant.key, "x").parent.glob(".assemble-*"))


@pytest.mark.parametrize("other", ["complete", "cancel"])
def test_concurrent_completes_and_cancels_only_answer_the_upload_or_a_400(backend, tenant, other):
    from concurrent.futures import ThreadPoolExecutor

    for _ in range(10):
        up = _open(backend, tenant, 6)
        ids = [backend.uploads.add_part(tenant, up.id, chunks=[b"xy"]).id for _ in range(3)]
        calls = [lambda: backend.uploads.complete(tenant, up.id, part_ids=ids)]
        calls.append(calls[0] if other == "complete" else (lambda: backend.uploads.cancel(tenant, up.id)))
        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(call) for call in calls]
        answers = []
        for future in futures:
            try:
                answers.append(future.result().status)
            except BadRequestError:
                answers.append("400")
        final = backend.uploads.get(tenant, up.id).status
        assert answers.count(final) == 1 and answers.count("400") == 1, answers
