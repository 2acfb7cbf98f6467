"""`Simulator.mock()` and `ftsim.mock_openai()`: every openai client of the process served by a simulator.

    with ftsim.mock_openai() as sim:             # or @ftsim.mock_openai() on a sync or async test
        import my_pipeline                       # builds OpenAI() at import time and uploads a file
        assert sim.files[0].purpose == "fine-tune"

How: while a mock is active, the network transports of httpx and of httpx2 (whichever are installed) are
patched at class level: `HTTPTransport.handle_request` and `AsyncHTTPTransport.handle_async_request`, and the
aiohttp transport of `openai.DefaultAioHttpClient` when aiohttp is installed. Every client built on them is
caught, whenever and by whomever it was built (an `OpenAI()` created at import time, before the mock, included):
the SDK's default clients (httpx2 on openai 3.x, httpx before), `DefaultHttpxClient`/`DefaultAsyncHttpxClient`,
and `http_client=httpx.Client()` / `httpx2.Client()` and their async twins. Each request is then

- served in-process by the simulator when its URL lies under a served base URL: `https://api.openai.com/v1`,
  the one `OPENAI_BASE_URL` names (read at each request), any given as `base_url`, and the `/openai/...` paths of
  every Azure OpenAI endpoint `https://<name>.openai.azure.com` (the app serves the Azure dialect);
- sent on by the original transport when it lies under a `passthrough` prefix (the only way out);
- refused otherwise with `BlockedRequestError`, before any DNS lookup or socket.

Requests of the other HTTP stacks the code under test may use (requests/urllib3, aiohttp's own `ClientSession`,
the standard library's http.client and urllib.request) are never served (the simulator answers the SDK's httpx
and httpx2 clients) and are refused the same way, unless they lie under a `passthrough` prefix.

Transports that never touch the network (httpx's MockTransport, ASGI and WSGI transports, the test kit's own
in-process transports) are left alone, so `sim.client()` keeps working inside a mock.

Mocks nest: the innermost active mock whose base URLs match serves a request (falling back outward), and a
pass-through listed by any active mock is honoured. Mocks entered in the caller's own thread or asyncio task come
first, so two threads or tasks each in its own mock are each served by their own simulator; a thread that entered
none (a worker started by the test) is served by the innermost mock of the process. The patch is process-wide,
installed when the first mock starts and removed when the last one ends, under a lock, and so is the environment
(OPENAI_API_KEY set, the live scope hidden): restored when the last mock that changed it ends. Each mock ends on
exit whatever happened in its block.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import importlib.util
import inspect
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional, Sequence, TypeVar
from urllib.parse import quote, urlsplit

from ftsim.api.testing.transport import respond, respond_async

if TYPE_CHECKING:
    from ftsim.api.testing.simulator import Simulator

__all__ = ["BlockedRequestError", "OPENAI_BASE_URL", "SimulatorMock", "intercept", "mock_openai"]

OPENAI_BASE_URL = "https://api.openai.com/v1"
AZURE_HOST_SUFFIX = ".openai.azure.com"  # every Azure OpenAI resource's endpoint host ends so
# The live account's scope, read by the SDK from the environment and sent as headers (hidden while mocked).
LIVE_SCOPE_VARIABLES = ("OPENAI_ORG_ID", "OPENAI_PROJECT_ID")
# Where `OpenAI()` and `AzureOpenAI()` read their key: each set to the mock's key while unset (an AzureOpenAI of the
# code under test, served by the mock, could not be built without a key of the user's own).
KEY_VARIABLES = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_F = TypeVar("_F", bound=Callable[..., Any])


class BlockedRequestError(BaseException):
    """A request that a mock neither serves nor lets through: it never left the process.

    A BaseException, like pytest's own `pytest.fail` outcome, on purpose: the openai SDK (1.x and 2.x) catches
    `Exception` from its transport, retries with backoff and re-raises a bare "Connection error."; code under test
    often does the same. Deriving from BaseException makes the refusal reach the test at once, with its message.
    """

    def __init__(self, method: str, url: str, served: Sequence[str], *, via: str | None = None) -> None:
        self.method = method
        self.url = url
        self.served = tuple(served)
        self.via = via
        origin = _origin_of(url)
        sent = f" (sent through {via})" if via else ""
        serves = (f"The simulator serves only the httpx and httpx2 clients of the openai SDK, at "
                  if via else "The simulator serves only ")
        super().__init__(
            f"ftsim's OpenAI mock blocked {method} {url}{sent}: while a mock is active nothing reaches the network. "
            f"{serves}{', '.join(self.served)}. To let this host through, list it as a "
            f"pass-through: mock_openai(passthrough=[{origin!r}]), sim.mock(passthrough=[{origin!r}]) or "
            f"@pytest.mark.ftsim(mock={{'passthrough': [{origin!r}]}})."
        )


def _as_list(urls: str | Iterable[str] | None) -> list[str]:
    return [urls] if isinstance(urls, str) else list(urls or ())


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class _Prefix:
    """An http(s) URL prefix: an origin and a path, matched segment by segment."""

    text: str
    scheme: str
    host: str
    port: int
    path: str  # raw (percent-encoded), without a trailing slash; "" for the whole origin

    @classmethod
    def parse(cls, text: str, *, what: str) -> "_Prefix":
        parts = urlsplit(str(text).strip())
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"{what} must be an absolute http(s) URL such as 'http://127.0.0.1:9999', got {text!r}")
        try:
            port = parts.port or _DEFAULT_PORTS[scheme]
        except ValueError as exc:
            raise ValueError(f"{what} has a bad port: {text!r}") from exc
        return cls(str(text).strip(), scheme, parts.hostname.lower(), port, parts.path.rstrip("/"))

    def rest(self, url: Any) -> Optional[bytes]:
        """The raw path (with query) after this prefix if `url` (an httpx/httpx2 URL) lies under it, else None."""
        scheme = url.scheme.lower()
        if scheme != self.scheme or url.host.lower() != self.host:
            return None
        if (url.port or _DEFAULT_PORTS.get(scheme)) != self.port:
            return None
        path, sep, query = url.raw_path.partition(b"?")
        mine = quote(self.path, safe="/%:@!$&'()*+,;=~").encode("ascii")
        if path in (mine, mine + b"/"):
            return sep + query
        if path.startswith(mine + b"/"):
            return path[len(mine):] + sep + query
        return None


def _prefixes(urls: Iterable[str], what: str) -> list[_Prefix]:
    return [_Prefix.parse(u, what=what) for u in urls]


class _Session:
    """One active mock: the app that answers, its served base URLs, and the prefixes let through."""

    def __init__(self, app: Callable, base_urls: Sequence[str], passthrough: Sequence[str]) -> None:
        self.app = app
        self.bases = _prefixes(base_urls, "base_url")
        self.passthrough = _prefixes(passthrough, "passthrough")

    def served(self) -> list[_Prefix]:
        bases = list(self.bases)
        env = os.environ.get("OPENAI_BASE_URL")
        if env:
            try:
                bases.append(_Prefix.parse(env, what="OPENAI_BASE_URL"))
            except ValueError:
                pass  # the SDK itself refuses a malformed base URL; nothing of ours to serve there
        return bases

    def target(self, url: Any) -> Any:
        """The URL the app sees for `url` (the base URL's path replaced by /v1), or None if not served.

        An Azure OpenAI endpoint (`https://<name>.openai.azure.com`) is served with its path unchanged: the app's
        Azure dialect (api/http/azure.py) answers `/openai/...` itself."""
        if url.scheme.lower() == "https" and url.host.lower().endswith(AZURE_HOST_SUFFIX) \
                and url.raw_path.startswith(b"/openai/"):
            return url
        for base in self.served():
            rest = base.rest(url)
            if rest is not None:  # b"/files?..." or b"?..." or b"": the app serves the API under /v1
                return url.copy_with(raw_path=b"/v1" + rest)
        return None


# -- the process-wide patch -----------------------------------------------------------------------------------

_LOCK = threading.RLock()
_SESSIONS: tuple[_Session, ...] = ()  # innermost last; replaced whole, so readers need no lock
# The mocks entered in this context, innermost last: two threads (or asyncio tasks) each in its own mock are each
# served by their own simulator, not by whichever mock started last.
_OWN: contextvars.ContextVar[tuple[_Session, ...]] = contextvars.ContextVar("ftsim_own_mocks", default=())


@dataclass
class _Environment:
    """What the mocks that manage the environment (api_key given) changed in it, undone when the last one ends:
    with mocks of several threads overlapping, the first to end must not remove the key the others still use."""

    users: int = 0
    set_keys: list[str] = field(default_factory=list)
    hidden: dict[str, str] = field(default_factory=dict)


_ENV = _Environment()
_SAVED: list[tuple[type, str, Any]] = []  # (class, method name, its own attribute before the patch or None)

# (module, class, method) of every transport that opens connections. The aiohttp ones are patched only when
# aiohttp is installed (importing them otherwise fails): openai 3.x vendors its own, openai 2.x uses httpx-aiohttp.
_NETWORK_TRANSPORTS = (
    ("httpx", "HTTPTransport", "handle_request"),
    ("httpx", "AsyncHTTPTransport", "handle_async_request"),
    ("httpx2", "HTTPTransport", "handle_request"),
    ("httpx2", "AsyncHTTPTransport", "handle_async_request"),
    ("openai._vendor.httpx_aiohttp.transport", "AiohttpTransport", "handle_async_request"),
    ("httpx_aiohttp", "AiohttpTransport", "handle_async_request"),
)


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name.partition(".")[0]) is not None
    except (ImportError, ValueError):
        return False


def _transport_classes() -> Iterator[tuple[type, str]]:
    aiohttp = _importable("aiohttp")
    for module_name, class_name, method in _NETWORK_TRANSPORTS:
        if "aiohttp" in module_name and not aiohttp:
            continue
        if not _importable(module_name):
            continue
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            continue  # an SDK generation without this transport
        yield cls, method


def _served_texts(sessions: Sequence[_Session]) -> list[str]:
    served: list[str] = []
    for session in _innermost_first(sessions):
        served.extend(p.text for p in session.served() if p.text not in served)
    return served


def _innermost_first(sessions: Sequence[_Session]) -> list[_Session]:
    """The active mocks in the order they serve a request: those entered in the caller's own context (its thread,
    or its asyncio task and what it awaits) innermost first, then every other one innermost first. A request from a
    thread or task that entered no mock (a worker thread started by the test) falls to the process-wide order."""
    own = [s for s in reversed(_OWN.get()) if any(s is active for active in sessions)]
    return own + [s for s in reversed(sessions) if not any(s is mine for mine in own)]


def _route(request: Any) -> tuple[Optional[_Session], Any]:
    """(session, app URL) to serve `request`; (None, None) to let it through; raises BlockedRequestError."""
    sessions = _SESSIONS
    for session in _innermost_first(sessions):
        url = session.target(request.url)
        if url is not None:
            return session, url
    for session in sessions:
        if any(p.rest(request.url) is not None for p in session.passthrough):
            return None, None
    raise BlockedRequestError(request.method, str(request.url), _served_texts(sessions))


def _refuse_unless_passthrough(method: str, url_text: str, via: str) -> None:
    """For a stack the simulator cannot serve (urllib3, aiohttp, http.client): return if `url_text` lies under a
    pass-through of an active mock, else raise BlockedRequestError. A request to a served base URL is refused too:
    the app answers httpx/httpx2 requests only, and sending it on would reach the live API."""
    import httpx  # a dependency of ftsim: its URL parser gives the fields `_Prefix.rest` reads

    sessions = _SESSIONS
    try:
        url = httpx.URL(url_text)
    except Exception:  # noqa: BLE001 - unparseable: nothing can be let through
        url = None
    if url is not None and url.scheme and url.host:
        for session in sessions:
            if any(p.rest(url) is not None for p in session.passthrough):
                return
    raise BlockedRequestError(method, url_text, _served_texts(sessions), via=via)


def _patched_sync(original: Callable) -> Callable:
    @functools.wraps(original)
    def handle_request(transport: Any, request: Any) -> Any:
        if not _SESSIONS:  # a request racing the last mock's exit: the network path, as without a mock
            return original(transport, request)
        session, url = _route(request)
        if session is None:
            return original(transport, request)
        return respond(session.app, request, url=url)

    handle_request.__ftsim_original__ = original  # type: ignore[attr-defined]
    return handle_request


def _patched_async(original: Callable) -> Callable:
    @functools.wraps(original)
    async def handle_async_request(transport: Any, request: Any) -> Any:
        if not _SESSIONS:
            return await original(transport, request)
        session, url = _route(request)
        if session is None:
            return await original(transport, request)
        return await respond_async(session.app, request, url=url)

    handle_async_request.__ftsim_original__ = original  # type: ignore[attr-defined]
    return handle_async_request


# -- other HTTP stacks: never served, refused unless passed through -------------------------------------------
# The openai SDK speaks httpx or httpx2 only, but the code under test may also reach the network through requests
# (urllib3), aiohttp or the standard library's http.client (urllib.request): each is refused at the point where
# the whole URL is known, before any DNS lookup or socket, unless it lies under a pass-through.


def _urllib3_url(pool: Any, url: str) -> str:
    if url.startswith(("http://", "https://")):  # an absolute URL: a request through an HTTP proxy
        return url
    host = pool.host if ":" not in pool.host or pool.host.startswith("[") else f"[{pool.host}]"
    port = f":{pool.port}" if pool.port and pool.port != _DEFAULT_PORTS.get(pool.scheme) else ""
    return f"{pool.scheme}://{host}{port}{url}"


def _patched_urllib3(original: Callable) -> Callable:
    @functools.wraps(original)
    def urlopen(pool: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if _SESSIONS:
            _refuse_unless_passthrough(method, _urllib3_url(pool, url), "requests/urllib3")
        return original(pool, method, url, *args, **kwargs)

    urlopen.__ftsim_original__ = original  # type: ignore[attr-defined]
    return urlopen


def _patched_aiohttp(original: Callable) -> Callable:
    @functools.wraps(original)
    async def _request(session: Any, method: str, str_or_url: Any, *args: Any, **kwargs: Any) -> Any:
        if _SESSIONS:
            build = getattr(session, "_build_url", None)  # joins the session's base_url (aiohttp >= 3.10)
            try:
                url = str(build(str_or_url) if build is not None else str_or_url)
            except Exception:  # noqa: BLE001 - aiohttp reports a bad URL itself, without the network
                url = ""
            if url.startswith(("http://", "https://", "ws://", "wss://")):
                http_url = "http" + url[2:] if url.startswith("ws") else url
                _refuse_unless_passthrough(method, http_url, "aiohttp")
        return await original(session, method, str_or_url, *args, **kwargs)

    _request.__ftsim_original__ = original  # type: ignore[attr-defined]
    return _request


def _patched_http_client(original: Callable) -> Callable:
    import http.client

    @functools.wraps(original)
    def putrequest(conn: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if _SESSIONS:
            full = url
            if not url.startswith(("http://", "https://")):
                # Through a CONNECT tunnel the target is the tunnel's host; otherwise the connection's own.
                tunnel = getattr(conn, "_tunnel_host", None)
                host = tunnel or conn.host
                port = getattr(conn, "_tunnel_port", None) if tunnel else conn.port
                scheme = "https" if isinstance(conn, http.client.HTTPSConnection) else "http"
                host = f"[{host}]" if ":" in host and not host.startswith("[") else host
                shown = f":{port}" if port and port != _DEFAULT_PORTS[scheme] else ""
                full = f"{scheme}://{host}{shown}{url if url.startswith('/') else '/' + url}"
            _refuse_unless_passthrough(method, full, "http.client")
        return original(conn, method, url, *args, **kwargs)

    putrequest.__ftsim_original__ = original  # type: ignore[attr-defined]
    return putrequest


# (module, class, method, wrapper): the stacks refused unless passed through, patched when importable.
_FOREIGN_STACKS: tuple[tuple[str, str, str, Callable[[Callable], Callable]], ...] = (
    ("urllib3.connectionpool", "HTTPConnectionPool", "urlopen", _patched_urllib3),
    ("aiohttp", "ClientSession", "_request", _patched_aiohttp),
    # putrequest: the one step of every request (`request()`, urllib.request, xmlrpc.client's own calls)
    ("http.client", "HTTPConnection", "putrequest", _patched_http_client),
)


def _foreign_classes() -> Iterator[tuple[type, str, Callable[[Callable], Callable]]]:
    for module_name, class_name, method, wrap in _FOREIGN_STACKS:
        if not _importable(module_name):
            continue
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            continue
        if callable(getattr(cls, method, None)):
            yield cls, method, wrap


def _install() -> None:
    for cls, method in _transport_classes():
        own = cls.__dict__.get(method)
        original = getattr(cls, method)
        wrap = _patched_async if inspect.iscoroutinefunction(original) else _patched_sync
        _SAVED.append((cls, method, own))
        setattr(cls, method, wrap(original))
    for cls, method, wrap_foreign in _foreign_classes():
        own = cls.__dict__.get(method)
        _SAVED.append((cls, method, own))
        setattr(cls, method, wrap_foreign(getattr(cls, method)))


def _uninstall() -> None:
    while _SAVED:
        cls, method, own = _SAVED.pop()
        if own is None:
            delattr(cls, method)  # it was inherited: inherit it again
        else:
            setattr(cls, method, own)


def _push(session: _Session, api_key: str | None) -> None:
    global _SESSIONS
    with _LOCK:
        if not _SESSIONS:
            try:
                _install()
            except BaseException:
                _uninstall()
                raise
        _SESSIONS = _SESSIONS + (session,)
        if api_key is not None:
            if _ENV.users == 0:
                _ENV.hidden = {name: os.environ.pop(name) for name in LIVE_SCOPE_VARIABLES if name in os.environ}
                _ENV.set_keys = [name for name in KEY_VARIABLES if name not in os.environ]
                for name in _ENV.set_keys:
                    os.environ[name] = str(api_key)
            _ENV.users += 1
    _OWN.set(_OWN.get() + (session,))


def _pop(session: _Session, api_key: str | None) -> None:
    global _SESSIONS
    # Set, not reset with a token: a mock may end in another context than it began in (an async fixture's).
    _OWN.set(tuple(s for s in _OWN.get() if s is not session))
    with _LOCK:
        # Mocks of different threads may end in any order: remove this one, wherever it is.
        _SESSIONS = tuple(s for s in _SESSIONS if s is not session)
        if not _SESSIONS:
            _uninstall()
        if api_key is not None:
            _ENV.users -= 1
            if _ENV.users == 0:
                for name in _ENV.set_keys:
                    os.environ.pop(name, None)
                os.environ.update(_ENV.hidden)
                _ENV.hidden, _ENV.set_keys = {}, []


def active() -> bool:
    """Whether any mock is active in this process."""
    return bool(_SESSIONS)


@contextmanager
def intercept(
    app: Callable,
    *,
    base_url: str | Sequence[str] | None = None,
    passthrough: Iterable[str] = (),
    api_key: str | None = None,
) -> Iterator[None]:
    """Serve every httpx/httpx2 request to the OpenAI base URLs from `app`; refuse all others but `passthrough`.

    `api_key`, if given, is put in OPENAI_API_KEY and AZURE_OPENAI_API_KEY for the duration, each when unset (and
    removed after), so that `OpenAI()` and `AzureOpenAI()` can be built without a key of the user's own. With it,
    OPENAI_ORG_ID and OPENAI_PROJECT_ID are also hidden while active (and restored after): they name the user's live
    organization and project, which the simulated key does not belong to, so a client built under the mock would
    otherwise send headers that the simulator (as the live API) answers with 401 mismatched_organization.
    """
    session = _Session(app, [OPENAI_BASE_URL, *_as_list(base_url)], _as_list(passthrough))
    _push(session, api_key)
    try:
        yield
    finally:
        _pop(session, api_key)


# -- Simulator.mock() ------------------------------------------------------------------------------------------


class SimulatorMock:
    """What `Simulator.mock()` returns: a context manager (it yields the Simulator) and a decorator of sync and async
    functions. An async function runs whole under the mock: decorated by a plain @contextmanager, the mock ended as
    soon as the coroutine was created, before it ran, and its requests went to the network."""

    def __init__(self, value: Any, app: Callable, check: Callable[[], None], *, base_url: str | Sequence[str] | None,
                 passthrough: Iterable[str], api_key: str | None) -> None:
        self._value = value
        self._app = app
        self._check = check  # raises if the Simulator is closed
        self._base_url = _as_list(base_url)
        self._passthrough = _as_list(passthrough)
        self._api_key = api_key
        _prefixes(self._base_url, "base_url")  # a bad URL is refused where the mock is written
        _prefixes(self._passthrough, "passthrough")
        self._entered: list[Any] = []  # the intercept() contexts of this object's activations, innermost last
        self._lock = threading.Lock()

    def _fresh(self) -> "SimulatorMock":
        return SimulatorMock(self._value, self._app, self._check, base_url=self._base_url,
                             passthrough=self._passthrough, api_key=self._api_key)

    def __enter__(self) -> Any:
        self._check()
        cm = intercept(self._app, base_url=self._base_url, passthrough=self._passthrough, api_key=self._api_key)
        cm.__enter__()
        with self._lock:
            self._entered.append(cm)
        return self._value

    def __exit__(self, *exc: Any) -> None:
        with self._lock:
            cm = self._entered.pop()
        cm.__exit__(*exc)

    def __call__(self, target: _F) -> _F:
        if inspect.iscoroutinefunction(target):

            @functools.wraps(target)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self._fresh():
                    return await target(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(target)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return target(*args, **kwargs)

        return run  # type: ignore[return-value]


# -- the module-level form ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Activation:
    """One activation of a `mock_openai`: its Simulator and the Simulator.mock() context it entered."""

    sim: "Simulator"
    cm: Any


class mock_openai:  # noqa: N801 - used like a function, as moto's mock_aws is
    """Serve every openai client of the process from a fresh Simulator: context manager and decorator.

        with mock_openai(seed=3) as sim: ...         # yields the Simulator

        @mock_openai()                               # sync or async test function, or a test class
        def test_pipeline(): ...

    Keyword arguments go to `Simulator`, except the mock's own: `passthrough` (URL prefixes allowed to reach
    the network), `base_url` (more base URLs to serve) and `api_key` (put in OPENAI_API_KEY and
    AZURE_OPENAI_API_KEY while active, each if unset; None leaves the environment alone). Each activation gets a
    new Simulator, closed on exit: read its state inside the block. In a decorated function, `.simulator` is the
    active one (of the calling thread or task, when several run it at once).
    """

    def __init__(
        self,
        *,
        passthrough: Iterable[str] = (),
        base_url: str | Sequence[str] | None = None,
        **simulator_options: Any,
    ) -> None:
        passthrough = [passthrough] if isinstance(passthrough, str) else list(passthrough)
        self._mock_options: dict[str, Any] = {"passthrough": passthrough, "base_url": base_url}
        if "api_key" in simulator_options:  # otherwise Simulator.mock's default key
            self._mock_options["api_key"] = simulator_options.pop("api_key")
        self._options = simulator_options
        # Refuse a bad URL, or an option Simulator does not take, where the mock is written, not later inside a test.
        _prefixes(_as_list(base_url), "base_url")
        _prefixes(passthrough, "passthrough")
        from ftsim.api.testing.simulator import Simulator

        try:
            inspect.signature(Simulator).bind(**simulator_options)
        except TypeError as exc:
            raise TypeError(f"mock_openai(): {exc}") from None
        # Every activation of this mock, oldest first, and those of the current context (thread or asyncio task):
        # one decorated test run by two threads or tasks at once is two activations, each ended by its own exit.
        self._active: list[_Activation] = []
        self._mine: contextvars.ContextVar[tuple[_Activation, ...]] = contextvars.ContextVar(
            "ftsim_mock_openai_activations", default=()
        )
        self._lock = threading.Lock()

    @property
    def simulator(self) -> "Simulator":
        """The Simulator of the innermost activation of this mock in the current thread or task (else of the
        innermost activation anywhere: a worker thread started by the test)."""
        with self._lock:
            mine = [a for a in self._mine.get() if any(a is b for b in self._active)]
            if mine:
                return mine[-1].sim
            if not self._active:
                raise RuntimeError("mock_openai is not active: use it as `with mock_openai() as sim:`")
            return self._active[-1].sim

    def _start(self) -> "_Activation":
        from ftsim.api.testing.simulator import Simulator

        sim = Simulator(**self._options)
        cm = sim.mock(**self._mock_options)
        try:
            cm.__enter__()
        except BaseException:
            sim.close()
            raise
        activation = _Activation(sim, cm)
        with self._lock:
            self._active.append(activation)
        self._mine.set(self._mine.get() + (activation,))
        return activation

    def _end(self, activation: "_Activation", exc: tuple[Any, ...]) -> None:
        self._mine.set(tuple(a for a in self._mine.get() if a is not activation))
        with self._lock:
            self._active = [a for a in self._active if a is not activation]
        try:
            activation.cm.__exit__(*exc)
        finally:
            activation.sim.close()

    def __enter__(self) -> "Simulator":
        return self._start().sim

    def __exit__(self, *exc: Any) -> None:
        with self._lock:
            live = [a for a in self._mine.get() if any(a is b for b in self._active)]
            if not live and not self._active:
                raise RuntimeError("mock_openai.__exit__ without a matching __enter__")
            activation = live[-1] if live else self._active[-1]  # ended in another context than it began in
        self._end(activation, exc)

    def __call__(self, target: _F) -> _F:
        if isinstance(target, type):
            for name, attr in list(vars(target).items()):
                if name.startswith("test") and callable(attr):
                    setattr(target, name, self(attr))
            return target
        if inspect.iscoroutinefunction(target):

            @functools.wraps(target)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                activation = self._start()
                try:
                    result = await target(*args, **kwargs)
                except BaseException as exc:
                    self._end(activation, (type(exc), exc, exc.__traceback__))
                    raise
                self._end(activation, (None, None, None))
                return result

            return run_async  # type: ignore[return-value]

        @functools.wraps(target)
        def run(*args: Any, **kwargs: Any) -> Any:
            activation = self._start()
            try:
                result = target(*args, **kwargs)
            except BaseException as exc:
                self._end(activation, (type(exc), exc, exc.__traceback__))
                raise
            self._end(activation, (None, None, None))
            return result

        return run  # type: ignore[return-value]
