"""Azure billing (issue 16): the training type kept with its job, and cost as Azure bills it, to the cent."""

from __future__ import annotations

import io
import json
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ftsim.api.testing.simulator import Simulator
from ftsim.pricing.catalog.providers import load_providers
from ftsim.simulator.core.tenancy import azure_tenant
from ftsim.simulator.fine_tuning.azure import (TRAINING_KIND, TokenCounts, account_cost, inference_charge,
                                               job_cost_lines, training_type_of)
from ftsim.simulator.fine_tuning.types import JobRecord

ENDPOINT = "https://contoso.openai.azure.com"
MODEL = "gpt-4.1-mini-2025-04-14"
pytestmark = [pytest.mark.sdk1, pytest.mark.sdk2]  # AzureOpenAI exists in openai 1.x and 2.x: run there too


def _file(client: openai.AzureOpenAI, n: int = 12) -> str:
    rows = "".join(json.dumps({"messages": [{"role": "user", "content": f"q {i}"},
                                            {"role": "assistant", "content": f"a {i}"}]}) + "\n" for i in range(n))
    return client.files.create(file=("t.jsonl", io.BytesIO(rows.encode())), purpose="fine-tune").id


def test_training_type_is_written_in_the_jobs_own_transaction() -> None:
    """A kill -9 after the job's commit cannot lose its training type: both rows are written by one transaction."""
    with Simulator() as sim:
        client = sim.azure_client(endpoint=ENDPOINT, api_key="az-tx")
        training_file = _file(client)
        store = sim.backend.store
        writes: list[tuple[str, int]] = []
        opened = {"n": 0}
        real_transaction, real_put = store.transaction, store.put

        @contextmanager
        def counted() -> Iterator[None]:
            if not store._depth:
                opened["n"] += 1
            with real_transaction():
                yield

        def put(kind: str, *args: Any, **kwargs: Any) -> Any:
            writes.append((kind, opened["n"]))
            return real_put(kind, *args, **kwargs)

        store.transaction, store.put = counted, put  # type: ignore[method-assign]
        try:
            job = client.fine_tuning.jobs.create(model=MODEL, training_file=training_file,
                                                 extra_body={"trainingType": "developerTier"})
        finally:
            store.transaction, store.put = real_transaction, real_put  # type: ignore[method-assign]
        job_tx = {n for kind, n in writes if kind == "job"}
        type_tx = {n for kind, n in writes if kind == TRAINING_KIND}
        assert len(job_tx) == 1 and type_tx == job_tx
        assert training_type_of(sim.backend, azure_tenant(sim.backend.tenancy, "az-tx"), job.id) == "DeveloperTier"


# -- cost as Azure bills it: hand computations, to the cent ----------------------------------------------------

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "datasets"
O4 = "o4-mini-2025-04-16"
GRADER = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
          "reference": "{{item.answer}}", "operation": "eq"}
ARM = ("/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.CognitiveServices/accounts/contoso/"
       "deployments")
ARM_VERSION = "?api-version=2024-10-21"
CENT = Decimal("0.01")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT)


def _lines(sim: Simulator, key: str) -> dict[tuple[str, str], Any]:
    return {(ln.kind, ln.id): ln for ln in sim.azure_cost(key).lines}


def _row(sim: Simulator, key: str, job_id: str) -> dict:
    return sim.backend.store.get("job", azure_tenant(sim.backend.tenancy, key).key, job_id)


def test_rft_charge_is_hours_at_the_rate_capped_at_5000_a_job() -> None:
    azure = load_providers().azure
    assert azure.rft_charge(Decimal("100"), Decimal("24.75")) == Decimal("2475.00")  # the reference's public run
    assert azure.rft_charge(Decimal("110"), Decimal("45.45")) == Decimal("4999.50")
    assert azure.rft_charge(Decimal("110"), Decimal("45.46")) == Decimal("5000")  # 5000.60 -> the cap
    assert azure.rft_charge(Decimal("50"), Decimal("200")) == Decimal("5000")


@pytest.mark.parametrize(("tier", "expected"), [
    ("global", Decimal("2.00")),  # 1M in at 0.40 + 1M out at 1.60
    ("developer", Decimal("2.00")),  # Developer: Global rates
    ("regional_us", Decimal("2.20")),  # +10%
    ("data_zone", Decimal("2.20")),
])
def test_tuned_inference_is_the_base_models_rate_with_the_regional_uplift(tier: str, expected: Decimal) -> None:
    tokens = TokenCounts(input=1_000_000, output=1_000_000)
    assert _cents(inference_charge("gpt-4.1-mini-2025-04-14", tier, tokens)) == expected


def test_cached_input_is_billed_at_the_cached_rate() -> None:
    # gpt-4.1 Standard: 500k cached at 0.50 x 1.1 = 0.275, 250k input at 2.00 x 1.1 = 0.55, 100k out at 8.80 = 0.88
    tokens = TokenCounts(input=250_000, cached_input=500_000, output=100_000)
    assert inference_charge("gpt-4.1-2025-04-14", "regional_us", tokens) == Decimal("1.705")


def _running(sim: Simulator, client: openai.AzureOpenAI, **create: Any) -> str:
    job = client.fine_tuning.jobs.create(**create)
    for _ in range(2000):
        sim.advance(60)
        rec = JobRecord.from_row(_row(sim, client.api_key, job.id))
        if rec.job.status == "running" and (rec.plan.steps_done or 0) >= 2:
            return job.id
    raise AssertionError("the job never trained 2 steps")


def test_sft_cancelled_mid_training_pays_the_steps_done_and_a_failed_job_nothing() -> None:
    with Simulator() as sim:
        client = sim.azure_client(endpoint=ENDPOINT, api_key="az-bill")
        done = client.fine_tuning.jobs.create(model=MODEL, training_file=_file(client, 40),
                                              extra_body={"trainingType": "GlobalStandard"})
        sim.run_until_complete(done.id)
        cancelled = _running(sim, client, model=MODEL, training_file=_file(client, 40),
                             extra_body={"trainingType": "Standard"})
        client.fine_tuning.jobs.cancel(cancelled)
        before = _lines(sim, "az-bill")  # nothing is billed for a job cancelled before training
        queued = client.fine_tuning.jobs.create(model=MODEL, training_file=_file(client))
        client.fine_tuning.jobs.cancel(queued.id)
        sim.fault(kind="job", stage="step", step=3, api_key="az-bill")
        failed = client.fine_tuning.jobs.create(model=MODEL, training_file=_file(client))
        sim.run_until_complete(failed.id)
        assert client.fine_tuning.jobs.retrieve(failed.id).status == "failed"
        lines = _lines(sim, "az-bill")
        assert lines == before and set(lines) == {("training", done.id), ("training", cancelled)}
        finished = client.fine_tuning.jobs.retrieve(done.id)
        full = lines[("training", done.id)]
        assert full.tier == "global" and full.quantity == finished.trained_tokens
        assert _cents(full.usd) == _cents(Decimal(finished.trained_tokens) * Decimal("5.00") / 1_000_000)
        plan = JobRecord.from_row(_row(sim, "az-bill", cancelled)).plan
        tokens = plan.n_epochs * plan.outcome.tokens_per_epoch * plan.steps_done // plan.total_steps
        part = lines[("training", cancelled)]
        assert 0 < plan.steps_done < plan.total_steps and part.tier == "regional_us" and part.quantity == tokens
        assert _cents(part.usd) == _cents(Decimal(tokens) * Decimal("5.50") / 1_000_000)
        assert sim.azure_cost("az-bill").total_usd == full.usd + part.usd


def _rft(sim: Simulator, client: openai.AzureOpenAI, training_type: str) -> str:
    train = client.files.create(file=("t.jsonl", (FIXTURES / "rft_train.jsonl").read_bytes()), purpose="fine-tune")
    valid = client.files.create(file=("v.jsonl", (FIXTURES / "rft_valid.jsonl").read_bytes()), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model=O4, training_file=train.id, validation_file=valid.id, extra_body={"trainingType": training_type},
        method={"type": "reinforcement", "reinforcement": {"grader": GRADER, "hyperparameters": {
            "n_epochs": 2, "batch_size": 1, "eval_interval": 4}}})
    return job.id


def test_rft_bills_training_hours_rounded_to_the_hundredth_with_the_cap() -> None:
    with Simulator() as sim:
        client = sim.azure_client(endpoint=ENDPOINT, api_key="az-rft")
        job_id = _rft(sim, client, "GlobalStandard")
        sim.run_until_complete(job_id)
        row = _row(sim, "az-rft", job_id)
        rec = JobRecord.from_row(row)
        assert rec.job.status == "succeeded"
        hours = (Decimal(str(rec.plan.sec_per_step)) * rec.plan.total_steps / 3600).quantize(CENT)
        line = _lines(sim, "az-rft")[("training", job_id)]
        assert line.unit == "hours" and line.quantity == hours and not line.capped
        assert _cents(line.usd) == _cents(hours * 100)  # o4-mini Global: $100 an hour
        # the same job, had each step taken 1,000 times longer, on the regional tier: capped at $5,000
        slow = {**row, "_sim": {**row["_sim"], "sec_per_step": row["_sim"]["sec_per_step"] * 1000}}
        capped = next((ln for ln in job_cost_lines(JobRecord.from_row(slow), "Standard") if ln.kind == "training"), None)
        assert capped is not None and capped.capped and capped.usd == Decimal("5000")
        assert capped.quantity * 110 > 5000


def test_rft_failed_pays_up_to_its_last_checkpoint_cancelled_up_to_the_cancel() -> None:
    with Simulator() as sim:
        client = sim.azure_client(endpoint=ENDPOINT, api_key="az-rft2")
        sim.fault(kind="job", stage="step", step=7, api_key="az-rft2")
        failed = _rft(sim, client, "developerTier")
        sim.run_until_complete(failed)
        row = _row(sim, "az-rft2", failed)
        assert row["status"] == "failed" and row["_sim"]["steps_done"] == 6
        line = _lines(sim, "az-rft2")[("training", failed)]
        # checkpoints every 4 steps: the 2 steps after step 4 were lost to the failure and are not billed
        hours = (Decimal(str(row["_sim"]["sec_per_step"])) * 4 / 3600).quantize(CENT)
        assert line.tier == "developer" and line.quantity == hours
        assert _cents(line.usd) == _cents(hours * 50)
        cancelled = _running(sim, client, model=O4, **_rft_body(client))
        client.fine_tuning.jobs.cancel(cancelled)
        row = _row(sim, "az-rft2", cancelled)
        hours = (Decimal(str(row["_sim"]["sec_per_step"])) * row["_sim"]["steps_done"] / 3600).quantize(CENT)
        assert _lines(sim, "az-rft2")[("training", cancelled)].quantity == hours


def _rft_body(client: openai.AzureOpenAI) -> dict:
    train = client.files.create(file=("t.jsonl", (FIXTURES / "rft_train.jsonl").read_bytes()), purpose="fine-tune")
    valid = client.files.create(file=("v.jsonl", (FIXTURES / "rft_valid.jsonl").read_bytes()), purpose="fine-tune")
    return {"training_file": train.id, "validation_file": valid.id, "extra_body": {"trainingType": "GlobalStandard"},
            "method": {"type": "reinforcement", "reinforcement": {"grader": GRADER, "hyperparameters": {
                "n_epochs": 2, "batch_size": 1, "eval_interval": 4}}}}


def test_deployment_calls_are_billed_at_base_rates_by_deployment_tier() -> None:
    with Simulator() as sim:
        client = sim.azure_client(endpoint=ENDPOINT, api_key="az-inf")
        job = client.fine_tuning.jobs.create(model=MODEL, training_file=_file(client))
        sim.run_until_complete(job.id)
        model = client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model
        with TestClient(sim.app, base_url="https://management.azure.com", headers={"api-key": "az-inf"}) as arm:
            for name, sku in (("std", "Standard"), ("glob", "GlobalStandard")):
                body = {"sku": {"name": sku, "capacity": 1},
                        "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}}}
                assert arm.put(f"{ARM}/{name}{ARM_VERSION}", json=body).status_code == 201
            sim.advance(hours=1)
            usage = {"std": [0, 0], "glob": [0, 0]}
            for name in ("std", "glob", "std"):
                answer = client.chat.completions.create(model=name, messages=[{"role": "user", "content": "hello"}])
                usage[name][0] += answer.usage.prompt_tokens
                usage[name][1] += answer.usage.completion_tokens
            over_http = arm.get("/_sim/azure/cost").json()
        lines = _lines(sim, "az-inf")
        std, glob = lines[("inference", "std")], lines[("inference", "glob")]
        assert std.tokens == TokenCounts(input=usage["std"][0], output=usage["std"][1])
        # gpt-4.1-mini: $0.40 / $1.60 per 1M at Global rates, Standard (regional) 10% more
        assert std.usd == (Decimal(usage["std"][0]) * Decimal("0.44") + usage["std"][1] * Decimal("1.76")) / 1_000_000
        assert glob.usd == (Decimal(usage["glob"][0]) * Decimal("0.40") + usage["glob"][1] * Decimal("1.60")) \
            / 1_000_000
        assert std.tier == "regional_us" and glob.tier == "global"
        kinds = {(ln["kind"], ln["id"]) for ln in over_http["lines"]}
        assert ("inference", "std") in kinds and Decimal(over_http["total_usd"]) == sim.azure_cost("az-inf").total_usd
        assert account_cost(sim.backend, azure_tenant(sim.backend.tenancy, "az-other")).lines == []


def _billed_events(client: openai.AzureOpenAI, job_id: str) -> list[str]:
    events = list(client.fine_tuning.jobs.list_events(job_id, limit=100))  # every page
    return [e.message for e in reversed(events) if e.message.startswith("Training hours billed")]


def test_rft_jobs_report_training_hours_billed_at_each_stop_and_pauses_are_free() -> None:
    with Simulator() as sim:
        client = sim.azure_client(endpoint=ENDPOINT, api_key="az-hours")
        job_id = _running(sim, client, model=O4, **{**_rft_body(client), "extra_body": {"trainingType":
                                                                                         "developerTier"}})
        client.fine_tuning.jobs.pause(job_id)
        row = _row(sim, "az-hours", job_id)
        paused_at = row["_sim"]["steps_done"]
        per_step = Decimal(str(row["_sim"]["sec_per_step"]))
        first = f"Training hours billed: {per_step * paused_at / 3600:.3f}"
        assert _billed_events(client, job_id) == [first]
        sim.advance(days=3)  # paused: nothing more is billed
        assert _lines(sim, "az-hours")[("training", job_id)].quantity == (per_step * paused_at / 3600).quantize(CENT)
        client.fine_tuning.jobs.resume(job_id)
        sim.run_until_complete(job_id)
        total = row["_sim"]["total_steps"]
        assert _billed_events(client, job_id) == [first, f"Training hours billed: {per_step * total / 3600:.3f}"]
        client2 = sim.azure_client(endpoint=ENDPOINT, api_key="az-hours-sft")
        sft = client2.fine_tuning.jobs.create(model=MODEL, training_file=_file(client2))
        sim.run_until_complete(sft.id)
        assert _billed_events(client2, sft.id) == []  # per-token billing: no hours


def test_openai_rft_jobs_have_no_billed_hours_events() -> None:
    with Simulator() as sim:
        client = sim.client(api_key="oa-hours")
        train = client.files.create(file=("t.jsonl", (FIXTURES / "rft_train.jsonl").read_bytes()), purpose="fine-tune")
        valid = client.files.create(file=("v.jsonl", (FIXTURES / "rft_valid.jsonl").read_bytes()), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model=O4, training_file=train.id, validation_file=valid.id,
                                             method={"type": "reinforcement", "reinforcement": {"grader": GRADER}})
        sim.run_until_complete(job.id)
        events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
        assert events and not any(e.message.startswith("Training hours billed") for e in events)


def test_a_job_on_a_model_azure_does_not_tune_is_left_off_the_bill_not_a_crash() -> None:
    """A job created in-process for an Azure account, past the Azure door's checks, on a model without Azure
    prices: the bill leaves it off instead of failing."""
    with Simulator() as sim:
        client = sim.azure_client(endpoint=ENDPOINT, api_key="az-odd")
        tenant = azure_tenant(sim.backend.tenancy, "az-odd")
        job = sim.backend.jobs.create(tenant, model="gpt-3.5-turbo-0125", training_file=_file(client))
        sim.run_until_complete(job.id)
        assert sim.backend.jobs.retrieve(tenant, job.id).status == "succeeded"
        assert sim.azure_cost("az-odd").lines == []
        with TestClient(sim.app) as http:
            assert http.get("/_sim/azure/cost", headers={"api-key": "az-odd"}).json()["lines"] == []


def test_streamed_calls_to_a_deployment_are_billed_and_the_stream_is_unchanged() -> None:
    """Azure bills a streamed call's tokens whether or not the client asked for `stream_options.include_usage`;
    a client that did not ask sees no usage in the stream."""
    with Simulator() as sim:
        client = sim.azure_client(endpoint=ENDPOINT, api_key="az-stream")
        job = client.fine_tuning.jobs.create(model=MODEL, training_file=_file(client))
        sim.run_until_complete(job.id)
        model = client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model
        body = {"sku": {"name": "GlobalStandard", "capacity": 1},
                "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}}}
        with TestClient(sim.app, base_url="https://management.azure.com", headers={"api-key": "az-stream"}) as arm:
            assert arm.put(f"{ARM}/live{ARM_VERSION}", json=body).status_code == 201
        sim.advance(hours=1)
        messages = [{"role": "user", "content": "tell me about the weather in a few words"}]
        plain = client.chat.completions.create(model="live", messages=messages)  # the same reply, not streamed
        asked = list(client.chat.completions.create(model="live", messages=messages, stream=True,
                                                    stream_options={"include_usage": True}))
        silent = list(client.chat.completions.create(model="live", messages=messages, stream=True))
        assert asked[-1].usage is not None and asked[-1].choices == []
        assert asked[-1].usage.prompt_tokens == plain.usage.prompt_tokens
        assert all(chunk.usage is None for chunk in silent) and all(chunk.choices for chunk in silent)
        text = "".join(c.choices[0].delta.content or "" for c in silent)
        assert text == plain.choices[0].message.content
        with TestClient(sim.app, base_url=ENDPOINT, headers={"api-key": "az-stream"}) as http:
            raw = http.post("/openai/deployments/live/chat/completions?api-version=2024-10-21",
                            json={"messages": messages, "stream": True}).text
        assert '"usage"' not in raw and raw.endswith("data: [DONE]\n\n")
        line = _lines(sim, "az-stream")[("inference", "live")]
        calls = 4  # the plain call, the two SDK streams, the raw stream: each billed alike
        assert line.tokens == TokenCounts(input=calls * plain.usage.prompt_tokens,
                                          output=calls * plain.usage.completion_tokens)
        assert line.usd == calls * (Decimal(plain.usage.prompt_tokens) * Decimal("0.40")
                                    + plain.usage.completion_tokens * Decimal("1.60")) / 1_000_000


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12), asked=st.booleans())
def test_a_streams_usage_is_read_however_its_bytes_are_cut(cuts: list[int], asked: bool) -> None:
    from ftsim.api.http.azure import _UsageStream
    from ftsim.simulator.inference.chat import sse

    usage = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
    chunks = [{"id": "c", "choices": [{"index": 0, "delta": {"content": "é" * 3}}], "usage": None},
              {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": None},
              {"id": "c", "choices": [], "usage": usage}]
    data = "".join(sse(c) for c in chunks).encode() + sse("[DONE]").encode()
    expected = data if asked else "".join(sse({k: v for k, v in c.items() if k != "usage"})
                                          for c in chunks[:2]).encode() + sse("[DONE]").encode()
    reader, out = _UsageStream(asked=asked), b""
    bounds = sorted({min(c, len(data)) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *bounds], [*bounds, len(data)])]
    for i, piece in enumerate(pieces):
        out += reader.feed(piece, final=i == len(pieces) - 1)
    assert out == expected and reader.usage == usage


@pytest.mark.parametrize(("options", "asked"), [({"include_usage": "true"}, True), ({"include_usage": 0}, False),
                                                 ({}, False), (None, False)])
def test_a_streams_usage_option_is_read_as_the_chat_route_reads_it(options: Any, asked: bool) -> None:
    with Simulator() as sim:
        client = sim.azure_client(endpoint=ENDPOINT, api_key="az-opt")
        job = client.fine_tuning.jobs.create(model=MODEL, training_file=_file(client))
        sim.run_until_complete(job.id)
        model = client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model
        body = {"sku": {"name": "GlobalStandard", "capacity": 1},
                "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}}}
        with TestClient(sim.app, base_url="https://management.azure.com", headers={"api-key": "az-opt"}) as arm:
            assert arm.put(f"{ARM}/opt{ARM_VERSION}", json=body).status_code == 201
        sim.advance(hours=1)
        request = {"messages": [{"role": "user", "content": "hi"}], "stream": True}
        if options is not None:
            request["stream_options"] = options
        with TestClient(sim.app, base_url=ENDPOINT, headers={"api-key": "az-opt"}) as http:
            raw = http.post("/openai/deployments/opt/chat/completions?api-version=2024-10-21", json=request).text
            refused = http.post("/openai/deployments/opt/chat/completions?api-version=2024-10-21",
                                json={**request, "stream_options": {"include_usage": "sometimes"}})
        assert ('"usage":{' in raw) is asked and refused.status_code == 400
        assert _lines(sim, "az-opt")[("inference", "opt")].tokens.output > 0  # billed either way
