"""Azure answers against Microsoft's published OpenAPI (fixtures/azure/: subsets of Azure/azure-rest-api-specs).

Swagger 2.0 schemas are JSON Schema draft 4 with extensions; Swagger has no null, and Azure's generated clients
accept null for any property, so null values are dropped before validating. `date-time` is checked as ISO 8601.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from starlette.testclient import TestClient

from ftsim.api.testing.simulator import Simulator

SPECS = Path(__file__).resolve().parents[2] / "fixtures" / "azure"
ENDPOINT = "https://contoso.openai.azure.com"
ARM = ("/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.CognitiveServices/accounts/contoso/"
       "deployments")
ARM_VERSION = "?api-version=2024-10-01"
MODEL = "gpt-4.1-mini-2025-04-14"
pytestmark = [pytest.mark.sdk1, pytest.mark.sdk2]

_formats = jsonschema.FormatChecker(formats=())


@_formats.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if isinstance(value, str):
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@functools.cache
def _definitions(name: str) -> dict[str, Any]:
    return json.loads((SPECS / name).read_text(encoding="utf-8"))["definitions"]


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _errors(spec: str, definition: str, instance: Any) -> list[str]:
    schema = {"$ref": f"#/definitions/{definition}", "definitions": _definitions(spec)}
    validator = jsonschema.Draft4Validator(schema, format_checker=_formats)
    return sorted(f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                  for e in validator.iter_errors(_drop_nulls(instance)))


def arm_errors(definition: str, instance: Any) -> list[str]:
    return _errors("deployments.arm-2024-10-01.json", definition, instance)


def data_errors(definition: str, instance: Any) -> list[str]:
    return _errors("fine-tuning.data-plane-2025-04-01-preview.json", definition, instance)


def test_the_schemas_catch_a_wrong_shape() -> None:
    """The fixtures are live schemas, not empty ones: known-bad objects fail."""
    assert arm_errors("Deployment", {"sku": {"capacity": 1}}) == ["sku: 'name' is a required property"]
    assert arm_errors("Deployment", {"systemData": {"createdAt": 1793491200}})
    assert data_errors("FineTuningJobEvent", {"created_at": 1, "level": "loud", "message": "m", "type": "message"})
    assert data_errors("FineTuningJob", {"model": "m", "training_file": "f", "status": "unknown"})


def _tuned_model(sim: Simulator, key: str) -> tuple[Any, str]:
    client = sim.azure_client(endpoint=ENDPOINT, api_key=key)
    rows = "".join(json.dumps({"messages": [{"role": "user", "content": f"q {i}"},
                                            {"role": "assistant", "content": f"a {i}"}]}) + "\n" for i in range(12))
    training = client.files.create(file=("t.jsonl", io.BytesIO(rows.encode())), purpose="fine-tune").id
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=training,
                                         extra_body={"trainingType": "GlobalStandard"})
    sim.run_until_complete(job.id)
    return client, job.id


def test_deployment_answers_match_microsofts_schemas() -> None:
    with Simulator() as sim:
        client, job_id = _tuned_model(sim, "az-spec")
        model = client.fine_tuning.jobs.retrieve(job_id).fine_tuned_model
        body = {"sku": {"name": "GlobalStandard", "capacity": 1},
                "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}}}
        with TestClient(sim.app, base_url="https://management.azure.com", headers={"api-key": "az-spec"}) as arm:
            created = arm.put(f"{ARM}/spec{ARM_VERSION}", json=body)
            assert created.status_code == 201 and arm_errors("Deployment", created.json()) == []
            assert created.json()["properties"]["provisioningState"] == "Creating"
            sim.advance(hours=1)
            got = arm.get(f"{ARM}/spec{ARM_VERSION}").json()
            assert arm_errors("Deployment", got) == [] and got["properties"]["provisioningState"] == "Succeeded"
            created_at = dt.datetime.fromisoformat(got["systemData"]["createdAt"].replace("Z", "+00:00"))
            assert created_at.timestamp() == sim.backend.now() - 3600
            listed = arm.get(f"{ARM}{ARM_VERSION}").json()
            assert arm_errors("DeploymentListResult", listed) == [] and [d["name"] for d in listed["value"]] == ["spec"]
            refused = arm.put(f"{ARM}/bad{ARM_VERSION}", json={**body, "properties": {"model": {
                "format": "OpenAI", "name": "not-a-model", "version": "1"}}})
            assert refused.status_code == 400 and arm_errors("ErrorResponse", refused.json()) == []
            missing = arm.get(f"{ARM}/none{ARM_VERSION}")
            assert missing.status_code == 404 and arm_errors("ErrorResponse", missing.json()) == []
            assert arm.delete(f"{ARM}/spec{ARM_VERSION}").status_code in (200, 202, 204)


def test_fine_tuning_answers_match_microsofts_schemas_but_for_the_known_differences() -> None:
    """The jobs, events and checkpoints Azure's `AzureOpenAI` client reads validate against Microsoft's data-plane
    schema, except one known difference kept on purpose: hyperparameters `"auto"` until the job's files are
    validated (the schema has numbers only; a Microsoft example shows `n_epochs: -1`, and no source shows what live
    Azure answers). Statuses and event levels are Azure's (`pending`, `warning`), not OpenAI's."""
    with Simulator() as sim:
        client, job_id = _tuned_model(sim, "az-spec2")
        with TestClient(sim.app, base_url=ENDPOINT, headers={"api-key": "az-spec2"}) as http:
            version = "?api-version=2025-04-01-preview"
            job = http.get(f"/openai/fine_tuning/jobs/{job_id}{version}").json()
            assert job["status"] == "succeeded" and data_errors("FineTuningJob", job) == []
            jobs = http.get(f"/openai/fine_tuning/jobs{version}").json()
            assert data_errors("FineTuningJobList", jobs) == []
            events = http.get(f"/openai/fine_tuning/jobs/{job_id}/events{version}&limit=100").json()
            assert len(events["data"]) > 3 and data_errors("FineTuningJobEventList", events) == []
            checkpoints = http.get(f"/openai/fine_tuning/jobs/{job_id}/checkpoints{version}").json()
            assert checkpoints["data"] and data_errors("FineTuningJobCheckpointList", checkpoints) == []
            training = job["training_file"]
            fresh = http.post(f"/openai/fine_tuning/jobs{version}", json={"model": MODEL, "training_file": training})
            auto = [f"hyperparameters/{key}: 'auto' is not of type '{kind}'" for key, kind in (
                ("batch_size", "integer"), ("learning_rate_multiplier", "number"), ("n_epochs", "integer"))]
            assert fresh.json()["status"] == "pending" and data_errors("FineTuningJob", fresh.json()) == auto
            cancelled = http.post(f"/openai/fine_tuning/jobs/{fresh.json()['id']}/cancel{version}").json()
            assert data_errors("FineTuningJob", cancelled) == auto
            warned = http.get(f"/openai/fine_tuning/jobs/{cancelled['id']}/events{version}").json()
            assert warned["data"][0]["level"] == "warning" and data_errors("FineTuningJobEventList", warned) == []
