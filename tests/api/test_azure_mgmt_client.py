"""Microsoft's own management client (`azure-mgmt-cognitiveservices`) deploys a tuned model on `ftsim serve`.

It is pointed at ftsim with `base_url=` and a fake `TokenCredential` whose token is the account's key (ftsim takes
an Entra bearer token as an opaque key, so one key serves both planes). azure-core refuses to send a bearer token
over plain HTTP unless each call passes `enforce_https=False`; the test server listens on loopback HTTP.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.reliability.server_proc import ServerProcess

mgmt = pytest.importorskip("azure.mgmt.cognitiveservices",
                           reason="azure-mgmt-cognitiveservices is not installed (it is in the [dev] extra)")
models = pytest.importorskip("azure.mgmt.cognitiveservices.models")
credentials = pytest.importorskip("azure.core.credentials")
pytestmark = [pytest.mark.sdk1, pytest.mark.sdk2]
KEY = "az-mgmt-client"
MODEL = "gpt-4.1-mini-2025-04-14"


class _KeyCredential:
    """A TokenCredential handing out the account's key as its bearer token."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        return credentials.AccessToken(KEY, int(time.time()) + 3600)


def _advance(server: ServerProcess, seconds: int) -> None:
    assert httpx.post(server.base + "/_sim/clock/advance", json={"seconds": seconds}).status_code == 200


def test_azure_mgmt_cognitiveservices_deploys_calls_and_deletes(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "ftsim.db").start()
    try:
        client = openai.AzureOpenAI(azure_endpoint=server.base, api_version="2025-04-01-preview", api_key=KEY,
                                    max_retries=0)
        rows = "".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                                {"role": "assistant", "content": f"a{i}"}]}) + "\n"
                       for i in range(12)).encode()
        training = client.files.create(file=("t.jsonl", io.BytesIO(rows)), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model=MODEL, training_file=training.id,
                                             extra_body={"trainingType": "GlobalStandard"})
        for _ in range(50):
            _advance(server, 3600)
            if client.fine_tuning.jobs.retrieve(job.id).status == "succeeded":
                break
        tuned = client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model
        assert tuned is not None

        arm = mgmt.CognitiveServicesManagementClient(_KeyCredential(), "sub-1", base_url=server.base,
                                                     credential_scopes=["https://management.azure.com/.default"])
        deployment = models.Deployment(sku=models.Sku(name="GlobalStandard", capacity=1),
                                       properties=models.DeploymentProperties(model=models.DeploymentModel(
                                           format="OpenAI", name=tuned, version="1")))
        poller = arm.deployments.begin_create_or_update("rg-1", "contoso", "bot", deployment, polling_interval=0,
                                                        enforce_https=False)
        assert poller.status() == "Creating"  # provisioning runs on the simulated clock
        _advance(server, 15 * 60)
        done = poller.result()
        assert done.name == "bot" and done.properties.provisioning_state == "Succeeded"
        assert done.properties.model.name == tuned and done.sku.name == "GlobalStandard"
        assert done.system_data.created_at is not None  # a date-time the client parses
        assert [d.name for d in arm.deployments.list("rg-1", "contoso", enforce_https=False)] == ["bot"]
        assert arm.deployments.get("rg-1", "contoso", "bot", enforce_https=False).properties.model.name == tuned

        answer = client.chat.completions.create(model="bot", messages=[{"role": "user", "content": "hello"}])
        assert answer.choices[0].message.content
        cost = httpx.get(server.base + "/_sim/azure/cost", headers={"api-key": KEY}).json()
        assert {(line["kind"], line["id"]) for line in cost["lines"]} >= {("hosting", "bot"), ("inference", "bot")}

        arm.deployments.begin_delete("rg-1", "contoso", "bot", polling_interval=0, enforce_https=False).result()
        assert list(arm.deployments.list("rg-1", "contoso", enforce_https=False)) == []
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="bot", messages=[{"role": "user", "content": "hello"}])
    finally:
        server.stop()
