"""Validate JSON responses against OpenAI's published OpenAPI schemas (with the live-API deviations allowed).

    from tests.openapi_schema import assert_schema
    assert_schema(response.json(), "FineTuningJob")

The spec is found at $FTSIM_OPENAPI, else in the `shared/` folder beside the repository (../shared/openapi/),
else /work/shared/openapi/; tests that need it are skipped when it is absent. Deviations honoured (the spec README and the behaviour reference §8-9):

- a job that has not failed carries `"error": {}`;
- `status: "paused"` on jobs;
- `hyperparameters: null` on DPO and RFT jobs (real R-KR, and the spec's own DPO example);
- the "Fine-tuning job started" event has `data: null`;
- File objects carry `"expires_at": null` and `"status_details": null` (a real 2025 upload response, behaviour
  reference §1.1; the spec types both as non-null);
- OpenAPI 3.0-style boolean `exclusiveMinimum`/`exclusiveMaximum` are rewritten to 2020-12 numbers.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest

__all__ = ["spec_path", "load_spec", "assert_schema", "schema_errors"]

_NAME = "openai-fine-tuning.openapi.json"
_CANDIDATES = [
    Path(__file__).resolve().parents[2] / "shared" / "openapi" / _NAME,  # shared/ beside the clone
    Path("/work/shared/openapi") / _NAME,
]


def spec_path() -> Path:
    """Where the OpenAPI file is read from."""
    if "FTSIM_OPENAPI" in os.environ:
        return Path(os.environ["FTSIM_OPENAPI"])
    return next((p for p in _CANDIDATES if p.exists()), _CANDIDATES[0])


def _fix_exclusive(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _fix_exclusive(v) for k, v in node.items()}
        for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if node.get(bound) is True and limit in node:
                node[bound] = node.pop(limit)
            elif node.get(bound) is False:
                node.pop(bound)
        if node.get("nullable") is True:  # OpenAPI 3.0 `nullable: true` -> also accept null
            node.pop("nullable")
            node = {"anyOf": [node, {"type": "null"}]}
        return node
    if isinstance(node, list):
        return [_fix_exclusive(v) for v in node]
    return node


def _apply_deviations(schemas: dict[str, Any]) -> None:
    job = schemas.get("FineTuningJob")
    if job:
        props = job["properties"]
        props["error"] = {"anyOf": [*props["error"].get("anyOf", [props["error"]]),
                                    {"type": "object", "maxProperties": 0}]}
        props["hyperparameters"] = {"anyOf": [props["hyperparameters"], {"type": "null"}]}
        status = props.get("status", {})
        if "enum" in status and "paused" not in status["enum"]:
            status["enum"] = [*status["enum"], "paused"]
    file_obj = schemas.get("OpenAIFile")
    if file_obj:
        for key in ("expires_at", "status_details"):
            file_obj["properties"][key] = {"anyOf": [file_obj["properties"][key], {"type": "null"}]}
    event = schemas.get("FineTuningJobEvent")
    if event and "data" in event["properties"]:
        event["properties"]["data"] = {"anyOf": [event["properties"]["data"], {"type": "null"}]}


@functools.cache
def load_spec() -> dict[str, Any]:
    """The spec with the deviations applied (skips the calling test when the file is missing)."""
    path = spec_path()
    if not path.exists():
        pytest.skip(f"OpenAPI spec not found at {path} (set FTSIM_OPENAPI)")
    spec = _fix_exclusive(json.loads(path.read_text(encoding="utf-8")))
    _apply_deviations(spec["components"]["schemas"])
    return spec


@functools.cache
def _validator(name: str) -> Any:
    import jsonschema

    spec = load_spec()
    if name not in spec["components"]["schemas"]:
        raise KeyError(f"no schema named {name!r} in the spec")
    schema = {"$ref": f"#/components/schemas/{name}", "components": copy.deepcopy(spec["components"])}
    return jsonschema.Draft202012Validator(schema)


def schema_errors(instance: Any, name: str) -> list[str]:
    """Every validation error of `instance` against schema `name`, as readable strings."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in _validator(name).iter_errors(instance)]


def assert_schema(instance: Any, name: str) -> None:
    """Fail the test with every error when `instance` does not validate against schema `name`."""
    errors = schema_errors(instance, name)
    assert not errors, f"{name} schema violations:\n" + "\n".join(errors[:20])
