"""The web console served by `ftsim serve` at `/` (issue 17): server-rendered pages, htmx vendored in static/."""

from ftsim.api.http.console.routes import router

__all__ = ["router"]
