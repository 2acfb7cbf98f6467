"""The in-process test kit: the whole simulator behind an openai client, with no server, socket or sleep.

    from ftsim.api.testing.simulator import Simulator

    sim = Simulator(seed=0)                      # in-memory world on a manual clock (speed 0)
    client = sim.client()                        # openai.OpenAI wired in-process (httpx2 on openai 3.x)
    job = client.fine_tuning.jobs.create(...)
    sim.advance(hours=1)                         # every event and checkpoint in between, at once
    job = sim.run_until_complete(job.id)         # or jump to the end

Clients: `.client()` / `.async_client()` use the SDK's native HTTP stack (httpx2 for openai 3.x, httpx for 2.x)
through an in-process transport (api/transport.py). The SDK's default `max_retries` is kept, so retries are real;
injected 429s and 5xx carry `retry-after-ms: 1`, so a retry waits one millisecond, not the SDK's 0.5 s backoff.

`.mock()` patches **httpx** through respx, for code that builds its own client (openai 2.x's default client,
or openai 3.x given `http_client=httpx.Client()`). It cannot intercept openai 3.x's default client, which uses
httpx2: with openai 3.x, pass `http_client=sim.client()._client` (or use `sim.client()` itself), or have the
code under test accept `http_client=httpx.Client()`.

State for assertions (`files`, `jobs`, `models`, `events(job_id)`, `checkpoints(job_id)`) is returned as the
openai SDK's own types, across every tenant (or one API key's with `.for_key(key)`), events and checkpoints
oldest first. `.journal` lists every request the app served (method, path, status, tenant, simulated time).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from ftsim.api.http.app import create_app
from ftsim.api.http.journal import Journal, JournalEntry, JournalMiddleware
from ftsim.api.testing.transport import BASE_URL, call_asgi, http_client
from ftsim.simulator.core.backend import Backend, SimConfig
from ftsim.simulator.core.clock import DEFAULT_START, ManualClock, ScaledClock
from ftsim.simulator.core.store import Store

__all__ = ["Simulator", "SimulatorStuck", "DEFAULT_API_KEY"]

DEFAULT_API_KEY = "sk-ftsim-test"
_TERMINAL = ("succeeded", "failed", "cancelled")
_IN_ASYNC = contextvars.ContextVar("ftsim_respx_async", default=False)


class SimulatorStuck(RuntimeError):
    """run_until_complete cannot bring the job to a terminal status (paused, or past max_seconds)."""


def _start(start: Any) -> float:
    if start is None:
        return float(DEFAULT_START)
    if isinstance(start, dt.datetime):
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.timezone.utc)
        return start.timestamp()
    if isinstance(start, dt.date):
        return dt.datetime(start.year, start.month, start.day, tzinfo=dt.timezone.utc).timestamp()
    return float(start)


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "_sim"}


class _View:
    """Read access to the stored objects of every tenant, or of one."""

    def __init__(self, backend: Backend, tenant_key: Optional[str]) -> None:
        self._backend = backend
        self._tenant = tenant_key

    def _scan(self, kind: str, parent: str | None = None) -> list[dict[str, Any]]:
        return [_public(d) for _, d in self._backend.store.scan(kind, self._tenant, parent=parent)]

    @property
    def files(self) -> list[Any]:
        """Every file (openai.types.FileObject), oldest first."""
        from openai.types import FileObject

        self._backend.sync()
        return [FileObject.construct(**d) for d in self._scan("file")]

    @property
    def jobs(self) -> list[Any]:
        """Every fine-tuning job (openai.types.fine_tuning.FineTuningJob), oldest first."""
        from openai.types.fine_tuning import FineTuningJob

        self._backend.sync()
        return [FineTuningJob.construct(**d) for d in self._scan("job")]

    @property
    def models(self) -> list[Any]:
        """Every tuned model and checkpoint model (openai.types.Model), oldest first; base models excluded."""
        from openai.types import Model

        self._backend.sync()
        keys = ("id", "object", "created", "owned_by")
        return [Model.construct(**{k: d[k] for k in keys if k in d}) for d in self._scan("model")]

    def events(self, job_id: str) -> list[Any]:
        """A job's events, oldest first (the API lists them newest first)."""
        from openai.types.fine_tuning import FineTuningJobEvent

        self._backend.sync()
        return [FineTuningJobEvent.construct(**d) for d in self._scan("event", parent=job_id)]

    def checkpoints(self, job_id: str) -> list[Any]:
        """A job's checkpoints, oldest first (the API lists them newest first)."""
        from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

        self._backend.sync()
        return [FineTuningJobCheckpoint.construct(**d) for d in self._scan("checkpoint", parent=job_id)]


class Simulator(_View):
    """An in-memory ftsim world, with in-process openai clients, clock control, faults and state access."""

    def __init__(
        self,
        seed: int = 0,
        speed: float = 0,
        *,
        lifecycle: str = "warn",
        max_concurrent_jobs: int = 3,
        python_graders: bool = False,
        start: Any = None,
        catalog: Any = None,
        db: str | Path = ":memory:",
    ) -> None:
        if lifecycle not in ("warn", "enforce", "ignore"):
            raise ValueError("lifecycle must be 'warn', 'enforce' or 'ignore'")
        if speed < 0:
            raise ValueError("speed must be >= 0")
        config = SimConfig(
            seed=seed,
            lifecycle=lifecycle,
            max_concurrent_jobs_per_model=max_concurrent_jobs,
            python_graders=python_graders,
        )
        begin = _start(start)
        clock = ManualClock(begin) if speed == 0 else ScaledClock(begin, speed)
        if isinstance(catalog, (str, Path)):
            from ftsim.pricing.catalog.catalog import load_catalog

            catalog = load_catalog(catalog)
        self.backend = Backend(store=Store(db), clock=clock, catalog=catalog, config=config)
        super().__init__(self.backend, None)
        self.seed = seed
        self._journal = Journal()
        self.app = create_app(self.backend)
        self.app.add_middleware(JournalMiddleware, journal=self._journal)
        self._closed = False

    # -- clients --------------------------------------------------------------------------------------

    def client(self, *, http: str | None = None, **kwargs: Any) -> Any:
        """An openai.OpenAI wired in-process; `http="httpx"` forces a legacy httpx client on openai 3.x."""
        import openai

        kwargs.setdefault("api_key", DEFAULT_API_KEY)
        kwargs.setdefault("base_url", BASE_URL)
        if kwargs.get("http_client") is None:
            kwargs["http_client"] = http_client(self.app, module=http, base_url=str(kwargs["base_url"]))
        return openai.OpenAI(**kwargs)

    def async_client(self, *, http: str | None = None, **kwargs: Any) -> Any:
        """An openai.AsyncOpenAI wired in-process (awaits the app on the caller's event loop)."""
        import openai

        kwargs.setdefault("api_key", DEFAULT_API_KEY)
        kwargs.setdefault("base_url", BASE_URL)
        if kwargs.get("http_client") is None:
            kwargs["http_client"] = http_client(
                self.app, asynchronous=True, module=http, base_url=str(kwargs["base_url"])
            )
        return openai.AsyncOpenAI(**kwargs)

    @contextmanager
    def mock(self, *, base_url: str = "https://api.openai.com/v1", api_key: str | None = DEFAULT_API_KEY) -> Iterator[Any]:
        """Route every httpx request to `base_url` into the simulator (respx); yields the respx router.

        Intercepts clients built on **httpx**: openai 2.x's default client, or openai 3.x given
        `http_client=httpx.Client()` / `httpx.AsyncClient()`. It does NOT intercept openai 3.x's default
        client (httpx2): there, inject `http_client=sim.client()._client` or use `sim.client()`.
        While active, OPENAI_API_KEY is set to `api_key` if it was unset (pass api_key=None to leave it), and
        any other httpx request fails with respx's AllMockedAssertionError instead of reaching the network.
        """
        import httpx
        import respx

        sim = self

        class _SimRouter(respx.MockRouter):
            async def async_handler(self, request: httpx.Request) -> httpx.Response:
                token = _IN_ASYNC.set(True)
                try:
                    return await super().async_handler(request)
                finally:
                    _IN_ASYNC.reset(token)

        def side_effect(request: httpx.Request) -> Any:
            if _IN_ASYNC.get():
                return sim._respx_async(request)
            from ftsim.api.testing.transport import transport_classes

            return transport_classes(httpx)[0](sim.app).handle_request(request)

        router = _SimRouter(base_url=base_url, assert_all_called=False)
        router.route(name="ftsim").mock(side_effect=side_effect)
        set_key = api_key is not None and "OPENAI_API_KEY" not in os.environ
        if set_key:
            os.environ["OPENAI_API_KEY"] = str(api_key)
        try:
            with router:
                yield router
        finally:
            if set_key:
                os.environ.pop("OPENAI_API_KEY", None)

    async def _respx_async(self, request: Any) -> Any:
        import httpx

        body = await request.aread()
        status, headers, content = await call_asgi(
            self.app, method=request.method, url=request.url, headers=list(request.headers.raw), body=body
        )
        return httpx.Response(status, headers=headers, content=content, request=request)

    # -- time -----------------------------------------------------------------------------------------

    def now(self) -> int:
        """The simulated present (Unix seconds)."""
        return self.backend.now()

    def advance(self, seconds: float = 0, *, minutes: float = 0, hours: float = 0, days: float = 0) -> int:
        """Move the clock forward and produce everything due in between; returns the new present."""
        total = seconds + 60 * minutes + 3600 * hours + 86400 * days
        if total < 0:
            raise ValueError("the clock only moves forward")
        return self.backend.advance(total)

    def run_until_complete(self, job_id: str, *, max_seconds: float = 90 * 86400) -> Any:
        """Advance the clock, transition by transition, until the job is terminal; returns it (SDK type).

        Raises SimulatorStuck if the job is paused (nothing would ever move it) or is not terminal after
        `max_seconds` of simulated time. No real time passes.
        """
        from openai.types.fine_tuning import FineTuningJob

        deadline = self.backend.now() + max_seconds
        while True:
            self.backend.sync()
            tenant_key, record = self._job_record(job_id)
            status = record["status"]
            if status in _TERMINAL:
                return FineTuningJob.construct(**_public(record))
            now = self.backend.now()
            if status == "paused":
                raise SimulatorStuck(f"job {job_id} is paused: resume it before run_until_complete")
            jobs = self.backend.jobs  # the service says when the job changes next: no private fields read here
            target = jobs.expected_end(tenant_key, job_id) or jobs.next_change(tenant_key, job_id)
            if target is None:
                raise SimulatorStuck(f"job {job_id} ({status}) has no scheduled transition")
            target = max(int(target), now + 1)
            if target > deadline:
                raise SimulatorStuck(
                    f"job {job_id} is still {status} after {max_seconds:g} simulated seconds (max_seconds)"
                )
            self.backend.advance(target - now)

    def _job_record(self, job_id: str) -> tuple[str, dict[str, Any]]:
        for tenant_key, record in self.backend.store.scan("job"):
            if record.get("id") == job_id:
                return tenant_key, record
        raise KeyError(f"no fine-tuning job {job_id!r} in the simulator")

    # -- faults and journal ---------------------------------------------------------------------------

    @property
    def faults(self) -> Any:
        """The fault service (add, list, get, delete, clear); see simulator/faults.py."""
        return self.backend.faults

    def fault(self, preset: str | None = None, **spec: Any) -> Any:
        """Add one fault rule, e.g. `sim.fault("rate_limited_once", path="/v1/fine_tuning/jobs")`."""
        return self.backend.faults.add(preset, **spec)

    @property
    def journal(self) -> list[JournalEntry]:
        """Every request the app served, oldest first."""
        return self._journal.entries()

    # -- state ----------------------------------------------------------------------------------------

    def for_key(self, api_key: str) -> _View:
        """Read access restricted to the tenant of `api_key`."""
        return _View(self.backend, self.backend.tenant(api_key).key)

    def tenant(self, api_key: str = DEFAULT_API_KEY) -> Any:
        """The tenant (organization) an API key maps to."""
        return self.backend.tenant(api_key)

    def reset(self) -> None:
        """Forget every object, fault rule and journal entry (the clock stays where it is)."""
        self.backend.reset()
        self._journal.clear()

    def close(self) -> None:
        """Release the store (and its temporary blob directory)."""
        if not self._closed:
            self._closed = True
            self.backend.close()

    def __enter__(self) -> "Simulator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Simulator(seed={self.seed}, now={self.backend.now()})"
