"""`audit verify` on the log as it is found: positions edited, an old schema, a database that
cannot be read right now, and heads that must not be saved from a log that fails.

- A position that is not a whole number from 1 breaks the walk through GET /v1/decisions
  (cursors hold only those): a finding, like a missing or shared one.
- A log of schema 1 (before positions) is verified read-only, never migrated; its positions
  are not checked, and a note says so.
- Only a file with no schema_version table (or no database at all) is "not a replygate
  decision log"; a locked, damaged or unopenable one "cannot be read", with the reason.
- `--save-heads` saves nothing from a log that fails: a cut tail would become the baseline.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from replygate.cli.main import main
from replygate.decision_log import open_decision_log, verify_log
from replygate.decision_log import sqlite as sqlite_module
from tests.test_decision_log import SqliteDb, back_to_schema_one, record, written


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db(tmp_path: Path) -> SqliteDb:
    """A log of 12 records, one chain."""
    found = SqliteDb(tmp_path / "decisions.db")
    with open_decision_log(found.url, writer_id="w") as log:
        written(log, [record(minute) for minute in range(12)])
    return found


def checkpointed(db: SqliteDb) -> None:
    """Every page in the database file, no -wal or -shm beside it (a WAL log, copied)."""
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for suffix in ("-wal", "-shm"):
        Path(f"{db.path}{suffix}").unlink(missing_ok=True)


# ---- positions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0, "0"),
        (-4, "-4"),
        (3.5, "3.5"),
        ("zz", '"zz"'),
        (9.3e18, "9.3e+18"),
        (b"\x01", "a blob of 1 bytes"),
    ],
)
def test_a_position_that_is_not_a_whole_number_from_1_is_found(
    db: SqliteDb, value: object, shown: str
) -> None:
    (decision_id,) = db.execute("SELECT decision_id FROM decisions WHERE seq = 5")[0]
    db.execute("UPDATE decisions SET position = ? WHERE decision_id = ?", (value, decision_id))
    result = verify_log(db.url)
    assert result.findings == (
        f"altered: record {decision_id} has position {shown}, which is not a whole number from "
        "1: a walk through the pages of GET /v1/decisions breaks there",
    )


@pytest.mark.parametrize("value", [2**63 - 1, 13])
def test_a_position_past_the_records_of_the_log_is_found(db: SqliteDb, value: int) -> None:
    """Found by probing the log: 2^63 - 1 passed verify, and the next commit's position no
    longer fit, so every later check was answered 503."""
    (decision_id,) = db.execute("SELECT decision_id FROM decisions WHERE seq = 5")[0]
    db.execute("UPDATE decisions SET position = ? WHERE decision_id = ?", (value, decision_id))
    result = verify_log(db.url)
    assert result.findings == (
        f"altered: record {decision_id} has position {value}, past the 12 records of the log "
        "(numbered 1 to 12): a position was edited or a record removed",
    )


def test_positions_turned_negative_are_each_found(
    db: SqliteDb, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute("UPDATE decisions SET position = -position WHERE position <= 10")
    result = verify_log(db.url)
    assert result.problems == 10
    assert all("which is not a whole number from 1" in finding for finding in result.findings)
    assert run(capsys, "audit", "verify", "--decision-log", db.url)[0] == 1


# ---- a log of schema 1 ----------------------------------------------------------------------


def test_a_log_of_schema_one_is_verified_as_it_is(
    db: SqliteDb, capsys: pytest.CaptureFixture[str]
) -> None:
    back_to_schema_one(db, "DROP TRIGGER decisions_need_a_position")
    before = db.path.read_bytes()
    code, out, err = run(capsys, "audit", "verify", "--decision-log", db.url)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "OK: 12 records in 1 chain verified (unkeyed)",
        "Note: the log is of schema 1 (before positions): the order of its audit pages is not "
        "checked; positions are assigned when a writer next opens it",
    ]
    code, out, _ = run(capsys, "audit", "verify", "--decision-log", db.url, "--format", "json")
    assert code == 0 and json.loads(out)["notes"][0].startswith("the log is of schema 1")
    # Read-only: still schema 1, no position column; findings are still found.
    assert db.path.read_bytes() == before
    assert db.execute("SELECT max(version) FROM schema_version") == [(1,)]
    db.execute("UPDATE decisions SET client = 'mallory' WHERE seq = 3")
    assert run(capsys, "audit", "verify", "--decision-log", db.url)[0] == 1


def test_a_schema_version_set_back_to_one_does_not_turn_the_position_checks_off(
    db: SqliteDb,
) -> None:
    """A record hidden from the pages (no position), then `schema_version` set to 1: verify
    believed the row, skipped the positions and passed."""
    db.execute("DROP TRIGGER decisions_need_a_position")
    db.execute("UPDATE decisions SET position = NULL WHERE seq = 5")
    db.execute("UPDATE schema_version SET version = 1")
    result = verify_log(db.url)
    assert not result.ok
    assert any("schema_version says 1, but the decisions table has the position" in finding
               for finding in result.findings)  # fmt: skip
    assert any("has no position, which hides it" in finding for finding in result.findings)
    assert result.notes == ()


# ---- a log that cannot be read now ----------------------------------------------------------


def test_a_locked_log_cannot_be_read_and_is_not_called_no_log(
    db: SqliteDb, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "BUSY_TIMEOUT", 0.05)
    with closing(sqlite3.connect(db.path, isolation_level=None)) as holder:
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("INSERT INTO schema_version VALUES (2)")
        code, out, err = run(capsys, "audit", "verify", "--decision-log", db.url)
        holder.execute("ROLLBACK")
    assert (code, out) == (2, "")
    assert err == f"replygate: error: cannot read the decision log {db.path}: database is locked\n"


def test_a_malformed_log_cannot_be_read_and_is_not_called_no_log(
    db: SqliteDb, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpointed(db)
    data = bytearray(db.path.read_bytes())
    data[100:108] = b"\xff" * 8  # the header of the schema's b-tree page
    db.path.write_bytes(bytes(data))
    code, out, err = run(capsys, "audit", "verify", "--decision-log", db.url)
    assert (code, out) == (2, "")
    assert err == (
        f"replygate: error: cannot read the decision log {db.path}: database disk image is "
        "malformed\n"
    )


def test_files_that_are_no_log_are_still_called_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.db"
    text.write_text("not a database at all\n" * 100)
    code, _, err = run(capsys, "audit", "verify", "--decision-log", f"sqlite:///{text}")
    assert code == 2
    assert (
        err
        == f"replygate: error: {text} is not a replygate decision log (file is not a database)\n"
    )


def test_a_wal_log_in_a_folder_sqlite_may_not_write_says_what_to_do(
    db: SqliteDb, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpointed(db)
    if os.geteuid() == 0:
        # root writes anywhere: give the error SQLite gives anyone else there.
        error = sqlite3.OperationalError("attempt to write a readonly database")
        error.sqlite_errorname = "SQLITE_READONLY_DIRECTORY"

        def refused(self: object) -> object:
            raise error

        monkeypatch.setattr(sqlite_module.SqliteBackend, "_stored_version", refused)
    else:
        db.path.parent.chmod(0o555)
    try:
        code, out, err = run(capsys, "audit", "verify", "--decision-log", db.url)
    finally:
        db.path.parent.chmod(0o755)
    assert (code, out) == (2, "")
    assert err == (
        f"replygate: error: cannot read the decision log {db.path}: attempt to write a readonly "
        f"database (SQLite must create {db.path}-shm beside a WAL log, and cannot here: copy the "
        "log, with its -wal file if there is one, to a folder you can write, and verify the "
        "copy)\n"
    )


# ---- --save-heads ---------------------------------------------------------------------------


def test_heads_are_not_saved_from_a_log_that_fails(
    tmp_path: Path, db: SqliteDb, capsys: pytest.CaptureFixture[str]
) -> None:
    heads = tmp_path / "heads.json"
    assert (
        run(capsys, "audit", "verify", "--decision-log", db.url, "--save-heads", str(heads))[0] == 0
    )
    # The tail cut: against the saved heads it fails, and those heads must stay the baseline.
    db.execute("DELETE FROM decision_rules WHERE decision_id IN "
               "(SELECT decision_id FROM decisions WHERE seq > 9)")  # fmt: skip
    db.execute("DELETE FROM decisions WHERE seq > 9")
    again = tmp_path / "heads-again.json"
    code, out, _ = run(capsys, "audit", "verify", "--decision-log", db.url, "--anchors",
                       str(heads), "--save-heads", str(again))  # fmt: skip
    assert code == 1
    assert (
        out.splitlines()[0]
        == "FAILED: removed: chain w was anchored at seq 12 but it ends at seq 9"
    )
    assert out.splitlines()[-1] == (
        f"Nothing saved in {again}: the log failed verification, and its heads would make what "
        "was found the new baseline"
    )
    assert not again.exists()
    code, out, _ = run(capsys, "audit", "verify", "--decision-log", db.url, "--anchors",
                       str(heads), "--save-heads", str(again), "--format", "json")  # fmt: skip
    assert code == 1
    assert json.loads(out)["save_heads"] == {"file": str(again), "saved": False}
    assert not again.exists()
