"""How OpenAI resolves `auto` hyperparameters, shared by the planner and the simulator."""

from __future__ import annotations

__all__ = ["auto_n_epochs", "auto_batch_size", "TARGET_EPOCHS"]

TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


def auto_n_epochs(n_examples: int) -> int:
    """The cookbook rule: 3 epochs, more for tiny datasets, fewer for huge ones."""
    if n_examples < 1:
        raise ValueError("n_examples must be >= 1")
    n = TARGET_EPOCHS
    if n_examples * n < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * n > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return n


def auto_batch_size(n_examples: int) -> int:
    """About 0.2% of the examples, between 1 and 256 (legacy rule; 1 for every small observed job)."""
    if n_examples < 1:
        raise ValueError("n_examples must be >= 1")
    return max(1, min(256, round(0.002 * n_examples)))
