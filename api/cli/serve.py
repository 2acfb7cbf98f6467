"""`ftsim serve`: run the OpenAI-compatible server on the embedded SQLite default."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sqlite3
import threading
import time
from pathlib import Path

from ftsim.api.cli import CliError, check_small_file

DEFAULT_DB = ".ftsim/ftsim.db"


# The fastest clock: a million simulated seconds (11.6 days) per real second. ftsim's choice: a faster one runs
# the simulated calendar past year 9999 (timestamps no longer convert to dates) within days of serving.
MAX_SPEED = 1_000_000.0
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def _rate(text: str) -> float:
    """A non-negative finite number (argparse reports anything else as a usage error, one line)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def _speed(text: str) -> float:
    """--speed: a finite number from 0 to MAX_SPEED."""
    value = _rate(text)
    if value > MAX_SPEED:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SPEED:,.0f}, got {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `serve` subcommand."""
    p = sub.add_parser("serve", help="serve the simulator (OpenAI-compatible API under /v1)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--db", default=DEFAULT_DB, help=f"SQLite file (default {DEFAULT_DB}; ':memory:' for throwaway state)")
    p.add_argument("--durability", choices=["process", "full"], default="process",
                   help="process (default): what was answered survives the server being killed; "
                        "full: also survives power loss (fsync on every write; uploads take ~1.7x as long)")
    p.add_argument("--speed", type=_speed, default=60.0,
                   help=f"simulated seconds per real second, 0 to {MAX_SPEED:,.0f} (default 60; 0: manual clock)")
    p.add_argument("--seed", type=int, default=0, help="seed of ids and loss curves (default 0)")
    p.add_argument("--keys", help="JSON file mapping API keys to organizations and projects (and, for the wind-down, "
                   "fine_tuned_before / last_fine_tuned_inference per organization); an org_id starting with "
                   "'azure-' makes the key an Azure OpenAI account (api-key header or Entra token)")
    p.add_argument("--strict-keys", action="store_true",
                   help="accept only the keys in --keys FILE; any other key answers 401 invalid_api_key")
    p.add_argument("--lifecycle", choices=["warn", "enforce", "ignore"], default="warn",
                   help="retired models, for training and inference: warn (default), enforce (refuse like the live API), ignore")
    p.add_argument("--max-concurrent-jobs", type=int, default=3, help="simultaneous jobs per model per organization (default 3)")
    p.add_argument("--enable-python-graders", action="store_true", help="allow python graders (runs user code)")
    p.add_argument("--developer-preemption", type=_rate, default=0.0, metavar="PER_HOUR",
                   help="Azure Developer-tier training is preempted (paused, then resumed by itself) this many "
                        "times per training hour on average, seeded (default 0: never)")
    p.add_argument("--catalog", help="price catalog JSON (default: the bundled newest)")
    p.add_argument("--sim-key", default=os.environ.get("FTSIM_SIM_KEY"),
                   help="require this key on /_sim (header x-ftsim-sim-key or Authorization: Bearer); "
                        "default $FTSIM_SIM_KEY")
    p.add_argument("--unsafe-open-control-plane", action="store_true",
                   help="allow a non-loopback --host without --sim-key: anyone who reaches the port can reset "
                        "the world and inject faults")
    p.add_argument("--log-level", choices=LOG_LEVELS, default="warning", help="server log level (default warning)")
    p.add_argument("--open", action="store_true", help="open the web console (/) in the default browser")
    p.set_defaults(handler=run)


def build_backend(args: argparse.Namespace):
    """The backend `serve` runs, from its arguments."""
    from ftsim.api.cli.compare import load_catalog_arg
    from ftsim.simulator.core.backend import Backend, SimConfig
    from ftsim.simulator.core.clock import ScaledClock
    from ftsim.simulator.core.store import Store, StoreError
    from ftsim.simulator.core.tenancy import load_keys

    if args.speed < 0:
        raise CliError("--speed must be >= 0", code=2)
    if not 0 < args.port < 65536:
        raise CliError(f"--port must be between 1 and 65535, got {args.port}", code=2)
    if args.max_concurrent_jobs < 1:
        raise CliError(f"--max-concurrent-jobs must be >= 1, got {args.max_concurrent_jobs}", code=2)
    check_control_plane(args)
    if args.strict_keys and not args.keys:
        raise CliError("--strict-keys needs --keys FILE (the keys to accept)", code=2)
    keys = {}
    if args.keys:
        check_small_file(args.keys, "keys file")
        try:
            keys = load_keys(args.keys)
        except ValueError as exc:
            raise CliError(str(exc), code=2) from None
    if args.db != ":memory:":
        try:
            Path(args.db).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CliError(f"cannot create the database folder for {args.db}: {exc}") from None
    config = SimConfig(
        seed=args.seed,
        lifecycle=args.lifecycle,
        max_concurrent_jobs_per_model=args.max_concurrent_jobs,
        python_graders=args.enable_python_graders,
        developer_preemption=args.developer_preemption,
        keys=keys,
        strict_keys=args.strict_keys,
    )
    catalog = load_catalog_arg(args.catalog)
    try:
        store = Store(args.db, durability=args.durability)
        persisted = store.meta_get("clock")
    except StoreError as exc:
        raise CliError(str(exc)) from None
    except (sqlite3.Error, OSError) as exc:
        raise CliError(f"cannot open the database {args.db}: {exc}") from None
    # A new world starts at wall-clock time; an existing one resumes from its persisted clock, ahead or behind.
    start = time.time() if persisted is None else persisted
    try:
        return Backend(store=store, clock=ScaledClock(start, args.speed), catalog=catalog, config=config)
    except (StoreError, sqlite3.Error, OSError) as exc:  # e.g. the disk filled up while the world was set up
        store.close()
        raise CliError(f"cannot start on the database {args.db}: {exc}") from None


def is_loopback(host: str) -> bool:
    """Whether `host` only reaches this machine (localhost, 127.0.0.0/8, ::1)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def check_control_plane(args: argparse.Namespace) -> None:
    """Refuse to expose an open /_sim (reset, clock, faults) beyond this machine unless told so in as many words."""
    if args.sim_key is not None and not args.sim_key.strip():
        raise CliError("--sim-key must not be empty", code=2)
    if args.sim_key or is_loopback(args.host) or args.unsafe_open_control_plane:
        return
    raise CliError(
        f"refusing to listen on {args.host} with an open control plane: anyone who reaches the port could reset "
        "every tenant's data through /_sim; pass --sim-key KEY (or --unsafe-open-control-plane)",
        code=2,
    )


def preload_encodings(backend) -> None:
    """Load every tokenizer the catalog uses before serving (a missing one stops here with one line).

    Loading takes about a second; done lazily, the first job validation would hold the backend lock meanwhile.
    """
    from ftsim.pricing.dataset.tokenizer import get_encoding

    for name in sorted({entry.tokenizer for entry in backend.catalog.fine_tunable()}):
        get_encoding(name)


def console_url(host: str, port: int) -> str:
    """The console's address for a browser (a wildcard bind is reached on loopback)."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def open_when_listening(url: str, host: str, port: int, *, attempts: int = 300) -> threading.Thread:
    """Open `url` in the default browser once the port accepts connections (a daemon thread; gives up quietly
    after `attempts` tries 0.1 s apart, e.g. when the port was taken)."""
    import socket
    import webbrowser

    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)

    def wait_then_open() -> None:
        for _ in range(attempts):
            try:
                with socket.create_connection((target, port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            return
        webbrowser.open(url)

    thread = threading.Thread(target=wait_then_open, name="ftsim-open-console", daemon=True)
    thread.start()
    return thread


def check_listenable(host: str, port: int) -> None:
    """CliError (one line) when `host:port` cannot be bound: a taken port, a host that is not this machine's.

    uvicorn reports a failed bind itself (its own log line, exit 3) after ftsim has announced the address, so the
    address is tried here first, with uvicorn's SO_REUSEADDR; the probe socket is closed before uvicorn binds.
    """
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:  # socket.gaierror included
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    """Start uvicorn on the backend."""
    import uvicorn

    from ftsim.api.http.app import create_app

    backend = build_backend(args)  # its usage checks (port range, control plane) come before the bind probe
    try:
        check_listenable(args.host, args.port)
    except CliError:
        backend.close()
        raise
    preload_encodings(backend)
    app = create_app(backend, sim_key=args.sim_key, bound_host=args.host)
    guard = "/_sim needs the sim key" if args.sim_key else "/_sim open"
    print(f"ftsim: serving on http://{args.host}:{args.port}/v1 (db {args.db}, speed {args.speed:g}x, {guard})",
          flush=True)
    print(f"ftsim: console on {console_url(args.host, args.port)}", flush=True)
    if getattr(args, "open", False):
        open_when_listening(console_url(args.host, args.port), args.host, args.port)
    if not args.sim_key and not is_loopback(args.host):
        print("ftsim: WARNING: /_sim is open to anyone who can reach this port (--unsafe-open-control-plane)",
              flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.log_level in ("info", "debug", "trace"))
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    finally:
        backend.close()
    return 0
