"""The web console (issue 17): every page and fragment, its guard, its tenant isolation and its error pages."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ftsim.api.http.app import create_app
from ftsim.api.http.console.routes import KEY_COOKIE, run_every_job
from ftsim.simulator.core.backend import Backend, SimConfig
from ftsim.simulator.core.tenancy import tenant_from_spec

ALICE, BOB = "sk-alice-0000000000", "sk-bob-00000000000"
MODEL = "gpt-4o-mini-2024-07-18"
PAGES = ["/", "/console/jobs", "/console/files", "/console/models", "/console/faults", "/console/planner/estimate",
         "/console/planner/compare", "/console/planner/decide", "/console/planner/whatif",
         "/console/azure/deployments"]


def _rows(n: int = 20) -> bytes:
    return "\n".join(json.dumps({"messages": [{"role": "user", "content": f"question {i}"},
                                              {"role": "assistant", "content": f"answer {i}"}]})
                     for i in range(n)).encode()


@pytest.fixture
def client(backend):
    return TestClient(create_app(backend))


def _login(client: TestClient, key: str = ALICE) -> TestClient:
    resp = client.post("/console/key", data={"api_key": key}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/console/jobs"
    return client


def _job(client: TestClient, key: str = ALICE, **extra) -> str:
    auth = {"Authorization": f"Bearer {key}"}
    file = client.post("/v1/files", headers=auth, files={"file": ("train.jsonl", _rows())},
                       data={"purpose": "fine-tune"}).json()
    job = client.post("/v1/fine_tuning/jobs", headers=auth,
                      json={"model": MODEL, "training_file": file["id"], **extra}).json()
    return job["id"]


def _points(html: str, chart_id: str) -> int:
    """How many points the chart's polylines hold (0 when the chart is not drawn yet)."""
    m = re.search(rf'<svg[^>]*id="{chart_id}".*?</svg>', html, re.S)
    if m is None:
        return 0
    return sum(len(p.split()) for p in re.findall(r'<polyline points="([^"]*)"', m.group(0)))


# -- pages and fragments ---------------------------------------------------------------------------------------


def test_front_page_without_a_key_goes_to_the_key_page(client):
    resp = client.get("/", follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/console/key"
    page = client.get("/console/key")
    assert page.status_code == 200 and '<label for="api_key">' in page.text and 'id="api_key"' in page.text


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_with_the_clock_bar_and_navigation(client, path):
    _login(client)
    resp = client.get(path)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/html")
    assert 'id="clock"' in resp.text and "Advance 1 hour" in resp.text and "Run every job to the end" in resp.text
    assert '<script src="/console/static/htmx.min.js"' in resp.text
    assert "http://" not in resp.text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing from a CDN
    assert "sk-alice" not in resp.text  # the key is never echoed into a page


@pytest.mark.parametrize("path", PAGES[1:] + ["/console/jobs/rows", "/console/clock"])
def test_pages_need_a_chosen_key_except_the_clock(client, path):
    resp = client.get(path)
    if path == "/console/clock":
        assert resp.status_code == 200 and 'id="clock"' in resp.text
    else:
        assert resp.status_code == 401 and "Choose an API key" in resp.text
        assert resp.headers["content-type"].startswith("text/html")


def test_the_vendored_assets_ship_with_the_package(client):
    js = client.get("/console/static/htmx.min.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "htmx" in js.text[:200]
    assert "Zero-Clause BSD" in client.get("/console/static/htmx.LICENSE").text
    assert client.get("/console/static/console.css").status_code == 200
    assert client.get("/console/static/../routes.py").status_code == 404
    assert client.get("/console/static/routes.py").status_code == 404


def test_clock_bar_advances_and_tells_the_page(client, backend):
    before = backend.now()
    resp = client.post("/console/clock/advance?seconds=3600")
    assert resp.status_code == 200 and resp.headers["hx-trigger"] == "clock-changed"
    assert backend.now() == before + 3600
    assert 'id="clock"' in resp.text
    for bad in (0, -5, 400 * 86400):
        assert client.post(f"/console/clock/advance?seconds={bad}").status_code == 400
    assert backend.now() == before + 3600


def test_jobs_table_lists_filters_and_searches(client, backend):
    _login(client)
    first = _job(client, suffix="alpha")
    second = _job(client, suffix="beta")
    client.post(f"/v1/fine_tuning/jobs/{second}/cancel", headers={"Authorization": f"Bearer {ALICE}"})
    page = client.get("/console/jobs").text
    assert first in page and second in page
    assert page.index(second) < page.index(first)  # newest first
    assert 'class="badge cancelled"' in page and 'class="badge validating_files"' in page
    for header in ("Model", "Method", "Status", "Created", "Finished", "Trained tokens", "Fine-tuned model",
                   "Estimated cost"):
        assert f'<th scope="col">{header}</th>' in page
    only_cancelled = client.get("/console/jobs/rows?status=cancelled").text
    assert second in only_cancelled and first not in only_cancelled
    searched = client.get("/console/jobs/rows?q=ALPHA").text
    assert first not in searched or second not in searched
    assert client.get("/console/jobs/rows?q=nothing-like-this").text.count("No job matches.") == 1
    assert client.get("/console/jobs?status=bogus").status_code == 400


def test_job_page_shows_the_run_and_its_loss_curve_grows(client, backend):
    _login(client)
    job_id = _job(client)
    page = client.get(f"/console/jobs/{job_id}")
    assert page.status_code == 200
    assert 'class="badge validating_files"' in page.text and _points(page.text, "chart-loss") == 0
    for label in ("Cancel job", "Pause job", "Resume job", '<label for="fail-step">Fail at step</label>'):
        assert label in page.text
    client.post("/console/clock/advance?seconds=60")  # a small job: running within the minute
    early = client.get(f"/console/jobs/{job_id}/live").text
    assert 'class="badge running"' in early
    client.post("/console/clock/advance?seconds=60")
    later = client.get(f"/console/jobs/{job_id}/live").text
    assert 0 < _points(early, "chart-loss") < _points(later, "chart-loss")
    run_every_job(backend)
    done = client.get(f"/console/jobs/{job_id}/live").text
    assert 'class="badge succeeded"' in done
    assert _points(done, "chart-loss") >= _points(later, "chart-loss") > 0
    assert _points(done, "chart-accuracy") > 0
    assert "ft:" + MODEL in done and ":ckpt-step-" in done  # the model and the checkpoints with their models
    assert "Estimated cost" in done and "$" in done
    events = re.findall(r"<time datetime=\"([^\"]+)\">", done.split('id="events"')[1])
    assert events == sorted(events, reverse=True) and len(events) > 3  # newest first


def test_the_charts_come_from_the_shared_chart_module(client, backend, monkeypatch):
    import ftsim.api.http.console.routes as routes

    calls = []
    real = routes.line_chart
    monkeypatch.setattr(routes, "line_chart", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    _login(client)
    job_id = _job(client)
    run_every_job(backend)
    client.get(f"/console/jobs/{job_id}/live")
    assert calls == ["Loss", "Token accuracy"]
    from ftsim.pricing.reports import charts, report
    assert report.line_chart is charts.line_chart is real


def test_cancel_pause_resume_from_the_job_page(client, backend):
    _login(client)
    job_id = _job(client)
    client.post("/console/clock/advance?seconds=60")
    paused = client.post(f"/console/jobs/{job_id}/pause").text
    assert 'class="badge paused"' in paused and "Job pause requested." in paused
    resumed = client.post(f"/console/jobs/{job_id}/resume").text
    assert 'class="badge paused"' not in resumed.split("Timeline")[0]
    cancelled = client.post(f"/console/jobs/{job_id}/cancel").text
    assert 'class="badge cancelled"' in cancelled
    again = client.post(f"/console/jobs/{job_id}/cancel")
    assert again.status_code == 200 and 'role="status"' in again.text  # refused by the API: said on the page
    assert client.post(f"/console/jobs/{job_id}/explode").status_code == 404


def test_fail_at_step_adds_a_job_rule_that_fails_the_job(client, backend):
    _login(client)
    job_id = _job(client)
    resp = client.post(f"/console/jobs/{job_id}/fail", data={"step": "3"})
    assert resp.status_code == 200 and "fails at step 3" in resp.text
    rules = backend.faults.list(api_key=ALICE)
    assert [(r.kind, r.stage, r.step, r.job_id) for r in rules] == [("job", "step", 3, job_id)]
    run_every_job(backend)
    done = client.get(f"/console/jobs/{job_id}/live").text
    assert 'class="badge failed"' in done
    for bad in ("0", "x", ""):
        assert "whole number" in client.post(f"/console/jobs/{job_id}/fail", data={"step": bad}).text
    assert len(backend.faults.list(api_key=ALICE)) == 1


def _metric_steps(client: TestClient, job_id: str, key: str = ALICE) -> list[int]:
    events = client.get(f"/v1/fine_tuning/jobs/{job_id}/events?limit=100",
                        headers={"Authorization": f"Bearer {key}"}).json()["data"]
    return sorted(e["data"]["step"] for e in events if e["type"] == "metrics")


def _running_job(client: TestClient, backend, done_at_least: int) -> str:
    job_id = _job(client)
    for _ in range(1000):
        backend.advance(5)
        if len(_metric_steps(client, job_id)) >= done_at_least:
            break
    assert backend.jobs.retrieve(backend.tenant(ALICE), job_id).status == "running"
    return job_id


@pytest.mark.parametrize("ahead", [2, -1])  # a step still to come; a step already trained
def test_fail_at_step_bites_a_job_that_is_already_running(client, backend, ahead):
    _login(client)
    job_id = _running_job(client, backend, done_at_least=3)
    done = len(_metric_steps(client, job_id))
    step = done + ahead
    resp = client.post(f"/console/jobs/{job_id}/fail", data={"step": str(step)})
    expected = max(step, done + 1)
    assert resp.status_code == 200 and f"this job fails at step {expected}." in resp.text
    assert ("already past" in resp.text) == (ahead < 0)
    assert 'class="badge running"' in resp.text  # not before that step's time on the simulated clock
    run_every_job(backend)
    assert 'class="badge failed"' in client.get(f"/console/jobs/{job_id}/live").text
    assert _metric_steps(client, job_id) == list(range(1, expected))


def test_fail_at_step_on_a_finished_job_says_it_cannot_fail(client, backend):
    _login(client)
    job_id = _job(client)
    run_every_job(backend)
    resp = client.post(f"/console/jobs/{job_id}/fail", data={"step": "2"})
    assert resp.status_code == 200 and "no step left to train" in resp.text
    assert 'class="badge succeeded"' in resp.text


def test_run_every_job_ends_every_moving_job_of_every_organization(client, backend):
    a, b = _job(client, ALICE), _job(client, BOB)
    c = _job(client, ALICE)
    client.post(f"/v1/fine_tuning/jobs/{c}/cancel", headers={"Authorization": f"Bearer {ALICE}"})
    assert client.post("/console/clock/run").status_code == 200
    for key, job_id in ((ALICE, a), (BOB, b)):
        status = client.get(f"/v1/fine_tuning/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"}).json()
        assert status["status"] == "succeeded"
    assert run_every_job(backend) == 0  # nothing left to move: the clock stays


def test_files_models_and_faults_pages(client, backend):
    _login(client)
    job_id = _job(client)
    run_every_job(backend)
    files = client.get("/console/files").text
    assert "train.jsonl" in files and "fine-tune" in files
    models = client.get("/console/models").text
    tuned = re.findall(r'<span class="mono">(ft:[^<]+)</span>', models)
    assert any(":ckpt-step-" not in m for m in tuned) and any(":ckpt-step-" in m for m in tuned)
    final = next(m for m in tuned if ":ckpt-step-" not in m)
    assert final in client.get(f"/console/jobs/{job_id}").text
    deleted = client.post(f"/console/models/{final}/delete")
    assert deleted.status_code == 200 and f"Deleted {final}." in deleted.text
    assert client.get(f"/v1/models/{final}", headers={"Authorization": f"Bearer {ALICE}"}).status_code == 404
    assert client.post(f"/console/models/{final}/delete").status_code == 404
    assert client.post(f"/console/models/{MODEL}/delete").status_code == 403  # a base model

    added = client.post("/console/faults", data={"preset": "job_fails_midway"})
    assert added.status_code == 200 and "job_fails_midway" in added.text
    (rule,) = backend.faults.list(api_key=ALICE)
    assert rule.id in client.get("/console/faults").text
    assert client.post("/console/faults", data={"preset": "nope"}).status_code == 400
    assert client.post(f"/console/faults/{rule.id}/delete").status_code == 200
    assert backend.faults.list() == []
    assert client.post(f"/console/faults/{rule.id}/delete").status_code == 404


# -- tenant isolation --------------------------------------------------------------------------------------------


def test_a_key_never_sees_another_organizations_objects(backend):
    alice, bob = TestClient(create_app(backend)), TestClient(create_app(backend))
    _login(alice, ALICE)
    _login(bob, BOB)
    job_id = _job(alice, ALICE)
    run_every_job(backend)
    model = backend.jobs.retrieve(backend.tenant(ALICE), job_id).fine_tuned_model
    fault = alice.post("/console/faults", data={"preset": "slow"})
    (rule,) = backend.faults.list(api_key=ALICE)
    assert job_id in alice.get("/console/jobs").text and model in alice.get("/console/models").text
    for path in PAGES + ["/console/jobs/rows"]:
        text = bob.get(path).text
        assert job_id not in text and model not in text and "train.jsonl" not in text and rule.id not in text
    assert bob.get(f"/console/jobs/{job_id}").status_code == 404
    assert bob.get(f"/console/jobs/{job_id}/live").status_code == 404
    for action in ("cancel", "pause", "resume"):
        assert bob.post(f"/console/jobs/{job_id}/{action}").status_code == 404
    assert bob.post(f"/console/jobs/{job_id}/fail", data={"step": "2"}).status_code == 404
    assert bob.post(f"/console/models/{model}/delete").status_code == 404
    assert bob.post(f"/console/faults/{rule.id}/delete").status_code == 404
    assert backend.faults.list(api_key=ALICE) == [rule] and fault.status_code == 200
    assert alice.get(f"/console/jobs/{job_id}").status_code == 200


def test_a_keys_file_organization_is_opened_by_its_key_only():
    """The key page lists none of the file's organizations (it is shown before any key is given); an
    organization is opened by typing one of its keys, never by naming it."""
    keys = {ALICE: tenant_from_spec({"org_id": "org-alice"}), BOB: tenant_from_spec({"org_id": "org-bob"})}
    backend = Backend(config=SimConfig(keys=keys, strict_keys=True))
    try:
        client = TestClient(create_app(backend))
        page = client.get("/console/key").text
        assert "org-alice" not in page and "org-bob" not in page and ALICE not in page and BOB not in page
        named = client.post("/console/key", data={"org": "org-bob", "api_key": ""}, follow_redirects=False)
        assert named.status_code == 400 and KEY_COOKIE not in client.cookies
        resp = client.post("/console/key", data={"api_key": BOB}, follow_redirects=False)
        assert resp.status_code == 303 and client.cookies.get(KEY_COOKIE) == BOB
        assert "org-bob" in client.get("/console/jobs").text
        assert client.post("/console/key", data={"api_key": "sk-stranger"}).status_code == 401
        client.cookies.clear()
        client.cookies.set(KEY_COOKIE, "sk-stranger")
        assert client.get("/console/jobs").status_code == 401
    finally:
        backend.close()


def test_without_the_sim_key_the_key_page_says_nothing_of_the_key_typed():
    """A visitor without the sim key cannot learn which keys a keys file lists: a listed key and an unlisted one
    get the same refusal."""
    keys = {ALICE: tenant_from_spec({"org_id": "org-alice"})}
    backend = Backend(config=SimConfig(keys=keys, strict_keys=True))
    try:
        client = TestClient(create_app(backend, sim_key="sim-secret"))
        listed = client.post("/console/key", data={"api_key": ALICE, "sim_key": "wrong"})
        unlisted = client.post("/console/key", data={"api_key": "sk-stranger", "sim_key": "wrong"})
        unusable = client.post("/console/key", data={"api_key": "", "sim_key": "wrong"})
        assert listed.status_code == unlisted.status_code == unusable.status_code == 401
        assert listed.text == unlisted.text == unusable.text and "Wrong sim key." in listed.text
        assert KEY_COOKIE not in client.cookies
        ok = client.post("/console/key", data={"api_key": ALICE, "sim_key": "sim-secret"}, follow_redirects=False)
        assert ok.status_code == 303 and client.cookies.get(KEY_COOKIE) == ALICE
    finally:
        backend.close()


@settings(max_examples=40, deadline=None)
@given(key=st.text(min_size=0, max_size=40))
def test_any_typed_key_answers_a_page_never_a_5xx(key):
    backend = Backend()
    try:
        client = TestClient(create_app(backend))
        resp = client.post("/console/key", data={"api_key": key}, follow_redirects=False)
        assert resp.status_code in (303, 400)
        if resp.status_code == 303:
            assert client.get("/console/jobs").status_code == 200
    finally:
        backend.close()


# -- the guard ---------------------------------------------------------------------------------------------------


def test_with_a_sim_key_the_console_needs_it(backend):
    client = TestClient(create_app(backend, sim_key="the-sim-key"))
    assert client.post("/console/key", data={"api_key": ALICE, "sim_key": "wrong"}).status_code == 401
    client.cookies.clear()
    client.cookies.set(KEY_COOKIE, ALICE)
    for path in PAGES[1:] + ["/console/clock"]:
        resp = client.get(path)
        assert resp.status_code == 401 and "sim key" in resp.text, path
    before = backend.now()
    assert client.post("/console/clock/advance?seconds=60").status_code == 401
    assert backend.now() == before
    assert client.get("/console/jobs", headers={"x-ftsim-sim-key": "the-sim-key"}).status_code == 200
    resp = client.post("/console/key", data={"api_key": ALICE, "sim_key": "the-sim-key"}, follow_redirects=False)
    assert resp.status_code == 303
    assert client.get("/console/jobs").status_code == 200  # the cookie now carries it
    assert client.post("/console/clock/advance?seconds=60").status_code == 200


def test_cross_site_posts_are_refused(client, backend):
    _login(client)
    job_id = _job(client)
    before = backend.now()
    for headers in ({"origin": "http://evil.example"}, {"origin": "null"}, {"sec-fetch-site": "cross-site"}):
        assert client.post("/console/clock/advance?seconds=60", headers=headers).status_code == 403
        assert client.post(f"/console/jobs/{job_id}/cancel", headers=headers).status_code == 403
        assert client.post("/console/key", data={"api_key": BOB}, headers=headers).status_code == 403
    assert backend.now() == before
    assert backend.jobs.retrieve(backend.tenant(ALICE), job_id).status == "validating_files"
    ok = client.post("/console/clock/advance?seconds=60", headers={"origin": "http://testserver"})
    assert ok.status_code == 200


# -- errors ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/console/jobs/ftjob-nope", "/console/jobs/ftjob-nope/live", "/console/nowhere",
                                  "/console/static/nothing.js"])
def test_not_found_pages_are_in_the_console_style(client, path):
    _login(client)
    resp = client.get(path)
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("text/html")
    assert "ftsim console" in resp.text or 'role="alert"' in resp.text
    assert '{"error"' not in resp.text  # not the JSON envelope


def test_a_fragment_error_is_a_fragment(client):
    _login(client)
    resp = client.get("/console/jobs/ftjob-nope/live", headers={"hx-request": "true"})
    assert resp.status_code == 404 and "<html" not in resp.text and 'role="alert"' in resp.text


def test_the_api_keeps_its_json_errors(client):
    resp = client.get("/v1/nowhere", headers={"Authorization": f"Bearer {ALICE}"})
    assert resp.status_code == 404 and resp.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("path, asset", [("/docs", "/console/static/swagger-ui-bundle.js"),
                                         ("/redoc", "/console/static/redoc.standalone.js")])
def test_api_docs_render_from_the_packaged_assets(client, path, asset):
    resp = client.get(path)
    assert resp.status_code == 200 and asset in resp.text and "/openapi.json" in resp.text
    urls = re.findall(r'(?:src|href)="([^"]+)"', resp.text) + re.findall(r"url: '([^']+)'", resp.text)
    assert urls and all(u.startswith("/") for u in urls), urls  # nothing from a CDN (fonts included)
    assert "fonts.googleapis" not in resp.text
    for u in urls:
        if u.startswith("/console/static/"):
            assert client.get(u).status_code == 200, u
    assert client.get("/openapi.json").json()["info"]["title"] == "ftsim"


def test_file_page_previews_and_validates_a_training_file(client, backend):
    _login(client)
    _job(client)
    (f,) = client.get("/v1/files", headers={"Authorization": f"Bearer {ALICE}"}).json()["data"]
    assert f'href="/console/files/{f["id"]}"' in client.get("/console/files").text
    page = client.get(f"/console/files/{f['id']}")
    assert page.status_code == 200
    assert "question 0" in page.text and "question 4" in page.text and "question 5" not in page.text  # 5 lines
    assert "Billed tokens per epoch" in page.text and "Tokens per example" in page.text
    assert "No finding: the file is ready to train on." in page.text
    bad = client.post("/v1/files", headers={"Authorization": f"Bearer {ALICE}"},
                      files={"file": ("bad.jsonl", b'{"messages": []}\n' + b"x" * 5000 + b"\n")},
                      data={"purpose": "fine-tune"}).json()
    report = client.get(f"/console/files/{bad['id']}").text
    assert "Valid</dt><dd>no" in report and 'id="findings"' in report
    assert "x" * 400 + " …" in report and "x" * 401 not in report  # a long line is cut
    bob = TestClient(create_app(backend))
    _login(bob, BOB)
    assert bob.get(f"/console/files/{f['id']}").status_code == 404
    assert "bad.jsonl" not in bob.get("/console/files").text


def test_estimate_page_prices_an_uploaded_file(client, backend):
    _login(client)
    _job(client)
    (f,) = client.get("/v1/files", headers={"Authorization": f"Bearer {ALICE}"}).json()["data"]
    empty = client.get("/console/planner/estimate")
    assert empty.status_code == 200 and f'<option value="{f["id"]}">' in empty.text
    assert "Pick an uploaded training file" in empty.text
    page = client.get(f"/console/planner/estimate?file_id={f['id']}&n_epochs=3")
    via_api = client.post("/planning/estimate", headers={"Authorization": f"Bearer {ALICE}"},
                          json={"model": MODEL, "file_id": f["id"], "n_epochs": 3}).json()
    cost = re.search(r'<strong id="estimate-cost">([^<]+)</strong>', page.text).group(1)
    from decimal import Decimal
    assert cost == f"${Decimal(via_api['training_cost_usd']).quantize(Decimal('0.0001')):,}"
    fragment = client.get(f"/console/planner/estimate?file_id={f['id']}", headers={"hx-request": "true"})
    assert "<html" not in fragment.text and 'id="estimate-cost"' in fragment.text
    assert "whole number" in client.get(f"/console/planner/estimate?file_id={f['id']}&n_epochs=0").text
    assert client.get("/console/planner/estimate?file_id=x&method=nope").status_code == 400
    unknown_model = client.get(f"/console/planner/estimate?file_id={f['id']}&model=nope")
    assert unknown_model.status_code == 200 and 'role="status"' in unknown_model.text
    bob = TestClient(create_app(backend))
    _login(bob, BOB)
    assert bob.get(f"/console/planner/estimate?file_id={f['id']}").status_code == 404
    assert f["id"] not in bob.get("/console/planner/estimate").text


def test_estimate_page_prices_with_the_servers_own_catalog():
    # regression: the page priced with the packaged catalog, not the one the server was started with
    from decimal import Decimal

    from ftsim.pricing.catalog.catalog import load_catalog

    packaged = load_catalog()
    models = tuple(m.model_copy(update={"training": m.training.model_copy(update={"price": m.training.price * 10})})
                   if m.training is not None else m for m in packaged.models)
    world = Backend(catalog=packaged.model_copy(update={"models": models}))
    try:
        client = _login(TestClient(create_app(world)))
        _job(client)
        (f,) = client.get("/v1/files", headers={"Authorization": f"Bearer {ALICE}"}).json()["data"]
        page = client.get(f"/console/planner/estimate?file_id={f['id']}&n_epochs=3")
        via_api = client.post("/planning/estimate", headers={"Authorization": f"Bearer {ALICE}"},
                              json={"model": MODEL, "file_id": f["id"], "n_epochs": 3}).json()
        cost = re.search(r'<strong id="estimate-cost">([^<]+)</strong>', page.text).group(1)
        assert cost == f"${Decimal(via_api['training_cost_usd']).quantize(Decimal('0.0001')):,}"
    finally:
        world.close()


def test_the_jobs_table_is_bounded_and_says_so(client, backend, monkeypatch):
    import ftsim.api.http.console.routes as routes

    monkeypatch.setattr(routes, "TABLE_ROWS", 2)
    _login(client)
    ids = [_job(client) for _ in range(3)]
    rows = client.get("/console/jobs/rows").text
    assert ids[2] in rows and ids[1] in rows and ids[0] not in rows
    assert "The newest 2 of 3 jobs" in rows
    assert "The newest" not in client.get(f"/console/jobs/rows?q={ids[0]}").text


def test_a_finished_job_page_stops_polling(client, backend):
    _login(client)
    job_id = _job(client)
    assert 'hx-trigger="every 2s, clock-changed from:body"' in client.get(f"/console/jobs/{job_id}/live").text
    run_every_job(backend)
    live = client.get(f"/console/jobs/{job_id}/live").text
    assert 'hx-trigger="clock-changed from:body"' in live and "every 2s" not in live.split('id="live"')[1][:300]


def test_compare_page_gives_the_verdict_of_the_planner_with_the_reports_charts(client, backend):
    from ftsim.pricing.planning.compare import CompareInput, compare
    from ftsim.pricing.reports.report import VERDICT_WORDS

    _login(client)
    query = {"model": "gpt-4.1-mini-2025-04-14", "calls_per_month": "100000", "system_prompt_tokens": "2000",
             "tuned_system_prompt_tokens": "0", "input_tokens": "200", "output_tokens": "150",
             "training_tokens": "1000000", "months": "12"}
    for calls in ("100000", "10"):
        page = client.get("/console/planner/compare", params=query | {"calls_per_month": calls})
        assert page.status_code == 200
        expected = compare(CompareInput(**(query | {"calls_per_month": calls}), today=backend_today(backend)),
                           catalog=backend.catalog)
        verdict = re.search(r'<strong id="verdict" class="([a-z_]+)">([^<]+)</strong>', page.text)
        assert verdict.groups() == (expected.verdict, VERDICT_WORDS[expected.verdict])
        assert page.text.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 2
    assert 'class="pays_back"' in client.get("/console/planner/compare", params=query).text
    low = client.get("/console/planner/compare", params=query | {"calls_per_month": "10"}).text
    assert 'class="pays_back_after_horizon"' in low  # 10 calls a month cannot repay $5 of training in time
    fragment = client.get("/console/planner/compare", params=query, headers={"hx-request": "true"})
    assert "<html" not in fragment.text and 'id="verdict"' in fragment.text
    bad = client.get("/console/planner/compare", params=query | {"calls_per_month": "-1", "months": "x"})
    assert bad.status_code == 200 and "calls_per_month" in bad.text and "months" in bad.text
    assert 'id="verdict"' not in bad.text
    unknown = client.get("/console/planner/compare", params=query | {"model": "nope"})
    assert unknown.status_code == 200 and 'role="status"' in unknown.text


def backend_today(backend):
    import datetime as dt

    return dt.datetime.fromtimestamp(backend.now(), dt.timezone.utc).date()


def _walk(client, choose):
    """Answer decide's questions with `choose(question_id, kind)` until the recommendation; the answers given."""
    answers: dict[str, str] = {}
    for _ in range(30):
        page = client.get("/console/planner/decide", params=answers)
        assert page.status_code == 200
        if 'id="recommendation"' in page.text:
            return answers, page.text
        bool_q = re.search(r'<button type="submit" name="([a-z_]+)" value="true">Yes</button>', page.text)
        int_q = re.search(r'<input id="answer" name="([a-z_]+)" type="(number|text)"', page.text)
        qid, kind = (bool_q.group(1), "bool") if bool_q else (
            int_q.group(1), "int" if int_q.group(2) == "number" else "percent")
        for done in answers:  # every earlier answer rides along in the form
            assert f'<input type="hidden" name="{done}" value="{answers[done]}">' in page.text
        answers[qid] = choose(qid, kind)
    raise AssertionError("the walk did not end")


@pytest.mark.parametrize("plan", ["all_no", "cost_play"])
def test_decide_walks_one_question_at_a_time_to_the_planners_recommendation(client, backend, plan):
    from ftsim.pricing.planning.decide import DecideInput, decide

    _login(client)
    if plan == "all_no":
        choose = lambda qid, kind: "false" if kind == "bool" else "500"  # noqa: E731
    else:
        yes = {"failure_is_style", "has_rubric", "few_shot_works", "prompt_cost_pain", "has_fine_tuned_before",
               "recent_fine_tuned_inference"}
        choose = lambda qid, kind: ("true" if qid in yes else "false") if kind == "bool" else "1000"  # noqa: E731
    answers, page = _walk(client, choose)
    typed = {k: (v == "true") if v in ("true", "false") else int(v) for k, v in answers.items()}
    expected = decide(DecideInput(**typed), catalog=backend.catalog, today=backend_today(backend))
    assert f'data-recommendation="{expected.recommendation}"' in page
    assert expected.summary in page.replace("&#x27;", "'")
    first = next(iter(answers))
    restart = client.get("/console/planner/decide", params={first: answers[first]}).text
    assert 'id="question-text"' in restart  # one answer only: the walk asks on


# A cost play up to the follow-ups, with a long prompt (2,000 tokens: cached automatically)
LONG_PROMPT = dict(fact_retrieval="false", failure_is_style="false", has_rubric="true", n_examples="1000",
                   few_shot_works="false", prompt_cost_pain="true", has_preference_data="false",
                   has_fine_tuned_before="true", recent_fine_tuned_inference="true", calls_per_month="100000",
                   system_prompt_tokens="2000", input_tokens="500", output_tokens="300")


def test_decide_asks_the_cached_share_of_a_long_prompt_as_the_cli_does(client, backend):
    """The CLI's question, hint and messages (shared definitions), under the same condition; the answer decides."""
    import html as html_lib

    from ftsim.pricing.planning.decide import FOLLOW_UPS, DecideInput, decide, parse_answer

    _login(client)
    question = next(q for q in FOLLOW_UPS if q.id == "cached_fraction")
    page = html_lib.unescape(client.get("/console/planner/decide", params=LONG_PROMPT).text)
    assert f'<legend id="question-text">{question.text}</legend>' in page
    assert "[0-100, or blank]" in page and 'name="cached_fraction" type="text"' in page
    assert 'id="recommendation"' not in page and 'role="alert"' not in page
    for bad in ("half", "150", "-1", "nan", "1e999"):
        with pytest.raises(ValueError) as cli:
            parse_answer(question, bad)
        again = html_lib.unescape(client.get("/console/planner/decide", params=LONG_PROMPT | {"cached_fraction": bad}).text)
        assert again.count(str(cli.value)) == 1, bad  # the CLI's own words, on the page
        assert f'<legend id="question-text">{question.text}</legend>' in again and 'id="recommendation"' not in again
    typed = {k: (v == "true") if v in ("true", "false") else int(v) for k, v in LONG_PROMPT.items()}
    for given, share, assumed in (("0%", "0", False), (" 12.5 ", "0.125", False), ("", "0.5", True)):
        done = client.get("/console/planner/decide", params=LONG_PROMPT | {"cached_fraction": given}).text
        expected = decide(DecideInput(**typed, cached_fraction=None if assumed else share), catalog=backend.catalog,
                          today=backend_today(backend))
        assert expected.compare.cached_fraction_assumed is assumed
        assert f'data-recommendation="{expected.recommendation}"' in done
        assert html_lib.unescape(done).count(expected.summary) == 1
        assert re.search(r'<span id="cached-share">([^<]+)</span>( \(assumed\))?', done).groups() == (
            f"{(expected.compare.cached_fraction * 100).normalize():f}%", " (assumed)" if assumed else None)
        # the answer is listed and can be changed like any other
        assert ("blank" if assumed else given.strip().removesuffix("%") + "%") in done


def test_decide_does_not_ask_the_cached_share_of_a_short_prompt(client):
    _login(client)
    page = client.get("/console/planner/decide", params=LONG_PROMPT | {"system_prompt_tokens": "1023"}).text
    assert 'id="recommendation"' in page and 'name="cached_fraction"' not in page
    assert "(assumed)" not in page  # no cached share under 1,024 tokens: not an assumption


def test_decide_ignores_unreadable_answers_and_asks_again(client):
    _login(client)
    page = client.get("/console/planner/decide", params={"fact_retrieval": "maybe", "n_examples": "-3",
                                                          "bogus": "true"})
    assert page.status_code == 200 and "retrieving facts" in page.text
    assert 'name="fact_retrieval" value="maybe"' not in page.text


def test_whatif_runs_a_pasted_scenario_inline_and_as_downloads(client, backend):
    import html as html_lib

    from ftsim.api.http.console.planner import WHATIF_EXAMPLE
    from ftsim.pricing.planning.whatif import evaluate, parse_scenario
    import tomllib

    _login(client)
    form = client.get("/console/planner/whatif")
    assert form.status_code == 200 and '<label for="scenario">' in form.text and "kind = &quot;compare&quot;" in form.text
    page = client.post("/console/planner/whatif", data={"scenario": WHATIF_EXAMPLE, "format": "page"})
    assert page.status_code == 200
    frame = re.search(r'<iframe id="report" title="([^"]+)" srcdoc="([^"]*)"', page.text)
    report = html_lib.unescape(frame.group(2))
    assert report.lower().startswith("<!doctype html")
    assert report.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 3  # the report's own charts
    scenario = parse_scenario(tomllib.loads(WHATIF_EXAMPLE))
    rows = len(evaluate(scenario.model_copy(update={"today": backend_today(backend)}), catalog=backend.catalog))
    csv = client.post("/console/planner/whatif", data={"scenario": WHATIF_EXAMPLE, "format": "csv"})
    assert csv.headers["content-disposition"] == 'attachment; filename="whatif.csv"'
    assert len(csv.text.strip().splitlines()) == rows + 1
    md = client.post("/console/planner/whatif", data={"scenario": WHATIF_EXAMPLE, "format": "md"})
    assert md.headers["content-type"].startswith("text/markdown") and md.text.startswith("#")
    for bad, words in (("x = ", "not valid TOML"), ('kind = "nope"', "scenario"),
                       (WHATIF_EXAMPLE.replace("step = 50000", "step = 1"), "at most")):
        resp = client.post("/console/planner/whatif", data={"scenario": bad, "format": "page"})
        assert resp.status_code == 200 and words in resp.text and 'id="report"' not in resp.text, bad
    assert client.post("/console/planner/whatif", data={"scenario": WHATIF_EXAMPLE, "format": "pdf"}).status_code == 400
    cross = client.post("/console/planner/whatif", data={"scenario": WHATIF_EXAMPLE},
                        headers={"origin": "http://evil.example"})
    assert cross.status_code == 403


def test_an_rft_job_page_draws_reward_curves(client, backend):
    _login(client)
    auth = {"Authorization": f"Bearer {ALICE}"}
    rows = "\n".join(json.dumps({"messages": [{"role": "user", "content": f"Complete {i}"}], "reference": "x"})
                     for i in range(12)).encode()
    file = client.post("/v1/files", headers=auth, files={"file": ("rft.jsonl", rows)},
                       data={"purpose": "fine-tune"}).json()
    grader = {"type": "string_check", "name": "g", "input": "{{sample.output_text}}", "reference": "x",
              "operation": "eq"}
    job = client.post("/v1/fine_tuning/jobs", headers=auth, json={
        "model": "o4-mini-2025-04-16", "training_file": file["id"], "validation_file": file["id"],
        "method": {"type": "reinforcement", "reinforcement": {"grader": grader}}}).json()
    assert "id" in job, job
    run_every_job(backend)
    live = client.get(f"/console/jobs/{job['id']}/live").text
    assert 'class="badge succeeded"' in live
    assert _points(live, "chart-reward") > 0
    assert "reinforcement" in client.get(f"/console/jobs/{job['id']}").text
