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
the WAL file's own directory entry is durable too.

Writers of several processes (a server's workers) take turns through an advisory file lock
(`flock` on `<log>-writer.lock`) around each transaction: the kernel hands the lock over the
moment it is released, where SQLite's busy handler would poll with sleeps of up to 100 ms.

The write transaction itself runs in a child process, `sqlite_committer.py` (its docstring says
why: the interpreter lock). This module builds the statements; migrations and every read stay
in this process. A committer that dies is started again for the next batch, and the writer's
retry path finds out whether the batch it was given got committed. A batch it finds committed
is acknowledged (durable mode) only after the writer fsyncs the WAL itself (`make_durable`):
the committer may have died between COMMIT and its fsync. A committer whose fsync failed says
so (`SyncFailed`), and that is never retried into a success (see `NotDurable`).

Readers: SQLite keeps whatever bytes it was given as TEXT, and Python's sqlite3 fails the whole
query on one value that is not UTF-8. The readers that walk every row (verify, replay) decode
text themselves, turning such a value into `NotUtf8` (the row is then unreadable, one finding);
the API's page reads keep the faster built-in decoding and read the page again that way only
when it fails.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from replygate.decision_log.backend import (
    COLUMNS,
    FILTER_INDEXES,
    POSITION_INDEXES,
    SCHEMA_VERSION,
    NotDurable,
    NotUtf8,
    SqlBackend,
    load_json,
    refuse_newer,
    schema_version,
    show,
    wrong,
)
from replygate.decision_log.chain import StoredRow
from replygate.decision_log.records import DecisionLogError
from replygate.decision_log.sqlite_committer import (
    BUSY_TIMEOUT,
    SYNC_FAILED,
    read_message,
    write_message,
)

__all__ = ["SqliteBackend", "sqlite_path"]

SYNC_PRAGMA = "NORMAL"  # durable mode adds its own fsync of the WAL after each commit
COMMITTER = Path(__file__).resolve().with_name("sqlite_committer.py")
COMMITTER_EXIT_WAIT = 10.0  # seconds for a closed committer to finish its last transaction

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
    2: [
        "ALTER TABLE decisions ADD COLUMN position INTEGER",
        # The rows so far in the order they were inserted: their commit order.
        "UPDATE decisions SET position = rowid",
        # SQLite cannot add NOT NULL to a column: a writer of schema 1 still running (stop them
        # all before upgrading) fails loudly here instead of adding rows no page shows.
        """CREATE TRIGGER decisions_need_a_position BEFORE INSERT ON decisions
            WHEN NEW.position IS NULL
            BEGIN SELECT RAISE(ABORT,
                'a replygate older than decision-log schema 2 is writing to this log: upgrade it');
            END""",
        *POSITION_INDEXES,
    ],
}

_COLUMNS = len(COLUMNS)
MAX_INTEGRITY_LINES = 20  # of SQLite's integrity check, each a finding; one is enough to fail
_ROWS_PER_STATEMENT = 500  # 7,500 parameters: below SQLite's limit of 32,766


@functools.lru_cache(maxsize=64)
def _insert_sql(table: str, width: int, count: int) -> str:
    if table != "decisions":
        row = "(" + ", ".join("?" * width) + ")"
        return f"INSERT INTO {table} (rule, decision_id) VALUES " + ", ".join([row] * count)
    # The next positions after the highest stored: the subquery is evaluated once a statement,
    # and the writers' transactions take turns (file lock, BEGIN IMMEDIATE), so positions
    # follow the commit order; the unique index would refuse any other outcome.
    values = ", ".join("?" * width)
    rows = ", ".join(
        f"({values}, (SELECT coalesce(max(position), 0) FROM decisions) + {k})"
        for k in range(1, count + 1)
    )
    return f"INSERT INTO decisions ({', '.join(COLUMNS)}, position) VALUES {rows}"


def _decode(data: bytes) -> str | NotUtf8:
    """A TEXT value as str, or NotUtf8 when its bytes are not UTF-8 (a text_factory)."""
    try:
        return data.decode()
    except UnicodeDecodeError:
        return NotUtf8(data)


def _undecodable(error: sqlite3.Error) -> bool:
    """Whether sqlite3 failed to decode a TEXT value (its message is the only sign)."""
    return "Could not decode to UTF-8" in str(error)


@contextlib.contextmanager
def _decoding(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """The connection with `_decode` as its text_factory, the built-in one afterwards.

    A Python call per TEXT value (about 1 µs a row more): worth it for the walks over every
    row, which must go on past a value that is not UTF-8.
    """
    conn.text_factory = _decode
    try:
        yield conn
    finally:
        conn.text_factory = str


def _not_a_log(error: sqlite3.DatabaseError) -> bool:
    """Whether an error reading schema_version means the file is no replygate log at all."""
    if error.sqlite_errorname == "SQLITE_NOTADB":  # "file is not a database"
        return True
    return str(error).startswith("no such table: schema_version")


def _table_names(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(name) for (name,) in rows}


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
    keeps_json_text = True
    # INTEGER is only an affinity: the column keeps a fraction, text or a blob it is given.
    misplaced_position = "position IS NOT NULL AND (typeof(position) != 'integer' OR position < 1)"

    def __init__(self, url: str, *, readonly: bool) -> None:
        self.path = sqlite_path(url)
        if readonly and not self.path.is_file():
            raise DecisionLogError(f"no decision log at {self.path}")
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

    def _writer(self) -> Committer:
        return Committer(self.path, durable=self.durable)

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
            stored = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
            current = 0 if stored is None else schema_version(stored)
            if current is None:
                raise DecisionLogError(
                    f"the decision log {self.path} is damaged: its schema_version table holds "
                    f"{show(stored)}, not a version number (`replygate audit verify` checks it)"
                )
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

    def _stored_version(self) -> Any:
        with self._pool.connection() as conn, _decoding(conn):
            try:
                return conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
            except sqlite3.DatabaseError as error:
                if not _not_a_log(error):
                    raise  # locked, unreadable, damaged: a log, maybe, that cannot be read now
                if self._has_decisions(conn):
                    raise DecisionLogError(
                        f"the decision log {self.path} is damaged: its schema_version table is "
                        "gone, but its decisions table is there: it was edited"
                    ) from None
                raise DecisionLogError(
                    f"{self.path} is not a replygate decision log ({error})"
                ) from None

    @staticmethod
    def _has_decisions(conn: sqlite3.Connection) -> bool:
        try:
            return "decisions" in _table_names(conn)
        except sqlite3.DatabaseError:  # not a database at all
            return False

    def explain(self, error: BaseException) -> str:
        # A reader of a WAL log needs its -shm file, and creates it when it is missing; in a
        # folder it may not write, SQLite says only "attempt to write a readonly database"
        # (no -wal file either) or "unable to open database file" (a -wal file of its own).
        name = getattr(error, "sqlite_errorname", None) or ""
        shm = Path(f"{self.path}-shm")
        if (name.startswith("SQLITE_READONLY") or name == "SQLITE_CANTOPEN") and not shm.exists():
            return (
                f"{error} (SQLite must create {shm} beside a WAL log, and cannot here: copy the "
                "log, with its -wal file if there is one, to a folder you can write, and verify "
                "the copy)"
            )
        return str(error)

    def has_positions(self) -> bool:
        with self._pool.connection() as conn:
            found = conn.execute(
                "SELECT 1 FROM pragma_table_info('decisions') WHERE name = 'position'"
            ).fetchone()
        return found is not None

    def _tables(self) -> set[str]:
        with self._pool.connection() as conn:
            return _table_names(conn)

    def _insert(self, conn: Committer, rows: list[StoredRow]) -> None:
        values: list[Any] = []
        rules: list[str] = []
        for row in rows:
            item = row.record
            values.extend(row.columns(item.time))
            for rule in item.rules:
                rules += (rule, item.decision_id)
        # Multi-row INSERTs in chunks: a few statements a batch whatever its size.
        conn.run(
            [
                (_insert_sql("decisions", _COLUMNS, len(chunk) // _COLUMNS), chunk)
                for chunk in _chunks(values, _COLUMNS)
            ]
            + [
                (_insert_sql("decision_rules", 2, len(chunk) // 2), chunk)
                for chunk in _chunks(rules, 2)
            ]
        )

    def _time_param(self, text: str) -> Any:
        return text

    def _time_text(self, value: Any) -> str:
        if not isinstance(value, str):
            raise wrong("decided_at", value, "a time")
        return value

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            return super()._rows(sql, params)
        except sqlite3.OperationalError as error:
            if not _undecodable(error):
                raise
        # A value that is not UTF-8 (rare: altered in the database): read again, decoding it
        # ourselves, so the row reads as altered instead of failing the whole page.
        with self._pool.connection() as conn, _decoding(conn):
            return [tuple(values) for values in conn.execute(sql, params)]

    def make_durable(self) -> None:
        """fsync the WAL, the database and their folder from this process; NotDurable if not.

        After a commit whose outcome was unknown: the committer may have died between its
        COMMIT and its fsync, leaving the frames in the page cache. A descriptor opened now is
        told of a writeback error nobody has been told of yet, so this fsync either makes them
        durable or fails. (A committer that died after its own fsync failed, before it could
        answer, took that error with it: a window of one system call.)
        """
        if not self.durable:
            return
        names = [f"{self.path}-wal", str(self.path), str(self.path.resolve().parent)]
        try:
            for name in names:
                try:
                    fd = os.open(name, os.O_RDONLY)
                except FileNotFoundError:
                    continue  # no WAL: the last connection checkpointed it (and synced that)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as error:
            raise NotDurable(f"the fsync of {self.path} failed: {error}") from None

    def _json(self, value: Any) -> Any:
        return load_json(value)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Any]:
        # The walks over every row (verify, replay) read through a snapshot: decode ourselves.
        with self._pool.connection() as conn, _decoding(conn):
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def structure_findings(self, conn: Any) -> list[str]:
        # verify walks the chains through the (writer_id, seq) index; the audit pages, filters
        # and replay read through the others. With `PRAGMA writable_schema` anyone who can
        # write the file can swap in a copy of an index that lacks a row: a forged record the
        # pages serve and the walk never reads, or a genuine one the pages no longer list.
        # integrity_check compares every index with its table (quick_check does not); on a
        # 200,000-record log it costs about 2 s of verify's 30.
        lines = conn.execute(f"PRAGMA integrity_check({MAX_INTEGRITY_LINES})").fetchall()
        shown = [
            line.decode(errors="replace") if isinstance(line, bytes) else str(line)
            for (line,) in lines
        ]
        if shown == ["ok"]:
            return []
        return [
            f"altered: the file's indexes or pages do not match its tables, so verify and the "
            f"audit pages may read different records (SQLite's integrity check: {line})"
            for line in shown
        ]

    def stream(
        self, conn: Any, sql: str, params: tuple[Any, ...] = ()
    ) -> Iterator[tuple[Any, ...]]:
        cursor = conn.execute(sql, params)
        while True:
            chunk = cursor.fetchmany(1000)
            if not chunk:
                return
            yield from chunk


class Committer:
    """The parent's end of a `sqlite_committer.py` process: one write transaction per `run`."""

    def __init__(self, path: Path, *, durable: bool) -> None:
        mode = "durable" if durable else "async"
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(COMMITTER), str(path), mode],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                close_fds=True,
            )
        except OSError as error:
            raise sqlite3.OperationalError(f"cannot start the SQLite committer: {error}") from None

    @property
    def pid(self) -> int:
        """The committer's process id (for operators and tests)."""
        return self._process.pid

    def run(self, statements: list[tuple[str, list[Any]]]) -> None:
        """Commit the statements in one transaction; sqlite3.Error when that did not happen.

        A committer that exits mid-way leaves the outcome unknown, as a broken connection
        would: the caller looks the batch up before trying again.
        """
        process = self._process
        if process.stdin is None or process.stdout is None:  # pragma: no cover - Popen(PIPE)
            raise sqlite3.OperationalError("the SQLite committer has no pipes")
        try:
            write_message(process.stdin, statements)
            answer = read_message(process.stdout)
        except (OSError, EOFError, ValueError):
            code = process.poll()
            raise sqlite3.OperationalError(
                "the SQLite committer stopped" + ("" if code is None else f" (exit status {code})")
            ) from None
        if answer is not None:
            kind, message = answer
            if kind == SYNC_FAILED:
                raise NotDurable(message)
            raise sqlite3.OperationalError(f"{message} ({kind})")

    def close(self) -> None:
        """End the committer after its current transaction (closing its input ends it)."""
        process = self._process
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            process.wait(COMMITTER_EXIT_WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
