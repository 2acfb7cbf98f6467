"""pricing/dataset."""
