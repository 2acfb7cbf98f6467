"""In-process transports: an httpx (or httpx2) client whose requests go straight into an ASGI app.

No sockets and no threads left behind. An async transport awaits the app on the caller's event loop. A sync
transport runs each request to completion on a private event loop in the calling thread, or, when that thread
already runs an event loop (a sync client used inside an async test), in a short-lived blocking portal thread
that ends with the request. On such a private loop, the app's synchronous work (FastAPI runs sync routes through
`anyio.to_thread.run_sync`) runs inline rather than in a new worker thread: nothing else waits on that loop, and
a thread started and joined per request cost more than the request itself. The response body is read whole
before it is returned.

The same classes exist for both HTTP stacks, because the openai SDK changed stack between generations:

    openai 3.x → httpx2 (it also accepts a legacy httpx client)      openai 1.x, 2.x → httpx

`sdk_http_module()` names the native one; `http_client(app, ...)` builds a client of that stack.
Client timeouts are not enforced in-process (the app is awaited until it answers).
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import threading
from types import ModuleType
from typing import Any, Callable

import anyio
import anyio.from_thread
import anyio.to_thread

__all__ = [
    "call_asgi",
    "respond",
    "respond_async",
    "transport_classes",
    "sync_transport",
    "async_transport",
    "http_client",
    "sdk_http_module",
    "BASE_URL",
    "ROOT_URL",
]

ROOT_URL = "http://ftsim.test"
BASE_URL = ROOT_URL + "/v1"  # what the SDK clients of the test kit use as base_url

Headers = list[tuple[bytes, bytes]]


async def call_asgi(
    app: Callable, *, method: str, url: Any, headers: Headers, body: bytes
) -> tuple[int, Headers, bytes]:
    """Run one HTTP request through an ASGI app; returns (status, headers, whole body)."""
    raw_path = url.raw_path.split(b"?")[0]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "headers": [(k.lower(), v) for k, v in headers],
        "scheme": url.scheme,
        "path": url.path,
        "raw_path": raw_path,
        "query_string": url.query if isinstance(url.query, bytes) else str(url.query).encode(),
        "server": (url.host, url.port or (443 if url.scheme == "https" else 80)),
        "client": ("127.0.0.1", 123),
        "root_path": "",
    }
    sent_body = False
    done = anyio.Event()
    status: int | None = None
    out_headers: Headers = []
    chunks: list[bytes] = []

    async def receive() -> dict:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        nonlocal status, out_headers
        if message["type"] == "http.response.start":
            status = message["status"]
            out_headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            if message.get("body") and method != "HEAD":
                chunks.append(message["body"])
            if not message.get("more_body", False):
                done.set()

    try:
        await app(scope, receive, send)
    except Exception:
        # Starlette re-raises after its 500 handler has answered; the answer is what a client would see.
        if status is None or not done.is_set():
            raise
    if status is None:
        raise RuntimeError("the ASGI app returned without sending a response")
    return status, out_headers, b"".join(chunks)


# Set only inside the private loops of `_run_blocking` (a context variable: tasks started there inherit it, code
# outside never sees it), where `anyio.to_thread.run_sync` then calls the function inline.
_PRIVATE_LOOP: contextvars.ContextVar[bool] = contextvars.ContextVar("ftsim_private_loop", default=False)
_patch_lock = threading.Lock()


def _install_inline_threads() -> None:
    """Wrap `anyio.to_thread.run_sync` once: inline on a private loop of ours, anyio's own everywhere else."""
    with _patch_lock:
        current = anyio.to_thread.run_sync
        if getattr(current, "_ftsim_inline", False):
            return

        async def run_sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            if _PRIVATE_LOOP.get():
                return contextvars.copy_context().run(func, *args)  # a copy, as a worker thread would run it in
            return await current(func, *args, **kwargs)

        run_sync._ftsim_inline = True  # type: ignore[attr-defined]
        anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]


async def _on_private_loop(fn: Callable, kwargs: dict[str, Any]) -> Any:
    _PRIVATE_LOOP.set(True)  # this task's context only (a copy made by the loop for it)
    return await fn(**kwargs)


def _run_blocking(fn: Callable, **kwargs: Any) -> Any:
    """Run an async function to completion from sync code, whether or not this thread runs a loop."""
    _install_inline_threads()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _on_new_loop(_on_private_loop(fn, kwargs))
    with anyio.from_thread.start_blocking_portal() as portal:
        return portal.call(_on_private_loop, fn, kwargs)


def _on_new_loop(coro: Any) -> Any:
    """Run `coro` on a new event loop of this thread, closed before returning (what `anyio.run` does for asyncio,
    without its runner's signal handling and backend set-up, which cost as much as the rest of the loop's life)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        try:
            left = asyncio.all_tasks(loop)  # none in practice: the request's tasks end with its answer
            for task in left:
                task.cancel()
            if left:
                loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


def _http_module(request: Any) -> ModuleType:
    """httpx or httpx2: the stack a request object belongs to (its Response class answers it)."""
    return importlib.import_module(type(request).__module__.partition(".")[0])


def respond(app: Callable, request: Any, *, url: Any = None, module: ModuleType | None = None) -> Any:
    """Answer an httpx/httpx2 request from `app`, in-process (sync); `url` replaces the request's own URL."""
    mod = module or _http_module(request)
    body = request.read()
    status, headers, content = _run_blocking(
        call_asgi, app=app, method=request.method, url=url if url is not None else request.url,
        headers=list(request.headers.raw), body=body,
    )
    return mod.Response(status, headers=headers, content=content, request=request)


async def respond_async(app: Callable, request: Any, *, url: Any = None, module: ModuleType | None = None) -> Any:
    """Answer an httpx/httpx2 request from `app` on the caller's event loop; `url` replaces the request's URL."""
    mod = module or _http_module(request)
    body = await request.aread()
    status, headers, content = await call_asgi(
        app, method=request.method, url=url if url is not None else request.url,
        headers=list(request.headers.raw), body=body,
    )
    return mod.Response(status, headers=headers, content=content, request=request)


_CACHE: dict[str, tuple[type, type]] = {}


def transport_classes(module: ModuleType) -> tuple[type, type]:
    """(SyncTransport, AsyncTransport) classes for `module` (httpx or httpx2)."""
    cached = _CACHE.get(module.__name__)
    if cached is not None:
        return cached

    class InProcessTransport(module.BaseTransport):  # type: ignore[name-defined, misc]
        """A sync transport that hands each request to an ASGI app in-process."""

        def __init__(self, app: Callable) -> None:
            self.app = app

        def handle_request(self, request):  # noqa: ANN001 - the module's Request
            """Send one request to the app; the whole response body is read."""
            return respond(self.app, request, module=module)

    class AsyncInProcessTransport(module.AsyncBaseTransport):  # type: ignore[name-defined, misc]
        """An async transport that awaits the ASGI app on the caller's loop."""

        def __init__(self, app: Callable) -> None:
            self.app = app

        async def handle_async_request(self, request):  # noqa: ANN001
            """Send one request to the app; the whole response body is read."""
            return await respond_async(self.app, request, module=module)

    InProcessTransport.__qualname__ = InProcessTransport.__name__ = f"InProcessTransport[{module.__name__}]"
    AsyncInProcessTransport.__qualname__ = AsyncInProcessTransport.__name__ = (
        f"AsyncInProcessTransport[{module.__name__}]"
    )
    _CACHE[module.__name__] = (InProcessTransport, AsyncInProcessTransport)
    return _CACHE[module.__name__]


def sdk_http_module() -> ModuleType:
    """The HTTP stack the installed openai SDK uses natively: httpx2 for openai >= 3, httpx for 1.x and 2.x."""
    import openai

    major = int(openai.__version__.split(".")[0])
    if major >= 3:
        try:
            return importlib.import_module("httpx2")
        except ImportError:  # pragma: no cover - openai 3 depends on httpx2
            pass
    return importlib.import_module("httpx")


HTTP_STACKS = ("httpx", "httpx2")


def _module(module: ModuleType | str | None) -> ModuleType:
    if module is None:
        return sdk_http_module()
    name = module if isinstance(module, str) else getattr(module, "__name__", repr(module))
    if name not in HTTP_STACKS:  # e.g. "requests": it used to fail as "module has no attribute 'BaseTransport'"
        raise ValueError(f"http must be 'httpx' or 'httpx2' (the stacks the openai SDK speaks), got {module!r}")
    if isinstance(module, ModuleType):
        return module
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ImportError(f"http={name!r}: the {name} package is not installed (openai 3.x depends on httpx2; "
                          f"`pip install {name}` adds it)") from None


def sync_transport(app: Callable, module: ModuleType | str | None = None) -> Any:
    """A sync in-process transport over `app` for httpx or httpx2 (default: the SDK's native stack)."""
    return transport_classes(_module(module))[0](app)


def async_transport(app: Callable, module: ModuleType | str | None = None) -> Any:
    """An async in-process transport over `app` for httpx or httpx2 (default: the SDK's native stack)."""
    return transport_classes(_module(module))[1](app)


def http_client(
    app: Callable, *, asynchronous: bool = False, module: ModuleType | str | None = None, base_url: str = ROOT_URL
) -> Any:
    """An httpx/httpx2 Client (or AsyncClient) wired to `app` in-process."""
    mod = _module(module)
    sync_cls, async_cls = transport_classes(mod)
    if asynchronous:
        return mod.AsyncClient(transport=async_cls(app), base_url=base_url)
    return mod.Client(transport=sync_cls(app), base_url=base_url)
