"""One tenant's job body never reaches another tenant: a learning rate a float cannot hold, or a stored NaN, was
a 500 or locked the whole database ("malformed JSON": every tenant's writes refused until restart)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ftsim.api.http.app import create_app
from ftsim.simulator.core.backend import Backend

AUTH = {"Authorization": "Bearer sk-hostile", "content-type": "application/json"}


def _with_raw(body: dict, raw: bytes) -> bytes:
    """`body` as JSON with `raw` as its hyperparameters.learning_rate_multiplier."""
    text = json.dumps({**body, "hyperparameters": {"learning_rate_multiplier": "\x00lr\x00"}}).encode()
    return text.replace(b'"\\u0000lr\\u0000"', raw)


def _upload(http: TestClient, key: str) -> str:
    rows = "".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                            {"role": "assistant", "content": f"a{i}"}]}) + "\n" for i in range(10))
    res = http.post("/v1/files", headers={"Authorization": f"Bearer {key}"}, data={"purpose": "fine-tune"},
                    files={"file": ("t.jsonl", rows.encode())})
    assert res.status_code == 200, res.text
    return res.json()["id"]


@settings(max_examples=40, deadline=None)
@given(value=st.integers(min_value=2**1024, max_value=10**4000) | st.integers(max_value=-(2**1024)),
       legacy=st.booleans())
def test_learning_rate_multiplier_beyond_a_float_is_a_400(value: int, legacy: bool) -> None:
    """An integer learning_rate_multiplier past 1.8e308 was a 500 (OverflowError echoing it as a float)."""
    with TestClient(create_app(Backend()), raise_server_exceptions=False) as http:
        file_id = _upload(http, "sk-hostile")
        hp = {"learning_rate_multiplier": value}
        body = {"model": "gpt-4o-mini-2024-07-18", "training_file": file_id}
        body.update({"hyperparameters": hp} if legacy else {"method": {"type": "supervised",
                                                                       "supervised": {"hyperparameters": hp}}})
        response = http.post("/v1/fine_tuning/jobs", content=json.dumps(body).encode(), headers=AUTH)
    assert response.status_code == 400, response.text[:300]
    assert response.json()["error"]["param"].endswith("hyperparameters.learning_rate_multiplier")


def test_one_tenants_infinite_learning_rate_cannot_lock_the_store_for_everyone() -> None:
    """`learning_rate_multiplier: Infinity` was accepted and stored; the next job create then found the database
    "malformed" and refused every tenant's writes (503) until restart. Now a 400, and the other tenant works on."""
    backend = Backend()
    with TestClient(create_app(backend), raise_server_exceptions=False) as http:
        file_id = _upload(http, "sk-hostile")
        for literal in (b"Infinity", b"1e400", b"Infinity"):
            body = _with_raw({"model": "gpt-4o-mini-2024-07-18", "training_file": file_id}, literal)
            assert http.post("/v1/fine_tuning/jobs", content=body, headers=AUTH).status_code == 400
        other = _upload(http, "sk-bystander")
        res = http.post("/v1/fine_tuning/jobs", headers={"Authorization": "Bearer sk-bystander"},
                        json={"model": "gpt-4o-mini-2024-07-18", "training_file": other})
        assert res.status_code == 200, res.text


def test_the_store_refuses_a_non_json_float_and_stays_writable() -> None:
    """Whatever path a NaN takes to the store, it fails that write alone: the database is never left "malformed"."""
    backend = Backend()
    store = backend.store
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            store.put("probe", "t", "x", {"id": "x", "v": bad})
        with pytest.raises(ValueError):
            store.put_many("probe", "t", [{"id": "y", "v": [bad]}])
    store.put("probe", "t", "x", {"id": "x", "v": 1.5})
    assert store.count_where("probe", "t", equal=("$.v", 1.5)) == 1
    store.check_writable()
