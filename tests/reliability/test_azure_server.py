"""`AzureOpenAI` against `ftsim serve` over loopback HTTP, through a kill -9 (issue 16: one world, kill -9 safe)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import httpx
import openai
import pytest

from tests.reliability.server_proc import ServerProcess

MODEL = "gpt-4.1-mini-2025-04-14"
HEX32 = "[0-9a-f]{32}"
pytestmark = [pytest.mark.sdk1, pytest.mark.sdk2]  # AzureOpenAI exists in openai 1.x and 2.x: run there too
ARM = ("/subscriptions/s1/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/contoso/deployments/"
       "bot?api-version=2024-10-21")


def _rows() -> bytes:
    return "".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                            {"role": "assistant", "content": f"a{i}"}]}) + "\n"
                   for i in range(12)).encode()


def _azure(server: ServerProcess) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(azure_endpoint=server.base, api_version="2025-04-01-preview", api_key="az-served",
                              max_retries=0)


def _advance(server: ServerProcess, seconds: int) -> None:
    assert httpx.post(server.base + "/_sim/clock/advance", json={"seconds": seconds}).status_code == 200


def test_azure_pipeline_against_ftsim_serve_survives_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "state" / "ftsim.db"
    server = ServerProcess(db).start()
    try:
        client = _azure(server)
        f = client.files.create(file=("t.jsonl", io.BytesIO(_rows())), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model=MODEL, training_file=f.id,
                                             extra_body={"trainingType": "GlobalStandard"})
        assert re.fullmatch("ftjob-" + HEX32, job.id)
    finally:
        server.kill()
    server = ServerProcess(db).start()
    try:
        client = _azure(server)
        for _ in range(100):
            _advance(server, 3600)
            done = client.fine_tuning.jobs.retrieve(job.id)
            if done.status == "succeeded":
                break
        assert done.status == "succeeded" and done.organization_id is None
        assert done.fine_tuned_model == f"{MODEL}.ft-{job.id.removeprefix('ftjob-')}"
        assert all(re.fullmatch("ftevent-" + HEX32, e.id) for e in client.fine_tuning.jobs.list_events(job.id).data)
        assert all(re.fullmatch("ftchkpt-" + HEX32, c.id)
                   for c in client.fine_tuning.jobs.checkpoints.list(job.id).data)
        body = {"sku": {"name": "GlobalStandard", "capacity": 1},
                "properties": {"model": {"format": "OpenAI", "name": done.fine_tuned_model, "version": "1"}}}
        put = httpx.put(server.base + ARM, json=body, headers={"Authorization": "Bearer az-served"})
        assert put.status_code == 201, put.text
        _advance(server, 600)
        reply = client.chat.completions.create(model="bot", messages=[{"role": "user", "content": "hello"}])
        assert reply.choices[0].message.content
        cost = httpx.get(server.base + "/_sim/azure/cost", headers={"api-key": "az-served"}).json()
        kinds = sorted(line["kind"] for line in cost["lines"])
        assert kinds == ["hosting", "inference", "training"]
        served = next(line for line in cost["lines"] if line["kind"] == "inference")
        assert served["id"] == "bot" and int(served["quantity"]) == reply.usage.total_tokens
        training = next(line for line in cost["lines"] if line["kind"] == "training")
        assert training["tier"] == "global"  # the training type survived the kill -9 with its job
    finally:
        server.kill()
    server = ServerProcess(db).start()
    try:  # the answered call's tokens were committed before its answer: a kill -9 keeps them on the bill
        again = httpx.get(server.base + "/_sim/azure/cost", headers={"api-key": "az-served"}).json()
        assert [ln for ln in again["lines"] if ln["kind"] != "hosting"] == \
            [ln for ln in cost["lines"] if ln["kind"] != "hosting"]
        assert httpx.delete(server.base + ARM, headers={"api-key": "az-served"}).status_code == 200
    finally:
        server.stop()
