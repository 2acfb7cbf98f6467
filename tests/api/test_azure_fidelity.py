"""Azure fidelity details settled by Microsoft's documentation: the v1 chat body's `model`, deployment names'
case, and the words of Azure-visible limits."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ftsim.api.testing.simulator import Simulator

ENDPOINT = "https://contoso.openai.azure.com"
HI = [{"role": "user", "content": "hi"}]

_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                     | st.text(max_size=5), lambda kids: st.lists(kids, max_size=3)
                     | st.dictionaries(st.text(max_size=5), kids, max_size=3), max_leaves=6)


@settings(max_examples=40, deadline=None)
@given(model=_JSON.filter(lambda v: not isinstance(v, str)))
def test_a_v1_chat_body_whose_model_is_not_a_string_is_a_400_not_a_missing_deployment(model) -> None:
    """Microsoft's v1 reference types `model` as the body's required string: a number, null, a list or an object
    there is a malformed body (400, Azure's envelope), not a deployment that does not exist (404)."""
    with Simulator() as sim, TestClient(sim.app, base_url=ENDPOINT, headers={"api-key": "az-m"}) as c:
        r = c.post("/openai/v1/chat/completions", content=json.dumps({"model": model, "messages": HI}),
                   headers={"content-type": "application/json"})
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["code"] != "DeploymentNotFound" and err["message"] and err.get("param") == "model"


def test_a_v1_chat_body_without_model_is_a_400_and_an_unknown_name_still_404() -> None:
    with Simulator() as sim, TestClient(sim.app, base_url=ENDPOINT, headers={"api-key": "az-m"}) as c:
        missing = c.post("/openai/v1/chat/completions", json={"messages": HI})
        assert missing.status_code == 400 and missing.json()["error"]["param"] == "model"
        unknown = c.post("/openai/v1/chat/completions", json={"model": "nope", "messages": HI})
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "DeploymentNotFound"


ARM = ("/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.CognitiveServices/accounts/contoso/"
       "deployments")
ARM_VERSION = "?api-version=2024-10-01"


def _tuned_model(sim: Simulator, key: str) -> str:
    """A tuned model of `key`'s Azure account (one job run to the end)."""
    client = sim.azure_client(endpoint=ENDPOINT, api_key=key)
    rows = b"".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                             {"role": "assistant", "content": f"a{i}"}]}).encode() + b"\n"
                    for i in range(12))
    training = client.files.create(file=("train.jsonl", rows), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="gpt-4.1-mini-2025-04-14", training_file=training.id)
    sim.run_until_complete(job.id)
    return client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model


def _deploy_body(model: str, sku: str = "Standard") -> dict:
    return {"sku": {"name": sku, "capacity": 1}, "properties": {"model": {"format": "OpenAI", "name": model}}}


def test_deployment_names_are_case_insensitive_on_both_planes_and_keep_their_first_case() -> None:
    """Microsoft's naming rules: ARM resource names are case-insensitive (none noted otherwise for deployments).
    `Support` and `SUPPORT` name one deployment: one hosting period, one usage line, reachable in any case."""
    with Simulator() as sim:
        model = _tuned_model(sim, "az-case")
        client = sim.azure_client(endpoint=ENDPOINT, api_key="az-case")
        with TestClient(sim.app, base_url="https://management.azure.com", headers={"api-key": "az-case"}) as arm:
            created = arm.put(f"{ARM}/Support{ARM_VERSION}", json=_deploy_body(model))
            assert created.status_code == 201, created.text
            again = arm.put(f"{ARM}/SUPPORT{ARM_VERSION}", json=_deploy_body(model))
            assert again.status_code == 200, again.text  # an update of the same deployment, not a second one
            assert again.json()["name"] == "Support" and again.json()["id"] == f"{ARM}/Support"
            assert [d["name"] for d in arm.get(ARM + ARM_VERSION).json()["value"]] == ["Support"]
            assert arm.get(f"{ARM}/support{ARM_VERSION}").json()["name"] == "Support"
            sim.advance(minutes=10)
            for name in ("support", "SUPPORT", "Support"):
                assert client.chat.completions.create(model=name, messages=HI).choices[0].message.content
        cost = sim.azure_cost("az-case")
        assert [ln.kind for ln in cost.lines].count("hosting") == 1
        with TestClient(sim.app, base_url="https://management.azure.com", headers={"api-key": "az-case"}) as arm:
            assert arm.delete(f"{ARM}/sUpPoRt{ARM_VERSION}").status_code == 200
            assert arm.get(f"{ARM}/Support{ARM_VERSION}").status_code == 404
            assert arm.get(ARM + ARM_VERSION).json()["value"] == []


def test_the_simultaneous_job_limit_speaks_of_a_resource_on_azure_and_an_organization_on_openai() -> None:
    """Microsoft's quotas page counts simultaneous training jobs per resource; OpenAI's message keeps its
    organization. Same limit, same 429, only the word differs."""
    rows = b"".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                             {"role": "assistant", "content": f"a{i}"}]}).encode() + b"\n"
                    for i in range(12))
    with Simulator(max_concurrent_jobs=1) as sim:
        with TestClient(sim.app, base_url=ENDPOINT, headers={"api-key": "az-lim"}) as az:
            f = az.post("/openai/v1/files", files={"file": ("t.jsonl", rows)}, data={"purpose": "fine-tune"})
            body = {"model": "gpt-4.1-mini-2025-04-14", "training_file": f.json()["id"]}
            assert az.post("/openai/v1/fine_tuning/jobs", json=body).status_code == 201
            limited = az.post("/openai/v1/fine_tuning/jobs", json=body)
            assert limited.status_code == 429 and limited.json()["error"]["code"] == "tooManyRequests"
            assert "per resource" in limited.json()["error"]["message"]
            assert "organization" not in limited.json()["error"]["message"]
        with TestClient(sim.app, headers={"Authorization": "Bearer sk-lim"}) as oa:
            f = oa.post("/v1/files", files={"file": ("t.jsonl", rows)}, data={"purpose": "fine-tune"})
            body = {"model": "gpt-4.1-mini-2025-04-14", "training_file": f.json()["id"]}
            assert oa.post("/v1/fine_tuning/jobs", json=body).status_code == 200
            limited = oa.post("/v1/fine_tuning/jobs", json=body)
            assert limited.status_code == 429 and "per organization" in limited.json()["error"]["message"]


def test_actions_from_the_wrong_state_answer_unexpected_entity_state_and_bad_data_stays_invalid_payload() -> None:
    """Microsoft's ErrorCode: `unexpectedEntityState` is "the operation cannot be executed in the current resource's
    state", `invalidPayload` "the request data is invalid": pausing a pending job, resuming one that is not paused
    and cancelling a finished one are the first; a body missing its training file the second."""
    rows = b"".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                             {"role": "assistant", "content": f"a{i}"}]}).encode() + b"\n"
                    for i in range(12))
    with Simulator() as sim:
        with TestClient(sim.app, base_url=ENDPOINT, headers={"api-key": "az-state"}) as az:
            f = az.post("/openai/v1/files", files={"file": ("t.jsonl", rows)}, data={"purpose": "fine-tune"})
            job = az.post("/openai/v1/fine_tuning/jobs", json={"model": "gpt-4.1-mini-2025-04-14",
                                                                "training_file": f.json()["id"]}).json()
            assert job["status"] == "pending"
            for action in ("pause", "resume"):
                r = az.post(f"/openai/v1/fine_tuning/jobs/{job['id']}/{action}")
                assert r.status_code == 400 and r.json()["error"]["code"] == "unexpectedEntityState", r.text
                # the status named as Azure shows it (the job answers `pending`, never `validating_files`)
                assert r.json()["error"]["message"].endswith("because its status is pending."), r.text
            sim.run_until_complete(job["id"])
            r = az.post(f"/openai/fine_tuning/jobs/{job['id']}/cancel?api-version=2025-04-01-preview")
            assert r.status_code == 400 and r.json()["error"]["code"] == "unexpectedEntityState", r.text
            bad = az.post("/openai/v1/fine_tuning/jobs", json={"model": "gpt-4.1-mini-2025-04-14"})
            assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalidPayload"
        with TestClient(sim.app, headers={"Authorization": "Bearer sk-state"}) as oa:  # OpenAI's body unchanged
            f = oa.post("/v1/files", files={"file": ("t.jsonl", rows)}, data={"purpose": "fine-tune"})
            job = oa.post("/v1/fine_tuning/jobs", json={"model": "gpt-4.1-mini-2025-04-14",
                                                       "training_file": f.json()["id"]}).json()
            r = oa.post(f"/v1/fine_tuning/jobs/{job['id']}/resume")
            assert r.status_code == 400 and r.json()["error"]["code"] is None


def test_a_deployment_stored_under_its_mixed_case_name_by_an_older_version_is_still_found_and_ended() -> None:
    """Stores written before names were case-insensitive keyed a deployment by its name as written: it must still
    be listed, served and deleted (else its hosting would run on, out of reach)."""
    with Simulator() as sim:
        model = _tuned_model(sim, "az-old")
        with TestClient(sim.app, base_url="https://management.azure.com", headers={"api-key": "az-old"}) as arm:
            assert arm.put(f"{ARM}/Legacy{ARM_VERSION}", json=_deploy_body(model)).status_code == 201
            from ftsim.simulator.core.tenancy import azure_tenant

            tenant = azure_tenant(sim.backend.tenancy, "az-old")
            store = sim.backend.store
            with store.transaction():  # as an older version stored it: keyed by the name as written
                rec = store.get("azure_deployment", tenant.key, "legacy")
                store.delete("azure_deployment", tenant.key, "legacy")
                store.put("azure_deployment", tenant.key, "Legacy", rec)
            assert [d["name"] for d in arm.get(ARM + ARM_VERSION).json()["value"]] == ["Legacy"]
            assert arm.get(f"{ARM}/LEGACY{ARM_VERSION}").status_code == 200
            assert arm.delete(f"{ARM}/legacy{ARM_VERSION}").status_code == 200
            assert arm.get(ARM + ARM_VERSION).json()["value"] == []
        hosting = [ln for ln in sim.azure_cost("az-old").lines if ln.kind == "hosting"]
        assert len(hosting) == 1
