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

# The tables as MIGRATIONS leave them, with each column's type as format_type spells it: a
# column of another type holds values the writer never wrote (and reads as text, see
# `column_sql`, so the walk alone would not notice the change).
_TABLES: dict[str, dict[str, str]] = {
    "schema_version": {"version": "integer"},
    "decisions": {
        "decision_id": "text",
        "decided_at": "timestamp with time zone",
        "client": "text",
        "request": "jsonb",
        "decision": "jsonb",
        "policy_commit": "text",
        "policy_ref": "text",
        "latency_ms": "double precision",
        "redacted": "jsonb",
        "writer_id": "text",
        "seq": "bigint",
        "prev_hash": "text",
        "hash": "text",
        "actor": "text",
        "outcome": "text",
        "position": "bigint",
    },
    "decision_rules": {"rule": "text", "decision_id": "text"},
}
_KINDS = {
    "v": "a view",
    "m": "a materialized view",
    "p": "a partitioned table",
    "f": "a foreign table",
    "S": "a sequence",
    "i": "an index",
    "I": "a partitioned index",
    "c": "a composite type",
    "t": "a TOAST table",
}
_NAMES = "ARRAY['schema_version', 'decisions', 'decision_rules']"
# Each table as the queries resolve its name (to_regclass follows the search_path, as they do),
# with what could make one reader see other rows than another: its kind (a view, a foreign
# table), row-level security and its policies, rewrite rules (a view's own `_RETURN` aside), and
# tables inheriting from it (a query of it reads theirs too). Triggers are left out: they run on
# writes only, and what a write trigger changes, the hashes show. Catalogs qualified: a schema
# of a tamperer's on the search path can shadow a name, though pg_catalog is searched first.
_STRUCTURE = f"""
SELECT t.name, n.nspname, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
    ARRAY(SELECT p.polname::text FROM pg_catalog.pg_policy p
          WHERE p.polrelid = c.oid ORDER BY 1),
    ARRAY(SELECT r.rulename::text FROM pg_catalog.pg_rewrite r
          WHERE r.ev_class = c.oid AND r.rulename <> '_RETURN' ORDER BY 1),
    ARRAY(SELECT i.inhrelid::pg_catalog.regclass::text FROM pg_catalog.pg_inherits i
          WHERE i.inhparent = c.oid ORDER BY 1),
    ARRAY(SELECT ARRAY[a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod)]
          FROM pg_catalog.pg_attribute a
          WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum)
FROM pg_catalog.unnest({_NAMES}) WITH ORDINALITY AS t(name, k)
JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(t.name)
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
ORDER BY t.k
"""
# Every schema of the database with a relation of one of the log's names (another session's
# temporary tables aside: no query of this one can resolve to them), those on this session's
# search_path first, in its order.
_SCHEMAS = f"""
SELECT n.nspname::text FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = ANY({_NAMES}) AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
    AND c.relpersistence <> 't'
GROUP BY n.nspname
ORDER BY pg_catalog.array_position(pg_catalog.current_schemas(false), n.nspname) NULLS LAST, 1
"""
_SCHEMA_OF_DECISIONS = (
    "SELECT n.nspname::text FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.oid = pg_catalog.to_regclass('decisions')"
)
_LISTED = 10  # schemas a finding names
# Whether the search_path was set by the client (the URL's options, or $PGOPTIONS), not by a
# default of the server, the database or the role, which whoever owns the database may change.
_SEARCH_PATH = (
    "SELECT setting, source = 'client' FROM pg_catalog.pg_settings WHERE name = 'search_path'"
)

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
            altered = self._altered_objects(conn)
            if altered:
                # Fail closed: a writer would go on through a view (PostgreSQL updates a simple
                # one), and the API would serve whatever it chooses to show.
                conn.rollback()
                raise DecisionLogError(
                    f"the decision log {self._where} is not stored as replygate created it: "
                    f"{'; '.join(item.partition(': ')[2] for item in altered)} "
                    "(`replygate audit verify` reports it)"
                )
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

    def structure_findings(self, conn: Any) -> list[str]:
        """The log's tables as replygate created them, found where every reader finds them.

        verify reads in a REPEATABLE READ snapshot, the API in autocommit: a view, a row-level
        security policy or a rule can tell the two apart (`current_setting(
        'transaction_isolation')`) and show each another log. The owner of a table can set any
        of those up without being a superuser. And the names resolve through the search_path,
        which the owner of the database can make resolve elsewhere for one role than another.
        """
        return self._altered_objects(conn) + self._ambiguous(conn)

    def structure_notes(self, conn: Any) -> list[str]:
        path, explicit = self._search_path(conn)
        found = conn.execute(_SCHEMA_OF_DECISIONS).fetchone()
        source = "set by the URL" if explicit else "a default: the URL sets none"
        where = f"from schema {found[0]}" if found else "with no decisions table"
        return [f"the log was read {where} (search_path {path}, {source})"]

    @staticmethod
    def _search_path(conn: Any) -> tuple[str, bool]:
        row = conn.execute(_SEARCH_PATH).fetchone()
        return (str(row[0]), bool(row[1])) if row else ("", False)

    @staticmethod
    def _altered_objects(conn: Any) -> list[str]:
        """Findings for each of the log's tables that is not what MIGRATIONS created."""
        findings: list[str] = []
        schemas: dict[str, str] = {}
        for name, schema, kind, secured, forced, policies, rules, heirs, columns in conn.execute(
            _STRUCTURE
        ).fetchall():
            schemas[name] = schema
            if kind != "r":
                what = _KINDS.get(kind, f"a relation of kind {kind!r}")
                findings.append(
                    f"altered: {name} is {what}, not the table replygate created: whoever "
                    "defined it chooses which rows each reader sees, so verify, replay and "
                    "the audit pages may each be shown another log"
                )
            if secured or forced:
                state = "enabled" if secured else "set"
                state += " and forced on its owner" if forced else ""
                shown = (
                    f"the policies {', '.join(policies)}"
                    if policies
                    else "no policy, which hides every row from roles other than its owner"
                )
                findings.append(
                    f"altered: {name} has row-level security {state}, with {shown}: a policy "
                    "can show verify other rows than the audit pages; replygate never enables "
                    f"it (ALTER TABLE {name} DISABLE ROW LEVEL SECURITY, NO FORCE ROW LEVEL "
                    "SECURITY)"
                )
            if rules:
                findings.append(
                    f"altered: {name} has the rewrite rules {', '.join(rules)}: a rule can turn "
                    "what is written to it or read from it into something else; replygate "
                    "creates none"
                )
            if heirs:
                findings.append(
                    f"altered: the tables {', '.join(heirs)} inherit from {name}: a query of "
                    f"{name} reads their rows as its own"
                )
            expected = _TABLES[name]
            changed = [
                f"{column} is {found}, not {expected[column]}"
                for column, found in columns
                if column in expected and found != expected[column]
            ]
            if changed:
                findings.append(
                    f"altered: the column types of {name} are not those replygate created "
                    f"({'; '.join(changed)}): its values are not what the writer wrote"
                )
        if len(set(schemas.values())) > 1:
            placed = ", ".join(f"{name} in {schema}" for name, schema in schemas.items())
            findings.append(
                f"altered: the log's tables resolve to different schemas ({placed}); "
                "replygate creates them in one"
            )
        return findings

    def _ambiguous(self, conn: Any) -> list[str]:
        """A finding when the log's names could resolve to another schema for another role.

        An unqualified name resolves through the search_path, `"$user", public` by default:
        whoever may create a schema can make one named after the auditor's role (or the
        service's) and fill it with a clean copy. Unless the URL names the schema, tables of
        the log's names in two schemas are a finding: this read need not be the service's.
        """
        schemas = [schema for (schema,) in conn.execute(_SCHEMAS).fetchall()]
        if len(schemas) < 2:
            return []
        path, explicit = self._search_path(conn)
        if explicit:
            return []
        found = conn.execute(_SCHEMA_OF_DECISIONS).fetchone()
        read = f"read schema {found[0]}" if found else "found no decisions table"
        listed = ", ".join(schemas[:_LISTED])
        if len(schemas) > _LISTED:
            listed += f" and {len(schemas) - _LISTED} more"
        return [
            f"ambiguous: the schemas {listed} all hold tables of the log's names, "
            f"and the URL sets no search_path: this verification {read} through the default "
            f"search_path {path}, which need not be the log the service writes (a schema named "
            "after a role comes first for that role); name the log's schema in the URL: "
            "?options=-csearch_path%3DSCHEMA (the service's URL too)"
        ]

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
