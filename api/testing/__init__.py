"""api/testing."""
