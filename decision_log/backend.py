"""What the writer, the queries and `verify` need from a database, once for SQLite and PostgreSQL.

`SqlBackend` holds everything both databases share: the query builder, keyset pagination, the
chain walk, the reader-connection pool. A subclass (sqlite.py, postgres.py) says how to connect,
how times and JSON travel, which DDL creates the schema, and how a batch goes in (one
transaction per batch).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from replygate.decision_log.chain import StoredRow, canonical, record_hash, storable
from replygate.decision_log.records import DecisionLogError, DecisionRecord, format_time, parse_time

__all__ = [
    "COLUMNS",
    "TABLES",
    "Filters",
    "NotDurable",
    "NotUtf8",
    "RawRow",
    "SchemaDamaged",
    "SqlBackend",
    "Unreadable",
    "UnreadableRow",
    "decode_cursor",
    "encode_cursor",
    "show",
]

SCHEMA_VERSION = 2
COLUMNS = (
    "decision_id",
    "decided_at",
    "client",
    "request",
    "decision",
    "policy_commit",
    "policy_ref",
    "latency_ms",
    "redacted",
    "writer_id",
    "seq",
    "prev_hash",
    "hash",
    "actor",
    "outcome",
)
TABLES = ("decisions", "decision_rules")  # besides schema_version
_HEX = re.compile(r"[0-9a-f]{4,40}")
_READERS = 4


_INDEX_NAMES = {"policy_commit": "commit"}
# The audit filters' indexes of schema 1, the same on every database (schema 2 replaces them).
FILTER_INDEXES = (
    "CREATE INDEX decisions_by_time ON decisions (decided_at, decision_id)",
    "CREATE INDEX decisions_by_actor ON decisions (actor, decided_at, decision_id)",
    "CREATE INDEX decisions_by_outcome ON decisions (outcome, decided_at, decision_id)",
    "CREATE INDEX decisions_by_client ON decisions (client, decided_at, decision_id)",
    "CREATE INDEX decisions_by_commit ON decisions (policy_commit, decided_at, decision_id)",
)


# Schema 2: audit pages follow `position`, the order in which records were committed (every
# writer takes the next numbers inside its serialised insert), no longer the decision time. With
# several writers a record decided earlier can commit later; by time, a page already read could
# not show it, and an export that resumed from its last record never saw it.
POSITION_INDEXES = (
    "CREATE UNIQUE INDEX decisions_by_position ON decisions (position)",
    *(
        statement
        for column in ("actor", "outcome", "client", "policy_commit")
        for statement in (
            f"DROP INDEX decisions_by_{_INDEX_NAMES.get(column, column)}",
            f"CREATE INDEX decisions_by_{_INDEX_NAMES.get(column, column)} "
            f"ON decisions ({column}, position)",
        )
    ),
)


@dataclass(frozen=True)
class Filters:
    """What `query` narrows by; `since` inclusive, `until` exclusive."""

    actor: str | None = None
    outcome: str | None = None
    rule: str | None = None
    commit: str | None = None
    client: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class UnreadableRow(ValueError):
    """A stored row whose columns do not hold what replygate writes: altered in the database.

    The message says which column and what it holds (`its seq column holds 4.5, not a whole
    number`); `verify` reports the row as altered, `replay` skips it and counts it.
    """


class NotDurable(Exception):
    """A commit that happened but could not be made durable: its fsync failed.

    Not retryable: after a failed fsync Linux may have dropped the dirty pages and reports the
    error once, so a second fsync can succeed without the data being on disk. The writer fails
    the records (they are stored, never acknowledged as durable) and acknowledges nothing more.
    """


class NotUtf8:
    """A TEXT value whose bytes are not UTF-8 (altered in the database), as a reader gets it.

    SQLite stores whatever bytes it is given as TEXT; Python's sqlite3 would fail the whole
    query on such a value. Readers that must walk on (verify, replay) get this instead, and the
    row reads as `UnreadableRow`.
    """

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"NotUtf8({self.data!r})"


class SchemaDamaged(DecisionLogError):
    """A replygate decision log whose schema was tampered with: a table gone, no version number.

    `findings` are `verify` findings (`removed: the table decisions is gone …`); `missing` names
    the tables that are gone; `version` is the schema version, if it can be read. Every other
    reader just fails with the message.
    """

    def __init__(
        self, where: str, findings: list[str], missing: frozenset[str], version: int | None = None
    ) -> None:
        super().__init__(
            f"the decision log {where} is damaged: {'; '.join(findings)} "
            "(`replygate audit verify` reports it)"
        )
        self.findings = findings
        self.missing = missing
        self.version = version  # the schema version, when the table still holds one


@dataclass(frozen=True)
class Unreadable:
    """A stored row `scan` cannot read back (UnreadableRow): replay skips it and counts it."""

    decision_id: str
    reason: str


def show(value: Any) -> str:
    """A stored value as a message quotes it: text in JSON quotes, NULL, a blob by its size."""
    if value is None:
        return "NULL"
    if isinstance(value, NotUtf8):
        return show(value.data.decode("utf-8", "backslashreplace")) + " (not UTF-8)"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"a blob of {len(value)} bytes"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 80 else text[:77] + '…"'
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def wrong(column: str, value: Any, expected: str) -> UnreadableRow:
    """The error for a column that does not hold what replygate writes there."""
    if isinstance(value, NotUtf8):
        shown = show(value.data.decode("utf-8", "backslashreplace"))
        return UnreadableRow(f"its {column} column holds text that is not UTF-8: {shown}")
    return UnreadableRow(f"its {column} column holds {show(value)}, not {expected}")


def _text(column: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    raise wrong(column, value, "text")


def _optional_text(column: str, value: Any) -> str | None:
    return None if value is None else _text(column, value)


def _whole(column: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise wrong(column, value, "a whole number")


def _number(column: str, value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise wrong(column, value, "a number")


def schema_version(value: Any) -> int | None:
    """The stored schema version as a number; None when it is none (the table was altered)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    return None


@dataclass(slots=True)
class RawRow:
    """A stored row as read back: times as text, JSON parsed, for verify and records."""

    decision_id: str
    time: str
    client: str
    request: Any
    decision: Any
    commit: str | None
    ref: str | None
    latency_ms: float
    redacted: Any
    writer_id: str
    seq: int
    prev_hash: str
    hash: str
    actor: str | None
    outcome: str | None
    # The request, decision and redacted columns' text as stored, where the database keeps it
    # (SQLite); None where it stores the parsed value (PostgreSQL's JSONB normalises it).
    texts: tuple[str, str, str] | None = None

    def hashed_texts(self) -> tuple[str, str, str]:
        """The request, decision and redacted JSON the record's hash covers: canonical text.

        The writer stores exactly this text (SQLite): stored text that differs from it parses
        to the same values but is not what was written (`verify` compares the two).
        """
        return storable(self.request), storable(self.decision), canonical(self.redacted)

    def digest(self, texts: tuple[str, str, str], key: bytes | None) -> str:
        """The hash of the record over `texts` (`hashed_texts()`), keyed when `key` is given."""
        request, decision, redacted = texts
        return record_hash(
            self.writer_id,
            self.seq,
            self.decision_id,
            self.time,
            self.client,
            request,
            decision,
            self.commit,
            self.ref,
            self.latency_ms,
            redacted,
            self.prev_hash,
            key,
        )

    def record(self) -> DecisionRecord:
        """The row as a DecisionRecord (trusted: it was validated on the way in).

        UnreadableRow when its time is no time: the API answers that as the log's fault, where
        a bare ValueError would read as a bad parameter of the client's.
        """
        try:
            time = parse_time(self.time)
        except ValueError:
            raise wrong("decided_at", self.time, "a time") from None
        return DecisionRecord.model_construct(
            decision_id=self.decision_id,
            time=time,
            client=self.client,
            request=self.request,
            decision=self.decision,
            commit=self.commit,
            ref=self.ref,
            latency_ms=self.latency_ms,
            writer_id=self.writer_id,
            seq=self.seq,
            prev_hash=self.prev_hash,
            hash=self.hash,
            redacted=list(self.redacted) if isinstance(self.redacted, list) else [],
        )


_CURSOR = re.compile(r"position:([1-9][0-9]{0,18})")


def encode_cursor(position: int) -> str:
    """An opaque cursor for the page after the record committed at `position`."""
    return base64.urlsafe_b64encode(f"position:{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The position a cursor continues after, or ValueError naming the cursor."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        found = _CURSOR.fullmatch(base64.urlsafe_b64decode(padded).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        found = None
    if found is None or int(found.group(1)) >= 2**63:  # beyond what the column holds
        raise ValueError("cursor: not a cursor of this decision log")
    return int(found.group(1))


class _Pool:
    """A few reader connections shared by the threads that query (the API's thread pool)."""

    def __init__(
        self, connect: Callable[[], Any], alive: Callable[[Any], bool], size: int = _READERS
    ) -> None:
        self._connect = connect
        self._alive = alive
        self._size = size
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        with self._lock:
            if self._closed:
                raise DecisionLogError("the decision log is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is not None and not self._alive(conn):
            # The server ended it while it waited (a restart, an idle timeout): the query
            # would fail once, a 503 for nothing.
            with contextlib.suppress(Exception):
                conn.close()
            conn = None
        if conn is None:
            conn = self._connect()
        try:
            yield conn
        except BaseException:
            # A connection that saw an error may be in any state: never hand it out again.
            with contextlib.suppress(Exception):
                conn.close()
            raise
        with self._lock:
            if not self._closed and len(self._idle) < self._size:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                conn.close()


class SqlBackend(ABC):
    """One decision-log database; thread-safe for readers, one writer connection per instance."""

    placeholder = "?"
    #: exceptions of the driver that mean "the database said no", for clean messages
    driver_errors: tuple[type[BaseException], ...] = ()
    #: whether the JSON columns read back as the very text the writer stored (RawRow.texts)
    keeps_json_text = False
    #: an SQL condition true for a stored position that is not a whole number from 1 (NULL
    #: aside): the API's cursors hold only those, so a page walk stops at any other. A BIGINT
    #: column (PostgreSQL) holds whole numbers only; SQLite's INTEGER column holds any value.
    misplaced_position = "position < 1"
    #: how a query selects a column, where not by its name: a driver that parses a column's
    #: values itself may fail on a stored one (psycopg on a JSONB nested 5,000 deep or a
    #: timestamp of 'infinity'), and it fails the whole query, so such a column comes as text
    #: and `row` parses it, where a bad value is one `UnreadableRow`. Aliased: a cast named
    #: like its column would take that column's place in an ORDER BY.
    column_sql: dict[str, str] = {}

    def __init__(self, url: str, *, readonly: bool) -> None:
        self.url = url
        self.readonly = readonly
        # Durable acknowledgement: every commit of the writer reaches stable storage before it
        # returns (SQLite synchronous=FULL, PostgreSQL synchronous_commit=on).
        self.durable = False
        self._pool = _Pool(self._reader, self._alive)
        self._writer_conn: Any = None
        self._select = self.select(*COLUMNS)

    def select(self, *names: str) -> str:
        """A SELECT list of these columns, each as `row` (and `row_json`) reads it."""
        return ", ".join(self.column_sql.get(name, name) for name in names)

    # ---- what a database has to say --------------------------------------------------------
    @property
    @abstractmethod
    def where(self) -> str:
        """The log's location for messages, without secrets."""

    @abstractmethod
    def _reader(self) -> Any:
        """A new autocommit connection for reading."""

    def _alive(self, conn: Any) -> bool:
        """Whether an idle reader connection still works (a file's always does)."""
        return True

    @abstractmethod
    def _writer(self) -> Any:
        """A new connection for the writer thread."""

    @abstractmethod
    def migrate(self) -> None:
        """Create the schema, or bring an older one up to `SCHEMA_VERSION`."""

    @abstractmethod
    def _stored_version(self) -> Any:
        """`max(version)` of schema_version as stored.

        DecisionLogError when this is no replygate log (no schema_version table, not a
        database); any other error of the driver (locked, unreadable, damaged) is raised as it
        is: the log may well be one, and `check_schema` says it cannot be read, and why.
        """

    @abstractmethod
    def _tables(self) -> set[str]:
        """Which of `TABLES` exist."""

    @abstractmethod
    def has_positions(self) -> bool:
        """Whether `decisions` has the `position` column of schema 2: what a schema_version of
        1 must be checked against, as that row is as easy to edit as any other."""

    def explain(self, error: BaseException) -> str:
        """A driver error as a message says it, with what to do about it where that is known."""
        return str(error)

    def check_schema(self) -> int:
        """The schema version; DecisionLogError unless this is a replygate log this code reads.

        SchemaDamaged (a DecisionLogError) when it is one whose schema was tampered with: the
        version is not a number, or a table is gone. `verify` reports those as findings.
        """
        try:
            stored = self._stored_version()
            tables = self._tables()
        except self.driver_errors as error:
            raise DecisionLogError(
                f"cannot read the decision log {self.where}: {self.explain(error)}"
            ) from None
        version = schema_version(stored)
        if version is not None:
            refuse_newer(version, self.where)
        findings = []
        if version is None:
            findings.append(
                f"altered: the schema_version table holds {show(stored)}, not a version number"
            )
        missing = frozenset(TABLES) - tables
        gone = {
            "decisions": "removed: the table decisions is gone, and every record with it",
            "decision_rules": "removed: the table decision_rules (the rule index) is gone",
        }
        findings += [gone[name] for name in TABLES if name in missing]
        if version == 1 and "decisions" not in missing and self._positioned():
            # Set back by hand: believed, it would turn off verify's position checks (and
            # replay would read the log as if nothing were wrong).
            findings.append(
                "altered: schema_version says 1, but the decisions table has the position "
                "column of schema 2: the version was set back"
            )
            version = 2
        if findings or version is None:
            raise SchemaDamaged(self.where, findings, missing, version)
        return version

    def structure_findings(self, conn: Any) -> list[str]:
        """What `verify` finds wrong with how the log is stored, beyond its rows: an object
        that is not what replygate created, or an index out of step with its table. Whoever can
        write the database can make the walk (which reads through one index) and the audit
        pages (which read through others) see different records; `verify` must read what
        every other reader reads."""
        return []

    def structure_notes(self, conn: Any) -> list[str]:
        """What `verify` says about where it read the log (the PostgreSQL schema), as notes."""
        return []

    def _positioned(self) -> bool:
        try:
            return self.has_positions()
        except self.driver_errors as error:
            raise DecisionLogError(
                f"cannot read the decision log {self.where}: {self.explain(error)}"
            ) from None

    @abstractmethod
    def _insert(self, conn: Any, rows: list[StoredRow]) -> None:
        """Store the rows and their rule index in one transaction."""

    @abstractmethod
    def _time_param(self, text: str) -> Any:
        """A stored time (format_time text) as a query parameter."""

    @abstractmethod
    def _time_text(self, value: Any) -> str:
        """A time column's value as format_time text."""

    @abstractmethod
    def _json(self, value: Any) -> Any:
        """A JSON column's value, parsed."""

    def row_json(self, value: Any) -> Any:
        """A JSON column's value as read by a query of one's own, parsed."""
        return self._json(value)

    @abstractmethod
    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Any]:
        """A connection inside one read transaction: every query sees the same state."""

    @abstractmethod
    def stream(
        self, conn: Any, sql: str, params: tuple[Any, ...] = ()
    ) -> Iterator[tuple[Any, ...]]:
        """The rows of a query, fetched in chunks rather than all at once."""

    # ---- writing (the writer thread only) --------------------------------------------------
    def insert(self, rows: list[StoredRow]) -> None:
        """Store a batch in one transaction; a broken connection is replaced on the next call."""
        if self._writer_conn is None:
            self._writer_conn = self._writer()
        try:
            self._insert(self._writer_conn, rows)
        except BaseException:
            self._drop_writer()
            raise

    @abstractmethod
    def make_durable(self) -> None:
        """In durable mode, make every commit seen so far durable; NotDurable when it cannot.

        Called after a commit whose outcome was unknown (the connection broke, the committer
        died) when the writer finds the batch stored: being visible is not being on disk.
        Each database says what that takes.
        """

    def chain_head(self, writer_id: str) -> tuple[int, str] | None:
        """The stored (seq, hash) at the end of a writer's chain, or None for a new writer."""
        p = self.placeholder
        with self._pool.connection() as conn:
            row = conn.execute(
                f"SELECT seq, hash FROM decisions WHERE writer_id = {p} ORDER BY seq DESC LIMIT 1",
                (writer_id,),
            ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def head(self, writer_id: str) -> RawRow | None:
        """The last stored record of a writer's chain, read in full; None for a new writer.

        UnreadableRow when its columns do not hold what replygate writes there.
        """
        p = self.placeholder
        found = self._rows(
            f"SELECT {self._select} FROM decisions WHERE writer_id = {p} ORDER BY seq DESC LIMIT 1",
            (writer_id,),
        )
        return self.row(found[0]) if found else None

    def existing(self, decision_ids: list[str]) -> set[str]:
        """Which of these decisions are already stored (after a commit whose outcome is unknown)."""
        if not decision_ids:
            return set()
        found: set[str] = set()
        p = self.placeholder
        with self._pool.connection() as conn:
            for start in range(0, len(decision_ids), 500):
                chunk = decision_ids[start : start + 500]
                marks = ", ".join([p] * len(chunk))
                rows = conn.execute(
                    f"SELECT decision_id FROM decisions WHERE decision_id IN ({marks})",
                    tuple(chunk),
                ).fetchall()
                found.update(str(row[0]) for row in rows)
        return found

    def _drop_writer(self) -> None:
        conn, self._writer_conn = self._writer_conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    # ---- reading ---------------------------------------------------------------------------
    def row(self, values: tuple[Any, ...]) -> RawRow:
        """A row of `COLUMNS` as read from this database.

        UnreadableRow when a column does not hold what replygate writes there (NULL, text for a
        number, a fraction for a seq, JSON that does not parse or nests beyond reading): such a
        row was altered in the database, and the error says which column.
        """
        (
            decision_id,
            time,
            client,
            request,
            decision,
            commit,
            ref,
            latency_ms,
            redacted,
            writer_id,
            seq,
            prev_hash,
            digest,
            actor,
            outcome,
        ) = values
        parsed = RawRow(
            _text("decision_id", decision_id),
            self._time_text(time),
            _text("client", client),
            self._json_column("request", request),
            self._json_column("decision", decision),
            _optional_text("policy_commit", commit),
            _optional_text("policy_ref", ref),
            _number("latency_ms", latency_ms),
            self._json_column("redacted", redacted),
            _text("writer_id", writer_id),
            _whole("seq", seq),
            _text("prev_hash", prev_hash),
            _text("hash", digest),
            _optional_text("actor", actor),
            _optional_text("outcome", outcome),
        )
        if self.keeps_json_text:
            parsed.texts = (request, decision, redacted)  # text: `_json` takes nothing else
        return parsed

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Every row of a (small) query, on a reader connection."""
        with self._pool.connection() as conn:
            return [tuple(values) for values in conn.execute(sql, params)]

    def _json_column(self, column: str, value: Any) -> Any:
        if not isinstance(value, str) and (self.keeps_json_text or value is None):
            # The writer stores JSON as text; a blob that parses is still not what it wrote.
            raise wrong(column, value, "JSON text")
        try:
            return self._json(value)
        except RecursionError:
            raise UnreadableRow(f"its {column} column nests too deeply to be read") from None
        except ValueError as error:
            if "integer string conversion" in str(error):
                # Python's own bound on int(); its message would suggest raising it.
                raise UnreadableRow(
                    f"its {column} column holds a number of more than "
                    f"{sys.get_int_max_str_digits()} digits, more than can be read"
                ) from None
            raise UnreadableRow(f"its {column} column is not JSON ({error})") from None
        except TypeError as error:
            raise UnreadableRow(f"its {column} column is not JSON ({error})") from None

    def get(self, decision_id: str) -> DecisionRecord | None:
        """One stored record by its decision id."""
        p = self.placeholder
        found = self._rows(
            f"SELECT {self._select} FROM decisions WHERE decision_id = {p}", (decision_id,)
        )
        return self.row(found[0]).record() if found else None

    def query(
        self, filters: Filters, limit: int, cursor: str | None
    ) -> tuple[list[DecisionRecord], str | None]:
        """Last committed first, filtered, one page; the cursor of the next page or None at the end."""
        if limit < 1:
            raise ValueError("limit: must be at least 1")
        p = self.placeholder
        where: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("actor", filters.actor),
            ("outcome", filters.outcome),
            ("client", filters.client),
        ):
            if value is not None:
                where.append(f"{column} = {p}")
                params.append(value)
        if filters.rule is not None:
            where.append(
                f"decision_id IN (SELECT decision_id FROM decision_rules WHERE rule = {p})"
            )
            params.append(filters.rule)
        if filters.commit is not None:
            commit = filters.commit.lower()
            if _HEX.fullmatch(commit) and len(commit) < 40:
                # An abbreviated sha, as git prints it: a range scan on the commit index.
                where.append(f"policy_commit >= {p} AND policy_commit < {p}")
                params += [commit, commit[:-1] + chr(ord(commit[-1]) + 1)]
            else:
                # A sha as git prints it or in capitals: stored shas are lower case.
                where.append(f"policy_commit = {p}")
                params.append(commit if _HEX.fullmatch(commit) else filters.commit)
        if filters.since is not None:
            where.append(f"decided_at >= {p}")
            params.append(self._time_param(format_time(filters.since)))
        if filters.until is not None:
            where.append(f"decided_at < {p}")
            params.append(self._time_param(format_time(filters.until)))
        if cursor is not None:
            where.append(f"position < {p}")
            params.append(decode_cursor(cursor))
        sql = f"SELECT {self._select}, position FROM decisions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY position DESC LIMIT {p}"
        params.append(limit + 1)
        found = self._rows(sql, tuple(params))
        more = len(found) > limit
        page = found[:limit]
        next_cursor = None
        if more:
            last = page[-1][-1]
            if not isinstance(last, int):  # NULL: an edit that verify reports
                raise UnreadableRow(f"record {page[-1][0]}: its position column is not a number")
            next_cursor = encode_cursor(last)
        return [self.row(values[:-1]).record() for values in page], next_cursor

    def scan(self, since: datetime | None = None) -> Iterator[DecisionRecord | Unreadable]:
        """Every stored record, oldest first (for replay and diff).

        A row that cannot be read back (UnreadableRow, a time that is not one) comes as
        `Unreadable` in its place, so one altered row does not stop the rest; a database error
        is a DecisionLogError.
        """
        p = self.placeholder
        sql = f"SELECT {self._select} FROM decisions"
        params: tuple[Any, ...] = ()
        if since is not None:
            sql += f" WHERE decided_at >= {p}"
            params = (self._time_param(format_time(since)),)
        sql += " ORDER BY decided_at, decision_id"
        try:
            with self.snapshot() as conn:
                for values in self.stream(conn, sql, params):
                    yield self._record_or_unreadable(tuple(values))
        except self.driver_errors as error:
            raise DecisionLogError(
                f"cannot read the decision log {self.where}: {self.explain(error)}"
            ) from None

    def _record_or_unreadable(self, values: tuple[Any, ...]) -> DecisionRecord | Unreadable:
        try:
            return self.row(values).record()
        except ValueError as error:  # UnreadableRow, or a decided_at that is not a time
            decision_id = values[0] if isinstance(values[0], str) else show(values[0])
            return Unreadable(decision_id, str(error))

    def count(self) -> int:
        """How many records are stored."""
        with self._pool.connection() as conn:
            return int(conn.execute("SELECT count(*) FROM decisions").fetchone()[0])

    def close(self) -> None:
        """Close every connection."""
        self._drop_writer()
        self._pool.close()

    @staticmethod
    def rules_of(decision: Any) -> tuple[str, ...]:
        """The rules a decision's reasons name, sorted, once each (what the rule index holds)."""
        reasons = decision.get("reasons") if isinstance(decision, dict) else None
        if not isinstance(reasons, list):
            return ()
        found = {
            reason["rule"]
            for reason in reasons
            if isinstance(reason, dict) and isinstance(reason.get("rule"), str)
        }
        return tuple(sorted(found))


def refuse_newer(version: int, where: str) -> None:
    """Raise DecisionLogError when the stored schema is newer than this code knows."""
    if version > SCHEMA_VERSION:
        raise DecisionLogError(
            f"the decision log {where} has schema version {version}; this replygate knows "
            f"versions up to {SCHEMA_VERSION}: upgrade replygate (if no newer replygate wrote "
            "to this log, its schema_version table was edited)"
        )


def load_json(text: str) -> Any:
    """Parse a JSON column stored as text."""
    return json.loads(text)
