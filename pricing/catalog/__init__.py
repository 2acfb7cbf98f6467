"""pricing/catalog."""
