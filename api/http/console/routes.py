"""The web console: server-rendered pages at `/` and `/console/...`, partial updates with the vendored htmx.

A control-plane view, guarded like /_sim: open on loopback (`ftsim serve` refuses a non-loopback host without a
sim key), and when the server has a sim key every console route needs it (header, Bearer, or the cookie the key
page sets). One account at a time: the API key typed on the key page is kept in an HttpOnly cookie and resolved
on every request, exactly as the API's doors resolve it, so a page only ever reads and changes the objects of an
account that key owns (`_owned`). Nothing about any tenant is shown before a key is given.

Two dialects: the account switch in the page header (a cookie) shows either the key's OpenAI organization or its
Azure OpenAI account (with `--keys FILE`, the Azure account the file maps this key to: entries whose org_id starts
with `azure-`). The jobs, job, files, models and faults pages are the same for both, parameterised by the tenant
(api/http/console/accounts.py says what an Azure account shows differently).

Errors are pages in the console's style (never the JSON envelope): a simulator error keeps its status.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ftsim.api.http.console import accounts
from ftsim.api.http.console import views as v
from ftsim.api.http.console.views import esc
from ftsim.api.http.deps import SIM_KEY_HEADER, _tenant_of, bearer_key
from ftsim.pricing.planning.bounds import MAX_AS_OF
from ftsim.simulator.core.clock import CLOCK_END  # the console moves the clock no further (see there)
from ftsim.pricing.reports.charts import line_chart, plain_number
from ftsim.simulator.core.errors import NotFoundError, SimulatorError
from ftsim.simulator.core.faults import PRESETS
from ftsim.simulator.core.dialect import is_azure
from ftsim.simulator.core.tenancy import Tenant, azure_tenant
from ftsim.simulator.fine_tuning.lifecycle import SCHEDULED, TERMINAL

__all__ = ["router", "KEY_COOKIE", "SIM_COOKIE", "ACCOUNT_COOKIE"]

router = APIRouter(include_in_schema=False)

KEY_COOKIE = "ftsim_console_key"
SIM_COOKIE = "ftsim_console_sim_key"
# Which account of the key the pages show: "openai" (its OpenAI organization) or "azure" (its Azure account);
# absent: the first of them the key has (see `_owned` for which accounts a key owns).
ACCOUNT_COOKIE = "ftsim_console_account"
OPENAI, AZURE = "openai", "azure"
GONE = ("/console/key", "Choose the organization again")  # the way out when the account chosen is gone
# The list pages the switch may return to (a job or file page of one account is not found in another).
SWITCH_BACK = ("/console/jobs", "/console/files", "/console/models", "/console/faults", "/console/azure/deployments")
STATIC = {"htmx.min.js": "text/javascript", "console.css": "text/css", "htmx.LICENSE": "text/plain",
          "swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "swagger-ui.LICENSE": "text/plain",
          "redoc.standalone.js": "text/javascript", "redoc.LICENSE": "text/plain", "favicon.svg": "image/svg+xml"}
# "Run every job to the end" moves the clock job end by job end; a world whose jobs keep moving past this many
# rounds (or past a simulated year) stops there, so one click can never spin for ever.
RUN_ROUNDS, RUN_HORIZON = 200, 366 * 86400
# The jobs table shows the newest matching jobs up to this many (each row prices its job): a bound on the work
# of a page that reloads every 2 seconds.
TABLE_ROWS = 200
# The longest API key the console keeps in its cookie (browsers keep a cookie of up to 4,096 bytes in all).
MAX_KEY_CHARS = 3800
# The console's url-encoded forms carry an API key, an organization, a preset or a step: a few hundred bytes. The
# bound is ours (a body is otherwise read whole into memory, before any guard has looked at the request).
FORM_BYTES = 64 * 1024
SERIES_COLOURS = ["#2563eb", "#ea580c", "#059669", "#7c3aed", "#db2777"]


class ConsoleError(Exception):
    """A page-level failure: rendered as a console page with this status."""

    def __init__(self, status: int, title: str, message: str, *, back: tuple[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message
        self.back = back  # (href, text) of the page's way out; default: the key page for a 401, else the jobs


# -- access ------------------------------------------------------------------------------------------------------


def _backend(request: Request) -> Any:
    return request.app.state.backend


def _check_sim_key(request: Request) -> None:
    """The /_sim rule: when the server has a sim key, the request carries it (header, Bearer or console cookie)."""
    expected = getattr(request.app.state, "sim_key", None)
    if not expected:
        return
    offered = [request.headers.get(SIM_KEY_HEADER, ""), bearer_key(request.headers.get("authorization", "")) or "",
               request.cookies.get(SIM_COOKIE, "")]
    if not any(hmac.compare_digest(k.encode(), expected.encode()) for k in offered if k):
        raise ConsoleError(401, "Sim key needed",
                           "This server's control plane needs its sim key: enter it on the key page.")


def _check_origin(request: Request) -> None:
    """A state-changing request must come from the console's own pages: a cross-site form posting to
    127.0.0.1 carries another Origin (or `Sec-Fetch-Site: cross-site`) and is refused."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host", ""):  # "null" too
        raise ConsoleError(403, "Refused", "This action must come from the console's own pages.")
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise ConsoleError(403, "Refused", "This action must come from the console's own pages.")


@dataclass(frozen=True)
class Session:
    """The console's API key and the accounts it owns (None: the key names no account of that kind here)."""

    key: str
    organization: Tenant | None  # the OpenAI organization, as /v1 resolves the key
    account: Tenant | None  # the Azure OpenAI account, as Azure's paths resolve the key


def _owned(backend: Any, key: str) -> Session:
    """The accounts `key` owns.

    A key owns exactly the tenants it reaches through the API's own doors, and the console grants no more: the
    OpenAI organization /v1 gives it (`_tenant_of`: the keys file's organization, else one of its own; None with
    strict keys for a key the file does not list as OpenAI's) and the Azure account Azure's paths give it
    (`azure_tenant`: the account the keys file maps this very key to, else one of its own; None with strict keys).
    So a keys file's Azure account (`"org_id": "azure-..."`) is owned by the keys the file maps to it and by no
    other: the file has no field linking an OpenAI organization, or another key, to an Azure account (an
    `org_slug` is a display name, not a link), so a console session reaches that account only by signing in with
    one of its keys, as a client reaches it only by sending one. Two keys of one organization (or one account)
    share it, as they do on the API."""
    return Session(key, _tenant_of(backend, key), azure_tenant(backend.tenancy, key))


def _session(request: Request) -> Session:
    """The console's API key and its accounts (401 page without a usable key, or a key that owns nothing here)."""
    key = request.cookies.get(KEY_COOKIE, "")
    if not _usable_key(key):
        raise ConsoleError(401, "Choose an API key", "The console shows one organization: choose its API key first.")
    session = _owned(_backend(request), key)
    if session.organization is None and session.account is None:
        raise ConsoleError(401, "Unknown API key", "This server accepts only its listed keys: choose another one.")
    return session


def _choice(request: Request, session: Session) -> str:
    """The switch's choice (its cookie), by default the key's OpenAI organization, else its Azure account."""
    return request.cookies.get(ACCOUNT_COOKIE, "") or (OPENAI if session.organization is not None else AZURE)


def _viewed(request: Request) -> tuple[Tenant, str]:
    """The tenant the pages show (the switch's choice among the key's own accounts) and the API key that names it
    (faults are scoped to it). The cookie is the browser's to set: any value other than an account the key owns
    answers a 404 page, whatever tenant it names."""
    session = _session(request)
    choice = _choice(request, session)
    if choice == OPENAI and session.organization is not None:
        return session.organization, session.key
    if choice == AZURE and session.account is not None:
        return session.account, session.key
    if choice == AZURE:
        raise ConsoleError(404, "No Azure account", "This server maps the console's key to no Azure account "
                                                     "(its keys file lists the Azure accounts it accepts).",
                           back=GONE)
    if choice == OPENAI:
        raise ConsoleError(404, "No OpenAI organization", "This server maps the console's key to an Azure account "
                                                          "only: choose the key again to see it.", back=GONE)
    raise ConsoleError(404, "No such account", "This key has no such account: choose the key again.", back=GONE)


def _tenant(request: Request) -> Tenant:
    """The tenant the console shows (an OpenAI organization or an Azure account)."""
    return _viewed(request)[0]


def _accounts(request: Request) -> list[tuple[str, str, str]]:
    """The switch's choices, the key's own accounts only: (cookie value, kind, org_id); its OpenAI organization
    first, then its Azure account."""
    session = _session(request)
    out = []
    if session.organization is not None:
        out.append((OPENAI, "OpenAI organization", session.organization.org_id))
    if session.account is not None:
        out.append((AZURE, "Azure account", session.account.org_id))
    return out


def _switch(request: Request, tenant: Tenant) -> str:
    """The account switch of the page header (a plain form: it works without scripts)."""
    try:
        choices = _accounts(request)
        current = _choice(request, _session(request))
    except ConsoleError:
        return ""
    options = "".join(f'<option value="{esc(value)}"{" selected" if value == current else ""}>'
                      f"{esc(kind)} {esc(org)}</option>" for value, kind, org in choices)
    back = request.url.path if request.url.path in SWITCH_BACK else "/console/jobs"
    return ('<form class="switch" method="post" action="/console/account">'
            f'<label for="account">Account</label><select id="account" name="account">{options}</select>'
            f'<input type="hidden" name="next" value="{esc(back)}"><button type="submit">Switch</button></form>')


def _usable_key(key: str) -> bool:
    """Whether `key` can be kept in a cookie: printable ASCII without spaces (every real API key is), and short
    enough for a browser to keep it (4,096 bytes with the cookie's name and attributes: a longer cookie is
    dropped without a word, and every page would ask for the key again)."""
    return 0 < len(key) <= MAX_KEY_CHARS and all("!" <= c <= "~" for c in key)


async def _posted(request: Request) -> dict[str, str] | HTMLResponse:
    """The url-encoded form of a console post, read up to FORM_BYTES (a 413 page past them: the body is not read
    further, nor held whole in memory)."""
    length = request.headers.get("content-length", "")
    too_large = ConsoleError(413, "Refused", f"The form is too large: the console takes up to {FORM_BYTES:,} bytes.")
    if length.isascii() and length.isdigit() and (len(length) > 12 or int(length) > FORM_BYTES):
        return _error_page(request, too_large)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_BYTES:
            return _error_page(request, too_large)
    return _form(bytes(body))


def _form(body: bytes) -> dict[str, str]:
    """A url-encoded form body (the last value of each field); no multipart parser needed."""
    return {k: vals[-1] for k, vals in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def _clock(request: Request) -> str:
    backend = _backend(request)
    return v.clock_bar(backend.now(), float(getattr(backend.clock, "speed", 0.0)))


def _error_page(request: Request, exc: ConsoleError) -> HTMLResponse:
    href, text = exc.back or (("/console/key", "Choose an API key") if exc.status == 401
                              else ("/console/jobs", "Back to the jobs"))
    link = f'<p><a href="{esc(href)}">{esc(text)}</a></p>'
    body = f'<p class="error" role="alert">{esc(exc.message)}</p>{link}'
    if request.headers.get("hx-request"):
        return HTMLResponse(body, status_code=exc.status)
    return HTMLResponse(v.page(exc.title, body), status_code=exc.status)


async def _serve(request: Request, build: Callable[[Any], Any], *, tenant: bool = True,
                 write: bool = False, status: int = 200) -> Response:
    """Guard, resolve the tenant, catch the world up, run `build` in a worker thread; errors become pages.

    `build` takes the request's Tenant (None when `tenant=False`: pages that show no organization's objects).

    `build` returns a Response, or (title, body) for a whole page (a fragment when it returns a str); a page or
    fragment is answered with `status`."""
    try:
        _check_sim_key(request)
        if write:
            _check_origin(request)
        who = _tenant(request) if tenant else None
        backend = _backend(request)

        def work() -> Any:
            backend.sync()
            return build(who)

        out = await run_in_threadpool(work)
    except ConsoleError as exc:
        return _error_page(request, exc)
    except SimulatorError as exc:
        titles = {404: "Not found", 403: "Not allowed", 401: "Not allowed"}
        return _error_page(request, ConsoleError(exc.status_code, titles.get(exc.status_code, "Refused"),
                                                 exc.message))
    if isinstance(out, Response):
        return out
    if isinstance(out, str):
        return HTMLResponse(out, status_code=status)
    title, body = out
    kind = ("Azure account" if is_azure(who) else "Organization") if who else ""
    return HTMLResponse(v.page(title, body, clock=_clock(request), tenant=who.org_id if who else "", kind=kind,
                               switch=_switch(request, who) if who else ""), status_code=status)


# -- static, key, clock ------------------------------------------------------------------------------------------


@router.get("/console/static/{name}")
def static(name: str) -> Response:
    """A vendored asset of the package (only the listed names)."""
    if name not in STATIC:
        return HTMLResponse(v.page("Not found", '<p class="error">No such asset.</p>'), status_code=404)
    data = resources.files("ftsim.api.http.console").joinpath("static", name).read_bytes()
    return Response(data, media_type=STATIC[name], headers={"cache-control": "max-age=3600"})


@router.get("/docs")
def swagger_docs(request: Request) -> HTMLResponse:
    """The API's interactive docs (Swagger UI) from the package's own copy: they render offline."""
    return get_swagger_ui_html(openapi_url=request.app.openapi_url or "/openapi.json", title="ftsim API",
                               swagger_js_url="/console/static/swagger-ui-bundle.js",
                               swagger_css_url="/console/static/swagger-ui.css",
                               swagger_favicon_url="/console/static/favicon.svg")


@router.get("/redoc")
def redoc_docs(request: Request) -> HTMLResponse:
    """The API's reference (ReDoc) from the package's own copy, without web fonts: it renders offline."""
    return get_redoc_html(openapi_url=request.app.openapi_url or "/openapi.json", title="ftsim API",
                          redoc_js_url="/console/static/redoc.standalone.js",
                          redoc_favicon_url="/console/static/favicon.svg", with_google_fonts=False)


@router.get("/")
async def home(request: Request) -> Response:
    """The console's front page: the jobs, or the key page when no key is chosen yet."""
    if not request.cookies.get(KEY_COOKIE):
        return RedirectResponse("/console/key", status_code=303)
    return await jobs_page(request)


def _key_form(request: Request, error: str = "") -> str:
    # The page is shown before any key (or the sim key) is given, so it names no tenant: no organization of the
    # keys file is listed or picked here (picking one signed in as it without its key), an account is opened
    # only by typing one of its keys.
    parts = [f'<p class="error" role="alert">{esc(error)}</p>' if error else "",
             '<form method="post" action="/console/key" class="stack">',
             '<p><label for="api_key">API key</label> '
             '<input id="api_key" name="api_key" type="password" autocomplete="off" size="40"></p>']
    if getattr(request.app.state, "sim_key", None):
        parts.append('<p><label for="sim_key">Sim key (this server guards its control plane)</label> '
                     '<input id="sim_key" name="sim_key" type="password" autocomplete="off" size="30"></p>')
    parts.append('<p><button type="submit">Use this organization</button></p></form>'
                 '<p class="muted">The key is remembered by this browser in a cookie; any key names an organization '
                 "of the simulated world unless the server accepts only listed keys. The console shows the "
                 "accounts of this key: its OpenAI organization and its Azure OpenAI account.</p>")
    return "".join(parts)


@router.get("/console/key")
def key_page(request: Request) -> HTMLResponse:
    """Choose the organization: type its API key (the page names no tenant: it is shown before any key)."""
    return HTMLResponse(v.page("Choose an organization", _key_form(request)))


@router.post("/console/key")
async def set_key(request: Request) -> Response:
    """Remember the chosen key (and sim key) in HttpOnly cookies, then show the jobs."""
    try:
        _check_origin(request)
    except ConsoleError as exc:
        return _error_page(request, exc)
    form = await _posted(request)
    if isinstance(form, Response):
        return form
    backend = _backend(request)
    # The sim key first: without it, the page says nothing about the key typed (listed or not).
    expected = getattr(request.app.state, "sim_key", None)
    sim = form.get("sim_key", "")
    if expected and not hmac.compare_digest(sim.encode(), expected.encode()) \
            and not hmac.compare_digest(request.cookies.get(SIM_COOKIE, "").encode(), expected.encode()):
        return HTMLResponse(v.page("Choose an organization", _key_form(request, "Wrong sim key.")), status_code=401)
    key = form.get("api_key", "").strip()
    if not _usable_key(key):
        return HTMLResponse(v.page("Choose an organization", _key_form(
            request, f"Type an API key (printable ASCII, no spaces, up to {MAX_KEY_CHARS:,} characters).")),
            status_code=400)
    owned = _owned(backend, key)
    if owned.organization is None and owned.account is None:
        return HTMLResponse(v.page("Choose an organization", _key_form(request, "This server accepts only its "
                                                                                "listed keys.")), status_code=401)
    resp = RedirectResponse("/console/jobs", status_code=303)
    resp.set_cookie(KEY_COOKIE, key, httponly=True, samesite="strict", max_age=365 * 86400)
    resp.delete_cookie(ACCOUNT_COOKIE)  # a new key shows its own organization first
    if expected and sim:
        resp.set_cookie(SIM_COOKIE, sim, httponly=True, samesite="strict", max_age=365 * 86400)
    return resp


@router.post("/console/account")
async def switch_account(request: Request) -> Response:
    """Show the other account of the key: its OpenAI organization or its Azure account (`_accounts`)."""
    form = await _posted(request)
    if isinstance(form, Response):
        return form

    def build(_: Any) -> Response:
        choice = form.get("account", "")
        if choice not in {value for value, _, _ in _accounts(request)}:
            raise ConsoleError(400, "Refused", f"No account '{choice}' for this key.")
        back = form.get("next", "")
        resp = RedirectResponse(back if back in SWITCH_BACK else "/console/jobs", status_code=303)
        resp.set_cookie(ACCOUNT_COOKIE, choice, httponly=True, samesite="strict", max_age=365 * 86400)
        return resp

    return await _serve(request, build, tenant=False, write=True)


def _clock_response(request: Request) -> HTMLResponse:
    return HTMLResponse(_clock(request), headers={"HX-Trigger": "clock-changed"})


@router.get("/console/clock")
async def clock(request: Request) -> Response:
    """The clock bar (polled by every page)."""
    return await _serve(request, lambda _: _clock(request), tenant=False)


@router.post("/console/clock/advance")
async def advance(request: Request, seconds: str = "") -> Response:
    """Move the simulated clock forward (1 minute to 1 year)."""
    def build(_: Any) -> Response:
        # Read here, not by FastAPI as an int: its refusal would be the API's JSON envelope, not a console page.
        amount = int(seconds) if seconds.isascii() and seconds.isdigit() and len(seconds) <= 9 else 0
        if not 0 < amount <= RUN_HORIZON:
            raise ConsoleError(400, "Refused", f"Advance by a whole number of 1 to {RUN_HORIZON} seconds, "
                                               f"not '{seconds[:40]}'.")
        backend = _backend(request)
        if amount > backend.clock_room():
            raise ConsoleError(400, "Refused", f"The simulated clock ends on {MAX_AS_OF.isoformat()}: it can move "
                                               f"{backend.clock_room():,} seconds more at most.")
        backend.advance(amount)
        return _clock_response(request)

    return await _serve(request, build, tenant=False, write=True)


def run_every_job(backend: Any) -> int:
    """Advance the clock until no job of any organization moves by itself any more (the clock is shared by
    every organization); returns how many seconds it moved. Jobs paused by their users, or at Azure's cost cap,
    stay paused; jobs the system paused resume as they would."""
    start = backend.sync()
    for _ in range(RUN_ROUNDS):
        now = backend.sync()
        targets = []
        for tenant_key, rec in backend.store.scan("job"):
            if rec.get("status") in SCHEDULED:
                when = backend.jobs.settles_at(tenant_key, rec["id"])
                if when is not None:
                    targets.append(int(when))
        if not targets:
            break
        target = min(max(max(targets), now + 1), start + RUN_HORIZON, CLOCK_END)
        if target <= now:
            break
        backend.advance(target - now)
    return backend.now() - start


@router.post("/console/clock/run")
async def run_all(request: Request) -> Response:
    """Run every job to the end."""
    def build(_: Any) -> Response:
        run_every_job(_backend(request))
        return _clock_response(request)

    return await _serve(request, build, tenant=False, write=True)


# -- jobs --------------------------------------------------------------------------------------------------------


def _all(fetch: Callable[[str | None], dict[str, Any]], cap: int = 2000) -> list[dict[str, Any]]:
    """Every item of a paginated service list (newest first), up to `cap`."""
    out: list[dict[str, Any]] = []
    after = None
    while len(out) < cap:
        page = fetch(after)
        out += page["data"]
        if not page.get("has_more") or not page["data"]:
            break
        after = page["data"][-1]["id"]
    return out


def _jobs(backend: Any, tenant: Tenant) -> list[dict[str, Any]]:
    """The tenant's jobs, newest first, as its door answers them (Azure's statuses for an Azure account)."""
    return [accounts.shown(j, tenant) for j in _all(lambda after: backend.jobs.list(tenant, after=after, limit=100))]


def _estimate(backend: Any, tenant: Tenant, job_id: str) -> dict[str, Any]:
    try:
        return backend.jobs.estimated_cost(tenant, job_id)
    except SimulatorError:
        raise
    except Exception as exc:  # a catalog without this model's price: the page still shows the job
        return {"cost_usd": None, "note": str(exc)}


def _cost(backend: Any, tenant: Tenant, job_id: str) -> tuple[Any, list[tuple[str, str]]]:
    """(the amount of the jobs table's cost column, the job page's cost lines, built).

    An OpenAI job: the planner's estimate at list prices. An Azure job: Azure's bill so far (its training and
    grading lines, as `/_sim/azure/cost` has them) and, while it trains, the bill once it has trained every step;
    the planner's estimate only when Azure publishes no price for the model, labelled so."""
    bill = accounts.job_bill(backend, tenant, job_id) if is_azure(tenant) else None
    if bill is None:
        cost = _estimate(backend, tenant, job_id)
        label = "Estimated cost" if not is_azure(tenant) else "Planner estimate (OpenAI list prices)"
        pairs = [(label, v.money(cost.get("cost_usd")) or "—"), ("Billing", esc(cost.get("billing")))]
        notes = [cost.get("note") or ""]
        if is_azure(tenant):
            notes.insert(0, "Azure publishes no price for this model: this is OpenAI's price, not Azure's bill.")
        return cost.get("cost_usd"), pairs + [("Note", esc(" ".join(n for n in notes if n)))]
    pairs = [("Billed so far (Azure)", v.money(bill.total_usd)), ("Training type", esc(bill.training_type))]
    for line in bill.lines:
        amount = f"{line.quantity:,} {line.unit}"
        if line.kind == "grading":
            label = f"Grading ({line.model}, {line.tier})"
        else:
            label = f"Training ({line.tier})"
        pairs.append((label, esc(amount) + " · " + v.money(line.usd)
                      + (" (per-job cap reached)" if line.capped else "")))
    if bill.projected_usd is not None:
        pairs.append(("Bill once every step is trained", v.money(bill.projected_usd)))
    if not bill.lines:
        pairs.append(("Note", esc("Nothing billed yet: Azure bills the steps a job trains.")))
    return bill.total_usd, pairs


def _account_bill(backend: Any, tenant: Tenant) -> str:
    """An Azure account's whole bill so far (what `/_sim/azure/cost` answers), by kind of charge."""
    from ftsim.simulator.fine_tuning.azure import account_cost

    cost = account_cost(backend, tenant)
    kinds = ("training", "grading", "hosting", "inference")
    parts = " · ".join(f"{k} {v.money(sum((ln.usd for ln in cost.lines if ln.kind == k), Decimal(0)))}"
                       for k in kinds)
    return (f'<p id="azure-bill">Azure bill so far: <strong>{v.money(cost.total_usd)}</strong> '
            f'<span class="muted">({parts})</span></p>')


def _matches(job: dict[str, Any], status: str, q: str) -> bool:
    if status and job["status"] != status:
        return False
    if not q:
        return True
    hay = [job.get("id"), job.get("model"), job.get("fine_tuned_model"), job.get("training_file"),
           job.get("user_provided_suffix"), *((job.get("metadata") or {}).values())]
    return any(q.lower() in str(h).lower() for h in hay if h)


def _jobs_rows(backend: Any, tenant: Tenant, status: str, q: str) -> str:
    rows = []
    matching = [job for job in _jobs(backend, tenant) if _matches(job, status, q)]
    for job in matching[:TABLE_ROWS]:
        amount, _ = _cost(backend, tenant, job["id"])
        rows.append([
            f'<a href="/console/jobs/{esc(job["id"])}" class="mono">{esc(job["id"])}</a>', esc(job["model"]),
            esc((job.get("method") or {}).get("type", "")), v.badge(job["status"]), v.when(job["created_at"]),
            v.when(job.get("finished_at")), esc(f'{job["trained_tokens"]:,}' if job.get("trained_tokens") else ""),
            f'<span class="mono">{esc(job.get("fine_tuned_model"))}</span>', v.money(amount),
        ])
    azure = is_azure(tenant)
    headers = ["ID", "Model", "Method", "Status", "Created", "Finished", "Trained tokens", "Fine-tuned model",
               "Billed so far" if azure else "Estimated cost"]
    more = (f'<p class="muted">The newest {TABLE_ROWS} of {len(matching)} jobs: filter or search to see others.</p>'
            if len(matching) > TABLE_ROWS else "")
    return ((_account_bill(backend, tenant) if azure else "")
            + v.table(headers, rows, caption="Azure fine-tuning jobs" if azure else "Fine-tuning jobs",
                      table_id="jobs-table",
                      empty="No job matches." if (status or q) else "No fine-tuning job yet.") + more)


@router.get("/console/jobs")
async def jobs_page(request: Request, status: str = "", q: str = "") -> Response:
    """The organization's fine-tuning jobs, newest first; filter by status, search ids, models and metadata."""
    def build(tenant: Any) -> tuple[str, str]:
        known = accounts.statuses(tenant)
        if status and status not in known:
            raise ConsoleError(400, "Refused", f"Unknown status '{status}'.")
        options = "".join(f'<option value="{s}"{" selected" if s == status else ""}>{s.replace("_", " ")}</option>'
                          for s in known)
        body = (f'<form class="filters" method="get" action="/console/jobs" role="search" '
                f'hx-get="/console/jobs/rows" hx-target="#jobs-rows" hx-trigger="input changed delay:300ms, change" '
                f'hx-push-url="false">'
                f'<label for="status">Status</label><select id="status" name="status"><option value="">all</option>'
                f'{options}</select><label for="q">Search</label>'
                f'<input id="q" name="q" type="search" value="{esc(q)}" placeholder="id, model, suffix, metadata">'
                f'<button type="submit">Filter</button></form>'
                f'<div id="jobs-rows" hx-get="/console/jobs/rows" '
                f'hx-trigger="every 2s, clock-changed from:body" hx-include=".filters">'
                f'{_jobs_rows(_backend(request), tenant, status, q)}</div>')
        return ("Azure fine-tuning jobs" if is_azure(tenant) else "Fine-tuning jobs"), body

    return await _serve(request, build)


@router.get("/console/jobs/rows")
async def jobs_rows(request: Request, status: str = "", q: str = "") -> Response:
    """The jobs table alone (polled, and swapped in by the filters)."""
    def build(tenant: Any) -> str:
        if status and status not in accounts.statuses(tenant):
            raise ConsoleError(400, "Refused", f"Unknown status '{status}'.")
        return _jobs_rows(_backend(request), tenant, status, q)

    return await _serve(request, build)


def _events(backend: Any, tenant: Tenant, job_id: str) -> list[dict[str, Any]]:
    """The job's events, newest first, as the tenant's door answers them (Azure's levels for an Azure account)."""
    return [accounts.shown(e, tenant) for e in
            _all(lambda after: backend.jobs.list_events(tenant, job_id, after=after, limit=100), cap=20_000)]


def _curve_chart(title: str, metrics: list[dict[str, Any]], keys: list[str], chart_id: str) -> str:
    """One chart of metric curves (series per key present), through the shared chart module."""
    series = []
    for k, key in enumerate(keys):
        pts = [(float(m["step"]), float(m[key])) for m in metrics
               if isinstance(m.get(key), (int, float)) and isinstance(m.get("step"), (int, float))]
        if pts:
            series.append((key.replace("_", " "), SERIES_COLOURS[k % len(SERIES_COLOURS)],
                           [p[0] for p in pts], [p[1] for p in pts]))
    if not series:
        return f'<p class="muted" id="{chart_id}">No {esc(title.lower())} yet: the job has not trained a step.</p>'
    return line_chart(title, series, x_label="step", y_label=title.lower(), chart_id=chart_id,
                      x_format=plain_number, y_format=plain_number)


def _job_live(backend: Any, tenant: Tenant, job_id: str, note: str = "") -> str:
    """The parts of a job page that change while it runs: status, timeline, charts, checkpoints, events, cost."""
    job = accounts.shown(backend.jobs.retrieve(tenant, job_id).model_dump(mode="json"), tenant)
    events = _events(backend, tenant, job_id)  # newest first
    metrics = [e.get("data") or {} for e in reversed(events) if e.get("type") == "metrics"]
    keys = sorted({k for m in metrics for k in m if isinstance(m.get(k), (int, float)) and k != "step"})
    loss = [k for k in keys if k.endswith("loss")]
    acc = [k for k in keys if "accuracy" in k]
    reward = [k for k in keys if "reward" in k]
    charts = _curve_chart("Loss", metrics, loss, "chart-loss") + _curve_chart("Token accuracy", metrics, acc,
                                                                                 "chart-accuracy")
    if reward:
        charts += _curve_chart("Reward", metrics, reward, "chart-reward")
    timeline = "".join(f"<li>{v.when(e['created_at'])} {esc(e['message'])}</li>"
                       for e in reversed(events) if e.get("type") != "metrics")
    checkpoints = _all(lambda after: backend.jobs.list_checkpoints(tenant, job_id, after=after, limit=100))
    ck_rows = [[esc(c.get("step_number")), f'<span class="mono">{esc(c.get("fine_tuned_model_checkpoint"))}</span>',
                esc(", ".join(f"{k}={val:.4g}" if isinstance(val, float) else f"{k}={val}"
                              for k, val in (c.get("metrics") or {}).items())), v.when(c.get("created_at"))]
               for c in checkpoints]
    ev_rows = [[v.when(e["created_at"]), esc(e.get("level")), esc(e["message"])] for e in events[:200]]
    _, cost_pairs = _cost(backend, tenant, job_id)
    error = job.get("error") or {}
    # A finished job changes no more by itself: it is reloaded only when the clock is moved from this page.
    trigger = "clock-changed from:body" if job["status"] in TERMINAL else "every 2s, clock-changed from:body"
    polling = f' hx-get="/console/jobs/{esc(job_id)}/live" hx-trigger="{trigger}" hx-swap="outerHTML"'
    return (f'<div id="live"{polling}>'
            + (f'<p class="note" role="status">{esc(note)}</p>' if note else "")
            + f'<p>Status: <span id="job-status">{v.badge(job["status"])}</span>'
            + (f' · Fine-tuned model: <span class="mono" id="job-model">{esc(job["fine_tuned_model"])}</span>'
               if job.get("fine_tuned_model") else "")
            + (f' <span class="error">{esc(error.get("message"))}</span>' if error.get("message") else "") + "</p>"
            + '<div class="grid"><section><h2>Timeline</h2><ol class="timeline">'
            + (timeline or '<li class="muted">No event yet.</li>') + "</ol></section>"
            + f"<section><h2>Cost</h2>{v.kv(cost_pairs)}</section></div>"
            + f'<h2>Metrics</h2><div class="grid charts">{charts}</div>'
            + "<h2>Checkpoints</h2>" + v.table(["Step", "Model", "Metrics", "Created"], ck_rows,
                                                caption="Checkpoints", table_id="checkpoints",
                                                empty="No checkpoint yet.")
            + '<h2 id="events-title">Events (newest first)</h2><div class="scroll" tabindex="0" '
              'role="region" aria-labelledby="events-title">'
            + v.table(["Time", "Level", "Message"], ev_rows, caption="Events", table_id="events",
                      empty="No event yet.") + "</div>"
            + "</div>")


def _job_static(job: dict[str, Any], extra: tuple[tuple[str, str], ...] = ()) -> str:
    method = job.get("method") or {}
    kind = method.get("type", "")
    hyper = (method.get(kind) or {}).get("hyperparameters") or job.get("hyperparameters") or {}
    pairs = [("Model", esc(job["model"])), ("Method", esc(kind)), ("Training file", esc(job.get("training_file"))),
             ("Validation file", esc(job.get("validation_file"))), ("Suffix", esc(job.get("user_provided_suffix"))),
             ("Seed", esc(job.get("seed"))), ("Created", v.when(job["created_at"])), *extra]
    pairs += [(f"Hyperparameter: {k}", esc(val)) for k, val in hyper.items()]
    if job.get("metadata"):
        pairs.append(("Metadata", f'<code>{esc(json.dumps(job["metadata"]))}</code>'))
    return v.kv(pairs)


def _actions(job_id: str) -> str:
    base = f"/console/jobs/{esc(job_id)}"
    danger = ' class="danger"'
    buttons = "".join(f'<button type="button" hx-post="{base}/{a}" hx-target="#live" hx-swap="outerHTML"'
                      f'{danger if a == "cancel" else ""}>{a.capitalize()} job</button> '
                      for a in ("cancel", "pause", "resume"))
    fail = (f'<form class="inline" hx-post="{base}/fail" hx-target="#live" hx-swap="outerHTML">'
            '<label for="fail-step">Fail at step</label>'
            '<input id="fail-step" name="step" type="number" min="1" value="1" size="5" required>'
            '<button type="submit">Add fault</button></form>')
    return f'<section aria-label="Actions"><h2>Actions</h2>{buttons}{fail}</section>'


@router.get("/console/jobs/{job_id}")
async def job_page(request: Request, job_id: str) -> Response:
    """One job: what it is, what it did, and what you can do to it."""
    def build(tenant: Any) -> tuple[str, str]:
        backend = _backend(request)
        job = backend.jobs.retrieve(tenant, job_id).model_dump(mode="json")
        extra: tuple[tuple[str, str], ...] = ()
        if is_azure(tenant):
            from ftsim.simulator.fine_tuning.azure import training_type_of

            extra = (("Training type", esc(training_type_of(backend, tenant, job_id)
                                           or accounts.DEFAULT_TRAINING_TYPE)),)
        body = (_actions(job_id) + f"<h2>Job</h2>{_job_static(job, extra)}" + _job_live(backend, tenant, job_id))
        return f"Job {job_id}", body

    return await _serve(request, build)


@router.get("/console/jobs/{job_id}/live")
async def job_live(request: Request, job_id: str) -> Response:
    """The live part of a job page (polled)."""
    return await _serve(request, lambda tenant: _job_live(_backend(request), tenant, job_id))


@router.post("/console/jobs/{job_id}/{action}")
async def job_action(request: Request, job_id: str, action: str) -> Response:
    """cancel / pause / resume the job, or add a rule failing it at step N; answers the live part."""
    form = await _posted(request) if action == "fail" else {}
    if isinstance(form, Response):
        return form

    def build(tenant: Any) -> Any:
        backend = _backend(request)
        if action in ("cancel", "pause", "resume"):
            try:
                getattr(backend.jobs, action)(tenant, job_id)
            except NotFoundError:
                raise
            except SimulatorError as exc:  # e.g. cancelling a finished job: the page says why, the job stays
                return _job_live(backend, tenant, job_id, note=exc.message)
            return _job_live(backend, tenant, job_id, note=f"Job {action} requested.")
        if action == "fail":
            job = backend.jobs.retrieve(tenant, job_id)
            try:
                step = int(form.get("step", ""))
            except ValueError:
                return _job_live(backend, tenant, job_id, note="The step must be a whole number of 1 or more.")
            if step < 1:
                return _job_live(backend, tenant, job_id, note="The step must be a whole number of 1 or more.")
            fault = backend.faults.add(None, kind="job", stage="step", step=step, job_id=job.id,
                                       api_key=_key(request))
            if fault.hits:  # taken at once by a job past validation (simulator/fine_tuning/jobs.py)
                rec = backend.jobs.record(tenant.key, job_id)
                planned = rec.plan.fault.at_step if rec is not None and rec.plan.fault is not None else step
                note = f"Fault added: this job fails at step {planned}."
                if planned > step:
                    note += f" Step {step} is already past: it fails at its next step."
                elif planned < step:
                    note += f" It has no step {step}: it fails at its last step."
            elif job.status == "validating_files":  # read when its files are validated
                note = f"Fault added: this job fails at step {step}."
            else:
                note = (f"Fault added (job rule for step {step}), but this job has no step left to train: "
                        "it does not fail.")
            return _job_live(backend, tenant, job_id, note=note)
        raise ConsoleError(404, "Not found", f"No action '{action}'.")

    return await _serve(request, build, write=True)


def _key(request: Request) -> str:
    """The API key of the account shown (fault rules are scoped to it: its organization and its Azure account)."""
    return _viewed(request)[1]


# -- files, models, faults ---------------------------------------------------------------------------------------


@router.get("/console/files")
async def files_page(request: Request) -> Response:
    """The organization's files, newest first."""
    def build(tenant: Any) -> tuple[str, str]:
        files = _backend(request).files.list(tenant)["data"]
        rows = [[f'<a class="mono" href="/console/files/{esc(f["id"])}">{esc(f["id"])}</a>', esc(f.get("filename")), esc(f.get("purpose")),
                 esc(f'{f.get("bytes", 0):,}'), v.when(f.get("created_at")), esc(f.get("status"))] for f in files]
        return "Files", v.table(["ID", "Filename", "Purpose", "Bytes", "Created", "Status"], rows,
                                caption="Files", table_id="files-table", empty="No file uploaded yet.")

    return await _serve(request, build)


PREVIEW_LINES, PREVIEW_CHARS = 5, 400


def _preview(path: Any) -> str:
    """The file's first lines, each cut at PREVIEW_CHARS characters (read as UTF-8, damage replaced); a long
    line is never read whole."""
    limit = PREVIEW_CHARS * 4  # bytes: enough for PREVIEW_CHARS characters of any UTF-8 text
    lines = []
    with open(path, "rb") as fh:
        for _ in range(PREVIEW_LINES):
            raw = fh.readline(limit)
            if not raw:
                break
            cut = not raw.endswith(b"\n") and len(raw) == limit
            rest = raw
            while rest and not rest.endswith(b"\n"):  # skip the rest of a long line, a block at a time
                rest = fh.readline(65536)
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(text[:PREVIEW_CHARS] + (" …" if cut or len(text) > PREVIEW_CHARS else ""))
    return "\n".join(lines)


def _validation(backend: Any, path: Any, file_id: str) -> str:
    """The training-file report of `ftsim validate` (the method and model it would pick), as HTML."""
    from ftsim.api.cli.validate import default_model, detect_method
    from ftsim.pricing.dataset.scan import scan_dataset

    try:
        method = detect_method(str(path))
        model = backend.catalog.resolve(default_model(method, str(path)))
        report = scan_dataset(path, method=method, model=model, file_id=file_id)
    except Exception as exc:  # an unreadable file or a missing encoding: said on the page, not a 500
        return f'<p class="note" role="status">No validation report: {esc(exc)}</p>'
    stats = report.token_stats
    pairs = [("Valid", "yes" if report.valid else "no"), ("Checked as", esc(f"{report.method} on {report.model}")),
             ("Format", esc(report.detected_format)), ("Examples", esc(f"{report.n_examples:,}")),
             ("Billed tokens per epoch", esc(f"{report.tokens_per_epoch:,}")),
             ("Errors / warnings", esc(f"{report.n_errors} / {report.n_warnings}"))]
    if stats is not None:
        pairs.append(("Tokens per example", esc(f"min {stats.min:,} · median {stats.median:g} · mean "
                                               f"{stats.mean:.1f} · p90 {stats.p90:g} · max {stats.max:,}")))
    rows = [[esc(f.line), esc(f.severity), esc(f.code), esc(f.message)] for f in report.findings[:50]]
    return v.kv(pairs) + v.table(["Line", "Severity", "Code", "Message"], rows, caption="Findings",
                                 table_id="findings", empty="No finding: the file is ready to train on.")


@router.get("/console/files/{file_id}")
async def file_page(request: Request, file_id: str) -> Response:
    """One file: what it is, a preview of its first lines, and for a training file the validation report."""
    def build(tenant: Any) -> tuple[str, str]:
        backend = _backend(request)
        f = backend.files.get(tenant, file_id).model_dump(mode="json")
        path = backend.files.content_path(tenant, file_id)
        pairs = [("Filename", esc(f.get("filename"))), ("Purpose", esc(f.get("purpose"))),
                 ("Bytes", esc(f"{f.get('bytes', 0):,}")), ("Created", v.when(f.get("created_at"))),
                 ("Status", esc(f.get("status")))]
        body = (v.kv(pairs) + f'<h2>First lines</h2><pre class="preview" tabindex="0" aria-label="First lines">'
                f"{esc(_preview(path))}</pre>")
        if f.get("purpose") == "fine-tune":
            body += "<h2>Validation and token statistics</h2>" + _validation(backend, path, file_id)
        return f"File {file_id}", body

    return await _serve(request, build)


def _models_table(backend: Any, tenant: Tenant, note: str = "") -> str:
    models = [m for m in backend.models.list(tenant)["data"] if accounts.is_tuned_model(m["id"], tenant)]
    rows = []
    for m in models:
        button = (f'<button type="button" class="danger" hx-post="/console/models/{esc(m["id"])}/delete" '
                  f'hx-target="#models" hx-swap="outerHTML" hx-confirm="Delete {esc(m["id"])}?" '
                  f'aria-label="Delete {esc(m["id"])}">Delete</button>')
        kind = "checkpoint" if ":ckpt-" in m["id"] else "fine-tuned"
        rows.append([f'<span class="mono">{esc(m["id"])}</span>', esc(kind), v.when(m.get("created")),
                     esc(m.get("owned_by")), button])
    return (f'<div id="models">' + (f'<p class="note" role="status">{esc(note)}</p>' if note else "")
            + v.table(["Model", "Kind", "Created", "Owned by", ""], rows, caption="Fine-tuned models",
                      table_id="models-table", empty="No fine-tuned model yet.") + "</div>")


@router.get("/console/models")
async def models_page(request: Request) -> Response:
    """The organization's fine-tuned and checkpoint models."""
    return await _serve(request, lambda tenant: ("Models", _models_table(_backend(request), tenant)))


@router.post("/console/models/{model_id:path}/delete")
async def delete_model(request: Request, model_id: str) -> Response:
    """Delete one of the organization's tuned models; answers the table."""
    def build(tenant: Any) -> str:
        backend = _backend(request)
        backend.models.delete(tenant, model_id)
        return _models_table(backend, tenant, note=f"Deleted {model_id}.")

    return await _serve(request, build, write=True)


def _faults_table(backend: Any, request: Request, note: str = "") -> str:
    faults = backend.faults.list(owned_by=_key(request))
    rows = []
    for f in faults:
        what = {"error": f"{f.method} {f.path} → {f.status}", "latency": f"{f.method} {f.path} +{f.latency_ms} ms",
                "job": f"job {f.job_id or '(any)'} fails at " + (f"step {f.step}" if f.stage == "step" else "validation")}
        button = (f'<button type="button" class="danger" hx-post="/console/faults/{esc(f.id)}/delete" '
                  f'hx-target="#faults" hx-swap="outerHTML" aria-label="Delete fault {esc(f.id)}">Delete</button>')
        rows.append([f'<span class="mono">{esc(f.id)}</span>', esc(f.kind), esc(what[f.kind]), esc(f.hits),
                     esc("until deleted" if f.remaining is None else f.remaining), button])
    options = "".join(f'<option value="{esc(p)}">{esc(p)}</option>' for p in sorted(PRESETS))
    form = (f'<form class="inline" hx-post="/console/faults" hx-target="#faults" hx-swap="outerHTML">'
            f'<label for="preset">Preset</label><select id="preset" name="preset">{options}</select>'
            '<button type="submit">Add fault</button></form>')
    return (f'<div id="faults">{form}' + (f'<p class="note" role="status">{esc(note)}</p>' if note else "")
            + v.table(["ID", "Kind", "What", "Hits", "Remaining", ""], rows, caption="Fault rules",
                      table_id="faults-table", empty="No fault rule for this organization.")
            + '<p class="muted">Rules added here are scoped to this account\'s API key: its OpenAI organization and '
              "its Azure account.</p></div>")


@router.get("/console/faults")
async def faults_page(request: Request) -> Response:
    """The organization's fault rules; add one from a preset, delete one."""
    return await _serve(request, lambda tenant: ("Faults", _faults_table(_backend(request), request)))


@router.post("/console/faults")
async def add_fault(request: Request) -> Response:
    """Add a fault rule from a preset, scoped to this organization."""
    form = await _posted(request)
    if isinstance(form, Response):
        return form

    def build(tenant: Any) -> str:
        preset = form.get("preset", "")
        if preset not in PRESETS:
            raise ConsoleError(400, "Refused", f"Unknown preset '{preset}'.")
        fault = _backend(request).faults.add(preset, api_key=_key(request))
        return _faults_table(_backend(request), request, note=f"Added {fault.id} ({preset}).")

    return await _serve(request, build, write=True)


@router.post("/console/faults/{fault_id}/delete")
async def delete_fault(request: Request, fault_id: str) -> Response:
    """Delete one of this organization's fault rules (another organization's is not found)."""
    def build(tenant: Any) -> str:
        backend = _backend(request)
        if fault_id not in {f.id for f in backend.faults.list(owned_by=_key(request))}:
            raise ConsoleError(404, "Not found", f"No fault rule {fault_id} for this organization.")
        backend.faults.delete(fault_id)
        return _faults_table(backend, request, note=f"Deleted {fault_id}.")

    return await _serve(request, build, write=True)
