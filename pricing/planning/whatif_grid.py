"""The what-if grid, evaluated vectorised: chunks of rows as numpy arrays in float64 (see `ftsim.pricing.planning.whatif`).

Each chunk holds per-row codes into each swept axis; prices are looked up once per distinct model and spread to
rows; horizons and training counts are computed in Decimal once per distinct (model, base, months, retrain)
combination. Rows without any training input (no tokens, dataset or hours) cost nothing to train, like
`ftsim.pricing.planning.compare` without a training source.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from ftsim.pricing.planning.compare import (
    CACHE_MIN_TOKENS, DEFAULT_CACHED_FRACTION, CompareInput, _horizon, _trainings, rates_of,
)
from ftsim.pricing.catalog.providers import load_providers, openai_training_block
from ftsim.pricing.errors import PricingError
from ftsim.pricing.planning.whatif import CHUNK, OBJECT_AXES, Scenario, _auto_epochs, _defaults, _validate_axes

__all__ = ["evaluate_grid"]


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


def evaluate_grid(scenario: Scenario, *, catalog, progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
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
    if not values:
        return (np.nan, np.nan, np.nan)
    first, second, third = values
    return float(first), float(second), float(third)


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
    untrained = ~by_hours & np.isnan(tokens)  # no training input at all: no training cost (compare warns)
    cost = np.where(by_hours, hours * rate[:, 1], np.where(untrained, 0.0, tokens * rate[:, 0] / 1e6))
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

    # compare's default: a long prompt (>= CACHE_MIN_TOKENS) not given a cached share is DEFAULT_CACHED_FRACTION cached
    cf = np.where(np.isnan(cf), np.where(s >= CACHE_MIN_TOKENS, float(DEFAULT_CACHED_FRACTION), 0.0), cf)
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
    with np.errstate(divide="ignore", invalid="ignore"):  # compare's one break-even: horizon totals equal
        usable = positive & (horizon > 0)
        volume = np.where(usable, training * trainings / np.where(usable, saving * horizon, 1), np.nan)
        be_volume = np.ceil(np.round(volume, 6))
        # the cached share at which the horizon totals meet, at this volume (clamped to [0, 1])
        base_uncached = call(base_std, s, 0.0) * (1 - bf) + call(base_bat, s, 0.0) * bf
        drop = base_uncached - (call(base_std, s, s) * (1 - bf) + call(base_bat, s, s) * bf)
        exposure = calls * horizon
        share_ok = (s > 0) & (exposure > 0) & (drop > 0)
        share = np.where(share_ok, (exposure * (base_uncached - tuned_call) - training * trainings)
                         / np.where(share_ok, exposure * drop, 1), np.nan)
        share = np.floor(np.clip(share, 0.0, 1.0) * 10_000 + 1e-9) / 10_000
    base_total = base_month * horizon
    tuned_total = tuned_month * horizon + training * trainings
    never = np.isnan(be_calls)
    idle = (calls == 0) & (np.nan_to_num(be_calls) > 0)  # as compare: no calls never add up to a payback
    verdict = np.where(never | idle, "never_pays_back",
                       np.where(np.isnan(be_months) | (be_months > horizon), "pays_back_after_horizon", "pays_back"))
    today = scenario.today or catalog.effective_date
    closed = chunk.lookup("model", lambda m: 0.0 if catalog.resolve(m).training_open(today) else 1.0) > 0
    # as compare: OpenAI's wind-down for every organization (the per-organization answers are row-wise inputs)
    wound_down = openai_training_block(load_providers(), today, has_fine_tuned_before=None,
                                       recent_fine_tuned_inference=None).allowed is False
    verdict = np.where(closed | wound_down | _method_refused(chunk, catalog), "cannot_train", verdict)
    frame["base_cost_per_call_usd"] = base_call
    frame["tuned_cost_per_call_usd"] = tuned_call
    frame["base_monthly_cost_usd"] = _cents(base_month)
    frame["tuned_monthly_cost_usd"] = _cents(tuned_month)
    frame["monthly_savings_usd"] = _cents(base_month - tuned_month)
    frame["trained_tokens"] = tokens
    frame["training_cost_usd"] = _cents(training)
    frame["break_even_calls"] = pd.arrays.IntegerArray(np.nan_to_num(be_calls).astype(np.int64), never)
    frame["break_even_months"] = be_months
    frame["break_even_calls_per_month"] = pd.arrays.IntegerArray(
        np.nan_to_num(be_volume).astype(np.int64), np.isnan(be_volume))
    frame["break_even_cached_fraction"] = share
    frame["cached_fraction_used"] = cf
    frame["horizon_months"] = horizon
    frame["base_horizon_cost_usd"] = _cents(base_total)
    frame["tuned_horizon_cost_usd"] = _cents(tuned_total)
    frame["net_savings_over_horizon_usd"] = _cents(base_total - tuned_total)
    frame["verdict"] = verdict
    return frame


def _method_refused(chunk: _Chunk, catalog) -> np.ndarray:
    """Rows whose model does not offer the row's method, as compare decides it (`compare._method`): training hours
    mean reinforcement, otherwise the `method` parameter (a model with no method at all is not refused here)."""
    models, methods = chunk.values("model"), chunk.values("method")

    def refused(model: str, method: str | None) -> float:
        allowed = catalog.resolve(model).methods
        return 1.0 if allowed and (method or "supervised") not in allowed else 0.0

    given = np.array([[refused(m, k) for k in methods] for m in models], dtype=float)
    hourly = np.array([refused(m, "reinforcement") for m in models], dtype=float)
    model_code = chunk.code("model")
    by_method = given[model_code, chunk.code("method")]
    return np.where(~np.isnan(chunk.num("training_hours")), hourly[model_code], by_method) > 0


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
