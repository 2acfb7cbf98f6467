"""Alpha graders: validate and run (POST /v1/fine_tuning/alpha/graders/{validate,run}).

- `string_check`: eq, ne (case-sensitive equality), like (input contains reference), ilike (same, ignoring case).
- `text_similarity`: simulator/graders/metrics.py (fuzzy_match, bleu, gleu, meteor, rouge_1..5, rouge_l, cosine;
  approximations documented there).
- `score_model` (DETERMINISTIC STAND-IN, no model is called): a score in `range` (default [0, 1]) derived from a
  sha256 of (model, rendered input, sample, sampling seed), rounded to 2 decimals; token usage counted with
  o200k_base on the rendered input (prompt) and a fixed 1-token completion.
- `label_model` (DETERMINISTIC STAND-IN, only inside multi as in the spec): the first label that appears as a whole
  word in the sample (ignoring case), else a label picked by a sha256 of (model, rendered input, sample);
  reward 1 if it is a passing label, else 0.
- `multi`: `graders` is a map name -> grader (a single grader object is accepted as a map of one, named by its
  `name`); `calculate_output` is evaluated by simulator/graders/formula.py (never eval).
- `python`: refused (400) unless the server runs with python graders enabled; then `grade(sample, item)` runs in a
  fresh `python -I` subprocess (simulator/graders/python_runner.py) with a time limit; failures are reported in
  metadata.

Bounds (ftsim's own: the live API documents none besides the python source's 256 kB; each is a 400 with the
limit in the message): a grader nests at most `MAX_GRADER_DEPTH` JSON levels and an item `MAX_ITEM_DEPTH`;
`model_sample` holds at most `MAX_SAMPLE_CHARS` characters; a rendered template at most `MAX_RENDERED_CHARS`;
each side of a `text_similarity` comparison at most `metrics.MAX_METRIC_CHARS`.

Templates: `{{item.<path>}}` and `{{sample.output_text}}`, `{{sample.output_json.<path>}}`, `{{sample.output_tools}}`,
`{{sample.choices}}`. A missing item path sets `invalid_variable_error`; `sample.output_json` on a sample that is
not JSON sets `sample_parse_error`; both give reward 0. `token_usage` is an integer (the spec's type) or null.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from typing import TYPE_CHECKING, Any, Optional

from pydantic import BaseModel, Field

from ftsim.pricing.dataset.reader import nested_deeper_than
from ftsim.simulator.core.errors import BadRequestError
from ftsim.simulator.graders.formula import FormulaError, evaluate, parse, variables
from ftsim.simulator.graders.metrics import MAX_METRIC_CHARS, METRICS, similarity
from ftsim.simulator.core.tenancy import Tenant

if TYPE_CHECKING:
    from ftsim.simulator.core.backend import Backend

__all__ = ["Graders", "RunGraderResponse", "GraderError", "ERROR_FLAGS", "GRADER_MODELS"]

TOP_LEVEL = ("string_check", "text_similarity", "python", "score_model", "multi")
INSIDE_MULTI = ("string_check", "text_similarity", "python", "score_model", "label_model")
OPERATIONS = ("eq", "ne", "like", "ilike")
REASONING = ("o1-2024-12-17", "o1", "o3-mini-2025-01-31", "o3-mini", "o3-2025-04-16", "o3", "o4-mini-2025-04-16", "o4-mini")
GRADER_MODELS = (
    "gpt-4o-2024-08-06", "gpt-4o", "gpt-4o-mini-2024-07-18", "gpt-4o-mini", "gpt-4.1-2025-04-14", "gpt-4.1",
    "gpt-4.1-mini-2025-04-14", "gpt-4.1-mini", "gpt-4.1-nano-2025-04-14", "gpt-4.1-nano", *REASONING,
)
MAX_PYTHON_SOURCE = 256 * 1024
# Bounds that keep a grader's work small and its recursion far from Python's limit. The real graders of the docs
# nest about 8 levels; 32 leaves room. Samples: 256 Ki characters is about 64k tokens, beyond o4-mini's longest
# answer that an RFT job would grade.
MAX_GRADER_DEPTH = 32
MAX_ITEM_DEPTH = 64
MAX_SAMPLE_CHARS = 262_144
MAX_RENDERED_CHARS = 262_144
SAMPLE_VARS = ("output_text", "output_json", "output_tools", "choices", "output_audio")
# `{{ expr }}`: the expression is the text between the braces, stripped (`_expr`). Trimming inside the pattern
# (`\{\{\s*([^{}]*?)\s*\}\}`) backtracked cubically over whitespace: "{{" and 3,000 spaces took 20 s a request.
_TEMPLATE = re.compile(r"\{\{([^{}]*)\}\}")


def _expr(match: re.Match) -> str:
    """A template's expression, without the whitespace around it."""
    return match.group(1).strip()


_WORD = re.compile(r"[^\W_]+")
PYTHON_OFF = (
    "Python graders are disabled on this server: they run user code. Start it with python graders enabled "
    "(`ftsim serve --enable-python-graders`) to use them."
)

ERROR_FLAGS: dict[str, Any] = {
    "formula_parse_error": False,
    "sample_parse_error": False,
    "truncated_observation_error": False,
    "unresponsive_reward_error": False,
    "invalid_variable_error": False,
    "other_error": False,
    "python_grader_server_error": False,
    "python_grader_server_error_type": None,
    "python_grader_runtime_error": False,
    "python_grader_runtime_error_details": None,
    "model_grader_server_error": False,
    "model_grader_refusal_error": False,
    "model_grader_parse_error": False,
    "model_grader_server_error_details": None,
}


class GraderError(Exception):
    """A failure while grading one sample: the flags to set in metadata.errors."""

    def __init__(self, **flags: Any) -> None:
        super().__init__(", ".join(flags))
        self.flags = flags


class RunMetadata(BaseModel):
    """metadata of a run."""

    name: str
    type: str
    errors: dict[str, Any] = Field(default_factory=lambda: dict(ERROR_FLAGS))
    execution_time: float = 0.0
    scores: dict[str, Any] = Field(default_factory=dict)
    token_usage: Optional[int] = None
    sampled_model_name: Optional[str] = None


class RunGraderResponse(BaseModel):
    """Answer to POST /v1/fine_tuning/alpha/graders/run."""

    reward: float
    metadata: RunMetadata
    sub_rewards: dict[str, Any] = Field(default_factory=dict)
    model_grader_token_usage_per_model: dict[str, Any] = Field(default_factory=dict)


def _bad(message: str) -> BadRequestError:
    return BadRequestError(f"Invalid grader: {message}", param="grader")


def _need_str(grader: dict, key: str, where: str) -> str:
    value = grader.get(key)
    if not isinstance(value, str):
        raise _bad(f"{where}'{key}' is required and must be a string.")
    return value


def _check_templates(text: str, where: str) -> None:
    for match in _TEMPLATE.finditer(text):
        expr = _expr(match)
        namespace, _, rest = expr.partition(".")
        if namespace == "item" and rest:
            continue
        if namespace == "sample" and rest.split(".")[0] in SAMPLE_VARS:
            continue
        raise _bad(f"{where}unknown template variable '{{{{{expr}}}}}' (use item.<key> or sample.<variable>).")


def _messages(grader: dict, where: str) -> list[dict]:
    value = grader.get("input")
    if not isinstance(value, list) or not value:
        raise _bad(f"{where}'input' must be a non-empty list of messages.")
    for message in value:
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant", "system", "developer"):
            raise _bad(f"{where}each 'input' message needs a role of user, assistant, system or developer.")
        _check_templates(_content_text(message.get("content")), where)
    return value


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text", ""))
    if isinstance(content, list):
        return "".join(_content_text(c) for c in content)
    return ""


def _render(text: str, item: dict, sample: dict) -> str:
    """Fill `{{item.*}}` and `{{sample.*}}` (GraderError for a missing variable or a non-JSON sample)."""

    def value(match: re.Match) -> str:
        namespace, _, path = _expr(match).partition(".")
        parts = path.split(".") if path else []
        if namespace == "sample":
            if parts[:1] == ["output_json"] and sample.get("output_json") is None:
                raise GraderError(sample_parse_error=True)
            current: Any = sample
        elif namespace == "item":
            current = item
        else:
            raise GraderError(invalid_variable_error=True)
        for part in parts:
            if isinstance(current, dict) and part in current:
                current = current[part]
            elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
                current = current[int(part)]
            else:
                raise GraderError(invalid_variable_error=True)
        filled = current if isinstance(current, str) else json.dumps(current, ensure_ascii=False)
        size[0] += len(filled)
        if size[0] > MAX_RENDERED_CHARS:
            raise BadRequestError(
                f"Invalid grader: a template fills in more than {MAX_RENDERED_CHARS} characters.", param="grader"
            )
        return filled

    size = [0]  # characters filled in so far (the template's own text is bounded by the grader's size)
    return _TEMPLATE.sub(value, text)


def _digest(*parts: Any) -> bytes:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str).encode()).digest()


class Graders:
    """The graders service."""

    def __init__(self, backend: "Backend") -> None:
        self.backend = backend
        self.python_timeout = 10.0  # seconds a python grader may run (live: 2 minutes)

    # -- validate -----------------------------------------------------------------------------------

    def validate(self, tenant: Tenant, *, grader: Any) -> dict[str, Any]:
        """`{"grader": grader}` if the grader is valid (400 param `grader` otherwise)."""
        self.check(grader)
        return {"grader": grader}

    def check(self, grader: Any, *, inside_multi: bool = False) -> None:
        """Raise 400 (param `grader`) unless `grader` is a valid grader definition."""
        if not isinstance(grader, dict):
            raise _bad("expected an object with a 'type'.")
        if not inside_multi and nested_deeper_than(grader, MAX_GRADER_DEPTH):
            raise _bad(f"it nests more than {MAX_GRADER_DEPTH} levels of lists and objects.")
        kind = grader.get("type")
        allowed = INSIDE_MULTI if inside_multi else TOP_LEVEL
        where = f"sub-grader '{grader.get('name')}': " if inside_multi else ""
        if kind not in allowed:
            raise _bad(f"{where}'type' must be one of {', '.join(allowed)}, got {kind!r}.")
        _need_str(grader, "name", where)
        if kind in ("string_check", "text_similarity"):
            for key in ("input", "reference"):
                _check_templates(_need_str(grader, key, where), where)
            if kind == "string_check" and grader.get("operation") not in OPERATIONS:
                raise _bad(f"{where}'operation' must be one of {', '.join(OPERATIONS)}.")
            if kind == "text_similarity" and grader.get("evaluation_metric") not in METRICS:
                raise _bad(f"{where}'evaluation_metric' must be one of {', '.join(METRICS)}.")
        elif kind == "python":
            self._check_python(grader, where)
        elif kind in ("score_model", "label_model"):
            self._check_model_grader(grader, kind, where)
        else:
            self._check_multi(grader)

    def _check_python(self, grader: dict, where: str) -> None:
        if not self.backend.config.python_graders:
            raise BadRequestError(PYTHON_OFF, param="grader")
        source = _need_str(grader, "source", where)
        if len(source.encode()) > MAX_PYTHON_SOURCE:
            raise _bad(f"{where}'source' is larger than 256 kB.")
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            raise _bad(f"{where}'source' is not valid Python: {exc.msg} (line {exc.lineno}).") from None
        except (MemoryError, RecursionError):  # CPython's parser on an expression nested thousands deep (`------1`)
            raise _bad(f"{where}'source' is not valid Python: it nests too deeply to parse.") from None
        if not any(isinstance(n, ast.FunctionDef) and n.name == "grade" and len(n.args.args) >= 2 for n in tree.body):
            raise _bad(f"{where}'source' must define a function grade(sample, item).")

    def _check_model_grader(self, grader: dict, kind: str, where: str) -> None:
        model = _need_str(grader, "model", where)
        if model not in GRADER_MODELS:
            raise _bad(f"{where}'model' {model!r} cannot be used as a grader model.")
        _messages(grader, where)
        if kind == "label_model":
            labels, passing = grader.get("labels"), grader.get("passing_labels")
            if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
                raise _bad(f"{where}'labels' must be a non-empty list of strings.")
            if not isinstance(passing, list) or not passing or not set(passing) <= set(labels):
                raise _bad(f"{where}'passing_labels' must be a non-empty subset of 'labels'.")
            return
        bounds = grader.get("range", [0, 1])
        if (
            not isinstance(bounds, list) or len(bounds) != 2
            or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)
            or bounds[0] >= bounds[1]
        ):
            raise _bad(f"{where}'range' must be [min, max] with min < max.")
        params = grader.get("sampling_params") or {}
        if not isinstance(params, dict):
            raise _bad(f"{where}'sampling_params' must be an object.")
        if model in REASONING and params.get("temperature") is not None:
            raise _bad(f"{where}'temperature' is not supported with reasoning model {model}.")
        if model not in REASONING and params.get("reasoning_effort") is not None:
            raise _bad(f"{where}'reasoning_effort' is only supported with reasoning models.")

    def _check_multi(self, grader: dict) -> None:
        graders = self._sub_graders(grader)
        if not graders:
            raise _bad("'graders' must be a non-empty map of name -> grader.")
        for sub in graders.values():
            self.check(sub, inside_multi=True)
        try:
            tree = parse(_need_str(grader, "calculate_output", ""))
        except FormulaError as exc:
            raise _bad(f"'calculate_output' cannot be parsed: {exc}.") from None
        unknown = variables(tree) - set(graders)
        if unknown:
            raise _bad(f"'calculate_output' uses unknown grader names: {', '.join(sorted(unknown))}.")

    @staticmethod
    def _sub_graders(grader: dict) -> dict[str, Any]:
        graders = grader.get("graders")
        if isinstance(graders, dict) and isinstance(graders.get("type"), str):  # the spec's single-grader form
            return {str(graders.get("name")): graders}
        return graders if isinstance(graders, dict) else {}

    # -- run ----------------------------------------------------------------------------------------

    def run(self, tenant: Tenant, *, grader: Any, model_sample: str, item: Optional[dict] = None) -> RunGraderResponse:
        """Grade `model_sample` (with `item`): reward, metadata with every error flag, sub-rewards, usage."""
        self.check(grader)
        if len(model_sample) > MAX_SAMPLE_CHARS:
            raise BadRequestError(
                f"Invalid 'model_sample': at most {MAX_SAMPLE_CHARS} characters, got {len(model_sample)}.",
                param="model_sample",
            )
        item = item or {}
        if nested_deeper_than(item, MAX_ITEM_DEPTH):
            raise BadRequestError(
                f"Invalid 'item': it nests more than {MAX_ITEM_DEPTH} levels of lists and objects.", param="item"
            )
        try:
            output_json = json.loads(model_sample)
        except (ValueError, RecursionError):
            output_json = None
        sample = {
            "output_text": model_sample,
            "output_json": output_json,
            "output_tools": [],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": model_sample}}],
        }
        if grader["type"] == "multi":
            return self._run_multi(grader, item, sample)
        return self._run_one(grader, item, sample)

    def _run_one(self, grader: dict, item: dict, sample: dict) -> RunGraderResponse:
        meta = RunMetadata(name=grader["name"], type=grader["type"])
        usage: dict[str, Any] = {}
        try:
            reward = self._grade(grader, item, sample, meta, usage)
        except GraderError as exc:
            meta.errors.update(exc.flags)
            reward = 0.0
        return RunGraderResponse(reward=reward, metadata=meta, model_grader_token_usage_per_model=usage)

    def _run_multi(self, grader: dict, item: dict, sample: dict) -> RunGraderResponse:
        meta = RunMetadata(name=grader["name"], type="multi")
        subs: dict[str, float] = {}
        usage: dict[str, Any] = {}
        for name, sub in self._sub_graders(grader).items():
            result = self._run_one(sub, item, sample)
            subs[name] = result.reward
            meta.execution_time += result.metadata.execution_time
            meta.sampled_model_name = meta.sampled_model_name or result.metadata.sampled_model_name
            for flag, value in result.metadata.errors.items():
                if value and not meta.errors[flag]:
                    meta.errors[flag] = value
            for model, counts in result.model_grader_token_usage_per_model.items():
                total = usage.setdefault(model, dict.fromkeys(counts, 0))
                for key, count in counts.items():
                    total[key] = total.get(key, 0) + count
        try:
            reward = evaluate(parse(grader["calculate_output"]), subs)
        except FormulaError:
            meta.errors["formula_parse_error"] = True
            reward = 0.0
        meta.scores = dict(subs)
        if usage:
            meta.token_usage = sum(c.get("total_tokens", 0) for c in usage.values())
        return RunGraderResponse(reward=reward, metadata=meta, sub_rewards=subs, model_grader_token_usage_per_model=usage)

    def _grade(self, grader: dict, item: dict, sample: dict, meta: RunMetadata, usage: dict) -> float:
        kind = grader["type"]
        if kind == "string_check":
            text, ref = _render(grader["input"], item, sample), _render(grader["reference"], item, sample)
            op = grader["operation"]
            hit = {"eq": text == ref, "ne": text != ref, "like": ref in text, "ilike": ref.casefold() in text.casefold()}[op]
            return 1.0 if hit else 0.0
        if kind == "text_similarity":
            text, ref = _render(grader["input"], item, sample), _render(grader["reference"], item, sample)
            if max(len(text), len(ref)) > MAX_METRIC_CHARS:
                raise BadRequestError(
                    f"Invalid grader: text_similarity compares at most {MAX_METRIC_CHARS} characters per side; the "
                    f"rendered 'input' has {len(text)} and 'reference' {len(ref)}.",
                    param="grader",
                )
            return round(similarity(grader["evaluation_metric"], text, ref), 6)
        if kind == "python":
            from ftsim.simulator.graders.python_runner import run_python_grader

            reward, seconds = run_python_grader(grader["source"], sample, item, timeout=self.python_timeout)
            meta.execution_time = seconds
            return reward
        return self._model_grader(grader, item, sample, meta, usage)

    def _model_grader(self, grader: dict, item: dict, sample: dict, meta: RunMetadata, usage: dict) -> float:
        model = grader["model"]
        prompt = [
            {"role": m["role"], "content": _render(_content_text(m.get("content")), item, sample)} for m in grader["input"]
        ]
        seed = (grader.get("sampling_params") or {}).get("seed")
        digest = _digest(model, prompt, sample["output_text"], seed)
        prompt_tokens = self._tokens(prompt)
        counts = {"prompt_tokens": prompt_tokens, "completion_tokens": 1, "total_tokens": prompt_tokens + 1, "cached_tokens": 0}
        usage[model] = counts
        meta.token_usage = counts["total_tokens"]
        meta.sampled_model_name = model
        if grader["type"] == "label_model":
            words = set(_WORD.findall(sample["output_text"].lower()))
            label = next((lab for lab in grader["labels"] if lab.lower() in words), None)
            if label is None:
                label = grader["labels"][int.from_bytes(digest[:4], "big") % len(grader["labels"])]
            meta.scores = {"label": label}
            return 1.0 if label in grader["passing_labels"] else 0.0
        low, high = grader.get("range", [0, 1])
        fraction = int.from_bytes(digest[:8], "big") / 2**64
        return round(low + (high - low) * fraction, 2)

    @staticmethod
    def _tokens(prompt: list[dict]) -> int:
        from ftsim.simulator.inference.model import count_prompt_tokens, get_encoding

        return count_prompt_tokens(get_encoding("o200k_base"), prompt)
