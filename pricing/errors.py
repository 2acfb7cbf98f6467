"""Typed errors of the pricing layer. Each carries a message fit to print as the CLI's one line."""

from __future__ import annotations

__all__ = ["PricingError", "EncodingUnavailable", "UnknownModel", "CatalogError", "DatasetError", "AsOfOutOfRange"]


class PricingError(Exception):
    """Base class of every error the pricing layer raises on bad input."""


class EncodingUnavailable(PricingError):
    """A bundled tokenizer file is missing or corrupt: a broken install, never a problem with the user's data."""


class UnknownModel(PricingError):
    """A model name that the catalog does not know."""


class CatalogError(PricingError):
    """A catalog file that cannot be read or does not validate."""


class DatasetError(PricingError):
    """A dataset that cannot be read at all (missing, a directory, ...)."""


class AsOfOutOfRange(PricingError):
    """An as-of date the catalog says nothing about (before its oldest price copy)."""

    param = "today"
