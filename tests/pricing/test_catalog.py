"""The bundled catalog and `load_catalog` / `Catalog.resolve`."""

from __future__ import annotations

import datetime as dt
import functools
import json
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from ftsim.pricing.catalog.catalog import bundled_catalogs, load_catalog
from ftsim.pricing.errors import CatalogError, UnknownModel

CAT = load_catalog()
RAW = json.loads((Path(__file__).parents[2] / "pricing" / "catalog" / bundled_catalogs()[-1]).read_text())


def test_default_is_newest_bundled_file() -> None:
    assert CAT.origin.endswith(bundled_catalogs()[-1])
    assert CAT.effective_date == dt.date.fromisoformat(RAW["effective_date"])


@pytest.mark.parametrize(
    ("name", "snapshot"),
    [
        ("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14"),
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
        ("gpt-3.5-turbo", "gpt-3.5-turbo-0125"),
        ("gpt-4o", "gpt-4o-2024-08-06"),
        ("o4-mini", "o4-mini-2025-04-16"),
        ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano-2025-04-14"),
        ("ft:gpt-4o-mini-2024-07-18:personal::Ajo5kvNY", "gpt-4o-mini-2024-07-18"),
        ("ft:gpt-3.5-turbo-0613:personal::8wJ6CtY5", "gpt-3.5-turbo-0613"),
        ("ft:gpt-4.1-nano-2025-04-14:openai:my-suffix:BTz2REMH:ckpt-step-30", "gpt-4.1-nano-2025-04-14"),
    ],
)
def test_resolve(name: str, snapshot: str) -> None:
    assert CAT.resolve(name).snapshot == snapshot


@pytest.mark.parametrize(
    "name", ["", "gpt-5", "ft:gpt-5:org::abc", "ft:gpt-4o-mini-2024-07-18", "ft:gpt-4o-mini-2024-07-18:o::x:ckpt-7"]
)
def test_resolve_unknown(name: str) -> None:
    with pytest.raises(UnknownModel):
        CAT.resolve(name)


def test_contradiction_c1_gpt41_mini_training_is_five_dollars() -> None:
    entry = CAT.resolve("gpt-4.1-mini")
    assert entry.training is not None and entry.training.price == Decimal("5.00")
    assert entry.tuned is not None and entry.tuned.standard.input == Decimal("0.80")


def test_contradiction_c3_batch_stored_explicitly() -> None:
    tuned = CAT.resolve("gpt-4o-2024-08-06").tuned
    assert tuned is not None and tuned.batch is not None
    assert (tuned.batch.input, tuned.batch.cached_input, tuned.batch.output) == (
        Decimal("2.225"),
        Decimal("0.90"),
        Decimal("12.50"),
    )
    assert CAT.resolve("gpt-4.1").tuned.batch.cached_input == Decimal("0.50")  # type: ignore[union-attr]
    assert CAT.resolve("babbage-002").tuned.batch.output == Decimal("0.90")  # type: ignore[union-attr]


def test_methods_follow_the_behaviour_reference() -> None:
    assert CAT.resolve("gpt-4o-2024-08-06").methods == {"supervised", "dpo", "vision"}
    assert CAT.resolve("o4-mini").methods == {"reinforcement"}
    for name in ("gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano"):
        assert {"supervised", "dpo"} <= CAT.resolve(name).methods
    assert "dpo" not in CAT.resolve("gpt-3.5-turbo").methods
    assert CAT.resolve("o3-mini").methods == frozenset()
    tunable = {e.snapshot for e in CAT.fine_tunable()}
    assert "gpt-4o-mini-2024-07-18" in tunable and "o3-mini-2025-01-31" not in tunable


@pytest.mark.parametrize(("name", "context"), [
    # the behaviour reference's table of training context per example (section 4.1)
    ("gpt-4o-2024-08-06", 65_536), ("gpt-4o-mini-2024-07-18", 65_536), ("gpt-3.5-turbo-0125", 16_385),
    ("gpt-3.5-turbo-1106", 16_385), ("gpt-3.5-turbo-0613", 4_096), ("gpt-4.1-2025-04-14", 65_536),
    ("gpt-4.1-mini-2025-04-14", 65_536), ("o4-mini-2025-04-16", 65_536), ("gpt-4.1-nano-2025-04-14", 32_768),
])
def test_training_context_follows_the_behaviour_reference(name: str, context: int) -> None:
    assert CAT.resolve(name).training_context == context


def test_rft_is_hourly_with_data_sharing_inference_only() -> None:
    entry = CAT.resolve("o4-mini")
    assert entry.hourly and entry.training.price == Decimal("100.00")  # type: ignore[union-attr]
    assert entry.tuned_data_sharing.standard.input == entry.tuned.standard.input / 2  # type: ignore[union-attr]


def test_lifecycle_dates() -> None:
    assert CAT.resolve("gpt-4o-mini").training_until == dt.date(2027, 1, 6)
    assert CAT.resolve("gpt-4.1").inference_until == dt.date(2027, 1, 14)
    assert CAT.resolve("o4-mini").inference_until == dt.date(2026, 10, 23)
    assert CAT.resolve("gpt-4.1-nano").inference_until == dt.date(2026, 10, 23)
    assert not CAT.resolve("gpt-3.5-turbo").training_open(dt.date(2026, 11, 22))
    assert CAT.resolve("gpt-4o-mini").training_open(dt.date(2027, 1, 5))
    assert not CAT.resolve("gpt-4o-mini").training_open(dt.date(2027, 1, 6))


def test_lr_multiplier_and_tokenizer() -> None:
    assert CAT.resolve("gpt-4o-mini").lr_multiplier == Decimal("1.8")
    assert CAT.resolve("gpt-3.5-turbo-0125").lr_multiplier == Decimal("2.0")
    assert CAT.resolve("gpt-4.1-nano").lr_multiplier == Decimal("1.0")
    unobserved = CAT.resolve("gpt-4.1")
    assert unobserved.lr_multiplier == CAT.default_lr_multiplier and not unobserved.lr_multiplier_observed
    assert CAT.resolve("gpt-3.5-turbo").tokenizer == "cl100k_base"
    assert CAT.resolve("gpt-4.1-mini").tokenizer == "o200k_base"


def test_every_price_has_a_known_source_and_is_decimal() -> None:
    for entry in CAT.models:
        for tier in (entry.tuned, entry.base, entry.tuned_data_sharing):
            if tier is None:
                continue
            for prices in (tier.standard, tier.batch):
                if prices is None:
                    continue
                assert prices.source in CAT.sources and prices.as_of
                assert isinstance(prices.input, Decimal) and isinstance(prices.output, Decimal)
        if entry.training is not None:
            assert entry.training.source in CAT.sources and isinstance(entry.training.price, Decimal)
        if entry.methods:
            assert entry.tokens_per_second and entry.tokens_per_second > 0


def test_entries_are_frozen() -> None:
    entry = CAT.resolve("gpt-4o-mini")
    with pytest.raises(ValidationError):
        entry.snapshot = "x"  # type: ignore[misc]


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "cat.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_user_catalog_with_negotiated_price(tmp_path: Path) -> None:
    data = json.loads(json.dumps(RAW))
    for model in data["models"]:
        if model["snapshot"] == "gpt-4o-mini-2024-07-18":
            model["training"]["price"] = "2.40"
    cat = load_catalog(_write(tmp_path, data))
    assert cat.resolve("gpt-4o-mini").training.price == Decimal("2.40")  # type: ignore[union-attr]
    assert cat.origin == str(tmp_path / "cat.json")


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d["models"][0]["training"].__setitem__("price", 25.0), "decimal string"),
        (lambda d: d["models"][0]["training"].__setitem__("price", "-1"), ">= 0"),
        (lambda d: d["models"][0]["training"].__setitem__("price", "abc"), "decimal"),
        (lambda d: d["models"][1].__setitem__("aliases", ["gpt-4o"]), "twice"),
        (lambda d: d["models"][0].__setitem__("methods", ["telepathy"]), "methods"),
        (lambda d: d["models"][0]["training"].__setitem__("source", "S99"), "S99"),
        (lambda d: d.pop("models"), "models"),
    ],
)
def test_bad_catalog_is_one_line_catalog_error(tmp_path: Path, mutate, needle: str) -> None:
    data = json.loads(json.dumps(RAW))
    mutate(data)
    with pytest.raises(CatalogError) as info:
        load_catalog(_write(tmp_path, data))
    assert needle in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_unparsable_catalog(tmp_path: Path, content: str) -> None:
    with pytest.raises(CatalogError):
        load_catalog(_write(tmp_path, content))


def test_missing_catalog_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not found"):
        load_catalog(tmp_path / "nope.json")
    with pytest.raises(CatalogError, match="directory"):
        load_catalog(tmp_path)


def test_as_of_2026_12_06_which_models_still_train_and_serve() -> None:
    """The dated catalogs answer today's question (December 2026 reference, sections 1 and 2): on 2026-12-06 OpenAI
    trains and serves only the 4o and 4.1 families but nano (all ending 2027-01-06 / 2027-01-14); gpt-4.1-nano,
    o4-mini, gpt-3.5-turbo, gpt-4 and the legacy completions models stopped on 2026-10-23; Azure still trains
    gpt-4.1-nano and serves fine-tunes to October 2027, but no longer runs RFT for new customers."""
    from ftsim.pricing.catalog.providers import load_providers, openai_training_block

    day = dt.date(2026, 12, 6)
    trainable = {e.snapshot for e in CAT.fine_tunable() if e.training_open(day)}
    serving = {e.snapshot for e in CAT.fine_tunable() if e.inference_open(day)}
    current = {"gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14", "gpt-4.1-mini-2025-04-14"}
    assert trainable == serving == current
    for name in current:
        entry = CAT.resolve(name)
        assert (entry.training_until, entry.inference_until) == (dt.date(2027, 1, 6), dt.date(2027, 1, 14))
    for name in ("gpt-4.1-nano", "o4-mini", "gpt-3.5-turbo", "gpt-4", "babbage-002", "davinci-002"):
        assert CAT.resolve(name).inference_until == dt.date(2026, 10, 23)
    providers = load_providers()
    block = functools.partial(openai_training_block, providers, day)
    assert block(has_fine_tuned_before=False, recent_fine_tuned_inference=True).allowed is False
    assert block(has_fine_tuned_before=True, recent_fine_tuned_inference=False).allowed is False
    assert block(has_fine_tuned_before=True, recent_fine_tuned_inference=True).allowed is True
    assert openai_training_block(providers, dt.date(2027, 1, 6), has_fine_tuned_before=True,
                                 recent_fine_tuned_inference=True).allowed is False
    azure = providers.azure
    # no base retirement announced: new customers train until the fine-tuned deployments retire, never after
    assert azure.resolve("gpt-4.1-nano").base_retirement is None
    assert azure.resolve("gpt-4.1-nano").training_until(existing_customer=False) == dt.date(2027, 10, 14)
    assert azure.resolve("gpt-4.1-nano").deployment_until == dt.date(2027, 10, 14)
    assert azure.resolve("o4-mini").training_until(existing_customer=False) == dt.date(2026, 10, 16) < day
    assert azure.resolve("o4-mini").training_until(existing_customer=True) == dt.date(2027, 4, 16)
