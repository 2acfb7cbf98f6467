"""The Azure OpenAI data plane (issue 16): `AzureOpenAI` against the same world, in-process, over HTTP, mocked.

An Azure account is a tenant like an OpenAI organization: same services, its own id formats and names, and
nothing shared with the OpenAI organization of the same key string.
"""

from __future__ import annotations

import io
import json
import re

import httpx
import openai
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ftsim.api.http.app import create_app
from ftsim.api.http.azure import training_type_of
from ftsim.api.testing.simulator import DEFAULT_API_KEY, Simulator
from ftsim.api.testing.transport import http_client
from ftsim.simulator.core import dialect
from ftsim.simulator.core.backend import Backend

ENDPOINT = "https://contoso.openai.azure.com"
VERSION = "2025-04-01-preview"
MODEL = "gpt-4.1-mini-2025-04-14"
HEX32 = "[0-9a-f]{32}"
pytestmark = [pytest.mark.sdk1, pytest.mark.sdk2]  # AzureOpenAI exists in openai 1.x and 2.x: run there too


def _rows(n: int = 12) -> bytes:
    return "".join(json.dumps({"messages": [{"role": "user", "content": f"question {i}"},
                                            {"role": "assistant", "content": f"answer {i}"}]}) + "\n"
                   for i in range(n)).encode()


def _pipeline(client: openai.AzureOpenAI, run) -> dict:
    """Upload, create with GlobalStandard, run to the end on the manual clock, read events and checkpoints."""
    f = client.files.create(file=("train.jsonl", io.BytesIO(_rows())), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=f.id, suffix="support",
                                         extra_body={"trainingType": "GlobalStandard"})
    assert job.status == "pending"  # Azure's status for a job not yet running (Microsoft's FineTuningState)
    run(job.id)
    done = client.fine_tuning.jobs.retrieve(job.id)
    events = client.fine_tuning.jobs.list_events(job.id, limit=5)
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id)
    return {"file": f, "job": job, "done": done, "events": events.data, "checkpoints": checkpoints.data}


def _check_azure_shapes(out: dict) -> None:
    f, job, done = out["file"], out["job"], out["done"]
    assert re.fullmatch("file-" + HEX32, f.id)
    assert re.fullmatch("ftjob-" + HEX32, job.id)
    assert job.organization_id is None and done.organization_id is None
    assert done.status == "succeeded"
    assert done.fine_tuned_model == f"{MODEL}.ft-{job.id.removeprefix('ftjob-')}-support"
    assert out["events"] and all(re.fullmatch("ftevent-" + HEX32, e.id) for e in out["events"])
    assert out["checkpoints"] and all(re.fullmatch("ftchkpt-" + HEX32, c.id) for c in out["checkpoints"])
    names = [c.fine_tuned_model_checkpoint for c in out["checkpoints"]]
    assert names[0] == done.fine_tuned_model  # the final checkpoint is the model itself
    assert all(re.fullmatch(re.escape(done.fine_tuned_model) + r":ckpt-step-\d+", n) for n in names[1:])


def test_azure_pipeline_in_process() -> None:
    with Simulator() as sim:
        client = sim.azure_client(endpoint=ENDPOINT, api_version=VERSION, api_key="az-key")
        out = _pipeline(client, sim.run_until_complete)
        _check_azure_shapes(out)
        tenant = dialect_tenant(sim, "az-key")
        assert training_type_of(sim.backend, tenant, out["job"].id) == "GlobalStandard"


def dialect_tenant(sim: Simulator, key: str):
    from ftsim.simulator.core.tenancy import azure_tenant
    return azure_tenant(sim.backend.tenancy, key)


def test_azure_pipeline_over_http() -> None:
    """The same pipeline through the ASGI app as a server answers it (Starlette's TestClient, real HTTP framing)."""
    backend = Backend()
    app = create_app(backend)
    with TestClient(app, base_url=ENDPOINT + "/openai") as http:
        client = openai.AzureOpenAI(azure_endpoint=ENDPOINT, api_version=VERSION, api_key="az-http",
                                    http_client=http)

        def run(job_id: str) -> None:
            for _ in range(400):
                backend.advance(3600)
                if client.fine_tuning.jobs.retrieve(job_id).status in ("succeeded", "failed", "cancelled"):
                    return
            raise AssertionError("job did not finish")

        _check_azure_shapes(_pipeline(client, run))


def test_v1_path_and_versioned_path_reach_the_same_account() -> None:
    with Simulator() as sim:
        azure = sim.azure_client(endpoint=ENDPOINT, api_key="az-both")
        f = azure.files.create(file=("t.jsonl", io.BytesIO(_rows())), purpose="fine-tune")
        v1 = openai.OpenAI(base_url=ENDPOINT + "/openai/v1", api_key="az-both",
                           http_client=http_client(sim.app, base_url=ENDPOINT + "/openai/v1"))
        assert [x.id for x in v1.files.list()] == [f.id]
        assert v1.files.retrieve(f.id).id == f.id
        assert v1.files.content(f.id).content == _rows()


def test_entra_bearer_token_is_an_opaque_key() -> None:
    with Simulator() as sim:
        by_key = sim.azure_client(endpoint=ENDPOINT, api_key="entra-token-1")
        by_token = sim.azure_client(endpoint=ENDPOINT, azure_ad_token="entra-token-1")
        f = by_key.files.create(file=("t.jsonl", io.BytesIO(_rows())), purpose="fine-tune")
        assert [x.id for x in by_token.files.list()] == [f.id]


def test_isolation_between_azure_account_and_openai_org_of_the_same_key() -> None:
    with Simulator() as sim:
        azure = sim.azure_client(endpoint=ENDPOINT, api_key=DEFAULT_API_KEY)
        oai = sim.client(api_key=DEFAULT_API_KEY)
        af = azure.files.create(file=("t.jsonl", io.BytesIO(_rows())), purpose="fine-tune")
        of = oai.files.create(file=("t.jsonl", io.BytesIO(_rows())), purpose="fine-tune")
        assert re.fullmatch("file-" + HEX32, af.id) and not re.fullmatch("file-" + HEX32, of.id)
        aj = azure.fine_tuning.jobs.create(model=MODEL, training_file=af.id)
        oj = oai.fine_tuning.jobs.create(model=MODEL, training_file=of.id)
        assert [j.id for j in azure.fine_tuning.jobs.list()] == [aj.id]
        assert [j.id for j in oai.fine_tuning.jobs.list()] == [oj.id]
        assert [x.id for x in azure.files.list()] == [af.id]
        with pytest.raises(openai.NotFoundError):
            oai.fine_tuning.jobs.retrieve(aj.id)
        with pytest.raises(openai.NotFoundError):
            azure.fine_tuning.jobs.retrieve(oj.id)
        with pytest.raises(openai.NotFoundError):
            azure.files.retrieve(of.id)
        with pytest.raises(openai.BadRequestError):  # another tenant's file is not a training file here
            azure.fine_tuning.jobs.create(model=MODEL, training_file=of.id)
        assert oai.fine_tuning.jobs.retrieve(oj.id).organization_id is not None  # OpenAI's form unchanged


def test_cancel_pause_resume_and_delete_through_azure() -> None:
    with Simulator() as sim:
        client = sim.azure_client(endpoint=ENDPOINT, api_key="az-ops")
        f = client.files.create(file=("t.jsonl", io.BytesIO(_rows(200))), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model=MODEL, training_file=f.id,
                                             extra_body={"trainingType": "developerTier"})
        for _ in range(100):
            sim.advance(minutes=1)
            if client.fine_tuning.jobs.retrieve(job.id).status == "running":
                break
        assert client.fine_tuning.jobs.pause(job.id).status == "paused"
        assert client.fine_tuning.jobs.resume(job.id).status == "pending"  # queued again: Azure says pending
        cancelled = client.fine_tuning.jobs.cancel(job.id)
        assert cancelled.status == "cancelled" and cancelled.organization_id is None
        assert training_type_of(sim.backend, dialect_tenant(sim, "az-ops"), job.id) == "DeveloperTier"
        assert client.files.delete(f.id).deleted is True
        with pytest.raises(openai.NotFoundError):
            client.files.retrieve(f.id)


def test_training_type_defaults_to_standard_and_bad_values_are_400() -> None:
    with Simulator() as sim:
        client = sim.azure_client(endpoint=ENDPOINT, api_key="az-tt")
        f = client.files.create(file=("t.jsonl", io.BytesIO(_rows())), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model=MODEL, training_file=f.id)
        assert training_type_of(sim.backend, dialect_tenant(sim, "az-tt"), job.id) == "Standard"
        with pytest.raises(openai.BadRequestError) as err:
            client.fine_tuning.jobs.create(model=MODEL, training_file=f.id, extra_body={"trainingType": "Turbo"})
        assert err.value.body["code"] == "invalidPayload" and err.value.body["param"] == "trainingType"
        with pytest.raises(openai.BadRequestError) as err:
            client.fine_tuning.jobs.create(model=MODEL, training_file=f.id, suffix="v1.2")
        assert err.value.body["param"] == "suffix" and err.value.body["code"]
        assert len(client.fine_tuning.jobs.list().data) == 1


def test_gateway_errors_use_azures_envelope() -> None:
    app = create_app(Backend())
    with TestClient(app, base_url=ENDPOINT) as http:
        no_version = http.get("/openai/files", headers={"api-key": "k"})
        assert no_version.status_code == 404
        assert no_version.json() == {"error": {"code": "404", "message": "Resource not found"}}
        unknown = http.get("/openai/v1/assistants", headers={"api-key": "k"})
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "404"
        no_key = http.get("/openai/files?api-version=" + VERSION)
        assert no_key.status_code == 401 and no_key.json()["error"]["code"] == "401"
        missing = http.get("/openai/fine_tuning/jobs/ftjob-" + "0" * 32 + "?api-version=" + VERSION,
                           headers={"api-key": "k"})
        assert missing.status_code == 404
        body = missing.json()["error"]
        assert set(body) >= {"code", "message"} and body["code"]
        assert http.get("/openai/v1/files", headers={"api-key": "k"}).json()["data"] == []


def test_strict_keys_refuse_an_unknown_azure_key() -> None:
    from ftsim.simulator.core.backend import SimConfig
    from ftsim.simulator.core.tenancy import tenant_from_spec
    keys = {"az-known": tenant_from_spec({"org_id": "azure-contoso"})}
    app = create_app(Backend(config=SimConfig(keys=keys, strict_keys=True)))
    with TestClient(app, base_url=ENDPOINT) as http:
        assert http.get("/openai/v1/files", headers={"api-key": "az-known"}).status_code == 200
        refused = http.get("/openai/v1/files", headers={"api-key": "az-other"})
        assert refused.status_code == 401 and "invalid subscription key" in refused.json()["error"]["message"]


def test_mock_serves_any_azure_endpoint() -> None:
    with Simulator() as sim, sim.mock():
        client = openai.AzureOpenAI(azure_endpoint="https://fabrikam.openai.azure.com", api_version=VERSION,
                                    api_key="az-mock", max_retries=0)
        f = client.files.create(file=("t.jsonl", io.BytesIO(_rows())), purpose="fine-tune")
        assert re.fullmatch("file-" + HEX32, f.id)
        assert [x.id for x in sim.azure_client(api_key="az-mock").files.list()] == [f.id]


@settings(max_examples=50, deadline=None)
@given(key=st.text(min_size=1, max_size=40).filter(lambda k: k.strip() == k and k and not any(c.isspace() for c in k)))
def test_every_key_names_an_azure_account_apart_from_its_openai_org(key: str) -> None:
    backend = Backend()
    from ftsim.simulator.core.tenancy import azure_tenant
    az = azure_tenant(backend.tenancy, key)
    assert az is not None and dialect.is_azure(az)
    assert az.key != backend.tenant(key).key and not dialect.is_azure(backend.tenant(key))
    assert azure_tenant(backend.tenancy, key) == az  # stable


@given(hex_id=st.text("0123456789abcdef", min_size=32, max_size=32),
       suffix=st.none() | st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True),
       step=st.integers(1, 10_000))
def test_azure_names_follow_the_job_id(hex_id: str, suffix: str | None, step: int) -> None:
    job_id = "ftjob-" + hex_id
    name = dialect.model_name(MODEL, suffix, job_id)
    assert name == f"{MODEL}.ft-{hex_id}" + (f"-{suffix}" if suffix else "")
    assert dialect.checkpoint_name(MODEL, suffix, job_id, step) == f"{name}:ckpt-step-{step}"
    assert re.fullmatch("ftevent-" + HEX32, dialect.event_id(job_id, step) or "")
    assert re.fullmatch("ftchkpt-" + HEX32, dialect.checkpoint_id(job_id, step) or "")
    # an OpenAI job id (24 base62) keeps OpenAI's forms
    assert dialect.model_name(MODEL, suffix, "ftjob-" + "A" * 24) is None
    assert dialect.event_id("ftjob-" + hex_id[:24], step) is None


def test_async_azure_client_reaches_the_same_account() -> None:
    import asyncio

    with Simulator() as sim:
        sync = sim.azure_client(api_key="az-async")
        f = sync.files.create(file=("t.jsonl", io.BytesIO(_rows())), purpose="fine-tune")

        async def main() -> list[str]:
            client = sim.async_azure_client(api_key="az-async")
            job = await client.fine_tuning.jobs.create(model=MODEL, training_file=f.id,
                                                       extra_body={"trainingType": "GlobalStandard"})
            return [job.id, *(j.id for j in (await client.fine_tuning.jobs.list()).data)]

        job_id, *listed = asyncio.run(main())
        assert re.fullmatch("ftjob-" + HEX32, job_id) and listed == [job_id]


ARM_PATH = "/subscriptions/s/resourceGroups/r/providers/Microsoft.CognitiveServices/accounts/a/deployments"
_SEGMENT = st.text(st.characters(codec="ascii", exclude_characters="/?#%"), min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@example(prefix="/openai", rest=["."], method="GET", version=None, key=None, body=None)  # the client makes it /openai
@given(prefix=st.sampled_from(["/openai/v1", "/openai", "/openai/deployments", ARM_PATH, ARM_PATH + "/d"]),
       rest=st.lists(_SEGMENT, min_size=1, max_size=4),
       method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
       version=st.none() | st.text(st.characters(codec="ascii", exclude_characters="&#%"), max_size=20),
       key=st.none() | st.sampled_from(["k1", "k2"]),
       body=st.none() | st.binary(max_size=200))
def test_fuzzed_azure_requests_never_5xx_and_answer_azures_envelope(prefix, rest, method, version, key, body):
    from urllib.parse import quote

    app = _FUZZ_APP
    path = prefix + "/" + "/".join(quote(s, safe="") for s in rest)
    if version is not None:
        path += "?api-version=" + quote(version, safe="")
    headers = {"api-key": key} if key else {}
    with TestClient(app, base_url=ENDPOINT) as http:
        r = http.request(method, path, headers=headers, content=body)
    assert r.status_code < 500, (method, path, r.text)
    if r.status_code >= 400:
        err = r.json()["error"]
        assert isinstance(err["code"], str) and err["code"] and isinstance(err["message"], str), (method, path, r.text)


_FUZZ_APP = create_app(Backend())


def test_uploads_through_azure_make_an_azure_file() -> None:
    with Simulator() as sim:
        client = sim.azure_client(api_key="az-up")
        data = _rows()
        up = client.uploads.create(bytes=len(data), filename="t.jsonl", mime_type="text/jsonl", purpose="fine-tune")
        part = client.uploads.parts.create(up.id, data=data)
        done = client.uploads.complete(up.id, part_ids=[part.id])
        assert done.status == "completed" and re.fullmatch("file-" + HEX32, done.file.id)
        assert [f.id for f in client.files.list()] == [done.file.id]
        assert sim.client(api_key="az-up").files.list().data == []  # the OpenAI org of the same key sees nothing


def test_azure_fine_tunes_only_its_catalog_models_methods_and_tiers() -> None:
    with Simulator() as sim:
        client = sim.azure_client(api_key="az-cat")
        f = client.files.create(file=("t.jsonl", io.BytesIO(_rows())), purpose="fine-tune")
        refusals = [
            dict(model="gpt-4.1-mini"),  # an alias: Azure names the snapshot
            dict(model="gpt-3.5-turbo-0125"),  # not in Azure's catalog entries
            dict(model="gpt-4o-mini-2024-07-18", method={"type": "dpo", "dpo": {}}),  # SFT only there
        ]
        for kwargs in refusals:
            with pytest.raises(openai.BadRequestError) as err:
                client.fine_tuning.jobs.create(training_file=f.id, **kwargs)
            assert err.value.body["code"] == "invalidPayload", kwargs
        assert client.fine_tuning.jobs.list().data == []  # nothing was created
        ok = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=f.id,
                                            extra_body={"trainingType": "developerTier"})
        assert ok.model == "gpt-4o-mini-2024-07-18"


def test_azure_training_dates_not_openais_wind_down() -> None:
    """After OpenAI stops all new jobs (2027-01-06) an Azure account keeps training gpt-4.1-mini until 2027-04-14
    (existing customers), under the enforcing lifecycle; an OpenAI organization is refused."""
    import calendar
    import datetime as dt

    def at(day: str) -> int:
        return calendar.timegm(dt.date.fromisoformat(day).timetuple())

    with Simulator(lifecycle="enforce", start=at("2027-02-01")) as sim:
        azure, oai = sim.azure_client(api_key="k"), sim.client(api_key="k")
        af = azure.files.create(file=("t.jsonl", io.BytesIO(_rows())), purpose="fine-tune")
        of = oai.files.create(file=("t.jsonl", io.BytesIO(_rows())), purpose="fine-tune")
        assert azure.fine_tuning.jobs.create(model=MODEL, training_file=af.id).status == "pending"
        with pytest.raises((openai.BadRequestError, openai.PermissionDeniedError)):
            oai.fine_tuning.jobs.create(model=MODEL, training_file=of.id)
        sim.backend.clock.set(at("2027-04-14"))
        with pytest.raises(openai.BadRequestError) as err:
            azure.fine_tuning.jobs.create(model=MODEL, training_file=af.id)
        assert "2027-04-14" in err.value.body["message"]


ARM = ("/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.CognitiveServices/accounts/contoso/"
       "deployments")
ARM_VERSION = "?api-version=2024-10-21"


def _tuned(sim: Simulator, key: str) -> tuple[openai.AzureOpenAI, str]:
    client = sim.azure_client(endpoint=ENDPOINT, api_key=key)
    out = _pipeline(client, sim.run_until_complete)
    return client, out["done"].fine_tuned_model


def _deploy_body(model: str, sku: str = "Standard") -> dict:
    return {"sku": {"name": sku, "capacity": 1}, "properties": {"model": {"format": "OpenAI", "name": model,
                                                                          "version": "1"}}}


def test_deploy_call_and_delete_a_tuned_model() -> None:
    with Simulator() as sim:
        client, model = _tuned(sim, "az-dep")
        with TestClient(sim.app, base_url="https://management.azure.com",
                        headers={"Authorization": "Bearer az-dep"}) as arm:
            created = arm.put(f"{ARM}/support{ARM_VERSION}", json=_deploy_body(model))
            assert created.status_code == 201, created.text
            body = created.json()
            assert body["name"] == "support" and body["id"] == f"{ARM}/support"
            assert body["properties"]["provisioningState"] == "Creating"
            assert body["properties"]["model"]["name"] == model and body["sku"]["name"] == "Standard"
            with pytest.raises(openai.NotFoundError) as err:  # still provisioning
                client.chat.completions.create(model="support", messages=[{"role": "user", "content": "hi"}])
            assert err.value.body["code"] == "DeploymentNotFound"
            sim.advance(minutes=10)
            assert arm.get(f"{ARM}/support{ARM_VERSION}").json()["properties"]["provisioningState"] == "Succeeded"
            assert [d["name"] for d in arm.get(ARM + ARM_VERSION).json()["value"]] == ["support"]
            answer = client.chat.completions.create(model="support", messages=[{"role": "user", "content": "hi"}])
            assert answer.choices[0].message.content
            v1 = openai.OpenAI(base_url=ENDPOINT + "/openai/v1", api_key="az-dep",
                               http_client=http_client(sim.app, base_url=ENDPOINT + "/openai/v1"))
            again = v1.chat.completions.create(model="support", messages=[{"role": "user", "content": "hi"}])
            assert again.choices[0].message.content == answer.choices[0].message.content  # deterministic
            assert arm.put(f"{ARM}/support{ARM_VERSION}", json=_deploy_body(model)).status_code == 200  # update
            assert arm.delete(f"{ARM}/support{ARM_VERSION}").status_code == 200
            assert arm.delete(f"{ARM}/support{ARM_VERSION}").status_code == 204
            assert arm.get(f"{ARM}/support{ARM_VERSION}").json()["error"]["code"] == "DeploymentNotFound"
            with pytest.raises(openai.NotFoundError):
                client.chat.completions.create(model="support", messages=[{"role": "user", "content": "hi"}])


def test_only_the_accounts_own_tuned_models_deploy_and_arm_errors() -> None:
    with Simulator() as sim:
        _, model = _tuned(sim, "az-own")
        with TestClient(sim.app, base_url="https://management.azure.com") as arm:
            other = {"api-key": "az-other"}
            refused = arm.put(f"{ARM}/x{ARM_VERSION}", json=_deploy_body(model), headers=other)
            assert refused.status_code == 400 and refused.json()["error"]["code"] == "DeploymentModelNotSupported"
            base = arm.put(f"{ARM}/x{ARM_VERSION}", json=_deploy_body(MODEL), headers={"api-key": "az-own"})
            assert base.status_code == 400
            assert arm.get(f"{ARM}/x", headers=other).json()["error"]["code"] == "MissingApiVersionParameter"
            assert arm.get(f"{ARM}/x{ARM_VERSION}").status_code == 401
            bad = arm.put(f"{ARM}/x{ARM_VERSION}", content=b"{", headers={"api-key": "az-own"})
            assert bad.status_code == 400 and bad.json()["error"]["code"] == "InvalidRequestContent"
            sku = arm.put(f"{ARM}/x{ARM_VERSION}", json=_deploy_body(model, "Turbo"), headers={"api-key": "az-own"})
            assert sku.status_code == 400


def test_developer_deployments_end_after_24_hours_and_idle_ones_after_15_days() -> None:
    with Simulator() as sim:
        client, model = _tuned(sim, "az-life")
        with TestClient(sim.app, base_url="https://management.azure.com", headers={"api-key": "az-life"}) as arm:
            assert arm.put(f"{ARM}/dev{ARM_VERSION}", json=_deploy_body(model, "developerTier")).status_code == 201
            assert arm.put(f"{ARM}/std{ARM_VERSION}", json=_deploy_body(model, "GlobalStandard")).status_code == 201
            sim.advance(hours=23)
            for name in ("dev", "std"):
                client.chat.completions.create(model=name, messages=[{"role": "user", "content": "hi"}])
            sim.advance(hours=1)
            assert arm.get(f"{ARM}/dev{ARM_VERSION}").status_code == 404
            assert arm.get(f"{ARM}/std{ARM_VERSION}").status_code == 200
            sim.advance(days=14, hours=22)  # 15 days after the last call (at 23 h), less one hour
            assert arm.get(f"{ARM}/std{ARM_VERSION}").status_code == 200
            sim.advance(hours=1)
            assert arm.get(f"{ARM}/std{ARM_VERSION}").status_code == 404
        assert sim.backend.store.get("model", dialect_tenant(sim, "az-life").key, model) is not None  # kept


def test_azure_cost_training_by_tier_and_hosting_per_hour() -> None:
    from decimal import Decimal

    from ftsim.pricing.catalog.providers import load_providers

    azure = load_providers().azure
    with Simulator() as sim:
        client, model = _tuned(sim, "az-cost")  # GlobalStandard
        job = client.fine_tuning.jobs.list().data[0]
        with TestClient(sim.app, base_url="https://management.azure.com", headers={"api-key": "az-cost"}) as arm:
            arm.put(f"{ARM}/std{ARM_VERSION}", json=_deploy_body(model, "Standard"))
            arm.put(f"{ARM}/dev{ARM_VERSION}", json=_deploy_body(model, "DeveloperTier"))
            sim.advance(hours=10)
            assert arm.delete(f"{ARM}/std{ARM_VERSION}").status_code == 200
            sim.advance(hours=30)  # the Developer deployment ended at 24 h by itself
            cost = sim.azure_cost("az-cost")
            over_http = arm.get("/_sim/azure/cost").json()
        lines = {(ln.kind, ln.id): ln for ln in cost.lines}
        training = lines[("training", job.id)]
        price = azure.resolve(MODEL).training["global"]
        assert training.tier == "global" and training.quantity == job.trained_tokens
        assert training.usd == (Decimal(job.trained_tokens) * price / 1_000_000).quantize(Decimal("0.0001"))
        assert lines[("hosting", "std")].quantity == 10 and lines[("hosting", "std")].usd == 10 * azure.hosting_rate()
        assert lines[("hosting", "dev")].quantity == 24 and lines[("hosting", "dev")].usd == 0
        assert cost.total_usd == training.usd + 10 * azure.hosting_rate()
        assert Decimal(over_http["total_usd"]) == cost.total_usd
        assert sim.azure_cost("az-nobody").lines == []  # another account pays nothing of this


@settings(max_examples=25, deadline=None)
@given(key=st.from_regex(r"[A-Za-z0-9_-]{1,30}", fullmatch=True), strict=st.booleans())
def test_an_azure_accounts_mapped_key_sees_nothing_of_it_on_openais_paths(key: str, strict: bool) -> None:
    """Regression: a keys-file key mapped to an Azure account (`azure-...`) named that same account on the OpenAI
    surface, so `GET /v1/files` with it listed the Azure account's files (and strict keys let it in)."""
    from ftsim.simulator.core.backend import SimConfig
    from ftsim.simulator.core.tenancy import tenant_from_spec

    keys = {key: tenant_from_spec({"org_id": "azure-contoso"})}
    app = create_app(Backend(config=SimConfig(keys=keys, strict_keys=strict)))
    with TestClient(app, base_url=ENDPOINT) as http:
        made = http.post(f"/openai/files?api-version={VERSION}", headers={"api-key": key},
                         files={"file": ("t.jsonl", _rows())}, data={"purpose": "fine-tune"})
        assert made.status_code == 201
        seen = http.get("/v1/files", headers={"Authorization": f"Bearer {key}"})
        if strict:  # with strict keys, only the file's OpenAI keys open the OpenAI surface
            assert seen.status_code == 401 and seen.json()["error"]["code"] == "invalid_api_key"
        else:
            assert seen.status_code == 200 and seen.json()["data"] == []
        direct = http.get(f"/v1/files/{made.json()['id']}", headers={"Authorization": f"Bearer {key}"})
        assert direct.status_code == (401 if strict else 404)
        assert http.get(f"/openai/v1/files/{made.json()['id']}", headers={"api-key": key}).status_code == 200


_VERSIONS_APP = create_app(Backend())


@settings(max_examples=80, deadline=None)
@example(version="garbage")
@example(version="2025-13-45")
@example(version="1999-01-01")
@example(version="2025-04-01-previewx")
@given(version=st.text(st.characters(codec="ascii", exclude_characters="&#%+"), min_size=1, max_size=24)
       | st.dates().map(lambda d: d.isoformat() + "x"))
def test_a_malformed_or_unknown_api_version_is_refused_on_both_planes(version: str) -> None:
    """Regression: any non-empty api-version was served (`?api-version=garbage` listed the account's files, and the
    management plane took one too). Azure's gateway answers a version it does not serve 404 Resource not found;
    ARM a malformed one 400 InvalidApiVersionParameter."""
    from urllib.parse import quote

    import datetime as dt

    from ftsim.api.http.azure import api_version_ok

    good = re.fullmatch(r"\d{4}-\d{2}-\d{2}(-preview)?", version)
    try:
        date = dt.date.fromisoformat(version[:10]) if good is not None else None
    except ValueError:
        date = None
    real = date is not None and date >= dt.date(2022, 12, 1)  # the data plane's first version
    arm_real = date is not None and date >= dt.date(2016, 2, 1)  # CognitiveServices' first
    assert api_version_ok(version) is real
    q = "?api-version=" + quote(version, safe="")
    with TestClient(_VERSIONS_APP, base_url=ENDPOINT, headers={"api-key": "k-version"}) as http:
        data = http.get("/openai/files" + q)
        arm = http.get(ARM + q)
    if real:
        assert data.status_code == 200
    else:
        assert data.status_code == 404 and data.json() == {"error": {"code": "404", "message": "Resource not found"}}
    if arm_real:
        assert arm.status_code == 200
    else:
        assert arm.status_code == 400 and arm.json()["error"]["code"] == "InvalidApiVersionParameter"


def test_well_formed_api_versions_are_served() -> None:
    with TestClient(_VERSIONS_APP, base_url=ENDPOINT, headers={"api-key": "k-version"}) as http:
        for version in ("2024-10-21", "2025-04-01-preview", "2026-11-30-preview"):
            assert http.get(f"/openai/fine_tuning/jobs?api-version={version}").status_code == 200
        for version in ("2024-10-01", "2023-05-01", "2025-04-01-preview"):
            assert http.get(f"{ARM}?api-version={version}").status_code == 200
        for version in ("latest", "2024-10-1", "2024-02-30"):
            assert http.get(f"{ARM}?api-version={version}").json()["error"]["code"] == "InvalidApiVersionParameter"


@pytest.mark.parametrize("first,then", [("Standard", "DeveloperTier"), ("GlobalStandard", "Standard"),
                                        ("DeveloperTier", "GlobalStandard")])
def test_a_sku_change_bills_each_period_at_its_own_sku(first: str, then: str) -> None:
    """Regression: a PUT changing a live deployment's SKU re-billed its whole life at the new SKU, and a Standard
    deployment two days old moved to DeveloperTier was answered 200 then deleted at once (24 h after its creation,
    in the past), its two Standard days billed as 24 free Developer hours."""
    from decimal import Decimal

    from ftsim.pricing.catalog.providers import load_providers
    from ftsim.simulator.inference.deployments import SKUS

    azure = load_providers().azure
    fee = {sku: (azure.hosting_rate() if azure.tiers[tier].hosting else Decimal(0)) for sku, tier in SKUS.values()}
    first_hours = 20 if first == "DeveloperTier" else 48
    with Simulator() as sim:
        client, model = _tuned(sim, "az-sku")
        with TestClient(sim.app, base_url="https://management.azure.com", headers={"api-key": "az-sku"}) as arm:
            assert arm.put(f"{ARM}/d{ARM_VERSION}", json=_deploy_body(model, first)).status_code == 201
            sim.advance(hours=first_hours)
            client.chat.completions.create(model="d", messages=[{"role": "user", "content": "hi"}])
            moved = arm.put(f"{ARM}/d{ARM_VERSION}", json=_deploy_body(model, then))
            assert moved.status_code == 200 and moved.json()["properties"]["provisioningState"] == "Succeeded"
            sim.advance(hours=10)
            assert arm.get(f"{ARM}/d{ARM_VERSION}").status_code == 200  # serving still
            client.chat.completions.create(model="d", messages=[{"role": "user", "content": "hi"}])
        hosting = sorted((ln.quantity, ln.usd) for ln in sim.azure_cost("az-sku").lines if ln.kind == "hosting")
        expected = sorted([(Decimal(first_hours), first_hours * fee[first]), (Decimal(10), 10 * fee[then])])
        assert hosting == expected
        inference = [ln.tier for ln in sim.azure_cost("az-sku").lines if ln.kind == "inference"]
        assert sorted(inference) == sorted([SKUS[first.lower()][1], SKUS[then.lower()][1]])  # each at its tier


def test_a_new_model_provisions_again_and_its_hosting_keeps_the_old_period() -> None:
    from decimal import Decimal

    with Simulator() as sim:
        client, model = _tuned(sim, "az-model")
        other = _pipeline(client, sim.run_until_complete)["done"].fine_tuned_model
        with TestClient(sim.app, base_url="https://management.azure.com", headers={"api-key": "az-model"}) as arm:
            created = arm.put(f"{ARM}/m{ARM_VERSION}", json=_deploy_body(model)).json()
            sim.advance(hours=5)
            moved = arm.put(f"{ARM}/m{ARM_VERSION}", json=_deploy_body(other)).json()
            assert moved["properties"]["provisioningState"] == "Creating"
            assert moved["systemData"]["createdAt"] == created["systemData"]["createdAt"]
            sim.advance(hours=1)
            assert arm.get(f"{ARM}/m{ARM_VERSION}").json()["properties"]["provisioningState"] == "Succeeded"
        hosting = sorted(ln.quantity for ln in sim.azure_cost("az-model").lines if ln.kind == "hosting")
        assert hosting == [Decimal(1), Decimal(5)]


@settings(max_examples=60, deadline=None)
@example(method="OPTIONS", path=ARM + "/x")
@example(method="GET", path="/subscriptions")
@given(method=st.sampled_from(["OPTIONS", "TRACE", "PROPFIND", "GET", "PUT", "POST", "PATCH", "DELETE"])
       | st.from_regex(r"[A-Z]{3,10}", fullmatch=True),
       path=st.sampled_from(["/subscriptions", "/subscriptions/", ARM, ARM + "/x", ARM + "/x/y", "/subscriptions/s"]))
def test_every_method_on_the_management_plane_answers_arms_envelope(method: str, path: str) -> None:
    """Regression: OPTIONS (or any method the routes do not list) on a deployment, and `GET /subscriptions`,
    answered the OpenAI surface's error (`type`, `param`, `code: null`) instead of ARM's envelope."""
    with TestClient(_VERSIONS_APP, base_url="https://management.azure.com", headers={"api-key": "k-arm"}) as arm:
        r = arm.request(method, path + "?api-version=2024-10-01")
    assert r.status_code < 500
    if r.status_code >= 400 and method != "HEAD":
        err = r.json()["error"]
        assert set(err) == {"code", "message"} and isinstance(err["code"], str) and err["code"], (method, path, r.text)


@pytest.mark.parametrize("lifecycle", ["enforce", "warn"])
def test_deployments_live_by_azures_retirement_dates_not_openais(lifecycle: str) -> None:
    """Regression: with lifecycle `enforce`, an Azure deployment of a tuned gpt-4.1-mini stopped serving on OpenAI's
    date for tuned inference (2027-01-14: `model_not_found`, an OpenAI code) and never on Azure's (fine-tuned
    deployments of the gpt-4.1 family retire 2027-10-14, reference §2): it served, billed hosting and took new
    PUTs after it."""
    import datetime as dt
    from decimal import Decimal

    from ftsim.pricing.catalog.providers import load_providers

    retires = load_providers().azure.resolve(MODEL).deployment_until
    assert retires is not None
    at = int(dt.datetime(retires.year, retires.month, retires.day, tzinfo=dt.timezone.utc).timestamp())
    with Simulator(lifecycle=lifecycle) as sim:
        client, model = _tuned(sim, f"az-ret-{lifecycle}")
        with TestClient(sim.app, base_url="https://management.azure.com",
                        headers={"api-key": f"az-ret-{lifecycle}"}) as arm:
            assert arm.put(f"{ARM}/r{ARM_VERSION}", json=_deploy_body(model, "GlobalStandard")).status_code == 201
            start = sim.backend.now()
            sim.advance(hours=1)
            while sim.backend.now() + 10 * 86400 < at:  # a call every 10 days keeps it from idling out
                client.chat.completions.create(model="r", messages=[{"role": "user", "content": "hi"}])
                sim.advance(days=10)
            client.chat.completions.create(model="r", messages=[{"role": "user", "content": "hi"}])
            sim.advance(seconds=at - sim.backend.now() + 3600)  # one hour past the retirement
            if lifecycle == "warn":
                assert client.chat.completions.create(model="r", messages=[{"role": "user", "content": "hi"}])
                return
            with pytest.raises(openai.NotFoundError) as err:
                client.chat.completions.create(model="r", messages=[{"role": "user", "content": "hi"}])
            assert err.value.body["code"] == "DeploymentNotFound"
            assert arm.get(f"{ARM}/r{ARM_VERSION}").status_code == 404
            again = arm.put(f"{ARM}/s{ARM_VERSION}", json=_deploy_body(model, "GlobalStandard"))
            assert again.status_code == 400 and again.json()["error"]["code"] == "ServiceModelDeprecated"
        hosting = [ln for ln in sim.azure_cost(f"az-ret-{lifecycle}").lines if ln.kind == "hosting"]
        assert [ln.quantity for ln in hosting] == [(Decimal(at - start) / 3600).quantize(Decimal("0.0001"))]


def test_the_kit_azure_client_is_its_keys_account_whatever_token_the_environment_holds(monkeypatch):
    """openai 1.x and 2.x read AZURE_OPENAI_AD_TOKEN beside the kit's default key and sent the token instead: a
    token meant for the live service made `sim.azure_client()` another Azure account than its key's."""
    monkeypatch.delenv("AZURE_OPENAI_AD_TOKEN", raising=False)
    with Simulator() as sim:
        plain = sim.azure_client()
        monkeypatch.setenv("AZURE_OPENAI_AD_TOKEN", "a-live-entra-token")
        uploaded = sim.azure_client().files.create(file=("d.jsonl", _ftsim_kit_rows()), purpose="fine-tune")
        assert [f.id for f in plain.files.list()] == [uploaded.id]


def _ftsim_kit_rows() -> bytes:
    row = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    return (json.dumps(row) + "\n").encode() * 10
