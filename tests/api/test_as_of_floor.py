"""An as-of date before the catalog covers (before its oldest price copy; 2020-01-01 predates every snapshot in it)
is refused by estimate, compare, what-if and decide alike, through every door, naming the earliest date."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ftsim.api.cli import main
from ftsim.api.http.app import create_app
from ftsim.pricing.catalog.catalog import load_catalog
from ftsim.pricing.errors import AsOfOutOfRange
from ftsim.simulator.core.backend import Backend
from ftsim.simulator.core.clock import ManualClock
from tests.api.test_console import _login, _rows

ROOT = Path(__file__).parents[2]
TOY = ROOT / "fixtures" / "datasets" / "toy_chat_fine_tuning.jsonl"
CATALOG = load_catalog()
FIRST = CATALOG.covers_from
EARLY = "2020-01-01"
AUTH = {"Authorization": "Bearer sk-test"}
COMPARE = dict(model="gpt-4.1-mini", calls_per_month=100_000, system_prompt_tokens=2000, input_tokens=500,
               output_tokens=300, training_tokens=2_400_000)
SFT = dict(fact_retrieval=False, failure_is_style=False, has_rubric=True, n_examples=1000, few_shot_works=False,
           prompt_cost_pain=True, has_preference_data=False, has_fine_tuned_before=True,
           recent_fine_tuned_inference=True, **{k: COMPARE[k] for k in ("calls_per_month", "system_prompt_tokens",
                                                                       "input_tokens", "output_tokens")})


def test_the_earliest_date_is_the_catalogs_oldest_price_copy():
    tables = [t for e in CATALOG.models for t in (
        [e.training] + [p for tier in (e.tuned, e.tuned_data_sharing, e.base) if tier
                        for p in (tier.standard, tier.batch) if p]) if t]
    oldest = min(t.as_of for t in tables)
    assert FIRST == dt.date.fromisoformat(oldest + "-01") == dt.date(2025, 7, 1)
    # data-driven: an older price copy moves the floor
    raw = json.loads((ROOT / "pricing" / "catalog" / "2026-11.json").read_text(encoding="utf-8"))
    raw["models"][0]["training"]["as_of"] = "2024-03"
    from ftsim.pricing.catalog.catalog import Catalog

    assert Catalog.model_validate(raw).covers_from == dt.date(2024, 3, 1)


@given(day=st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(2030, 12, 31)))
def test_check_as_of_refuses_exactly_the_days_before_the_floor(day):
    if day < FIRST:
        with pytest.raises(AsOfOutOfRange, match=FIRST.isoformat()):
            CATALOG.check_as_of(day)
    else:
        CATALOG.check_as_of(day)


# the CLI: one line naming the earliest date, exit 2 (a usage error, like --today past the last date)
@pytest.mark.parametrize("argv", [
    ["compare", *[f"--{k.replace('_', '-')}={v}" for k, v in COMPARE.items()]],
    ["estimate", str(TOY), "--model", "gpt-4.1-mini"],
    ["decide", "--answers", "{answers}"],
])
def test_cli_refuses_an_early_as_of_date(argv, tmp_path, capsys):
    answers = tmp_path / "answers.toml"
    answers.write_text("".join(f"{k} = {str(v).lower()}\n" for k, v in SFT.items()), encoding="utf-8")
    argv = [a.replace("{answers}", str(answers)) for a in argv]
    assert main([*argv, "--today", EARLY]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and EARLY in err[0] and FIRST.isoformat() in err[0], err
    assert main([*argv, "--json", "--today", FIRST.isoformat()]) == 0  # the first day is covered
    assert json.loads(capsys.readouterr().out)["as_of"] == FIRST.isoformat()


def test_interactive_decide_refuses_an_early_as_of_date(monkeypatch, capsys):
    from ftsim.pricing.planning.decide import FOLLOW_UPS, QUESTIONS

    by_text = {q.text: q.id for q in QUESTIONS + FOLLOW_UPS}

    def reply(prompt: str = "") -> str:
        answer = SFT.get(by_text[prompt.rsplit(" [", 1)[0]], "")
        return answer if answer == "" else str(answer).lower()

    monkeypatch.setattr("ftsim.api.cli.decide._ask_on_stderr", reply)
    assert main(["decide", "--json", "--today", EARLY]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and f"{FIRST.isoformat()}" in captured.err.strip().splitlines()[-1]


@pytest.fixture
def http():
    backend = Backend()
    yield TestClient(create_app(backend))
    backend.close()


@pytest.mark.parametrize("route,body", [
    ("/planning/compare", COMPARE),
    ("/planning/compare", dict(COMPARE, provider="both")),
    ("/planning/decide", SFT),
    ("/planning/estimate", {"model": "gpt-4.1-mini", "examples": [json.loads(line) for line in _rows(3).splitlines()]}),
    ("/planning/whatif", {"title": "t", "kind": "compare", "baseline": COMPARE, "sweep": {"months": [6, 12]}}),
])
def test_http_refuses_an_early_as_of_date_with_the_envelope(http, route, body):
    def dated(day: str) -> dict:
        return {"scenario": body | {"today": day}} if route == "/planning/whatif" else body | {"today": day}

    resp = http.post(route, json=dated(EARLY), headers=AUTH)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == "today" and FIRST.isoformat() in error["message"] and EARLY in error["message"]
    assert http.post(route, json=dated(FIRST.isoformat()), headers=AUTH).status_code == 200


def test_console_compare_says_the_earliest_date_on_the_page(http):
    _login(http)
    page = http.get("/console/planner/compare", params={**{k: str(v) for k, v in COMPARE.items()}, "today": EARLY})
    assert page.status_code == 200 and FIRST.isoformat() in page.text and 'id="verdict"' not in page.text


def test_console_decide_and_estimate_on_an_early_simulated_clock_say_the_earliest_date():
    start = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc).timestamp()
    backend = Backend(clock=ManualClock(start=start))
    try:
        client = _login(TestClient(create_app(backend)))
        params = {k: str(v).lower() for k, v in SFT.items()} | {"cached_fraction": ""}
        page = client.get("/console/planner/decide", params=params)
        assert page.status_code == 200 and FIRST.isoformat() in page.text
        assert 'id="recommendation"' not in page.text
        file_id = client.post("/v1/files", headers={"Authorization": "Bearer sk-alice-0000000000"},
                              files={"file": ("train.jsonl", _rows())}, data={"purpose": "fine-tune"}).json()["id"]
        page = client.get("/console/planner/estimate", params={"file_id": file_id})
        assert page.status_code == 200 and FIRST.isoformat() in page.text
        assert 'id="estimate-cost"' not in page.text
    finally:
        backend.close()
