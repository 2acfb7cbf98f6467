"""Azure fidelity details settled by Microsoft's documentation: the v1 chat body's `model`, deployment names'
case, and the words of Azure-visible limits."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ftsim.api.testing.simulator import Simulator

ENDPOINT = "https://contoso.openai.azure.com"
HI = [{"role": "user", "content": "hi"}]

_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                     | st.text(max_size=5), lambda kids: st.lists(kids, max_size=3)
                     | st.dictionaries(st.text(max_size=5), kids, max_size=3), max_leaves=6)


@settings(max_examples=40, deadline=None)
@given(model=_JSON.filter(lambda v: not isinstance(v, str)))
def test_a_v1_chat_body_whose_model_is_not_a_string_is_a_400_not_a_missing_deployment(model) -> None:
    """Microsoft's v1 reference types `model` as the body's required string: a number, null, a list or an object
    there is a malformed body (400, Azure's envelope), not a deployment that does not exist (404)."""
    with Simulator() as sim, TestClient(sim.app, base_url=ENDPOINT, headers={"api-key": "az-m"}) as c:
        r = c.post("/openai/v1/chat/completions", content=json.dumps({"model": model, "messages": HI}),
                   headers={"content-type": "application/json"})
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["code"] != "DeploymentNotFound" and err["message"] and err.get("param") == "model"


def test_a_v1_chat_body_without_model_is_a_400_and_an_unknown_name_still_404() -> None:
    with Simulator() as sim, TestClient(sim.app, base_url=ENDPOINT, headers={"api-key": "az-m"}) as c:
        missing = c.post("/openai/v1/chat/completions", json={"messages": HI})
        assert missing.status_code == 400 and missing.json()["error"]["param"] == "model"
        unknown = c.post("/openai/v1/chat/completions", json={"model": "nope", "messages": HI})
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "DeploymentNotFound"
