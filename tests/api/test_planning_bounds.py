"""Issue 13, defect 6: crafted numbers and titles never give a 5xx; every bound is a 400 in OpenAI's envelope.

The property tests throw open-ended numbers (huge, negative, fractional, non-numeric) at every numeric field of
/planning/compare, /planning/whatif, /planning/estimate and /planning/decide: the answer is a 200 or a 4xx
envelope, never a 5xx.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ftsim.api.http.app import create_app
from ftsim.pricing.planning.bounds import MAX_CALLS_PER_MONTH, MAX_TOKENS_PER_CALL, MAX_TRAINING_HOURS
from ftsim.simulator.core.backend import Backend

TV8 = dict(model="gpt-4.1-mini", calls_per_month=100_000, system_prompt_tokens=2000, input_tokens=500,
           output_tokens=300, training_tokens=2_400_000, today="2026-11-22")
EXAMPLE = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
RFT_EXAMPLE = {"messages": [{"role": "user", "content": "2+2?"}], "answer": "4"}

_CLIENT: TestClient | None = None


def client() -> TestClient:
    """One app for the property tests (hypothesis reruns the body many times)."""
    global _CLIENT
    if _CLIENT is None:
        _CLIENT = TestClient(create_app(Backend()), base_url="http://testserver", raise_server_exceptions=False)
    return _CLIENT


def envelope(resp, status=400):
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error


@pytest.mark.parametrize("field", ["calls_per_month", "system_prompt_tokens", "input_tokens", "output_tokens",
                                   "training_tokens", "tuned_system_prompt_tokens"])
@pytest.mark.parametrize("value", [10**40, 1e40, 10**30])
def test_compare_huge_numbers_are_400(field, value):
    error = envelope(client().post("/planning/compare", json={**TV8, field: value}))
    assert error["param"] == field


def test_compare_bounds_are_inclusive():
    ok = client().post("/planning/compare", json={**TV8, "calls_per_month": MAX_CALLS_PER_MONTH,
                                                  "system_prompt_tokens": MAX_TOKENS_PER_CALL})
    assert ok.status_code == 200, ok.text
    error = envelope(client().post("/planning/compare", json={**TV8, "calls_per_month": MAX_CALLS_PER_MONTH + 1}))
    assert "1000000000000" in error["message"]


@pytest.mark.parametrize("where", ["baseline", "sweep_list", "sweep_range"])
def test_whatif_huge_numbers_are_400(where):
    base = {k: v for k, v in TV8.items() if k != "today"}
    if where == "baseline":
        scenario = {"baseline": {**base, "calls_per_month": 10**40}}
    elif where == "sweep_list":
        scenario = {"baseline": base, "sweep": {"system_prompt_tokens": [1, 10**40]}}
    else:
        scenario = {"baseline": base, "sweep": {"calls_per_month": {"start": 1, "stop": 1e40, "num": 3}}}
    envelope(client().post("/planning/whatif", json={"scenario": scenario}))


@pytest.mark.parametrize("field", ["n_examples", "tokens_per_example", "training_hours"])
def test_whatif_estimate_scenario_huge_numbers_are_400(field):
    baseline = {"model": "gpt-4.1-mini", "n_examples": 100, "tokens_per_example": 500}
    if field == "training_hours":
        baseline = {"model": "o4-mini", "training_hours": 1}
    scenario = {"kind": "estimate", "baseline": baseline, "sweep": {field: [1, 10**40]}}
    envelope(client().post("/planning/whatif", json={"scenario": scenario}))


@pytest.mark.parametrize("hours", [1e40, 10**40, "1e40", MAX_TRAINING_HOURS + 1])
def test_estimate_huge_hours_is_400(hours):
    body = {"model": "o4-mini", "method": "reinforcement", "hours": str(hours) if not isinstance(hours, (int, float)) else hours,
            "examples": [RFT_EXAMPLE] * 10}
    error = envelope(client().post("/planning/estimate", json=body))
    assert error["param"] == "hours"


@pytest.mark.parametrize("fmt", ["html", "md", "csv", "json"])
def test_whatif_tiny_figures_render(fmt):
    """calls_per_month <= 100 with 1-token prompts: the report's axes were divided by zero."""
    scenario = {"baseline": {"model": "gpt-4.1-mini", "calls_per_month": 100, "system_prompt_tokens": 1,
                             "input_tokens": 1, "output_tokens": 1}, "sweep": {"calls_per_month": [0, 1, 100]}}
    resp = client().post("/planning/whatif", json={"scenario": scenario, "format": fmt})
    assert resp.status_code == 200, resp.text


def test_whatif_cli_tiny_figures_write_a_report(tmp_path, capsys):
    from ftsim.api.cli import main

    path = tmp_path / "s.toml"
    path.write_text('[baseline]\nmodel = "gpt-4.1-mini"\ncalls_per_month = 100\nsystem_prompt_tokens = 1\n'
                    'input_tokens = 1\noutput_tokens = 1\n', encoding="utf-8")
    out = tmp_path / "x.html"
    assert main(["whatif", str(path), "--out", str(out), "--today", "2026-12-05"]) == 0
    assert "<svg" in out.read_text(encoding="utf-8")


def test_whatif_cli_huge_numbers_one_line(tmp_path, capsys):
    from ftsim.api.cli import main

    path = tmp_path / "s.toml"
    path.write_text('[baseline]\nmodel = "gpt-4.1-mini"\ncalls_per_month = 1e40\nsystem_prompt_tokens = 1\n'
                    'input_tokens = 1\noutput_tokens = 1\n', encoding="utf-8")
    assert main(["whatif", str(path), "--out", str(tmp_path / "x.html")]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_markdown_report_escapes_the_title():
    scenario = {"title": "# <script>alert(1)</script> | *x*", "baseline": {**{k: v for k, v in TV8.items()
                                                                             if k != "today"}}}
    text = client().post("/planning/whatif", json={"scenario": scenario, "format": "md"}).text
    first = text.splitlines()[0]
    assert "<script>" not in text
    assert first == "# \\# &lt;script&gt;alert(1)&lt;/script&gt; \\| \\*x\\*"


numbers = st.one_of(
    st.integers(min_value=-10**45, max_value=10**45),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["1e40", "NaN", "Infinity", "-0", "lots", "", None, True, [], {}]),
)
COMPARE_FIELDS = ["calls_per_month", "system_prompt_tokens", "input_tokens", "output_tokens", "training_tokens",
                  "tuned_system_prompt_tokens", "cached_fraction", "batch_fraction", "months", "retrain_every",
                  "training_hours", "deployments", "after_shutdown_cost_usd"]


def _no_5xx(resp) -> None:
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        envelope(resp, resp.status_code)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(COMPARE_FIELDS), value=numbers, provider=st.sampled_from(["openai", "azure", "both"]))
def test_property_compare_never_5xx(field, value, provider):
    body = {**TV8, field: value, "provider": provider}
    if field == "training_hours":
        body.pop("training_tokens")
    _no_5xx(client().post("/planning/compare", json=body))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(COMPARE_FIELDS), value=numbers, fmt=st.sampled_from(["json", "html", "md"]),
       swept=st.booleans())
def test_property_whatif_never_5xx(field, value, fmt, swept):
    base = {k: v for k, v in TV8.items() if k != "today"}
    if field == "training_hours":
        base.pop("training_tokens")
    scenario = {"baseline": base, "sweep": {field: [value]}} if swept else {"baseline": {**base, field: value}}
    _no_5xx(client().post("/planning/whatif", json={"scenario": scenario, "format": fmt}))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(["hours", "n_epochs"]), value=numbers)
def test_property_estimate_never_5xx(field, value):
    body = {"model": "o4-mini", "method": "reinforcement", "examples": [RFT_EXAMPLE] * 10, field: value}
    _no_5xx(client().post("/planning/estimate", json=body))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(["n_examples", "calls_per_month", "system_prompt_tokens", "input_tokens",
                              "output_tokens", "training_tokens", "rft_hours", "months"]), value=numbers)
def test_property_decide_never_5xx(field, value):
    body = {"fact_retrieval": False, "failure_is_style": False, "has_rubric": True, "n_examples": 200,
            "few_shot_works": False, "prompt_cost_pain": True, "has_preference_data": False,
            "calls_per_month": 100_000, "system_prompt_tokens": 2000, "input_tokens": 500, "output_tokens": 300,
            field: value}
    _no_5xx(client().post("/planning/decide", json=body))
