"""ftsim: pricing."""
