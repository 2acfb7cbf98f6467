"""DNS-rebinding guard of the open control plane (issue 17): the console and /_sim answer only loopback Host names.

`ftsim serve` on loopback without a sim key leaves the console and /_sim open to this machine. A web page from
another site can still reach them in a browser by DNS rebinding: its own host name made to resolve to 127.0.0.1,
the browser then sends the page's requests to ftsim with that name in the `Host` header. So while the guard is on,
a console or /_sim request is served only when its Host is a loopback name or address (localhost, 127.0.0.0/8,
[::1], any port) or the host ftsim was bound to; any other is answered 403 (OpenAI's envelope for /_sim, a page
in the console's style for the console). /v1 is not guarded: it needs no secret there either, and every SDK
client names the server by the address it was given.

`ftsim serve` turns the guard on when it binds a loopback host without a sim key (with a sim key the key guards
the control plane; on another host without one the user asked for an open control plane in as many words).
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any, Awaitable, Callable

__all__ = ["HostGuard", "host_name", "is_loopback", "guarded_path"]

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, IPv6 with or without brackets) only reaches this machine."""
    name = host.strip().lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str | None:
    """The host of a `Host` header value without its port, lowercased, brackets kept off ("[::1]:80" -> "::1");
    None when the value is not a host[:port]."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[1:end], value[end + 1:]
    else:
        name, sep, port = value.partition(":")
        rest = sep + port
        if ":" in port:  # an IPv6 address without brackets is not a valid Host
            return None
    if rest and not (rest.startswith(":") and rest[1:].isdigit()):
        return None
    return name.rstrip(".") or None


def guarded_path(path: str) -> str | None:
    """"sim" for the control plane, "console" for the console's pages, None for everything else."""
    if path == "/_sim" or path.startswith("/_sim/"):
        return "sim"
    if path == "/" or path == "/console" or path.startswith("/console/"):
        return "console"
    return None


class HostGuard:
    """ASGI middleware: refuse (403) console and /_sim requests whose Host is not this machine's (see above)."""

    def __init__(self, app: ASGIApp, *, bound_host: str) -> None:
        self.app = app
        bound = host_name(bound_host) or bound_host.strip("[]").lower()
        self.bound = bound.rstrip(".")

    def allows(self, header: str | None) -> bool:
        """Whether a request with this Host header value may reach the control plane (no header: refused)."""
        if header is None:
            return False
        name = host_name(header)
        return name is not None and (is_loopback(name) or name == self.bound)

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = guarded_path(scope.get("path", ""))
        if kind is None:
            await self.app(scope, receive, send)
            return
        hosts = [v for k, v in scope.get("headers", []) if k == b"host"]
        header = hosts[0].decode("latin-1") if len(hosts) == 1 else None  # two Host headers: refused
        if self.allows(header):
            await self.app(scope, receive, send)
            return
        await _refuse(kind, send)


_MESSAGE = ("This server's control plane answers only requests addressed to this machine (localhost, 127.0.0.1 or "
            "[::1]): the Host header names another host. Open the console at its loopback address, or start "
            "ftsim with --sim-key to serve it under other names.")


async def _refuse(kind: str, send: Callable[[Any], Awaitable[None]]) -> None:
    if kind == "sim":
        body = json.dumps({"error": {"message": _MESSAGE, "type": "invalid_request_error", "param": None,
                                     "code": "host_not_allowed"}}).encode()
        media = b"application/json"
    else:
        from ftsim.api.http.console.views import esc, page

        body = page("Not allowed", f'<p class="error" role="alert">{esc(_MESSAGE)}</p>').encode()
        media = b"text/html; charset=utf-8"
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", media), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
