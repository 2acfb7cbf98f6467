"""The console against hostile input: forms and query strings of any text, wrong methods, and what-if grids too large
to build. Every answer is a console page (HTML) with a 4xx or a 200 that says why, never a 5xx or the JSON
envelope."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ftsim.api.http.app import create_app
from ftsim.simulator.core.backend import Backend
from tests.api.test_console import _login, _rows

ALICE = "sk-alice-0000000000"
# Text a form field can carry: any character (superscript and other non-ASCII digits among them), and runs of
# digits longer than Python's int() reads.
FIELD_TEXT = st.one_of(st.text(max_size=30), st.sampled_from(["²", "٣", "¹²", "𝟙", "0" * 5000, "9" * 5000, "-1",
                                                                "1e3", " 7", "nan", "inf"]))


@pytest.fixture(scope="module")
def world():
    backend = Backend()
    client = _login(TestClient(create_app(backend), raise_server_exceptions=False))
    auth = {"Authorization": f"Bearer {ALICE}"}
    file_id = client.post("/v1/files", headers=auth, files={"file": ("train.jsonl", _rows())},
                          data={"purpose": "fine-tune"}).json()["id"]
    yield client, file_id
    backend.close()


def _a_page(resp) -> None:
    assert resp.status_code < 500, resp.text
    assert resp.headers["content-type"].startswith("text/html"), resp.text


@settings(max_examples=60, deadline=None)
@given(epochs=FIELD_TEXT)
def test_any_epochs_on_the_estimate_page_is_said_on_the_page(world, epochs):
    client, file_id = world
    resp = client.get("/console/planner/estimate", params={"file_id": file_id, "n_epochs": epochs})
    _a_page(resp)
    assert resp.status_code == 200
    if epochs not in ("auto", "") and not (epochs.isascii() and epochs.isdigit() and len(epochs) < 5 and 1 <= int(epochs) <= 50):
        assert 'Epochs: "auto" or a whole number from 1 to 50.' in resp.text


@settings(max_examples=60, deadline=None)
@given(answer=FIELD_TEXT)
def test_any_answer_to_a_number_question_of_decide_is_asked_again_or_taken(world, answer):
    client, _ = world
    resp = client.get("/console/planner/decide", params={"n_examples": answer})
    _a_page(resp)
    assert resp.status_code == 200


@settings(max_examples=40, deadline=None)
@given(seconds=FIELD_TEXT)
def test_any_advance_amount_is_a_console_page(world, seconds):
    client, _ = world
    resp = client.post("/console/clock/advance", params={"seconds": seconds})
    _a_page(resp)
    whole = seconds.isascii() and seconds.isdigit() and len(seconds) < 10 and 0 < int(seconds) <= 366 * 86400
    assert resp.status_code == (200 if whole else 400)
    if not whole:
        assert "Advance by a whole number of 1 to" in resp.text


@pytest.mark.parametrize("method,path", [("POST", "/console/jobs"), ("DELETE", "/console/files"),
                                         ("PUT", "/console/faults"), ("POST", "/console/planner/compare"),
                                         ("PATCH", "/console/jobs/ftjob-x/cancel"), ("POST", "/"),
                                         ("POST", "/console"), ("OPTIONS", "/console/jobs"),
                                         ("TRACE", "/console/clock/advance")])
def test_a_method_a_console_address_does_not_take_is_a_405_page(world, method, path):
    client, _ = world
    resp = client.request(method, path)
    _a_page(resp)
    assert resp.status_code == 405 and '<p class="error" role="alert">' in resp.text


def test_the_console_root_is_a_404_page(world):
    client, _ = world
    resp = client.get("/console")
    _a_page(resp)
    assert resp.status_code == 404 and "No console page at /console." in resp.text


def test_the_api_keeps_its_json_405(world):
    client, _ = world
    resp = client.delete("/v1/files", headers={"Authorization": f"Bearer {ALICE}"})
    assert resp.status_code == 405 and resp.json()["error"]["message"].startswith("Invalid method")


BASELINE = """title = "t"
kind = "compare"
[baseline]
model = "gpt-4.1-mini"
calls_per_month = 100000
system_prompt_tokens = 2000
input_tokens = 500
output_tokens = 300
training_tokens = 2400000
months = 12
[sweep]
"""


@settings(max_examples=25, deadline=None)
@given(stops=st.lists(st.integers(min_value=0, max_value=20_000_000), min_size=1, max_size=3))
def test_the_whatif_page_refuses_a_grid_past_its_bound_before_building_it(world, stops):
    """A range may hold 10 million points: the console's row bound is checked before any range is built, so no
    range larger than the bound is ever materialised from the page's form."""
    from ftsim.api.http.console.planner import MAX_CONSOLE_ROWS
    from ftsim.pricing.planning.whatif import RangeSpec

    client, _ = world
    built: list[int] = []
    real = RangeSpec.values

    def spy(self):
        built.append(self.count())
        return real(self)

    names = ["calls_per_month", "input_tokens", "output_tokens"]
    text = BASELINE + "".join(f"{name} = {{ start = 1, stop = {stop + 1}, step = 1 }}\n"
                              for name, stop in zip(names, stops))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RangeSpec, "values", spy)
        resp = client.post("/console/planner/whatif", data={"scenario": text, "format": "csv"})
    rows = 1
    for stop in stops:
        rows *= stop + 1
    assert resp.status_code < 500
    if rows > MAX_CONSOLE_ROWS:
        assert f"rows; the console runs at most {MAX_CONSOLE_ROWS:,}" in resp.text
        assert all(n <= MAX_CONSOLE_ROWS for n in built), built
    else:
        assert resp.headers["content-type"].startswith("text/csv") and resp.text.count("\n") >= rows



@pytest.mark.parametrize("path", ["/console/key", "/console/account", "/console/faults",
                                  "/console/jobs/ftjob-x/fail"])
@pytest.mark.parametrize("declared", [True, False])
def test_a_console_form_past_its_bound_is_a_413_page(world, path, declared):
    """The url-encoded forms were read whole into memory whatever their size (before the sim key was checked)."""
    from ftsim.api.http.console.routes import FORM_BYTES

    client, _ = world
    body = b"api_key=" + b"k" * FORM_BYTES
    headers = {"content-type": "application/x-www-form-urlencoded"}
    # undeclared: a chunked body, read until it passes the bound
    resp = client.post(path, content=body if declared else iter([body[:1000], body[1000:]]), headers=headers)
    _a_page(resp)
    assert resp.status_code == 413 and f"up to {FORM_BYTES:,} bytes" in resp.text


def test_a_form_within_the_bound_is_read(backend):
    from ftsim.api.http.console.routes import FORM_BYTES

    client = _login(TestClient(create_app(backend)))
    resp = client.post("/console/faults", data={"preset": "slow", "pad": "x" * (FORM_BYTES - 100)})
    _a_page(resp)
    assert resp.status_code == 200 and "Added" in resp.text and len(backend.faults.list(api_key=ALICE)) == 1


@pytest.mark.parametrize("field", ["model", "method", "n_epochs"])
def test_an_upload_with_a_huge_picker_field_is_answered_without_an_unfollowable_redirect(backend, field):
    """The plain form post answered a redirect whose Location echoed the fields: a field of a megabyte made an
    address no browser follows, after the file was stored."""
    client = _login(TestClient(create_app(backend)))
    resp = client.post("/console/planner/estimate", files={"file": ("big-field.jsonl", _rows())},
                       data={field: "m" * 100_000}, follow_redirects=False)
    _a_page(resp)
    assert len(resp.headers.get("location", "")) < 8000
    (stored,) = backend.files.list(backend.tenant(ALICE))["data"]
    if field == "method":  # an unknown method is refused as on the page's own form
        assert resp.status_code == 400 and "Unknown method" in resp.text
    else:
        assert resp.status_code == 200 and f"Uploaded big-field.jsonl as {stored['id']}." in resp.text


def test_an_upload_with_ordinary_fields_still_redirects_to_the_priced_file(backend):
    client = _login(TestClient(create_app(backend)))
    resp = client.post("/console/planner/estimate", files={"file": ("t.jsonl", _rows())},
                       data={"model": "gpt-4o-mini-2024-07-18", "n_epochs": "3"}, follow_redirects=False)
    assert resp.status_code == 303 and "n_epochs=3" in resp.headers["location"]


GET_PAGES = ["/", "/console/jobs", "/console/jobs/rows", "/console/files", "/console/models", "/console/faults",
             "/console/planner/estimate", "/console/planner/compare", "/console/planner/decide",
             "/console/planner/whatif", "/console/azure/deployments", "/console/azure/deployments/rows",
             "/console/clock", "/console/jobs/ftjob-abc", "/console/jobs/ftjob-abc/live", "/console/files/file-abc"]
QUERY_NAMES = ["status", "q", "file_id", "model", "method", "n_epochs", "calls_per_month", "months", "today",
               "provider", "azure_tier", "deployments", "retrain_every", "after_shutdown_cost_usd", "n_examples",
               "fact_retrieval", "input_tokens", "seconds", "format"]


@settings(max_examples=150, deadline=None)
@given(path=st.sampled_from(GET_PAGES), query=st.dictionaries(st.sampled_from(QUERY_NAMES), FIELD_TEXT, max_size=4),
       hx=st.booleans())
def test_any_query_string_on_any_console_page_is_a_console_page(world, path, query, hx):
    client, _ = world
    resp = client.get(path, params=query, headers={"hx-request": "true"} if hx else {})
    assert resp.status_code < 500, resp.text
    assert resp.headers["content-type"].startswith("text/html"), resp.text


@pytest.mark.parametrize("length", [3801, 5000, 60_000])
def test_a_key_too_long_for_a_cookie_is_refused_on_the_key_page(backend, length):
    """A browser drops a cookie past 4 KB without a word: the key was 'remembered', then every page asked for it
    again. It is refused where it is typed."""
    client = TestClient(create_app(backend))
    resp = client.post("/console/key", data={"api_key": "k" * length}, follow_redirects=False)
    _a_page(resp)
    assert resp.status_code == 400 and "up to 3,800 characters" in resp.text
    assert "set-cookie" not in resp.headers


def test_a_long_key_that_fits_a_cookie_is_kept(backend):
    client = TestClient(create_app(backend))
    resp = client.post("/console/key", data={"api_key": "k" * 3800}, follow_redirects=False)
    assert resp.status_code == 303 and client.get("/console/jobs").status_code == 200


def test_the_console_never_moves_the_clock_past_its_end(backend):
    """Advancing past the year 9999 answered a 500, and every page after it too (the clock never moves back)."""
    import datetime as dt

    client = _login(TestClient(create_app(backend), raise_server_exceptions=False))
    backend.clock.set(dt.datetime(9999, 12, 30, tzinfo=dt.timezone.utc).timestamp())  # a world already past it
    resp = client.post("/console/clock/advance", params={"seconds": str(2 * 86400)})
    _a_page(resp)
    assert resp.status_code == 400 and client.get("/console/jobs").status_code == 200

    backend = Backend()
    client = _login(TestClient(create_app(backend), raise_server_exceptions=False))
    CLOCK_END = int(dt.datetime(9989, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc).timestamp())
    backend.clock.set(CLOCK_END - 3600)
    resp = client.post("/console/clock/advance", params={"seconds": str(366 * 86400)})
    _a_page(resp)
    assert resp.status_code == 400 and "The simulated clock ends on 9989-12-31" in resp.text
    assert backend.now() == CLOCK_END - 3600
    assert client.post("/console/clock/advance", params={"seconds": "3600"}).status_code == 200
    assert backend.now() == CLOCK_END and dt.datetime.fromtimestamp(CLOCK_END, dt.timezone.utc).year == 9989
    assert client.post("/console/clock/advance", params={"seconds": "1"}).status_code == 400
    assert client.post("/console/clock/run").status_code == 200 and backend.now() == CLOCK_END
    for path in ("/console/jobs", "/console/clock", "/console/planner/compare", "/console/planner/estimate"):
        assert client.get(path).status_code == 200, path
    backend.close()
