"""What-if sweeps: a scenario (baseline + sweeps) -> a grid -> a pandas DataFrame, evaluated vectorised.

A scenario TOML file:

    title = "Support bot"
    kind = "compare"            # or "estimate" (training cost only)
    today = 2026-11-22          # optional; default the catalog's effective date

    [baseline]                  # any compare input (see ftsim.pricing.planning.compare.CompareInput) ...
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
million rows in about a second); the single-scenario path (`ftsim.pricing.planning.compare`) stays in Decimal. The float path
is checked against the Decimal path row by row on samples in tests/pricing/test_whatif.py (per-call costs to
1e-12 USD, monthly and horizon costs to the cent, identical break-even call counts). Break-even call counts
are rounded to 6 decimals before the ceiling so that float noise (99999.9999999) cannot add a call.
The vectorised evaluation itself lives in `ftsim.pricing.planning.whatif_grid`; this module holds the scenario and its inputs.
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

from ftsim.pricing.planning.bounds import MAX_AS_OF, MAX_N_EXAMPLES, MAX_TOKENS_PER_EXAMPLE, MAX_TRAINING_HOURS
from ftsim.pricing.planning.compare import CompareInput, compare
from ftsim.pricing.errors import PricingError
from ftsim.pricing.costs.hyperparameters import MAX_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES, MIN_TARGET_EXAMPLES, TARGET_EPOCHS

__all__ = ["Scenario", "RangeSpec", "load_scenario", "grid_size", "evaluate", "row_input", "baseline_input",
           "sweep_warnings", "parse_scenario"]

CATEGORICAL = {"model", "base_model", "method", "provider", "azure_tier", "hosting_region"}
# Inputs the vectorised float path does not model: a scenario using any of them is evaluated row by row in Decimal
# through compare() (at most ROW_WISE_MAX rows).
ROW_WISE = {"provider", "azure_tier", "deployments", "hosting_region", "azure_existing_customer",
            "has_fine_tuned_before", "recent_fine_tuned_inference", "after_shutdown_cost_usd"}
ROW_WISE_MAX = 20_000
OBJECT_AXES = CATEGORICAL | {"epochs"}
COMPARE_PARAMS = {
    "model", "base_model", "calls_per_month", "system_prompt_tokens", "input_tokens", "output_tokens",
    "tuned_system_prompt_tokens", "cached_fraction", "batch_fraction", "training_tokens", "n_examples",
    "tokens_per_example", "epochs", "training_hours", "months", "retrain_every", "method",
} | ROW_WISE
INTEGER_PARAMS = {
    "calls_per_month", "system_prompt_tokens", "input_tokens", "output_tokens", "tuned_system_prompt_tokens",
    "training_tokens", "n_examples", "tokens_per_example", "months", "retrain_every", "deployments",
}
ESTIMATE_PARAMS = {"model", "method", "n_examples", "tokens_per_example", "epochs", "training_hours"}
CHUNK = 250_000


class RangeSpec(BaseModel):
    """A numeric range: start, stop (inclusive) and either step or num (evenly spaced points)."""

    model_config = ConfigDict(extra="forbid")

    start: float = Field(allow_inf_nan=False)
    stop: float = Field(allow_inf_nan=False)
    step: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    num: int | None = Field(default=None, ge=1, le=10_000_000)

    def count(self) -> int:
        """How many points `values()` gives, without building them (0 for a range `values()` refuses)."""
        if (self.step is None) == (self.num is None) or self.stop < self.start:
            return 0
        if self.num is not None:
            return self.num
        assert self.step is not None  # exactly one of step and num, checked above
        span = np.floor((self.stop - self.start) / self.step + 1e-9) + 1
        return int(span) if np.isfinite(span) else 10_000_001

    def values(self) -> list[Any]:
        """The range's points (integers when start, stop and step are integral)."""
        if (self.step is None) == (self.num is None):
            raise ValueError("a range needs exactly one of step or num")
        if self.stop < self.start:
            raise ValueError("a range's stop must be >= its start")
        if self.num is not None:
            points: np.ndarray = np.linspace(self.start, self.stop, self.num)
        else:
            step = self.step
            assert step is not None  # exactly one of step and num, checked above
            count = self.count()  # more than the bound when the span overflows a float
            if count > 10_000_000:
                raise ValueError(f"the range has {count:,} points (at most 10,000,000)")
            points = self.start + step * np.arange(count)
        integral = all(float(v).is_integer() for v in (self.start, self.stop, self.step or 1))
        if integral and self.num is None:
            return [int(v) for v in points.round()]
        return [round(float(v), 12) for v in points]  # 0.1 * 3 -> 0.3, not 0.30000000000000004


class Scenario(BaseModel):
    """A what-if scenario: a baseline and sweeps over any of its parameters."""

    model_config = ConfigDict(extra="forbid")

    title: str = "What-if"
    kind: Literal["compare", "estimate"] = "compare"
    today: dt.date | None = Field(default=None, le=MAX_AS_OF)
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
                if name not in CATEGORICAL and name not in ("azure_existing_customer", "has_fine_tuned_before",
                                                            "recent_fine_tuned_inference"):
                    for value in values:
                        if not (name == "epochs" and value == "auto") and not (
                                name == "retrain_every" and value is None):
                            _number(name, value, integer=False)
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
        "base_model": None, "tuned_system_prompt_tokens": 0, "cached_fraction": None, "batch_fraction": 0.0,
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
        values["training_hours"] = Decimal(str(_number("training_hours", hours, integer=False)))
    elif tokens is not None and not _isnan(tokens):
        values["training_tokens"] = _number("training_tokens", tokens)
    elif n is not None and per_example is not None:
        n, per_example = _number("n_examples", n), _number("tokens_per_example", per_example)
        if epochs not in (None, "auto"):
            epochs = _number("epochs", epochs)
        values["training_tokens"] = n * per_example * _epochs_scalar(epochs, n)
    for key in ("cached_fraction", "batch_fraction"):
        if values[key] is None or _isnan(values[key]):
            values[key] = None if key == "cached_fraction" else Decimal(0)  # compare's default share applies
        else:
            values[key] = Decimal(str(_number(key, values[key], integer=False)))
    retrain = values.get("retrain_every")
    if retrain is not None and not _isnan(retrain):
        retrain = _number("retrain_every", retrain)
    if retrain is None or _isnan(retrain) or int(retrain) == 0:
        values["retrain_every"] = None  # TOML has no null: 0 means never
    if values.get("base_model") in (None, "") or _isnan(values.get("base_model")):
        values["base_model"] = None  # "" means the tuned model's own base
    values["today"] = scenario.today
    if values.get("after_shutdown_cost_usd") is not None:
        values["after_shutdown_cost_usd"] = Decimal(str(_number("after_shutdown_cost_usd", values["after_shutdown_cost_usd"],
                                                                 integer=False)))
    # The method is compare's input like any other: a row whose model (or provider) does not offer it cannot train.
    try:
        return CompareInput.model_validate(values)
    except ValidationError as exc:
        raise PricingError(f"baseline: {_first_error(exc)}") from None


def _number(name: str, value: Any, *, integer: bool = True) -> Any:
    """A finite number (whole where `integer`), else PricingError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value in (
            float("inf"), float("-inf")):
        raise PricingError(f"{name} must be a number, got {value!r}")
    if integer:
        if isinstance(value, float) and not value.is_integer():
            raise PricingError(f"{name} must be a whole number, got {value!r}")
        return int(value)
    return value


def baseline_input(scenario: Scenario) -> CompareInput:
    """The baseline as a CompareInput (compare scenarios only)."""
    return row_input(scenario, {})


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def _epochs_scalar(epochs: Any, n: int) -> int:
    """Epochs for n examples: an integer, or the cookbook's auto rule."""
    return int(_auto_epochs(np.array([n]))[0]) if epochs in (None, "auto") else int(epochs)


def _auto_epochs(n: np.ndarray) -> np.ndarray:
    """ftsim.pricing.costs.hyperparameters.auto_n_epochs, vectorised."""
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
        _check_estimate_bounds(scenario, axes)
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


ESTIMATE_BOUNDS: dict[str, int | Decimal] = {
    "n_examples": MAX_N_EXAMPLES, "tokens_per_example": MAX_TOKENS_PER_EXAMPLE,
    "training_hours": MAX_TRAINING_HOURS, "epochs": 50,
}


def _check_estimate_bounds(scenario: Scenario, axes: dict[str, list[Any]]) -> None:
    """Estimate scenarios skip CompareInput: check their numbers against the same bounds here."""
    for name, bound in ESTIMATE_BOUNDS.items():
        values = axes.get(name, [scenario.baseline.get(name)])
        for value in values:
            if value is None or value == "auto":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise PricingError(f"{name} must be a number, got {value!r}")
            if not 0 <= value <= bound:
                raise PricingError(f"{name} must be between 0 and {bound:,}, got {value:,}")


def evaluate(scenario: Scenario, *, catalog, progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """The grid as a DataFrame: swept parameters then computed columns, one row per combination."""
    from ftsim.pricing.planning.whatif_grid import evaluate_grid

    catalog.check_as_of(scenario.today or catalog.effective_date)
    if scenario.kind == "compare" and row_wise(scenario):
        return evaluate_rows(scenario, catalog=catalog, progress=progress)
    return evaluate_grid(scenario, catalog=catalog, progress=progress)


def row_wise(scenario: Scenario) -> bool:
    """Whether the scenario uses inputs only the Decimal path models (providers, eligibility, hosting)."""
    used = set(scenario.baseline) | set(scenario.sweep)
    return bool(used & ROW_WISE)


def evaluate_rows(scenario: Scenario, *, catalog, progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """The grid evaluated row by row through compare() (Decimal, exact), for provider-aware scenarios."""
    import itertools

    axes = scenario.axes()
    size = grid_size(scenario)
    if size > ROW_WISE_MAX:
        raise PricingError(f"a scenario with providers or eligibility inputs is evaluated exactly, row by row: "
                           f"at most {ROW_WISE_MAX:,} rows (this one has {size:,})")
    _defaults(scenario)
    names = list(axes)
    records = []
    for k, combo in enumerate(itertools.product(*(axes[n] for n in names))):
        row = dict(zip(names, combo))
        result = compare(row_input(scenario, row), catalog=catalog)
        t, b = result.tuned, result.base
        records.append({
            **row,
            "provider": result.provider,
            "base_cost_per_call_usd": float(b.cost_per_call_usd),
            "tuned_cost_per_call_usd": float(t.cost_per_call_usd),
            "base_monthly_cost_usd": float(b.monthly_cost_usd),
            "tuned_monthly_cost_usd": float(t.monthly_cost_usd),
            "hosting_monthly_usd": float(t.hosting_monthly_usd),
            "monthly_savings_usd": float(result.monthly_savings_usd),
            "trained_tokens": float(result.trained_tokens) if result.trained_tokens is not None else float("nan"),
            "training_cost_usd": float(t.training_cost_usd),
            "break_even_calls": result.break_even_calls,
            "break_even_months": float(result.break_even_months) if result.break_even_months is not None
            else float("nan"),
            "break_even_calls_per_month": result.break_even_calls_per_month,
            "break_even_cached_fraction": float(result.break_even_cached_fraction)
            if result.break_even_cached_fraction is not None else float("nan"),
            "cached_fraction_used": float(result.cached_fraction),
            "horizon_months": float(result.horizon_months),
            "base_horizon_cost_usd": float(b.horizon_cost_usd),
            "tuned_horizon_cost_usd": float(t.horizon_cost_usd),
            "net_savings_over_horizon_usd": float(result.net_savings_over_horizon_usd),
            "verdict": result.verdict,
        })
        if progress and (k + 1) % 1000 == 0:
            progress(k + 1, size)
    frame = pd.DataFrame.from_records(records)
    for column in ("break_even_calls", "break_even_calls_per_month"):
        frame[column] = pd.array(frame[column], dtype="Int64")
    if progress:
        progress(size, size)
    return frame


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
