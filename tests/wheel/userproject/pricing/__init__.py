"""The user's own price tiers: the name `pricing` is theirs, not ftsim's."""
