"""HTTP door of /v1/fine_tuning/alpha/graders: spec-valid run and validate bodies, 400 for bad graders."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ftsim.api.http.app import create_app
from ftsim.simulator.core.backend import Backend, SimConfig
from tests.openapi_schema import assert_schema

AUTH = {"Authorization": "Bearer sk-test"}
GRADER = {"type": "string_check", "name": "g", "input": "{{sample.output_text}}", "reference": "{{item.a}}",
          "operation": "eq"}
PATH = "/v1/fine_tuning/alpha/graders"


@pytest.fixture
def http():
    b = Backend()
    yield TestClient(create_app(b), base_url="http://testserver")
    b.close()


def test_validate(http):
    resp = http.post(f"{PATH}/validate", json={"grader": GRADER}, headers=AUTH)
    assert resp.status_code == 200
    assert resp.json() == {"grader": GRADER}
    assert_schema(resp.json(), "ValidateGraderResponse")


@pytest.mark.parametrize("grader", [
    GRADER,
    {"type": "multi", "name": "m", "calculate_output": "0.3 * a + 0.7 * s",
     "graders": {"a": GRADER, "s": {"type": "score_model", "name": "s", "model": "gpt-4.1-mini",
                                    "input": [{"role": "user", "content": "grade {{sample.output_text}}"}]}}},
])
def test_run(http, grader):
    resp = http.post(f"{PATH}/run", json={"grader": grader, "model_sample": "yes", "item": {"a": "yes"}}, headers=AUTH)
    assert resp.status_code == 200, resp.text
    assert_schema(resp.json(), "RunGraderResponse")
    assert len(resp.json()["metadata"]["errors"]) == 14


@pytest.mark.parametrize("body", [
    {"grader": {"type": "string_check", "name": "g"}, "model_sample": "x"},
    {"grader": {"type": "python", "name": "p", "source": "def grade(s, i):\n    return 1\n"}, "model_sample": "x"},
    {"grader": GRADER},
])
def test_bad_runs_are_400(http, body):
    resp = http.post(f"{PATH}/run", json=body, headers=AUTH)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] in ("grader", "model_sample")


@pytest.mark.parametrize("levels", [150, 400])
@pytest.mark.parametrize("path", ["run", "validate"])
def test_deeply_nested_graders_are_400_not_500(http, path, levels):
    # issue 13, defect 5: content nested 400 lists deep gave a 500 (RecursionError). Under the body's own bound
    # (api/http/json_body.py MAX_DEPTH) the grader's depth check answers; past it, the body is unparseable.
    from ftsim.api.http.json_body import MAX_DEPTH

    content: object = "x"
    for _ in range(levels):
        content = [content]
    grader = {"type": "score_model", "name": "s", "model": "gpt-4.1-mini", "input": [{"role": "user", "content": content}]}
    body = {"grader": grader, "model_sample": "x"} if path == "run" else {"grader": grader}
    resp = http.post(f"{PATH}/{path}", json=body, headers=AUTH)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == ("grader" if levels + 6 <= MAX_DEPTH else None)


_PYTHON_APP = create_app(Backend(config=SimConfig(python_graders=True)))
# Unary chains this long overflow the parser's own stack (MemoryError), whatever the recursion limit
_NESTING = st.sampled_from(["-", "not ", "~", "lambda:"])


@settings(max_examples=20, deadline=None)
@given(op=_NESTING, n=st.integers(min_value=20_000, max_value=30_000), path=st.sampled_from(["run", "validate"]))
def test_python_source_nested_too_deep_to_parse_is_400(op: str, n: int, path: str) -> None:
    """A source under 256 kB that nests an expression thousands deep (`return ------1`) made CPython's parser
    raise MemoryError (RecursionError for chains of `+1` or `.a`): a 500. Now a 400 naming `source`, never run."""
    source = f"def grade(sample, item):\n    return {op * n}1\n"
    grader = {"type": "python", "name": "p", "source": source}
    body = {"grader": grader, "model_sample": "x"} if path == "run" else {"grader": grader}
    with TestClient(_PYTHON_APP, raise_server_exceptions=False) as http:
        resp = http.post(f"{PATH}/{path}", json=body, headers=AUTH)
    assert resp.status_code == 400, resp.text[:200]
    assert resp.json()["error"]["param"] == "grader" and "source" in resp.json()["error"]["message"]


@settings(max_examples=25, deadline=None)
@given(pad=st.text(alphabet=" \t\n\u2003", min_size=1, max_size=4).map(lambda s: s * 25_000),
       closed=st.booleans(), path=st.sampled_from(["run", "validate"]))
def test_template_braces_around_long_whitespace_are_linear(pad: str, closed: bool, path: str) -> None:
    """`{{` then tens of thousands of blanks: the template pattern backtracked cubically over whitespace (3,000
    spaces took 20 s a request, 100,000 would take days), one request holding a worker and a core. Now the
    expression is the text between the braces, stripped: an unknown variable is a 400, `{{ item.a }}` with any
    blanks around it is `item.a`."""
    http = TestClient(_PYTHON_APP)
    text = "{{" + pad + ("}}" if closed else "")
    grader = {**GRADER, "input": text}
    body = {"grader": grader, "model_sample": "x", "item": {"a": "x"}} if path == "run" else {"grader": grader}
    resp = http.post(f"{PATH}/{path}", json=body, headers=AUTH)
    if closed:  # `{{<blanks>}}`: the empty expression is an unknown variable
        assert resp.status_code == 400 and "unknown template variable" in resp.json()["error"]["message"]
    else:  # no closing braces: no template at all, the text is literal
        assert resp.status_code == 200, resp.text[:200]
    spaced = {**GRADER, "input": "{{" + pad[:50] + "sample.output_text" + pad[:50] + "}}", "reference": "x"}
    ok = http.post(f"{PATH}/run", json={"grader": spaced, "model_sample": "x"}, headers=AUTH)
    assert ok.status_code == 200 and ok.json()["reward"] == 1.0
