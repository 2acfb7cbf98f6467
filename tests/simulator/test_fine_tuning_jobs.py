"""The jobs service on a real Backend (in-memory store, manual clock): create checks, lifecycle, isolation."""

from __future__ import annotations

import base64
import json

import pytest

from ftsim.pricing.dataset.scan import scan_dataset
from ftsim.simulator.core.backend import Backend, SimConfig
from ftsim.simulator.core.clock import ManualClock
from ftsim.simulator.core.errors import BadRequestError, NotFoundError, RateLimitError
from ftsim.simulator.core.store import Store

MINI = "gpt-4.1-mini-2025-04-14"
DAY = 24 * 3600


def chat_lines(n: int) -> bytes:
    rows = [{"messages": [{"role": "user", "content": f"What is {i} + {i}?"},
                          {"role": "assistant", "content": f"{2 * i}"}]} for i in range(n)]
    return "\n".join(json.dumps(r) for r in rows).encode()


def dpo_lines(n: int) -> bytes:
    rows = [{"input": {"messages": [{"role": "user", "content": f"Say hi {i}"}]},
             "preferred_output": [{"role": "assistant", "content": "Hi!"}],
             "non_preferred_output": [{"role": "assistant", "content": "Go away."}]} for i in range(n)]
    return "\n".join(json.dumps(r) for r in rows).encode()


@pytest.fixture
def backend():
    b = Backend(store=Store(":memory:"), clock=ManualClock(), config=SimConfig(seed=1))
    yield b
    b.close()


def upload(backend, tenant, content: bytes, purpose="fine-tune", name="data.jsonl"):
    return backend.files.create(tenant, filename=name, purpose=purpose, chunks=[content])


def all_events(backend, tenant, job_id):
    out, after = [], None
    while True:
        page = backend.jobs.list_events(tenant, job_id, after=after, limit=100)
        out += page["data"]
        if not page["has_more"]:
            return out
        after = page["data"][-1]["id"]


def run(backend, tenant, job_id, seconds=7 * DAY):
    backend.advance(seconds)
    return backend.jobs.retrieve(tenant, job_id)


# -- create: synchronous checks ---------------------------------------------------------------------------------


def test_create_answers_validating_files_with_every_live_field(backend, tenant):
    f = upload(backend, tenant, chat_lines(12))
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id, suffix="my-model_1")
    data = job.model_dump(mode="json")
    assert list(data)[:3] == ["object", "id", "model"]
    assert data["status"] == "validating_files" and data["error"] == {} and data["finished_at"] is None
    assert data["hyperparameters"] == {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"}
    assert data["method"] == {"type": "supervised", "supervised": {"hyperparameters": {
        "batch_size": "auto", "learning_rate_multiplier": "auto", "n_epochs": "auto"}}}
    assert data["user_provided_suffix"] == "my-model_1" and data["organization_id"] == tenant.org_id
    assert 0 <= data["seed"] < 2**31 and data["id"].startswith("ftjob-") and len(data["id"]) == 30
    events = backend.jobs.list_events(tenant, job.id)["data"]
    assert [e["message"] for e in events] == [f"Validating training file: {f.id}", f"Created fine-tuning job: {job.id}"]


def test_unknown_file_is_checked_before_the_model(backend, tenant):
    with pytest.raises(BadRequestError) as info:
        backend.jobs.create(tenant, model="no-such-model", training_file="file-nope")
    assert info.value.message == "invalid training_file: file-nope" and info.value.param == "training_file"


def test_file_of_wrong_purpose_and_unknown_validation_file(backend, tenant):
    other = upload(backend, tenant, b"{}", purpose="batch", name="b.jsonl")
    with pytest.raises(BadRequestError, match=f"invalid training_file: {other.id}"):
        backend.jobs.create(tenant, model=MINI, training_file=other.id)
    good = upload(backend, tenant, chat_lines(12))
    with pytest.raises(BadRequestError) as info:
        backend.jobs.create(tenant, model=MINI, training_file=good.id, validation_file="file-x")
    assert info.value.param == "validation_file"


@pytest.mark.parametrize("model", ["gpt-4.1-mini", "o3-mini-2025-01-31", "gpt-9", "ft:gpt-4.1-mini-2025-04-14:x::abcdefgh"])
def test_alias_unknown_or_not_fine_tunable_model(backend, tenant, model):
    f = upload(backend, tenant, chat_lines(12))
    with pytest.raises(BadRequestError) as info:
        backend.jobs.create(tenant, model=model, training_file=f.id)
    assert info.value.code == "model_not_available"
    assert info.value.message == f"Model {model} is not available for fine-tuning or does not exist."


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"suffix": "has space"}, "suffix"),
        ({"suffix": "x" * 65}, "suffix"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**31}, "seed"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({"metadata": {"k": "v" * 513}}, "metadata.k"),
        ({"integrations": [{"type": "wandb", "wandb": {"project": "p"}}] * 6}, "integrations"),
        ({"method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 51}}}},
         "method.supervised.hyperparameters.n_epochs"),
        ({"method": {"type": "supervised", "supervised": {"hyperparameters": {"batch_size": 0}}}},
         "method.supervised.hyperparameters.batch_size"),
        ({"method": {"type": "supervised", "supervised": {"hyperparameters": {"learning_rate_multiplier": 0}}}},
         "method.supervised.hyperparameters.learning_rate_multiplier"),
        ({"method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": 2.5}}}}, "method.dpo.hyperparameters.beta"),
        ({"hyperparameters": {"n_epochs": 0}}, "hyperparameters.n_epochs"),
        ({"method": {"type": "supervised", "dpo": {}}}, "method.dpo"),
        ({"method": {"type": "sft"}}, "method.type"),
        ({"method": {"type": "dpo"}, "hyperparameters": {"n_epochs": 2}}, "hyperparameters"),
    ],
)
def test_bad_parameters_are_400_with_a_dotted_param(backend, tenant, kwargs, param):
    f = upload(backend, tenant, chat_lines(12))
    with pytest.raises(BadRequestError) as info:
        backend.jobs.create(tenant, model=MINI, training_file=f.id, **kwargs)
    assert info.value.param == param and info.value.status_code == 400


def test_method_must_be_offered_by_the_model_and_rft_needs_grader_and_validation(backend, tenant):
    f = upload(backend, tenant, chat_lines(12))
    with pytest.raises(BadRequestError) as info:
        backend.jobs.create(tenant, model=MINI, training_file=f.id, method={"type": "reinforcement", "reinforcement": {
            "grader": {"type": "string_check", "name": "g", "input": "a", "reference": "b", "operation": "eq"}}},
            validation_file=f.id)
    assert info.value.param == "method.type"
    with pytest.raises(BadRequestError) as info:
        backend.jobs.create(tenant, model="o4-mini-2025-04-16", training_file=f.id, validation_file=f.id,
                            method={"type": "reinforcement"})
    assert info.value.param == "method.reinforcement.grader"
    with pytest.raises(BadRequestError) as info:
        backend.jobs.create(tenant, model="o4-mini-2025-04-16", training_file=f.id, method={
            "type": "reinforcement", "reinforcement": {"grader": {"type": "string_check"}}})
    assert info.value.param == "validation_file"


def test_integrations_echo_with_run_id(backend, tenant):
    f = upload(backend, tenant, chat_lines(12))
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id,
                              integrations=[{"type": "wandb", "wandb": {"project": "p", "tags": ["a"]}}])
    assert job.integrations == [{"type": "wandb", "wandb": {"project": "p", "entity": None, "name": None,
                                                            "tags": ["a"], "run_id": job.id}}]


# -- lifecycle ------------------------------------------------------------------------------------------------


def test_success_resolves_auto_values_and_counts_tokens_like_the_planner(backend, tenant):
    f = upload(backend, tenant, chat_lines(12))
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id)
    done = run(backend, tenant, job.id)
    assert done.status == "succeeded" and done.error.model_dump() == {}
    entry = backend.catalog.resolve(MINI)
    report = scan_dataset(backend.files.content_path(tenant, f.id), method="supervised", model=entry)
    assert done.hyperparameters.n_epochs == 8  # 100 // 12
    assert done.method.supervised.hyperparameters["n_epochs"] == 8
    assert done.trained_tokens == 8 * report.tokens_per_epoch
    assert done.fine_tuned_model.startswith(f"ft:{MINI}:personal::")
    assert done.finished_at is not None
    content = backend.files.content_path(tenant, done.result_files[0]).read_bytes()
    csv = base64.b64decode(content).decode()
    assert csv.startswith("step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n1,")
    assert len(csv.strip().split("\n")) == 1 + 8 * 12
    assert backend.files.get(tenant, done.result_files[0]).purpose == "fine-tune-results"
    model = backend.store.get("model", tenant.key, done.fine_tuned_model)
    assert model["owned_by"] == tenant.owner and model["fine_tuning_job_id"] == job.id
    assert model["training_file"] == f.id and model["base_model"] == MINI
    ckpts = backend.jobs.list_checkpoints(tenant, job.id)
    assert ckpts["first_id"] == ckpts["data"][0]["id"] and ckpts["last_id"] == ckpts["data"][-1]["id"]
    assert [c["step_number"] for c in ckpts["data"]] == [96, 84, 72]
    cost = backend.jobs.estimated_cost(tenant, job.id)
    assert cost["trained_tokens"] == done.trained_tokens and cost["cost_usd"] is not None


def test_too_few_examples_fail_later_with_finished_at_null(backend, tenant):
    f = upload(backend, tenant, chat_lines(7))
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id)
    assert job.status == "validating_files"
    failed = run(backend, tenant, job.id)
    assert failed.status == "failed" and failed.finished_at is None and failed.trained_tokens is None
    assert failed.error.code == "invalid_n_examples" and failed.error.param == "training_file"
    assert failed.error.message == "Training file has 7 example(s), but must have at least 10 examples"
    newest = backend.jobs.list_events(tenant, job.id)["data"][0]
    assert newest["level"] == "error" and newest["message"] == failed.error.message


def test_dpo_job_has_null_top_level_hyperparameters_and_resolved_beta(backend, tenant):
    f = upload(backend, tenant, dpo_lines(12))
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id, method={"type": "dpo"})
    assert job.hyperparameters is None
    done = run(backend, tenant, job.id)
    assert done.status == "succeeded" and done.hyperparameters is None
    assert done.method.dpo.hyperparameters["beta"] == 0.1 and done.method.model_dump().keys() == {"type", "dpo"}


def test_chat_file_with_dpo_fails_with_format_mismatch(backend, tenant):
    f = upload(backend, tenant, chat_lines(12))
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id, method={"type": "dpo"})
    failed = run(backend, tenant, job.id)
    assert failed.status == "failed" and failed.error.param == "training_file" and failed.error.code


def test_cancel_pause_resume(backend, tenant):
    f = upload(backend, tenant, chat_lines(50))
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id)
    with pytest.raises(BadRequestError):
        backend.jobs.pause(tenant, job.id)  # not running yet
    backend.advance(60)
    assert backend.jobs.retrieve(tenant, job.id).status == "running"
    backend.advance(5)
    paused = backend.jobs.pause(tenant, job.id)
    assert paused.status == "paused"
    assert run(backend, tenant, job.id, DAY).status == "paused"
    assert backend.jobs.resume(tenant, job.id).status == "queued"
    with pytest.raises(BadRequestError):
        backend.jobs.resume(tenant, job.id)  # already resumed
    assert run(backend, tenant, job.id).status == "succeeded"
    steps = [e["data"]["step"] for e in all_events(backend, tenant, job.id) if e["type"] == "metrics"]
    assert sorted(steps) == list(range(1, 151))  # 50 examples x 3 epochs, no step repeated or lost
    cancel_me = backend.jobs.create(tenant, model=MINI, training_file=f.id)
    cancelled = backend.jobs.cancel(tenant, cancel_me.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is None
    with pytest.raises(BadRequestError):
        backend.jobs.cancel(tenant, cancel_me.id)
    assert run(backend, tenant, cancel_me.id).status == "cancelled"


def test_tenants_cannot_see_each_other(backend, tenant):
    f = upload(backend, tenant, chat_lines(12))
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id)
    bob = backend.tenant("sk-bob")
    for call in (backend.jobs.retrieve, backend.jobs.cancel, backend.jobs.list_events, backend.jobs.list_checkpoints):
        with pytest.raises(NotFoundError) as info:
            call(bob, job.id)
        assert info.value.message == f"Could not find fine tune: {job.id}"
        assert info.value.param == "fine_tune_id" and info.value.code == "fine_tune_not_found"
    assert backend.jobs.list(bob)["data"] == []
    with pytest.raises(BadRequestError, match="invalid training_file"):
        backend.jobs.create(bob, model=MINI, training_file=f.id)


def test_simultaneous_jobs_per_model_are_limited(backend, tenant):
    f = upload(backend, tenant, chat_lines(12))
    ids = [backend.jobs.create(tenant, model=MINI, training_file=f.id).id for _ in range(3)]
    with pytest.raises(RateLimitError) as info:
        backend.jobs.create(tenant, model=MINI, training_file=f.id)
    assert info.value.status_code == 429 and info.value.code == "rate_limit_exceeded"
    backend.jobs.create(tenant, model="gpt-4o-mini-2024-07-18", training_file=f.id)  # another model is fine
    backend.jobs.create(backend.tenant("sk-bob"), model=MINI,
                        training_file=upload(backend, backend.tenant("sk-bob"), chat_lines(12)).id)
    backend.jobs.cancel(tenant, ids[0])
    backend.jobs.create(tenant, model=MINI, training_file=f.id)


@pytest.mark.parametrize(("policy", "warned"), [("warn", True), ("ignore", False)])
def test_retired_model_runs_with_or_without_a_warning(policy, warned):
    b = Backend(config=SimConfig(lifecycle=policy))
    t = b.tenant("sk-a")
    f = upload(b, t, chat_lines(12))
    job = b.jobs.create(t, model="gpt-4.1-nano-2025-04-14", training_file=f.id)  # training_until 2026-10-23
    events = b.jobs.list_events(t, job.id)["data"]
    assert ("warn" in [e["level"] for e in events]) is warned
    assert not any("ftsim" in e["message"] for e in events)  # no implementation remark in what a client reads
    b.close()


def test_retired_model_is_refused_under_enforce():
    b = Backend(config=SimConfig(lifecycle="enforce"))
    t = b.tenant("sk-a")
    f = upload(b, t, chat_lines(12))
    with pytest.raises(BadRequestError) as info:
        b.jobs.create(t, model="gpt-4.1-nano-2025-04-14", training_file=f.id)
    assert info.value.code == "model_not_available"
    assert b.jobs.create(t, model=MINI, training_file=f.id).status == "validating_files"
    b.close()


def test_list_pages_newest_first_and_filters_metadata(backend, tenant):
    backend.config.max_concurrent_jobs_per_model = 10
    f = upload(backend, tenant, chat_lines(12))
    ids = [backend.jobs.create(tenant, model=MINI, training_file=f.id, metadata={"n": str(i)} if i % 2 else None).id
           for i in range(5)]
    page = backend.jobs.list(tenant, limit=2)
    assert [j["id"] for j in page["data"]] == ids[::-1][:2] and page["has_more"] is True
    assert "first_id" not in page
    rest = backend.jobs.list(tenant, after=page["data"][-1]["id"], limit=10)
    assert [j["id"] for j in rest["data"]] == ids[::-1][2:] and rest["has_more"] is False
    assert [j["id"] for j in backend.jobs.list(tenant, metadata={"n": "3"})["data"]] == [ids[3]]
    assert [j["id"] for j in backend.jobs.list(tenant, metadata_null=True)["data"]] == [ids[4], ids[2], ids[0]]
    with pytest.raises(BadRequestError):
        backend.jobs.list(tenant, limit=101)
    with pytest.raises(BadRequestError):
        backend.jobs.list_events(tenant, ids[0], limit=0)


def test_fault_hook_fails_a_job_at_a_step(backend, tenant):
    class Faults:
        def job_failure(self, tenant, job, **_):
            return {"at_step": 5, "code": "server_error", "message": "Injected failure"}

    backend.faults = Faults()
    f = upload(backend, tenant, chat_lines(12))
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id)
    failed = run(backend, tenant, job.id)
    assert failed.status == "failed" and failed.error.message == "Injected failure"
    steps = [e["data"]["step"] for e in backend.jobs.list_events(tenant, job.id, limit=100)["data"]
             if e["type"] == "metrics"]
    assert max(steps) == 4


def test_a_restart_carries_running_jobs_on(tmp_path):
    path = tmp_path / "ftsim.db"
    b1 = Backend(store=Store(path), clock=ManualClock())
    t = b1.tenant("sk-a")
    f = upload(b1, t, chat_lines(12))
    job = b1.jobs.create(t, model=MINI, training_file=f.id)
    b1.advance(55)
    assert b1.jobs.retrieve(t, job.id).status in ("queued", "running")
    b1.close()
    b2 = Backend(store=Store(path), clock=ManualClock())
    assert b2.now() >= b1.now()
    b2.advance(DAY)
    done = b2.jobs.retrieve(t, job.id)
    assert done.status == "succeeded"
    events = b2.jobs.list_events(t, job.id, limit=100)["data"]
    assert len({e["id"] for e in events}) == len(events)
    b2.close()


@pytest.mark.parametrize(("stage", "step"), [("validation", None), ("step", 7)])
def test_injected_faults_from_the_faults_service(backend, tenant, stage, step):
    if backend.faults is None:
        pytest.skip("ftsim.simulator.core.faults not available")
    backend.faults.add(kind="job", stage=stage, step=step or 1, code="custom_code", message="Injected.")
    f = upload(backend, tenant, chat_lines(12))
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id)
    failed = run(backend, tenant, job.id)
    assert failed.status == "failed" and failed.error.code == "custom_code" and failed.error.message == "Injected."
    steps = [e["data"]["step"] for e in all_events(backend, tenant, job.id) if e["type"] == "metrics"]
    assert (max(steps) if steps else None) == (step - 1 if step else None)
    again = backend.jobs.create(tenant, model=MINI, training_file=f.id)  # the rule fired once
    assert run(backend, tenant, again.id).status == "succeeded"


def test_a_tuned_model_can_be_fine_tuned_again(backend, tenant):
    f = upload(backend, tenant, chat_lines(12))
    first = run(backend, tenant, backend.jobs.create(tenant, model=MINI, training_file=f.id).id)
    second = backend.jobs.create(tenant, model=first.fine_tuned_model, training_file=f.id, suffix="v2")
    assert second.model == first.fine_tuned_model
    done = run(backend, tenant, second.id)
    assert done.fine_tuned_model.startswith(f"ft:{MINI}:personal:v2:")
    with pytest.raises(BadRequestError):  # another tenant's tuned model does not exist for them
        bob = backend.tenant("sk-bob")
        backend.jobs.create(bob, model=first.fine_tuned_model, training_file=upload(backend, bob, chat_lines(12)).id)


def test_rft_job_gets_an_eval_id_and_null_top_level_hyperparameters(backend, tenant):
    f = upload(backend, tenant, chat_lines(12))
    grader = {"type": "string_check", "name": "g", "input": "{{sample.output_text}}", "reference": "x",
              "operation": "eq"}
    job = backend.jobs.create(tenant, model="o4-mini-2025-04-16", training_file=f.id, validation_file=f.id,
                              method={"type": "reinforcement", "reinforcement": {"grader": grader}})
    assert job.eval_id.startswith("eval_") and job.hyperparameters is None
    hp = job.method.reinforcement.hyperparameters
    assert hp["reasoning_effort"] == "default" and hp["compute_multiplier"] == "auto"
    assert job.method.reinforcement.grader == grader


def test_special_token_in_training_file_fails_the_job_with_invalid_token(backend, tenant):
    rows = [{"messages": [{"role": "user", "content": f"Complete {i}"}, {"role": "assistant", "content": f"ok {i}"}]}
            for i in range(12)]
    rows[3]["messages"][0]["content"] = "prefix <|endoftext|> suffix"
    f = upload(backend, tenant, "\n".join(json.dumps(r) for r in rows).encode())
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id)
    failed = run(backend, tenant, job.id)
    assert failed.status == "failed" and failed.error.code == "invalid_file_format"
    assert failed.error.param == "training_file"
    assert failed.error.message == ("The job failed due to a file format error in the training file. Invalid file format. "
                                    "Example 4 message contains an invalid token: <|endoftext|>.")


@pytest.mark.parametrize("wait", [0, 60, 70])  # validating_files, queued or running, then cancelled
def test_cancelled_job_has_finished_at_null(backend, tenant, wait):
    f = upload(backend, tenant, chat_lines(50))
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id)
    backend.advance(wait)
    cancelled = backend.jobs.cancel(tenant, job.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is None
    assert run(backend, tenant, job.id).finished_at is None
    assert backend.jobs.list(tenant)["data"][0]["finished_at"] is None


def test_learning_rate_multiplier_echoes_as_a_float(backend, tenant):
    f = upload(backend, tenant, chat_lines(12))
    given = backend.jobs.create(tenant, model=MINI, training_file=f.id, hyperparameters={"learning_rate_multiplier": 3})
    assert json.loads(given.model_dump_json())["hyperparameters"]["learning_rate_multiplier"] == 3.0
    assert '"learning_rate_multiplier":3.0' in given.model_dump_json().replace(" ", "")
    auto = backend.jobs.create(tenant, model=MINI, training_file=f.id)
    for job_id in (given.id, auto.id):
        done = run(backend, tenant, job_id, DAY)
        text = done.model_dump_json()
        lr = done.method.supervised.hyperparameters["learning_rate_multiplier"]
        assert isinstance(lr, float) and isinstance(done.hyperparameters.learning_rate_multiplier, float)
        assert ('"learning_rate_multiplier":3.0' if job_id == given.id else '"learning_rate_multiplier":2.0') in text


def test_failed_job_error_keys_come_code_param_message(backend, tenant):
    f = upload(backend, tenant, chat_lines(7))
    failed = run(backend, tenant, backend.jobs.create(tenant, model=MINI, training_file=f.id).id)
    assert list(json.loads(failed.model_dump_json())["error"]) == ["code", "param", "message"]


def test_tuned_and_checkpoint_models_are_owned_by_the_account_and_created_after_finished_at(backend, tenant):
    import re

    f = upload(backend, tenant, chat_lines(50))
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id)
    for _ in range(200):  # mid-run, past the first epoch's checkpoint
        backend.advance(2)
        if backend.jobs.list_checkpoints(tenant, job.id)["data"]:
            break
    assert backend.jobs.retrieve(tenant, job.id).status == "running"
    assert backend.jobs.list_checkpoints(tenant, job.id)["data"]  # no checkpoint model is listed before the end
    assert not [m for m in backend.models.list(tenant)["data"] if m["id"].startswith("ft:")]
    done = run(backend, tenant, job.id)
    ours = [m for m in backend.models.list(tenant)["data"] if m["id"].startswith("ft:")]
    assert len(ours) == 3 and {m["id"] for m in ours} >= {done.fine_tuned_model}
    assert re.fullmatch(r"user-[a-z0-9]{24}", tenant.owner)
    for model in ours:
        assert model["owned_by"] == tenant.owner
        assert done.finished_at < model["created"] <= done.finished_at + 5
    result = backend.files.get(tenant, done.result_files[0])
    assert result.created_at == done.finished_at


def test_an_organization_owns_its_models_by_name():
    from ftsim.simulator.core.tenancy import Tenant

    keys = {"sk-acme": Tenant(org_id="org-acme", org_slug="acme-research", project_id="proj_a")}
    b = Backend(store=Store(":memory:"), clock=ManualClock(), config=SimConfig(seed=1, keys=keys))
    try:
        acme = b.tenant("sk-acme")
        f = upload(b, acme, chat_lines(12))
        done = run(b, acme, b.jobs.create(acme, model=MINI, training_file=f.id).id)
        assert b.models.get(acme, done.fine_tuned_model).owned_by == "acme-research"
    finally:
        b.close()


def test_alias_acceptance_is_a_catalog_field(backend, tenant):
    f = upload(backend, tenant, chat_lines(12))
    job = backend.jobs.create(tenant, model="gpt-3.5-turbo", training_file=f.id)  # accepted live (2025 recording)
    assert job.model == "gpt-3.5-turbo-0125"
    assert backend.catalog.get("gpt-3.5-turbo-0125").fine_tuning_aliases == ("gpt-3.5-turbo",)
    with pytest.raises(BadRequestError) as info:  # refused live
        backend.jobs.create(tenant, model="gpt-4o-mini", training_file=f.id)
    assert info.value.code == "model_not_available"
    assert backend.catalog.get("gpt-4o-mini-2024-07-18").fine_tuning_aliases == ()


@pytest.mark.parametrize("wait", [0, 70])  # validating_files, running
def test_deleting_the_training_file_fails_the_job_with_deleted_training_file(backend, tenant, wait):
    f = upload(backend, tenant, chat_lines(50))
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id)
    other = backend.jobs.create(tenant, model=MINI, training_file=upload(backend, tenant, chat_lines(50)).id)
    backend.advance(wait)
    backend.files.delete(tenant, f.id)
    failed = backend.jobs.retrieve(tenant, job.id)
    assert failed.status == "failed" and failed.finished_at is None
    assert failed.error.code == "deleted_training_file"
    assert failed.error.message == "The job failed because the training file was deleted"
    newest = backend.jobs.list_events(tenant, job.id)["data"][0]
    assert newest["level"] == "error" and newest["message"] == failed.error.message
    assert run(backend, tenant, job.id).status == "failed"
    assert run(backend, tenant, other.id).status == "succeeded"  # another file's job is untouched


def test_checkpoint_metrics_hold_train_and_valid_keys_as_raw_floats_and_events_come_higher_step_first(backend, tenant):
    f = upload(backend, tenant, chat_lines(12))
    v = upload(backend, tenant, chat_lines(10))
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id, validation_file=v.id,
                              hyperparameters={"n_epochs": 3})
    done = run(backend, tenant, job.id)
    ckpts = backend.jobs.list_checkpoints(tenant, job.id)["data"]
    assert [c["step_number"] for c in ckpts] == [36, 24, 12]
    for c in ckpts:
        assert list(c["metrics"]) == ["step", "train_loss", "train_mean_token_accuracy", "valid_loss",
                                      "valid_mean_token_accuracy"]
        assert c["metrics"]["step"] == c["step_number"]
    assert any(round(x, 5) != x for c in ckpts for k, x in c["metrics"].items() if k != "step")
    texts = [e["message"] for e in all_events(backend, tenant, job.id) if e["message"].startswith("Checkpoint created")]
    assert [int(t.split()[4]) for t in texts] == [24, 12]
    assert done.status == "succeeded"


def test_a_recorded_gpt_3_5_job_takes_minutes_like_the_live_one(backend, tenant):
    from pathlib import Path

    live = Path(__file__).resolve().parents[2] / "fixtures" / "live" / "sarcastic.jsonl"
    f = upload(backend, tenant, live.read_bytes(), name="sarcastic.jsonl")
    job = backend.jobs.create(tenant, model="gpt-3.5-turbo-0613", training_file=f.id)
    done = run(backend, tenant, job.id, DAY)
    assert done.status == "succeeded" and done.trained_tokens == 5070  # the live job's figure
    events = all_events(backend, tenant, job.id)
    started = next(e["created_at"] for e in events if e["message"] == "Fine-tuning job started")
    last_step = max(e["created_at"] for e in events if e["type"] == "metrics")
    assert 160 <= last_step - started <= 180  # 100 steps at about 1.7 s (live: 367 s create to finish)
    assert 200 <= done.finished_at - done.created_at <= 400
