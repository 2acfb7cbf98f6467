"""The console's account switch (issue 17: "the console shows both dialects"): the jobs, job, files, models and
faults pages show the key's Azure OpenAI account (with a keys file, the account the file maps the key to) as Azure
answers it, job actions work on Azure jobs, and no key ever sees another account's objects."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ftsim.api.http.app import create_app
from ftsim.api.http.console.routes import ACCOUNT_COOKIE, KEY_COOKIE, SWITCH_BACK, run_every_job
from ftsim.api.testing.simulator import Simulator
from ftsim.simulator.core.backend import Backend, SimConfig
from ftsim.simulator.core.tenancy import azure_tenant, tenant_from_spec
from tests.api.test_console import ALICE, BOB, PAGES, _login, _rows

AZURE_MODEL = "gpt-4.1-mini-2025-04-14"
OPENAI_MODEL = "gpt-4o-mini-2024-07-18"
AZURE_JOB = re.compile(r"ftjob-[0-9a-f]{32}")


def _switch(console: TestClient, account: str, back: str = "/console/jobs") -> None:
    resp = console.post("/console/account", data={"account": account, "next": back}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == back, resp.text


def _azure_job(sim: Simulator, key: str = ALICE, training_type: str = "GlobalStandard", **extra) -> str:
    client = sim.azure_client(api_key=key)
    f = client.files.create(file=("azure-train.jsonl", io.BytesIO(_rows(12))), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=AZURE_MODEL, training_file=f.id,
                                         extra_body={"trainingType": training_type}, **extra)
    assert AZURE_JOB.fullmatch(job.id)
    return job.id


def _openai_job(sim: Simulator, key: str = ALICE) -> str:
    client = sim.client(api_key=key)
    f = client.files.create(file=("openai-train.jsonl", io.BytesIO(_rows(12))), purpose="fine-tune")
    return client.fine_tuning.jobs.create(model=OPENAI_MODEL, training_file=f.id).id


def _options(page: str) -> list[tuple[str, str]]:
    form = re.search(r'<form class="switch".*?</form>', page, re.S).group(0)
    return re.findall(r'<option value="([^"]+)"[^>]*>([^<]+)</option>', form)


@pytest.fixture
def sim():
    with Simulator(console=True) as s:
        yield s


def test_the_switch_offers_the_keys_organization_and_its_azure_account_and_shows_each(sim):
    openai_job, azure_job = _openai_job(sim), _azure_job(sim)
    console = _login(TestClient(sim.app))
    page = console.get("/console/jobs").text
    org, account = sim.backend.tenant(ALICE).org_id, azure_tenant(sim.backend.tenancy, ALICE).org_id
    assert _options(page) == [("openai", f"OpenAI organization {org}"), ("azure", f"Azure account {account}")]
    assert '<label for="account">Account</label>' in page and '<option value="openai" selected>' in page
    assert openai_job in page and azure_job not in page

    _switch(console, "azure")
    page = console.get("/console/jobs").text
    assert f'Azure account <strong id="tenant">{account}</strong>' in page and "<h1>Azure fine-tuning jobs</h1>" in page
    assert azure_job in page and openai_job not in page
    assert '<option value="azure" selected>' in page
    files = console.get("/console/files").text
    assert "azure-train.jsonl" in files and "openai-train.jsonl" not in files

    _switch(console, "openai", back="/console/files")  # back to the same section
    assert "openai-train.jsonl" in console.get("/console/files").text
    assert azure_job not in console.get("/console/jobs").text


def test_the_switch_goes_back_only_to_a_list_page_and_refuses_other_accounts(sim):
    console = _login(TestClient(sim.app))
    resp = console.post("/console/account", data={"account": "azure", "next": "https://evil.example/"},
                        follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/console/jobs"
    other = azure_tenant(sim.backend.tenancy, BOB).org_id
    for bad in (other, "azure-nope", "", "org-x"):
        refused = console.post("/console/account", data={"account": bad})
        assert refused.status_code == 400 and "No account" in refused.text
    assert console.cookies.get(ACCOUNT_COOKIE) == "azure"  # unchanged by the refusals
    cross = console.post("/console/account", data={"account": "openai"}, headers={"origin": "http://evil.example"})
    assert cross.status_code == 403
    assert TestClient(sim.app).post("/console/account", data={"account": "azure"}).status_code == 401  # no key


def test_choosing_a_key_shows_its_organization_first(sim):
    console = _login(TestClient(sim.app))
    _switch(console, "azure")
    _login(console, BOB)
    assert console.cookies.get(ACCOUNT_COOKIE) is None
    assert f'Organization <strong id="tenant">{sim.backend.tenant(BOB).org_id}</strong>' in \
        console.get("/console/jobs").text


def test_azure_jobs_show_azures_statuses_filters_and_bill(sim):
    job_id = _azure_job(sim)
    console = _login(TestClient(sim.app))
    _switch(console, "azure")
    page = console.get("/console/jobs").text
    assert '<span class="badge pending">pending</span>' in page  # as AzureOpenAI reads it
    assert sim.azure_client(api_key=ALICE).fine_tuning.jobs.retrieve(job_id).status == "pending"
    assert '<option value="pending">' in page and 'value="validating_files"' not in page
    assert '<th scope="col">Billed so far</th>' in page and 'id="azure-bill"' in page
    assert job_id in console.get("/console/jobs/rows?status=pending").text
    assert job_id not in console.get("/console/jobs/rows?status=running").text
    assert console.get("/console/jobs?status=validating_files").status_code == 400
    assert console.get("/console/jobs/rows?status=queued").status_code == 400

    run_every_job(sim.backend)
    bill = sim.azure_cost(ALICE)
    assert bill.total_usd > 0
    rows = console.get("/console/jobs/rows").text
    assert '<span class="badge succeeded">' in rows
    money = f"${bill.total_usd.quantize(Decimal('0.0001'))}"
    assert re.search(r'<p id="azure-bill">Azure bill so far: <strong>([^<]+)</strong>', rows).group(1) == money
    assert f"<td>{money}</td></tr>" in rows  # the job's column: its only charge


def test_an_azure_job_page_shows_its_run_events_checkpoints_and_azure_bill(sim):
    job_id = _azure_job(sim, suffix="bot")
    console = _login(TestClient(sim.app))
    _switch(console, "azure")
    first = console.get(f"/console/jobs/{job_id}")
    assert first.status_code == 200 and "<dt>Training type</dt><dd>GlobalStandard</dd>" in first.text
    assert 'id="job-status"><span class="badge pending">' in first.text
    assert "Nothing billed yet" in first.text

    for _ in range(200):  # until it trains: a job's running page projects its bill
        sim.advance(seconds=30)
        live = console.get(f"/console/jobs/{job_id}/live").text
        if 'class="badge running"' in live and "<dt>Training (global)</dt>" in live:
            break
    projected = re.search(r"<dt>Bill once every step is trained</dt><dd>([^<]+)</dd>", live).group(1)
    assert 'svg' in live and 'id="chart-loss"' in live

    run_every_job(sim.backend)
    done = console.get(f"/console/jobs/{job_id}/live").text
    (line,) = sim.azure_cost(ALICE).lines
    assert line.kind == "training" and line.tier == "global"
    assert re.search(r"<dt>Billed so far \(Azure\)</dt><dd>([^<]+)</dd>", done).group(1) == f"${line.usd}"
    assert f"<dt>Training (global)</dt><dd>{line.quantity:,} tokens · ${line.usd}</dd>" in done
    assert projected == f"${line.usd}"  # the projection was the bill the job ended with
    assert "Bill once every step is trained" not in done  # nothing left to project
    model = sim.azure_client(api_key=ALICE).fine_tuning.jobs.retrieve(job_id).fine_tuned_model
    assert model.startswith(f"{AZURE_MODEL}.ft-") and model in done
    assert re.search(r'<table id="checkpoints">.*?:ckpt-step-\d+', done, re.S)
    events = sim.azure_client(api_key=ALICE).fine_tuning.jobs.list_events(job_id, limit=100).data
    assert all(e.message in done for e in events if e.type == "message")


def test_an_azure_job_without_an_azure_price_shows_the_planners_estimate_labelled(sim):
    """A job created in-process on a model Azure does not tune (no Azure price): OpenAI's estimate, said so."""
    tenant = azure_tenant(sim.backend.tenancy, ALICE)
    f = sim.backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[_rows(12)])
    job = sim.backend.jobs.create(tenant, model="gpt-3.5-turbo-0125", training_file=f.id)
    console = _login(TestClient(sim.app))
    _switch(console, "azure")
    page = console.get(f"/console/jobs/{job.id}").text
    assert "<dt>Planner estimate (OpenAI list prices)</dt>" in page
    assert "Azure publishes no price for this model" in page and "Billed so far (Azure)" not in page


def test_job_actions_work_on_an_azure_job(sim):
    job_id = _azure_job(sim)
    azure = sim.azure_client(api_key=ALICE)
    console = _login(TestClient(sim.app))
    _switch(console, "azure")
    sim.advance(minutes=1)
    paused = console.post(f"/console/jobs/{job_id}/pause").text
    assert 'class="badge paused"' in paused and azure.fine_tuning.jobs.retrieve(job_id).status == "paused"
    console.post(f"/console/jobs/{job_id}/resume")
    assert azure.fine_tuning.jobs.retrieve(job_id).status in ("pending", "running")
    cancelled = console.post(f"/console/jobs/{job_id}/cancel").text
    assert 'class="badge cancelled"' in cancelled and azure.fine_tuning.jobs.retrieve(job_id).status == "cancelled"

    failing = _azure_job(sim)
    resp = console.post(f"/console/jobs/{failing}/fail", data={"step": "2"})
    assert resp.status_code == 200 and "fails at step 2" in resp.text
    assert [(r.kind, r.step, r.job_id) for r in sim.backend.faults.list(api_key=ALICE)] == [("job", 2, failing)]
    assert failing in console.get("/console/faults").text
    run_every_job(sim.backend)
    assert azure.fine_tuning.jobs.retrieve(failing).status == "failed"
    assert 'class="badge failed"' in console.get(f"/console/jobs/{failing}/live").text


def test_the_azure_models_page_lists_and_deletes_the_accounts_tuned_models(sim):
    job_id = _azure_job(sim)
    _openai_job(sim)
    run_every_job(sim.backend)
    console = _login(TestClient(sim.app))
    openai_models = re.findall(r'<span class="mono">([^<]+)</span>', console.get("/console/models").text)
    assert openai_models and all(m.startswith("ft:") for m in openai_models)
    _switch(console, "azure", back="/console/models")
    page = console.get("/console/models").text
    tuned = re.findall(r'<span class="mono">([^<]+)</span>', page)
    final = sim.azure_client(api_key=ALICE).fine_tuning.jobs.retrieve(job_id).fine_tuned_model
    assert final in tuned and any(m.startswith(final + ":ckpt-step-") for m in tuned)
    assert not any(m.startswith("ft:") for m in tuned) and AZURE_MODEL not in tuned  # no base model
    deleted = console.post(f"/console/models/{final}/delete")
    assert deleted.status_code == 200 and f"Deleted {final}." in deleted.text
    account = azure_tenant(sim.backend.tenancy, ALICE)
    assert final not in {m["id"] for m in sim.backend.models.list(account)["data"]}


def test_the_azure_file_page_previews_the_accounts_file(sim):
    _azure_job(sim)
    console = _login(TestClient(sim.app))
    _switch(console, "azure", back="/console/files")
    file_id = re.search(r'href="/console/files/(file-[0-9a-f]{32})"', console.get("/console/files").text).group(1)
    page = console.get(f"/console/files/{file_id}")
    assert page.status_code == 200 and "question 0" in page.text and "Validation and token statistics" in page.text
    _switch(console, "openai")
    assert console.get(f"/console/files/{file_id}").status_code == 404  # the organization has no such file


def test_a_key_never_sees_another_azure_accounts_objects(sim):
    job_id = _azure_job(sim)
    run_every_job(sim.backend)
    final = sim.azure_client(api_key=ALICE).fine_tuning.jobs.retrieve(job_id).fine_tuned_model
    file_id = sim.azure_client(api_key=ALICE).files.list().data[0].id
    alice = _login(TestClient(sim.app))
    alice.post("/console/jobs/" + job_id + "/fail", data={"step": "1"})  # refused quietly or not: Alice's own rule
    bob = _login(TestClient(sim.app), BOB)
    _switch(bob, "azure")
    for path in ("/console/jobs", "/console/jobs/rows", "/console/files", "/console/models", "/console/faults",
                 "/console/azure/deployments"):
        text = bob.get(path).text
        assert job_id not in text and final not in text and file_id not in text, path
    for path in (f"/console/jobs/{job_id}", f"/console/jobs/{job_id}/live", f"/console/files/{file_id}"):
        assert bob.get(path).status_code == 404, path
    for action in ("cancel", "pause", "resume"):
        assert bob.post(f"/console/jobs/{job_id}/{action}").status_code == 404
    assert bob.post(f"/console/jobs/{job_id}/fail", data={"step": "2"}).status_code == 404
    assert bob.post(f"/console/models/{final}/delete").status_code == 404
    # and the same key's OpenAI organization does not see its Azure account's objects either
    assert alice.get(f"/console/jobs/{job_id}").status_code == 404
    assert alice.post(f"/console/models/{final}/delete").status_code == 404
    assert final in {m["id"] for m in sim.backend.models.list(azure_tenant(sim.backend.tenancy, ALICE))["data"]}


KEYS = {ALICE: {"org_id": "org-alice"}, "sk-contoso-01": {"org_id": "azure-contoso", "org_slug": "contoso"},
        "sk-fabrikam-01": {"org_id": "azure-fabrikam"}}


@pytest.fixture
def strict():
    """A server accepting only KEYS (`ftsim serve --keys FILE --strict-keys`)."""
    backend = Backend(config=SimConfig(keys={k: tenant_from_spec(v) for k, v in KEYS.items()}, strict_keys=True))
    yield backend, TestClient(create_app(backend))
    backend.close()


def _azure_job_over_http(client: TestClient, key: str) -> str:
    auth = {"api-key": key}
    f = client.post("/openai/v1/files", headers=auth, files={"file": ("azure-train.jsonl", _rows(12))},
                    data={"purpose": "fine-tune"}).json()
    job = client.post("/openai/v1/fine_tuning/jobs", headers=auth,
                      json={"model": AZURE_MODEL, "training_file": f["id"], "trainingType": "GlobalStandard"}).json()
    return job["id"]


def test_with_a_keys_file_an_azure_account_is_opened_by_its_own_key(strict):
    """A keys file's Azure account is shown to a console signed in with one of its keys, and to no other key: the
    switch of Alice's key (strict keys: no Azure account of its own) offers her organization alone."""
    backend, console = strict
    job_id = _azure_job_over_http(console, "sk-contoso-01")
    assert AZURE_JOB.fullmatch(job_id)
    _login(console)
    page = console.get("/console/jobs").text
    assert _options(page) == [("openai", "OpenAI organization org-alice")]
    assert "azure-contoso" not in page and "azure-fabrikam" not in page and "sk-contoso" not in page
    for account in ("azure", "azure-contoso"):
        assert console.post("/console/account", data={"account": account}).status_code == 400
    assert console.get(f"/console/jobs/{job_id}").status_code == 404

    _login(console, "sk-contoso-01")  # strict keys: the key names its Azure account only, shown at once
    page = console.get("/console/jobs").text
    assert _options(page) == [("azure", "Azure account azure-contoso")]
    assert 'Azure account <strong id="tenant">azure-contoso</strong>' in page and job_id in page
    assert "sk-contoso" not in page
    backend.advance(60)
    assert console.post(f"/console/jobs/{job_id}/pause").status_code == 200
    status = console.get(f"/openai/v1/fine_tuning/jobs/{job_id}", headers={"api-key": "sk-contoso-01"}).json()
    assert status["status"] == "paused"
    console.post("/console/faults", data={"preset": "slow"})
    assert len(backend.faults.list(api_key="sk-contoso-01")) == 1  # scoped to the account's key
    assert backend.faults.list(api_key=ALICE) == []
    _login(console, "sk-fabrikam-01")
    assert job_id not in console.get("/console/jobs").text
    assert console.get(f"/console/jobs/{job_id}").status_code == 404
    console.cookies.set(ACCOUNT_COOKIE, "azure-contoso", domain="testserver.local")  # not a choice of this key
    gone = console.get("/console/jobs")
    assert gone.status_code == 404 and "This key has no such account" in gone.text and job_id not in gone.text
    assert '<a href="/console/key">Choose the organization again</a>' in gone.text
    _login(console, "sk-fabrikam-01")  # choosing the key again shows its account
    assert console.get("/console/jobs").status_code == 200


def test_the_deployments_page_follows_the_account_shown(strict):
    _, console = strict
    _login(console)
    assert console.cookies.get(KEY_COOKIE) == ALICE
    assert console.get("/console/azure/deployments").status_code == 404  # Alice's key: no Azure account
    _login(console, "sk-contoso-01")
    page = console.get("/console/azure/deployments")
    assert page.status_code == 200 and 'Azure account <strong id="tenant">azure-contoso</strong>' in page.text


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_for_the_azure_account_with_the_switch(sim, path):
    console = _login(TestClient(sim.app))
    _switch(console, "azure")
    resp = console.get(path)
    assert resp.status_code == 200, resp.text
    account = azure_tenant(sim.backend.tenancy, ALICE).org_id
    assert f'Azure account <strong id="tenant">{account}</strong>' in resp.text
    assert '<option value="azure" selected>' in resp.text and 'id="clock"' in resp.text


_SWITCH_SIM: list[Simulator] = []


def _shared_sim() -> Simulator:
    """One world for the property test's examples (a Simulator per example would dominate its run)."""
    if not _SWITCH_SIM:
        _SWITCH_SIM.append(Simulator(console=True).__enter__())
    return _SWITCH_SIM[0]


@pytest.fixture(scope="module", autouse=True)
def _close_shared_sim():
    yield
    while _SWITCH_SIM:
        _SWITCH_SIM.pop().__exit__(None, None, None)


@settings(max_examples=60, deadline=None)
@given(account=st.sampled_from(["openai", "azure"]) | st.text(max_size=40),
       back=st.sampled_from(sorted(SWITCH_BACK)) | st.text(max_size=60))
def test_any_switch_input_answers_a_page_or_a_redirect_to_a_list_page(account, back):
    console = _login(TestClient(_shared_sim().app))
    resp = console.post("/console/account", data={"account": account, "next": back}, follow_redirects=False)
    if account in ("openai", "azure"):
        assert resp.status_code == 303
        assert resp.headers["location"] == (back if back in SWITCH_BACK else "/console/jobs")
        assert console.cookies.get(ACCOUNT_COOKIE) == account
    else:
        assert resp.status_code == 400 and resp.headers["content-type"].startswith("text/html")
        assert console.cookies.get(ACCOUNT_COOKIE) is None
    assert console.get("/console/jobs").status_code == 200


def test_the_estimate_page_prices_at_azures_rates_in_the_azure_account(sim):
    """The same dataset priced from each view: the Azure account's estimate is the planner's at Azure OpenAI's
    rates (its price source names Azure), the organization's at OpenAI's."""
    import datetime as dt
    import html

    from ftsim.pricing.costs.estimate import estimate

    _azure_job(sim)
    _openai_job(sim)
    console = _login(TestClient(sim.app))
    today = dt.datetime.fromtimestamp(sim.backend.now(), dt.timezone.utc).date()
    for account, provider in (("azure", "azure"), ("openai", "openai")):
        _switch(console, account, back="/console/files")
        file_id = re.search(r'href="/console/files/(file-[0-9A-Za-z]+)"', console.get("/console/files").text).group(1)
        page = console.get("/console/planner/estimate", params={"file_id": file_id, "model": AZURE_MODEL})
        assert page.status_code == 200, page.text
        tenant = azure_tenant(sim.backend.tenancy, ALICE) if account == "azure" else sim.backend.tenant(ALICE)
        expected = estimate(sim.backend.files.content_path(tenant, file_id), model=AZURE_MODEL, method="supervised",
                            catalog=sim.backend.catalog, today=today, workers=1, partial=True, provider=provider)
        prices = html.unescape(re.search(r"<dt>Prices</dt>\s*<dd>([^<]*)</dd>", page.text).group(1))
        assert prices == expected.price_source and ("Azure" in prices) == (provider == "azure")
