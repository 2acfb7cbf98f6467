"""The official OpenAI Node SDK (npm `openai`, the exact version tests/node/package-lock.json pins), unmodified,
against a real `ftsim serve`: tests/node/sdk_flow.mjs drives the OpenAI and Azure clients and prints what it saw as
JSON; each test here asserts on one part of it, so a failure names the step that broke.

Skipped only when `node` or the installed SDK (`make install` runs `npm ci` in tests/node/) is absent. Runs in the
main environment only (no sdk1/sdk2 mark): the Python SDK's version does not matter here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.server_proc import ServerProcess

HERE = Path(__file__).resolve().parent
NODE = shutil.which("node")
INSTALLED = HERE / "node_modules" / "openai" / "package.json"
MODEL = "gpt-4.1-mini-2025-04-14"
KEY = "sk-node"
ADMIN_KEY = "sk-admin-node"  # ftsim does not tell admin keys apart (any key of the organization may manage permissions)
AZURE_KEY = "az-node"
SIM_KEY = "sim-node-secret"
HEX32 = "[0-9a-f]{32}"
REQUEST_ID = re.compile(r"req_[0-9a-f]{32}")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(NODE is None, reason="node is not on PATH: the Node SDK test needs Node.js 20 or newer"),
    pytest.mark.skipif(not INSTALLED.exists(), reason="the OpenAI Node SDK is not installed in tests/node/"
                       "node_modules: `make install` installs it with npm (skipped when npm is absent)"),
]


def _training_rows() -> str:
    """Rows that teach "question N" -> "answer N" (what the tuned model then answers)."""
    return "".join(json.dumps({"messages": [{"role": "user", "content": f"question {i}"},
                                            {"role": "assistant", "content": f"answer {i}"}]}) + "\n"
                   for i in range(20))


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Serve a fresh world (manual clock, strict keys, a sim key), run sdk_flow.mjs against it, return its JSON."""
    where = tmp_path_factory.mktemp("node-sdk")
    keys = where / "keys.json"
    keys.write_text(json.dumps({
        KEY: {"org_id": "org-node", "org_slug": "nodeco", "project_id": "proj_node"},
        ADMIN_KEY: {"org_id": "org-node", "org_slug": "nodeco", "project_id": "proj_node"},
        AZURE_KEY: {"org_id": "azure-node", "org_slug": "azure", "project_id": "proj_azure"},
    }))
    train = where / "train.jsonl"
    train.write_text(_training_rows())
    server = ServerProcess(where / "db" / "ftsim.db", speed=0.0, sim_key=SIM_KEY,
                           extra=["--keys", str(keys), "--strict-keys"]).start()
    # A clean environment: the SDK reads OPENAI_ORG_ID, OPENAI_BASE_URL, AZURE_OPENAI_* and the like from it.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(where), "FTSIM_BASE": server.base, "FTSIM_KEY": KEY,
           "FTSIM_ADMIN_KEY": ADMIN_KEY, "FTSIM_SIM_KEY": SIM_KEY, "FTSIM_AZURE_KEY": AZURE_KEY,
           "FTSIM_TRAIN": str(train)}
    try:
        # the timeout bounds a hung run (it is no assertion about speed)
        done = subprocess.run([NODE or "node", str(HERE / "sdk_flow.mjs")], cwd=HERE, env=env, capture_output=True,
                              text=True, timeout=600)
    finally:
        server.stop()
    assert done.returncode == 0, f"sdk_flow.mjs exited {done.returncode}:\n{done.stderr[-4000:]}"
    try:
        out = json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"sdk_flow.mjs printed no JSON:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return out


def step(flow: dict[str, Any], name: str) -> dict[str, Any]:
    """One step's result; a step that threw fails here with what it raised."""
    result = flow["steps"].get(name)
    assert result is not None, f"step {name} did not run"
    assert "step_failed" not in result, f"step {name} failed: {json.dumps(result['step_failed'], indent=1)}"
    return result


def raised(outcome: dict[str, Any], cls: str, status: int, code: str | None, param: str | None = None) -> None:
    """An SDK call failed with this error class, status, code and param, and carried the request id."""
    assert outcome["raised"], f"the call succeeded where {cls} ({status}) was expected"
    assert (outcome["class"], outcome["status"], outcome["code"]) == (cls, status, code), outcome
    assert outcome["param"] == param, outcome
    assert REQUEST_ID.fullmatch(outcome["request_id"] or ""), outcome


def test_the_installed_sdk_is_the_pinned_one(flow: dict[str, Any]) -> None:
    pinned = json.loads((HERE / "package.json").read_text())["dependencies"]["openai"]
    locked = json.loads((HERE / "package-lock.json").read_text())["packages"]["node_modules/openai"]["version"]
    assert flow["sdk"]["version"] == pinned == locked


def test_files_upload_from_a_stream_and_from_to_file(flow: dict[str, Any]) -> None:
    rows = _training_rows().encode()
    first = step(flow, "upload_stream")
    assert first["object"] == "file" and first["purpose"] == "fine-tune" and first["status"] == "processed"
    assert first["filename"] == "train.jsonl" and first["bytes"] == len(rows)  # the stream's basename
    assert REQUEST_ID.fullmatch(first["request_id"] or "")
    second = step(flow, "upload_to_file")
    assert second["filename"] == "second.jsonl" and second["bytes"] == len(rows) and second["same_bytes"]
    assert second["expires_in"] == 7200  # expires_after[...] form fields, as the Node SDK encodes a nested object
    assert second["listed"] == [second["id"], first["id"]]  # newest first, one per page, each once


def test_jobs_create_list_retrieve_and_run_to_succeeded(flow: dict[str, Any]) -> None:
    created = step(flow, "create_jobs")
    assert re.fullmatch(r"ftjob-[0-9A-Za-z]{24}", created["id"])
    assert created["status"] == created["other_status"] == "validating_files"
    assert created["model"] == MODEL and created["seed"] == 11 and created["fine_tuned_model"] is None
    assert created["metadata"] == {"team": "node sdk"}
    listed = step(flow, "list_jobs_auto_paginated")
    assert listed["ids"] == [created["other_id"], created["id"]]
    assert listed["first_page"] == [created["other_id"]] and listed["first_has_more"] and listed["has_next_page"]
    assert listed["after_first"] == [created["id"]]
    assert listed["tagged"] == [created["id"]] and listed["untagged"] == []  # metadata[team]=... in the query
    got = step(flow, "retrieve_job")
    assert got["id"] == created["id"] and got["content_type"].startswith("application/json")
    assert REQUEST_ID.fullmatch(got["request_id"] or "")
    run = step(flow, "run_to_succeeded")
    assert run["status"] == "succeeded", run
    assert run["statuses_seen"][0] == "validating_files" and run["statuses_seen"][-1] == "succeeded"
    assert re.fullmatch(rf"ft:{MODEL}:nodeco:nodesdk:[0-9A-Za-z]{{8}}", run["fine_tuned_model"])
    assert run["trained_tokens"] > 0 and run["finished_at"] > run["created_at"] and run["error"] == {}
    assert len(run["result_files"]) == 1


def test_events_and_checkpoints_through_the_auto_pager(flow: dict[str, Any]) -> None:
    job_id = step(flow, "create_jobs")["id"]
    events = step(flow, "events")
    assert events["walked_ids"] == events["wide_ids"]  # pages of 7 and of 100 walk the same events
    assert len(set(events["walked_ids"])) == len(events["walked_ids"]) > 100
    assert events["object"] == "fine_tuning.job.event" and events["metrics"] == 100
    assert events["newest"] == "The job has successfully completed"
    assert events["oldest"] == f"Created fine-tuning job: {job_id}"
    tuned = step(flow, "run_to_succeeded")["fine_tuned_model"]
    checkpoints = step(flow, "checkpoints")
    assert checkpoints["object"] == "fine_tuning.job.checkpoint" and checkpoints["job_ids"] == [job_id]
    assert checkpoints["steps"] == [100, 80, 60]
    assert checkpoints["names"][0] == tuned
    assert [n.rsplit(":", 1)[1] for n in checkpoints["names"][1:]] == ["ckpt-step-80", "ckpt-step-60"]
    permissions = step(flow, "checkpoint_permissions")
    assert permissions["created"] == ["proj_a", "proj_b", "proj_c"]
    assert permissions["listed"] == ["proj_c", "proj_b", "proj_a"]  # newest first, pages of 2 joined by last_id
    assert permissions["deleted"] is True and permissions["deleted_id"] == permissions["first_id"]
    assert permissions["left"] == ["proj_b", "proj_a"]


def test_cancel_pause_and_resume(flow: dict[str, Any]) -> None:
    cancelled = step(flow, "cancel_other_job")
    assert cancelled["status"] == cancelled["retrieved_status"] == "cancelled"
    raised(cancelled["cancel_twice"], "BadRequestError", 400, None)
    paused = step(flow, "pause_resume")
    assert paused == {"running": "running", "paused": "paused", "after_a_paused_while": "paused",
                      "resumed": "queued", "cancelled": "cancelled"}


def test_tuned_model_retrieve_chat_stream_responses_delete(flow: dict[str, Any]) -> None:
    tuned = step(flow, "run_to_succeeded")["fine_tuned_model"]
    model = step(flow, "retrieve_model")
    assert model == {"id": tuned, "object": "model", "owned_by": "nodeco", "listed": True}
    chat = step(flow, "chat")
    assert (chat["model"], chat["content"], chat["finish"], chat["object"]) == (tuned, "answer 7", "stop",
                                                                                 "chat.completion")
    usage = chat["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    streamed = step(flow, "chat_stream")
    assert streamed["content"] == "answer 3" and streamed["finish"] == "stop" and streamed["chunks"] > 2
    assert streamed["usage"] is not None and streamed["usage"]["completion_tokens"] > 0
    assert streamed["helper_content"] == "answer 4"  # the SDK's own stream helper assembles the message
    assert streamed["content_type"].startswith("text/event-stream") and REQUEST_ID.fullmatch(streamed["request_id"])
    assert step(flow, "stream_abandoned") == {"seen": 2, "next": "answer 8"}
    responses = step(flow, "responses")
    assert responses == {"output_text": "answer 9", "status": "completed", "streamed": "answer 2", "completed": True}
    deleted = step(flow, "delete_model")
    assert deleted["id"] == tuned and deleted["deleted"] is True
    raised(deleted["chat_after"], "NotFoundError", 404, "model_not_found")


def test_graders(flow: dict[str, Any]) -> None:
    assert step(flow, "graders") == {"hit": 1, "miss": 0, "validated": "same"}


def test_typed_errors(flow: dict[str, Any]) -> None:
    errors = step(flow, "errors")
    raised(errors["unknown_job"], "NotFoundError", 404, "fine_tune_not_found", "fine_tune_id")
    raised(errors["unknown_model"], "BadRequestError", 400, "model_not_available")
    raised(errors["bad_training_file"], "BadRequestError", 400, None, "training_file")
    raised(errors["bad_key"], "AuthenticationError", 401, "invalid_api_key")
    assert errors["bad_key"]["message"].startswith("401 Incorrect API key provided: ")
    assert step(flow, "error_classes") == {
        "unknown_job": ["NotFoundError", "APIError"],
        "unknown_model": ["BadRequestError", "APIError"],
        "bad_training_file": ["BadRequestError", "APIError"],
        "bad_key": ["AuthenticationError", "APIError"],
    }
    headers = step(flow, "organization_headers")
    assert headers["listed"] == 1  # the key's own organization and project, sent as OpenAI-Organization/-Project
    raised(headers["other_org"], "AuthenticationError", 401, "mismatched_organization")


def test_uploads_api(flow: dict[str, Any]) -> None:
    uploads = step(flow, "uploads")
    assert uploads["upload_status"] == "pending" and uploads["completed"] == "completed"
    assert uploads["file_status"] == "processed" and uploads["filename"] == "parts.jsonl"
    assert uploads["bytes"] == len(_training_rows().encode()) and uploads["same_bytes"]
    assert uploads["deleted"] is True
    raised(uploads["retrieve_after"], "NotFoundError", 404, None, "id")


def test_sdk_retries_follow_the_servers_headers(flow: dict[str, Any]) -> None:
    retries = step(flow, "retries")
    assert retries["listed_after_two_429"] == 1 and retries["flaky_hits"] == 2  # two 429s retried, then served
    raised(retries["no_retry_error"], "InternalServerError", 500, None)
    assert retries["no_retry_hits"] == 1  # x-should-retry: false stopped the SDK after one try
    raised(retries["rate_limited"], "RateLimitError", 429, "rate_limit_exceeded")
    assert retries["rate_limited_hits"] == 1


def test_azure_openai_client_files_job_deployment(flow: dict[str, Any]) -> None:
    made = step(flow, "azure_upload_and_job")
    assert re.fullmatch("file-" + HEX32, made["file_id"]) and made["file_status"] == "processed"
    assert re.fullmatch("ftjob-" + HEX32, made["id"])
    assert made["status"] == "pending" and made["organization_id"] is None and made["listed"] == [made["id"]]
    run = step(flow, "azure_run_to_succeeded")
    assert run["status"] == "succeeded" and run["organization_id"] is None
    assert run["statuses_seen"][0] == "pending"
    assert run["fine_tuned_model"] == f"{MODEL}.ft-{made['id'].removeprefix('ftjob-')}"
    assert len(run["event_ids"]) > 100 and all(re.fullmatch("ftevent-" + HEX32, e) for e in run["event_ids"])
    assert len(run["checkpoint_ids"]) == 3
    assert all(re.fullmatch("ftchkpt-" + HEX32, c) for c in run["checkpoint_ids"])
    chat = step(flow, "azure_deployment_chat")
    assert chat["content"] == "answer 5" and chat["streamed"] == "answer 4" and chat["usage"]["total_tokens"] > 0
    assert chat["bound"] == "answer 6"
    others = step(flow, "azure_other_clients")
    assert others == {"via_token": [made["id"]], "via_v1": [made["id"]], "v1_status": "succeeded", "v1_org": None}
    errors = step(flow, "azure_errors")
    assert (errors["unknown_job"]["class"], errors["unknown_job"]["code"]) == ("NotFoundError", "notFound")
    assert (errors["bad_key"]["class"], errors["bad_key"]["code"]) == ("AuthenticationError", "401")
    assert (errors["unknown_deployment"]["class"], errors["unknown_deployment"]["code"]) == ("NotFoundError",
                                                                                           "DeploymentNotFound")
