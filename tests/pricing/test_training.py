"""ftsim.pricing.costs.training: token-billed training cost, against the pricing reference's test vectors."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ftsim.pricing.catalog.catalog import bundled_catalogs, load_catalog
from ftsim.pricing.errors import PricingError
from ftsim.pricing.dataset.images import image_tokens
from ftsim.pricing.costs.training import resolve_epochs, token_training_cost, training_cost

CAT = load_catalog()


def sft(model: str, tokens: int, epochs: int) -> Decimal:
    return training_cost(CAT.resolve(model), method="supervised", tokens_per_epoch=tokens, n_epochs=epochs).cost_usd


def test_tv1_gpt35_launch_example() -> None:
    assert sft("gpt-3.5-turbo", 100_000, 3) == Decimal("2.40")


def test_tv2_guide_example() -> None:
    assert sft("gpt-4o-mini-2024-07-18", 100_000, 3) == Decimal("0.90")
    assert sft("gpt-3.5-turbo-0125", 100_000, 3) == Decimal("2.40")


def test_tv3_cookbook_totals_at_both_caps() -> None:
    # 86,120 and 164,840 charged tokens (cookbook, caps 4,096 / 16,385) at $3 and $8 per 1M
    assert token_training_cost(4_306, 20, Decimal(3)) == Decimal("0.25836")
    assert token_training_cost(4_306, 20, Decimal(8)) == Decimal("0.68896")
    assert token_training_cost(8_242, 20, Decimal(3)) == Decimal("0.49452")


@pytest.mark.parametrize(
    ("n", "epochs"),
    [(1, 25), (3, 25), (5, 20), (10, 10), (30, 3), (33, 3), (34, 3), (8_333, 3), (8_334, 2),
     (10_000, 2), (12_500, 2), (12_501, 1), (25_001, 1), (100_000, 1)],
)
def test_tv4_auto_epochs(n: int, epochs: int) -> None:
    assert resolve_epochs("auto", n) == epochs


def test_explicit_epochs_and_bad_values() -> None:
    assert resolve_epochs(7, 5) == 7 and resolve_epochs("4", 5) == 4
    for bad in (0, 51, "x", 2.0, True):
        with pytest.raises(PricingError):
            resolve_epochs(bad, 10)  # type: ignore[arg-type]
    with pytest.raises(PricingError):
        resolve_epochs("auto", 0)


def test_tv6_vision_image_part() -> None:
    per_image = image_tokens(1024, 1024, "high")
    assert per_image == 765
    cost = training_cost(CAT.resolve("gpt-4o"), method="vision", tokens_per_epoch=1_000 * per_image, n_epochs=3)
    assert cost.cost_usd == Decimal("57.375")


def test_tv7_seed_check_uses_the_training_rate_not_the_input_rate() -> None:
    assert sft("gpt-4.1-mini", 1_500_000, 3) == Decimal("22.50")
    assert sft("gpt-4.1", 1_500_000, 3) == Decimal("112.50")
    assert sft("gpt-4.1-nano", 1_500_000, 3) == Decimal("6.75")
    assert sft("gpt-4.1-mini", 1_500_000, 3) != Decimal("3.60")


def test_tv8_training_part() -> None:
    assert sft("gpt-4.1-mini", 800_000, 3) == Decimal("12.00")
    assert sft("gpt-4o-mini", 800_000, 3) == Decimal("7.20")


def test_tv10_same_formula_with_another_price_table(tmp_path: Path) -> None:
    raw = json.loads((Path(__file__).parents[2] / "pricing" / "catalog" / bundled_catalogs()[-1]).read_text())
    for model in raw["models"]:
        if model["snapshot"] == "gpt-4.1-2025-04-14":
            model["training"]["price"] = "2.00"  # Azure Global rate
    path = tmp_path / "azure.json"
    path.write_text(json.dumps(raw))
    azure = load_catalog(path)
    cost = training_cost(azure.resolve("gpt-4.1"), method="supervised", tokens_per_epoch=1_000_000, n_epochs=2)
    assert cost.cost_usd == Decimal("4") and cost.trained_tokens == 2_000_000


def test_dpo_bracket() -> None:
    cost = training_cost(
        CAT.resolve("gpt-4.1-mini"), method="dpo", tokens_per_epoch=300, tokens_per_epoch_low=200, n_epochs=3
    )
    assert (cost.trained_tokens_low, cost.trained_tokens) == (600, 900)
    assert cost.cost_usd_low == Decimal("0.003") and cost.cost_usd == Decimal("0.0045")
    with pytest.raises(PricingError):
        training_cost(CAT.resolve("gpt-4.1"), method="dpo", tokens_per_epoch=1, tokens_per_epoch_low=2, n_epochs=1)


def test_refusals() -> None:
    with pytest.raises(PricingError, match="per hour"):
        training_cost(CAT.resolve("o4-mini"), method="supervised", tokens_per_epoch=10, n_epochs=1)
    with pytest.raises(PricingError, match="no published training price"):
        training_cost(CAT.resolve("gpt-4-0613"), method="supervised", tokens_per_epoch=10, n_epochs=1)
    with pytest.raises(PricingError):
        token_training_cost(-1, 1, Decimal(1))


@given(
    tokens=st.integers(min_value=0, max_value=10**9),
    extra=st.integers(min_value=1, max_value=10**6),
    epochs=st.integers(min_value=1, max_value=50),
    model=st.sampled_from([e.snapshot for e in CAT.fine_tunable() if e.training and not e.hourly]),
)
def test_cost_grows_with_tokens_and_epochs(tokens: int, extra: int, epochs: int, model: str) -> None:
    base = sft(model, tokens, epochs)
    assert isinstance(base, Decimal)
    assert sft(model, tokens + extra, epochs) > base or CAT.resolve(model).training.price == 0  # type: ignore[union-attr]
    if epochs < 50:
        assert sft(model, tokens, epochs + 1) >= base
    # exact: never a float rounding artefact
    assert base == CAT.resolve(model).training.price * tokens * epochs / 1_000_000  # type: ignore[union-attr]
