"""ftsim: simulator."""
