"""simulator/core."""
