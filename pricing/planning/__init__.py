"""pricing/planning."""
