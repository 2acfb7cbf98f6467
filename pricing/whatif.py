"""What-if sweeps: a scenario (baseline + sweeps) -> a grid -> a pandas DataFrame, evaluated vectorised.

A scenario TOML file:

    title = "Support bot"
    kind = "compare"            # or "estimate" (training cost only)
    today = 2026-11-22          # optional; default the catalog's effective date

    [baseline]                  # any compare input (see pricing.compare.CompareInput) ...
    model = "gpt-4.1-mini"
    calls_per_month = 100000
    system_prompt_tokens = 2000
    input_tokens = 500
    output_tokens = 300
    training_tokens = 2400000   # ... or n_examples + tokens_per_example (+ epochs), or training_hours

    [sweep]                     # any baseline parameter: a list, or a range (stop inclusive)
    calls_per_month = { start = 10000, stop = 1000000, step = 10000 }
    cached_fraction = [0, 0.5, 0.9]
    model = ["gpt-4.1-mini", "gpt-4o-mini"]

TOML has no null: in sweeps `base_model = ""` means the tuned model's own base, `retrain_every = 0` never.
The grid is the Cartesian product of the sweeps. **Sweeps are computed in float64 on numpy arrays** (a
million rows in about a second); the single-scenario path (`pricing.compare`) stays in Decimal. The float path
is checked against the Decimal path row by row on samples in tests/pricing/test_whatif.py (per-call costs to
1e-12 USD, monthly and horizon costs to the cent, identical break-even call counts). Break-even call counts
are rounded to 6 decimals before the ceiling so that float noise (99999.9999999) cannot add a call.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pricing.compare import CompareInput, _horizon, _trainings, compare, rates_of
from pricing.errors import PricingError
from pricing.hyperparameters import MAX_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES, MIN_TARGET_EXAMPLES, TARGET_EPOCHS

__all__ = ["Scenario", "RangeSpec", "load_scenario", "grid_size", "evaluate", "row_input", "baseline_input",
           "sweep_warnings", "parse_scenario"]

CATEGORICAL = {"model", "base_model", "method"}
OBJECT_AXES = CATEGORICAL | {"epochs"}
COMPARE_PARAMS = {
    "model", "base_model", "calls_per_month", "system_prompt_tokens", "input_tokens", "output_tokens",
    "tuned_system_prompt_tokens", "cached_fraction", "batch_fraction", "training_tokens", "n_examples",
    "tokens_per_example", "epochs", "training_hours", "months", "retrain_every", "method",
}
INTEGER_PARAMS = {
    "calls_per_month", "system_prompt_tokens", "input_tokens", "output_tokens", "tuned_system_prompt_tokens",
    "training_tokens", "n_examples", "tokens_per_example", "months", "retrain_every",
}
ESTIMATE_PARAMS = {"model", "method", "n_examples", "tokens_per_example", "epochs", "training_hours"}
CHUNK = 250_000


class RangeSpec(BaseModel):
    """A numeric range: start, stop (inclusive) and either step or num (evenly spaced points)."""

    model_config = ConfigDict(extra="forbid")

    start: float
    stop: float
    step: float | None = Field(default=None, gt=0)
    num: int | None = Field(default=None, ge=1, le=10_000_000)

    def values(self) -> list[Any]:
        """The range's points (integers when start, stop and step are integral)."""
        if (self.step is None) == (self.num is None):
            raise ValueError("a range needs exactly one of step or num")
        if self.stop < self.start:
            raise ValueError("a range's stop must be >= its start")
        if self.num is not None:
            points = np.linspace(self.start, self.stop, self.num)
        else:
            count = int(np.floor((self.stop - self.start) / self.step + 1e-9)) + 1
            if count > 10_000_000:
                raise ValueError(f"the range has {count:,} points (at most 10,000,000)")
            points = self.start + self.step * np.arange(count)
        integral = all(float(v).is_integer() for v in (self.start, self.stop, self.step or 1))
        if integral and self.num is None:
            return [int(v) for v in points.round()]
        return [round(float(v), 12) for v in points]  # 0.1 * 3 -> 0.3, not 0.30000000000000004


class Scenario(BaseModel):
    """A what-if scenario: a baseline and sweeps over any of its parameters."""

    model_config = ConfigDict(extra="forbid")

    title: str = "What-if"
    kind: Literal["compare", "estimate"] = "compare"
    today: dt.date | None = None
    baseline: dict[str, Any]
    sweep: dict[str, list[Any] | RangeSpec] = Field(default_factory=dict)

    @field_validator("sweep")
    @classmethod
    def _non_empty(cls, sweep: dict[str, Any]) -> dict[str, Any]:
        """Every sweep has at least one value."""
        for name, values in sweep.items():
            if isinstance(values, list) and not values:
                raise ValueError(f"sweep {name!r} is empty")
        return sweep

    def axes(self) -> dict[str, list[Any]]:
        """Every swept parameter with its values, in declaration order."""
        allowed = COMPARE_PARAMS if self.kind == "compare" else ESTIMATE_PARAMS
        axes: dict[str, list[Any]] = {}
        for name, spec in self.sweep.items():
            if name not in allowed:
                raise PricingError(f"cannot sweep {name!r} in a {self.kind} scenario (one of {sorted(allowed)})")
            try:
                values = spec.values() if isinstance(spec, RangeSpec) else list(spec)
                if name in INTEGER_PARAMS:  # token counts, calls, months: whole numbers (ranges with num round)
                    values = [round(v) if isinstance(v, float) else v for v in values]
                axes[name] = values
            except ValueError as exc:
                raise PricingError(f"sweep {name!r}: {exc}") from None
        return axes


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file (PricingError with one readable line on any problem)."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PricingError(f"scenario file not found: {file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PricingError(f"cannot read scenario {file}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PricingError(f"scenario {file} is not valid TOML: {exc}") from None
    return parse_scenario(data, origin=str(file))


def parse_scenario(data: dict[str, Any], *, origin: str = "scenario") -> Scenario:
    """Validate a scenario given as a dict (the TOML's or an HTTP body's)."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise PricingError(f"{origin}: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    """One line for a pydantic error."""
    err = exc.errors()[0]
    loc = ".".join(str(part) for part in err["loc"])
    return f"{loc or '(top)'}: {err['msg'].removeprefix('Value error, ')}"


def grid_size(scenario: Scenario) -> int:
    """The number of rows the grid will have."""
    size = 1
    for values in scenario.axes().values():
        size *= len(values)
    return size


def _defaults(scenario: Scenario) -> dict[str, Any]:
    """The baseline completed with defaults for every parameter."""
    base = dict(scenario.baseline)
    allowed = COMPARE_PARAMS | {"training_file", "today"} if scenario.kind == "compare" else ESTIMATE_PARAMS
    unknown = sorted(set(base) - allowed)
    if unknown:
        raise PricingError(f"unknown baseline parameter(s): {', '.join(unknown)}")
    defaults = {
        "base_model": None, "tuned_system_prompt_tokens": 0, "cached_fraction": 0.0, "batch_fraction": 0.0,
        "training_tokens": None, "n_examples": None, "tokens_per_example": None, "epochs": "auto",
        "training_hours": None, "months": 12, "retrain_every": None, "method": "supervised",
    }
    return {**defaults, **base}


def row_input(scenario: Scenario, row: dict[str, Any]) -> CompareInput:
    """The Decimal-path CompareInput for one grid row (or the baseline)."""
    values = {**_defaults(scenario), **row}
    values.pop("training_file", None)
    tokens = values.pop("training_tokens")
    n, per_example, epochs = values.pop("n_examples"), values.pop("tokens_per_example"), values.pop("epochs")
    hours = values.pop("training_hours")
    if hours is not None and not _isnan(hours):
        values["training_hours"] = Decimal(str(hours))
    elif tokens is not None and not _isnan(tokens):
        values["training_tokens"] = int(tokens)
    elif n is not None and per_example is not None:
        values["training_tokens"] = int(n) * int(per_example) * _epochs_scalar(epochs, int(n))
    for key in ("cached_fraction", "batch_fraction"):
        values[key] = Decimal(str(values[key]))
    retrain = values.get("retrain_every")
    if retrain is None or _isnan(retrain) or int(retrain) == 0:
        values["retrain_every"] = None  # TOML has no null: 0 means never
    if values.get("base_model") in (None, "") or _isnan(values.get("base_model")):
        values["base_model"] = None  # "" means the tuned model's own base
    values["today"] = scenario.today
    values.pop("method", None)
    try:
        return CompareInput.model_validate(values)
    except ValidationError as exc:
        raise PricingError(f"baseline: {_first_error(exc)}") from None


def baseline_input(scenario: Scenario) -> CompareInput:
    """The baseline as a CompareInput (compare scenarios only)."""
    return row_input(scenario, {})


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def _epochs_scalar(epochs: Any, n: int) -> int:
    """Epochs for n examples: an integer, or the cookbook's auto rule."""
    return int(_auto_epochs(np.array([n]))[0]) if epochs in (None, "auto") else int(epochs)


def _auto_epochs(n: np.ndarray) -> np.ndarray:
    """pricing.hyperparameters.auto_n_epochs, vectorised."""
    n = np.maximum(n.astype(np.int64), 1)
    low = np.minimum(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n)
    high = np.maximum(1, MAX_TARGET_EXAMPLES // n)
    return np.where(n * TARGET_EPOCHS < MIN_TARGET_EXAMPLES, low,
                    np.where(n * TARGET_EPOCHS > MAX_TARGET_EXAMPLES, high, TARGET_EPOCHS))


def _validate_axes(scenario: Scenario, axes: dict[str, list[Any]], catalog) -> None:
    """Check the baseline and each sweep's extreme values through the Decimal path's models."""
    if scenario.kind == "estimate":
        for model in axes.get("model", [scenario.baseline.get("model")]):
            catalog.resolve(model)
        return
    baseline_input(scenario)
    for name, values in axes.items():
        if name in CATEGORICAL or len(values) <= 50:
            checks = values
        else:
            checks = [min(values), max(values)]
        for value in checks:
            params = row_input(scenario, {name: value})
            if name in ("model", "base_model"):
                compare(params, catalog=catalog)


class _Chunk:
    """One slice of the grid: per-row codes into each axis, with the baseline for unswept parameters."""

    def __init__(self, axes: dict[str, list[Any]], defaults: dict[str, Any], codes: dict[str, np.ndarray], n: int):
        self.axes, self.defaults, self.codes, self.n = axes, defaults, codes, n

    def values(self, name: str) -> list[Any]:
        """The distinct values of a parameter: its sweep, or the baseline value alone."""
        return self.axes[name] if name in self.axes else [self.defaults.get(name)]

    def code(self, name: str) -> np.ndarray:
        """Per-row index into `values(name)`."""
        return self.codes[name] if name in self.codes else np.zeros(self.n, dtype=np.intp)

    def num(self, name: str) -> np.ndarray:
        """A numeric parameter per row (NaN where unset)."""
        table = np.array([np.nan if v is None or v == "auto" else float(v) for v in self.values(name)])
        return table[self.code(name)]

    def lookup(self, name: str, fn: Callable[[Any], Any]) -> np.ndarray:
        """fn applied once per distinct value, spread to rows (n x k for tuple results)."""
        table = np.array([fn(v) for v in self.values(name)], dtype=float)
        return table[self.code(name)]


def evaluate(scenario: Scenario, *, catalog, progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """The grid as a DataFrame: swept parameters then computed columns, one row per combination."""
    axes = scenario.axes()
    _validate_axes(scenario, axes, catalog)
    defaults = _defaults(scenario)
    if scenario.kind == "compare" and defaults.get("training_file"):
        raise PricingError("training_file cannot be swept: give training_tokens or n_examples + tokens_per_example")
    if scenario.kind == "compare" and not defaults.get("base_model"):
        defaults["base_model"] = None
    names = list(axes)
    shape = tuple(len(axes[n]) for n in names) or (1,)
    total = int(np.prod(shape))
    compute = _compute_compare if scenario.kind == "compare" else _compute_estimate
    chunks = []
    for start in range(0, total, CHUNK):
        stop = min(total, start + CHUNK)
        index = np.unravel_index(np.arange(start, stop), shape) if names else ()
        codes = {name: index[position] for position, name in enumerate(names)}
        columns = {}
        for name in names:
            values = axes[name]
            table = np.asarray(values, dtype=object if name in OBJECT_AXES else None)
            columns[name] = table[codes[name]]
        frame = pd.DataFrame(columns, index=pd.RangeIndex(start, stop))
        chunk = _Chunk(axes, defaults, codes, stop - start)
        chunks.append(compute(frame, chunk, scenario, catalog))
        if progress:
            progress(stop, total)
    return pd.concat(chunks) if len(chunks) > 1 else chunks[0]


def _triple(values) -> tuple[float, float, float]:
    """Decimal prices as floats (NaN when absent)."""
    return tuple(float(v) for v in values) if values else (np.nan, np.nan, np.nan)


def _epochs_of(chunk: _Chunk, n: np.ndarray) -> np.ndarray:
    """Epochs per row: the given integer, or the auto rule on the row's example count."""
    given = chunk.num("epochs")
    return np.where(np.isnan(given), _auto_epochs(np.nan_to_num(n, nan=1)), given)


def _training_columns(chunk: _Chunk, catalog) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trained tokens, epochs and training cost (float USD) per row."""
    tokens = chunk.num("training_tokens")
    n, per_example, hours = chunk.num("n_examples"), chunk.num("tokens_per_example"), chunk.num("training_hours")
    epochs = _epochs_of(chunk, n)
    from_dataset = np.isnan(tokens) & ~np.isnan(n) & ~np.isnan(per_example)
    tokens = np.where(from_dataset, n * per_example * epochs, tokens)

    def prices(model):
        r = rates_of(catalog.resolve(model))
        per_1m = float(r.training_per_1m) if r.training_per_1m is not None else np.nan
        return (per_1m, float(r.training_per_hour) if r.training_per_hour is not None else np.nan)

    rate = chunk.lookup("model", prices)
    by_hours = ~np.isnan(hours)
    cost = np.where(by_hours, hours * rate[:, 1], tokens * rate[:, 0] / 1e6)
    if np.isnan(cost).any():
        raise PricingError("some rows have no training price: per-token models need tokens, RFT models hours")
    return np.where(by_hours, np.nan, tokens), np.where(from_dataset, epochs, np.nan), cost


def _compute_estimate(frame: pd.DataFrame, chunk: _Chunk, scenario: Scenario, catalog) -> pd.DataFrame:
    """Training cost per row (estimate scenarios)."""
    tokens, epochs, cost = _training_columns(chunk, catalog)
    frame["trained_tokens"] = tokens
    frame["n_epochs"] = epochs
    frame["training_cost_usd"] = cost.round(6)
    return frame


def _cents(x: np.ndarray) -> np.ndarray:
    """Round half away from zero to the cent, like Decimal ROUND_HALF_UP (float noise below 1e-6 cent ignored)."""
    scaled = np.round(np.abs(x) * 100, 6)
    return np.sign(x) * np.floor(scaled + 0.5) / 100


def _compute_compare(frame: pd.DataFrame, chunk: _Chunk, scenario: Scenario, catalog) -> pd.DataFrame:
    """Both paths, break-even and horizon per row (compare scenarios)."""
    models = chunk.values("model")

    def base_of(row_codes: tuple[np.ndarray, np.ndarray], pick) -> np.ndarray:
        """Base-path prices: the base_model's, or the tuned model's own base where none is given."""
        bases = chunk.values("base_model")
        table = np.array([[pick(rates_of(catalog.resolve(b or m))) for b in bases] for m in models], dtype=float)
        return table[row_codes]

    pair = (chunk.code("model"), chunk.code("base_model"))
    tuned_std = chunk.lookup("model", lambda m: _triple(rates_of(catalog.resolve(m)).tuned))
    tuned_bat = chunk.lookup("model", lambda m: _triple((lambda r: r.tuned_batch or r.tuned)(rates_of(catalog.resolve(m)))))
    base_std = base_of(pair, lambda r: _triple(r.base))
    base_bat = base_of(pair, lambda r: _triple(r.base_batch or r.base))
    s, t = chunk.num("system_prompt_tokens"), chunk.num("tuned_system_prompt_tokens")
    i, o = chunk.num("input_tokens"), chunk.num("output_tokens")
    cf, bf, calls = chunk.num("cached_fraction"), chunk.num("batch_fraction"), chunk.num("calls_per_month")

    def call(p, prompt, cached):
        return ((prompt - cached + i) * p[:, 0] + cached * p[:, 1] + o * p[:, 2]) / 1e6

    cached = s * cf
    base_call = call(base_std, s, cached) * (1 - bf) + call(base_bat, s, cached) * bf
    tuned_call = call(tuned_std, t, 0.0) * (1 - bf) + call(tuned_bat, t, 0.0) * bf
    tokens, _, training = _training_columns(chunk, catalog)
    horizon, trainings = _horizon_columns(chunk, scenario, catalog)

    saving = base_call - tuned_call
    positive = saving > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(positive, training / np.where(positive, saving, 1), np.nan)
        be_calls = np.where(training > 0, np.ceil(np.round(ratio, 6)), np.where(positive, 0.0, np.nan))
        retrain = chunk.num("retrain_every")
        loses = (np.nan_to_num(retrain) > 0) & (saving * calls * np.nan_to_num(retrain) < training)
        be_calls = np.where(loses, np.nan, be_calls)
        be_months = np.where(calls > 0, _cents(be_calls / np.where(calls > 0, calls, 1)), np.nan)
    base_month, tuned_month = base_call * calls, tuned_call * calls
    base_total = base_month * horizon
    tuned_total = tuned_month * horizon + training * trainings
    never = np.isnan(be_calls)
    verdict = np.where(never, "never_pays_back",
                       np.where(np.isnan(be_months) | (be_months > horizon), "pays_back_after_horizon", "pays_back"))
    frame["base_cost_per_call_usd"] = base_call
    frame["tuned_cost_per_call_usd"] = tuned_call
    frame["base_monthly_cost_usd"] = _cents(base_month)
    frame["tuned_monthly_cost_usd"] = _cents(tuned_month)
    frame["monthly_savings_usd"] = _cents(base_month - tuned_month)
    frame["trained_tokens"] = tokens
    frame["training_cost_usd"] = _cents(training)
    frame["break_even_calls"] = pd.arrays.IntegerArray(np.nan_to_num(be_calls).astype(np.int64), never)
    frame["break_even_months"] = be_months
    frame["horizon_months"] = horizon
    frame["base_horizon_cost_usd"] = _cents(base_total)
    frame["tuned_horizon_cost_usd"] = _cents(tuned_total)
    frame["net_savings_over_horizon_usd"] = _cents(base_total - tuned_total)
    frame["verdict"] = verdict
    return frame


def _horizon_columns(chunk: _Chunk, scenario: Scenario, catalog) -> tuple[np.ndarray, np.ndarray]:
    """Horizon months and trainings per row, computed in Decimal once per distinct combination."""
    names = ("model", "base_model", "months", "retrain_every")
    sizes = tuple(len(chunk.values(n)) for n in names)
    today = scenario.today or catalog.effective_date
    horizon_of, trainings_of = np.zeros(sizes), np.zeros(sizes)
    for key in np.ndindex(*sizes):
        model, base, months, retrain = (chunk.values(n)[k] for n, k in zip(names, key))
        params = CompareInput.model_construct(months=int(months), retrain_every=int(retrain) if retrain else None)
        tuned_entry, base_entry = catalog.resolve(model), catalog.resolve(base or model)
        _, horizon = _horizon(params, today, tuned_entry, base_entry, [])
        horizon_of[key] = float(horizon)
        trainings_of[key] = _trainings(params, today, horizon, tuned_entry, [])
    rows = tuple(chunk.code(n) for n in names)
    return horizon_of[rows], trainings_of[rows]


def sweep_warnings(scenario: Scenario, catalog) -> list[str]:
    """Report warnings: the baseline's compare warnings, or (estimate) models that no longer train."""
    if scenario.kind == "compare":
        return compare(baseline_input(scenario), catalog=catalog).warnings
    today = scenario.today or catalog.effective_date
    names = scenario.axes().get("model", [scenario.baseline.get("model")])
    warnings = []
    for entry in {catalog.resolve(name).snapshot: catalog.resolve(name) for name in names}.values():
        if not entry.training_open(today):
            warnings.append(f"{entry.snapshot} accepts no new fine-tuning jobs since "
                            f"{entry.training_until.isoformat()}: its rows are what-if figures only.")
    return warnings
