"""Checks and normalisation of a create-job request (pure): each problem is a 400 with a dotted `param`.

Error texts follow the pydantic style the live API used (reference §5): `invalid n_epochs: 100, ensure this value
is less than or equal to 50`. The legacy top-level `hyperparameters` is accepted for supervised jobs only and
merged into `method.supervised.hyperparameters` (values given in `method` win).
"""

from __future__ import annotations

import math
import re
from typing import Any

from ftsim.simulator.core.errors import BadRequestError

__all__ = [
    "METHOD_TYPES",
    "GRADER_TYPES",
    "check_suffix",
    "check_seed",
    "check_metadata",
    "normalize_integrations",
    "normalize_method",
    "top_level_hyperparameters",
]

METHOD_TYPES = ("supervised", "dpo", "reinforcement")
GRADER_TYPES = ("string_check", "text_similarity", "python", "score_model", "multi")
_SUFFIX = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_BASE_HP = ("batch_size", "learning_rate_multiplier", "n_epochs")
_HP_KEYS = {
    "supervised": _BASE_HP,
    "dpo": ("batch_size", "beta", "learning_rate_multiplier", "n_epochs"),
    "reinforcement": _BASE_HP + ("eval_interval", "eval_samples", "compute_multiplier", "reasoning_effort"),
}
_REASONING = ("default", "low", "medium", "high")
MAX_SEED = 2_147_483_647


def _bad(message: str, param: str) -> BadRequestError:
    return BadRequestError(message, param=param)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_finite(v: Any) -> bool:
    """A number a float holds: not NaN nor infinite, no int beyond 1.8e308 (the job echoes it as a float, and a
    stored infinity is not JSON)."""
    if not _is_num(v):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def check_suffix(suffix: Any) -> str | None:
    """None or 1..64 characters of [A-Za-z0-9_-]."""
    if suffix is None:
        return None
    if not isinstance(suffix, str):
        raise _bad(f"invalid suffix: {suffix!r}, str type expected", "suffix")
    if len(suffix) > 64:
        raise _bad(f"invalid suffix: {suffix}, ensure this value has at most 64 characters", "suffix")
    if not _SUFFIX.fullmatch(suffix):  # `$` alone would let a trailing newline through
        raise _bad(
            f"invalid suffix: {suffix!r}, ensure this value has 1 to 64 characters among letters, digits, '-' and '_'",
            "suffix",
        )
    return suffix


def check_seed(seed: Any) -> int | None:
    """None or an integer in 0..2147483647."""
    if seed is None:
        return None
    if not _is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise _bad(f"invalid seed: {seed!r}, ensure this value is an integer between 0 and {MAX_SEED}", "seed")
    return seed


def check_metadata(metadata: Any) -> dict[str, str] | None:
    """None or up to 16 string pairs (key <= 64 chars, value <= 512)."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise _bad("Invalid 'metadata': expected an object of string keys and values.", "metadata")
    if len(metadata) > 16:
        raise _bad(f"Invalid 'metadata': too many properties ({len(metadata)}); at most 16 are allowed.", "metadata")
    for key, value in metadata.items():
        if not isinstance(key, str) or len(key) > 64:
            raise _bad(f"Invalid 'metadata': key {key!r} must be a string of at most 64 characters.", "metadata")
        if not isinstance(value, str) or len(value) > 512:
            raise _bad(f"Invalid 'metadata.{key}': must be a string of at most 512 characters.", f"metadata.{key}")
    return dict(metadata)


def normalize_integrations(integrations: Any, job_id: str) -> list[dict[str, Any]]:
    """Up to 5 wandb integrations, echoed as live with `run_id` = the job id."""
    if integrations is None:
        return []
    if not isinstance(integrations, list):
        raise _bad("Invalid 'integrations': expected an array.", "integrations")
    if len(integrations) > 5:
        raise _bad(f"Invalid 'integrations': at most 5 are allowed, got {len(integrations)}.", "integrations")
    out = []
    for i, item in enumerate(integrations):
        param = f"integrations.{i}"
        if not isinstance(item, dict) or item.get("type") != "wandb" or not isinstance(item.get("wandb"), dict):
            raise _bad(f"Invalid '{param}': expected {{\"type\": \"wandb\", \"wandb\": {{...}}}}.", param)
        wandb = item["wandb"]
        unknown = set(wandb) - {"project", "name", "entity", "tags"}
        if unknown:
            raise _bad(f"Invalid '{param}.wandb': unknown field {sorted(unknown)[0]!r}.", f"{param}.wandb")
        if not isinstance(wandb.get("project"), str) or not wandb["project"]:
            raise _bad(f"Missing required parameter: '{param}.wandb.project'.", f"{param}.wandb.project")
        for key in ("name", "entity"):
            if wandb.get(key) is not None and not isinstance(wandb[key], str):
                raise _bad(f"Invalid '{param}.wandb.{key}': expected a string.", f"{param}.wandb.{key}")
        tags = wandb.get("tags")
        if tags is not None and (
            not isinstance(tags, list) or len(tags) > 50 or any(not isinstance(t, str) or len(t) > 64 for t in tags)
        ):
            raise _bad(f"Invalid '{param}.wandb.tags': at most 50 strings of at most 64 characters.", f"{param}.wandb.tags")
        out.append({"type": "wandb", "wandb": {"project": wandb["project"], "entity": wandb.get("entity"),
                                               "name": wandb.get("name"), "tags": tags, "run_id": job_id}})
    return out


MAX_EVAL = 2**31 - 1  # eval_interval / eval_samples: larger values overflow the duration model's decimals


def _check_hp(kind: str, hp: dict[str, Any], prefix: str) -> None:
    def check(key: str, ok: bool, rule: str) -> None:
        value = hp.get(key, "auto")
        if value != "auto" and not ok:
            raise _bad(f"invalid {key}: {value!r}, ensure this value {rule}", f"{prefix}.{key}")

    for key in hp:
        if key not in _HP_KEYS[kind]:
            raise _bad(f"invalid {key}, extra fields not permitted", f"{prefix}.{key}")
    v = {k: hp.get(k, "auto") for k in _HP_KEYS[kind]}
    check("n_epochs", _is_int(v["n_epochs"]) and 1 <= v["n_epochs"] <= 50, "is an integer between 1 and 50")
    check("batch_size", _is_int(v["batch_size"]) and 1 <= v["batch_size"] <= 256, "is an integer between 1 and 256")
    lr = v["learning_rate_multiplier"]
    check("learning_rate_multiplier", _is_finite(lr) and lr > 0, "is a number greater than 0")
    if kind == "dpo":
        check("beta", _is_num(v["beta"]) and 0 < v["beta"] <= 2, "is a number greater than 0 and at most 2")
    if kind == "reinforcement":
        for key in ("eval_interval", "eval_samples"):  # the live bound above is unknown; ftsim's is int32's
            check(key, _is_int(v[key]) and 1 <= v[key] <= MAX_EVAL, f"is an integer between 1 and {MAX_EVAL}")
        cm = v["compute_multiplier"]
        check("compute_multiplier", _is_num(cm) and 0.00001 < cm <= 10, "is a number in (0.00001, 10]")
        effort = hp.get("reasoning_effort", "default")
        if effort not in _REASONING:
            raise _bad(f"invalid reasoning_effort: {effort!r}, expected one of {list(_REASONING)}",
                       f"{prefix}.reasoning_effort")


def normalize_method(method: Any, hyperparameters: Any) -> dict[str, Any]:
    """The job's `method` with every hyperparameter present ("auto" where not given)."""
    if method is None:
        method = {"type": "supervised"}
    if not isinstance(method, dict):
        raise _bad("Invalid 'method': expected an object with a 'type'.", "method")
    kind = method.get("type")
    if kind not in METHOD_TYPES:
        raise _bad(f"Invalid 'method.type': expected one of {list(METHOD_TYPES)}, got {kind!r}.", "method.type")
    for key in method:
        if key != "type" and key not in METHOD_TYPES:
            raise _bad(f"Unrecognized request argument supplied: method.{key}", f"method.{key}")
        if key in METHOD_TYPES and key != kind and method[key] is not None:
            raise _bad(f"Invalid 'method': 'method.{key}' was given but method.type is '{kind}'.", f"method.{key}")
    body = method.get(kind) or {}
    if not isinstance(body, dict):
        raise _bad(f"Invalid 'method.{kind}': expected an object.", f"method.{kind}")
    allowed = {"hyperparameters"} | ({"grader", "response_format"} if kind == "reinforcement" else set())
    for key in body:
        if key not in allowed:
            raise _bad(f"Unrecognized request argument supplied: method.{kind}.{key}", f"method.{kind}.{key}")
    hp = body.get("hyperparameters") or {}
    if not isinstance(hp, dict):
        raise _bad(f"Invalid 'method.{kind}.hyperparameters': expected an object.", f"method.{kind}.hyperparameters")
    if hyperparameters is not None:
        if not isinstance(hyperparameters, dict):
            raise _bad("Invalid 'hyperparameters': expected an object.", "hyperparameters")
        if kind != "supervised":
            raise _bad(f"The top-level 'hyperparameters' is only supported with the supervised method; use "
                       f"'method.{kind}.hyperparameters'.", "hyperparameters")
        for key in hyperparameters:
            if key not in _BASE_HP:
                raise _bad(f"invalid {key}, extra fields not permitted", f"hyperparameters.{key}")
        _check_hp("supervised", hyperparameters, "hyperparameters")
        hp = {**{k: v for k, v in hyperparameters.items() if v is not None}, **hp}
    _check_hp(kind, hp, f"method.{kind}.hyperparameters")
    resolved: dict[str, Any] = {k: hp.get(k, "auto") for k in _HP_KEYS[kind]}
    if resolved["learning_rate_multiplier"] != "auto":  # live echo is a float: 3 in, 3.0 out
        resolved["learning_rate_multiplier"] = float(resolved["learning_rate_multiplier"])
    if kind == "reinforcement":
        resolved["reasoning_effort"] = hp.get("reasoning_effort", "default")
        grader = body.get("grader")
        if not isinstance(grader, dict):
            raise _bad("Missing required parameter: 'method.reinforcement.grader'.", "method.reinforcement.grader")
        if grader.get("type") not in GRADER_TYPES:
            raise _bad(f"Invalid 'method.reinforcement.grader.type': expected one of {list(GRADER_TYPES)}.",
                       "method.reinforcement.grader.type")
        response_format = body.get("response_format")
        if response_format is not None and not isinstance(response_format, dict):
            raise _bad("Invalid 'method.reinforcement.response_format': expected an object.",
                       "method.reinforcement.response_format")
        return {"type": kind, kind: {"hyperparameters": resolved, "grader": grader,
                                     "response_format": response_format}}
    return {"type": kind, kind: {"hyperparameters": resolved}}


def top_level_hyperparameters(method: dict[str, Any]) -> dict[str, Any] | None:
    """The job's top-level `hyperparameters`: a copy for supervised jobs, null for DPO and RFT."""
    if method["type"] != "supervised":
        return None
    hp = method["supervised"]["hyperparameters"]
    return {"n_epochs": hp["n_epochs"], "batch_size": hp["batch_size"],
            "learning_rate_multiplier": hp["learning_rate_multiplier"]}
