"""Models service: base snapshots + tuned models, retrieve, delete, inference resolution."""

from __future__ import annotations

import pytest

from ftsim.simulator.core.backend import Backend, SimConfig
from ftsim.simulator.core.clock import ManualClock
from ftsim.simulator.core.errors import NotFoundError, PermissionDeniedError
from ftsim.simulator.core.store import Store

TUNED = "ft:gpt-4o-mini-2024-07-18:personal:suf:abc12345"
CKPT = "ft:gpt-4o-mini-2024-07-18:personal:suf:def67890:ckpt-step-10"


def make_backend(**config):
    return Backend(store=Store(":memory:"), clock=ManualClock(), config=SimConfig(**config))


@pytest.fixture
def backend():
    b = make_backend()
    yield b
    b.close()


def add_tuned(backend, tenant, name=TUNED, **extra):
    """A tuned model record as the jobs service writes it on success."""
    record = {
        "id": name, "object": "model", "created": backend.now(), "owned_by": tenant.org_slug,
        "fine_tuning_job_id": "ftjob-x", "base_model": "gpt-4o-mini-2024-07-18", "training_file": "file-x",
    } | extra
    backend.store.put("model", tenant.key, name, record)
    return record


def test_list_has_every_fine_tunable_base_then_tuned_models(backend, tenant):
    add_tuned(backend, tenant)
    add_tuned(backend, tenant, CKPT)
    add_tuned(backend, backend.tenant("sk-bob"), "ft:gpt-4o-mini-2024-07-18:personal::zzz99999")
    page = backend.models.list(tenant)
    assert set(page) == {"object", "data"} and page["object"] == "list"
    ids = [m["id"] for m in page["data"]]
    bases = [e.snapshot for e in backend.catalog.fine_tunable()]
    assert ids == bases + [TUNED, CKPT]
    assert all(m["owned_by"] == "system" for m in page["data"][: len(bases)])
    tuned = page["data"][-2]
    assert tuned == {"id": TUNED, "object": "model", "created": backend.now(), "owned_by": "personal"}


def test_base_models_are_not_from_the_future_and_carry_shutdown_dates(backend, tenant):
    for model in backend.models.list(tenant)["data"]:
        assert 0 < model["created"] <= backend.now()
    entry = backend.catalog.resolve("gpt-4o-mini")
    assert backend.models.get(tenant, "gpt-4o-mini").shutdown_date == entry.inference_until.isoformat()


def test_retrieve(backend, tenant):
    add_tuned(backend, tenant)
    assert backend.models.get(tenant, TUNED).owned_by == "personal"
    assert backend.models.get(tenant, "gpt-4o-mini").id == "gpt-4o-mini"
    assert backend.models.get(tenant, "gpt-4o-mini-2024-07-18").owned_by == "system"


@pytest.mark.parametrize("name", ["nope", TUNED, "ft:gpt-4o-mini-2024-07-18:personal::unknown1"])
def test_unknown_or_foreign_model_is_404_with_the_live_text(backend, tenant, name):
    add_tuned(backend, backend.tenant("sk-bob"))  # TUNED belongs to another tenant
    with pytest.raises(NotFoundError) as exc:
        backend.models.get(tenant, name)
    assert (exc.value.code, exc.value.param) == ("model_not_found", "model")
    assert exc.value.message == f"The model '{name}' does not exist"
    if name != "nope":  # deleting an unknown or foreign model answers the same 404
        with pytest.raises(NotFoundError) as exc:
            backend.models.delete(tenant, name)
        assert (exc.value.message, exc.value.param) == (f"The model '{name}' does not exist", "model")


def test_delete_own_tuned_model(backend, tenant):
    add_tuned(backend, tenant)
    deleted = backend.models.delete(tenant, TUNED)
    assert deleted.model_dump() == {"id": TUNED, "object": "model", "deleted": True}
    with pytest.raises(NotFoundError):
        backend.models.get(tenant, TUNED)
    with pytest.raises(NotFoundError):
        backend.models.delete(tenant, TUNED)


def test_delete_base_model_is_403_and_foreign_is_404(backend, tenant):
    with pytest.raises(PermissionDeniedError) as exc:
        backend.models.delete(tenant, "gpt-4o-mini")
    assert exc.value.message == "You have insufficient permissions for this operation. Missing scopes: api.delete"
    add_tuned(backend, backend.tenant("sk-bob"))
    with pytest.raises(NotFoundError):
        backend.models.delete(tenant, TUNED)
    assert backend.models.get(backend.tenant("sk-bob"), TUNED).id == TUNED  # untouched


def test_resolve_for_inference(backend, tenant):
    add_tuned(backend, tenant)
    add_tuned(backend, tenant, CKPT)
    base = backend.models.resolve_for_inference(tenant, "gpt-4o-mini")
    assert not base.tuned and base.entry.snapshot == "gpt-4o-mini-2024-07-18"
    assert backend.models.resolve_for_inference(tenant, "o3-mini").entry.snapshot == "o3-mini-2025-01-31"
    tuned = backend.models.resolve_for_inference(tenant, TUNED)
    assert tuned.tuned and tuned.training_file == "file-x" and tuned.entry.tokenizer == "o200k_base"
    assert backend.models.resolve_for_inference(tenant, CKPT).tuned
    backend.models.delete(tenant, TUNED)
    for name in (TUNED, "ft:gpt-4o-mini-2024-07-18:personal::nothere1", "gpt-9"):
        with pytest.raises(NotFoundError) as exc:
            backend.models.resolve_for_inference(tenant, name)
        assert exc.value.code == "model_not_found"
    with pytest.raises(NotFoundError):
        backend.models.resolve_for_inference(backend.tenant("sk-bob"), CKPT)


def test_lifecycle_enforce_refuses_retired_models():
    backend = make_backend(lifecycle="enforce")
    tenant = backend.tenant("sk-a")
    retired = next(e for e in backend.catalog.models if e.inference_until and not e.inference_open(
        __import__("datetime").date.fromtimestamp(backend.now())))
    with pytest.raises(NotFoundError):
        backend.models.resolve_for_inference(tenant, retired.snapshot)
    assert make_backend().models.resolve_for_inference(tenant, retired.snapshot).entry == retired
