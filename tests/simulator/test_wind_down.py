"""OpenAI's wind-down of fine-tuning, per organization: 403 training_not_available under enforce, a warn event under warn."""

from __future__ import annotations

import datetime as dt
import json

import openai
import pytest

from ftsim.api.testing.simulator import Simulator
from ftsim.pricing.catalog.catalog import load_catalog
from ftsim.simulator.core.backend import Backend, SimConfig
from ftsim.simulator.core.clock import ManualClock
from ftsim.simulator.core.errors import PermissionDeniedError
from ftsim.simulator.core.store import Store
from ftsim.simulator.core.tenancy import load_keys, tenant_from_spec
from ftsim.simulator.fine_tuning.wind_down import MESSAGE, blocked_reason

MINI = "gpt-4o-mini-2024-07-18"
WD = load_catalog().wind_down
KEYS = {
    "sk-new": {"org_id": "org-new", "fine_tuned_before": False},
    "sk-idle": {"org_id": "org-idle", "last_fine_tuned_inference": "2026-03-31"},
    "sk-busy": {"org_id": "org-busy", "last_fine_tuned_inference": "2026-10-15"},
    "sk-plain": {"org_id": "org-plain"},
}


def chat_lines(n: int) -> bytes:
    rows = [{"messages": [{"role": "user", "content": f"{i}?"}, {"role": "assistant", "content": f"{i}."}]}
            for i in range(n)]
    return "\n".join(json.dumps(r) for r in rows).encode()


def world(policy: str, start: dt.date = dt.date(2026, 11, 1)) -> Backend:
    clock = ManualClock(dt.datetime(start.year, start.month, start.day, tzinfo=dt.timezone.utc).timestamp())
    keys = {k: tenant_from_spec(v) for k, v in KEYS.items()}
    return Backend(store=Store(":memory:"), clock=clock, config=SimConfig(lifecycle=policy, keys=keys))


def create(backend: Backend, key: str):
    tenant = backend.tenant(key)
    f = backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[chat_lines(12)])
    return backend.jobs.create(tenant, model=MINI, training_file=f.id)


def test_catalog_carries_the_wind_down_dates_with_their_source():
    assert (WD.never_fine_tuned_from, WD.inactive_from, WD.everyone_from, WD.inactive_days) == (
        dt.date(2026, 5, 7), dt.date(2026, 7, 2), dt.date(2027, 1, 6), 60)
    cat = load_catalog()
    assert WD.source in cat.sources
    ends = {e.snapshot: (e.inference_until, e.inference_until_source) for e in cat.models}
    for snapshot in ("gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14", "gpt-4.1-mini-2025-04-14"):
        assert ends[snapshot][0] == dt.date(2027, 1, 14) and ends[snapshot][1] in cat.sources
    for snapshot in ("o4-mini-2025-04-16", "gpt-3.5-turbo-0125", "gpt-4-0613", "gpt-4.1-nano-2025-04-14",
                     "babbage-002", "davinci-002", "o3-mini-2025-01-31"):
        assert ends[snapshot] == (dt.date(2026, 10, 23), "S12")
    assert ends["o3-2025-04-16"] == (dt.date(2026, 12, 11), "S12")
    for entry in cat.models:  # every date has its source
        assert (entry.training_until is None) == (entry.training_until_source is None)
        assert (entry.inference_until is None) == (entry.inference_until_source is None)


@pytest.mark.parametrize(("fine_tuned", "last", "active", "today", "blocked"), [
    (True, None, True, dt.date(2026, 11, 1), False),        # an active customer (the default)
    (False, None, False, dt.date(2026, 5, 6), False),       # never fine-tuned, the day before the first cut
    (False, None, False, dt.date(2026, 5, 7), True),
    (True, dt.date(2026, 3, 31), False, dt.date(2026, 7, 1), False),
    (True, dt.date(2026, 3, 31), False, dt.date(2026, 7, 2), True),   # no tuned inference in the 60 days before
    (True, dt.date(2026, 9, 2), False, dt.date(2026, 11, 1), False),  # 60 days ago exactly
    (True, dt.date(2026, 9, 1), False, dt.date(2026, 11, 1), True),
    (True, None, True, dt.date(2027, 1, 6), True),          # nobody from 2027-01-06
])
def test_blocked_reason_follows_the_three_dates(fine_tuned, last, active, today, blocked):
    assert (blocked_reason(WD, today, fine_tuned=fine_tuned, last_inference=last, active=active) is not None) == blocked


@pytest.mark.parametrize("key", ["sk-new", "sk-idle"])
def test_blocked_organization_gets_403_training_not_available_under_enforce(key):
    backend = world("enforce")
    with pytest.raises(PermissionDeniedError) as info:
        create(backend, key)
    assert info.value.status_code == 403 and info.value.code == "training_not_available"
    assert info.value.body()["error"] == {"message": MESSAGE, "type": "invalid_request_error", "param": None,
                                          "code": "training_not_available"}
    assert MESSAGE.startswith("OpenAI is winding down the fine-tuning platform and your organization is no longer "
                              "able to create new fine-tuning training jobs.")
    assert backend.files.list(backend.tenant(key))["data"]  # uploading still works
    assert create(backend, "sk-busy").status == "validating_files"
    assert create(backend, "sk-plain").status == "validating_files"
    assert create(backend, "sk-anyone-else").status == "validating_files"  # unlisted: an active customer


def test_under_warn_a_blocked_create_runs_and_carries_a_warn_event():
    backend = world("warn")
    job = create(backend, "sk-new")
    events = backend.jobs.list_events(backend.tenant("sk-new"), job.id)["data"]
    warn = [e for e in events if e["level"] == "warn"]
    assert len(warn) == 1 and "training_not_available" in warn[0]["message"] and "ftsim" not in warn[0]["message"]
    plain = create(backend, "sk-plain")
    assert not [e for e in backend.jobs.list_events(backend.tenant("sk-plain"), plain.id)["data"] if e["level"] == "warn"]
    ignored = world("ignore")
    assert create(ignored, "sk-new").status == "validating_files"


def test_no_one_creates_jobs_from_2027_01_06():
    backend = world("enforce", dt.date(2027, 1, 6))
    with pytest.raises(PermissionDeniedError):
        create(backend, "sk-plain")


def test_calling_a_tuned_model_in_the_world_reopens_training_for_an_idle_organization():
    backend = world("warn")
    idle = backend.tenant("sk-idle")
    job = create(backend, "sk-idle")  # runs under warn
    backend.advance(7 * 24 * 3600)
    done = backend.jobs.retrieve(idle, job.id)
    assert done.status == "succeeded"
    backend.config.lifecycle = "enforce"
    with pytest.raises(PermissionDeniedError):
        create(backend, "sk-idle")  # trained, but no tuned inference since 2026-03-31
    backend.chat.create(idle, _chat(done.fine_tuned_model))  # a call to its tuned model
    assert create(backend, "sk-idle").status == "validating_files"


def _chat(model: str, **extra):
    from ftsim.simulator.inference.chat import ChatCompletionRequest

    return ChatCompletionRequest.model_validate({"model": model, "messages": [{"role": "user", "content": "1?"}],
                                                 **extra})


def _idle_with_a_tuned_model() -> tuple[Backend, object, str]:
    """A world under enforce where the idle organization has a tuned model but may not train (no recent call)."""
    backend = world("warn")
    idle = backend.tenant("sk-idle")
    job = create(backend, "sk-idle")
    backend.advance(7 * 24 * 3600)
    model = backend.jobs.retrieve(idle, job.id).fine_tuned_model
    backend.config.lifecycle = "enforce"
    return backend, idle, model


@pytest.mark.parametrize("refused", [
    lambda b, t, m: b.chat.create(t, _chat(m, temperature=3)),
    lambda b, t, m: b.responses.create(t, _response(m, reasoning={"summary": "everything"})),
    lambda b, t, m: b.chat.create(t, _chat(m, tools=[{"type": "function", "function": {"name": f"f{i}"}}
                                                    for i in range(129)])),
    lambda b, t, m: b.responses.create(t, _response(m, reasoning={"effort": "enormous"})),
    lambda b, t, m: b.responses.create(t, _response(m, temperature=-1)),
])
def test_a_refused_call_to_a_tuned_model_does_not_count_as_inference(refused):
    """Only a call the tuned model answered dates the organization's last fine-tuned inference: one refused on
    the way (a knob out of range, too many tools, a reasoning setting the model refuses) leaves it idle."""
    from ftsim.simulator.core.errors import BadRequestError

    backend, idle, model = _idle_with_a_tuned_model()
    with pytest.raises(BadRequestError):
        refused(backend, idle, model)
    with pytest.raises(PermissionDeniedError):
        create(backend, "sk-idle")


def test_an_answered_responses_call_counts_as_inference():
    backend, idle, model = _idle_with_a_tuned_model()
    backend.responses.create(idle, _response(model))
    assert create(backend, "sk-idle").status == "validating_files"


def _response(model: str, **extra):
    from ftsim.simulator.inference.responses import ResponseRequest

    return ResponseRequest.model_validate({"model": model, "input": "1?", **extra})


def test_keys_file_and_the_test_kit_take_the_organization_state(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(KEYS))
    keys = load_keys(path)
    assert keys["sk-new"].fine_tuned_before is False
    assert keys["sk-idle"].last_fine_tuned_inference == dt.date(2026, 3, 31)
    assert keys["sk-plain"].fine_tuned_before is True and keys["sk-plain"].last_fine_tuned_inference is None
    path.write_text(json.dumps({"sk-x": {"org_id": "org-x", "last_fine_tuned_inference": "March"}}))
    with pytest.raises(ValueError, match="ISO date"):
        load_keys(path)
    with Simulator(lifecycle="enforce", keys={"sk-new": KEYS["sk-new"]}) as sim:
        client = sim.client(api_key="sk-new")
        f = client.files.create(file=("t.jsonl", chat_lines(12)), purpose="fine-tune")
        with pytest.raises(openai.PermissionDeniedError) as info:
            client.fine_tuning.jobs.create(model=MINI, training_file=f.id)
        assert info.value.status_code == 403 and info.value.code == "training_not_available"
        assert info.value.body["message"] == MESSAGE
