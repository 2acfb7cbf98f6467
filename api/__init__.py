"""ftsim: api."""
