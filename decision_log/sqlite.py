"""The decision log in an SQLite file (`sqlite:///relative.db`, `sqlite:////absolute.db`).

WAL mode, so readers (audit queries, verify) never block the writer and the writer never blocks
them; a busy timeout, so several writers (replicas on one machine, two logs in one process)
take turns instead of failing.

Durability. Async mode: `synchronous=NORMAL`; a commit survives a crash of the process, a power
cut may lose the last batches (as it would lose the queue anyway). Durable mode (the server's
default): every commit is on stable storage before the writer acknowledges it, which is what
`synchronous=FULL` gives, but done so that writers do not queue behind each other's fsync. With
FULL, SQLite fsyncs the WAL while it holds the database's one write lock, so the workers of a
server pay their fsyncs one after the other (measured: 5-8 ms each here, the whole budget). So
the transaction commits with NORMAL (its WAL frames written, not yet synced), the write lock is
released, and then the writer fsyncs the WAL file itself and only then acknowledges. That is as
durable: recovery after a power cut replays every WAL frame up to the last synced commit, and a
checkpoint that runs in between syncs the WAL before it copies it (SQLite's NORMAL rule) and
the database file after, so frames it moved are durable too. One fsync then often covers the
commits of both workers. The WAL's folder is fsynced once, after the writer's first commit, so
the WAL file's own directory entry is durable too. `PRAGMA synchronous=FULL` (DURABLE_PRAGMA)
is kept for the test that compares the two.

Writers of several processes (a server's workers) take turns through an advisory file lock
(`flock` on `<log>-writer.lock`) around each transaction: the kernel hands the lock over the
moment it is released, where SQLite's busy handler would poll with sleeps of up to 100 ms.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from replygate.decision_log.backend import (
    COLUMNS,
    FILTER_INDEXES,
    SCHEMA_VERSION,
    SqlBackend,
    load_json,
    refuse_newer,
)
from replygate.decision_log.chain import StoredRow
from replygate.decision_log.records import DecisionLogError

__all__ = ["SqliteBackend", "sqlite_path"]

BUSY_TIMEOUT = 10.0
SYNC_PRAGMA = "NORMAL"  # durable mode adds its own fsync of the WAL after each commit

MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE decisions (
            decision_id   TEXT PRIMARY KEY,
            decided_at    TEXT NOT NULL,
            client        TEXT NOT NULL,
            request       TEXT NOT NULL,
            decision      TEXT NOT NULL,
            policy_commit TEXT,
            policy_ref    TEXT,
            latency_ms    REAL NOT NULL,
            redacted      TEXT NOT NULL,
            writer_id     TEXT NOT NULL,
            seq           INTEGER NOT NULL,
            prev_hash     TEXT NOT NULL,
            hash          TEXT NOT NULL,
            actor         TEXT,
            outcome       TEXT,
            UNIQUE (writer_id, seq)
        )""",
        *FILTER_INDEXES,
        """CREATE TABLE decision_rules (
            rule        TEXT NOT NULL,
            decision_id TEXT NOT NULL,
            PRIMARY KEY (rule, decision_id)
        ) WITHOUT ROWID""",
    ],
}

_COLUMNS = len(COLUMNS)
_ROWS_PER_STATEMENT = 500  # 7,500 parameters: below SQLite's limit of 32,766


@functools.lru_cache(maxsize=64)
def _insert_sql(table: str, width: int, count: int) -> str:
    names = ", ".join(COLUMNS) if table == "decisions" else "rule, decision_id"
    row = "(" + ", ".join("?" * width) + ")"
    return f"INSERT INTO {table} ({names}) VALUES " + ", ".join([row] * count)


def _rows(flat: list[Any], width: int) -> list[tuple[Any, ...]]:
    return [tuple(flat[start : start + width]) for start in range(0, len(flat), width)]


def _chunks(flat: list[Any], width: int) -> list[list[Any]]:
    step = width * _ROWS_PER_STATEMENT
    return [flat[start : start + step] for start in range(0, len(flat), step)]


def sqlite_path(url: str) -> Path:
    """The file an `sqlite:///…` URL names (three slashes: relative, four: absolute)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ValueError(
            f"decision log URL '{url}': write sqlite:///relative/file.db or "
            "sqlite:////absolute/file.db"
        )
    path = url[len(prefix) :]
    if path == ":memory:":
        raise ValueError(
            f"decision log URL '{url}': an in-memory database would lose the log; name a file"
        )
    return Path(path)


class SqliteBackend(SqlBackend):
    """The decision log in one SQLite file."""

    driver_errors = (sqlite3.Error,)

    def __init__(self, url: str, *, readonly: bool) -> None:
        self.path = sqlite_path(url)
        if readonly and not self.path.is_file():
            raise DecisionLogError(f"no decision log at {self.path}")
        self._lock_fd: int | None = None
        self._wal_fd: int | None = None  # durable mode: the WAL file of the writer's connection
        super().__init__(url, readonly=readonly)

    @property
    def where(self) -> str:
        return str(self.path)

    def _connect(self, *, readonly: bool) -> sqlite3.Connection:
        try:
            if readonly:
                uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
                conn = sqlite3.connect(
                    uri,
                    uri=True,
                    timeout=BUSY_TIMEOUT,
                    isolation_level=None,
                    check_same_thread=False,
                )
            else:
                conn = sqlite3.connect(
                    self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
                )
                conn.execute(f"PRAGMA synchronous = {SYNC_PRAGMA}")
        except sqlite3.Error as error:
            raise DecisionLogError(f"cannot open the decision log {self.path}: {error}") from None
        return conn

    def _reader(self) -> sqlite3.Connection:
        return self._connect(readonly=True)

    def _writer(self) -> sqlite3.Connection:
        if self._lock_fd is None:
            lock = f"{self.path}-writer.lock"
            try:
                self._lock_fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:
                raise DecisionLogError(f"cannot open the writer lock {lock}: {error}") from None
        return self._connect(readonly=False)

    def close(self) -> None:
        super().close()
        for fd in (self._lock_fd, self._wal_fd):
            if fd is not None:
                os.close(fd)
        self._lock_fd = self._wal_fd = None

    def _drop_writer(self) -> None:
        super()._drop_writer()
        # A new connection may find a new WAL file (the old one is removed when the last
        # connection closes): open it again after its first commit.
        fd, self._wal_fd = self._wal_fd, None
        if fd is not None:
            os.close(fd)

    def _sync_wal(self) -> None:
        """fsync the WAL (durable mode), after the transaction released the write lock."""
        if self._wal_fd is None:
            wal = f"{self.path}-wal"
            self._wal_fd = os.open(wal, os.O_RDONLY)
            folder = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        os.fdatasync(self._wal_fd)  # releases the GIL while the disk works

    def migrate(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DecisionLogError(f"cannot create the folder of {self.path}: {error}") from None
        conn = self._connect(readonly=False)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0
            refuse_newer(current, self.where)
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
            if current != SCHEMA_VERSION:
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise DecisionLogError(f"cannot set up the decision log {self.path}: {error}") from None
        finally:
            conn.close()

    def check_schema(self) -> None:
        with self._pool.connection() as conn:
            try:
                row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            except sqlite3.DatabaseError as error:
                raise DecisionLogError(
                    f"{self.path} is not a replygate decision log ({error})"
                ) from None
        refuse_newer(int(row[0] or 0), self.where)

    def _insert(self, conn: sqlite3.Connection, rows: list[StoredRow]) -> None:
        values: list[Any] = []
        rules: list[str] = []
        for row in rows:
            item = row.record
            values.extend(row.columns(item.time))
            for rule in item.rules:
                rules += (rule, item.decision_id)
        # Durable mode (small batches, a check waiting on each): one multi-row INSERT per table
        # and chunk, because the sqlite3 module releases and retakes the GIL around every
        # statement step, and each retake can wait a whole switch interval behind the event
        # loop. Async mode (batches of hundreds, nobody waiting): executemany, which lets the
        # event loop in between rows and measured faster there (2,525 against 2,230 req/s).
        if self.durable:
            statements = [
                (_insert_sql("decisions", _COLUMNS, len(chunk) // _COLUMNS), chunk)
                for chunk in _chunks(values, _COLUMNS)
            ] + [
                (_insert_sql("decision_rules", 2, len(chunk) // 2), chunk)
                for chunk in _chunks(rules, 2)
            ]
        else:
            statements = []
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)  # releases the GIL while it waits
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    conn.execute(sql, params)
                if not self.durable:
                    conn.executemany(_insert_sql("decisions", _COLUMNS, 1), _rows(values, _COLUMNS))
                    conn.executemany(_insert_sql("decision_rules", 2, 1), _rows(rules, 2))
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
        finally:
            if self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        if self.durable:
            self._sync_wal()

    def _time_param(self, text: str) -> Any:
        return text

    def _time_text(self, value: Any) -> str:
        return str(value)

    def _json(self, value: Any) -> Any:
        return load_json(value)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Any]:
        with self._pool.connection() as conn:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def stream(
        self, conn: Any, sql: str, params: tuple[Any, ...] = ()
    ) -> Iterator[tuple[Any, ...]]:
        cursor = conn.execute(sql, params)
        while True:
            chunk = cursor.fetchmany(1000)
            if not chunk:
                return
            yield from chunk
