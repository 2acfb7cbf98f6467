"""Tenant isolation on the Azure routes (issue 16), in the style of test_security.py: another Azure account's ids
(files, jobs, tuned models, checkpoints, deployments), and fuzzed ids, answer exactly like nonexistent ones, in
Azure's envelope, on the data plane (versioned and v1 paths), the deployments' inference and the management plane.
The OpenAI organization of the same key string is another tenant too."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ftsim.api.http.app import create_app
from ftsim.simulator.core.backend import Backend
from ftsim.simulator.core.clock import ManualClock
from ftsim.simulator.core.store import Store

ALICE = {"api-key": "az-alice-secret"}
BOB = {"api-key": "az-bob-secret"}
ALICE_AS_OPENAI = {"Authorization": "Bearer az-alice-secret"}  # the same string on the OpenAI surface: another tenant
V = "?api-version=2025-04-01-preview"
ARM = "/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/a/deployments"
ARM_V = "?api-version=2024-10-21"
SENTINEL = "zzNOSUCHOBJECTzz"
FAST = settings(max_examples=int(os.environ.get("FTSIM_FUZZ_EXAMPLES", "25")), derandomize=True, deadline=None,
                database=None, suppress_health_check=list(HealthCheck))
CHAT = {"messages": [{"role": "user", "content": "hi"}]}


def training(n: int = 12) -> bytes:
    line = '{"messages":[{"role":"user","content":"secret question %d"},{"role":"assistant","content":"secret %d"}]}\n'
    return "".join(line % (i, i) for i in range(n)).encode()


class AzureWorld:
    """Alice's Azure account: a file, a succeeded job, its tuned model and checkpoints, and a live deployment."""

    def __init__(self, root: Path) -> None:
        self.backend = Backend(store=Store(root / "ftsim.db"), clock=ManualClock())
        self.client = c = TestClient(create_app(self.backend))
        self.file_id = c.post(f"/openai/files{V}", headers=ALICE, files={"file": ("t.jsonl", training())},
                              data={"purpose": "fine-tune"}).json()["id"]
        job = c.post(f"/openai/fine_tuning/jobs{V}", headers=ALICE,
                     json={"model": "gpt-4.1-mini-2025-04-14", "training_file": self.file_id,
                           "trainingType": "GlobalStandard"}).json()
        self.job_id = job["id"]
        c.post("/_sim/clock/advance", json={"seconds": 86400})
        job = c.get(f"/openai/fine_tuning/jobs/{self.job_id}{V}", headers=ALICE).json()
        assert job["status"] == "succeeded", job
        self.model = job["fine_tuned_model"]
        ckpts = c.get(f"/openai/fine_tuning/jobs/{self.job_id}/checkpoints{V}", headers=ALICE).json()["data"]
        self.checkpoint = ckpts[-1]["fine_tuned_model_checkpoint"]
        self.deployment = "alice-prod"
        put = c.put(f"{ARM}/{self.deployment}{ARM_V}", headers=ALICE, json=deploy_body(self.model))
        assert put.status_code == 201, put.text
        c.post("/_sim/clock/advance", json={"seconds": 3600})


def deploy_body(model: str) -> dict:
    return {"sku": {"name": "GlobalStandard", "capacity": 1},
            "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}}}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> AzureWorld:
    w = AzureWorld(tmp_path_factory.mktemp("azure-security"))
    yield w
    w.client.close()
    w.backend.close()


ID_ROUTES = {
    "file": [("GET", "/openai/files/{id}" + V, None), ("GET", "/openai/v1/files/{id}/content", None),
             ("DELETE", "/openai/files/{id}" + V, None)],
    "job": [("GET", "/openai/fine_tuning/jobs/{id}" + V, None), ("GET", "/openai/v1/fine_tuning/jobs/{id}/events", None),
            ("GET", "/openai/fine_tuning/jobs/{id}/checkpoints" + V, None),
            ("POST", "/openai/fine_tuning/jobs/{id}/cancel" + V, None),
            ("POST", "/openai/v1/fine_tuning/jobs/{id}/pause", None),
            ("POST", "/openai/fine_tuning/jobs/{id}/resume" + V, None)],
    "model": [("PUT", ARM + "/bobs{id}" + ARM_V, "deploy")],  # deploying another account's tuned model
    "checkpoint": [("PUT", ARM + "/bobs{id}" + ARM_V, "deploy")],
    "deployment": [("POST", "/openai/deployments/{id}/chat/completions" + V, CHAT),
                   ("POST", "/openai/v1/chat/completions", {**CHAT, "model": "{id}"}),
                   ("GET", ARM + "/{id}" + ARM_V, None)],
    "training_file": [("POST", "/openai/fine_tuning/jobs" + V,
                       {"model": "gpt-4.1-mini-2025-04-14", "training_file": "{id}"})],
}


def call(client: TestClient, method: str, path: str, body, object_id: str, headers: dict) -> httpx.Response:
    """One request with `object_id` in the path (percent-encoded) or the JSON body."""
    url = path.replace("/bobs{id}", "/bobs").replace("{id}", quote(object_id, safe=""))
    if body == "deploy":
        body = deploy_body("{id}")
        body["properties"]["model"]["name"] = object_id
        return client.request(method, url, headers=headers, json=body)
    json_body = None if body is None else {k: (object_id if v == "{id}" else v) for k, v in body.items()}
    return client.request(method, url, headers=headers, json=json_body)


def shape(response: httpx.Response, object_id: str) -> tuple:
    """What a caller can observe, with the id abstracted away; the answer is in Azure's envelope, never a 5xx."""
    assert response.status_code < 500, response.text[:300]
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    err = body["error"]
    return (response.status_code, err.get("code"), err.get("param"), err.get("type"),
            err["message"].replace(object_id, "<ID>"))


@pytest.mark.parametrize("kind", list(ID_ROUTES))
def test_another_accounts_object_looks_exactly_like_a_missing_one(world: AzureWorld, kind: str) -> None:
    own = {"file": world.file_id, "job": world.job_id, "model": world.model, "checkpoint": world.checkpoint,
           "deployment": world.deployment, "training_file": world.file_id}[kind]
    for route in ID_ROUTES[kind]:
        missing = shape(call(world.client, *route, SENTINEL, BOB), SENTINEL)
        assert missing[0] in (400, 404), (route, missing)
        assert shape(call(world.client, *route, own, BOB), own) == missing, route
    c = world.client
    assert c.get(f"/openai/files/{world.file_id}{V}", headers=ALICE).status_code == 200
    assert c.get(f"{ARM}/{world.deployment}{ARM_V}", headers=ALICE).status_code == 200
    assert c.post(f"/openai/deployments/{world.deployment}/chat/completions{V}", headers=ALICE,
                  json=CHAT).status_code == 200


def test_the_openai_org_of_the_same_key_sees_nothing_of_the_azure_account(world: AzureWorld) -> None:
    c = world.client
    for path in (f"/v1/files/{world.file_id}", f"/v1/fine_tuning/jobs/{world.job_id}", f"/v1/models/{world.model}"):
        assert c.get(path, headers=ALICE_AS_OPENAI).status_code == 404, path
    assert c.get("/v1/fine_tuning/jobs", headers=ALICE_AS_OPENAI).json()["data"] == []


def test_lists_and_cost_never_show_another_accounts_objects(world: AzureWorld) -> None:
    c = world.client
    version = {"api-version": V.split("=")[1]}  # httpx's params replace the URL's query
    for path, after in (("/openai/files", world.file_id), ("/openai/fine_tuning/jobs", world.job_id)):
        assert c.get(path, headers=BOB, params={**version, "after": after}).json()["data"] == \
            c.get(path, headers=BOB, params={**version, "after": SENTINEL}).json()["data"]
        assert c.get(path, headers=BOB, params=version).json()["data"] == []
        assert c.get(path, headers=ALICE, params=version).json()["data"]
    assert c.get(f"{ARM}{ARM_V}", headers=BOB).json()["value"] == []
    assert c.get("/_sim/azure/cost", headers=BOB).json()["lines"] == []
    assert c.get("/_sim/azure/cost", headers=ALICE).json()["lines"]


FUZZ_ID = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"), min_size=1,
                  max_size=40).filter(lambda s: s.strip(".") != "" and s == s.strip())


@FAST
@given(object_id=FUZZ_ID, kind=st.sampled_from(list(ID_ROUTES)))
def test_fuzzed_ids_answer_like_a_missing_object(world: AzureWorld, object_id: str, kind: str) -> None:
    """Random ids never crash an Azure route and read exactly like any other missing object."""
    for route in ID_ROUTES[kind]:
        template = shape(call(world.client, *route, SENTINEL, BOB), SENTINEL)
        response = call(world.client, *route, object_id, BOB)
        shape(response, object_id)  # Azure's envelope, never a 5xx
        err = response.json()["error"]
        got = (response.status_code, err.get("code"), err.get("param"), err.get("type"), err["message"])
        # the id put back where the template has it (abstracting the fuzzed id away instead would also rewrite
        # any text it happens to occur in: an id "P" in "API")
        assert got == (*template[:4], template[4].replace("<ID>", object_id)), (route, got, template)
