"""The in-process test kit: the whole simulator behind an openai client, with no server, socket or sleep.

    from ftsim.api.testing.simulator import Simulator

    sim = Simulator(seed=0)                      # in-memory world on a manual clock (speed 0)
    client = sim.client()                        # openai.OpenAI wired in-process (httpx2 on openai 3.x)
    job = client.fine_tuning.jobs.create(...)
    sim.advance(hours=1)                         # every event and checkpoint in between, at once
    job = sim.run_until_complete(job.id)         # or jump to the end

Clients: `.client()` / `.async_client()` use the SDK's native HTTP stack (httpx2 for openai 3.x, httpx for 1.x and 2.x)
through an in-process transport (api/testing/transport.py). The SDK's default `max_retries` is kept, so retries are real;
injected 429s and 5xx carry `retry-after-ms: 1`, so a retry waits one millisecond, not the SDK's 0.5 s backoff.

`.mock()` (and `ftsim.mock_openai()`) is for code that builds its own client: while active, every httpx and
httpx2 request of the process to https://api.openai.com/v1 (or $OPENAI_BASE_URL) is served by the simulator,
whatever the SDK generation, and any other request fails at once instead of reaching the network.

State for assertions (`files`, `jobs`, `models`, `events(job_id)`, `checkpoints(job_id)`) is returned as the
openai SDK's own types, across every tenant (or one API key's with `.for_key(key)`), events and checkpoints
oldest first. `.journal` lists every request the app served (method, path, status, tenant, simulated time).
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence
from urllib.parse import unquote, urlsplit

from ftsim.api.http.app import create_app
from ftsim.api.http.journal import Journal, JournalEntry, JournalMiddleware
from ftsim.api.testing.transport import BASE_URL, http_client

AZURE_ENDPOINT = "https://ftsim.openai.azure.com"  # any `https://<name>.openai.azure.com` is served the same
AZURE_API_VERSION = "2025-04-01-preview"  # the version of reference §3; the dialect accepts any well-formed one
from ftsim.simulator.core.backend import Backend, SimConfig
from ftsim.pricing.planning.bounds import MAX_AS_OF
from ftsim.simulator.core.clock import DEFAULT_START, ManualClock, ScaledClock
from ftsim.simulator.core.store import Store
from ftsim.simulator.core.tenancy import tenant_from_spec
from ftsim.simulator.fine_tuning.types import PLAN_KEY

if TYPE_CHECKING:
    import openai

    from ftsim.api.testing.mock import SimulatorMock

__all__ = ["Simulator", "SimulatorStuck", "SimulatorClosed", "DEFAULT_API_KEY"]

DEFAULT_API_KEY = "sk-ftsim-test"
_TERMINAL = ("succeeded", "failed", "cancelled")


class SimulatorStuck(RuntimeError):
    """run_until_complete cannot bring the job to a terminal status (paused, or past max_seconds)."""


class SimulatorClosed(BaseException):
    """The Simulator was closed (`close()`, the end of its `with` block, of `mock_openai` or of the `ftsim` fixture)
    and is used again: through one of its clients, a mock, or its own methods.

    A BaseException, as `BlockedRequestError` is and for the same reason: raised inside a client's transport, an
    `Exception` would be caught by the openai SDK, retried with real backoff sleeps and re-raised as a bare
    "Connection error."."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"this ftsim Simulator is closed ({what} after close(), the end of its `with` block, of mock_openai or "
            f"of the ftsim fixture): read its state before it closes, or build a new Simulator"
        )


@dataclass
class _Life:
    """Whether a Simulator is closed, shared with its views (`for_key`) and its clients' app."""

    closed: bool = False

    def check(self, what: str) -> None:
        if self.closed:
            raise SimulatorClosed(what)


class _ServedApp:
    """The app as the Simulator's clients and mocks reach it: a request after close() raises SimulatorClosed
    instead of reaching a closed store (a 500 the SDK retried, then a raw sqlite3 error in the log)."""

    def __init__(self, app: Any, life: _Life) -> None:
        self._app = app
        self._life = life

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self._life.check(f"a request ({scope.get('method', '')} {scope.get('path', '')})")
        await self._app(scope, receive, send)


class _Rebased:
    """A kit client's own base path (a gateway's `/openai/v1`, say) served as the API's `/v1`, as mock() serves any
    base URL: `sim.client(base_url="https://gw.example/openai/v1")` used to answer every call 404."""

    def __init__(self, app: Any, base_path: str) -> None:
        self._app = app
        self._raw = base_path.rstrip("/").encode("latin-1")  # as urlsplit gives it: percent-encoded
        self._path = unquote(base_path.rstrip("/"))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        raw, path = scope.get("raw_path") or b"", scope.get("path", "")
        if scope.get("type") == "http" and (raw == self._raw or raw.startswith(self._raw + b"/")):
            scope = dict(scope, raw_path=b"/v1" + raw[len(self._raw):], path="/v1" + path[len(self._path):])
        await self._app(scope, receive, send)


def _served_at(app: Any, base_url: str) -> Any:
    """`app` as a client with `base_url` reaches it. Only a path other than /v1 and the root is rebased: a client
    on the root (`http://ftsim.test`) keeps reaching the control plane (`/_sim/...`) and the console as they are."""
    path = urlsplit(base_url).path.rstrip("/")
    return app if path in ("", "/v1") else _Rebased(app, path)


def _seconds(name: str, value: Any) -> float:
    """A finite, non-negative number of seconds (or speed), or a clear error: NaN and infinity used to surface as
    "cannot convert float NaN to integer" from deep in the clock, or let run_until_complete loop without end."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, Decimal)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if number < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return number


def _start(start: Any) -> float:
    if start is None:
        return float(DEFAULT_START)
    if isinstance(start, dt.datetime):
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.timezone.utc)
        return start.timestamp()
    if isinstance(start, dt.date):
        return dt.datetime(start.year, start.month, start.day, tzinfo=dt.timezone.utc).timestamp()
    if isinstance(start, str):  # an ISO 8601 date or time, as a marker argument is often written
        try:
            return _start(dt.datetime.fromisoformat(start))
        except ValueError:
            raise ValueError(f"start must be a datetime, a date, Unix seconds or an ISO 8601 string, got {start!r}") \
                from None
    if isinstance(start, bool) or not isinstance(start, (numbers.Real, Decimal)) or not math.isfinite(start):
        # NaN and infinity used to fail as "cannot convert float NaN to integer", a bool passed as 1 second
        raise ValueError(f"start must be a datetime, a date, Unix seconds or an ISO 8601 string, got {start!r}")
    return float(start)


def _job_id(job: Any) -> str:
    """A job id, from the id or from the job object itself (`sim.run_until_complete(job)`, a natural slip that used
    to end in a raw sqlite3 "Error binding parameter")."""
    found = job if isinstance(job, str) else getattr(job, "id", None)
    if not isinstance(found, str):
        raise TypeError(f"expected a fine-tuning job id (str) or a job object, got {job!r}")
    return found


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != PLAN_KEY}


class _View:
    """Read access to the stored objects of every tenant, or of one."""

    def __init__(self, backend: Backend, tenant_key: Optional[str], life: _Life) -> None:
        self._backend = backend
        self._tenant = tenant_key
        self._life = life

    def _synced(self, what: str) -> None:
        """Catch the backend up to the present; SimulatorClosed once closed."""
        self._life.check(what)
        self._backend.sync()

    def _scan(self, kind: str, parent: str | None = None) -> list[dict[str, Any]]:
        return [_public(d) for _, d in self._backend.store.scan(kind, self._tenant, parent=parent)]

    @property
    def files(self) -> list[Any]:
        """Every file (openai.types.FileObject), oldest first."""
        from openai.types import FileObject

        self._synced("sim.files")
        return [FileObject.construct(**d) for d in self._scan("file")]

    @property
    def jobs(self) -> list[Any]:
        """Every fine-tuning job (openai.types.fine_tuning.FineTuningJob), oldest first."""
        from openai.types.fine_tuning import FineTuningJob

        self._synced("sim.jobs")
        return [FineTuningJob.construct(**d) for d in self._scan("job")]

    @property
    def models(self) -> list[Any]:
        """Every tuned model and checkpoint model (openai.types.Model), oldest first; base models excluded."""
        from openai.types import Model

        self._synced("sim.models")
        keys = ("id", "object", "created", "owned_by")
        return [Model.construct(**{k: d[k] for k in keys if k in d}) for d in self._scan("model")]

    def events(self, job_id: Any) -> list[Any]:
        """A job's events, oldest first (the API lists them newest first); `job_id`: the id or the job."""
        from openai.types.fine_tuning import FineTuningJobEvent

        job_id = _job_id(job_id)
        self._synced("sim.events")
        return [FineTuningJobEvent.construct(**d) for d in self._scan("event", parent=job_id)]

    def checkpoints(self, job_id: Any) -> list[Any]:
        """A job's checkpoints, oldest first (the API lists them newest first); `job_id`: the id or the job."""
        from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

        job_id = _job_id(job_id)
        self._synced("sim.checkpoints")
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
        keys: dict[str, Any] | None = None,
        developer_preemption: float = 0.0,
        console: bool = False,
    ) -> None:
        """`keys`: API key -> organization, as in `ftsim serve --keys FILE` (`{"org_id": ..., "fine_tuned_before":
        false, "last_fine_tuned_inference": "2026-03-31", ...}`; see `ftsim.simulator.core.tenancy`).
        `developer_preemption`: Azure Developer-tier training is preempted this many times per training hour on
        average (seeded; 0, the default: never; see `ftsim.simulator.fine_tuning.stops`).
        `console`: `sim.app` also serves the web console at `/` (off by default: tests drive the API, and the
        console's pages cost the first Simulator of a session their import)."""
        if lifecycle not in ("warn", "enforce", "ignore"):
            raise ValueError("lifecycle must be 'warn', 'enforce' or 'ignore'")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {seed!r}")  # a str or dict seed gave another world silently
        speed = _seconds("speed", speed)
        if isinstance(max_concurrent_jobs, bool) or not isinstance(max_concurrent_jobs, int) or max_concurrent_jobs < 1:
            raise ValueError(f"max_concurrent_jobs must be an int >= 1, got {max_concurrent_jobs!r}")
        if not 0 <= developer_preemption < float("inf"):
            raise ValueError("developer_preemption must be a finite number >= 0")
        config = SimConfig(
            seed=seed,
            lifecycle=lifecycle,
            max_concurrent_jobs_per_model=max_concurrent_jobs,
            python_graders=python_graders,
            developer_preemption=float(developer_preemption),
            keys={key: tenant_from_spec(spec) for key, spec in (keys or {}).items()},
        )
        begin = _start(start)
        clock = ManualClock(begin) if speed == 0 else ScaledClock(begin, speed)
        if isinstance(catalog, (str, Path)):
            from ftsim.pricing.catalog.catalog import load_catalog

            catalog = load_catalog(catalog)
        self.backend = Backend(store=Store(db), clock=clock, catalog=catalog, config=config)
        super().__init__(self.backend, None, _Life())
        self.seed = seed
        self._journal = Journal()
        self.app = create_app(self.backend, console=console)
        self.app.add_middleware(JournalMiddleware, journal=self._journal)
        self._served = _ServedApp(self.app, self._life)  # what the clients and mocks send their requests to

    @property
    def _closed(self) -> bool:
        return self._life.closed

    # -- clients --------------------------------------------------------------------------------------

    def client(self, *, http: str | None = None, **kwargs: Any) -> "openai.OpenAI":
        """An openai.OpenAI wired in-process; `http="httpx"` forces a legacy httpx client on openai 3.x."""
        import openai

        self._life.check("sim.client()")
        kwargs.setdefault("api_key", DEFAULT_API_KEY)
        kwargs.setdefault("base_url", BASE_URL)
        self._scope_defaults(kwargs)
        if kwargs.get("http_client") is None:
            base = str(kwargs["base_url"])
            kwargs["http_client"] = http_client(_served_at(self._served, base), module=http, base_url=base)
        return openai.OpenAI(**kwargs)

    def azure_client(self, *, endpoint: str = AZURE_ENDPOINT, api_version: str = AZURE_API_VERSION,
                     http: str | None = None, **kwargs: Any) -> "openai.AzureOpenAI":
        """An openai.AzureOpenAI wired in-process to the same world: `api_key` (default DEFAULT_API_KEY) or
        `azure_ad_token` names an Azure account, a tenant apart from the OpenAI organization of the same key."""
        import openai

        self._life.check("sim.azure_client()")
        self._azure_key_defaults(kwargs)
        if kwargs.get("http_client") is None:
            kwargs["http_client"] = http_client(self._served, module=http, base_url=endpoint.rstrip("/") + "/openai")
        return openai.AzureOpenAI(azure_endpoint=endpoint, api_version=api_version, **kwargs)

    def async_azure_client(self, *, endpoint: str = AZURE_ENDPOINT, api_version: str = AZURE_API_VERSION,
                           http: str | None = None, **kwargs: Any) -> "openai.AsyncAzureOpenAI":
        """An openai.AsyncAzureOpenAI wired in-process (see `azure_client`)."""
        import openai

        self._life.check("sim.async_azure_client()")
        self._azure_key_defaults(kwargs)
        if kwargs.get("http_client") is None:
            kwargs["http_client"] = http_client(self._served, asynchronous=True, module=http,
                                                base_url=endpoint.rstrip("/") + "/openai")
        return openai.AsyncAzureOpenAI(azure_endpoint=endpoint, api_version=api_version, **kwargs)

    @staticmethod
    def _azure_key_defaults(kwargs: dict[str, Any]) -> None:
        """The key that names the kit client's Azure account, unless a token does. openai 1.x and 2.x take
        AZURE_OPENAI_AD_TOKEN from the environment even beside an explicit key, and send the token instead of it: a
        token meant for the live service made the client another account than its key's. The `api-key` header,
        which the Azure dialect reads first, is then sent too (only in-process)."""
        if "azure_ad_token" in kwargs or "azure_ad_token_provider" in kwargs:
            return
        kwargs.setdefault("api_key", DEFAULT_API_KEY)
        if isinstance(kwargs["api_key"], str):
            kwargs["default_headers"] = {"api-key": kwargs["api_key"], **(kwargs.get("default_headers") or {})}

    def azure_cost(self, api_key: str = DEFAULT_API_KEY) -> Any:
        """The Azure account's bill so far (`AccountCost`: training by tier, RFT hours with the per-job cap, hosting
        per deployment-hour, deployments' tokens at their base model's rates)."""
        from ftsim.simulator.core.tenancy import azure_tenant
        from ftsim.simulator.fine_tuning.azure import account_cost

        self._life.check("sim.azure_cost()")
        tenant = azure_tenant(self.backend.tenancy, api_key)
        if tenant is None:
            raise ValueError("this key names no Azure account of the simulator (strict keys)")
        return account_cost(self.backend, tenant)

    def _scope_defaults(self, kwargs: dict[str, Any]) -> None:
        """The key's own organization and project, so that an OPENAI_ORG_ID / OPENAI_PROJECT_ID meant for the live
        API (sent as headers, which must match the key) does not leak into the simulated one."""
        if isinstance(kwargs.get("api_key"), str):
            tenant = self.backend.tenant(kwargs["api_key"])
            kwargs.setdefault("organization", tenant.org_id)
            kwargs.setdefault("project", tenant.project_id)

    def async_client(self, *, http: str | None = None, **kwargs: Any) -> "openai.AsyncOpenAI":
        """An openai.AsyncOpenAI wired in-process (awaits the app on the caller's event loop)."""
        import openai

        self._life.check("sim.async_client()")
        kwargs.setdefault("api_key", DEFAULT_API_KEY)
        kwargs.setdefault("base_url", BASE_URL)
        self._scope_defaults(kwargs)
        if kwargs.get("http_client") is None:
            base = str(kwargs["base_url"])
            kwargs["http_client"] = http_client(
                _served_at(self._served, base), asynchronous=True, module=http, base_url=base
            )
        return openai.AsyncOpenAI(**kwargs)

    def mock(
        self,
        *,
        passthrough: Iterable[str] = (),
        base_url: str | Sequence[str] | None = None,
        api_key: str | None = DEFAULT_API_KEY,
    ) -> "SimulatorMock":
        """Serve every openai client of the process from this simulator while active: `with sim.mock():` (it yields
        the simulator), or `@sim.mock()` on a sync or async function (which then runs whole under it).

        Catches every httpx and httpx2 client, however and whenever built (the SDK's default `OpenAI()` and
        `AsyncOpenAI()` of openai 1.x, 2.x and 3.x included): requests to `https://api.openai.com/v1`, to the
        base URL that OPENAI_BASE_URL names, and to any `base_url` given are served in-process. Any other request
        fails at once with BlockedRequestError, unless it lies under a `passthrough` prefix (e.g.
        `passthrough=["http://127.0.0.1:9999"]`). While active, OPENAI_API_KEY and AZURE_OPENAI_API_KEY are set to
        `api_key` where unset (pass api_key=None to leave them), and removed after. See ftsim/api/testing/mock.py.
        """
        from ftsim.api.testing.mock import SimulatorMock

        return SimulatorMock(self, self._served, lambda: self._life.check("sim.mock()"), base_url=base_url,
                             passthrough=passthrough, api_key=api_key)

    # -- time -----------------------------------------------------------------------------------------

    def now(self) -> int:
        """The simulated present (Unix seconds)."""
        self._life.check("sim.now()")
        return self.backend.now()

    def advance(self, seconds: float = 0, *, minutes: float = 0, hours: float = 0, days: float = 0) -> int:
        """Move the clock forward and produce everything due in between; returns the new present."""
        parts = {"seconds": seconds, "minutes": minutes, "hours": hours, "days": days}
        for name, value in parts.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise ValueError("the clock only moves forward")
            _seconds(name, value)
        total = float(seconds) + 60 * float(minutes) + 3600 * float(hours) + 86400 * float(days)
        if not math.isfinite(total):
            raise ValueError("advance(): the total is too large to be a time")
        self._life.check("sim.advance()")
        if total > self.backend.clock_room():
            raise ValueError(f"advance(): the simulated clock ends on {MAX_AS_OF.isoformat()}, "
                             f"{self.backend.clock_room():,} seconds from now")
        return self.backend.advance(total)

    def run_until_complete(self, job_id: Any, *, max_seconds: float = 90 * 86400) -> Any:
        """Advance the clock, transition by transition, until the job is terminal; returns it (SDK type).
        `job_id`: the id, or the job object itself.

        Raises SimulatorStuck if the job is paused (nothing would ever move it) or is not terminal after
        `max_seconds` of simulated time. No real time passes.
        """
        from openai.types.fine_tuning import FineTuningJob

        self._life.check("sim.run_until_complete()")
        max_seconds = _seconds("max_seconds", max_seconds)
        job_id = _job_id(job_id)
        deadline = self.backend.now() + max_seconds
        while True:
            self.backend.sync()
            tenant_key, record = self._job_record(job_id)
            status = record["status"]
            if status in _TERMINAL:
                return FineTuningJob.construct(**_public(record))
            now = self.backend.now()
            jobs = self.backend.jobs  # the service says when the job changes next: no private fields read here
            if status == "paused" and jobs.next_change(tenant_key, job_id) is None:  # not a pause that ends by itself
                raise SimulatorStuck(f"job {job_id} is paused: resume it before run_until_complete")
            target = jobs.settles_at(tenant_key, job_id)
            if target is None:
                raise SimulatorStuck(f"job {job_id} ({status}) has no scheduled transition")
            target = max(int(target), now + 1)
            if target > deadline:
                raise SimulatorStuck(
                    f"job {job_id} is still {status} after {max_seconds:g} simulated seconds (max_seconds)"
                )
            self.backend.advance(target - now)

    def _job_record(self, job_id: str) -> tuple[str, dict[str, Any]]:
        found = self.backend.store.locate("job", job_id)
        if found is None:
            raise KeyError(f"no fine-tuning job {job_id!r} in the simulator")
        return found

    # -- faults and journal ---------------------------------------------------------------------------

    @property
    def faults(self) -> Any:
        """The fault service (add, list, get, delete, clear); see simulator/core/faults.py."""
        self._life.check("sim.faults")
        return self.backend.faults

    def fault(self, preset: str | None = None, **spec: Any) -> Any:
        """Add one fault rule, e.g. `sim.fault("rate_limited_once", path="/v1/fine_tuning/jobs")`."""
        self._life.check("sim.fault()")
        return self.backend.faults.add(preset, **spec)

    @property
    def journal(self) -> list[JournalEntry]:
        """Every request the app served, oldest first."""
        return self._journal.entries()

    # -- state ----------------------------------------------------------------------------------------

    def for_key(self, api_key: str) -> _View:
        """Read access restricted to the tenant of `api_key`."""
        self._life.check("sim.for_key()")
        return _View(self.backend, self.backend.tenant(api_key).key, self._life)

    def tenant(self, api_key: str = DEFAULT_API_KEY) -> Any:
        """The tenant (organization) an API key maps to."""
        self._life.check("sim.tenant()")
        return self.backend.tenant(api_key)

    def reset(self) -> None:
        """Forget every object, fault rule and journal entry (the clock stays where it is)."""
        self._life.check("sim.reset()")
        self.backend.reset()
        self._journal.clear()

    def close(self) -> None:
        """Release the store (and its temporary blob directory). Closing twice is harmless; any other use after it
        raises SimulatorClosed (the journal stays readable)."""
        if not self._life.closed:
            self._life.closed = True
            self.backend.close()

    def __enter__(self) -> "Simulator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = ", closed" if self._life.closed else ""
        return f"Simulator(seed={self.seed}, now={self.backend.now()}{state})"
