"""/planning over HTTP: compare, whatif, decide, estimate; bad input is a 400 envelope, never a 500."""

from __future__ import annotations

import io
import json
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest


ROOT = Path(__file__).parents[2]
TOY = ROOT / "fixtures" / "datasets" / "toy_chat_fine_tuning.jsonl"
AUTH = {"Authorization": "Bearer sk-test"}
TV8 = dict(model="gpt-4.1-mini", calls_per_month=100_000, system_prompt_tokens=2000, input_tokens=500,
           output_tokens=300, training_tokens=2_400_000, today="2026-11-22", cached_fraction=0)


def envelope(resp, status=400):
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error


def scenario(name: str) -> dict:
    data = tomllib.loads((ROOT / "fixtures" / "scenarios" / name).read_text(encoding="utf-8"))
    if "today" in data:
        data["today"] = data["today"].isoformat()
    return data


def test_compare_tv8(http):
    body = http.post("/planning/compare", json=TV8).json()
    assert Decimal(body["base"]["cost_per_call_usd"]) == Decimal("0.00148")
    assert Decimal(body["tuned"]["cost_per_call_usd"]) == Decimal("0.00136")
    assert Decimal(body["tuned"]["training_cost_usd"]) == Decimal("12.00")
    assert body["break_even_calls"] == 100000 and body["verdict"] == "pays_back"
    cached = http.post("/planning/compare", json={**TV8, "cached_fraction": 1}).json()
    assert cached["break_even_calls"] is None


def test_compare_without_training_input(http):
    resp = http.post("/planning/compare", json={k: v for k, v in TV8.items() if k != "training_tokens"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["tuned"]["training_cost_usd"] == "0.00" and body["break_even_calls"] == 0
    assert any("No training cost given" in w for w in body["warnings"])
    error = envelope(http.post("/planning/compare", json={**TV8, "training_hours": 2}))
    assert "at most one" in error["message"]


def test_compare_defaults_today_to_the_simulated_clock(http, backend):
    import datetime as dt

    body = http.post("/planning/compare", json={k: v for k, v in TV8.items() if k != "today"}).json()
    assert body["today"] == dt.datetime.fromtimestamp(backend.now(), dt.timezone.utc).date().isoformat()


@pytest.mark.parametrize("patch, param", [
    ({"model": "gpt-9"}, "model"),
    ({"cached_fraction": 3}, None),
    ({"training_file": "/etc/passwd", "training_tokens": None}, "training_file"),
    ({"colour": "blue"}, None),
])
def test_compare_errors_are_400(http, patch, param):
    error = envelope(http.post("/planning/compare", json={**TV8, **patch}))
    if param:
        assert error["param"] == param


def test_whatif_json_rows(http):
    body = http.post("/planning/whatif", json={"scenario": scenario("support-bot.toml"), "max_rows": 5}).json()
    assert body["n_rows"] == 126 and len(body["rows"]) == 5
    assert body["baseline"]["break_even_calls"] == 100000
    assert "verdict" in body["columns"]
    first = body["rows"][0]
    assert first["model"] == "gpt-4.1-mini" and first["break_even_calls"] == 100000


@pytest.mark.parametrize("fmt, media, marker", [
    ("html", "text/html", "<svg"), ("md", "text/markdown", "# Support bot"), ("csv", "text/csv", "calls_per_month"),
])
def test_whatif_reports(http, fmt, media, marker):
    resp = http.post("/planning/whatif", json={"scenario": scenario("support-bot.toml"), "format": fmt})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith(media)
    assert marker in resp.text


def test_whatif_estimate_scenario(http):
    body = http.post("/planning/whatif", json={"scenario": scenario("rft-hours.toml")}).json()
    assert body["baseline"] is None and body["n_rows"] == 6


@pytest.mark.parametrize("payload", [
    {"scenario": {"baseline": {"model": "gpt-4.1-mini"}}},
    {"scenario": {**scenario("support-bot.toml"), "sweep": {"colour": [1]}}},
    {"scenario": scenario("support-bot.toml"), "format": "pdf"},
    {"scenario": {**scenario("support-bot.toml"), "sweep": {"calls_per_month": {"start": 0, "stop": 1e9, "step": 1}}}},
])
def test_whatif_errors_are_400(http, payload):
    envelope(http.post("/planning/whatif", json=payload))


def test_decide_every_answers_file(http):
    for path in sorted((ROOT / "fixtures" / "answers").glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        if "today" in data:
            data["today"] = data["today"].isoformat()
        body = http.post("/planning/decide", json=data).json()
        expected = path.stem.replace("-", "_").replace("_cost_play", "").replace("rft_unavailable", "prompt_with_grader")
        assert body["recommendation"] == expected, path.name


def test_decide_refuses_a_local_training_file_over_http(http, tmp_path):
    """`training_file` is the CLI's path on its own machine: over HTTP it would read the server's files for anyone
    (their token counts, or their errors, echoed back), so decide refuses it as compare does."""
    secret = tmp_path / "secret.jsonl"
    secret.write_text(TOY.read_text(encoding="utf-8"), encoding="utf-8")
    data = tomllib.loads((ROOT / "fixtures" / "answers" / "sft-cost-play.toml").read_text(encoding="utf-8"))
    data["today"] = "2026-12-06"
    for path in (str(secret), "/etc/passwd", str(tmp_path / "missing.jsonl")):
        error = envelope(http.post("/planning/decide", json={**data, "training_file": path}))
        assert error["param"] == "training_file" and "cannot be read over HTTP" in error["message"]


def test_decide_missing_answer_is_400_naming_it(http):
    error = envelope(http.post("/planning/decide", json={"fact_retrieval": False}))
    assert error["param"] == "failure_is_style"


def test_estimate_inline_examples(http):
    examples = [json.loads(line) for line in TOY.read_text(encoding="utf-8").splitlines() if line.strip()]
    body = http.post("/planning/estimate", json={"model": "gpt-4o-mini", "examples": examples, "n_epochs": 3}).json()
    assert body["n_examples"] == 5 and body["n_epochs"] == 3
    assert Decimal(body["training_cost_usd"]) == Decimal(body["trained_tokens"]) * Decimal(3) / 1_000_000


def test_estimate_uploaded_file(http):
    upload = http.post("/v1/files", headers=AUTH, data={"purpose": "fine-tune"},
                       files={"file": ("toy.jsonl", io.BytesIO(TOY.read_bytes()), "application/jsonl")})
    assert upload.status_code == 200, upload.text
    file_id = upload.json()["id"]
    body = http.post("/planning/estimate", headers=AUTH, json={"model": "gpt-4o-mini", "file_id": file_id}).json()
    inline = http.post("/planning/estimate", json={
        "model": "gpt-4o-mini",
        "examples": [json.loads(line) for line in TOY.read_text(encoding="utf-8").splitlines() if line.strip()],
    }).json()
    assert body["trained_tokens"] == inline["trained_tokens"]
    envelope(http.post("/planning/estimate", json={"model": "gpt-4o-mini", "file_id": file_id}), 401)
    other = {"Authorization": "Bearer sk-other-org"}
    envelope(http.post("/planning/estimate", headers=other, json={"model": "gpt-4o-mini", "file_id": file_id}), 404)


def test_estimate_unknown_file_names_the_request_field(http):
    error = envelope(http.post("/planning/estimate", headers=AUTH,
                               json={"model": "gpt-4o-mini", "file_id": "file-nope"}), 404)
    assert error["param"] == "file_id"
    upload = http.post("/v1/files", headers=AUTH, data={"purpose": "fine-tune"},
                       files={"file": ("toy.jsonl", io.BytesIO(TOY.read_bytes()), "application/jsonl")})
    error = envelope(http.post("/planning/estimate", headers=AUTH, json={
        "model": "gpt-4o-mini", "file_id": upload.json()["id"], "validation_file_id": "file-nope"}), 404)
    assert error["param"] == "validation_file_id"


@pytest.mark.parametrize("payload", [
    {"model": "gpt-4o-mini"},
    {"model": "gpt-4o-mini", "examples": [], "file_id": "file-x"},
    {"model": "gpt-4o-mini", "examples": []},
    {"model": "gpt-4o-mini", "examples": [{"messages": "nope"}] * 10},
    {"model": "gpt-9", "examples": [{"messages": []}]},
    {"model": "gpt-4o-mini", "examples": [{"messages": []}], "n_epochs": 0},
])
def test_estimate_errors_are_400(http, payload):
    envelope(http.post("/planning/estimate", json=payload))


def test_openapi_lists_the_planning_routes(http):
    paths = http.get("/openapi.json").json()["paths"]
    assert {"/planning/compare", "/planning/whatif", "/planning/decide", "/planning/estimate"} <= set(paths)


def test_estimate_partial_over_http_and_strict(http, backend):
    import datetime as dt

    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    bad = {"messages": [{"role": "user", "content": "no answer"}]}
    examples = [good] * 12 + [bad]
    body = http.post("/planning/estimate", json={"model": "gpt-4o-mini", "examples": examples}).json()
    assert body["partial"] is True and body["n_examples"] == 12 and body["errors"][0]["first_lines"] == [13]
    assert body["as_of"] == dt.datetime.fromtimestamp(backend.now(), dt.timezone.utc).date().isoformat()
    envelope(http.post("/planning/estimate", json={"model": "gpt-4o-mini", "examples": examples, "strict": True}))


def test_compare_both_providers_over_http(http):
    body = http.post("/planning/compare", json={**TV8, "provider": "both", "calls_per_month": 2_000_000}).json()
    assert [r["provider"] for r in body["results"]] == ["openai", "azure"]
    azure = body["results"][1]
    assert azure["tuned"]["hosting_monthly_usd"] == "1241.00" and azure["break_even_calls_per_month"] > 1_551_250


def test_every_planning_endpoint_uses_the_simulated_clocks_date(http, backend):
    """One as-of date: estimate, compare, whatif and decide all report the clock's date, and their lifecycle
    figures agree (the same horizon end and days left)."""
    import datetime as dt

    backend.advance(13 * 86400)
    today = dt.datetime.fromtimestamp(backend.now(), dt.timezone.utc).date()
    base = {k: v for k, v in TV8.items() if k != "today"}
    compare = http.post("/planning/compare", json=base).json()
    whatif = http.post("/planning/whatif", json={"scenario": {"baseline": base}}).json()
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    estimate = http.post("/planning/estimate", json={"model": "gpt-4.1-mini", "examples": [good] * 10}).json()
    answers = tomllib.loads((ROOT / "fixtures" / "answers" / "sft-cost-play.toml").read_text(encoding="utf-8"))
    answers.pop("today")
    decide = http.post("/planning/decide", json=answers).json()
    assert compare["as_of"] == whatif["as_of"] == estimate["as_of"] == decide["as_of"] == today.isoformat()
    assert whatif["baseline"]["horizon_end"] == compare["horizon_end"] == decide["compare"]["horizon_end"]
    days = (dt.date(2027, 1, 6) - today).days
    assert any(f"({days} days left)" in w for w in estimate["warnings"])
