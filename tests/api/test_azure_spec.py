"""Azure answers against Microsoft's published OpenAPI (fixtures/azure/: subsets of Azure/azure-rest-api-specs).

Swagger 2.0 schemas are JSON Schema draft 4 with extensions; Swagger has no null, and Azure's generated clients
accept null for any property, so null values are dropped before validating. `date-time` is checked as ISO 8601.
The chat schema is OpenAPI 3.0, whose `nullable: true` lets null through where it is set (and nowhere else).

Known differences, kept on purpose and asserted exactly (each where it is checked, with its reason):
- hyperparameters `"auto"` until a job's files are validated (the schema has numbers only);
- the gateway's answers (a missing or unknown key, a path or api-version Azure does not serve) carry the status as
  the code (`"401"`, `"404"`), as Microsoft's Q&A threads quote them, not one of the service's `ErrorCode`s.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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


def _nullable(schema: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` as JSON Schema: the schema, or null."""
    if isinstance(schema, list):
        return [_nullable(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _nullable(v) for k, v in schema.items() if k != "nullable"}
    return {"anyOf": [out, {"type": "null"}]} if schema.get("nullable") is True else out


def chat_errors(definition: str, instance: Any) -> list[str]:
    doc = json.loads((SPECS / "inference.2024-10-21.json").read_text(encoding="utf-8"))
    schema = {"$ref": f"#/components/schemas/{definition}", "components": _nullable(doc["components"])}
    validator = jsonschema.Draft4Validator(schema, format_checker=_formats)
    return sorted(f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                  for e in validator.iter_errors(instance))


def test_the_schemas_catch_a_wrong_shape() -> None:
    """The fixtures are live schemas, not empty ones: known-bad objects fail."""
    assert arm_errors("Deployment", {"sku": {"capacity": 1}}) == ["sku: 'name' is a required property"]
    assert arm_errors("Deployment", {"systemData": {"createdAt": 1793491200}})
    assert data_errors("FineTuningJobEvent", {"created_at": 1, "level": "loud", "message": "m", "type": "message"})
    assert data_errors("FineTuningJob", {"model": "m", "training_file": "f", "status": "unknown"})
    assert data_errors("File", {"filename": "f", "purpose": "fine-tune", "status": "done"})
    assert data_errors("UploadResource", {"object": "upload", "status": "in_progress"})
    assert data_errors("ErrorResponse", {"error": {"code": "404", "message": "m"}})
    assert data_errors("ErrorResponse", {"error": {"code": "notFound", "message": ""}})
    assert data_errors("ErrorResponse", {"error": {"code": "notFound", "message": "m"}}) == []
    message = {"role": "assistant", "content": None, "refusal": None}
    answer = {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
              "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}]}
    assert chat_errors("createChatCompletionResponse", answer) == []
    assert chat_errors("createChatCompletionResponse", {**answer, "choices": [{**answer["choices"][0],
                                                                                "finish_reason": "done"}]})
    assert chat_errors("createChatCompletionResponse", {**answer, "model": None})  # not nullable there
    assert chat_errors("createChatCompletionResponse", {**answer, "choices": [{"index": 0, "message": {
        "role": "assistant", "content": "x"}, "logprobs": None, "finish_reason": "stop"}]})  # refusal is required


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


VERSION = "?api-version=2025-04-01-preview"
def _rows(n: int = 12) -> bytes:
    return "".join(json.dumps({"messages": [{"role": "user", "content": f"q {i}"},
                                            {"role": "assistant", "content": f"a {i}"}]}) + "\n"
                   for i in range(n)).encode()


def _paths(form: str) -> tuple[str, str]:
    """(prefix, query) of the two path forms: `/openai/...?api-version=` (AzureOpenAI's) and `/openai/v1/...`."""
    return ("/openai", VERSION) if form == "versioned" else ("/openai/v1", "")


@pytest.mark.parametrize("form", ["versioned", "v1"])
def test_file_and_upload_answers_match_microsofts_schemas(form: str) -> None:
    """Files_Upload (201), Files_List, Files_Get, Files_GetContent, Files_Delete and UploadFile_Start / Part /
    Complete / Cancel answer Microsoft's shapes and statuses, on both path forms."""
    prefix, q = _paths(form)
    data = _rows()
    with Simulator() as sim, TestClient(sim.app, base_url=ENDPOINT, headers={"api-key": "az-files"}) as http:
        uploaded = http.post(f"{prefix}/files{q}", files={"file": ("t.jsonl", data)}, data={"purpose": "fine-tune"})
        assert uploaded.status_code == 201 and data_errors("File", uploaded.json()) == []
        file_id = uploaded.json()["id"]
        listed = http.get(f"{prefix}/files{q}")
        assert listed.status_code == 200 and data_errors("FileList", listed.json()) == []
        assert [f["id"] for f in listed.json()["data"]] == [file_id]
        got = http.get(f"{prefix}/files/{file_id}{q}")
        assert got.status_code == 200 and data_errors("File", got.json()) == [] and got.json()["status"] == "processed"
        content = http.get(f"{prefix}/files/{file_id}/content{q}")  # the schema's `file`: the bytes as uploaded
        assert content.status_code == 200 and content.content == data
        assert content.headers["content-type"].startswith("application/octet-stream")

        started = http.post(f"{prefix}/uploads{q}", json={"purpose": "fine-tune", "filename": "u.jsonl",
                                                         "bytes": len(data), "mime_type": "text/jsonl"})
        assert started.status_code == 200 and data_errors("UploadResource", started.json()) == []
        assert started.json()["status"] == "pending"
        part = http.post(f"{prefix}/uploads/{started.json()['id']}/parts{q}", files={"data": ("blob", data)})
        assert part.status_code == 200 and data_errors("UploadPartResource", part.json()) == []
        assert part.json()["object"] == "upload.part"
        done = http.post(f"{prefix}/uploads/{started.json()['id']}/complete{q}", json={"part_ids": [part.json()["id"]]})
        assert done.status_code == 200 and data_errors("UploadResource", done.json()) == []
        assert done.json()["status"] == "completed" and done.json()["file"]["bytes"] == len(data)
        other = http.post(f"{prefix}/uploads{q}", json={"purpose": "fine-tune", "filename": "v.jsonl", "bytes": 5,
                                                       "mime_type": "text/jsonl"}).json()
        cancelled = http.post(f"{prefix}/uploads/{other['id']}/cancel{q}")
        assert cancelled.status_code == 200 and data_errors("UploadResource", cancelled.json()) == []
        assert cancelled.json()["status"] == "cancelled"

        deleted = http.delete(f"{prefix}/files/{file_id}{q}")
        assert deleted.status_code == 200 and data_errors("FileDelete", deleted.json()) == []
        assert deleted.json()["deleted"] is True


def test_job_list_cancel_pause_resume_events_and_checkpoints_match_microsofts_schemas() -> None:
    """FineTuning_Create (201), _List (paged), _Pause, _Resume, _Cancel, _GetEvents and _GetCheckpoints (paged) on
    a job caught while running. Only known difference: `"auto"` hyperparameters before validation (see above)."""
    with Simulator() as sim, TestClient(sim.app, base_url=ENDPOINT, headers={"api-key": "az-jobs"}) as http:
        training = http.post(f"/openai/files{VERSION}", files={"file": ("t.jsonl", _rows())},
                             data={"purpose": "fine-tune"}).json()["id"]
        body = {"model": MODEL, "training_file": training, "trainingType": "GlobalStandard"}
        body["hyperparameters"] = {"n_epochs": 2, "batch_size": 1, "learning_rate_multiplier": 0.5}  # not "auto"
        first = http.post(f"/openai/fine_tuning/jobs{VERSION}", json=body)
        second = http.post(f"/openai/fine_tuning/jobs{VERSION}", json=body)
        assert first.status_code == second.status_code == 201
        assert data_errors("FineTuningJob", second.json()) == [] and second.json()["status"] == "pending"
        page = http.get(f"/openai/fine_tuning/jobs{VERSION}&limit=1")
        assert page.status_code == 200 and page.json()["has_more"] is True and len(page.json()["data"]) == 1
        rest = http.get(f"/openai/fine_tuning/jobs{VERSION}&limit=5&after={page.json()['data'][0]['id']}").json()
        assert [j["id"] for j in page.json()["data"] + rest["data"]] == [second.json()["id"], first.json()["id"]]
        job_id = second.json()["id"]
        for _ in range(40):
            sim.advance(seconds=15)
            if http.get(f"/openai/fine_tuning/jobs/{job_id}{VERSION}").json()["status"] == "running":
                break
        paused = http.post(f"/openai/fine_tuning/jobs/{job_id}/pause{VERSION}")
        assert paused.status_code == 200 and paused.json()["status"] == "paused"
        assert data_errors("FineTuningJob", paused.json()) == []
        resumed = http.post(f"/openai/fine_tuning/jobs/{job_id}/resume{VERSION}")
        assert resumed.status_code == 200 and resumed.json()["status"] in ("pending", "running")
        assert data_errors("FineTuningJob", resumed.json()) == []
        sim.advance(seconds=30)
        listed = http.get(f"/openai/fine_tuning/jobs{VERSION}").json()
        assert len(listed["data"]) == 2 and data_errors("FineTuningJobList", listed) == []
        cancelled = http.post(f"/openai/fine_tuning/jobs/{job_id}/cancel{VERSION}")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert data_errors("FineTuningJob", cancelled.json()) == []
        events = http.get(f"/openai/fine_tuning/jobs/{job_id}/events{VERSION}&limit=3").json()
        assert len(events["data"]) == 3 and events["has_more"] is True
        assert data_errors("FineTuningJobEventList", events) == []
        assert {e["level"] for e in http.get(f"/openai/fine_tuning/jobs/{job_id}/events{VERSION}&limit=100").json()[
            "data"]} <= {"info", "warning", "error"}
        checkpoints = http.get(f"/openai/fine_tuning/jobs/{job_id}/checkpoints{VERSION}&limit=1").json()
        assert len(checkpoints["data"]) == 1 and data_errors("FineTuningJobCheckpointList", checkpoints) == []


def _error_cases(http: TestClient, file_id: str, job_id: str) -> dict[str, Any]:
    """Bad input of every kind the pipeline can send, by name: the response."""
    v = VERSION
    return {
        "unknown file": http.get(f"/openai/files/file-{'0' * 32}{v}"),
        "unknown file content": http.get(f"/openai/files/file-{'0' * 32}/content{v}"),
        "delete unknown file": http.delete(f"/openai/files/file-{'0' * 32}{v}"),
        "bad purpose": http.post(f"/openai/files{v}", files={"file": ("t.jsonl", b"{}")}, data={"purpose": "nah"}),
        "no file": http.post(f"/openai/files{v}", data={"purpose": "fine-tune"}),
        "upload without bytes": http.post(f"/openai/uploads{v}", json={"purpose": "fine-tune", "filename": "u"}),
        "unknown upload part": http.post(f"/openai/uploads/upload_x/parts{v}", files={"data": ("b", b"x")}),
        "complete unknown upload": http.post(f"/openai/uploads/upload_x/complete{v}", json={"part_ids": []}),
        "unknown job": http.get(f"/openai/fine_tuning/jobs/ftjob-{'0' * 32}{v}"),
        "events of unknown job": http.get(f"/openai/fine_tuning/jobs/ftjob-{'0' * 32}/events{v}"),
        "job without training file": http.post(f"/openai/fine_tuning/jobs{v}", json={"model": MODEL}),
        "job on an unknown model": http.post(f"/openai/fine_tuning/jobs{v}", json={"model": "nope",
                                                                                  "training_file": file_id}),
        "job with a bad trainingType": http.post(f"/openai/fine_tuning/jobs{v}", json={
            "model": MODEL, "training_file": file_id, "trainingType": "Cheapest"}),
        "job with unparsable JSON": http.post(f"/openai/fine_tuning/jobs{v}", content=b"{",
                                              headers={"content-type": "application/json"}),
        "job with a bad limit": http.get(f"/openai/fine_tuning/jobs{v}&limit=-4"),
        "resume a finished job": http.post(f"/openai/fine_tuning/jobs/{job_id}/resume{v}"),
        "cancel a finished job": http.post(f"/openai/fine_tuning/jobs/{job_id}/cancel{v}"),
        "a method files do not take": http.put(f"/openai/files{v}"),
        "a method jobs do not take": http.delete("/openai/v1/fine_tuning/jobs"),
        "an unknown upload": http.get(f"/openai/uploads/upload_x{v}"),
    }


def test_data_plane_errors_match_microsofts_error_response() -> None:
    """Every 4xx of files, uploads and fine-tuning is Microsoft's ErrorResponse (a code of its ErrorCode list); the
    gateway's 401 and 404 are the known difference named in the module's note, asserted exactly."""
    with Simulator() as sim:
        client, job_id = _tuned_model(sim, "az-errors")
        file_id = client.fine_tuning.jobs.retrieve(job_id).training_file
        with TestClient(sim.app, base_url=ENDPOINT, headers={"api-key": "az-errors"}) as http:
            for name, response in _error_cases(http, file_id, job_id).items():
                assert 400 <= response.status_code < 500, (name, response.status_code, response.text)
                assert data_errors("ErrorResponse", response.json()) == [], (name, response.text)
                message = response.json()["error"]["message"]  # a path it names is the one the caller sent
                assert " /v1/" not in message and "(GET /v1" not in message, (name, response.text)
            sim.fault(kind="error", status=429, path="/v1/files*", api_key="az-errors", times=1)
            limited = http.get(f"/openai/files{VERSION}")
            assert limited.status_code == 429 and data_errors("ErrorResponse", limited.json()) == []
            assert limited.json()["error"]["code"] == "tooManyRequests"
            codes = _definitions("fine-tuning.data-plane-2025-04-01-preview.json")["ErrorCode"]["enum"]
            for status, response in ((401, http.get(f"/openai/files{VERSION}", headers={"api-key": ""})),
                                     (404, http.get(f"/openai/batches{VERSION}")),
                                     (404, http.get("/openai/files"))):  # no api-version
                assert response.status_code == status
                assert data_errors("ErrorResponse", response.json()) == [
                    f"error/code: '{status}' is not one of {codes!r}"]  # the gateway's code: a known difference


@settings(max_examples=200, deadline=None)
@given(status=st.sampled_from([400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 502, 503]),
       code=st.none() | st.text(max_size=30), message=st.none() | st.text(max_size=50),
       param=st.none() | st.text(max_size=20), wrapped=st.booleans())
def test_any_error_of_the_shared_services_becomes_microsofts_error_response(status, code, message, param,
                                                                           wrapped) -> None:
    """Whatever code and message a shared service's error carries (or a body without OpenAI's envelope), the
    data plane's answer is Microsoft's ErrorResponse; a chat call's keeps the service's code."""
    from ftsim.api.http.azure import _azure_error

    err = {"code": code, "message": message, "param": param, "type": "invalid_request_error"}
    body = {"error": err} if wrapped else {"detail": message}
    out = _azure_error(status, body, authoring=True)
    assert data_errors("ErrorResponse", out) == [], out
    if wrapped and param is not None:
        assert out["error"]["param"] == param
    chat = _azure_error(status, body)
    assert chat_errors("errorResponse", chat) == [] and chat["error"]["message"]
    assert chat["error"]["code"] == ((code or str(status)) if wrapped else str(status))


def test_azure_data_plane_errors_carry_the_schemas_codes_and_creates_answer_201() -> None:
    """Regression: the shared services' errors used to reach Azure callers with OpenAI's code or the status as a
    string (`"404"`, `"fine_tune_not_found"`, `"rate_limit_exceeded"`), which Microsoft's ErrorCode does not have;
    and a file upload or job create answered 200 where Microsoft's schema and REST reference answer 201."""
    with Simulator() as sim:
        client, job_id = _tuned_model(sim, "az-codes")
        file_id = client.fine_tuning.jobs.retrieve(job_id).training_file
        with TestClient(sim.app, base_url=ENDPOINT, headers={"api-key": "az-codes"}) as http:
            cases = _error_cases(http, file_id, job_id)
            assert cases["unknown file"].json()["error"]["code"] == "notFound"
            assert cases["unknown job"].json()["error"]["code"] == "notFound"
            assert cases["job without training file"].json()["error"] == {
                "code": "invalidPayload", "message": "Missing required parameter: 'training_file'.",
                "param": "training_file", "type": "invalid_request_error"}
            assert cases["cancel a finished job"].json()["error"]["code"] == "unexpectedEntityState"
            assert http.post(f"/openai/files{VERSION}", files={"file": ("t.jsonl", _rows())},
                             data={"purpose": "fine-tune"}).status_code == 201
            assert http.post(f"/openai/fine_tuning/jobs{VERSION}", json={
                "model": MODEL, "training_file": file_id}).status_code == 201
            # the SDK reads the code off the body, and still takes a 201 create as a success
            with pytest.raises(openai.NotFoundError) as err:
                client.files.retrieve("file-" + "0" * 32)
            assert err.value.code == "notFound"
            assert client.files.create(file=("t.jsonl", io.BytesIO(_rows())), purpose="fine-tune").id
        # the OpenAI surface is untouched: its codes and statuses stay OpenAI's
        openai_client = sim.client(api_key="az-codes")
        with pytest.raises(openai.NotFoundError) as err:
            openai_client.fine_tuning.jobs.retrieve("ftjob-nope")
        assert err.value.code == "fine_tune_not_found"


def test_chat_on_a_deployment_matches_microsofts_inference_schema() -> None:
    """ChatCompletions_Create on a deployment (both path forms, streamed or not) and its errors answer Microsoft's
    inference shapes (stable 2024-10-21; nullable where the schema says so, and nowhere else)."""
    with Simulator() as sim:
        client, job_id = _tuned_model(sim, "az-chat")
        model = client.fine_tuning.jobs.retrieve(job_id).fine_tuned_model
        body = {"sku": {"name": "GlobalStandard", "capacity": 1},
                "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}}}
        with TestClient(sim.app, base_url="https://management.azure.com", headers={"api-key": "az-chat"}) as arm:
            assert arm.put(f"{ARM}/chat{ARM_VERSION}", json=body).status_code == 201
        sim.advance(hours=1)
        ask = {"messages": [{"role": "user", "content": "q 1"}]}
        with TestClient(sim.app, base_url=ENDPOINT, headers={"api-key": "az-chat"}) as http:
            path = "/openai/deployments/chat/chat/completions?api-version=2024-10-21"
            for response in (http.post(path, json=ask), http.post("/openai/v1/chat/completions",
                                                                  json={**ask, "model": "chat"})):
                assert response.status_code == 200, response.text
                assert chat_errors("createChatCompletionResponse", response.json()) == []
                assert response.json()["model"] == model
            streamed = http.post(path, json={**ask, "stream": True, "stream_options": {"include_usage": True}})
            chunks = [json.loads(line[len("data: "):]) for line in streamed.text.split("\n\n")
                      if line.startswith("data: {")]
            assert len(chunks) > 2 and chunks[-1]["usage"]["total_tokens"] > 0
            for chunk in chunks:
                assert chat_errors("createChatCompletionStreamResponse", chunk) == [], chunk
            for status, response in ((400, http.post(path, json={"messages": []})),
                                     (400, http.post(path, content=b"{", headers={"content-type": "application/json"})),
                                     (404, http.post(path.replace("/chat/chat/", "/gone/chat/"), json=ask)),
                                     (404, http.post("/openai/v1/chat/completions", json={**ask, "model": "gone"}))):
                assert response.status_code == status, response.text
                assert chat_errors("errorResponse", response.json()) == [], response.text
                assert response.json()["error"]["code"] and response.json()["error"]["message"]


@functools.cache
def _deploy_world() -> tuple[Simulator, str]:
    """One account with a tuned model, shared by the property test below (training it per example is too slow)."""
    sim = Simulator()
    client, job_id = _tuned_model(sim, "az-put")
    return sim, client.fine_tuning.jobs.retrieve(job_id).fine_tuned_model


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False,
                                                                                          allow_infinity=False)
                     | st.text(max_size=12),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                  max_size=3), max_leaves=6)
_SKU_FIELDS = st.sampled_from(["capacity", "tier", "size", "family", "name"])
_PROPERTY_FIELDS = st.sampled_from(["scaleSettings", "capabilities", "raiPolicyName", "versionUpgradeOption",
                                    "rateLimits", "currentCapacity", "provisioningState", "callRateLimit",
                                    "capacitySettings", "parentDeploymentName", "x-extra"])
_MODEL_FIELDS = st.sampled_from(["format", "version", "source", "callRateLimit", "name"])


@settings(max_examples=120, deadline=None)
@given(sku=st.dictionaries(_SKU_FIELDS, _JSON | st.sampled_from(["Standard", "Premium", 1, 2, 0, True, "1"]),
                           max_size=3),
       props=st.dictionaries(_PROPERTY_FIELDS, _JSON | st.sampled_from(["NoAutoUpgrade", "Microsoft.Default", {}]),
                             max_size=3),
       model=st.dictionaries(_MODEL_FIELDS, _JSON | st.sampled_from(["OpenAI", "1"]), max_size=2))
def test_any_put_body_answers_a_400_or_a_deployment_of_microsofts_schema(sku, props, model) -> None:
    """Regression: a PUT body's extra fields were stored and echoed whatever their type (`sku.tier: "Ultra"`,
    `properties.scaleSettings: "x"`, `versionUpgradeOption: 3`), and `sku.capacity` took `true`, `"1"`, 0 or -5,
    so the answers (and every later GET and list) broke Microsoft's Deployment schema."""
    sim, tuned = _deploy_world()
    body = {"sku": {"name": "GlobalStandard", **sku},
            "properties": {**props, "model": {"format": "OpenAI", "name": tuned, **model}}}
    with TestClient(sim.app, base_url="https://management.azure.com", headers={"api-key": "az-put"}) as arm:
        put = arm.put(f"{ARM}/prop{ARM_VERSION}", json=body)
        if put.status_code >= 400:
            assert put.status_code == 400 and arm_errors("ErrorResponse", put.json()) == [], put.text
            return
        assert put.status_code in (200, 201) and arm_errors("Deployment", put.json()) == [], (body, put.text)
        capacity = put.json()["sku"].get("capacity")
        assert capacity is None or (type(capacity) is int and capacity >= 1)
        assert arm_errors("Deployment", arm.get(f"{ARM}/prop{ARM_VERSION}").json()) == []
        assert arm_errors("DeploymentListResult", arm.get(f"{ARM}{ARM_VERSION}").json()) == []


def test_put_refuses_a_capacity_that_is_not_a_positive_int32_and_a_format_that_is_not_openais() -> None:
    sim, tuned = _deploy_world()
    with TestClient(sim.app, base_url="https://management.azure.com", headers={"api-key": "az-put"}) as arm:
        for capacity in (True, "1", 0, -5, 1.5, 2**31):
            refused = arm.put(f"{ARM}/cap{ARM_VERSION}", json={"sku": {"name": "Standard", "capacity": capacity},
                                                                "properties": {"model": {"name": tuned}}})
            assert refused.status_code == 400, (capacity, refused.text)
            assert refused.json()["error"]["code"] == "InvalidRequestContent"
        other = arm.put(f"{ARM}/cap{ARM_VERSION}", json={"sku": {"name": "Standard", "capacity": 1}, "properties": {
            "model": {"name": tuned, "format": "Llama"}}})
        assert other.status_code == 400 and other.json()["error"]["code"] == "DeploymentModelNotSupported"
        assert arm.put(f"{ARM}/cap{ARM_VERSION}", json={"sku": {"name": "Standard", "capacity": 2**31 - 1},
                                                         "properties": {"model": {"name": tuned}}}).status_code == 201


@pytest.mark.parametrize("how", ["validation", "step"])
def test_failed_jobs_their_events_and_checkpoints_match_microsofts_schemas(how: str) -> None:
    """FineTuning_Get, _GetEvents and _GetCheckpoints of a failed job (at validation: too few examples; during
    training: an injected failure at step 2) answer Microsoft's shapes: status `failed`, an `error` of
    FineTuningJobError, events of Azure's levels with an `error` one (hyperparameters given, so the known `"auto"`
    difference does not arise)."""
    with Simulator() as sim, TestClient(sim.app, base_url=ENDPOINT, headers={"api-key": f"az-fail-{how}"}) as http:
        rows = _rows(3 if how == "validation" else 12)
        training = http.post(f"/openai/files{VERSION}", files={"file": ("t.jsonl", rows)},
                             data={"purpose": "fine-tune"}).json()["id"]
        body = {"model": MODEL, "training_file": training,
                "hyperparameters": {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 0.5}}
        job = http.post(f"/openai/fine_tuning/jobs{VERSION}", json=body).json()
        empty = http.get(f"/openai/fine_tuning/jobs/{job['id']}/checkpoints{VERSION}").json()
        assert empty["data"] == [] and data_errors("FineTuningJobCheckpointList", empty) == []
        if how == "step":
            sim.fault(kind="job", stage="step", step=2, job_id=job["id"], api_key=f"az-fail-{how}")
        sim.advance(hours=3)
        failed = http.get(f"/openai/fine_tuning/jobs/{job['id']}{VERSION}").json()
        assert failed["status"] == "failed" and failed["error"]["code"] and failed["error"]["message"]
        assert data_errors("FineTuningJob", failed) == []
        assert data_errors("FineTuningJobError", failed["error"]) == []
        events = http.get(f"/openai/fine_tuning/jobs/{job['id']}/events{VERSION}&limit=100").json()
        assert data_errors("FineTuningJobEventList", events) == []
        assert "error" in {e["level"] for e in events["data"]}
        checkpoints = http.get(f"/openai/fine_tuning/jobs/{job['id']}/checkpoints{VERSION}").json()
        assert data_errors("FineTuningJobCheckpointList", checkpoints) == []
        listed = http.get(f"/openai/fine_tuning/jobs{VERSION}").json()
        assert [j["status"] for j in listed["data"]] == ["failed"]
        assert data_errors("FineTuningJobList", listed) == []


def test_deployments_in_each_provisioning_state_match_microsofts_schema() -> None:
    """The states the simulator answers: `Creating` (new, or re-pointed at another model) and `Succeeded`, alone
    and listed together; a deleted or expired deployment is gone (ARM's delete is synchronous here: no
    `Deleting`)."""
    with Simulator() as sim:
        client, job_id = _tuned_model(sim, "az-states")
        model = client.fine_tuning.jobs.retrieve(job_id).fine_tuned_model
        other_job = client.fine_tuning.jobs.create(model=MODEL, training_file=client.fine_tuning.jobs.retrieve(
            job_id).training_file, suffix="two")
        sim.run_until_complete(other_job.id)
        other = client.fine_tuning.jobs.retrieve(other_job.id).fine_tuned_model

        def body(name: str, sku: str = "GlobalStandard") -> dict:
            return {"sku": {"name": sku, "capacity": 1}, "properties": {"model": {"format": "OpenAI", "name": name}}}

        with TestClient(sim.app, base_url="https://management.azure.com", headers={"api-key": "az-states"}) as arm:
            assert arm.put(f"{ARM}/old{ARM_VERSION}", json=body(model)).status_code == 201
            sim.advance(hours=1)
            assert arm.put(f"{ARM}/new{ARM_VERSION}", json=body(model, "DeveloperTier")).status_code == 201
            moved = arm.put(f"{ARM}/old{ARM_VERSION}", json=body(other))
            assert moved.status_code == 200 and arm_errors("Deployment", moved.json()) == []
            assert moved.json()["properties"]["provisioningState"] == "Creating"
            assert arm.put(f"{ARM}/ready{ARM_VERSION}", json=body(model)).status_code == 201
            sim.advance(minutes=20)
            assert arm.put(f"{ARM}/fresh{ARM_VERSION}", json=body(model, "Standard")).status_code == 201
            listed = arm.get(f"{ARM}{ARM_VERSION}").json()
            assert arm_errors("DeploymentListResult", listed) == []
            states = {d["name"]: d["properties"]["provisioningState"] for d in listed["value"]}
            assert states == {"old": "Succeeded", "new": "Succeeded", "ready": "Succeeded", "fresh": "Creating"}
            for name in states:
                got = arm.get(f"{ARM}/{name}{ARM_VERSION}")
                assert got.status_code == 200 and arm_errors("Deployment", got.json()) == []
            sim.advance(hours=24)  # the Developer deployment ends
            left = arm.get(f"{ARM}{ARM_VERSION}").json()
            assert sorted(d["name"] for d in left["value"]) == ["fresh", "old", "ready"]
            gone = arm.get(f"{ARM}/new{ARM_VERSION}")
            assert gone.status_code == 404 and arm_errors("ErrorResponse", gone.json()) == []
