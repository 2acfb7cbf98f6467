"""pricing/reports."""
