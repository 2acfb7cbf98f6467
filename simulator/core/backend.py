"""The backend: the one state of the simulated world, shared by the HTTP server and the in-process test kit.

It owns the store, the injected clock, the seeded id minter and the price catalog, and holds one service object
per resource (`backend.files`, `backend.jobs`, ...). `sync()` brings every active job up to the clock's present
in one transaction: advancing hours produces every event and checkpoint in between at once.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from ftsim.pricing.catalog.catalog import Catalog, load_catalog
from ftsim.pricing.planning.bounds import MAX_AS_OF
from ftsim.simulator.core.clock import CLOCK_END, Clock, ManualClock, to_micros
from ftsim.simulator.core.errors import BadRequestError
from ftsim.simulator.core.ids import mint
from ftsim.simulator.core.store import Store
from ftsim.simulator.core.faults import Faults
from ftsim.simulator.core.tenancy import Tenancy, Tenant
from ftsim.simulator.files.files import Files
from ftsim.simulator.files.uploads import Uploads
from ftsim.simulator.fine_tuning.jobs import FineTuningJobs
from ftsim.simulator.fine_tuning.permissions import Permissions
from ftsim.simulator.inference.models import Models

if TYPE_CHECKING:
    from ftsim.simulator.graders.graders import Graders
    from ftsim.simulator.inference.chat import Chat
    from ftsim.simulator.inference.responses import Responses

__all__ = ["Backend", "SimConfig"]

_MICRO = 1_000_000
_CLOCK_MICROS = "clock_micros"  # meta key: the manual clock to the microsecond (`Backend._save_micros`)

@dataclass
class SimConfig:
    """Settings of one simulated world."""

    seed: int = 0
    lifecycle: str = "warn"  # warn | enforce | ignore
    max_concurrent_jobs_per_model: int = 3
    python_graders: bool = False
    developer_preemption: float = 0.0  # Azure Developer-tier training: preemptions per training hour (0: none)
    org_slug: str = "personal"
    keys: dict[str, Tenant] = field(default_factory=dict)
    strict_keys: bool = False  # only the keys in `keys` are accepted; any other answers 401 invalid_api_key


class Backend:
    """The simulated world: store + clock + ids + catalog + one service per resource."""

    def __init__(
        self,
        *,
        store: Store | None = None,
        clock: Clock | None = None,
        catalog: Catalog | None = None,
        config: SimConfig | None = None,
    ) -> None:
        self.config = config or SimConfig()
        self.store = store or Store(":memory:")
        self.clock = clock or ManualClock()
        self.catalog = catalog or load_catalog()
        self.tenancy = Tenancy(self.config.keys, default_slug=self.config.org_slug, strict=self.config.strict_keys)
        self.lock = threading.RLock()
        persisted = self.store.meta_get("clock")
        if persisted is not None and persisted > self.clock.now():
            # Carry on from the persisted clock with the protocol's own `advance` (a user clock need not have `set`).
            self.clock.advance(persisted - self.clock.now())
        fine, micros, exact = self.store.meta_get(_CLOCK_MICROS), getattr(self.clock, "micros", None), \
            getattr(self.clock, "advance_micros", None)
        if fine is not None and persisted is not None and int(fine) // _MICRO == persisted and callable(micros) \
                and callable(exact) and int(fine) > micros():
            # the fraction of a second the manual clock stood past the persisted second: without it, a restarted
            # world's later moves crossed their seconds later than the world that kept running
            exact(int(fine) - micros())
        self._clock_saved = persisted  # the clock value in the store, so that a no-op sync() never touches it
        # Which start of this store this is: request ids mix it in, so they never repeat across restarts.
        with self.store.transaction():
            self.boot = int(self.store.meta_get("boots", 0)) + 1
            self.store.meta_set("boots", self.boot)
            if persisted is None:  # a new store: its clock is stored now, so a first request has nothing to catch up
                self._clock_saved = self.clock.now()
                self.store.meta_set("clock", self._clock_saved)
        # One service per resource, each constructed as Service(backend).
        self.files: Files = Files(self)
        self.uploads: Uploads = Uploads(self)
        self.jobs: FineTuningJobs = FineTuningJobs(self)
        self.permissions: Permissions = Permissions(self)
        self.models: Models = Models(self)
        self.faults: Faults = Faults(self)
        # Inference and graders are built on first use, under the lock (one per backend: the chat service holds
        # the learned-data cache). Their modules (pydantic models of every request shape) are imported then, so
        # that a world whose tests never call a model or a grader does not pay for them.
        self._chat: Optional[Chat] = None
        self._responses: Optional[Responses] = None
        self._graders: Optional[Graders] = None

    @property
    def chat(self) -> Chat:
        """Chat completions with tuned and base models."""
        if self._chat is None:
            from ftsim.simulator.inference.chat import Chat

            with self.lock:
                self._chat = self._chat or Chat(self)
        return self._chat

    @property
    def responses(self) -> Responses:
        """The Responses API with tuned and base models."""
        if self._responses is None:
            from ftsim.simulator.inference.responses import Responses

            with self.lock:
                self._responses = self._responses or Responses(self)
        return self._responses

    @property
    def graders(self) -> Graders:
        """Grader validation and runs (`/v1/fine_tuning/alpha/graders`, RFT jobs)."""
        if self._graders is None:
            from ftsim.simulator.graders.graders import Graders

            with self.lock:
                self._graders = self._graders or Graders(self)
        return self._graders

    # -- time ---------------------------------------------------------------------------------------

    def now(self) -> int:
        """The simulated present (Unix seconds)."""
        return self.clock.now()

    def _pending(self, now: int, tenant: Tenant | None = None) -> bool:
        return now != self._clock_saved or self.jobs.is_due(now, tenant.key if tenant is not None else None)

    def sync_pending(self, tenant: Tenant | None = None) -> bool:
        """Whether `sync()` has work to do (the clock moved since it was stored, or a service has something due).

        Without the lock, so that an event loop asking never waits for a worker thread's commit. A sync under way
        elsewhere stores the clock only once its transaction has committed, so a "no" means its work is visible;
        a read that races a change answers "yes", and `sync()` then checks again under the lock.
        """
        try:
            return self._pending(self.clock.now(), tenant)
        except RuntimeError:  # the schedule changed size while being read
            return True

    def sync(self, tenant: Tenant | None = None) -> int:
        """Catch every service up to the present; returns the present. With `tenant` (a request's catch-up), other
        tenants' jobs whose files wait for their scan are left to them (see `FineTuningJobs.sync`).

        Its own step, never inside a request's transaction: each job moves in its own transaction (see
        `FineTuningJobs.sync`), then the clock is stored in another; in-memory state follows each commit. Fast path:
        when the stored clock is the present and nothing is due, no transaction and no SQLite round trip.
        """
        now = self.clock.now()
        if not self._pending(now, tenant):
            return now
        if self.store.in_transaction():
            raise RuntimeError("Backend.sync() inside a transaction: catch up before opening one")
        self.jobs.sync(now, tenant.key if tenant is not None else None)
        with self.lock, self.store.transaction():
            stored = self.store.meta_get("clock")
            if stored is None or stored < now:
                self.store.meta_set("clock", now)
                stored = now
                self._save_micros()
            saved = stored
            self.store.after_commit(lambda: setattr(self, "_clock_saved", saved))
        return now

    def _room_micros(self) -> int:
        micros = getattr(self.clock, "micros", None)  # a manual clock's present to the microsecond
        present = micros() if callable(micros) else self.clock.now() * _MICRO
        return max(0, CLOCK_END * _MICRO - present)

    def clock_room(self) -> int | float:
        """Seconds the clock may still move: up to its end, `CLOCK_END` (a float when the manual clock stands between
        two seconds). Measured from the clock's exact present, not its whole second: from 0.25 s past a second, the
        whole-second room used to let the clock stop 0.25 s past CLOCK_END, so that the same total move was
        accepted in two steps and refused in one (the world differed with how the clock was advanced)."""
        whole, micros = divmod(self._room_micros(), _MICRO)
        return whole if micros == 0 else whole + micros / _MICRO

    def advance(self, seconds: float) -> int:
        """Move the clock forward by `seconds`, then catch up (400 past the clock's end, `CLOCK_END`)."""
        room = self.clock_room()
        # A float this large cannot say its last microseconds (the room itself, 2.5e11 s, is one): within that
        # slack, a move of `clock_room()` seconds is taken as the move to the end it stands for.
        slack = math.floor(math.ulp(seconds) * _MICRO) if seconds > 0 else 0  # 0 below about 8.6e9 s
        requested, left = to_micros(seconds), self._room_micros()
        if requested - slack > left:
            raise BadRequestError(f"The simulated clock ends on {MAX_AS_OF.isoformat()}: it can move {room:,} "
                                  "seconds more at most.", param="seconds")
        exact = getattr(self.clock, "advance_micros", None)
        if requested > left and callable(exact):
            exact(left)  # to the end exactly, not the slack past it
        else:
            self.clock.advance(seconds)
        now = self.sync()
        micros = getattr(self.clock, "micros", None)
        if callable(micros) and self.store.meta_get(_CLOCK_MICROS) != micros():  # a move within the second too
            with self.lock, self.store.transaction():
                self._save_micros()
        return now

    def _save_micros(self) -> None:
        """Store the manual clock's present to the microsecond (in the caller's transaction), beside the whole
        second in `clock`: a restart carries on from it (the fraction is kept only while it agrees with `clock`).
        A fraction moved by `clock.advance` alone, not `Backend.advance`, is stored with the next second only."""
        micros = getattr(self.clock, "micros", None)
        if callable(micros):
            self.store.meta_set(_CLOCK_MICROS, micros())

    # -- ids and tenants ----------------------------------------------------------------------------

    def new_id(self, prefix: str, length: int = 24, *, hex: bool = False, tenant: str) -> str:
        """A new seeded id of `tenant` (a tenant's key); its counter is persisted in the caller's transaction.

        Each tenant has its own counter, so that one tenant's ids never depend on what other tenants did before
        (the same seed and the same requests of a tenant give it the same ids, however they interleave with
        others'). Ids of different tenants differ since the tenant is hashed in. The counter is read from the store
        each time, never kept in memory: a transaction that rolls back (a storage fault, a refused request) takes
        its ids back, as a restart on the same file would.
        """
        key = f"id_counter:{tenant}"
        with self.lock:
            n = int(self.store.meta_get(key, 0)) + 1
            self.store.meta_set(key, n)
        return mint(self.config.seed, prefix, n, length, hex=hex, scope=tenant)

    def tenant(self, api_key: str) -> Tenant:
        """The tenant an API key belongs to."""
        return self.tenancy.resolve(api_key)

    # -- reset --------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything: an empty world with the same seed, config and clock."""
        with self.lock:
            # The boot count stays, in the wipe's own transaction (request ids stay unique across a later restart):
            # written after it, a failure there left the rows wiped and everything below still the old world's.
            self.store.wipe(keep=("boots",))
            self._clock_saved = None  # wiped with the rest: the next sync() stores it again
            self.jobs.reset()
            self.faults.reset()
            if self._chat is not None:  # its learned tables are keyed by file id, and ids restart now
                self._chat.reset()

    def close(self) -> None:
        """Release the store."""
        self.store.close()
