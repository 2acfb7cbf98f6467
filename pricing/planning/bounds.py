"""Upper bounds on the planner's numeric inputs, so that every figure stays exact in Decimal arithmetic.

Python's default decimal context keeps 28 significant digits; a cent-quantized total above about 1e26 raises
`decimal.InvalidOperation`. These bounds are far above any real workload yet keep the largest product
(calls x tokens x price x months) under 1e20 USD, so no input within them can overflow. Inputs above them are
refused with a 400 (HTTP) or a one-line error (CLI) naming the field and its bound.

The figures are ftsim's choice (no source sets them): a trillion calls a month is about 385,000 calls a second;
ten million tokens per prompt part is ten times the largest context window in the catalog.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

__all__ = [
    "MAX_CALLS_PER_MONTH", "MAX_TOKENS_PER_CALL", "MAX_TRAINING_TOKENS", "MAX_TRAINING_HOURS", "MAX_N_EXAMPLES",
    "MAX_TOKENS_PER_EXAMPLE", "MAX_DEPLOYMENTS", "MAX_USD", "MAX_GRADER_TOKENS", "MAX_AS_OF",
]

MAX_CALLS_PER_MONTH = 10**12
MAX_TOKENS_PER_CALL = 10**7
MAX_TRAINING_TOKENS = 10**13
MAX_TRAINING_HOURS = Decimal(100_000)
MAX_N_EXAMPLES = 10**9
MAX_TOKENS_PER_EXAMPLE = 10**7
MAX_DEPLOYMENTS = 10_000
MAX_USD = Decimal(10**12)
MAX_GRADER_TOKENS = 10**13
# The latest as-of date: a horizon runs up to 120 months from it, and Python's calendar ends on 9999-12-31.
MAX_AS_OF = dt.date(9989, 12, 31)
