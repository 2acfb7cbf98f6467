"""An unknown `after=` cursor: the same 200 with an empty page on every list (audit 3).

The live answer to a cursor that names no item of the list is UNCONFIRMED. ftsim follows the SDK's cursor
semantics: the items "after" an unknown id are none, so every list (jobs, events, checkpoints, files) answers 200
with `data: []`, `has_more: false`, and null `first_id`/`last_id` where the envelope has them. A cursor naming an
item of another list (another job's event, another tenant's file) is unknown to this list too.
"""

from __future__ import annotations

import json

AUTH = {"Authorization": "Bearer sk-alice"}
MINI = "gpt-4.1-mini-2025-04-14"


def _upload(http, headers=AUTH) -> str:
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(12)]
    body = "\n".join(json.dumps(r) for r in rows).encode()
    res = http.post("/v1/files", headers=headers, data={"purpose": "fine-tune"}, files={"file": ("d.jsonl", body)})
    assert res.status_code == 200, res.text
    return res.json()["id"]


def _job(http, file_id: str) -> str:
    res = http.post("/v1/fine_tuning/jobs", headers=AUTH, json={"model": MINI, "training_file": file_id})
    assert res.status_code == 200, res.text
    return res.json()["id"]


def _assert_empty_page(res, *, ids: bool) -> None:
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["object"] == "list" and body["data"] == [] and body["has_more"] is False
    if ids:
        assert body["first_id"] is None and body["last_id"] is None
    else:
        assert "first_id" not in body


def test_unknown_after_is_an_empty_200_on_every_list(http):
    file_id = _upload(http)
    job_a, job_b = _job(http, file_id), _job(http, file_id)
    http.post("/_sim/clock/advance", headers=AUTH, json={"seconds": 86400})
    lists = {
        "/v1/fine_tuning/jobs": False,
        f"/v1/fine_tuning/jobs/{job_a}/events": False,
        f"/v1/fine_tuning/jobs/{job_a}/checkpoints": True,
        "/v1/files": True,
    }
    for path, ids in lists.items():
        full = http.get(path, headers=AUTH, params={"limit": 100}).json()
        assert full["data"], path  # the list is not empty: only the cursor is unknown
        for cursor in ("ftjob-nope", "ftevent-nope", "ftckpt_nope", "file-nope", "x"):
            _assert_empty_page(http.get(path, headers=AUTH, params={"after": cursor}), ids=ids)

    # an id that exists elsewhere is unknown to this list: another job's event or checkpoint, another tenant's file
    other_event = http.get(f"/v1/fine_tuning/jobs/{job_b}/events", headers=AUTH).json()["data"][0]["id"]
    _assert_empty_page(http.get(f"/v1/fine_tuning/jobs/{job_a}/events", headers=AUTH,
                                params={"after": other_event}), ids=False)
    other_ckpt = http.get(f"/v1/fine_tuning/jobs/{job_b}/checkpoints", headers=AUTH).json()["data"][0]["id"]
    _assert_empty_page(http.get(f"/v1/fine_tuning/jobs/{job_a}/checkpoints", headers=AUTH,
                                params={"after": other_ckpt}), ids=True)
    bob_file = _upload(http, {"Authorization": "Bearer sk-bob"})
    _assert_empty_page(http.get("/v1/files", headers=AUTH, params={"after": bob_file}), ids=True)
    _assert_empty_page(http.get("/v1/fine_tuning/jobs", headers=AUTH, params={"after": file_id}), ids=False)
