"""The official SDK (openai 3.x here, 2.x in .venv-sdk2) against uploads, models, chat, responses and graders.

The app is driven in-process: `openai.OpenAI(..., http_client=TestClient(create_app(backend)))`. Tuned models are
either planted as the jobs service records them, or produced by a real job run to completion.
"""

from __future__ import annotations

import json

import openai
import pytest
from starlette.testclient import TestClient

from ftsim.api.http.app import create_app
from tests.openapi_schema import assert_schema

pytestmark = pytest.mark.sdk2

TUNED = "ft:gpt-4o-mini-2024-07-18:personal:qa:abc12345"
CKPT = "ft:gpt-4o-mini-2024-07-18:personal:qa:def67890:ckpt-step-4"
ROWS = [{"messages": [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": f"answer {i}"}]}
        for i in range(12)]
DATA = ("\n".join(json.dumps(r) for r in ROWS) + "\n").encode()


def make_client(backend, key="sk-test"):
    http = TestClient(create_app(backend), base_url="http://testserver")
    return openai.OpenAI(api_key=key, base_url="http://testserver/v1", http_client=http, max_retries=0)


@pytest.fixture
def client(backend):
    return make_client(backend)


def plant(backend, client, file_id, name=TUNED):
    """The record a succeeded job leaves for its model (and each checkpoint)."""
    tenant = backend.tenant(client.api_key)
    backend.store.put("model", tenant.key, name, {
        "id": name, "object": "model", "created": backend.now(), "owned_by": tenant.org_slug,
        "fine_tuning_job_id": "ftjob-1", "base_model": "gpt-4o-mini-2024-07-18", "training_file": file_id,
    })


def test_upload_file_chunked(client, tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_bytes(DATA)
    upload = client.uploads.upload_file_chunked(file=path, mime_type="text/jsonl", purpose="fine-tune", part_size=100)
    assert upload.status == "completed" and upload.file is not None
    assert upload.file.bytes == len(DATA) and upload.file.filename == "train.jsonl"
    assert client.files.content(upload.file.id).content == DATA
    from_bytes = client.uploads.upload_file_chunked(file=DATA, mime_type="text/jsonl", purpose="fine-tune",
                                                    filename="mem.jsonl", bytes=len(DATA), part_size=64)
    assert client.files.content(from_bytes.file.id).content == DATA


def test_upload_errors(client):
    up = client.uploads.create(bytes=3, filename="a.jsonl", mime_type="text/jsonl", purpose="fine-tune")
    part = client.uploads.parts.create(upload_id=up.id, data=b"ab")
    with pytest.raises(openai.BadRequestError) as exc:
        client.uploads.complete(upload_id=up.id, part_ids=[part.id])
    assert exc.value.param == "bytes"
    assert client.uploads.cancel(upload_id=up.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        client.uploads.parts.create(upload_id=up.id, data=b"c")
    with pytest.raises(openai.NotFoundError):
        client.uploads.parts.create(upload_id="upload_nope", data=b"c")


def test_models_list_retrieve_delete(backend, client):
    plant(backend, client, "file-x")
    plant(backend, client, "file-x", CKPT)
    ids = [m.id for m in client.models.list()]
    assert ids[-2:] == [TUNED, CKPT] and "gpt-4o-mini-2024-07-18" in ids
    model = client.models.retrieve(TUNED)
    assert model.owned_by == "personal" and model.object == "model"
    assert client.models.delete(TUNED).deleted is True
    with pytest.raises(openai.NotFoundError) as exc:
        client.models.retrieve(TUNED)
    assert exc.value.code == "model_not_found"
    with pytest.raises(openai.PermissionDeniedError):
        client.models.delete("gpt-4o-mini")
    other = make_client(backend, "sk-other")
    with pytest.raises(openai.NotFoundError):
        other.models.delete(CKPT)


def test_chat_plain_and_stream_on_base_and_tuned(backend, client):
    f = client.files.create(file=("train.jsonl", DATA), purpose="fine-tune")
    plant(backend, client, f.id)
    plant(backend, client, f.id, CKPT)
    for model in (TUNED, CKPT):
        out = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "question 7"}])
        assert out.choices[0].message.content == "answer 7" and out.model == model
        assert out.usage.total_tokens == out.usage.prompt_tokens + out.usage.completion_tokens
    base = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "question 7"}])
    assert base.choices[0].message.content != "answer 7"
    stream = client.chat.completions.create(model=TUNED, messages=[{"role": "user", "content": "question 3"}],
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "answer 3"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    with pytest.raises(openai.NotFoundError) as exc:
        client.chat.completions.create(model="ft:gpt-4o-mini-2024-07-18:personal::missing1",
                                       messages=[{"role": "user", "content": "x"}])
    assert exc.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        make_client(backend, "sk-other").chat.completions.create(model=TUNED, messages=[{"role": "user", "content": "x"}])


def test_responses_plain_and_stream(backend, client):
    f = client.files.create(file=("train.jsonl", DATA), purpose="fine-tune")
    plant(backend, client, f.id)
    out = client.responses.create(model=TUNED, input="question 5")
    assert out.output_text == "answer 5" and out.status == "completed"
    assert out.usage.total_tokens == out.usage.input_tokens + out.usage.output_tokens
    events = list(client.responses.create(model="gpt-4o-mini", input="hello", stream=True))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    plain = client.responses.create(model="gpt-4o-mini", input="hello")
    assert events[-1].response.output_text == plain.output_text
    with client.responses.stream(model=TUNED, input="question 2") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == final.output_text == "answer 2"
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="nope", input="x")


def test_graders_run_and_validate(client):
    grader = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
              "reference": "{{item.answer}}", "operation": "eq"}
    assert client.fine_tuning.alpha.graders.validate(grader=grader).grader.name == "exact"
    run = client.fine_tuning.alpha.graders.run(grader=grader, model_sample="42", item={"answer": "42"})
    assert run.reward == 1.0 and run.metadata.errors.formula_parse_error is False
    with pytest.raises(openai.BadRequestError) as exc:
        client.fine_tuning.alpha.graders.run(grader=dict(grader, operation="similar"), model_sample="x")
    assert exc.value.param == "grader"


def test_a_real_job_learns_its_training_data(backend, client):
    if backend.jobs is None:
        pytest.skip("jobs service not present")
    f = client.files.create(file=("train.jsonl", DATA), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=f.id, suffix="qa")
    for _ in range(200):
        job = client.fine_tuning.jobs.retrieve(job.id)
        if job.status in ("succeeded", "failed", "cancelled"):
            break
        backend.advance(3600)
    assert job.status == "succeeded", job.error
    out = client.chat.completions.create(model=job.fine_tuned_model, messages=[{"role": "user", "content": "question 9"}])
    assert out.choices[0].message.content == "answer 9"
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    older = [c.fine_tuned_model_checkpoint for c in checkpoints if c.fine_tuned_model_checkpoint != job.fine_tuned_model]
    for name in older:
        reply = client.responses.create(model=name, input="question 1")
        assert reply.output_text == "answer 1"
    assert job.fine_tuned_model in [m.id for m in client.models.list()]
    client.models.delete(job.fine_tuned_model)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model=job.fine_tuned_model, messages=[{"role": "user", "content": "question 9"}])


def test_raw_bodies_validate_against_the_spec(backend, client):
    f = client.files.create(file=("train.jsonl", DATA), purpose="fine-tune")
    plant(backend, client, f.id)
    calls = [
        (lambda c: c.models.with_raw_response.list(), "ListModelsResponse"),
        (lambda c: c.models.with_raw_response.retrieve(TUNED), "Model"),
        (lambda c: c.chat.completions.with_raw_response.create(
            model=TUNED, messages=[{"role": "user", "content": "question 1"}]), "CreateChatCompletionResponse"),
        (lambda c: c.responses.with_raw_response.create(model=TUNED, input="question 1"), "Response"),
        (lambda c: c.uploads.with_raw_response.create(
            bytes=1, filename="a.jsonl", mime_type="text/jsonl", purpose="fine-tune"), "Upload"),
        (lambda c: c.fine_tuning.alpha.graders.with_raw_response.run(
            grader={"type": "text_similarity", "name": "t", "input": "{{sample.output_text}}",
                    "reference": "answer 1", "evaluation_metric": "rouge_l"}, model_sample="answer 1"),
         "RunGraderResponse"),
        (lambda c: c.models.with_raw_response.delete(TUNED), "DeleteModelResponse"),
    ]
    for call, schema in calls:
        raw = call(client)
        assert raw.http_response.status_code == 200
        assert_schema(json.loads(raw.http_response.text), schema)


def test_reasoning_model_returns_a_reasoning_item_counts_reasoning_tokens_and_echoes_the_request(client):
    out = client.responses.create(model="o4-mini-2025-04-16", input="Why is the sky blue?",
                                  reasoning={"effort": "medium", "summary": "detailed"})
    assert [item.type for item in out.output] == ["reasoning", "message"]
    summary = out.output[0].summary
    assert len(summary) == 1 and summary[0].type == "summary_text" and "sky" in summary[0].text
    assert out.reasoning.effort == "medium" and out.reasoning.summary == "detailed"
    reasoning_tokens = out.usage.output_tokens_details.reasoning_tokens
    assert reasoning_tokens > 0 and reasoning_tokens % 64 == 0
    assert out.usage.total_tokens == out.usage.input_tokens + out.usage.output_tokens
    assert out.output_text == out.output[1].content[0].text
    raw = client.responses.with_raw_response.create(model="o4-mini-2025-04-16", input="x",
                                                    reasoning={"effort": "high", "summary": "auto"})
    assert_schema(json.loads(raw.http_response.text), "Response")
    plain = client.responses.create(model="o4-mini-2025-04-16", input="Why is the sky blue?")  # defaults
    assert plain.reasoning.effort == "medium" and plain.reasoning.summary is None
    assert plain.output[0].type == "reasoning" and plain.output[0].summary == []
    with client.responses.stream(model="o4-mini-2025-04-16", input="Why is the sky blue?",
                                 reasoning={"effort": "low", "summary": "concise"}) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.reasoning_summary_text.delta" in kinds
    assert [item.type for item in final.output] == ["reasoning", "message"] and final.output[0].summary


def test_reasoning_effort_on_a_non_reasoning_model_is_400(client):
    out = client.responses.create(model="gpt-4o-mini", input="hello")
    assert out.reasoning.effort is None and out.usage.output_tokens_details.reasoning_tokens == 0
    assert [item.type for item in out.output] == ["message"]
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="gpt-4o-mini", input="hello", reasoning={"effort": "high"})
    assert info.value.code == "unsupported_parameter" and info.value.param == "reasoning.effort"
