"""One decision, four doors: `ftsim decide --answers FILE`, the interactive `ftsim decide`, POST /planning/decide
and the console's decide form give the same recommendation and numbers for the same answers."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ftsim.api.cli import main
from ftsim.api.http.app import create_app
from ftsim.pricing.planning.decide import FOLLOW_UPS, QUESTIONS
from ftsim.simulator.core.backend import Backend
from ftsim.simulator.core.clock import ManualClock
from tests.api.test_console import _login

ROOT = Path(__file__).parents[2]
TOY = ROOT / "fixtures" / "datasets" / "toy_chat_fine_tuning.jsonl"
# the walk of a cost play (SFT, no preference pairs) by an organization OpenAI still trains for
COST_PLAY = dict(fact_retrieval=False, failure_is_style=False, has_rubric=True, n_examples=1000, few_shot_works=False,
                 prompt_cost_pain=True, has_preference_data=False, has_fine_tuned_before=True,
                 recent_fine_tuned_inference=True, calls_per_month=100_000, input_tokens=500, output_tokens=300)
SETS = {
    "short_prompt": (dict(COST_PLAY, system_prompt_tokens=800), "2026-12-06"),
    "long_prompt_share_assumed": (dict(COST_PLAY, system_prompt_tokens=2000), "2026-12-06"),
    "long_prompt_share_given": (dict(COST_PLAY, system_prompt_tokens=2000, cached_fraction=Decimal("0.3")),
                                "2026-12-06"),
    # after OpenAI's 2027-01-06 training stop only Azure remains
    "after_openai_training_stop": (dict(COST_PLAY, calls_per_month=10_000_000, system_prompt_tokens=2000,
                                        cached_fraction=Decimal("0")),
                                   "2027-01-07"),
    "rft": (dict(fact_retrieval=False, failure_is_style=False, has_rubric=True, n_examples=200, few_shot_works=False,
                 prompt_cost_pain=False, verifiable_task=True, has_fine_tuned_before=True,
                 recent_fine_tuned_inference=True), "2026-12-06"),
    "dataset_path": (dict(COST_PLAY, system_prompt_tokens=2000, cached_fraction=Decimal("0.5"),
                          training_file=str(TOY)), "2026-12-06"),
}


def _toml(answers: dict) -> str:
    def value(a):
        if isinstance(a, bool):
            return "true" if a else "false"
        if isinstance(a, str):
            return json.dumps(a)
        return str(a)

    return "".join(f"{k} = {value(a)}\n" for k, a in answers.items())


def _answers_file(tmp_path, answers, today, capsys) -> dict:
    path = tmp_path / "answers.toml"
    path.write_text(_toml(answers), encoding="utf-8")
    assert main(["decide", "--answers", str(path), "--json", "--today", today]) == 0
    return json.loads(capsys.readouterr().out)


def _interactive(monkeypatch, answers, today, capsys) -> dict:
    by_text = {q.text: q for q in QUESTIONS + FOLLOW_UPS}
    asked: list[str] = []

    def reply(prompt: str = "") -> str:
        question = by_text[prompt.rsplit(" [", 1)[0]]
        asked.append(question.id)
        answer = answers.get(question.id)
        if question.kind == "bool":
            return "yes" if answer else "no"
        if question.kind == "percent":
            return "" if answer is None else f"{answer * 100}%"
        return "" if answer is None else str(answer)

    # with --json the prompt goes to stderr and input() is called bare: the prompt is read where it is written
    monkeypatch.setattr("ftsim.api.cli.decide._ask_on_stderr", reply)
    assert main(["decide", "--json", "--today", today]) == 0
    # every answer given was asked for (a question the walk skipped would make the doors differ unseen)
    assert set(answers) <= set(asked)
    return json.loads(capsys.readouterr().out)


def _http(answers, today) -> dict:
    backend = Backend()
    try:
        body = {k: (str(a) if isinstance(a, Decimal) else a) for k, a in answers.items()}
        resp = TestClient(create_app(backend)).post("/planning/decide", json=body | {"today": today},
                                                    headers={"Authorization": "Bearer sk-test"})
        assert resp.status_code == 200, resp.text
        return resp.json()
    finally:
        backend.close()


def _console(answers, today) -> str:
    """The console's final page for these answers, its clock on `today` (the console decides as of the simulated
    date)."""
    start = dt.datetime.fromisoformat(today).replace(tzinfo=dt.timezone.utc).timestamp()
    backend = Backend(clock=ManualClock(start=start))
    try:
        client = _login(TestClient(create_app(backend)))
        params = {}
        for k, a in answers.items():
            params[k] = (str(a).lower() if isinstance(a, bool) else f"{a * 100}" if isinstance(a, Decimal)
                         else str(a))
        if answers.get("system_prompt_tokens", 0) >= 1024 and "cached_fraction" not in answers:
            params["cached_fraction"] = ""  # a blank answer: the stated assumption
        page = client.get("/console/planner/decide", params=params)
        assert page.status_code == 200 and 'id="recommendation"' in page.text, page.text
        return page.text
    finally:
        backend.close()


@pytest.mark.parametrize("name", list(SETS))
def test_every_door_gives_the_same_decision(name, tmp_path, monkeypatch, capsys):
    answers, today = SETS[name]
    from_file = _answers_file(tmp_path, answers, today, capsys)
    interactive = _interactive(monkeypatch, answers, today, capsys)
    assert from_file == interactive  # recommendation, path, every figure and warning
    if name == "dataset_path":
        # a path on the server's disk: /planning/compare refuses one over HTTP, /planning/decide reads it (left as
        # it is here, not held to); the console asks for no path (CONSOLE_SKIPS) and prices uploads instead
        without = _answers_file(tmp_path, {k: a for k, a in answers.items() if k != "training_file"}, today, capsys)
        assert from_file["compare"]["tuned"]["training_cost_usd"] != without["compare"]["tuned"]["training_cost_usd"]
        return
    assert _http(answers, today) == from_file
    if name == "after_openai_training_stop":
        assert from_file["provider"] == "azure" and from_file["recommendation"] == "sft"
        assert [a["can_train"] for a in from_file["availability"]] == [False, True]
    page = html_lib.unescape(_console(answers, today))
    assert f'data-recommendation="{from_file["recommendation"]}"' in page
    assert from_file["summary"] in page
    for warning in from_file["warnings"]:
        assert warning in page
    figures = from_file["compare"]
    if figures is None:
        assert 'id="cached-share"' not in page
        return
    shown = dict(re.findall(r"<dt>([^<]+)</dt><dd>(.*?)</dd>", page))
    assert shown["Verdict"] == figures["verdict"].replace("_", " ")
    assert shown["Net savings over the horizon"] == f"${Decimal(figures['net_savings_over_horizon_usd']):,}"
    assert shown["Training"] == f"${Decimal(figures['tuned']['training_cost_usd']):,}"
    share = f"{(Decimal(figures['cached_fraction']) * 100).normalize():f}%"
    assert shown["Cached share of the long prompt"] == (
        f'<span id="cached-share">{share}</span>' + (" (assumed)" if figures["cached_fraction_assumed"] else ""))
