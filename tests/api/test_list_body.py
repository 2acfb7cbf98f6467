"""The list-events body spliced from stored JSON is byte for byte what `json_response` sends for the decoded page."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from ftsim.api.http.deps import json_list_response as _list_body
from ftsim.api.http.deps import json_response
from ftsim.simulator.core.pagination import list_envelope

_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_docs = st.dictionaries(st.text(max_size=6), _values, max_size=4)


@settings(max_examples=300, deadline=None)
@given(docs=st.lists(_docs, max_size=5), has_more=st.booleans())
def test_spliced_body_matches_json_response(docs: list[dict], has_more: bool) -> None:
    """Stored as the store stores (json.dumps defaults, ensure_ascii), answered exactly as before."""
    texts = [json.dumps(d, separators=(",", ":")) for d in docs]
    expected = json_response(list_envelope([json.loads(t) for t in texts], has_more, ids=False)).body
    assert _list_body(texts, has_more).body == expected


def test_plain_ascii_rows_are_spliced_and_escaped_rows_are_not() -> None:
    """Non-ASCII text and exponent floats are re-encoded (raw UTF-8, `0.00001`), the rest pass through."""
    texts = [json.dumps({"m": "é", "x": 1e-05}, separators=(",", ":")), '{"m":"ok","x":0.5}']
    body = _list_body(texts, False).body
    assert body == '{"object":"list","data":[{"m":"é","x":0.00001},{"m":"ok","x":0.5}],"has_more":false}'.encode()


def test_events_over_http_match_the_service_page(http, backend):
    """GET .../events (every limit and cursor tried) answers the bytes of the service's decoded page; 404 unknown."""
    auth = {"Authorization": "Bearer sk-alice"}
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(12)]
    body = "\n".join(json.dumps(r) for r in rows).encode()
    file_id = http.post("/v1/files", headers=auth, data={"purpose": "fine-tune"},
                        files={"file": ("d.jsonl", body)}).json()["id"]
    job = http.post("/v1/fine_tuning/jobs", headers=auth,
                    json={"model": "gpt-4.1-mini-2025-04-14", "training_file": file_id}).json()["id"]
    http.post("/_sim/clock/advance", headers=auth, json={"seconds": 86400})
    tenant = backend.tenant("sk-alice")
    everything = backend.jobs.list_events(tenant, job, limit=100)["data"]
    assert len(everything) > 3
    for limit in (None, 1, 3, 100):
        for after in (None, everything[0]["id"], everything[-1]["id"], "ftevent-unknown"):
            params = {k: v for k, v in (("limit", limit), ("after", after)) if v is not None}
            res = http.get(f"/v1/fine_tuning/jobs/{job}/events", headers=auth, params=params)
            assert res.status_code == 200
            assert res.headers["content-type"] == "application/json"
            assert res.content == json_response(backend.jobs.list_events(tenant, job, after=after, limit=limit)).body
    missing = http.get("/v1/fine_tuning/jobs/ftjob-nope/events", headers=auth)
    assert missing.status_code == 404
    assert missing.content == http.get("/v1/fine_tuning/jobs/ftjob-nope", headers=auth).content  # same not-found
    other = http.get(f"/v1/fine_tuning/jobs/{job}/events", headers={"Authorization": "Bearer sk-bob"})
    assert other.status_code == 404
