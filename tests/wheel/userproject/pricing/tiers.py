from decimal import Decimal

TIERS = {"basic": Decimal("9.00"), "pro": Decimal("29.00")}


def price(tier: str) -> Decimal:
    return TIERS[tier]
