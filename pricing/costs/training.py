"""Token-billed training cost (SFT, DPO, vision): billed tokens per epoch × epochs × rate per 1M.

Rules (pricing reference §2.1-2.3):
- every token of every training example is billed, each example capped at the model's training context
  (the cap is applied by `ftsim.pricing.dataset.counting`/`ftsim.pricing.dataset.scan`, which report `tokens_per_epoch`);
- validation-file tokens are free (OpenAI: "we don't charge for tokens used for training validation");
- DPO is billed per token at the SFT rate, but how the two outputs count is undocumented, so it is bracketed:
  low = input + preferred + non-preferred once; high = (input + preferred) + (input + non-preferred).
  `trained_tokens` / `cost_usd` use the high bound (conservative), `*_low` the low bound;
- vision: image tokens (gpt-4o rule, `ftsim.pricing.dataset.images`) are priced as text tokens;
- `n_epochs="auto"` resolves with the cookbook rule (`ftsim.pricing.costs.hyperparameters.auto_n_epochs`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ftsim.pricing.catalog.catalog import ModelEntry
from ftsim.pricing.errors import PricingError
from ftsim.pricing.costs.hyperparameters import auto_n_epochs
from ftsim.pricing.costs.money import per_million

__all__ = ["TokenTrainingCost", "resolve_epochs", "token_training_cost", "training_cost", "MAX_EPOCHS"]

MAX_EPOCHS = 50
TokenMethod = Literal["supervised", "dpo", "vision"]


class TokenTrainingCost(BaseModel):
    """Trained tokens and exact cost of a token-billed job (low == high except for DPO)."""

    model_config = ConfigDict(frozen=True)

    method: str
    tokens_per_epoch: int
    tokens_per_epoch_low: int
    n_epochs: int
    trained_tokens: int
    trained_tokens_low: int
    rate_per_1m: Decimal
    cost_usd: Decimal
    cost_usd_low: Decimal


def resolve_epochs(epochs: int | str, n_examples: int) -> int:
    """`"auto"` -> the cookbook rule for `n_examples`; an int must be within 1..50 (OpenAI's range)."""
    if epochs == "auto" or epochs is None:
        if n_examples < 1:
            raise PricingError("cannot resolve epochs=auto for an empty dataset")
        return auto_n_epochs(n_examples)
    if isinstance(epochs, str):
        if not epochs.strip().isdigit():
            raise PricingError(f"epochs must be 'auto' or an integer 1..{MAX_EPOCHS}, got {epochs!r}")
        epochs = int(epochs)
    if isinstance(epochs, bool) or not isinstance(epochs, int):
        raise PricingError(f"epochs must be 'auto' or an integer 1..{MAX_EPOCHS}, got {epochs!r}")
    if not 1 <= epochs <= MAX_EPOCHS:
        raise PricingError(f"epochs must be between 1 and {MAX_EPOCHS}, got {epochs}")
    return epochs


def token_training_cost(tokens_per_epoch: int, n_epochs: int, rate_per_1m: Decimal) -> Decimal:
    """Exact cost: tokens_per_epoch × n_epochs × rate / 1M."""
    if tokens_per_epoch < 0 or n_epochs < 0:
        raise PricingError("token and epoch counts must be >= 0")
    return per_million(rate_per_1m, tokens_per_epoch * n_epochs)


def training_cost(
    entry: ModelEntry,
    *,
    method: TokenMethod,
    tokens_per_epoch: int,
    n_epochs: int,
    tokens_per_epoch_low: int | None = None,
) -> TokenTrainingCost:
    """Training cost of a token-billed method on `entry` (its rate per 1M tokens from the catalog)."""
    if entry.training is None:
        raise PricingError(f"{entry.snapshot} has no published training price")
    if entry.training.unit != "per_1m_tokens":
        raise PricingError(f"{entry.snapshot} is billed per hour (reinforcement), not per token")
    rate = entry.training.price
    low = tokens_per_epoch if tokens_per_epoch_low is None else tokens_per_epoch_low
    if low > tokens_per_epoch:
        raise PricingError("tokens_per_epoch_low exceeds tokens_per_epoch")
    return TokenTrainingCost(
        method=method,
        tokens_per_epoch=tokens_per_epoch,
        tokens_per_epoch_low=low,
        n_epochs=n_epochs,
        trained_tokens=tokens_per_epoch * n_epochs,
        trained_tokens_low=low * n_epochs,
        rate_per_1m=rate,
        cost_usd=token_training_cost(tokens_per_epoch, n_epochs, rate),
        cost_usd_low=token_training_cost(low, n_epochs, rate),
    )
