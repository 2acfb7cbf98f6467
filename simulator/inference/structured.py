"""Structured outputs for the deterministic model: a JSON reply that fits the requested JSON schema.

`json_reply(schema, digest, text)` builds a value from the schema alone, every choice taken from `digest` (bytes
derived from the request), so the same request gets the same JSON: strings are `text` (the plain reply) or an
enum member, numbers and integers fall within minimum/maximum, arrays hold `minItems` (at least one) items, objects
carry every property (required or not). `anyOf`/`oneOf` take the first non-null branch, `$ref` into `$defs` is
followed (depth-limited). With no schema (`json_object` mode) the reply is `{"response": text}`.
"""

from __future__ import annotations

import json
from typing import Any, Optional

__all__ = ["json_format", "json_reply"]

MAX_DEPTH = 8


def json_format(chat_format: Any = None, text_format: Any = None) -> Optional[dict[str, Any]]:
    """The requested JSON mode as `{"schema": dict | None}`, from chat's response_format or responses' text.format."""
    if isinstance(chat_format, dict):
        kind = chat_format.get("type")
        if kind == "json_object":
            return {"schema": None}
        if kind == "json_schema":
            spec = chat_format.get("json_schema") or {}
            return {"schema": spec.get("schema") if isinstance(spec, dict) else None}
    if isinstance(text_format, dict):
        kind = text_format.get("type")
        if kind == "json_object":
            return {"schema": None}
        if kind == "json_schema":
            return {"schema": text_format.get("schema")}
    return None


def json_reply(schema: Any, digest: bytes, text: str, prefer: Any = None) -> str:
    """A compact JSON text fitting `schema` (or `{"response": text}` without one).

    `prefer` (a tuned model's learned JSON answer) supplies every value that fits its place in the schema.
    """
    if not isinstance(schema, dict):
        if isinstance(prefer, dict):
            return json.dumps(prefer, ensure_ascii=False)
        return json.dumps({"response": text}, ensure_ascii=False)
    picker = _Picker(digest)
    return json.dumps(_value(schema, schema, picker, text, 0, prefer), ensure_ascii=False)


def _fits(node: dict, kind: Any, value: Any) -> bool:
    """Whether a learned scalar fits a schema leaf (its type, enum and bounds)."""
    if isinstance(node.get("enum"), list):
        return value in node["enum"]
    if "const" in node:
        return value == node["const"]
    if kind == "string":
        return isinstance(value, str)
    if kind in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind == "integer" and not isinstance(value, int)):
            return False
        low, high = node.get("minimum"), node.get("maximum")
        return not (isinstance(low, (int, float)) and value < low) and not (isinstance(high, (int, float)) and value > high)
    if kind == "boolean":
        return isinstance(value, bool)
    return False


class _Picker:
    def __init__(self, digest: bytes) -> None:
        self.digest = digest or b"\0"
        self.i = 0

    def next(self) -> int:
        value = self.digest[self.i % len(self.digest)]
        self.i += 1
        return value


def _value(node: Any, root: dict, pick: _Picker, text: str, depth: int, prefer: Any = None) -> Any:
    if not isinstance(node, dict) or depth > MAX_DEPTH:
        return None
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        return _value(target, root, pick, text, depth + 1, prefer)
    leaf_kind = node.get("type") if not isinstance(node.get("type"), list) else next(
        (k for k in node["type"] if k != "null"), None)
    if prefer is not None and not isinstance(prefer, (dict, list)) and _fits(node, leaf_kind, prefer):
        return prefer
    if "const" in node:
        return node["const"]
    if isinstance(node.get("enum"), list) and node["enum"]:
        return node["enum"][pick.next() % len(node["enum"])]
    for key in ("anyOf", "oneOf", "allOf"):
        branches = [b for b in node.get(key) or [] if isinstance(b, dict) and b.get("type") != "null"]
        if branches:
            return _value(branches[0], root, pick, text, depth + 1, prefer)
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or (kind is None and "properties" in node):
        props = node.get("properties") or {}
        given = prefer if isinstance(prefer, dict) else {}
        return {name: _value(sub, root, pick, text, depth + 1, given.get(name)) for name, sub in props.items()}
    if kind == "array":
        count = max(1, int(node.get("minItems", 1) or 1))
        if isinstance(prefer, list) and prefer:
            maximum = node.get("maxItems")
            count = max(count, min(len(prefer), maximum if isinstance(maximum, int) else len(prefer)))
        given_items = prefer if isinstance(prefer, list) else []
        return [_value(node.get("items") or {}, root, pick, text, depth + 1,
                       given_items[i] if i < len(given_items) else None) for i in range(min(count, 8))]
    if kind in ("number", "integer"):
        low = node.get("minimum", 0)
        high = node.get("maximum", low + 100)
        low, high = (low, high) if isinstance(low, (int, float)) and isinstance(high, (int, float)) and low <= high else (0, 100)
        fraction = pick.next() / 255
        value = low + (high - low) * fraction
        return int(round(value)) if kind == "integer" else round(value, 2)
    if kind == "boolean":
        return pick.next() % 2 == 0
    if kind == "null":
        return None
    return text
