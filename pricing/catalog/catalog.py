"""The dated price catalog: `pricing/catalog/*.json` (data) loaded into frozen pydantic models.

Prices are JSON *strings* parsed into `Decimal` (a JSON number, i.e. a float, is refused). Every price table
carries a `source` id (see `Catalog.sources`) and an `as_of` date. `load_catalog()` picks the newest bundled
file; `load_catalog(path)` loads a user's file (e.g. negotiated prices). Any problem -> `CatalogError`.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, ValidationError, model_validator

from ftsim.pricing.errors import CatalogError, UnknownModel

__all__ = [
    "Price",
    "PriceSet",
    "TierPrices",
    "TrainingPrice",
    "SourceRef",
    "WindDown",
    "ModelEntry",
    "Catalog",
    "Method",
    "load_catalog",
    "bundled_catalogs",
]

Method = Literal["supervised", "dpo", "reinforcement", "vision"]
Tokenizer = Literal["o200k_base", "cl100k_base"]


def _to_decimal(value: Any) -> Decimal:
    """Parse a price from a decimal string (or a Decimal); floats, ints and bools are refused."""
    if isinstance(value, Decimal):
        dec = value
    elif isinstance(value, str):
        try:
            dec = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a decimal string: {value!r}") from None
    else:
        raise ValueError(f"a price must be a decimal string such as \"3.00\", not {type(value).__name__} {value!r}")
    if not dec.is_finite() or dec < 0:
        raise ValueError(f"a price must be finite and >= 0, got {value!r}")
    return dec


Price = Annotated[Decimal, BeforeValidator(_to_decimal), PlainSerializer(str, when_used="json")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PriceSet(_Frozen):
    """Per-1M-token prices of one tier (input, cached input, output) with their source and date."""

    input: Price
    cached_input: Price | None = None
    output: Price
    source: str
    as_of: str

    @property
    def effective_cached_input(self) -> Decimal:
        """The cached-input price, or the input price where no cache discount exists."""
        return self.cached_input if self.cached_input is not None else self.input


class TierPrices(_Frozen):
    """Standard and Batch API prices, each stored explicitly (batch is not always half, contradiction C3)."""

    standard: PriceSet
    batch: PriceSet | None = None


class TrainingPrice(_Frozen):
    """The training price: per 1M tokens (SFT, DPO, vision) or per hour of the training loop (RFT)."""

    unit: Literal["per_1m_tokens", "per_hour"]
    price: Price
    source: str
    as_of: str


class SourceRef(_Frozen):
    """A price source: a title and the date of the copy."""

    title: str
    date: str


class WindDown(_Frozen):
    """OpenAI's wind-down of fine-tuning, per organization (each date the first day the rule applies).

    - `never_fine_tuned_from`: organizations that never ran fine-tuning can no longer create jobs;
    - `inactive_from`: nor can those without inference on a fine-tuned model in the previous `inactive_days`;
    - `everyone_from`: no organization can create jobs.
    A blocked organization can still upload files; job creation answers 403 `training_not_available`."""

    never_fine_tuned_from: dt.date
    inactive_from: dt.date
    inactive_days: int
    everyone_from: dt.date
    source: str


class ModelEntry(_Frozen):
    """One snapshot: methods, prices, limits, tokenizer, lifecycle dates and simulator constants."""

    snapshot: str
    aliases: tuple[str, ...] = ()
    # Aliases `POST /v1/fine_tuning/jobs` accepts for this snapshot (live: `gpt-3.5-turbo` -> gpt-3.5-turbo-0125 in
    # a 2025 recording, while `gpt-4o-mini` is refused with model_not_available); any other alias is refused.
    fine_tuning_aliases: tuple[str, ...] = ()
    tokenizer: Tokenizer
    training_context: int
    methods: frozenset[Method] = frozenset()
    training: TrainingPrice | None = None
    tuned: TierPrices | None = None
    tuned_data_sharing: TierPrices | None = None
    base: TierPrices | None = None
    training_until: dt.date | None = None
    training_until_source: str | None = None
    inference_until: dt.date | None = None
    inference_until_source: str | None = None
    lr_multiplier: Price | None = None
    lr_multiplier_observed: bool = False
    tokens_per_second: int | None = None
    notes: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The snapshot followed by its aliases."""
        return (self.snapshot, *self.aliases)

    @property
    def is_fine_tunable(self) -> bool:
        """True when at least one fine-tuning method is allowed."""
        return bool(self.methods)

    @property
    def hourly(self) -> bool:
        """True when training is billed per hour (RFT)."""
        return self.training is not None and self.training.unit == "per_hour"

    def allows(self, method: str) -> bool:
        """Whether `method` (supervised, dpo, reinforcement, vision) is allowed on this snapshot."""
        return method in self.methods

    def training_open(self, on: dt.date) -> bool:
        """Whether new training jobs are accepted on date `on` (training_until is exclusive)."""
        return self.training_until is None or on < self.training_until

    def inference_open(self, on: dt.date) -> bool:
        """Whether the model and its fine-tunes still serve on date `on` (inference_until is exclusive)."""
        return self.inference_until is None or on < self.inference_until


class Catalog(_Frozen):
    """A dated catalog of models and prices; resolve names with `resolve`."""

    catalog_version: str
    effective_date: dt.date
    currency: Literal["USD"] = "USD"
    default_lr_multiplier: Price = Decimal("2.0")
    doc: dict[str, str] = {}
    sources: dict[str, SourceRef] = {}
    wind_down: WindDown | None = None
    models: tuple[ModelEntry, ...]
    origin: str = "<memory>"

    @model_validator(mode="before")
    @classmethod
    def _fill_lr_default(cls, data: Any) -> Any:
        """Fill each model's unobserved lr_multiplier with the catalog default."""
        if isinstance(data, dict) and isinstance(data.get("models"), list):
            default = data.get("default_lr_multiplier", "2.0")
            models = []
            for model in data["models"]:
                if isinstance(model, dict) and model.get("lr_multiplier") is None:
                    model = {**model, "lr_multiplier": default, "lr_multiplier_observed": False}
                elif isinstance(model, dict) and "lr_multiplier_observed" not in model:
                    model = {**model, "lr_multiplier_observed": True}
                models.append(model)
            data = {**data, "models": models}
        return data

    @model_validator(mode="after")
    def _check(self) -> "Catalog":
        """Names are unique, sources are known, trainable models carry a training context."""
        seen: dict[str, str] = {}
        for entry in self.models:
            for name in entry.names:
                if name in seen:
                    raise ValueError(f"model name {name!r} is declared twice ({seen[name]}, {entry.snapshot})")
                seen[name] = entry.snapshot
            if entry.training_context < 1:
                raise ValueError(f"{entry.snapshot}: training_context must be >= 1")
            for table in _price_tables(entry):
                if self.sources and table.source not in self.sources:
                    raise ValueError(f"{entry.snapshot}: unknown price source {table.source!r}")
            for date, source in ((entry.training_until, entry.training_until_source),
                                 (entry.inference_until, entry.inference_until_source)):
                if source is not None and self.sources and source not in self.sources:
                    raise ValueError(f"{entry.snapshot}: unknown date source {source!r}")
        if self.wind_down is not None and self.sources and self.wind_down.source not in self.sources:
            raise ValueError(f"wind_down: unknown source {self.wind_down.source!r}")
        return self

    @property
    def covers_from(self) -> dt.date:
        """The earliest as-of date the catalog covers: the first day of the month of its oldest price copy (each
        price table's `as_of`, "YYYY-MM" or "YYYY-MM-DD"). The catalog holds no price history, so it says nothing
        about the prices before it; the effective date when no table carries a readable date."""
        days = []
        for entry in self.models:
            for table in _price_tables(entry):
                parts = table.as_of.split("-")
                if len(parts) >= 2 and all(p.isdigit() for p in parts[:2]) and 1 <= int(parts[1]) <= 12:
                    days.append(dt.date(int(parts[0]), int(parts[1]), 1))
        return min(days, default=self.effective_date)

    def check_as_of(self, day: dt.date) -> None:
        """Refuse an as-of date before `covers_from`: the one check that estimate, compare, what-if and decide
        make, whichever door (CLI, HTTP, console) the date came through. (The latest date is
        `planning.bounds.MAX_AS_OF`, checked where dates are read.)

        A refusal, not a warning: before its oldest price copy the catalog knows neither the prices nor whether
        its models existed (a 2020 date predates every snapshot in it), so any figure would be invented. ftsim's
        choice; no source settles it."""
        from ftsim.pricing.errors import AsOfOutOfRange

        first = self.covers_from
        if day < first:
            raise AsOfOutOfRange(f"as-of date {day.isoformat()} is before {first.isoformat()}, the earliest date "
                                 f"the price catalog covers (its oldest price copy): give {first.isoformat()} or "
                                 "later")

    @functools.cached_property
    def _index(self) -> dict[str, ModelEntry]:
        return {name: entry for entry in self.models for name in entry.names}

    def resolve(self, name: str) -> ModelEntry:
        """A snapshot, alias or `ft:{base}:{org}:{suffix}:{id}[:ckpt-step-N]` name -> its (base) entry."""
        if not isinstance(name, str) or not name.strip():
            raise UnknownModel("model name is empty")
        key = name.strip()
        if key in self._index:
            return self._index[key]
        if key.startswith("ft:"):
            parts = key.split(":")
            n = len(parts)
            if n == 5 or (n == 6 and parts[5].startswith("ckpt-step-") and parts[5][10:].isdigit()):
                base = parts[1]
                if base in self._index:
                    return self._index[base]
        raise UnknownModel(f"unknown model {name!r} (not in catalog {self.catalog_version}; see `ftsim prices`)")

    def get(self, name: str) -> ModelEntry | None:
        """Like `resolve`, but None for an unknown name."""
        try:
            return self.resolve(name)
        except UnknownModel:
            return None

    def fine_tunable(self) -> tuple[ModelEntry, ...]:
        """Entries with at least one fine-tuning method, in catalog order."""
        return tuple(entry for entry in self.models if entry.methods)

    def source_text(self, source_id: str) -> str:
        """A readable `S1 (title, date)` for a source id."""
        ref = self.sources.get(source_id)
        return f"{source_id} ({ref.title}, {ref.date})" if ref else source_id


def _price_tables(entry: ModelEntry) -> list[Any]:
    tables: list[Any] = [entry.training] if entry.training else []
    for tier in (entry.tuned, entry.tuned_data_sharing, entry.base):
        if tier is not None:
            tables.append(tier.standard)
            if tier.batch is not None:
                tables.append(tier.batch)
    return tables


def bundled_catalogs() -> list[str]:
    """Names of the catalog files shipped in pricing/catalog/, oldest first."""
    folder = resources.files("ftsim.pricing.catalog")
    # OpenAI catalogs are named by their date (2026-11.json); providers-*.json is another kind of data
    return sorted(item.name for item in folder.iterdir() if item.name.endswith(".json") and item.name[:1].isdigit())


@functools.cache
def _load_bundled(name: str) -> Catalog:
    text = (resources.files("ftsim.pricing.catalog") / name).read_text(encoding="utf-8")
    return _parse(text, origin=f"pricing/catalog/{name}")


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """Load the newest bundled catalog, or the user's catalog file at `path` (CatalogError on any problem)."""
    if path is None:
        names = bundled_catalogs()
        if not names:
            raise CatalogError("no bundled price catalog found in pricing/catalog/")
        return _load_bundled(names[-1])
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(f"catalog file not found: {file}") from None
    except IsADirectoryError:
        raise CatalogError(f"catalog path is a directory: {file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read catalog {file}: {exc}") from None
    return _parse(text, origin=str(file))


def _parse(text: str, *, origin: str) -> Catalog:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"catalog {origin} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise CatalogError(f"catalog {origin} must be a JSON object")
    data["origin"] = origin
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(part) for part in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        raise CatalogError(f"catalog {origin} is invalid at {loc or '(top)'}: {msg}") from None
