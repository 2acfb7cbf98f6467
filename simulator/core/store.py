"""The store: embedded SQLite, every acknowledged write committed before the answer goes out.

One `objects` table holds every resource as a JSON document keyed by (kind, tenant, id), with an insertion
sequence for stable ordering and an optional parent (a job's events, a checkpoint's permissions). A `meta`
table holds the persisted clock and id counter. File bytes live on disk beside the database.

Two durabilities. `process` (the default): WAL with synchronous=NORMAL and no fsync of file bytes; everything
acknowledged survives the server being killed (kill -9, OOM, Ctrl-C), since it is in the operating system's hands
before the answer goes out. `full`: WAL with synchronous=FULL and every file fsynced before its row commits; it
also survives power loss and kernel crashes; an upload then takes about 1.7 times as long, waiting on the disk.

Storage faults never lose an acknowledged write: a write that SQLite refuses (disk full, read-only file, I/O
error, corrupt page) rolls back and raises `StorageFault`, which the HTTP layer answers with a 503. Two faults are
permanent for the process and refuse every later write: a database file deleted or replaced while ftsim runs
(its device and inode are compared before each write: writes to the orphaned inode would vanish at the next
stop) and a corrupt database. A new store runs SQLite's `quick_check` and a write probe before it is used.
"""

from __future__ import annotations

import json
import logging
import re
import os
import shutil
import sqlite3
import tempfile
import itertools
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

__all__ = ["Store", "Spool", "StoreError", "StorageFault", "DURABILITIES", "SCHEMA_VERSION"]

DURABILITIES = ("process", "full")
_log = logging.getLogger("ftsim.store")
# The layout of the tables and of the documents in them; bump it when an older ftsim could misread a newer database.
SCHEMA_VERSION = 1
BLOB_KINDS = ("file", "upload_part")  # the kinds whose rows own bytes on disk, named by the row's id (`blob_path`)
# A stored document's JSON text: what `json.dumps(doc, separators=(",", ":"), allow_nan=False)` gives, from one
# encoder built once (json.dumps builds a new one per call when given options; a flow test stores ~100 documents).
# The encoder keeps no state between calls, so threads may share it.
_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]+")  # ids as minted: used as they are, no per-character filtering

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    parent TEXT,
    data TEXT NOT NULL,
    UNIQUE (kind, tenant, id)
);
CREATE INDEX IF NOT EXISTS objects_list ON objects (kind, tenant, parent, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class StoreError(Exception):
    """A database ftsim must not open: another program's, one from a newer ftsim, or one another process has open."""


class StorageFault(StoreError):
    """The database cannot take a write now (disk full, read-only, I/O error) or any more (deleted, corrupt)."""


# SQLite's primary result codes (the extended ones share their low byte) that mean the storage, not ftsim, failed
_FAULTS = {
    13: "the disk holding the database is full",  # SQLITE_FULL
    8: "the database is read-only",  # SQLITE_READONLY
    10: "the disk returned an I/O error",  # SQLITE_IOERR
    14: "the database file cannot be opened",  # SQLITE_CANTOPEN
    5: "the database is busy",  # SQLITE_BUSY
    6: "the database is locked",  # SQLITE_LOCKED
}
_ABORTED = ("the database rolled back the transaction after a storage error (full disk, I/O error): "
            "nothing of it was written")
_CORRUPT = {11: "the database is corrupt", 26: "the database file is not a database"}  # SQLITE_CORRUPT, NOTADB


def _blob_names(tenant: str, id: str) -> tuple[str, str]:
    """(folder, file name) of the bytes of `tenant`'s file `id` under the blob folder (names never from user input)."""
    safe_id = id if _SAFE_NAME.fullmatch(id) else ("".join(c for c in id if c.isalnum() or c in "-_") or "f")
    return "".join(c for c in tenant if c.isalnum() or c in "-_") or "t", safe_id


def _remover(path: Path, placed: tuple[int, int]) -> Callable[[], None]:
    """Delete `path` if it is still the file `placed` (device, inode) names: not one renamed over it since."""

    def remove() -> None:
        try:
            now = path.stat()
        except FileNotFoundError:
            return
        if (now.st_dev, now.st_ino) == placed:
            path.unlink(missing_ok=True)

    return remove


def storage_fault(exc: BaseException) -> StorageFault | None:
    """The StorageFault an sqlite3 error stands for, or None when it is not the storage's fault (a bug)."""
    if isinstance(exc, StorageFault):
        return exc
    if not isinstance(exc, sqlite3.DatabaseError) or isinstance(exc, (sqlite3.IntegrityError, sqlite3.ProgrammingError)):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else -1
    text = str(exc)
    if primary in _CORRUPT or "malformed" in text or "not a database" in text:
        return StorageFault(f"{_CORRUPT.get(primary, 'the database is corrupt')} ({text})")
    if primary in _FAULTS:
        return StorageFault(f"{_FAULTS[primary]} ({text})")
    if "disk is full" in text or "readonly" in text or "disk I/O" in text:
        return StorageFault(text)
    return None


class _Guarded:
    """The SQLite connection, with every storage error turned into a StorageFault (and corruption remembered)."""

    __slots__ = ("_conn", "_store")

    def __init__(self, conn: sqlite3.Connection, store: "Store") -> None:
        self._conn = conn
        self._store = store

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.DatabaseError as exc:
            raise self._store._fault(exc)

    def executemany(self, sql: str, params: Any) -> sqlite3.Cursor:
        try:
            return self._conn.executemany(sql, params)
        except sqlite3.DatabaseError as exc:
            raise self._store._fault(exc)

    def executescript(self, script: str) -> sqlite3.Cursor:
        try:
            return self._conn.executescript(script)
        except sqlite3.DatabaseError as exc:
            raise self._store._fault(exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class Store:
    """SQLite-backed document store shared by every service of one backend."""

    def __init__(self, path: str | Path = ":memory:", *, blob_dir: Path | None = None,
                 durability: str = "process") -> None:
        if durability not in DURABILITIES:
            raise ValueError(f"durability must be one of {DURABILITIES}, got {durability!r}")
        self.durability = durability
        self.path = str(path)
        self.memory = self.path == ":memory:"
        self._tmp: str | None = None
        if self.memory:
            self._tmp = tempfile.mkdtemp(prefix="ftsim-blobs-")
            self.blob_dir = Path(blob_dir or self._tmp)
        else:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self.blob_dir = Path(blob_dir or (Path(self.path).parent / (Path(self.path).name + ".files")))
        self._owner = None if self.memory else _own(self.path)  # one process per database: held until close()
        self.failure: str | None = None  # set once writes must be refused for good (deleted or corrupt database)
        try:
            self._conn = _Guarded(sqlite3.connect(self.path, check_same_thread=False, isolation_level=None), self)
        except BaseException:
            _release(self._owner)
            raise
        self._lock = threading.RLock()
        self._depth = 0
        self._after: list[Callable[[], None]] = []  # run once the open transaction commits; dropped on rollback
        self._undo: list[Callable[[], None]] = []  # run if the open transaction (or savepoint) rolls back
        try:
            self._refuse_foreign()  # before any pragma or table touches someone else's database
            if not self.memory:
                self._check_integrity()
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=" + ("FULL" if durability == "full" else "NORMAL"))
            self._conn.executescript(_SCHEMA)
            self._check_schema_version()
            self._identity = None if self.memory else _identity(self.path)
            self._probe_write()
        except BaseException:
            self._conn.close()
            _release(self._owner)
            raise
        self._folders: dict[str, Path] = {}
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self._keep_private()
        if self.durability == "full":
            _fsync_dir(self.blob_dir.parent)
        self._sweep_spools()
        if not self.memory:
            self._sweep_orphans()

    def _fault(self, exc: sqlite3.DatabaseError) -> BaseException:
        """What to raise for an sqlite3 error: a StorageFault (remembering corruption for good), else the error."""
        fault = storage_fault(exc)
        if fault is None:
            return exc
        if "corrupt" in str(fault) or "not a database" in str(fault):
            self.failure = self.failure or f"{fault}: writes are refused; restore a backup or start on another --db"
        fault.__cause__ = exc
        return fault

    def _check_integrity(self) -> None:
        """Refuse (StorageFault) a database whose pages SQLite finds damaged."""
        rows = self._conn.execute("PRAGMA quick_check").fetchall()
        problems = [row[0] for row in rows if row[0] != "ok"]
        if problems:
            first = " ".join(problems[0].split())[:200]  # one line: SQLite's report spans many
            raise StorageFault(f"{self.path} is corrupt (SQLite quick_check: {first}); restore a backup or "
                               "start on another --db")

    def _probe_write(self) -> None:
        """Refuse (StorageFault) a database that cannot be written: read-only, immutable, or on a full disk."""
        with self.transaction():
            self._conn.execute("INSERT INTO meta (key, value) VALUES ('write_probe', '1') "
                               "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            self._conn.execute("DELETE FROM meta WHERE key = 'write_probe'")

    def _check_write(self) -> None:
        """Before a write (call under the lock): outside a transaction, `check_writable`; inside one, refuse once
        SQLite has rolled it back by itself (after a full disk or an I/O error it may): the write would otherwise
        run on its own, committed at once, outside the transaction it belongs to (whose caller may have caught the
        first error, as the catch-up does for one job)."""
        if not self._depth:
            self.check_writable()
        elif not self._conn.in_transaction:
            raise StorageFault(_ABORTED)

    def check_writable(self) -> None:
        """Raise StorageFault when writes must be refused: a past fatal fault, or the database file deleted or
        replaced behind ftsim's back (a write would land in an orphaned inode and vanish at the next stop)."""
        if self.failure is not None:
            raise StorageFault(self.failure)
        if self.memory or self._identity is None:
            return
        try:
            now = _identity(self.path)
        except OSError:
            now = None
        if now != self._identity:
            self.failure = (f"the database file {self.path} was deleted or replaced while ftsim ran: writes are "
                            "refused so that nothing is acknowledged and then lost; restart ftsim")
            raise StorageFault(self.failure)

    def _keep_private(self) -> None:
        """Make the database (SQLite gives its -wal and -shm files the same mode) and the file bytes readable by
        this user only: other accounts, python graders running as nobody among them, must not read tenants' data."""
        targets = [(self.blob_dir, 0o700)]
        if not self.memory:
            targets += [(Path(self.path + suffix), 0o600) for suffix in ("", "-wal", "-shm", ".lock")]
        for path, mode in targets:
            try:
                if path.stat().st_uid == os.geteuid():
                    path.chmod(mode)
            except OSError:  # not ours to change (a shared folder): left as it is
                pass

    def _refuse_foreign(self) -> None:
        """Raise StoreError for a database that holds tables but not ftsim's (never write into it)."""
        tables = {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        tables.discard("sqlite_sequence")
        if tables and not {"objects", "meta"} <= tables:
            raise StoreError(f"{self.path} is not an ftsim database (it holds the tables {', '.join(sorted(tables))})")

    def _check_schema_version(self) -> None:
        """Stamp a new database with SCHEMA_VERSION; refuse one written by a newer ftsim (StoreError)."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:  # a new database, or one from before versions were stamped (the same layout)
            self._conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                               (json.dumps(SCHEMA_VERSION),))
            return
        try:
            found = int(json.loads(row[0]))
        except (ValueError, TypeError):
            raise StoreError(f"{self.path}: unreadable store schema version {row[0]!r}") from None
        if found > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer ftsim (store schema {found}); this one reads "
                             f"schema {SCHEMA_VERSION} and older. Upgrade ftsim, or use another --db.")

    # -- transactions -------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block in one transaction (nested blocks join the outer one)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self.check_writable()
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                self._after.clear()
                try:
                    self._rollback()
                finally:
                    self._run_undo(0)
                raise
            self._depth = 0
            if not self._conn.in_transaction:  # SQLite rolled it back after an error someone caught: nothing to commit
                self._after.clear()
                self._run_undo(0)
                raise StorageFault(_ABORTED)
            try:
                self._conn.execute("COMMIT")
            except BaseException:  # e.g. the disk filled up at commit: nothing of it was acknowledged
                self._after.clear()
                try:
                    self._rollback()
                finally:
                    self._run_undo(0)
                raise
            self._undo.clear()  # committed: what was written beside the rows is theirs for good
            after, self._after = self._after, []
            for hook in after:  # still under the lock: hooks of successive commits run in commit order
                hook()

    def _rollback(self) -> None:
        """Roll back the open transaction, if SQLite has not already done so (it may, after a failed write)."""
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except StorageFault:
                pass

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested part of the open transaction that rolls back alone (with its after-commit hooks) if it raises."""
        with self._lock:
            if not self._depth:
                raise RuntimeError("savepoint() outside a transaction")
            self._check_write()  # a SAVEPOINT with no transaction open would start one of its own
            name = f"ftsim_sp{self._depth}"
            self._conn.execute(f"SAVEPOINT {name}")
            mark, undo_mark = len(self._after), len(self._undo)
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                del self._after[mark:]
                if self._conn.in_transaction:  # else SQLite rolled the whole transaction back: nothing to undo here
                    self._conn.execute(f"ROLLBACK TO {name}")
                    self._conn.execute(f"RELEASE {name}")
                self._run_undo(undo_mark)  # the savepoint's own writes beside the rows (the rest: the transaction's)
                raise
            self._depth -= 1
            self._conn.execute(f"RELEASE {name}")

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run `hook` once the open transaction commits (never if it rolls back); at once outside a transaction.

        In-memory state derived from rows (a schedule, a cached clock) changes here, so it never disagrees with
        what is committed.
        """
        with self._lock:
            if self._depth:
                self._after.append(hook)
                return
        hook()

    def on_rollback(self, undo: Callable[[], None]) -> None:
        """Run `undo` if the open transaction, or the savepoint open now, rolls back (dropped once it commits): how
        a write outside SQLite made for a row (a blob renamed into place) goes with the row. Must be called inside
        a transaction."""
        with self._lock:
            if not self._depth:
                raise RuntimeError("on_rollback() outside a transaction")
            self._undo.append(undo)

    def _run_undo(self, mark: int) -> None:
        """Run the undo hooks registered since `mark`, newest first; one that fails is logged, the others still run
        (the rollback itself is already done: what is left behind is at worst an orphan, never a lost row)."""
        undo, self._undo = self._undo[mark:], self._undo[:mark]
        for hook in reversed(undo):
            try:
                hook()
            except Exception:  # noqa: BLE001
                _log.exception("could not undo a write beside a rolled-back transaction")

    def in_transaction(self) -> bool:
        """Whether the calling thread has a transaction open (the lock is reentrant: only the owner gets past it)."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            return self._depth > 0
        finally:
            self._lock.release()

    # -- documents ----------------------------------------------------------------------------------

    def put(self, kind: str, tenant: str, id: str, data: dict, *, parent: str | None = None) -> None:
        """Insert or replace a document; a replace keeps its original position in listings."""
        # allow_nan=False: NaN or an infinity is not JSON, and one stored makes SQLite's JSON functions call the
        # whole database malformed (every tenant's writes refused); a ValueError fails only the request at fault
        text = _dumps(data)
        with self._lock:
            self._check_write()
            self._conn.execute(
                "INSERT INTO objects (kind, tenant, id, parent, data) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (kind, tenant, id) DO UPDATE SET data = excluded.data, parent = excluded.parent",
                (kind, tenant, id, parent, text),
            )

    def put_many(self, kind: str, tenant: str, docs: list[dict], *, parent: str | None = None) -> None:
        """`put` for several documents of one kind and parent (their `id` keys), in one statement."""
        if not docs:
            return
        dumps = _dumps
        rows = [(kind, tenant, doc["id"], parent, dumps(doc)) for doc in docs]
        with self._lock:
            self._check_write()
            self._conn.executemany(
                "INSERT INTO objects (kind, tenant, id, parent, data) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (kind, tenant, id) DO UPDATE SET data = excluded.data, parent = excluded.parent",
                rows,
            )

    def get(self, kind: str, tenant: str, id: str) -> dict | None:
        """The document, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT data FROM objects WHERE kind = ? AND tenant = ? AND id = ?", (kind, tenant, id)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def exists(self, kind: str, tenant: str, id: str) -> bool:
        """Whether the document exists (without decoding it)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM objects WHERE kind = ? AND tenant = ? AND id = ?", (kind, tenant, id)
            ).fetchone()
        return row is not None

    def page_text(
        self, kind: str, tenant: str, *, parent: str | None = None, after: str | None = None, limit: int = 20
    ) -> tuple[list[str], bool]:
        """Like `page` (newest first, no filter) but the documents' stored JSON text, undecoded; (texts, has_more)."""
        with self._lock:
            query = self._page_query(kind, tenant, parent, after, desc=True)
            if query is None:
                return [], False
            sql, args = query
            texts = [r[1] for r in self._conn.execute(sql + " LIMIT ?", [*args, limit + 1]).fetchall()]
        return texts[:limit], len(texts) > limit

    def _page_query(
        self, kind: str, tenant: str, parent: str | None, after: str | None, *, desc: bool, by: str | None = None
    ) -> tuple[str, list[Any]] | None:
        """The ordered `SELECT seq, data` of a page after `after` (call under the lock); None for an unknown cursor.

        `by`: a JSON path (e.g. `$.created_at`) ordering the documents first, insertion order breaking ties."""
        sql = "SELECT seq, data FROM objects WHERE kind = ? AND tenant = ?"
        args: list[Any] = [kind, tenant]
        if parent is not None:
            sql += " AND parent = ?"
            args.append(parent)
        cmp, way = ("<", "DESC") if desc else (">", "ASC")
        if after is not None:  # a cursor outside this list (another parent's item) is unknown: empty page
            row = self._conn.execute(
                "SELECT seq" + (", json_extract(data, ?)" if by else "")
                + " FROM objects WHERE kind = ? AND tenant = ? AND id = ?"
                + (" AND parent = ?" if parent is not None else ""),
                ((by,) if by else ()) + (kind, tenant, after) + ((parent,) if parent is not None else ()),
            ).fetchone()
            if row is None:
                return None
            if by:
                sql += (f" AND (json_extract(data, ?) {cmp} ? OR (json_extract(data, ?) = ? AND seq {cmp} ?))")
                args += [by, row[1], by, row[1], row[0]]
            else:
                sql += f" AND seq {cmp} ?"
                args.append(row[0])
        if by:
            sql += f" ORDER BY json_extract(data, ?) {way}, seq {way}"
            args.append(by)
            return sql, args
        return sql + f" ORDER BY seq {way}", args

    def delete(self, kind: str, tenant: str, id: str) -> bool:
        """Remove a document; True if it existed."""
        with self._lock:
            self._check_write()
            cur = self._conn.execute("DELETE FROM objects WHERE kind = ? AND tenant = ? AND id = ?", (kind, tenant, id))
        return cur.rowcount > 0

    def delete_children(self, kind: str, tenant: str, parent: str) -> int:
        """Remove every `kind` document under `parent` (e.g. a pruned checkpoint's permissions); how many."""
        with self._lock:
            self._check_write()
            cur = self._conn.execute("DELETE FROM objects WHERE kind = ? AND tenant = ? AND parent = ?",
                                     (kind, tenant, parent))
        return cur.rowcount

    def page(
        self,
        kind: str,
        tenant: str,
        *,
        parent: str | None = None,
        after: str | None = None,
        limit: int = 20,
        order: str = "desc",
        where: Callable[[dict], bool] | None = None,
        by: str | None = None,
    ) -> tuple[list[dict], bool]:
        """One page in insertion order ("desc": newest first) after the item `after`; (items, has_more). `by`: a
        JSON path ordering the documents first (insertion order then breaks ties)."""
        with self._lock:
            query = self._page_query(kind, tenant, parent, after, desc=order == "desc", by=by)
            if query is None:
                return [], False
            sql, args = query
            if where is None:
                sql += " LIMIT ?"
                args.append(limit + 1)
                rows = self._conn.execute(sql, args).fetchall()
                items = [json.loads(r[1]) for r in rows]
            else:
                items = []
                for _, text in self._conn.execute(sql, args):
                    doc = json.loads(text)
                    if where(doc):
                        items.append(doc)
                        if len(items) > limit:
                            break
        return items[:limit], len(items) > limit

    def scan(self, kind: str, tenant: str | None = None, *, parent: str | None = None) -> Iterator[tuple[str, dict]]:
        """Every (tenant, document) of a kind, in insertion order."""
        sql = "SELECT tenant, data FROM objects WHERE kind = ?"
        args: list[Any] = [kind]
        if tenant is not None:
            sql += " AND tenant = ?"
            args.append(tenant)
        if parent is not None:
            sql += " AND parent = ?"
            args.append(parent)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY seq ASC", args).fetchall()
        for t, text in rows:
            yield t, json.loads(text)

    def locate(self, kind: str, id: str) -> tuple[str, dict] | None:
        """(tenant, document) of the first stored document of a kind with this id, whichever its tenant (ids are
        minted unique across tenants); None when there is none. One query: no other document is decoded."""
        with self._lock:
            row = self._conn.execute("SELECT tenant, data FROM objects WHERE kind = ? AND id = ? ORDER BY seq LIMIT 1",
                                     (kind, id)).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def count_where(self, kind: str, tenant: str, *, equal: tuple[str, Any],
                    not_in: tuple[str, Iterable[Any]] = ("$.id", ())) -> int:
        """How many of a tenant's documents have JSON path `equal[0]` equal to `equal[1]` and path `not_in[0]`
        outside `not_in[1]`: counted by SQLite, without decoding each document in Python."""
        excluded = list(not_in[1])
        sql = ("SELECT COUNT(*) FROM objects WHERE kind = ? AND tenant = ? AND json_extract(data, ?) = ?"
               + (f" AND json_extract(data, ?) NOT IN ({', '.join('?' * len(excluded))})" if excluded else ""))
        args: list[Any] = [kind, tenant, equal[0], equal[1]] + ([not_in[0], *excluded] if excluded else [])
        with self._lock:
            return int(self._conn.execute(sql, args).fetchone()[0])

    def count(self, kind: str, tenant: str | None = None) -> int:
        """How many documents of a kind (for one tenant, or all)."""
        sql, args = "SELECT COUNT(*) FROM objects WHERE kind = ?", [kind]
        if tenant is not None:
            sql += " AND tenant = ?"
            args.append(tenant)
        with self._lock:
            return int(self._conn.execute(sql, args).fetchone()[0])

    # -- meta ---------------------------------------------------------------------------------------

    def meta_get(self, key: str, default: Any = None) -> Any:
        """A persisted setting (JSON value), or `default`."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def meta_set(self, key: str, value: Any) -> None:
        """Persist a setting (JSON value)."""
        with self._lock:
            self._check_write()
            self._conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    # -- blobs --------------------------------------------------------------------------------------

    def blob_path(self, tenant: str, id: str) -> Path:
        """Where the bytes of file `id` live (the name never comes from user input; the folder exists)."""
        return self._folder(tenant) / _blob_names(tenant, id)[1]

    def _folder(self, tenant: str) -> Path:
        """The tenant's blob folder, created on first use (remembered: one mkdir per tenant, not per file)."""
        folder = self._folders.get(tenant)
        if folder is None:
            folder = self.blob_dir / _blob_names(tenant, "")[0]
            if not folder.is_dir():
                folder.mkdir(parents=True, exist_ok=True)
                if self.durability == "full":
                    _fsync_dir(self.blob_dir)
            if len(self._folders) >= 4096:
                self._folders.clear()
            self._folders[tenant] = folder
        return folder

    def spool_file(self, tenant: str, *, prefix: str = ".spool-", limit: int | None = None,
                   too_large: Exception | None = None) -> "Spool":
        """A new temporary file beside the tenant's blobs, to be written chunk by chunk (see `Spool`)."""
        return Spool(self._folder(tenant), prefix, limit, too_large, fsync=self.durability == "full")

    def spool(self, tenant: str, chunks: Iterable[bytes], *, prefix: str = ".spool-", limit: int | None = None,
              too_large: Exception | None = None) -> tuple[Path, int]:
        """Stream chunks into a temporary file beside the tenant's blobs (fsynced when durability is full); (path, size).

        Past `limit` bytes it raises `too_large` and leaves nothing behind; the caller renames the file into place
        (os.replace) and commits its row, so an acknowledged file is never half-written.
        """
        spool = self.spool_file(tenant, prefix=prefix, limit=limit, too_large=too_large)
        try:
            for chunk in chunks:
                spool.write(chunk)
            return spool.finish()
        except BaseException:
            spool.discard()
            raise

    def adopt(self, spool_path: Path, dest: Path) -> None:
        """Rename a finished spool into place, inside the transaction that commits its row (with full durability
        the rename is synced). If that transaction (or the savepoint open now) rolls back, the bytes go with it.

        The rename comes before the commit, never after: a commit then a failed or interrupted rename would leave a
        committed row without its bytes. A rollback removes the file it renamed, and only that one (same inode), so
        that nothing is left behind that no row names; a process killed between the rename and the commit leaves
        the bytes of a row that never was, swept when the store opens again (`_sweep_orphans`)."""
        with self._lock:
            os.replace(spool_path, dest)
            if self.durability == "full":
                _fsync_dir(dest.parent)
            if not self._depth:
                return
            st = dest.stat()
            self.on_rollback(_remover(dest, (st.st_dev, st.st_ino)))

    def _sweep_spools(self) -> None:
        """Delete spools a killed process left half-written (their names start with a dot; blob names never do).

        Run when the store opens, holding the database's lock file: no other process is writing a spool then.
        """
        for leftover in self.blob_dir.glob("*/.*"):
            leftover.unlink(missing_ok=True)

    def _sweep_orphans(self) -> None:
        """Delete blobs no row names: the bytes of a file or part renamed into place by a process killed before the
        transaction recording them committed (`adopt`). Run when the store opens, holding the database's lock file
        and before any transaction: no rename is then waiting for its commit."""
        named = {_blob_names(tenant, id) for tenant, id in self._conn.execute(
            f"SELECT tenant, id FROM objects WHERE kind IN ({','.join('?' * len(BLOB_KINDS))})", BLOB_KINDS)}
        for blob in self.blob_dir.glob("*/*"):
            if not blob.name.startswith(".") and blob.is_file() and (blob.parent.name, blob.name) not in named:
                blob.unlink(missing_ok=True)

    def delete_blob(self, tenant: str, id: str) -> None:
        """Remove a file's bytes, if present."""
        self.blob_path(tenant, id).unlink(missing_ok=True)

    # -- lifecycle ----------------------------------------------------------------------------------

    def wipe(self, *, keep: tuple[str, ...] = ()) -> None:
        """Delete every document, setting (but `keep`'s) and blob (POST /_sim/reset).

        Spools being written (dot names) and the folders holding them stay: an upload under way when the world is
        reset lands in the new world, as if it had arrived just after the reset. Once the rows' deletion commits,
        a blob that cannot be deleted is left behind (a new file of the same id replaces it): it raises only when
        nothing was deleted, so that a caller resetting state in memory too does so exactly when the rows went.
        """
        kept = ("schema_version", *keep)  # the layout is still this one
        with self.transaction():
            self._conn.execute("DELETE FROM objects")
            self._conn.execute(f"DELETE FROM meta WHERE key NOT IN ({', '.join('?' * len(kept))})", kept)
        for blob in self.blob_dir.glob("*/*"):
            if not blob.name.startswith(".") and blob.is_file():
                try:
                    blob.unlink(missing_ok=True)
                except OSError:
                    pass

    def close(self) -> None:
        """Close the connection (and drop the temporary blob dir of an in-memory store)."""
        with self._lock:
            self._conn.close()
        _release(self._owner)
        self._owner = None
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


class Spool:
    """A temporary file being written: `write` chunks, then `finish` ((path, size); fsynced if asked) or `discard`.

    Past `limit` bytes `write` discards the file and raises `too_large`. The caller renames a finished spool into
    place (os.replace) and commits its row, so an acknowledged file is never half-written.
    """

    _names = itertools.count()
    _FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)

    def __init__(self, folder: Path, prefix: str, limit: int | None, too_large: Exception | None, *,
                 fsync: bool = True) -> None:
        while True:  # a process-unique name (a quarter of mkstemp's cost); O_EXCL still refuses any clash
            name = f"{folder}{os.sep}{prefix}{os.getpid()}-{next(self._names)}"
            try:
                fd = os.open(name, self._FLAGS, 0o600)
                break
            except FileExistsError:
                continue
        self._fsync = fsync
        self.path = Path(name)
        self.size = 0
        self._fd: int | None = fd
        self._limit = limit
        self._too_large = too_large

    @property
    def syncs(self) -> bool:
        """Whether `finish` waits on the disk (an fsync)."""
        return self._fsync

    def write(self, chunk: bytes) -> None:
        """Append a chunk (refused past the limit)."""
        fd = self._open_fd()
        self.size += len(chunk)
        if self._limit is not None and self.size > self._limit:
            self.discard()
            raise self._too_large or ValueError(f"over the limit of {self._limit} bytes")
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view):]

    def finish(self) -> tuple[Path, int]:
        """Close the file, its bytes flushed to disk first when asked; (path, size)."""
        fd, self._fd = self._open_fd(), None
        try:
            if self._fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        return self.path, self.size

    def _open_fd(self) -> int:
        if self._fd is None:
            raise ValueError(f"spool {self.path.name} is already finished or discarded")
        return self._fd

    def discard(self) -> None:
        """Close and delete the file (idempotent; a no-op for a file already renamed into place)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.path.unlink(missing_ok=True)


def _own(path: str) -> Any:
    """Take the database's lock file (`<db>.lock`, an exclusive flock) or raise StoreError if another process has it.

    The operating system drops the lock when the process dies, kill -9 included. Where flock does not exist
    (Windows) nothing is locked.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Linux
        return None
    handle = open(path + ".lock", "a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StoreError(f"{path} is in use by another ftsim process (it holds {path}.lock)") from None
    return handle


def _identity(path: str) -> tuple[int, int]:
    """The (device, inode) of a file: another pair means another file now has that name."""
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _release(handle: Any) -> None:
    """Give the lock file back (closing it releases the flock)."""
    if handle is not None:
        handle.close()


def _fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename or a new file in it) to disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
