"""The decision log: writing, searching, redaction, back-pressure, draining and tamper evidence.

`TestCore` runs against SQLite here and against a real PostgreSQL server in
test_decision_log_postgres.py (which subclasses it and swaps the `db` fixture). The writer's
back-pressure and retry behaviour is tested with backend stubs whose insert is held by an
Event, so nothing here waits on the clock to synchronise.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from replygate.decision_log import (
    DecisionLog,
    DecisionLogError,
    DecisionRecord,
    LogClosed,
    LogFull,
    open_decision_log,
    verify_log,
)
from replygate.decision_log import writer as writer_module
from replygate.decision_log.backend import FILTER_INDEXES, encode_cursor
from replygate.decision_log.chain import GENESIS, canonical, record_hash, storable
from replygate.decision_log.redaction import Redactor
from replygate.decision_log.writer import BatchWriter

T0 = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)


def request(actor: str = "carol", text: str = "We are sorry.", **extra: Any) -> dict[str, Any]:
    """A logged request as the API dumps it (JSON-ready)."""
    body: dict[str, Any] = {
        "actor": {"id": actor, "groups": []},
        "action": "reply",
        "channel": "twitter",
        "account": None,
        "post": {
            "id": "t-1",
            "sentiment": "negative",
            "category": "complaint",
            "author_reach": 25000,
            "received_at": "2026-11-27T21:40:00+01:00",
            "labels": [],
            "text": None,
        },
        "content": {"labels": [], "text": text},
        "context": {},
        "approvals": [],
        "at": "2026-11-27T21:50:00+01:00",
    }
    body.update(extra)
    return body


def decision(
    outcome: str = "allow", rules: tuple[str, ...] = ("senior-agents-reply",)
) -> dict[str, Any]:
    """A logged decision whose reasons name `rules`."""
    return {
        "decision": outcome,
        "approvers": [],
        "escalate_to": None,
        "respond_by": None,
        "sla_breached": False,
        "reasons": [
            {"rule": rule, "effect": outcome, "code": outcome, "message": "…", "source": None}
            for rule in rules
        ],
        "policy": {"files": ["policies/care.policy"], "commit": None, "ref": None},
    }


def record(
    minute: int,
    actor: str = "carol",
    outcome: str = "allow",
    rules: tuple[str, ...] = ("senior-agents-reply",),
    client: str = "publisher",
    commit: str | None = None,
) -> DecisionRecord:
    """A record decided `minute` minutes after T0 (records made with `new` are stamped now)."""
    made = DecisionRecord.new(
        request=request(actor),
        decision=decision(outcome, rules),
        client=client,
        commit=commit,
        ref="main" if commit else None,
        latency_ms=0.25,
    )
    return made.model_copy(update={"time": T0 + timedelta(minutes=minute)})


# ---- the database under test, and a way to tamper with it directly -------------------------


class SqliteDb:
    """An SQLite decision log file and direct SQL on it, as a tamperer would use."""

    placeholder = "?"

    def __init__(self, path: Path) -> None:
        self.url = f"sqlite:///{path}"
        self.path = path

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(self.path)) as conn, conn:
            return conn.execute(sql.format(p=self.placeholder), params).fetchall()

    def json(self, value: Any) -> Any:
        # The text the writer stores (a careful forger writes the same: verify compares it).
        return storable(value)

    def parse(self, value: Any) -> Any:
        return json.loads(value)

    def time(self, text: str) -> Any:
        return text


@pytest.fixture
def db(tmp_path: Path) -> SqliteDb:
    return SqliteDb(tmp_path / "decisions.db")


Db = Any  # SqliteDb here, PostgresDb in the PostgreSQL module


def written(log: DecisionLog, records: list[DecisionRecord]) -> list[str]:
    for item in records:
        log.submit(item)
    assert log.flush(10.0)
    return [item.decision_id for item in records]


def chain_of(db: Db, seq: int) -> tuple[str, str]:
    (row,) = db.execute("SELECT decision_id, writer_id FROM decisions WHERE seq = {p}", (seq,))
    return str(row[0]), str(row[1])


class TestCore:
    """Behaviour both backends share; `db` is the module's database fixture."""

    @pytest.fixture
    def opened(self, db: Db) -> Iterator[Callable[..., DecisionLog]]:
        """open_decision_log on the test database; every log opened is closed afterwards."""
        logs: list[DecisionLog] = []

        def open_log(**options: Any) -> DecisionLog:
            log = open_decision_log(db.url, **options)
            logs.append(log)
            return log

        yield open_log
        for log in logs:
            log.close()

    # ---- writing and reading ---------------------------------------------------------------
    def test_submitted_records_are_stored_with_their_chain(
        self, db: Db, opened: Callable[..., DecisionLog]
    ) -> None:
        log = opened(writer_id="replica-a")
        ids = written(log, [record(1), record(2, actor="alice", outcome="deny")])
        first, second = (log.get(i) for i in ids)
        assert first is not None and second is not None
        assert first.request["actor"]["id"] == "carol"
        assert second.decision["decision"] == "deny"
        assert first.time == T0 + timedelta(minutes=1)
        assert (first.writer_id, first.seq, first.prev_hash) == ("replica-a", 1, GENESIS)
        assert (second.seq, second.prev_hash) == (2, first.hash)
        assert log.get("no-such-decision") is None
        assert log.stats["written"] == 2
        assert log.stats["submitted"] == 2

    def test_query_filters_newest_first(self, opened: Callable[..., DecisionLog]) -> None:
        log = opened()
        ids = written(
            log,
            [
                record(1, actor="carol", rules=("viral", "price")),
                record(2, actor="alice", outcome="escalate", rules=("negative",)),
                record(
                    3,
                    actor="carol",
                    outcome="deny",
                    client="scheduler",
                    commit="ab12cd" * 6 + "ef12",
                ),
                record(4, actor="dave", rules=("viral",), commit="ffee" * 10),
            ],
        )

        def found(**filters: Any) -> list[str]:
            page, _ = log.query(**filters)
            return [item.decision_id for item in page]

        assert found() == ids[::-1]
        assert found(actor="carol") == [ids[2], ids[0]]
        assert found(outcome="escalate") == [ids[1]]
        assert found(rule="viral") == [ids[3], ids[0]]
        assert found(client="scheduler") == [ids[2]]
        assert found(commit="ab12cd" * 6 + "ef12") == [ids[2]]
        assert found(commit="ab12cd") == [ids[2]]  # an abbreviated sha
        assert found(since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=4)) == [
            ids[2],
            ids[1],
        ]
        assert found(actor="carol", rule="price") == [ids[0]]
        assert found(actor="mallory") == []

    def test_pages_follow_the_cursor_without_gaps_or_repeats(
        self, opened: Callable[..., DecisionLog]
    ) -> None:
        log = opened()
        # Two records share a time: the decision id breaks the tie, so none is lost between pages.
        records = [record(minute) for minute in (1, 2, 3, 3, 4, 5, 6)]
        ids = written(log, records)
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            page, cursor = log.query(limit=3, cursor=cursor)
            seen += [item.decision_id for item in page]
            pages += 1
            if cursor is None:
                break
        assert pages == 3
        assert sorted(seen) == sorted(ids)
        assert len(seen) == len(set(seen))
        times = [log.get(i).time for i in seen]  # type: ignore[union-attr]
        assert times == sorted(times, reverse=True)

    def test_an_export_that_resumes_at_its_last_record_misses_none_committed_late(
        self, opened: Callable[..., DecisionLog]
    ) -> None:
        """Two writers, as two workers or replicas: one commits a decision it made before the
        other's last one after an export read that. By decision time it sorted below the
        export's first record, so neither a page walk nor the next export ever showed it."""
        worker_a, worker_b = opened(writer_id="worker-a"), opened(writer_id="worker-b")
        first = written(worker_a, [record(1), record(4)])

        def walk() -> Iterator[str]:
            cursor = None
            while True:
                page, cursor = worker_a.query(limit=1, cursor=cursor)
                yield from (item.decision_id for item in page)
                if cursor is None:
                    return

        exported = list(walk())
        assert exported == first[::-1]
        late = written(worker_b, [record(3)])  # decided at minute 3, committed after the export
        resumed = list(itertools.takewhile(lambda found: found != exported[0], walk()))
        assert resumed == late
        assert list(walk()) == [*late, *exported]  # the order they were committed in

    def test_a_cursor_of_another_kind_or_a_naive_time_is_refused(
        self, opened: Callable[..., DecisionLog]
    ) -> None:
        log = opened()
        with pytest.raises(ValueError, match="cursor"):
            log.query(cursor="not-a-cursor")
        with pytest.raises(ValueError, match="cursor"):  # was an OverflowError: a 500
            log.query(cursor=encode_cursor(2**63))
        with pytest.raises(ValueError, match="since: needs a time-zone offset"):
            log.query(since=datetime(2026, 11, 27, 20, 0))

    def test_a_request_without_at_is_stored_with_the_decision_time(
        self, opened: Callable[..., DecisionLog]
    ) -> None:
        log = opened()
        body = request()
        del body["at"]
        made = DecisionRecord.new(body, decision(), "publisher", None, None, 0.1)
        written(log, [made])
        stored = log.get(made.decision_id)
        assert stored is not None
        assert datetime.fromisoformat(stored.request["at"]) == made.time

    # ---- redaction -------------------------------------------------------------------------
    def test_redaction_drops_and_hashes_before_storage(
        self, db: Db, opened: Callable[..., DecisionLog]
    ) -> None:
        log = opened(redact={"content.text": "hash", "post.id": "drop"})
        made = DecisionRecord.new(
            request(text="Call me on 0664 1234567"), decision(), "publisher", None, None, 0.1
        )
        written(log, [made])
        stored = log.get(made.decision_id)
        assert stored is not None
        digest = hashlib.sha256(b"Call me on 0664 1234567").hexdigest()
        assert stored.request["content"]["text"] == f"sha256:{digest}"
        assert "id" not in stored.request["post"]
        assert sorted(stored.redacted) == ["content.text=hash", "post.id=drop"]
        raw = db.execute("SELECT request FROM decisions")
        assert "0664" not in json.dumps(db.parse(raw[0][0]))
        # The caller's dict is untouched: the API may still use it.
        assert made.request["content"]["text"] == "Call me on 0664 1234567"
        assert verify_log(db.url).ok

    # ---- draining --------------------------------------------------------------------------
    def test_close_writes_everything_accepted(
        self, db: Db, opened: Callable[..., DecisionLog]
    ) -> None:
        # A long fill wait: nothing is written before close, so close must do it.
        log = opened(flush_interval=30.0, batch_size=1000)
        for minute in range(50):
            log.submit(record(minute))
        log.close(timeout=10.0)
        assert db.execute("SELECT count(*) FROM decisions") == [(50,)]
        with pytest.raises(LogClosed):
            log.submit(record(51))

    # ---- tamper evidence -------------------------------------------------------------------
    def test_an_intact_log_verifies(self, db: Db, opened: Callable[..., DecisionLog]) -> None:
        written(opened(), [record(minute) for minute in range(5)])
        result = verify_log(db.url)
        assert (result.ok, result.records, result.chains) == (True, 5, 1)
        assert result.first_problem is None

    def test_an_altered_record_is_found(self, db: Db, opened: Callable[..., DecisionLog]) -> None:
        written(opened(), [record(minute, outcome="deny") for minute in range(5)])
        altered, writer = chain_of(db, 3)
        (row,) = db.execute("SELECT decision FROM decisions WHERE seq = {p}", (3,))
        changed = db.parse(row[0]) | {"decision": "allow"}
        db.execute("UPDATE decisions SET decision = {p} WHERE seq = {p}", (db.json(changed), 3))
        result = verify_log(db.url)
        assert not result.ok
        assert result.problem_record == altered
        assert result.first_problem == (
            f"altered: record {altered} (chain {writer}, seq 3) does not match its hash: its "
            "content was changed after it was written"
        )

    def test_a_changed_search_column_is_found(
        self, db: Db, opened: Callable[..., DecisionLog]
    ) -> None:
        written(opened(), [record(minute, outcome="deny") for minute in range(3)])
        hidden, _ = chain_of(db, 2)
        # Hiding a denial from `GET /v1/decisions?outcome=deny` without touching the record.
        db.execute("UPDATE decisions SET outcome = 'allow' WHERE seq = {p}", (2,))
        result = verify_log(db.url)
        assert result.problem_record == hidden
        assert 'its outcome column reads "allow"' in str(result.first_problem)

    def test_a_removed_record_is_found(self, db: Db, opened: Callable[..., DecisionLog]) -> None:
        written(opened(), [record(minute) for minute in range(5)])
        _, writer = chain_of(db, 3)
        after, _ = chain_of(db, 4)
        db.execute("DELETE FROM decisions WHERE seq = {p}", (3,))
        result = verify_log(db.url)
        assert not result.ok
        assert result.problem_record == after
        assert result.first_problem == (
            f"removed: chain {writer} has no seq 3; the next record present is record {after} "
            f"(chain {writer}, seq 4)"
        )

    def test_an_inserted_record_is_found(self, db: Db, opened: Callable[..., DecisionLog]) -> None:
        written(opened(), [record(minute) for minute in range(5)])
        before, writer = chain_of(db, 2)
        (prev_hash,) = db.execute("SELECT hash FROM decisions WHERE seq = {p}", (2,))[0]
        # A careful forger: make room at seq 3, then insert a record that hashes correctly.
        db.execute("UPDATE decisions SET seq = -(seq + 1) WHERE seq >= {p}", (3,))
        db.execute("UPDATE decisions SET seq = -seq WHERE seq < {p}", (0,))
        forged = record(3, actor="mallory")
        forged_request = storable(forged.request)
        forged_decision = storable(forged.decision)
        time = forged.time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        digest = record_hash(
            writer, 3, forged.decision_id, time, "publisher", forged_request, forged_decision,
            None, None, 0.25, "[]", prev_hash,
        )  # fmt: skip
        db.execute(
            "INSERT INTO decisions (decision_id, decided_at, client, request, decision, "
            "policy_commit, policy_ref, latency_ms, redacted, writer_id, seq, prev_hash, hash, "
            "actor, outcome, position) VALUES ({p}, {p}, {p}, {p}, {p}, NULL, NULL, 0.25, {p}, {p}, "
            "3, {p}, {p}, 'mallory', 'allow', (SELECT max(position) + 1 FROM decisions))",
            (
                forged.decision_id,
                db.time(time),
                "publisher",
                db.json(forged.request),
                db.json(forged.decision),
                db.json([]),
                writer,
                prev_hash,
                digest,
            ),
        )
        after, _ = chain_of(db, 4)
        result = verify_log(db.url)
        assert not result.ok
        assert result.problem_record == after
        assert result.first_problem is not None
        assert result.first_problem.startswith(
            f"inserted or replaced: record {after} (chain {writer}, seq 4) does not follow "
            f"record {forged.decision_id} (seq 3)"
        )
        assert before != forged.decision_id

    def test_a_tampered_rule_index_is_found(
        self, db: Db, opened: Callable[..., DecisionLog]
    ) -> None:
        ids = written(opened(), [record(1, rules=("viral",)), record(2, rules=("viral",))])
        # Hiding a decision from `GET /v1/decisions?rule=viral`.
        db.execute("DELETE FROM decision_rules WHERE decision_id = {p}", (ids[0],))
        result = verify_log(db.url)
        assert result.problem_record == ids[0]
        assert "the rule index lists [] for record" in str(result.first_problem)

    def test_anchored_heads_catch_a_cut_off_tail(
        self, db: Db, opened: Callable[..., DecisionLog]
    ) -> None:
        written(opened(), [record(minute) for minute in range(4)])
        heads = verify_log(db.url).as_dict()["heads"]
        last, _ = chain_of(db, 4)
        db.execute("DELETE FROM decisions WHERE seq = {p}", (4,))
        # A sloppy tamperer forgets the rule index, which still names the removed record ...
        sloppy = verify_log(db.url)
        assert sloppy.problem_record == last
        assert str(sloppy.first_problem).startswith(f"removed: the rule index lists record {last}")
        # ... a careful one removes it there too: the shorter chain is still a valid chain,
        # and only the heads anchored earlier show what is missing.
        db.execute("DELETE FROM decision_rules WHERE decision_id = {p}", (last,))
        assert verify_log(db.url).ok
        result = verify_log(db.url, anchors=heads)
        (writer,) = heads
        assert result.first_problem == (
            f"removed: chain {writer} was anchored at seq 4 but it ends at seq 3"
        )

    def test_values_that_storage_would_rewrite_still_verify(
        self, db: Db, opened: Callable[..., DecisionLog]
    ) -> None:
        # NUL, lone surrogates, huge floats, -0.0 and NaN are cleaned once, before hashing.
        awkward = request(
            text="nul \x00 and \ud800 lone",
            context={"big": 1e20, "tiny": 1e-7, "zero": -0.0, "nan": float("nan"), "n": 10**30},
        )
        made = DecisionRecord.new(awkward, decision(), "publisher", None, None, 0.1)
        log = opened()
        written(log, [made])
        stored = log.get(made.decision_id)
        assert stored is not None
        assert stored.request["content"]["text"] == "nul \ufffd and ? lone"
        assert stored.request["context"] == {
            "big": 10**20,
            "tiny": 1e-7,
            "zero": 0.0,
            "nan": "nan",
            "n": 10**30,
        }
        assert verify_log(db.url).ok

    def test_a_log_from_a_newer_replygate_is_refused(
        self, db: Db, opened: Callable[..., DecisionLog]
    ) -> None:
        opened().close()
        db.execute("UPDATE schema_version SET version = 99")
        with pytest.raises(DecisionLogError, match="has schema version 99; this replygate knows"):
            open_decision_log(db.url)
        with pytest.raises(DecisionLogError, match="upgrade replygate"):
            verify_log(db.url)

    # ---- several writers -------------------------------------------------------------------
    def test_two_writers_keep_two_valid_chains(
        self, db: Db, opened: Callable[..., DecisionLog]
    ) -> None:
        first, second = opened(writer_id="replica-a"), opened(writer_id="replica-b")
        for minute in range(20):
            (first if minute % 3 else second).submit(record(minute))
        assert first.flush(10.0) and second.flush(10.0)
        result = verify_log(db.url)
        assert (result.ok, result.records, result.chains) == (True, 20, 2)
        assert {w: h.seq for w, h in result.heads.items()} == {"replica-a": 13, "replica-b": 7}

    def test_a_reopened_writer_continues_its_chain(
        self, db: Db, opened: Callable[..., DecisionLog]
    ) -> None:
        log = opened(writer_id="replica-a")
        written(log, [record(1), record(2)])
        log.close()
        again = opened(writer_id="replica-a")
        (later,) = written(again, [record(3)])
        stored = again.get(later)
        assert stored is not None and stored.seq == 3
        assert verify_log(db.url).ok


# ---- SQLite only: URLs, options, files -------------------------------------------------------


def test_an_unknown_scheme_is_refused_clearly() -> None:
    with pytest.raises(
        ValueError, match="unknown kind 'mysql'; use sqlite:///PATH or postgresql://"
    ):
        open_decision_log("mysql://db/decisions")


def test_an_in_memory_sqlite_log_is_refused() -> None:
    with pytest.raises(ValueError, match="an in-memory database would lose the log"):
        open_decision_log("sqlite:///:memory:")


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            {"content.txt": "hash"},
            "'content.txt' names no request field \\(content has: labels, text\\)",
        ),
        ({"content.text": "encrypt"}, "the mode is drop or hash"),
        ({"post.text.words": "drop"}, "post.text has no fields below it"),
    ],
)
def test_a_redaction_rule_naming_no_field_is_refused(
    tmp_path: Path, rules: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        open_decision_log(f"sqlite:///{tmp_path / 'd.db'}", redact=rules)
    assert not (tmp_path / "d.db").exists()


def test_redaction_reaches_into_lists_and_context() -> None:
    redactor = Redactor({"approvals.by": "hash", "context.customer": "drop"})
    body = request(
        approvals=[{"by": "dave"}, {"by": "erin"}], context={"customer": "c-1", "crisis": False}
    )
    redacted, done = redactor.apply(body)
    assert [item["by"][:7] for item in redacted["approvals"]] == ["sha256:", "sha256:"]
    assert redacted["context"] == {"crisis": False}
    assert done == ["approvals.by=hash", "context.customer=drop"]
    assert body["approvals"][0]["by"] == "dave"


def test_a_relative_sqlite_path_is_created_in_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_decision_log("sqlite:///logs/decisions.db") as log:
        written(log, [record(1)])
    assert (tmp_path / "logs" / "decisions.db").is_file()
    with closing(sqlite3.connect(tmp_path / "logs" / "decisions.db")) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_verify_refuses_a_file_that_is_not_a_decision_log(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as conn, conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(DecisionLogError, match="is not a replygate decision log"):
        verify_log(f"sqlite:///{other}")


def test_the_hash_is_sha256_of_the_canonical_json_and_the_previous_hash() -> None:
    parts = ["w-1", 7, "d-1", "2026-11-27T20:00:00.000000Z", "publisher", {"b": 1, "a": "ü"},
             {"decision": "allow"}, None, "main", 0.5, ["content.text=hash"]]  # fmt: skip
    expected = hashlib.sha256((canonical(parts) + "ab" * 32).encode()).hexdigest()
    got = record_hash(
        "w-1", 7, "d-1", "2026-11-27T20:00:00.000000Z", "publisher", canonical({"b": 1, "a": "ü"}),
        canonical({"decision": "allow"}), None, "main", 0.5, canonical(["content.text=hash"]),
        "ab" * 32,
    )  # fmt: skip
    assert got == expected
    assert canonical({"b": 1, "a": "ü"}) == '{"a":"ü","b":1}'


# ---- the writer against stub backends: back-pressure, retries, unknown commits ----------------


class StubBackend:
    """Stores rows in memory; `hold` keeps the writer inside insert until released."""

    where = "stub"
    driver_errors = ()

    def __init__(self) -> None:
        self.rows: list[Any] = []
        self.hold = threading.Event()
        self.hold.set()
        self.inside = threading.Event()
        self.failures: list[str] = []  # "before" fails without storing, "after" stores, then fails

    def chain_head(self, writer_id: str) -> tuple[int, str] | None:
        mine = [row for row in self.rows if row.writer_id == writer_id]
        return (mine[-1].seq, mine[-1].hash) if mine else None

    def insert(self, rows: list[Any]) -> None:
        self.inside.set()
        assert self.hold.wait(10.0)
        if self.failures:
            failure = self.failures.pop(0)
            if failure == "after":
                self.rows.extend(rows)
            raise ConnectionError(f"connection lost ({failure} commit)")
        self.rows.extend(rows)

    def existing(self, decision_ids: list[str]) -> set[str]:
        return {row.record.decision_id for row in self.rows} & set(decision_ids)

    def make_durable(self) -> None:
        pass

    def close(self) -> None:
        pass


def stub_log(backend: StubBackend, **options: Any) -> DecisionLog:
    settings = {"queue_size": 3, "batch_size": 1, "flush_interval": 0.0, "block_timeout": 0.01}
    settings.update(options)
    writer = BatchWriter(backend, "w", Redactor(), **settings)  # type: ignore[arg-type]
    return DecisionLog(backend, writer)  # type: ignore[arg-type]


def assert_one_valid_chain(backend: StubBackend, count: int) -> None:
    assert [row.seq for row in backend.rows] == list(range(1, count + 1))
    assert len({row.record.decision_id for row in backend.rows}) == count
    prev = GENESIS
    for row in backend.rows:
        assert row.prev_hash == prev
        prev = row.hash


def test_a_full_queue_blocks_briefly_then_refuses(caplog: pytest.LogCaptureFixture) -> None:
    backend = StubBackend()
    backend.hold.clear()
    log = stub_log(backend)
    log.submit(record(0))
    assert backend.inside.wait(10.0)  # the writer holds record 0 inside a stalled insert
    for minute in range(1, 4):
        log.submit(record(minute))
    assert log.queue_depth == 4  # three queued, one in the stalled batch
    with pytest.raises(LogFull, match="queue is full"):
        log.submit(record(4))
    assert log.stats["rejected_full"] == 1
    assert log.stats["submitted"] == 4
    assert "decision log queue full" in caplog.text
    assert not log.flush(timeout=0.01)
    backend.hold.set()
    assert log.flush(10.0)
    assert log.stats["written"] == 4
    assert log.queue_depth == 0
    assert_one_valid_chain(backend, 4)
    log.close()


def test_a_failed_write_is_retried_with_nothing_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_module, "FIRST_RETRY", 0.001)
    backend = StubBackend()
    backend.failures = ["before", "before"]
    log = stub_log(backend, queue_size=100, batch_size=10)
    for minute in range(5):
        log.submit(record(minute))
    assert log.flush(10.0)
    assert log.stats["write_errors"] == 2
    assert log.stats["written"] == 5
    assert_one_valid_chain(backend, 5)
    log.close()


def test_a_commit_of_unknown_outcome_is_not_written_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_module, "FIRST_RETRY", 0.001)
    backend = StubBackend()
    backend.failures = ["after"]  # stored, but the acknowledgement was lost
    log = stub_log(backend, queue_size=100, batch_size=10)
    written(log, [record(minute) for minute in range(3)])
    written(log, [record(minute) for minute in range(3, 5)])
    assert log.stats["written"] == 5
    assert_one_valid_chain(backend, 5)
    log.close()


def test_close_gives_up_on_a_dead_database_and_says_how_many_were_lost(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "ABANDON_GRACE", 0.01)
    backend = StubBackend()
    backend.hold.clear()
    log = stub_log(backend)
    log.submit(record(0))
    assert backend.inside.wait(10.0)
    log.submit(record(1))
    log.close(timeout=0.01)
    assert "2 decisions could not be written within 0.0 s and are lost" in caplog.text
    backend.hold.set()


def test_a_new_record_equals_a_validated_one_and_has_a_time_ordered_id() -> None:
    made = DecisionRecord.new(request(), decision(), "publisher", "ab" * 20, "main", 1)
    assert made == DecisionRecord.model_validate(made.model_dump())
    assert made.latency_ms == 1.0 and isinstance(made.latency_ms, float)
    parsed = uuid.UUID(hex=made.decision_id)
    assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    later = DecisionRecord.new(request(), decision(), "publisher", None, None, 0.1)
    # Ids grow with time (to the millisecond), so inserts land at the end of the indexes.
    assert later.decision_id[:12] >= made.decision_id[:12]
    assert int(made.decision_id[:12], 16) == int(made.time.timestamp() * 1000)


def back_to_schema_one(db: Db, *undo: str) -> None:
    """The log as an earlier replygate (schema 1) left it: no positions, the old indexes."""
    for index in ("position", "actor", "outcome", "client", "commit"):
        db.execute(f"DROP INDEX decisions_by_{index}")
    for statement in undo:
        db.execute(statement)
    db.execute("ALTER TABLE decisions DROP COLUMN position")
    for statement in FILTER_INDEXES[1:]:
        db.execute(statement)
    db.execute("UPDATE schema_version SET version = 1")


def test_a_log_of_schema_one_gets_positions_in_the_order_its_rows_were_written(
    tmp_path: Path,
) -> None:
    """Schema 2 pages by commit position: a log written before it is numbered on opening, in
    the order its rows were inserted, and verifies as before."""
    db = SqliteDb(tmp_path / "decisions.db")
    log = open_decision_log(db.url, writer_id="old")
    ids = written(log, [record(5), record(1), record(3)])
    log.close()
    back_to_schema_one(db, "DROP TRIGGER decisions_need_a_position")

    log = open_decision_log(db.url, writer_id="new")
    try:
        later = written(log, [record(2)])
        page, _ = log.query(limit=10)
        assert [item.decision_id for item in page] == [*later, *ids[::-1]]
        page, _ = log.query(actor="carol", limit=10)
        assert len(page) == 4
    finally:
        log.close()
    assert db.execute("SELECT max(version) FROM schema_version") == [(2,)]
    assert verify_log(db.url).ok
    # A writer of schema 1 still running cannot add rows that no page would show.
    with pytest.raises(sqlite3.IntegrityError, match="older than decision-log schema 2"):
        db.execute(
            "INSERT INTO decisions (decision_id, decided_at, client, request, decision, "
            "latency_ms, redacted, writer_id, seq, prev_hash, hash) "
            "VALUES ('x', 't', 'c', '{{}}', '{{}}', 0, '[]', 'w', 1, 'p', 'h')"
        )


def test_a_record_hidden_from_the_pages_by_its_position_is_found(tmp_path: Path) -> None:
    """Positions are not hashed: a NULL one left its record out of every page while verify
    said OK; two records on one position lose one of them between pages."""
    db = SqliteDb(tmp_path / "decisions.db")
    log = open_decision_log(db.url)
    ids = written(log, [record(minute) for minute in range(4)])
    log.close()
    db.execute("UPDATE decisions SET position = NULL WHERE decision_id = ?", (ids[1],))
    result = verify_log(db.url)
    assert not result.ok
    assert result.first_problem == (
        f"altered: record {ids[1]} has no position, which hides it from GET /v1/decisions"
    )
    db.execute("UPDATE decisions SET position = 2 WHERE decision_id = ?", (ids[1],))
    assert verify_log(db.url).ok
    db.execute("DROP INDEX decisions_by_position")
    db.execute("UPDATE decisions SET position = 3 WHERE decision_id = ?", (ids[1],))
    assert "altered: 2 records share position 3" in str(verify_log(db.url).findings)


def test_a_full_sha_in_capitals_finds_its_decisions(
    tmp_path: Path,
) -> None:
    db = SqliteDb(tmp_path / "decisions.db")
    with open_decision_log(db.url) as log:
        sha = "ab12cd" * 6 + "ef12"
        written(log, [record(1, commit=sha)])
        for written_as in (sha, sha.upper(), sha[:7].upper()):
            page, _ = log.query(commit=written_as)
            assert len(page) == 1, written_as
