"""The user's own HTTP layer: the name `api` is theirs, not ftsim's."""
