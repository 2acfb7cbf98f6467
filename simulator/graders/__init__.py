"""simulator/graders."""
