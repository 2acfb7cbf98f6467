"""Schema fuzzing: schemathesis drives every operation of the server's own OpenAPI document, with auth.

No response is a 5xx, every documented success conforms to its schema, and every error is OpenAI's envelope.
Fast by default (a few derandomized examples per operation, no coverage phase); FTSIM_FUZZ_EXAMPLES=500 for a
deep run with schemathesis' coverage phase too.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from ftsim.api.http.app import create_app
from ftsim.simulator.core.backend import Backend

DEEP = "FTSIM_FUZZ_EXAMPLES" in os.environ
EXAMPLES = int(os.environ.get("FTSIM_FUZZ_EXAMPLES", "6"))
AUTH = {"Authorization": "Bearer sk-fuzz-tenant"}
ENVELOPE_KEYS = {"message", "type", "param", "code"}

app = create_app(Backend())
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
if not DEEP:  # the coverage phase adds dozens of boundary cases per operation: deep runs only
    schema.config.phases.update(phases=["examples", "fuzzing"])


def assert_envelope(response) -> None:
    """An error response carries exactly OpenAI's envelope."""
    assert response.status_code < 500, f"{response.status_code}: {response.text[:500]}"
    if response.status_code < 400:
        return
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == ENVELOPE_KEYS, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    assert isinstance(body["error"]["type"], str) and body["error"]["type"], body


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_operation_never_5xx_and_errors_are_envelopes(case) -> None:
    """Generated requests (valid and invalid) never crash the server nor leave the envelope."""
    response = case.call(headers=AUTH)
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance], headers=AUTH)
    assert_envelope(response)
    assert response.headers.get("x-request-id", [""])[0].startswith("req_")


@pytest.mark.parametrize("method,path", [("GET", "/v1/files"), ("GET", "/v1/files/file-x"), ("POST", "/v1/files")])
def test_missing_or_bad_auth_is_401_envelope(method: str, path: str) -> None:
    """Without a Bearer key every /v1 route answers 401 invalid_api_key in the envelope."""
    from starlette.testclient import TestClient

    client = TestClient(app)
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}):
        response = client.request(method, path, headers=headers)
        assert response.status_code == 401
        assert_envelope(response)
        assert response.json()["error"]["code"] == "invalid_api_key"
