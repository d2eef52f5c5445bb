"""Which tampering each protection mode of the decision log detects (docs/decision-log.md).

Modes: an unkeyed log verified alone; a keyed log (HMAC chains) verified with the key; each of
them verified against a signed anchor taken before the tampering. The tamperer can write the
database but does not hold the log key. The table below is the threat model's, case by case.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from replygate.cli.main import main
from replygate.decision_log import open_decision_log, verify_log
from replygate.decision_log.anchors import AnchorMismatch, load_anchor, make_anchor, save_anchor
from replygate.decision_log.chain import GENESIS, record_hash
from tests.test_decision_log import record, written
from tests.test_decision_log_tampered_rows import swap_index

KEY = b"k" * 32
WRITER = "w-1"
Tamper = Callable[[sqlite3.Connection], None]


def _recompute(conn: sqlite3.Connection, writer: str = WRITER) -> None:
    """What a tamperer without the key can do: recompute every hash of a chain with SHA-256."""
    rows = conn.execute(
        "SELECT decision_id, seq, decided_at, client, request, decision, policy_commit, "
        "policy_ref, latency_ms, redacted FROM decisions WHERE writer_id = ? ORDER BY seq",
        (writer,),
    ).fetchall()
    prev = GENESIS
    for decision_id, seq, at, client, req, dec, commit, ref, latency, redacted in rows:
        digest = record_hash(writer, seq, decision_id, at, client, req, dec, commit, ref, latency,
                             redacted, prev)  # fmt: skip
        conn.execute(
            "UPDATE decisions SET prev_hash = ?, hash = ? WHERE decision_id = ?",
            (prev, digest, decision_id),
        )
        prev = digest


def _alter(conn: sqlite3.Connection, seq: int = 3) -> None:
    conn.execute(
        "UPDATE decisions SET request = replace(request, 'carol', 'mallory'), actor = 'mallory' "
        "WHERE seq = ?",
        (seq,),
    )


def altered(conn: sqlite3.Connection) -> None:
    _alter(conn)


def removed(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM decision_rules WHERE decision_id IN "
                 "(SELECT decision_id FROM decisions WHERE seq = 3)")  # fmt: skip
    conn.execute("DELETE FROM decisions WHERE seq = 3")


def inserted(conn: sqlite3.Connection) -> None:
    # A record that hashes correctly after seq 2 (SHA-256: the key is unknown); later ones shift.
    row = conn.execute(
        "SELECT decision_id, decided_at, client, request, decision, redacted, hash "
        "FROM decisions WHERE seq = 2"
    ).fetchone()
    decision_id, at, client, req, dec, redacted, prev = row
    conn.execute("UPDATE decisions SET seq = -(seq + 1) WHERE seq >= 3")
    conn.execute("UPDATE decisions SET seq = -seq WHERE seq < 0")
    forged_id = decision_id[:-4] + "ffff"
    digest = record_hash(WRITER, 3, forged_id, at, client, req, dec, None, None, 0.25, redacted,
                         prev)  # fmt: skip
    conn.execute(
        "INSERT INTO decisions SELECT ?, decided_at, client, request, decision, policy_commit, "
        "policy_ref, 0.25, redacted, writer_id, 3, ?, ?, actor, outcome, "
        "(SELECT max(position) + 1 FROM decisions) FROM decisions WHERE decision_id = ?",
        (forged_id, prev, digest, decision_id),
    )
    conn.execute("INSERT INTO decision_rules SELECT rule, ? FROM decision_rules "
                 "WHERE decision_id = ?", (forged_id, decision_id))  # fmt: skip


def recomputed(conn: sqlite3.Connection) -> None:
    _alter(conn)
    _recompute(conn)


def truncated(conn: sqlite3.Connection) -> None:
    # The anchored head (seq 5) and the record before it cut off.
    conn.execute("DELETE FROM decision_rules WHERE decision_id IN "
                 "(SELECT decision_id FROM decisions WHERE seq >= 4)")  # fmt: skip
    conn.execute("DELETE FROM decisions WHERE seq >= 4")


def replaced(conn: sqlite3.Connection) -> None:
    # The whole chain rewritten from seq 1, every record altered, every hash recomputed.
    for seq in range(1, 6):
        _alter(conn, seq)
    _recompute(conn)


def chain_removed(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM decision_rules")
    conn.execute("DELETE FROM decisions")


def appended(conn: sqlite3.Connection) -> None:
    # A forged record after the chain's last one, hashed with SHA-256 (the key is unknown).
    _forge(conn, WRITER, 6, "eeee")


def fabricated(conn: sqlite3.Connection) -> None:
    # A chain of one forged record under a writer id of the tamperer's.
    _forge(conn, "w-forged", 1, "dddd")


def _forge(conn: sqlite3.Connection, writer: str, seq: int, suffix: str) -> None:
    conn.row_factory = sqlite3.Row
    row = dict(conn.execute("SELECT * FROM decisions WHERE seq = 5").fetchone())
    prev = row["hash"] if writer == WRITER else GENESIS
    row.update(decision_id=row["decision_id"][:-4] + suffix, writer_id=writer, seq=seq)
    (last,) = conn.execute("SELECT max(position) FROM decisions").fetchone()
    row.update(prev_hash=prev, outcome="allow", position=last + 1)
    row["hash"] = record_hash(writer, seq, row["decision_id"], row["decided_at"], row["client"],
                              row["request"], row["decision"], row["policy_commit"],
                              row["policy_ref"], row["latency_ms"], row["redacted"], prev)  # fmt: skip
    names = ", ".join(row)
    conn.execute(
        f"INSERT INTO decisions ({names}) VALUES ({', '.join('?' * len(row))})", list(row.values())
    )
    conn.execute("INSERT INTO decision_rules SELECT rule, ? FROM decision_rules WHERE decision_id "
                 "= (SELECT decision_id FROM decisions WHERE seq = 5 AND writer_id = ?)",
                 (row["decision_id"], WRITER))  # fmt: skip


def index_out_of_step(conn: sqlite3.Connection) -> None:
    # The audit pages' index stops listing a record (PRAGMA writable_schema); the table keeps it.
    path = conn.execute("PRAGMA database_list").fetchone()[2]
    conn.commit()
    swap_index(Path(path), "decisions_by_position", "seq = 3")


MODES = ("unkeyed", "keyed", "unkeyed+anchors", "keyed+anchors")
# case: the modes that detect it (the threat model in docs/decision-log.md)
DETECTED: dict[Tamper, set[str]] = {
    altered: set(MODES),
    removed: set(MODES),
    inserted: set(MODES),
    recomputed: {"keyed", "unkeyed+anchors", "keyed+anchors"},
    truncated: {"unkeyed+anchors", "keyed+anchors"},
    replaced: {"keyed", "unkeyed+anchors", "keyed+anchors"},
    chain_removed: {"unkeyed+anchors", "keyed+anchors"},
    # The anchors pin a chain up to its head only; a chain they do not list is a finding with
    # `--allow-unkeyed` and signed anchors (this table's unkeyed+anchors), not with unsigned heads.
    appended: {"keyed", "keyed+anchors"},
    fabricated: {"keyed", "unkeyed+anchors", "keyed+anchors"},
    index_out_of_step: set(MODES),
}


def _log(tmp_path: Path, mode: str) -> tuple[str, dict[str, Any] | None]:
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    key = KEY if mode.startswith("keyed") else None
    with open_decision_log(url, writer_id=WRITER, key=key) as log:
        written(log, [record(minute) for minute in range(5)])
    anchors = None
    if mode.endswith("anchors"):
        before = verify_log(url, key=KEY, allow_unkeyed=True)
        assert before.ok
        path = tmp_path / "anchors.json"
        save_anchor(make_anchor(before.heads, KEY, "test"), str(path))
        anchors = load_anchor(str(path), KEY)
    return url, anchors


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("tamper", list(DETECTED), ids=lambda tamper: tamper.__name__)
def test_each_mode_detects_what_the_threat_model_says(
    tmp_path: Path, mode: str, tamper: Tamper
) -> None:
    url, anchors = _log(tmp_path, mode)
    key = KEY if "keyed" in mode.replace("unkeyed", "") or "anchors" in mode else None
    untouched = verify_log(url, anchors, key=key, allow_unkeyed=mode.startswith("unkeyed"))
    assert untouched.ok, untouched.first_problem
    with closing(sqlite3.connect(tmp_path / "decisions.db")) as conn, conn:
        tamper(conn)
    result = verify_log(url, anchors, key=key, allow_unkeyed=mode.startswith("unkeyed"))
    assert (not result.ok) == (mode in DETECTED[tamper]), result.first_problem


def test_a_keyed_chain_recomputed_without_the_key_names_the_cause(tmp_path: Path) -> None:
    url, _ = _log(tmp_path, "keyed")
    with closing(sqlite3.connect(tmp_path / "decisions.db")) as conn, conn:
        recomputed(conn)
    result = verify_log(url, key=KEY)
    assert result.first_problem is not None
    assert result.first_problem.startswith(f"unkeyed: chain {WRITER} is not keyed")


def test_a_keyed_log_needs_the_key_and_the_right_one(tmp_path: Path) -> None:
    url, _ = _log(tmp_path, "keyed")
    assert verify_log(url, key=KEY).ok
    assert verify_log(url, key=KEY).keyed_chains == 1
    without = verify_log(url)
    assert not without.ok
    assert without.first_problem is not None and "verify needs the log key" in without.first_problem
    wrong = verify_log(url, key=b"x" * 32)
    assert (wrong.ok, wrong.problems) == (False, 1)  # the chain once, not each of its records
    assert wrong.first_problem is not None and "written with another key, or recomputed" in (
        wrong.first_problem
    )


def test_an_unkeyed_log_stays_valid_and_is_reported_unkeyed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = _log(tmp_path, "unkeyed")
    result = verify_log(url)
    assert result.ok and result.unkeyed_chains == 1 and result.keyed_chains == 0
    assert main(["audit", "verify", "--decision-log", url]) == 0
    assert "verified (unkeyed)" in capsys.readouterr().out


def test_an_altered_or_foreign_anchor_is_refused(tmp_path: Path) -> None:
    url, _ = _log(tmp_path, "keyed")
    path = tmp_path / "anchors.json"
    save_anchor(make_anchor(verify_log(url, key=KEY).heads, KEY, "test"), str(path))
    with pytest.raises(AnchorMismatch, match="signed with another key"):
        load_anchor(str(path), b"y" * 32)
    data = json.loads(path.read_text())
    data["heads"][WRITER]["seq"] = 2  # what a tamperer who truncated the log would want
    path.write_text(json.dumps(data))
    with pytest.raises(AnchorMismatch, match="the signature does not match"):
        load_anchor(str(path), KEY)


def test_anchor_and_verify_from_the_command_line_with_a_git_ref(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    url, _ = _log(tmp_path, "keyed")
    key_file = tmp_path / "log.key"
    key_file.write_bytes(KEY + b"\n")
    repo = tmp_path / "audit"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    common = ["--decision-log", url, "--log-key-file", str(key_file), "--repo", str(repo)]
    ref = "refs/replygate/anchors"
    assert main(["audit", "anchor", *common, "--out", ref]) == 0
    assert main(["audit", "anchor", *common, "--out", ref]) == 0  # a second anchor on top
    log = subprocess.run(["git", "-C", str(repo), "log", "--format=%s", ref],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert len(log.splitlines()) == 2
    assert main(["audit", "verify", *common, "--anchors", ref]) == 0
    assert "verified (keyed)" in capsys.readouterr().out
    with closing(sqlite3.connect(tmp_path / "decisions.db")) as conn, conn:
        truncated(conn)
    assert main(["audit", "verify", *common, "--anchors", ref]) == 1
    assert f"FAILED: removed: chain {WRITER} was anchored at seq 5" in capsys.readouterr().out
    # The key may also come from the environment; a key too short is refused.
    monkeypatch.setenv("REPLYGATE_LOG_KEY", KEY.decode())
    assert main(["audit", "anchor", "--decision-log", url, "--out", str(tmp_path / "a")]) == 0
    monkeypatch.setenv("REPLYGATE_LOG_KEY", "short")
    assert main(["audit", "verify", "--decision-log", url]) == 2
    assert "use at least 16" in capsys.readouterr().err
