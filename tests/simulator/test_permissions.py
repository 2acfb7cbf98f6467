"""Checkpoint permissions: create (list envelope), list (last_id, order, project filter), delete, owner refusal."""

from __future__ import annotations

import json

import pytest

from ftsim.simulator.core.backend import Backend
from ftsim.simulator.core.errors import BadRequestError, NotFoundError


def start_job(b: Backend, t, n_examples: int):
    """A gpt-4o-mini job on `n_examples` small chat examples."""
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(n_examples)]
    f = b.files.create(t, filename="d.jsonl", purpose="fine-tune",
                       chunks=["\n".join(map(json.dumps, rows)).encode()])
    return b.jobs.create(t, model="gpt-4o-mini-2024-07-18", training_file=f.id)


@pytest.fixture
def world():
    b = Backend()
    t = b.tenant("sk-owner")
    job = start_job(b, t, 12)
    b.advance(7 * 24 * 3600)
    ckpts = b.jobs.list_checkpoints(t, job.id)["data"]
    yield b, t, ckpts
    b.close()


def test_create_returns_a_list_envelope_and_is_idempotent_per_project(world):
    b, t, ckpts = world
    name = ckpts[1]["fine_tuned_model_checkpoint"]
    assert ":ckpt-step-" in name
    page = b.permissions.create(t, name, project_ids=["proj_a", "proj_b"])
    assert page["object"] == "list" and page["has_more"] is False
    assert [p["project_id"] for p in page["data"]] == ["proj_a", "proj_b"]
    assert page["first_id"] == page["data"][0]["id"] and page["last_id"] == page["data"][1]["id"]
    p = page["data"][0]
    assert list(p) == ["object", "id", "created_at", "project_id"] and p["object"] == "checkpoint.permission"
    assert p["id"].startswith("cp_") and len(p["id"]) == 27
    again = b.permissions.create(t, name, project_ids=["proj_a"])
    assert again["data"][0]["id"] == p["id"]


def test_owning_project_is_refused(world):
    b, t, ckpts = world
    with pytest.raises(BadRequestError) as info:
        b.permissions.create(t, ckpts[0]["fine_tuned_model_checkpoint"], project_ids=[t.project_id])
    assert info.value.message == f"Cannot modify checkpoint permissions for the owning project: {t.project_id}"


def test_list_orders_pages_by_last_id_and_filters(world):
    b, t, ckpts = world
    name = ckpts[0]["fine_tuned_model_checkpoint"]
    made = b.permissions.create(t, name, project_ids=["p1", "p2", "p3"])["data"]
    desc = b.permissions.list(t, name, limit=2)
    assert [p["project_id"] for p in desc["data"]] == ["p3", "p2"] and desc["has_more"]
    nxt = b.permissions.list(t, name, after=desc["last_id"], limit=2)
    assert [p["project_id"] for p in nxt["data"]] == ["p1"] and not nxt["has_more"]
    asc = b.permissions.list(t, name, order="ascending")
    assert [p["id"] for p in asc["data"]] == [p["id"] for p in made]
    assert [p["project_id"] for p in b.permissions.list(t, name, project_id="p2")["data"]] == ["p2"]
    with pytest.raises(BadRequestError):
        b.permissions.list(t, name, order="sideways")


def test_delete_and_unknown_ids(world):
    b, t, ckpts = world
    name = ckpts[0]["fine_tuned_model_checkpoint"]
    pid = b.permissions.create(t, name, project_ids=["p1"])["data"][0]["id"]
    gone = b.permissions.delete(t, name, pid)
    assert gone.model_dump() == {"object": "checkpoint.permission", "id": pid, "deleted": True}
    assert b.permissions.list(t, name)["data"] == []
    with pytest.raises(NotFoundError):
        b.permissions.delete(t, name, pid)
    with pytest.raises(NotFoundError):
        b.permissions.list(t, "ft:gpt-4o-mini-2024-07-18:personal::nothere1")
    with pytest.raises(NotFoundError):  # another tenant cannot see the checkpoint
        b.permissions.create(b.tenant("sk-other"), name, project_ids=["p9"])


def test_a_pruned_checkpoint_takes_its_permissions_with_it():
    """A pause checkpoint pushed out by three newer epoch checkpoints leaves no permission behind in the store."""
    b = Backend()
    try:
        t = b.tenant("sk-owner")
        job = start_job(b, t, 50)
        while b.jobs.retrieve(t, job.id).status != "running":
            b.advance(1)
        b.advance(3)
        b.jobs.pause(t, job.id)  # a few steps in, before the first epoch ends
        paused = b.jobs.list_checkpoints(t, job.id)["data"][0]["fine_tuned_model_checkpoint"]
        b.permissions.create(t, paused, project_ids=["proj_a", "proj_b"])
        assert b.store.count("permission") == 2
        b.jobs.resume(t, job.id)
        b.advance(7 * 24 * 3600)
        kept = [c["fine_tuned_model_checkpoint"] for c in b.jobs.list_checkpoints(t, job.id)["data"]]
        assert paused not in kept and len(kept) == 3
        assert b.store.count("permission") == 0
        with pytest.raises(NotFoundError):
            b.permissions.list(t, paused)
    finally:
        b.close()
