"""simulator/inference."""
