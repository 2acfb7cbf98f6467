"""Uploads from the browser (issue 17): the estimate page's training file and the what-if page's scenario file,
read by the project's streaming multipart parser, with size limits and refusals said on the page."""

from __future__ import annotations

import html
import re

import pytest
from starlette.testclient import TestClient

from ftsim.api.http.app import create_app
from ftsim.api.http.console import planner
from ftsim.api.http.console.planner import WHATIF_EXAMPLE
from tests.api.test_console import ALICE, BOB, MODEL, _login, _rows

AUTH = {"Authorization": f"Bearer {ALICE}"}


@pytest.fixture
def client(backend):
    return _login(TestClient(create_app(backend)))


def _files(client, key=ALICE) -> list[dict]:
    return client.get("/v1/files", headers={"Authorization": f"Bearer {key}"}).json()["data"]


def _spools(backend, key=ALICE) -> list[str]:
    folder = backend.store.blob_path(backend.tenant(key).key, "x").parent
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def _cost(text: str) -> str:
    return re.search(r'<strong id="estimate-cost">([^<]+)</strong>', text).group(1)


# -- estimate --------------------------------------------------------------------------------------------------


def test_a_dropped_training_file_is_stored_and_priced(client, backend):
    resp = client.post("/console/planner/estimate", files={"file": ("mine.jsonl", _rows(30))},
                       data={"model": MODEL, "method": "supervised", "n_epochs": "3"}, follow_redirects=False)
    assert resp.status_code == 303
    (stored,) = _files(client)
    assert stored["filename"] == "mine.jsonl" and stored["purpose"] == "fine-tune" and stored["bytes"] == len(_rows(30))
    assert resp.headers["location"] == (f"/console/planner/estimate?file_id={stored['id']}&model={MODEL}"
                                        "&method=supervised&n_epochs=3")
    page = client.get(resp.headers["location"])
    assert f'<option value="{stored["id"]}" selected>' in page.text
    assert _cost(page.text) == _cost(client.get(f"/console/planner/estimate?file_id={stored['id']}&n_epochs=3").text)
    assert _spools(backend) == []


def test_an_htmx_upload_answers_the_estimator_block_with_the_file_picked(client):
    resp = client.post("/console/planner/estimate", files={"file": ("drop.jsonl", _rows(10))},
                       data={"model": MODEL, "n_epochs": "2"}, headers={"hx-request": "true"})
    assert resp.status_code == 200 and "<html" not in resp.text and resp.text.startswith('<div id="estimator">')
    (stored,) = _files(client)
    assert f'<option value="{stored["id"]}" selected>' in resp.text
    assert f"Uploaded drop.jsonl as {stored['id']}." in resp.text and 'role="status"' in resp.text
    assert _cost(resp.text).startswith("$") and 'value="2"' in resp.text


@pytest.mark.parametrize(("files", "status", "words"), [
    ({"file": ("", b"")}, 400, "Choose a training file"),  # a form sent with no file chosen
    ({"file": ("empty.jsonl", b"")}, 400, "empty.jsonl is empty"),
    ({"other": ("x.jsonl", _rows(2))}, 400, "Choose a training file"),
])
def test_an_upload_without_a_usable_file_is_refused_on_the_page(client, backend, files, status, words):
    resp = client.post("/console/planner/estimate", files=files, data={"model": MODEL})
    assert resp.status_code == status and words in resp.text and 'role="alert"' in resp.text
    assert 'id="clock"' in resp.text  # a console page, not the JSON envelope
    assert _files(client) == [] and _spools(backend) == []
    hx = client.post("/console/planner/estimate", files=files, data={"model": MODEL}, headers={"hx-request": "1"})
    assert hx.status_code == 200 and words in hx.text  # htmx swaps only 2xx answers: the refusal still shows


def test_a_file_over_the_limit_is_refused_with_413_and_nothing_kept(client, backend, monkeypatch):
    monkeypatch.setattr(planner, "ESTIMATE_UPLOAD_BYTES", 1000)
    resp = client.post("/console/planner/estimate", files={"file": ("big.jsonl", _rows(40))})
    assert resp.status_code == 413 and "too large" in resp.text and "1,000 bytes" in resp.text
    assert _files(client) == [] and _spools(backend) == []
    ok = client.post("/console/planner/estimate", files={"file": ("small.jsonl", _rows(2))}, follow_redirects=False)
    assert ok.status_code == 303


def test_a_body_that_is_not_multipart_or_is_malformed_is_a_400_page(client, backend):
    plain = client.post("/console/planner/estimate", data={"file": "x"})
    assert plain.status_code == 400 and "multipart/form-data" in plain.text
    broken = client.post("/console/planner/estimate", content=b"--b\r\nContent-Disposition: form-data\r\n\r\nx",
                         headers={"content-type": "multipart/form-data; boundary=b"})
    assert broken.status_code == 400 and "Could not parse the multipart body" in broken.text
    assert _files(client) == [] and _spools(backend) == []


def test_uploads_are_guarded_and_stay_in_their_organization(client, backend):
    cross = client.post("/console/planner/estimate", files={"file": ("x.jsonl", _rows(2))},
                        headers={"origin": "http://evil.example"})
    assert cross.status_code == 403 and _files(client) == []
    anonymous = TestClient(create_app(backend)).post("/console/planner/estimate",
                                                      files={"file": ("x.jsonl", _rows(2))})
    assert anonymous.status_code == 401
    client.post("/console/planner/estimate", files={"file": ("alice.jsonl", _rows(2))})
    (stored,) = _files(client)
    bob = _login(TestClient(create_app(backend)), BOB)
    assert _files(bob, BOB) == [] and stored["id"] not in bob.get("/console/planner/estimate").text


# -- what-if ---------------------------------------------------------------------------------------------------


def _frame(text: str) -> str:
    return html.unescape(re.search(r'<iframe id="report" title="[^"]+" srcdoc="([^"]*)"', text).group(1))


def test_an_uploaded_scenario_runs_like_a_pasted_one(client):
    custom = WHATIF_EXAMPLE.replace("Support bot", "Uploaded bot")
    resp = client.post("/console/planner/whatif", files={"scenario_file": ("s.toml", custom.encode())},
                       data={"scenario": "ignored = true", "format": "page"})
    assert resp.status_code == 200 and "Uploaded bot" in _frame(resp.text)
    assert html.escape(custom.splitlines()[0], quote=True) in resp.text  # the file's text, now editable
    pasted = client.post("/console/planner/whatif", files={"scenario_file": ("", b"")},
                         data={"scenario": WHATIF_EXAMPLE, "format": "page"})
    assert pasted.status_code == 200 and "Support bot" in _frame(pasted.text)  # no file chosen: the text
    csv = client.post("/console/planner/whatif", files={"scenario_file": ("s.toml", custom.encode())},
                      data={"format": "csv"})
    assert csv.headers["content-disposition"] == 'attachment; filename="whatif.csv"'
    assert csv.text.startswith("calls_per_month,")


def test_scenario_uploads_are_refused_on_the_page(client, backend, monkeypatch):
    latin = client.post("/console/planner/whatif", files={"scenario_file": ("s.toml", "title = 'café'".encode(
        "latin-1"))}, data={"format": "page"})
    assert latin.status_code == 400 and "is not UTF-8 text" in latin.text and 'id="report"' not in latin.text
    bad = client.post("/console/planner/whatif", files={"scenario_file": ("s.toml", b"x = ")},
                      data={"format": "page"})
    assert bad.status_code == 200 and "not valid TOML" in bad.text
    monkeypatch.setattr(planner, "SCENARIO_UPLOAD_BYTES", 200)
    big = client.post("/console/planner/whatif", files={"scenario_file": ("s.toml", WHATIF_EXAMPLE.encode())},
                      data={"format": "page"})
    assert big.status_code == 413 and "too large" in big.text and 'id="scenario"' in big.text
    pasted = client.post("/console/planner/whatif", data={"scenario": WHATIF_EXAMPLE, "format": "page"})
    assert pasted.status_code == 413 and "too large" in pasted.text
    assert _spools(backend) == []
    cross = client.post("/console/planner/whatif", files={"scenario_file": ("s.toml", b"x = 1")},
                        headers={"origin": "http://evil.example"})
    assert cross.status_code == 403
