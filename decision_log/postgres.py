"""The decision log in PostgreSQL (`postgresql://user:password@host:port/database`), psycopg 3.

Several replicas write to one database, each on its own chain. A batch goes in with COPY
inside one transaction, which holds an advisory lock from before it numbers its rows until it
commits: writers commit one after another, so `position` is the commit order (audit pages
follow it), at the price of one commit at a time across replicas (each a whole batch). The schema is
created or migrated at start-up under an advisory lock, so replicas starting together do not
race. JSON columns are JSONB, so auditors can query them in SQL (`request->'actor'->>'id'`).
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from replygate.decision_log.backend import (
    FILTER_INDEXES,
    POSITION_INDEXES,
    SCHEMA_VERSION,
    TABLES,
    SqlBackend,
    load_json,
    refuse_newer,
    wrong,
)
from replygate.decision_log.chain import StoredRow
from replygate.decision_log.records import DecisionLogError, parse_time
from replygate.decision_log.urls import unencoded_at, without_passwords

__all__ = ["PostgresBackend"]

CONNECT_TIMEOUT = 10
# Every session reads what the writer wrote the way it wrote it, whatever the database's or the
# role's defaults: times as ISO text in UTC (`_time_text` reads exactly that), a double as its
# shortest exact text (extra_float_digits 0 rounds it to 15 digits and every hash stops
# matching), and text as UTF-8.
_SESSION = (
    "SET DateStyle = 'ISO, MDY'; SET TimeZone = 'UTC'; SET extra_float_digits = 3; "
    "SET client_encoding = 'UTF8'"
)
# decided_at as `_SESSION` makes PostgreSQL spell it: fractions without trailing zeros (none
# at all on a whole second), years 1 to 9999 (Python's) only; 'infinity', a BC date or a year
# past 9999 spell otherwise, and are no time of a record.
_STORED_TIME = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}) ([0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,6}))?\+00"
)
# A writer holds the position lock from its first row to its commit. A replica that freezes (a
# paused VM) or is cut off inside that transaction would stop every replica's writes: the
# server ends a session idle in its transaction after this, which releases the lock, and the
# frozen writer's commit then fails and is retried like any failed write.
_WRITER_SESSION = "SET idle_in_transaction_session_timeout = '5s'; SET statement_timeout = '30s'"
# pg_advisory_xact_lock key: "replygate" folded into a bigint; any fixed number would do.
_MIGRATION_LOCK = 0x7265706C79676174

MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE decisions (
            decision_id   TEXT COLLATE "C" PRIMARY KEY,
            decided_at    TIMESTAMPTZ NOT NULL,
            client        TEXT NOT NULL,
            request       JSONB NOT NULL,
            decision      JSONB NOT NULL,
            policy_commit TEXT COLLATE "C",
            policy_ref    TEXT,
            latency_ms    DOUBLE PRECISION NOT NULL,
            redacted      JSONB NOT NULL,
            writer_id     TEXT COLLATE "C" NOT NULL,
            seq           BIGINT NOT NULL,
            prev_hash     TEXT NOT NULL,
            hash          TEXT NOT NULL,
            actor         TEXT,
            outcome       TEXT,
            UNIQUE (writer_id, seq)
        )""",
        *FILTER_INDEXES,
        """CREATE TABLE decision_rules (
            rule        TEXT NOT NULL,
            decision_id TEXT COLLATE "C" NOT NULL,
            PRIMARY KEY (rule, decision_id)
        )""",
    ],
    2: [
        "ALTER TABLE decisions ADD COLUMN position BIGINT",
        # The commit order of the rows so far is not known: their time order is the closest.
        """UPDATE decisions SET position = numbered.n FROM (
            SELECT decision_id, row_number() OVER (ORDER BY decided_at, decision_id) AS n
            FROM decisions
        ) AS numbered WHERE decisions.decision_id = numbered.decision_id""",
        # A writer of schema 1 still running (stop them all before upgrading) fails loudly.
        "ALTER TABLE decisions ALTER COLUMN position SET NOT NULL",
        *POSITION_INDEXES,
    ],
}

_ROW = (
    "decision_id, decided_at, client, request, decision, policy_commit, policy_ref, "
    "latency_ms, redacted, writer_id, seq, prev_hash, hash, actor, outcome"
)
# A writer streams its batch into a table of its own session first and takes the position
# lock only to move it across in one server-side statement: a replica frozen in the middle of
# its stream (which PostgreSQL counts as an active statement, not an idle transaction) then
# holds nobody's turn. `position` is staged as 1…n and offset under the lock.
_STAGE = "CREATE TEMP TABLE IF NOT EXISTS replygate_staged (LIKE decisions) ON COMMIT DELETE ROWS"
_COPY_STAGED = f"COPY pg_temp.replygate_staged ({_ROW}, position) FROM STDIN"
# Under READ COMMITTED the statement's snapshot is taken after the lock: the max sees the
# commit of the writer that held the turn before.
_PUBLISH = (
    f"INSERT INTO decisions ({_ROW}, position) "
    f"SELECT {_ROW}, position + last.n FROM pg_temp.replygate_staged, "
    "(SELECT coalesce(max(position), 0) AS n FROM decisions) AS last ORDER BY position"
)
# Without the TEMP privilege (an operator may revoke it) the batch is numbered under the lock
# while it streams, as before staging existed.
_COPY = f"COPY decisions ({_ROW}, position) FROM STDIN"
# Held by each insert transaction until it commits: writers take turns, so each takes the next
# positions after everything committed before it, and positions follow the commit order.
_POSITION_LOCK = _MIGRATION_LOCK + 1
_COPY_RULES = "COPY decision_rules (rule, decision_id) FROM STDIN"


class PostgresBackend(SqlBackend):
    """The decision log in one PostgreSQL database."""

    placeholder = "%s"
    driver_errors = (psycopg.Error,)
    # psycopg's loaders fail the whole query on a value they cannot load: JSONB nested 5,000
    # deep (RecursionError), a number of 5,000 digits in it, a time of 'infinity' or BC. As
    # text, each is one unreadable row (see SqlBackend.column_sql). Parsing the text here is
    # cheaper than psycopg's loaders were (a datetime, then format_time): a walk of 20,000
    # records read in 0.61 of the time.
    column_sql = {
        "decided_at": "decided_at::text AS decided_at_text",
        "request": "request::text AS request_text",
        "decision": "decision::text AS decision_text",
        "redacted": "redacted::text AS redacted_text",
    }

    def __init__(self, url: str, *, readonly: bool) -> None:
        try:
            parts = psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError as error:
            detail = without_passwords(str(error).strip(), url)
            raise ValueError(f"decision log URL: not a PostgreSQL URL ({detail})") from None
        if unencoded_at(url):
            # libpq ends the user part at the first `@`: the rest of the password would be
            # read as the host and quoted in every connection error.
            raise ValueError(
                "decision log URL: the password holds an '@' that is not percent-encoded: "
                "write it as %40"
            )
        self._where = "postgresql://{user}{host}{port}/{db}".format(
            user=f"{parts['user']}@" if parts.get("user") else "",
            host=parts.get("host") or "localhost",
            port=f":{parts['port']}" if parts.get("port") else "",
            db=parts.get("dbname") or "",
        )
        self._staged = False  # the writer's session can stage its batch (see _STAGE)
        super().__init__(url, readonly=readonly)

    @property
    def where(self) -> str:
        return self._where

    def _connect(self, *, autocommit: bool = True) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(
                self.url,
                autocommit=autocommit,
                connect_timeout=CONNECT_TIMEOUT,
                application_name="replygate-decision-log",
            )
        except psycopg.Error as error:
            message = (
                str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            )
            message = without_passwords(message, self.url)
            raise DecisionLogError(f"cannot connect to {self._where}: {message}") from None
        try:
            encoding = conn.execute("SELECT current_setting('server_encoding')").fetchone()
            if encoding is None or encoding[0] != "UTF8":
                # LATIN1 cannot store a request's text (the writer retried one for ever);
                # SQL_ASCII hands back bytes, which verify read as altered.
                raise DecisionLogError(
                    f"the database of {self._where} is encoded {encoding[0] if encoding else '?'}"
                    "; the decision log needs UTF8 (CREATE DATABASE … ENCODING 'UTF8' "
                    "TEMPLATE template0)"
                )
            conn.execute(_SESSION)
            if not autocommit:
                conn.commit()
        except BaseException:
            conn.close()
            raise
        return conn

    def _reader(self) -> psycopg.Connection[Any]:
        return self._connect()

    def _alive(self, conn: Any) -> bool:
        # One round trip: the client learns that the server closed a socket only by using it.
        try:
            conn.execute("")
        except psycopg.Error:
            return False
        return True

    def _writer(self) -> psycopg.Connection[Any]:
        conn = self._connect()
        conn.execute(_WRITER_SESSION)
        try:
            conn.execute(_STAGE)
            self._staged = True
        except pg_errors.InsufficientPrivilege:
            self._staged = False
        if self.durable:
            # Whatever the server's default: a commit returns once its WAL is flushed to disk
            # (and, with synchronous standbys configured, once they confirm it).
            conn.execute("SET synchronous_commit = on")
        return conn

    def make_durable(self) -> None:
        """Nothing to do: a commit of the writer's session is visible only once durable.

        The session runs with `synchronous_commit = on`, and PostgreSQL flushes a commit's WAL
        record before it marks the transaction committed and visible to other sessions. So a
        batch the writer finds stored (from a new connection) after a commit whose outcome
        was unknown is on the server's disk. (With synchronous standbys, a wait for them that
        was cancelled, say by the session being terminated, still leaves the commit visible
        though not yet confirmed by a standby: PostgreSQL's own caveat, which no client can
        tell from the outside.)
        """

    def migrate(self) -> None:
        conn = self._connect(autocommit=False)
        try:
            if self._current(conn):
                # Nothing to do, and nothing needed beyond SELECT: a replica may run under a
                # role that can only insert and select (see docs/decision-log.md). It must be
                # able to insert, though: one that cannot would start, report ready, and
                # answer every check 503 after the acknowledgement timeout.
                refused = conn.execute(
                    "SELECT name FROM unnest(ARRAY['decisions', 'decision_rules']) AS name "
                    "WHERE NOT has_table_privilege(name, 'INSERT') ORDER BY name"
                ).fetchall()
                conn.rollback()
                if refused:
                    raise DecisionLogError(
                        f"cannot write the decision log {self._where}: its role may not INSERT "
                        f"into {' and '.join(name for (name,) in refused)} (a writer needs "
                        "SELECT and INSERT)"
                    )
                return
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            current = int(row[0] or 0) if row else 0
            refuse_newer(current, self._where)
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
            if current != SCHEMA_VERSION:
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION,))
            conn.commit()
        except psycopg.Error as error:
            with contextlib.suppress(psycopg.Error):
                conn.rollback()
            raise DecisionLogError(
                f"cannot set up the decision log {self._where}: {error}"
            ) from None
        finally:
            conn.close()

    @staticmethod
    def _current(conn: psycopg.Connection[Any]) -> bool:
        """True when the schema exists at exactly this code's version."""
        found = conn.execute("SELECT to_regclass('schema_version')").fetchone()
        if found is None or found[0] is None:
            return False
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        return row is not None and row[0] == SCHEMA_VERSION

    def _stored_version(self) -> Any:
        try:
            with self._pool.connection() as conn:
                row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        except pg_errors.UndefinedTable:
            raise DecisionLogError(
                f"{self._where} holds no replygate decision log (no schema_version table)"
            ) from None
        return None if row is None else row[0]

    def has_positions(self) -> bool:
        with self._pool.connection() as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('decisions') "
                "AND attname = 'position' AND NOT attisdropped"
            ).fetchone()
        return found is not None

    def _tables(self) -> set[str]:
        # to_regclass follows the search_path, as the queries do.
        names = ", ".join(f"to_regclass('{name}')" for name in TABLES)
        with self._pool.connection() as conn:
            row = conn.execute(f"SELECT {names}").fetchone()
        return {name for name, found in zip(TABLES, row or (), strict=False) if found is not None}

    def _insert(self, conn: psycopg.Connection[Any], rows: list[StoredRow]) -> None:
        with conn.transaction(), conn.cursor() as cursor:
            # READ COMMITTED whatever the connection's default: the max of the positions must
            # see the commit of the writer that held the lock before (a snapshot taken earlier
            # would not).
            cursor.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            with cursor.copy(_COPY_RULES) as copy:
                for row in rows:
                    for rule in row.record.rules:
                        copy.write_row((rule, row.record.decision_id))
            if self._staged:
                with cursor.copy(_COPY_STAGED) as copy:
                    for number, row in enumerate(rows, 1):
                        copy.write_row((*row.columns(row.record.when), number))
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_POSITION_LOCK,))
                cursor.execute(_PUBLISH)
                return
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_POSITION_LOCK,))
            cursor.execute("SELECT coalesce(max(position), 0) FROM decisions")
            found = cursor.fetchone()
            last = int(found[0]) if found else 0
            with cursor.copy(_COPY) as copy:
                for number, row in enumerate(rows, last + 1):
                    copy.write_row((*row.columns(row.record.when), number))

    def _time_param(self, text: str) -> Any:
        return parse_time(text)

    def _time_text(self, value: Any) -> str:
        found = _STORED_TIME.fullmatch(value) if isinstance(value, str) else None
        if found is None:
            raise wrong("decided_at", value, "a time")
        day, clock, fraction = found.groups()
        return f"{day}T{clock}.{(fraction or '').ljust(6, '0')}Z"

    def _json(self, value: Any) -> Any:
        return load_json(value)  # selected as text (column_sql)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Any]:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield conn

    def stream(
        self, conn: Any, sql: str, params: tuple[Any, ...] = ()
    ) -> Iterator[tuple[Any, ...]]:
        with conn.cursor(name=f"replygate_{uuid.uuid4().hex}") as cursor:
            cursor.itersize = 1000
            cursor.execute(sql, params)
            yield from cursor
