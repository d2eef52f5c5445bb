"""The decision log on a real PostgreSQL server: the shared behaviour, several processes, errors.

The server comes from `REPLYGATE_TEST_POSTGRES` (what `.ci/postgres.sh start` exports). When
it is not set, the session starts a private server with `.ci/postgres.sh start pytest-<pid>`
and stops it at the end; if that is impossible the tests fail, saying why: they never skip.
Each test gets its own schema, so tests never see each other's records.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
import test_decision_log as core
from psycopg.types.json import Jsonb

from replygate.decision_log import DecisionLogError, open_decision_log, verify_log
from replygate.decision_log.log import open_backend
from replygate.decision_log.records import parse_time

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "postgres.sh"
VARIABLE = "REPLYGATE_TEST_POSTGRES"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The DSN of a running PostgreSQL server: the CI's, or one started for this session."""
    given = os.environ.get(VARIABLE)
    if given:
        yield given
        return
    name = f"pytest-{os.getpid()}"
    try:
        started = subprocess.run(
            ["bash", str(SCRIPT), "start", name],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.fail(f"cannot run {SCRIPT}: {error}", pytrace=False)
    found = re.search(rf"^export {VARIABLE}=(\S+)$", started.stdout, re.MULTILINE)
    if started.returncode != 0 or found is None:
        pytest.fail(
            f"{VARIABLE} is not set and `{SCRIPT} start` could not start PostgreSQL "
            f"(exit {started.returncode}):\n{started.stderr}",
            pytrace=False,
        )
    try:
        yield found.group(1)
    finally:
        subprocess.run(
            ["bash", str(SCRIPT), "stop", name], capture_output=True, timeout=120, check=False
        )


class PostgresDb:
    """A schema of its own on the test server, and direct SQL on it, as a tamperer would use."""

    placeholder = "%s"

    def __init__(self, server: str, schema: str) -> None:
        joiner = "&" if "?" in server else "?"
        self.url = f"{server}{joiner}options={quote(f'-csearch_path={schema}')}"

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cursor = conn.execute(sql.format(p=self.placeholder), params)
            return cursor.fetchall() if cursor.description else []

    def json(self, value: Any) -> Any:
        return Jsonb(value)

    def parse(self, value: Any) -> Any:
        return value

    def time(self, text: str) -> Any:
        return parse_time(text)


@pytest.fixture
def db(postgres_server: str) -> Iterator[PostgresDb]:
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield PostgresDb(postgres_server, schema)
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


class TestCorePostgres(core.TestCore):
    """Every shared test of test_decision_log.py, on PostgreSQL."""


WRITER = """
import sys
from replygate.decision_log import DecisionRecord, open_decision_log

url, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
log = open_decision_log(url, writer_id=name, batch_size=100)
request = {"actor": {"id": name}, "action": "post", "channel": "linkedin",
           "at": "2026-11-27T10:00:00+01:00"}
decision = {"decision": "allow", "reasons": [{"rule": "marketing-posts", "effect": "allow"}]}
for _ in range(count):
    log.submit(DecisionRecord.new(request, decision, name, None, None, 0.1))
log.close(timeout=60.0)
print(log.stats["written"])
"""


def test_two_processes_write_to_one_database_at_once(db: PostgresDb) -> None:
    # Both start on an empty schema, so they also race to create it (the advisory lock's job).
    count = 1500
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, db.url, name, str(count)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in ("replica-a", "replica-b")
    ]
    outputs = [writer.communicate(timeout=120) for writer in writers]
    for writer, (out, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err
        assert out.strip() == str(count)
    assert db.execute("SELECT count(*) FROM decisions") == [(2 * count,)]
    result = verify_log(db.url)
    assert (result.ok, result.records, result.chains) == (True, 2 * count, 2)
    assert {writer: head.seq for writer, head in result.heads.items()} == {
        "replica-a": count,
        "replica-b": count,
    }


def test_logged_json_can_be_queried_in_sql(db: PostgresDb) -> None:
    with open_decision_log(db.url) as log:
        core.written(log, [core.record(1, actor="carol"), core.record(2, actor="alice")])
    rows = db.execute(
        "SELECT request->'actor'->>'id' FROM decisions WHERE decision->>'decision' = {p} "
        "ORDER BY decided_at",
        ("allow",),
    )
    assert rows == [("carol",), ("alice",)]


def test_an_unreachable_server_is_reported_without_the_password() -> None:
    with pytest.raises(DecisionLogError) as raised:
        open_decision_log("postgresql://auditor:s3cret-pw@127.0.0.1:1/decisions")
    message = str(raised.value)
    assert message.startswith("cannot connect to postgresql://auditor@127.0.0.1:1/decisions: ")
    assert "s3cret-pw" not in message


def test_verify_refuses_a_database_without_a_decision_log(db: PostgresDb) -> None:
    with pytest.raises(DecisionLogError, match="holds no replygate decision log"):
        verify_log(db.url)


@contextlib.contextmanager
def role_url(postgres_server: str, db: PostgresDb, privileges: str) -> Iterator[str]:
    """The db's URL for a new login role granted `privileges` on its tables; dropped after."""
    role = f"role_{uuid.uuid4().hex[:12]}"
    schema = db.url.rsplit("%3D", 1)[1]
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        for statement in (
            f"CREATE ROLE {role} LOGIN PASSWORD 'pw'",
            f"GRANT USAGE ON SCHEMA {schema} TO {role}",
            f"GRANT {privileges} ON ALL TABLES IN SCHEMA {schema} TO {role}",
        ):
            conn.execute(statement)
    try:
        yield re.sub(r"//[^@]*@", f"//{role}:pw@", db.url, count=1)
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def test_a_replica_can_run_under_a_role_that_may_only_insert_and_select(
    postgres_server: str, db: PostgresDb
) -> None:
    # The owner creates the schema once; the service's role cannot change or delete a record.
    open_decision_log(db.url).close()
    with role_url(postgres_server, db, "SELECT, INSERT") as limited:
        with open_decision_log(limited) as log:
            core.written(log, [core.record(1)])
        assert verify_log(limited).ok
        with pytest.raises(psycopg.errors.InsufficientPrivilege), psycopg.connect(limited) as conn:
            conn.execute("DELETE FROM decisions")


def test_a_log_of_schema_one_gets_positions_in_time_order(db: PostgresDb) -> None:
    """Schema 2 pages by commit position; rows written before it are numbered in time order
    (the closest PostgreSQL can say to their commit order) and verify as before."""
    log = open_decision_log(db.url, writer_id="old")
    ids = core.written(log, [core.record(5), core.record(1), core.record(3)])
    log.close()
    core.back_to_schema_one(db)

    log = open_decision_log(db.url, writer_id="new")
    try:
        later = core.written(log, [core.record(2)])
        page, _ = log.query(limit=10)
        assert [item.decision_id for item in page] == [later[0], ids[0], ids[2], ids[1]]
    finally:
        log.close()
    assert db.execute("SELECT max(version) FROM schema_version") == [(2,)]
    assert verify_log(db.url).ok


class _Stalling:
    """A stored row whose columns wait for a signal: a replica frozen while it streams."""

    def __init__(self, row: Any, entered: threading.Event, release: threading.Event) -> None:
        self.record, self._row = row.record, row
        self._entered, self._release = entered, release

    def columns(self, time: Any) -> tuple[Any, ...]:
        self._entered.set()
        assert self._release.wait(60)
        return self._row.columns(time)  # type: ignore[no-any-return]


def _stalled(log: Any, entered: threading.Event, release: threading.Event) -> None:
    """Make `log`'s writer freeze inside the stream of its next batch."""
    backend = log._backend
    insert = backend._insert
    backend._insert = lambda conn, rows: insert(
        conn, [_Stalling(row, entered, release) for row in rows]
    )


def test_a_replica_frozen_while_it_streams_its_batch_holds_nobody_s_turn(db: PostgresDb) -> None:
    """The position lock was taken before the COPY: a writer frozen mid-stream (an active
    statement, not an idle transaction) held every replica's turn until its connection died."""
    entered, release = threading.Event(), threading.Event()
    with (
        open_decision_log(db.url, writer_id="frozen") as frozen,
        open_decision_log(db.url, writer_id="live") as live,
    ):
        _stalled(frozen, entered, release)
        frozen.submit(core.record(1))
        assert entered.wait(30)
        try:
            later = core.written(live, [core.record(2)])  # flush(10) fails on a held turn
        finally:
            release.set()
        assert frozen.flush(10.0)
    positions = dict(db.execute("SELECT writer_id, position FROM decisions"))
    assert positions == {"live": 1, "frozen": 2}  # the commit order, as audit pages follow it
    assert db.execute("SELECT decision_id FROM decisions WHERE writer_id = 'live'") == [(later[0],)]
    assert verify_log(db.url).ok


def test_a_role_without_temporary_tables_still_writes_in_commit_order(
    postgres_server: str, db: PostgresDb
) -> None:
    """Staging a batch needs TEMP on the database; without it the writer numbers as it streams."""
    open_decision_log(db.url).close()
    database = psycopg.conninfo.conninfo_to_dict(postgres_server)["dbname"]
    with role_url(postgres_server, db, "SELECT, INSERT") as limited:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'REVOKE TEMPORARY ON DATABASE "{database}" FROM PUBLIC')
        try:
            with open_decision_log(limited, writer_id="a") as log:
                first = core.written(log, [core.record(1), core.record(2)])
            with open_decision_log(db.url, writer_id="b") as log:
                second = core.written(log, [core.record(3)])
            with open_decision_log(limited, writer_id="a") as log:
                third = core.written(log, [core.record(4)])
                assert log._backend._staged is False  # type: ignore[attr-defined]
        finally:
            with psycopg.connect(postgres_server, autocommit=True) as conn:
                conn.execute(f'GRANT TEMPORARY ON DATABASE "{database}" TO PUBLIC')
    numbered = db.execute("SELECT decision_id FROM decisions ORDER BY position")
    assert [row[0] for row in numbered] == [*first, *second, *third]
    assert verify_log(db.url).ok


def test_a_reader_the_server_ended_while_it_waited_is_replaced(db: PostgresDb) -> None:
    """After a server restart (or an idle timeout) the first audit read failed: a 503."""
    with open_decision_log(db.url) as log:
        ids = core.written(log, [core.record(1)])
        assert [item.decision_id for item in log.query(limit=10)[0]] == ids
        (idle,) = log._backend._pool._idle  # type: ignore[attr-defined]
        db.execute("SELECT pg_terminate_backend({p}, 10000)", (idle.info.backend_pid,))
        assert [item.decision_id for item in log.query(limit=10)[0]] == ids


# ---- what the database's own settings must not change ------------------------------------------


def _with_options(db: PostgresDb, *settings: str) -> str:
    """The db's URL with more `-c` settings in its options (as a role's defaults would be)."""
    base, schema = db.url.rsplit("options=", 1)
    return base + "options=" + schema + quote("".join(f" -c{item}" for item in settings))


def test_a_session_with_other_date_and_float_settings_reads_the_log_as_written(
    db: PostgresDb,
) -> None:
    """DateStyle SQL made psycopg fail on every time (tracebacks, 500s); extra_float_digits 0
    rounded latencies to 15 digits, so every record's hash stopped matching."""
    odd = _with_options(db, "datestyle=SQL,DMY", "extra_float_digits=0")
    latency = 0.41272500038758153  # 17 significant digits: rounded, it is another number
    item = core.record(1).model_copy(update={"latency_ms": latency})
    with open_decision_log(odd) as log:
        core.written(log, [item, core.record(2)])
        (found,) = [r for r in log.query(limit=10)[0] if r.decision_id == item.decision_id]
    assert found.time == item.time and found.latency_ms == latency
    assert verify_log(odd).ok
    assert verify_log(db.url).ok


def test_a_database_not_encoded_in_utf8_is_refused_when_the_log_opens(
    postgres_server: str,
) -> None:
    """A LATIN1 database could not store a request's `€` (its writer retried for ever); one in
    SQL_ASCII handed back bytes, which verify read as tampering."""
    name = f"latin1_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(
            f"CREATE DATABASE {name} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' "
            "TEMPLATE template0"
        )
    url = re.sub(r"/[^/?]*(\?|$)", rf"/{name}\1", postgres_server, count=1)
    try:
        with pytest.raises(
            DecisionLogError, match="is encoded LATIN1; the decision log needs UTF8"
        ):
            open_decision_log(url)
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name}")


def test_a_role_that_may_not_insert_is_refused_when_the_log_opens(
    postgres_server: str, db: PostgresDb
) -> None:
    """It started, reported ready, and answered every check 503 after ten seconds."""
    open_decision_log(db.url).close()
    with role_url(postgres_server, db, "SELECT") as reader:
        with pytest.raises(
            DecisionLogError, match="may not INSERT into decision_rules and decisions"
        ):
            open_decision_log(reader)
        assert verify_log(reader).ok  # reading is all an auditor's role needs


def test_a_writer_session_cannot_hold_the_position_lock_while_it_stalls(db: PostgresDb) -> None:
    """A frozen replica inside its insert held the lock every replica needs, without end."""
    with open_decision_log(db.url) as log:
        core.written(log, [core.record(1)])
        conn = log._backend._writer()  # type: ignore[attr-defined]  # a writer's session, as the committer opens it
        try:
            shown = conn.execute(
                "SELECT current_setting('idle_in_transaction_session_timeout'), "
                "current_setting('statement_timeout')"
            ).fetchone()
        finally:
            conn.close()
    assert shown == ("5s", "30s")


# ---- what verify reads must be what every reader reads (docs/decision-log.md, Hardening) -------

KEY = b"the log key, 32 bytes of it ....."
OTHER_KEY = b"a key of the tamperer's, not the log's"
# True in verify's and replay's REPEATABLE READ snapshot only: the API reads in autocommit.
IN_A_SNAPSHOT = "current_setting('transaction_isolation') = 'repeatable read'"


def _forged_log(db: PostgresDb) -> str:
    """A keyed log and a forged chain beside it (mallory's allow, under another key); the id of
    the forged record. No rules, so the rule index does not give it away."""
    with open_decision_log(db.url, writer_id="genuine", key=KEY) as log:
        core.written(log, [core.record(1), core.record(2)])
    with open_decision_log(db.url, writer_id="forged", key=OTHER_KEY) as log:
        (forged,) = core.written(log, [core.record(3, actor="mallory", rules=())])
    return forged


def _served(url: str, decision_id: str) -> bool:
    """Whether an autocommit reader (the API's) finds the record."""
    backend = open_backend(url, readonly=True)
    try:
        return backend.get(decision_id) is not None
    finally:
        backend.close()


def test_a_view_that_hides_a_record_from_verify_s_snapshot_is_found_and_not_written_through(
    db: PostgresDb,
) -> None:
    """A view over the renamed table showed verify the log without the forged record while the
    API served it: `OK` with a key and anchors. The server kept writing through the view."""
    forged = _forged_log(db)
    db.execute("ALTER TABLE decisions RENAME TO decisions_data")
    db.execute(
        "CREATE VIEW decisions AS SELECT * FROM decisions_data "
        f"WHERE writer_id <> 'forged' OR NOT {IN_A_SNAPSHOT}"
    )
    assert _served(db.url, forged)
    result = verify_log(db.url, key=KEY)
    assert not result.ok
    assert result.first_problem is not None
    assert result.first_problem.startswith(
        "altered: decisions is a view, not the table replygate created: whoever defined it "
        "chooses which rows each reader sees"
    )
    with pytest.raises(
        DecisionLogError, match="is not stored as replygate created it: decisions is a view"
    ):
        open_decision_log(db.url, key=KEY)


def test_row_level_security_that_hides_a_record_from_verify_s_snapshot_is_found(
    postgres_server: str, db: PostgresDb
) -> None:
    """The same with a restrictive policy, forced on the owner: a role that is no superuser
    (an auditor's) verified OK while the API served the forged record."""
    forged = _forged_log(db)
    for statement in (
        "ALTER TABLE decisions ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE decisions FORCE ROW LEVEL SECURITY",
        "CREATE POLICY everyone ON decisions USING (true)",
        "CREATE POLICY not_in_snapshots ON decisions AS RESTRICTIVE FOR SELECT "
        f"USING (writer_id <> 'forged' OR NOT {IN_A_SNAPSHOT})",
    ):
        db.execute(statement)
    with role_url(postgres_server, db, "SELECT") as auditor:
        assert _served(auditor, forged)
        result = verify_log(auditor, key=KEY)
    assert not result.ok
    assert result.findings[0].startswith(
        "altered: decisions has row-level security enabled and forced on its owner, with the "
        "policies everyone, not_in_snapshots: a policy can show verify other rows"
    )
    with pytest.raises(DecisionLogError, match="decisions has row-level security enabled"):
        open_decision_log(db.url, key=KEY)


@pytest.mark.parametrize(
    ("statements", "finding"),
    [
        (
            (
                "ALTER TABLE decision_rules RENAME TO rules_data",
                "CREATE VIEW decision_rules AS SELECT * FROM rules_data",
            ),
            "altered: decision_rules is a view, not the table replygate created",
        ),
        (
            (
                "ALTER TABLE schema_version RENAME TO version_data",
                "CREATE VIEW schema_version AS SELECT * FROM version_data",
            ),
            "altered: schema_version is a view, not the table replygate created",
        ),
        (
            (
                "ALTER TABLE decisions RENAME TO decisions_data",
                "CREATE MATERIALIZED VIEW decisions AS SELECT * FROM decisions_data",
            ),
            "altered: decisions is a materialized view, not the table replygate created",
        ),
        # No policy at all: every row hidden from a role other than the owner (verify: 0 records).
        (
            ("ALTER TABLE decisions ENABLE ROW LEVEL SECURITY",),
            "altered: decisions has row-level security enabled, with no policy, which hides "
            "every row from roles other than its owner",
        ),
        (
            ("ALTER TABLE decision_rules FORCE ROW LEVEL SECURITY",),
            "altered: decision_rules has row-level security set and forced on its owner",
        ),
        (
            (
                "CREATE TABLE diverted (LIKE decisions)",
                "CREATE RULE divert AS ON INSERT TO decisions DO INSTEAD "
                "INSERT INTO diverted VALUES (NEW.*)",
            ),
            "altered: decisions has the rewrite rules divert",
        ),
        (
            ("CREATE RULE quiet AS ON DELETE TO schema_version DO INSTEAD NOTHING",),
            "altered: schema_version has the rewrite rules quiet",
        ),
        (
            ("CREATE TABLE more_decisions () INHERITS (decisions)",),
            "altered: the tables more_decisions inherit from decisions",
        ),
        (
            ("ALTER TABLE decisions ALTER COLUMN seq TYPE numeric",),
            "altered: the column types of decisions are not those replygate created (seq is "
            "numeric, not bigint)",
        ),
    ],
)
def test_a_table_that_is_not_as_replygate_created_it_is_a_finding_and_refused_for_writing(
    postgres_server: str, db: PostgresDb, statements: tuple[str, ...], finding: str
) -> None:
    with open_decision_log(db.url) as log:
        core.written(log, [core.record(1), core.record(2)])
    for statement in statements:
        db.execute(statement)
    with role_url(postgres_server, db, "SELECT") as auditor:
        result = verify_log(auditor)
    assert not result.ok
    assert any(item.startswith(finding) for item in result.findings), result.findings
    with pytest.raises(DecisionLogError) as raised:
        open_decision_log(db.url)
    assert "is not stored as replygate created it: " + finding.removeprefix("altered: ") in str(
        raised.value
    )


@contextlib.contextmanager
def _database(postgres_server: str) -> Iterator[str]:
    """The URL of a new database of its own (its public schema empty); dropped after."""
    name = f"db_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield re.sub(r"/[^/?]*(\?|$)", rf"/{name}\1", postgres_server, count=1)
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_a_shadow_copy_in_a_schema_named_after_the_role_is_found_unless_the_url_names_one(
    postgres_server: str,
) -> None:
    """With the default search_path ("$user", public), a schema named after the auditor's role
    holding a clean copy of the log was read instead of the tampered one: OK."""
    with _database(postgres_server) as url:
        role = psycopg.conninfo.conninfo_to_dict(url)["user"]
        with open_decision_log(url, writer_id="genuine") as log:
            core.written(log, [core.record(1), core.record(2), core.record(3)])
        alone = verify_log(url)
        assert alone.ok, alone.findings  # one log, no search_path given: nothing ambiguous
        assert alone.notes == (
            'the log was read from schema public (search_path "$user", public, a default: '
            "the URL sets none)",
        )
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{role}"')
            for table in ("schema_version", "decisions", "decision_rules"):
                conn.execute(f'CREATE TABLE "{role}".{table} AS SELECT * FROM public.{table}')
            conn.execute("UPDATE public.decisions SET client = 'mallory' WHERE seq = 2")

        shadowed = verify_log(url)
        assert not shadowed.ok
        (finding,) = [item for item in shadowed.findings if item.startswith("ambiguous:")]
        assert finding.startswith(
            f"ambiguous: the schemas {role}, public all hold tables of the log's names, and the "
            f"URL sets no search_path: this verification read schema {role} through the default "
            'search_path "$user", public'
        )
        assert finding.endswith(
            "name the log's schema in the URL: ?options=-csearch_path%3DSCHEMA (the service's "
            "URL too)"
        )

        named = verify_log(f"{url}?options={quote('-csearch_path=public')}")
        assert named.first_problem is not None
        assert "(chain genuine, seq 2) does not match its hash" in named.first_problem
        assert named.problems == 1  # named: nothing ambiguous
        assert named.notes == ("the log was read from schema public (search_path public, set "
                               "by the URL)",)  # fmt: skip


def test_logs_in_several_schemas_verify_when_each_url_names_its_schema(
    postgres_server: str,
) -> None:
    """Several logs in one database, one schema each (as this test suite keeps them)."""
    with _database(postgres_server) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA tenant_a")
            conn.execute("CREATE SCHEMA tenant_b")
        urls = {
            schema: f"{url}?options={quote(f'-csearch_path={schema}')}"
            for schema in ("tenant_a", "tenant_b", "public")
        }
        for count, (schema, each) in enumerate(urls.items(), 1):
            with open_decision_log(each, writer_id=schema) as log:
                core.written(log, [core.record(minute) for minute in range(count)])
        for count, (schema, each) in enumerate(urls.items(), 1):
            result = verify_log(each)
            assert (result.ok, result.records, list(result.heads)) == (True, count, [schema])
            assert result.notes == (
                f"the log was read from schema {schema} (search_path {schema}, set by the URL)",
            )
        unnamed = verify_log(url)  # public, as the default search_path finds it: ambiguous
        assert not unnamed.ok and unnamed.records == 3
        assert [item[:56] for item in unnamed.findings] == [
            "ambiguous: the schemas public, tenant_a, tenant_b all ho"
        ]


# ---- values PostgreSQL holds that psycopg could not load ---------------------------------------

DEEP_JSON = "(repeat('[', 5000) || repeat(']', 5000))::jsonb"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (f"request = {DEEP_JSON}", "its request column nests too deeply to be read"),
        (f"decision = {DEEP_JSON}", "its decision column nests too deeply to be read"),
        ("decided_at = 'infinity'", 'its decided_at column holds "infinity", not a time'),
        (
            "decided_at = '0044-03-15 12:00:00+00 BC'",
            'its decided_at column holds "0044-03-15 12:00:00+00 BC", not a time',
        ),
        (
            "decided_at = '12000-01-01 00:00:00+00'",
            'its decided_at column holds "12000-01-01 00:00:00+00", not a time',
        ),
        (
            "request = jsonb_set(request, '{{actor,id}}', repeat('9', 5000)::jsonb)",
            "its request column holds a number of more than 4300 digits, more than can be read",
        ),
    ],
)
def test_a_value_psycopg_cannot_load_is_one_unreadable_row_for_every_reader(
    db: PostgresDb,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: str,
    reason: str,
) -> None:
    """verify printed a traceback or `cannot read the decision log` (exit 2), replay stopped,
    and the API answered 503 for every page with the row."""
    from fastapi.testclient import TestClient

    from replygate.api.app import create_app
    from replygate.cli.main import main
    from tests.test_api import auth, make_settings

    with open_decision_log(db.url, writer_id="w") as log:
        ids = core.written(log, [core.record(minute) for minute in range(6)])
    bad = ids[2]
    db.execute(f"UPDATE decisions SET {change} WHERE seq = 3")
    db.execute("UPDATE decisions SET client = 'mallory' WHERE seq = 5")

    # verify: one finding for the row, and the walk goes on to the next problem
    code = main(["audit", "verify", "--decision-log", db.url])
    out, err = capsys.readouterr()
    assert (code, err) == (1, "")
    assert out.startswith(
        f"FAILED: altered: record {bad} (chain w, seq 3) cannot be read: {reason}"
    )
    assert "(2 problems in all)" in out and "seq 5) does not match its hash" in out

    # replay: skipped and counted apart
    policy = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policy)
    code = main(["replay", "--decision-log", db.url, "--policy", str(policy), "--format", "json"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report["replayed"] == 5
    assert report["unreadable"] == [{"decision_id": bad, "reason": reason}]

    # the API: a page without it reads; one with it is the log's fault (500), not unavailable
    app = create_app(make_settings(tmp_path / "api", decision_log=db.url))
    with TestClient(app) as client:
        newest = client.get("/v1/decisions?limit=2", headers=auth("auditor"))
        listed = client.get("/v1/decisions", headers=auth("auditor"))
        one = client.get(f"/v1/decisions/{bad}", headers=auth("auditor"))
    assert newest.status_code == 200 and len(newest.json()["decisions"]) == 2
    assert (listed.status_code, listed.json()["code"]) == (500, "decision_log_altered")
    assert (one.status_code, one.json()["code"]) == (500, "decision_log_altered")


def test_times_read_back_as_written_whatever_the_session_s_time_zone(db: PostgresDb) -> None:
    """Times travel as text now (a value psycopg cannot load is then one unreadable row):
    whole seconds, fractions ending in zeros and the first and last years Python has."""
    odd = _with_options(db, "timezone=Asia/Kathmandu")
    times = [
        core.T0,
        core.T0 + timedelta(microseconds=120000),
        core.T0 + timedelta(microseconds=1),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    items = [core.record(1).model_copy(update={"time": time}) for time in times]
    with open_decision_log(odd) as log:
        ids = core.written(log, items)
        assert [log.get(decision_id).time for decision_id in ids] == times  # type: ignore[union-attr]
    assert verify_log(odd).ok and verify_log(db.url).ok
