"""pricing/costs."""
