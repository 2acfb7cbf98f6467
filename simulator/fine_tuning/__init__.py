"""simulator/fine_tuning."""
