"""simulator/files."""
