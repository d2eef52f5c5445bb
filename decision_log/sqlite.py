"""The decision log in an SQLite file (`sqlite:///relative.db`, `sqlite:////absolute.db`).

WAL mode, so readers (audit queries, verify) never block the writer and the writer never blocks
them; a busy timeout, so several writers (replicas on one machine, two logs in one process)
take turns instead of failing. Durable mode (the server's default) sets `synchronous=FULL`:
each commit is fsynced before the writer acknowledges it, so it survives a power cut too.
Async mode keeps `synchronous=NORMAL`: a commit survives a crash of the process; a power cut
may lose the last batches, as it would lose the queue anyway.

Writers of several processes (a server's workers) take turns through an advisory file lock
(`flock` on `<log>-writer.lock`) around each transaction: the kernel hands the lock over the
moment it is released, where SQLite's busy handler would poll with sleeps of up to 100 ms.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from replygate.decision_log.backend import (
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

_INSERT = (
    "INSERT INTO decisions (decision_id, decided_at, client, request, decision, policy_commit, "
    "policy_ref, latency_ms, redacted, writer_id, seq, prev_hash, hash, actor, outcome) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_RULE = "INSERT INTO decision_rules (rule, decision_id) VALUES (?, ?)"


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
                sync = "FULL" if self.durable else "NORMAL"
                conn.execute(f"PRAGMA synchronous = {sync}")
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
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)

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
        values = []
        rules: list[tuple[str, str]] = []
        for row in rows:
            item = row.record
            values.append(row.columns(item.time))
            rules.extend((rule, item.decision_id) for rule in item.rules)
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)  # releases the GIL while it waits
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(_INSERT, values)
                conn.executemany(_INSERT_RULE, rules)
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
        finally:
            if self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

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
