"""A log tampered with below the chain: rows whose columns no longer hold what replygate writes,
a schema_version that is no number, a table dropped (docs/decision-log.md, *Tamper evidence*).

`audit verify` reports each such row or table as a finding (exit 1), never a traceback; `replay`
skips a row it cannot read and counts it apart, and stops with a message on a damaged schema.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from replygate.cli.main import main
from replygate.decision_log import DecisionLogError, open_decision_log, verify_log
from replygate.decision_log.replay import iter_requests
from tests.test_decision_log import record, written

ROOT = Path(__file__).resolve().parent.parent
WRITER = "w-1"
# '[' * 100000 + ']' * 100000, built by SQLite
DEEP = "replace(hex(zeroblob(50000)), '00', '[') || replace(hex(zeroblob(50000)), '00', ']')"
NOT_UTF8 = "CAST(x'7b22613a22ff7d' AS TEXT)"  # {"a:"<0xff>}
SHOWN = '"{\\"a:\\"\\\\xff}"'  # how a finding quotes it


@pytest.fixture
def log(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    with open_decision_log(url, writer_id=WRITER) as opened:
        written(opened, [record(minute) for minute in range(6)])
    return url


def tamper(tmp_path: Path, *statements: str) -> None:
    """Run the statements on the log, its NOT NULL constraints gone (a tamperer rebuilds it)."""
    with closing(sqlite3.connect(tmp_path / "decisions.db")) as conn, conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        if "decisions" in tables:
            conn.execute("CREATE TABLE loose AS SELECT * FROM decisions")
            conn.execute("DROP TABLE decisions")
            conn.execute("ALTER TABLE loose RENAME TO decisions")
        for statement in statements:
            conn.execute(statement)


def verify(capsys: pytest.CaptureFixture[str], url: str) -> tuple[int, str, str]:
    code = main(["audit", "verify", "--decision-log", url])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("change", "finding"),
    [
        ("hash = NULL", "cannot be read: its hash column holds NULL, not text"),
        ("prev_hash = NULL", "cannot be read: its prev_hash column holds NULL, not text"),
        ("seq = NULL", "cannot be read: its seq column holds NULL, not a whole number"),
        ("seq = 'four'", 'cannot be read: its seq column holds "four", not a whole number'),
        ("seq = 4.5", "cannot be read: its seq column holds 4.5, not a whole number"),
        ("writer_id = NULL", "cannot be read: its writer_id column holds NULL, not text"),
        ("decision_id = NULL", "cannot be read: its decision_id column holds NULL, not text"),
        ("client = NULL", "cannot be read: its client column holds NULL, not text"),
        ("decided_at = NULL", "cannot be read: its decided_at column holds NULL, not a time"),
        ("latency_ms = 'fast'", 'cannot be read: its latency_ms column holds "fast", not a number'),
        ("request = 'nope'", "cannot be read: its request column is not JSON"),
        (f"request = {DEEP}", "cannot be read: its request column nests too deeply to be read"),
        ("request = x'0000'", "cannot be read: its request column holds a blob of 2 bytes, not"),
        # JSON that parses, but stored as a BLOB: not the text the writer stored.
        ("decision = CAST(decision AS BLOB)", "cannot be read: its decision column holds a blob"),
        # Text that is not UTF-8 (Python's sqlite3 fails the whole query on it by default).
        (f"request = {NOT_UTF8}", f"its request column holds text that is not UTF-8: {SHOWN}"),
        (f"hash = {NOT_UTF8}", f"its hash column holds text that is not UTF-8: {SHOWN}"),
        (f"seq = {NOT_UTF8}", f"its seq column holds text that is not UTF-8: {SHOWN}"),
        (f"decided_at = {NOT_UTF8}", "its decided_at column holds text that is not UTF-8"),
        (f"decision_id = {NOT_UTF8}", "its decision_id column holds text that is not UTF-8"),
    ],
)
def test_verify_reports_a_row_it_cannot_read_as_altered(
    tmp_path: Path, log: str, capsys: pytest.CaptureFixture[str], change: str, finding: str
) -> None:
    tamper(tmp_path, f"UPDATE decisions SET {change} WHERE seq = 4")
    code, out, err = verify(capsys, log)
    assert (code, err) == (1, "")
    assert "Traceback" not in out
    result = verify_log(log)
    assert not result.ok
    altered = [item for item in result.findings if item.startswith("altered: record ")]
    assert len(altered) == 1 and finding in altered[0], result.findings
    assert finding in out  # the text report lists it too, first or among the others


def test_a_seq_made_a_fraction_is_no_longer_reported_ok(
    tmp_path: Path, log: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tamper(tmp_path, "UPDATE decisions SET seq = 4.5 WHERE seq = 4")
    code, out, _ = verify(capsys, log)
    assert code == 1
    assert out.startswith("FAILED: altered: record ")
    assert f"(chain {WRITER}, seq 4.5) cannot be read" in out.splitlines()[0]


@pytest.mark.parametrize(
    ("statement", "finding"),
    [
        ("UPDATE schema_version SET version = 'x'", 'altered: the schema_version table holds "x"'),
        ("DELETE FROM schema_version", "altered: the schema_version table holds NULL"),
        ("DROP TABLE decision_rules", "removed: the table decision_rules (the rule index) is gone"),
        ("DROP TABLE decisions", "removed: the table decisions is gone, and every record with it"),
        # Replay read such a log as if nothing were wrong while verify failed it.
        (
            "UPDATE schema_version SET version = 1",
            "altered: schema_version says 1, but the decisions table has the position column",
        ),
    ],
)
def test_verify_reports_a_tampered_schema_as_a_finding(
    tmp_path: Path,
    log: str,
    capsys: pytest.CaptureFixture[str],
    statement: str,
    finding: str,
) -> None:
    tamper(tmp_path, statement)
    code, out, err = verify(capsys, log)
    assert (code, err) == (1, "")
    assert out.startswith(f"FAILED: {finding}")
    # The records left are still checked: a row altered besides is found too.
    if "decisions is gone" not in finding:
        tamper(tmp_path, "UPDATE decisions SET hash = NULL WHERE seq = 2")
        result = verify_log(log)
        assert result.problems == 2 and result.records == 6
    # Replay and the other readers stop with a message naming the damage.
    with pytest.raises(DecisionLogError, match="is damaged: " + finding.partition(":")[0]):
        list(iter_requests(log))


def test_a_log_with_a_tampered_schema_version_is_not_opened_for_writing(
    tmp_path: Path, log: str
) -> None:
    tamper(tmp_path, "UPDATE schema_version SET version = 'x'")
    with pytest.raises(DecisionLogError, match='schema_version table holds "x"'):
        open_decision_log(log)


def test_replay_skips_a_row_it_cannot_read_and_counts_it_apart(
    tmp_path: Path, log: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tamper(tmp_path, f"UPDATE decisions SET request = {DEEP} WHERE seq = 2",
           "UPDATE decisions SET decision = 'nope' WHERE seq = 3",
           "UPDATE decisions SET decision = '[]' WHERE seq = 4")  # fmt: skip
    policy = str(tmp_path / "policies")
    shutil.copytree(ROOT / "policies", policy)
    code = main(["replay", "--decision-log", log, "--policy", policy, "--format", "json"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report["replayed"] == 3
    reasons = [item["reason"] for item in report["unreadable"]]
    assert reasons == [
        "its request column nests too deeply to be read",
        "its decision column is not JSON (Expecting value: line 1 column 1 (char 0))",
        "its decision column is not a JSON object",
    ]
    assert report["unreplayable"] == []
    code = main(["replay", "--decision-log", log, "--policy", policy])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert "3 stored records could not be read (altered in the database?" in out
    assert len(list(iter_requests(log))) == 3


def test_the_api_answers_a_tampered_row_as_the_logs_fault_not_the_clients(
    tmp_path: Path, log: str
) -> None:
    from fastapi.testclient import TestClient

    from replygate.api.app import create_app
    from tests.test_api import auth, make_settings

    tamper(tmp_path, "UPDATE decisions SET seq = 'four' WHERE seq = 4")
    app = create_app(make_settings(tmp_path / "api", decision_log=log))
    with TestClient(app) as client:
        listed = client.get("/v1/decisions", headers=auth("auditor"))
    assert listed.status_code == 500
    assert listed.json()["code"] == "decision_log_altered"


def test_a_row_that_is_not_utf8_is_one_finding_and_every_reader_goes_on(
    tmp_path: Path, log: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from fastapi.testclient import TestClient

    from replygate.api.app import create_app
    from tests.test_api import auth, make_settings

    (bad,) = (row[0] for row in stored(tmp_path, "SELECT decision_id FROM decisions WHERE seq = 2"))
    tamper(tmp_path, f"UPDATE decisions SET request = {NOT_UTF8} WHERE seq = 2",
           "UPDATE decisions SET client = 'mallory' WHERE seq = 5")  # fmt: skip

    # verify reports the row and walks on to the next problem (exit 1, not 2)
    code, out, err = verify(capsys, log)
    assert (code, err) == (1, "")
    assert out.startswith(f"FAILED: altered: record {bad} (chain {WRITER}, seq 2) cannot be read")
    assert "(2 problems in all)" in out and "seq 5) does not match its hash" in out

    # replay skips it and counts it apart
    policy = str(tmp_path / "policies")
    shutil.copytree(ROOT / "policies", policy)
    code = main(["replay", "--decision-log", log, "--policy", policy, "--format", "json"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report["replayed"] == 5
    assert [item["decision_id"] for item in report["unreadable"]] == [bad]

    # the API: a page without it reads; one with it is the log's fault (500), not unavailable
    app = create_app(make_settings(tmp_path / "api", decision_log=log))
    with TestClient(app) as client:
        newest = client.get("/v1/decisions?limit=2", headers=auth("auditor"))
        listed = client.get("/v1/decisions", headers=auth("auditor"))
        one = client.get(f"/v1/decisions/{bad}", headers=auth("auditor"))
    assert newest.status_code == 200 and len(newest.json()["decisions"]) == 2
    assert (listed.status_code, listed.json()["code"]) == (500, "decision_log_altered")
    assert (one.status_code, one.json()["code"]) == (500, "decision_log_altered")


def stored(tmp_path: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(tmp_path / "decisions.db")) as conn:
        return conn.execute(sql).fetchall()


def swap_index(path: Path, index: str, left_out: str) -> None:
    """Give `index` the pages of a copy built without the rows matching `left_out`, as anyone
    who can write the file can with `PRAGMA writable_schema`: every row stays in the table."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")
        (table_sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'decisions'")
        conn.execute(table_sql[0].replace("CREATE TABLE decisions", "CREATE TABLE shadow", 1))
        conn.execute(
            f"INSERT INTO shadow SELECT * FROM decisions WHERE NOT ({left_out}) ORDER BY rowid"
        )
        (index_sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (index,))
        copy = index.replace("decisions", "shadow")
        if index_sql[0] is not None:  # an index of its own (autoindexes come with the table)
            conn.execute(index_sql[0].replace(index, copy).replace(" decisions", " shadow"))
        roots = dict(conn.execute("SELECT name, rootpage FROM sqlite_master"))
        conn.execute("PRAGMA writable_schema = ON")
        with conn:
            conn.execute("BEGIN")
            swap = "UPDATE sqlite_master SET rootpage = ? WHERE name = ?"
            conn.execute(swap, (roots[copy], index))
            conn.execute(swap, (roots[index], copy))
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("DROP TABLE shadow")
        conn.execute("PRAGMA journal_mode = WAL")


@pytest.mark.parametrize(
    ("index", "forged", "found"),
    [
        # A forged allow the audit pages serve, left out of the index verify walks the chains by.
        ("sqlite_autoindex_decisions_2", True, "row 7 missing from index sqlite_autoindex"),
        # A genuine record the pages (by position) and replay (by time) no longer list.
        ("decisions_by_position", False, "row 3 missing from index decisions_by_position"),
        ("decisions_by_time", False, "row 3 missing from index decisions_by_time"),
    ],
)
def test_an_index_out_of_step_with_its_table_is_altered(
    tmp_path: Path,
    log: str,
    capsys: pytest.CaptureFixture[str],
    index: str,
    forged: bool,
    found: str,
) -> None:
    """Found by probing the log: `verify` said OK, with the key and anchors, while the API served
    a decision never logged or missed one that was; `quick_check` passes such a file too."""
    path = tmp_path / "decisions.db"
    left_out = "seq = 3"
    if forged:
        with closing(sqlite3.connect(path)) as conn, conn:
            conn.row_factory = sqlite3.Row
            row = dict(conn.execute("SELECT * FROM decisions WHERE seq = 1").fetchone())
            row.update(decision_id="forged", seq=99, outcome="allow", position=7)
            names = ", ".join(row)
            conn.execute(
                f"INSERT INTO decisions ({names}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
        left_out = "decision_id = 'forged'"
    swap_index(path, index, left_out)
    code, out, err = verify(capsys, log)
    assert (code, err) == (1, "")
    assert out.startswith(
        "FAILED: altered: the file's indexes or pages do not match its tables, so verify and "
        f"the audit pages may read different records (SQLite's integrity check: {found}"
    ), out


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        (
            "DROP TABLE schema_version",
            "is damaged: its schema_version table is gone, but its decisions table is there: it "
            "was edited",
        ),
        (
            "UPDATE schema_version SET version = 3",
            "has schema version 3; this replygate knows versions up to 2: upgrade replygate (if "
            "no newer replygate wrote to this log, its schema_version table was edited)",
        ),
    ],
)
def test_a_schema_version_edited_away_is_named_as_an_edit(
    tmp_path: Path, log: str, capsys: pytest.CaptureFixture[str], statement: str, message: str
) -> None:
    """Found by probing the log: "not a replygate decision log" and "upgrade replygate" only."""
    with closing(sqlite3.connect(tmp_path / "decisions.db")) as conn, conn:
        conn.execute(statement)
    code, out, err = verify(capsys, log)
    assert (code, out) == (2, "")
    assert message in err
