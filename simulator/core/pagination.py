"""The list envelopes, one function for every list endpoint."""

from __future__ import annotations

from typing import Any, Sequence

from pydantic import BaseModel

__all__ = ["list_envelope", "check_limit"]


def list_envelope(items: Sequence[Any], has_more: bool, *, ids: bool) -> dict[str, Any]:
    """`{"object":"list","data":[...],"has_more":...}`, plus first_id/last_id when `ids` (files, checkpoints, permissions)."""
    data = [i.model_dump(mode="json") if isinstance(i, BaseModel) else i for i in items]
    out: dict[str, Any] = {"object": "list", "data": data, "has_more": has_more}
    if ids:
        out["first_id"] = data[0]["id"] if data else None
        out["last_id"] = data[-1]["id"] if data else None
    return out


def check_limit(limit: int | None, *, default: int, maximum: int = 100, param: str = "limit") -> int:
    """A page size within 1..maximum (400 otherwise)."""
    from ftsim.simulator.core.errors import BadRequestError

    if limit is None:
        return default
    if limit < 1 or limit > maximum:
        raise BadRequestError(f"Invalid '{param}': integer must be between 1 and {maximum}, got {limit}.", param=param)
    return limit
