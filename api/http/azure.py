"""The Azure OpenAI data plane: `AzureOpenAI` served by the very routes and services of the OpenAI surface.

A pure ASGI middleware translates, and nothing else:

- paths: `/openai/v1/<rest>` (no api-version needed) and `/openai/<rest>?api-version=...` (the form the openai
  SDK's `AzureOpenAI(azure_endpoint=..., api_version=...)` calls) become `/v1/<rest>`, for files, uploads and
  fine-tuning; the `api-version` parameter is dropped once checked;
- the caller: the `api-key` header, or `Authorization: Bearer <Entra token>` taken as an opaque key, names an
  Azure account (simulator/core/tenancy.py `azure_tenant`), a tenant of the same world with Azure's id formats
  (simulator/core/dialect.py);
- the job create body: Azure's `trainingType` (sent by the SDK through `extra_body`) is checked, taken out of the
  body the shared service validates, and written beside the job, in the job's own transaction (kind
  `azure_training`, through the create route's `on_create` hook), for Azure's billing;
- answers: jobs carry `organization_id: null`; errors carry Azure's envelope.

Azure's envelope, as Microsoft's Q&A threads and REST reference show it: `{"error": {"code": "<string>",
"message": "..."}}`, gateway errors with the status as the code (`"404"`, "Resource not found"; `"401"`, "Access
denied due to invalid subscription key or wrong API endpoint..."). Errors of files, uploads and fine-tuning carry a
code of Microsoft's published data-plane schema (fixtures/azure/: `ErrorCode`, e.g. `invalidPayload`, `notFound`),
chosen by the status (`_AUTHORING_CODES`); a chat call's errors keep the OpenAI code, or the status as a string
(the inference schema types the code as any string). Assumptions, where the sources are silent: a missing
`api-version` answers like an unknown one (404 Resource not found); errors raised by the shared services keep their
message, `param` and `type`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers

from ftsim.api.http import json_body
from ftsim.simulator.core.errors import SimulatorError
from ftsim.simulator.core.tenancy import azure_tenant
from ftsim.simulator.fine_tuning import azure as azure_jobs
from ftsim.simulator.fine_tuning.azure import (AZURE_TRAINING_TYPE_STATE, DEFAULT_TRAINING_TYPE, TRAINING_TYPES,
                                               training_type_of)
from ftsim.simulator.fine_tuning.lifecycle import WRONG_STATE_MESSAGE

__all__ = ["AzureDialect", "AZURE_TENANT_STATE", "TRAINING_TYPES", "training_type_of", "azure_success"]

AZURE_TENANT_STATE = "azure_tenant"  # scope["state"] key: the Azure account resolved for this request


_V1 = re.compile(r"/openai/v1(/(?:files|uploads|fine_tuning)(?:/.*)?|/chat/completions)")
_VERSIONED = re.compile(r"/openai(/(?:files|uploads|fine_tuning)(?:/.*)?)")
_DEPLOYMENT = re.compile(r"/openai/deployments/([^/]+)(/chat/completions)")
# A call to a deployment that does not serve (unknown, expired or still provisioning): Azure's own answer.
NO_DEPLOYMENT = (404, {"error": {"code": "DeploymentNotFound", "message": (
    "The API deployment for this resource does not exist. If you created the deployment within the last 5 "
    "minutes, please wait a moment and try again.")}})

# An api-version Azure could serve: `YYYY-MM-DD` or `YYYY-MM-DD-preview`, a real date no earlier than the data
# plane's first GA version (2022-12-01). Microsoft answers an api-version it does not serve like a path it does not
# serve (404 "Resource not found", as Q&A threads quote it); which versions serve fine-tuning, files and uploads is
# not listed in one place and grows with each release, so any well-formed version from that date on is served
# (assumed), and a malformed one, or one older than the data plane, is the gateway's 404.
_VERSION = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:-preview)?")
_FIRST_VERSION = dt.date(2022, 12, 1)


def api_version_ok(value: str, first: dt.date = _FIRST_VERSION) -> bool:
    """Whether `value` is a well-formed api-version (see `_VERSION`) dated no earlier than `first`."""
    match = _VERSION.fullmatch(value)
    if match is None:
        return False
    try:
        return dt.date(*map(int, match.groups())) >= first
    except ValueError:  # not a calendar date (2025-13-45)
        return False


# The methods the management plane's routes take (api/http/routers/azure_deployments.py `arm_fallback`).
ARM_METHODS = frozenset({"GET", "PUT", "POST", "PATCH", "DELETE", "HEAD"})

NOT_FOUND = (404, {"error": {"code": "404", "message": "Resource not found"}})
NO_KEY = (401, {"error": {"code": "401", "message": (
    "Access denied due to missing subscription key. Make sure to include subscription key when making requests "
    "to an API.")}})
BAD_KEY = (401, {"error": {"code": "401", "message": (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an "
    "active subscription and use a correct regional API endpoint for your resource.")}})


async def _answer(send: Any, status: int, body: dict) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data, "more_body": False})


def _key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The `api-key` header, else an `Authorization: Bearer` token (an Entra token, used as an opaque key)."""
    found = {k.lower(): v.decode("latin-1").strip() for k, v in headers if k.lower() in (b"api-key", b"authorization")}
    if found.get(b"api-key"):
        return found[b"api-key"]
    scheme, _, token = found.get(b"authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token and not any(c.isspace() for c in token) else None


async def _read_body(receive: Any, scope: Any) -> bytes:
    """The whole body, bounded like the shared routes' (`json_body.BodyTooLarge` past `MAX_BODY_BYTES`)."""
    async def chunks() -> Any:
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            yield message.get("body", b"")
            if not message.get("more_body"):
                break
    return await json_body.read_body(Headers(scope=scope), chunks())


def _replay(receive: Any, raw: bytes) -> Any:
    """A receive that hands `raw` to the app as the whole body, then defers to `receive`."""
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}
    return replay


# The codes of Microsoft's data-plane schema for files, uploads and fine-tuning (fixtures/azure/, `ErrorCode`; the
# service answers one of them: live answers quoted on Microsoft Q&A show `invalidPayload` for a refused job).
AUTHORING_CODES = frozenset({
    "conflict", "invalidPayload", "forbidden", "notFound", "unexpectedEntityState", "itemDoesAlreadyExist",
    "serviceUnavailable", "internalFailure", "quotaExceeded", "jsonlValidationFailed", "fileImportFailed",
    "tooManyRequests", "unauthorized", "contentFilter"})
# The code for an error of the shared services, by its status. Assumed where the schema's descriptions do not pin
# it: an upload over its limit (413) is `invalidPayload`; every 429 (an injected fault, the simultaneous-job limit)
# is `tooManyRequests`. An action from the wrong state (cancel a finished job, pause a queued one, resume a running
# one) is `unexpectedEntityState`, which Microsoft's ErrorCode describes as "The operation cannot be executed in the
# current resource's state" (REST reference, Fine Tuning - Cancel, ErrorCode; `invalidPayload` is "The request data
# is invalid for this operation"): see `_azure_error`. Its status stays the shared service's 400 (no source gives
# Azure's status for it).
_AUTHORING_CODES = {400: "invalidPayload", 401: "unauthorized", 403: "forbidden", 404: "notFound", 409: "conflict",
                    413: "invalidPayload", 429: "tooManyRequests", 500: "internalFailure", 503: "serviceUnavailable"}


_STATUS_NAMED = re.compile(r"status is (\w+)\.$")  # the end of a wrong-state message (lifecycle.WRONG_STATE_MESSAGE)


def _azure_error(status: int, body: Any, *, authoring: bool = False, paths: tuple[str, str] | None = None) -> dict:
    """An error answer of the shared services in Azure's envelope (see the module's note). `authoring`: an answer
    of files, uploads or fine-tuning, whose code is one of Microsoft's schema (`AUTHORING_CODES`); a status without
    its own code gets its class's (any other 4xx `invalidPayload`, 5xx `internalFailure`). `paths`: (the shared
    route's path, the caller's), so that a message naming the path names the one the caller sent."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        err = {"message": str(body)}
    code = err.get("code")
    message = err.get("message") or f"HTTP {status}"  # the schema's message has minLength 1
    if authoring and code not in AUTHORING_CODES:
        if status == 400 and isinstance(message, str) and WRONG_STATE_MESSAGE.fullmatch(message):
            code = "unexpectedEntityState"  # its message names the status as Azure shows it (`pending`, not `queued`)
            message = _STATUS_NAMED.sub(lambda m: f"status is {_AZURE_STATUS.get(m.group(1), m.group(1))}.", message)
        else:
            code = _AUTHORING_CODES.get(status) or ("internalFailure" if status >= 500 else "invalidPayload")
    if paths is not None and isinstance(message, str):
        message = message.replace(paths[0], paths[1])
    out = {"code": code or str(status), "message": message}
    for extra in ("param", "type"):
        if err.get(extra) is not None:
            out[extra] = err[extra]
    return {"error": out}


# Azure's job statuses and event levels where OpenAI's differ. Microsoft's published data-plane schema
# (fixtures/azure/fine-tuning.data-plane-2025-04-01-preview.json: FineTuningState, LogLevel) has no
# `validating_files` or `queued`, only `pending` before a job runs, and `warning` for OpenAI's `warn`; Microsoft's
# fine-tuning how-to shows a new job as `pending`. Assumed: a resumed job waiting to run is `pending` too (the
# schema also lists `resuming`, which no source shows answered).
_AZURE_STATUS = {"validating_files": "pending", "queued": "pending"}
# The creates Microsoft's data-plane schema and REST reference answer 201 Created (Files_Upload, FineTuning_Create);
# an upload's create, parts and complete answer 200 there, as on OpenAI.
_CREATED = ("/files", "/fine_tuning/jobs")
_AZURE_LEVEL = {"warn": "warning"}


def azure_success(body: Any) -> Any:
    """A successful answer in Azure's form: fine-tuning jobs carry `organization_id: null` (reference §3) and
    Azure's statuses; events Azure's levels."""
    def job(obj: Any) -> Any:
        if isinstance(obj, dict) and obj.get("object") == "fine_tuning.job":
            obj["organization_id"] = None
            status = obj.get("status")
            if isinstance(status, str):
                obj["status"] = _AZURE_STATUS.get(status, status)
        elif isinstance(obj, dict) and obj.get("object") == "fine_tuning.job.event":
            level = obj.get("level")
            if isinstance(level, str):
                obj["level"] = _AZURE_LEVEL.get(level, level)
        return obj
    if isinstance(body, dict) and body.get("object") == "list" and isinstance(body.get("data"), list):
        body["data"] = [job(o) for o in body["data"]]
        return body
    return job(body)


class _UsageStream:
    """The usage of a streamed chat answer of a deployment, which Azure bills like any other call.

    The inner call always asks for usage (`stream_options.include_usage`); when the client did not, the chunks are
    given back as the shared route writes them without it: the usage chunk dropped and the `usage` key taken off
    the others. Events are split on their blank line, so a chunk cut across body messages is read whole."""

    def __init__(self, asked: bool) -> None:
        self.asked = asked
        self.usage: dict | None = None
        self._pending = b""

    def feed(self, data: bytes, *, final: bool) -> bytes:
        """The bytes to send for `data` (all of it when `final`), noting the usage chunk on the way."""
        from ftsim.simulator.inference.chat import sse

        self._pending += data
        events = self._pending.split(b"\n\n")
        tail = events.pop()  # an event not ended yet (b"" when the data ends on a blank line)
        self._pending = b"" if final else tail
        out = []
        for raw in events:
            if not raw:
                continue
            text = raw.decode("utf-8")
            chunk = None
            if text.startswith("data: ") and "\n" not in text and text != "data: [DONE]":
                try:
                    chunk = json.loads(text[len("data: "):])
                except ValueError:
                    chunk = None
            if not isinstance(chunk, dict) or "usage" not in chunk:
                out.append(raw + b"\n\n")
                continue
            if isinstance(chunk["usage"], dict):
                self.usage = chunk["usage"]
            if self.asked:
                out.append(raw + b"\n\n")
                continue
            if chunk.get("choices") == [] and isinstance(chunk["usage"], dict):
                continue  # the usage chunk the client did not ask for
            del chunk["usage"]
            out.append(sse(chunk).encode("utf-8"))
        if final:
            out.append(tail)
        return b"".join(out)


class AzureDialect:
    """Pure ASGI middleware serving Azure's data-plane paths with the app's own routes (see the module)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and (scope["path"] == "/subscriptions" or (
                scope["path"].startswith("/subscriptions/") and ("\n" in scope["path"]
                                                                 or scope["method"] not in ARM_METHODS))):
            # the management plane's catch-all route cannot see these: its pattern needs `/subscriptions/` and stops
            # at a line break, and its methods are ARM_METHODS (another one would get the OpenAI surface's 405)
            return await _answer(send, 404, {"error": {"code": "NotFound", "message": "Resource not found"}})
        if scope["type"] != "http" or not (scope["path"] == "/openai" or scope["path"].startswith("/openai/")):
            return await self.app(scope, receive, send)
        path = scope["path"]
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        versions = [v for k, v in query if k == "api-version"]
        deployment = None
        match = _V1.fullmatch(path)
        if match is None:
            match = _DEPLOYMENT.fullmatch(path) or _VERSIONED.fullmatch(path)
            if match is None or not versions or not api_version_ok(versions[0]):
                return await _answer(send, *NOT_FOUND)
            if match.re is _DEPLOYMENT:
                deployment, rest = match.group(1), match.group(2)
        key = _key(scope.get("headers", []))
        if key is None:
            return await _answer(send, *NO_KEY)
        backend = scope["app"].state.backend
        tenant = azure_tenant(backend.tenancy, key)
        if tenant is None:
            return await _answer(send, *BAD_KEY)
        if deployment is None:
            rest = match.group(1)
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() not in (b"api-key", b"authorization")]
        headers.append((b"authorization", f"Bearer {key}".encode("latin-1")))
        kept = urlencode([(k, v) for k, v in query if k != "api-version"]).encode("latin-1")
        inner = {**scope, "path": "/v1" + rest, "raw_path": ("/v1" + rest).encode(), "query_string": kept,
                 "headers": headers, "state": {**(scope.get("state") or {}), AZURE_TENANT_STATE: tenant}}
        scope.setdefault("state", {})[AZURE_TENANT_STATE] = tenant

        training_type = None
        served: str | None = None  # the deployment a chat call reaches: its usage is billed (Deployments.usage)
        stream: _UsageStream | None = None  # a streamed call's usage, read off its chunks
        authoring = deployment is None and rest != "/chat/completions"
        chat = rest == "/chat/completions" and scope["method"] == "POST"
        create_job = scope["method"] == "POST" and rest == "/fine_tuning/jobs"
        raw = b""
        if chat or create_job:  # bodies read here, before the shared route, so bounded the same way
            try:
                raw = await _read_body(receive, scope)
            except json_body.BodyTooLarge as exc:
                return await _answer(send, 413, _azure_error(413, {"error": {"message": exc.detail}},
                                                             authoring=authoring))
        if chat:
            receive, not_served, served, stream = await self._to_deployment(receive, raw, backend, tenant, deployment)
            if not_served is not None:
                return await _answer(send, *not_served)
        if create_job:
            receive, training_type, refusal = await self._take_training_type(receive, raw, backend, tenant)
            if refusal is not None:
                return await _answer(send, 400, refusal)
            inner["state"][AZURE_TRAINING_TYPE_STATE] = training_type  # written with the job (routers/fine_tuning_jobs)
        await self._forward(inner, receive, send, backend, tenant, served, stream, authoring=authoring,
                            created=scope["method"] == "POST" and rest in _CREATED, outer_path=path)

    @staticmethod
    async def _to_deployment(receive: Any, raw: bytes, backend: Any, tenant: Any, deployment: str | None
                             ) -> tuple[Any, tuple[int, dict] | None, str | None, "_UsageStream | None"]:
        """A receive replaying a chat body whose `model` is the deployment's model: the deployment is the path's
        (`/openai/deployments/{name}/...`) or, on the v1 path, the body's `model`. Azure's 404 when it does not
        serve (only deployments of tuned models exist in the simulator). Third: the deployment's name. Fourth, for
        a streamed call: the reader of its usage (the inner call always includes it; see `_UsageStream`)."""
        try:
            body = json_body.loads(raw)
        except ValueError:  # not strict JSON, or nested too deeply
            body = None
        if not isinstance(body, dict):
            return _replay(receive, raw), None, None, None  # the shared route answers a malformed body
        if deployment is None and not isinstance(body.get("model"), str):
            # On the v1 path `model` is the request body's required string (Microsoft's v1 reference,
            # learn.microsoft.com/azure/ai-foundry/openai/latest, "Create chat completion"): a body without one is
            # malformed, not a call to a missing deployment. The shared route answers its 400 (in Azure's envelope).
            return _replay(receive, raw), None, None, None
        from ftsim.simulator.inference.deployments import Deployments

        name = deployment if deployment is not None else body.get("model")
        model = Deployments(backend).model_for_call(tenant, name) if isinstance(name, str) else None
        if model is None:
            return receive, NO_DEPLOYMENT, None, None
        body["model"] = model
        stream = None
        options = body.get("stream_options")
        if body.get("stream") is True and (options is None or isinstance(options, dict)):
            from pydantic import ValidationError

            from ftsim.simulator.inference.chat import StreamOptions

            try:  # read as the shared route reads it (a value it refuses: left to its 400)
                asked = bool(options is not None and StreamOptions.model_validate(options).include_usage)
            except ValidationError:
                asked = None
            if asked is not None:
                stream = _UsageStream(asked=asked)
                body["stream_options"] = {**(options or {}), "include_usage": True}
        return _replay(receive, json.dumps(body).encode()), None, name, stream

    @staticmethod
    async def _take_training_type(receive: Any, raw: bytes, backend: Any, tenant: Any
                                  ) -> tuple[Any, str | None, dict | None]:
        """(a receive replaying the body without `trainingType`, its canonical value, an Azure 400 or None).

        A well-formed body also passes Azure's own checks (model, method, training type, dates) here, before the
        shared service checks the rest."""
        value: str | None = DEFAULT_TRAINING_TYPE
        try:
            body = json_body.loads(raw)
        except ValueError:
            body = None  # the shared route answers a malformed body (not strict JSON, or nested too deeply)
        if isinstance(body, dict) and "trainingType" in body:
            given = body.pop("trainingType")
            value = azure_jobs.canonical_training_type(given)
            if value is None:
                return receive, None, {"error": {
                    "code": "invalidPayload", "param": "trainingType",
                    "message": f"Invalid trainingType {given!r}: expected one of Standard, GlobalStandard, "
                               "DeveloperTier."}}
            raw = json.dumps(body).encode()
        if isinstance(body, dict) and value is not None:
            try:
                azure_jobs.check_job(backend, tenant, model=body.get("model"), method=body.get("method"),
                                     training_type=value)
            except SimulatorError as exc:
                return receive, None, _azure_error(exc.status_code, exc.body(), authoring=True)
        return _replay(receive, raw), value, None

    async def _forward(self, scope, receive, send, backend: Any, tenant: Any, served: str | None,
                       stream: "_UsageStream | None" = None, *, authoring: bool = False, created: bool = False,
                       outer_path: str = "") -> None:
        """Run the app, buffering JSON answers to rewrite them in Azure's form (other answers stream through; a
        streamed chat answer of a deployment is read for its usage on the way). `authoring`: files, uploads or
        fine-tuning (their error codes are the schema's); `created`: an upload of a file or a job create, which
        Azure answers 201 where OpenAI answers 200."""
        start: dict | None = None
        chunks: list[bytes] = []
        streaming = False
        inner_path = scope["path"]
        outer_path = outer_path or inner_path

        async def capture(message: dict) -> None:
            nonlocal start, streaming
            if message["type"] == "http.response.start":
                content_type = dict((k.lower(), v) for k, v in message.get("headers", [])).get(b"content-type", b"")
                if content_type.startswith(b"application/json"):
                    start = message
                    return
                streaming = (stream is not None and served is not None and message["status"] < 400
                             and content_type.startswith(b"text/event-stream"))
                return await send(message)
            if start is None:
                if streaming and stream is not None and served is not None and message["type"] == "http.response.body":
                    data = stream.feed(message.get("body", b""), final=not message.get("more_body"))
                    if not message.get("more_body") and stream.usage is not None:
                        from ftsim.simulator.inference.deployments import Deployments

                        await run_in_threadpool(Deployments(backend).record_usage, tenant, served, stream.usage)
                    return await send({**message, "body": data})
                return await send(message)
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            status = start["status"]
            if created and status == 200:
                status = 201
                start = {**start, "status": 201}
            try:
                body = json.loads(b"".join(chunks))
            except ValueError:
                body = None
            if body is None:
                data = b"".join(chunks)
            else:
                if served is not None and status < 400 and isinstance(body, dict):
                    from ftsim.simulator.inference.deployments import Deployments

                    await run_in_threadpool(Deployments(backend).record_usage, tenant, served, body.get("usage"))
                data = json.dumps(_azure_error(status, body, authoring=authoring, paths=(inner_path, outer_path))
                                  if status >= 400 else azure_success(body)).encode()
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(data)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": data, "more_body": False})

        await self.app(scope, receive, capture)
