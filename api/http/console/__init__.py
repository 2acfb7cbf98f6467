"""The web console served by `ftsim serve` at `/` (issue 17): server-rendered pages, htmx vendored in static/."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ftsim.api.http.console import azure, planner, routes
from ftsim.api.http.console.routes import ConsoleError, _error_page

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
router.include_router(routes.router)
router.include_router(planner.router)
router.include_router(azure.router)


@router.get("/console")
@router.get("/console/{rest:path}")
async def console_not_found(request: Request, rest: str = "") -> HTMLResponse:
    """Any other console address (matched last): a 404 page in the console's style."""
    return _error_page(request, ConsoleError(404, "Not found", f"No console page at {request.url.path}."))


OTHER_METHODS = ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE"]


# Matched last too: a console address asked with a method it does not answer (a POST to a page, a GET of an
# action) is a console page as well, not the API's JSON envelope.
@router.api_route("/", methods=OTHER_METHODS)
@router.api_route("/console", methods=OTHER_METHODS)
@router.api_route("/console/{rest:path}", methods=OTHER_METHODS)
async def console_wrong_method(request: Request, rest: str = "") -> HTMLResponse:
    """A method the console address does not take: a 405 page in the console's style."""
    return _error_page(request, ConsoleError(405, "Not allowed", f"{request.method} is not an action of "
                                                                 f"{request.url.path}."))
