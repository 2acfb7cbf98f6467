"""The project's own tests: they import its own `api` and `pricing` modules, never ftsim's."""

from decimal import Decimal

import api
import pricing
from api.health import health
from pricing.tiers import price


def test_own_api_package_is_imported():
    assert health() == {"status": "ok", "service": "bikeshop"}
    assert api.__doc__.startswith("The user's own HTTP layer")


def test_own_pricing_package_is_imported():
    assert price("pro") == Decimal("29.00")
    assert pricing.__doc__.startswith("The user's own price tiers")
