"""Fault rules scoped to a key (issue 16): a rule's `api_key` names that key's Azure account as well as its OpenAI
organization, so an Azure pipeline can be faulted without touching another account sharing the server."""

from __future__ import annotations

import io
import json

import openai
import pytest

from ftsim.api.testing.simulator import Simulator

ENDPOINT = "https://contoso.openai.azure.com"
MODEL = "gpt-4.1-mini-2025-04-14"
pytestmark = [pytest.mark.sdk1, pytest.mark.sdk2]  # AzureOpenAI exists in openai 1.x and 2.x: run there too


def _file(client: openai.AzureOpenAI) -> str:
    rows = "".join(json.dumps({"messages": [{"role": "user", "content": f"q {i}"},
                                            {"role": "assistant", "content": f"a {i}"}]}) + "\n" for i in range(12))
    return client.files.create(file=("t.jsonl", io.BytesIO(rows.encode())), purpose="fine-tune").id


def test_request_fault_scoped_to_a_key_hits_its_azure_account_only() -> None:
    with Simulator() as sim:
        mine = sim.azure_client(endpoint=ENDPOINT, api_key="az-faulted", max_retries=0)
        other = sim.azure_client(endpoint=ENDPOINT, api_key="az-spared", max_retries=0)
        sim.fault(kind="error", status=503, path="/v1/files*", api_key="az-faulted", times=1)
        other_file = _file(other)  # another account: not faulted, and the rule is not consumed
        assert other_file.startswith("file-")
        with pytest.raises(openai.InternalServerError) as err:
            _file(mine)
        assert err.value.status_code == 503
        assert _file(mine).startswith("file-")  # fired once
        assert [f.hits for f in sim.faults.list(api_key="az-faulted")] == [1]
        assert sim.faults.list(api_key="az-spared") == []


def test_job_fault_scoped_to_a_key_fails_its_azure_accounts_job_only() -> None:
    with Simulator() as sim:
        mine = sim.azure_client(endpoint=ENDPOINT, api_key="az-jobfault")
        other = sim.azure_client(endpoint=ENDPOINT, api_key="az-jobok")
        sim.fault(kind="job", stage="step", step=2, api_key="az-jobfault", code="server_error", message="boom")
        spared = other.fine_tuning.jobs.create(model=MODEL, training_file=_file(other))
        faulted = mine.fine_tuning.jobs.create(model=MODEL, training_file=_file(mine))
        sim.run_until_complete(spared.id)
        sim.run_until_complete(faulted.id)
        assert other.fine_tuning.jobs.retrieve(spared.id).status == "succeeded"
        done = mine.fine_tuning.jobs.retrieve(faulted.id)
        assert done.status == "failed" and done.error.message == "boom"


def test_keys_file_maps_several_keys_to_one_azure_account_for_both_planes_and_faults(tmp_path) -> None:
    """The README's keys file: two keys and an Entra token reach one account; a fault scoped to one key hits it."""
    from ftsim.simulator.core.tenancy import load_keys

    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"az-key-1": {"org_id": "azure-contoso"}, "az-key-2": {"org_id": "azure-contoso"},
                                "entra-token": {"org_id": "azure-contoso"}}))
    with Simulator(keys=load_keys(path)) as sim:
        one = sim.azure_client(endpoint=ENDPOINT, api_key="az-key-1", max_retries=0)
        two = sim.azure_client(endpoint=ENDPOINT, api_key="az-key-2", max_retries=0)
        entra = sim.azure_client(endpoint=ENDPOINT, azure_ad_token="entra-token", max_retries=0)
        file_id = _file(one)
        assert two.files.retrieve(file_id).id == file_id and entra.files.retrieve(file_id).id == file_id
        sim.fault(kind="error", status=503, path="/v1/files*", api_key="az-key-1", times=1)
        with pytest.raises(openai.InternalServerError):
            two.files.list()  # the rule names the account, whichever of its keys calls
