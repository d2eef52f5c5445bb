"""`audit verify|anchor` with several log keys, from the command line or the environment.

After a key rotation the log holds chains of each key (a chain keeps one key from its first
record to its last), so an audit takes every key it is given and checks each chain under the
one its first records verify under; a chain that verifies under none of them is one finding,
not one per record. Anchors are checked with the key they name; `audit anchor` signs with the
first key given. `--allow-unkeyed` with signed anchors accepts only the unkeyed chains they list.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from replygate.cli.main import main
from replygate.decision_log import open_decision_log, verify_log
from replygate.decision_log.keys import fingerprint, load_key, load_keys
from replygate.decision_log.verify import PROBE_RECORDS
from tests.test_decision_log import record, written

WRITER = "fixed-writer"
OLD = b"o" * 32
NEW = b"n" * 32
ROTATED = f"{WRITER}+key-{fingerprint(NEW)}"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(url: str, key: bytes | None, count: int = 3, writer: str = WRITER) -> str:
    with open_decision_log(url, writer_id=writer, key=key) as log:
        written(log, [record(minute) for minute in range(count)])
        return log.writer_id


def key_file(tmp_path: Path, key: bytes, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(key + b"\n")
    return str(path)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'decisions.db'}"


@pytest.fixture
def rotated(tmp_path: Path, url: str) -> tuple[str, str]:
    """A log written with OLD, then with NEW under the same writer id: the two key files."""
    write(url, OLD)
    assert write(url, NEW) == ROTATED
    return key_file(tmp_path, NEW, "new.key"), key_file(tmp_path, OLD, "old.key")


def sql(url: str, statement: str, params: tuple[object, ...] = ()) -> None:
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn, conn:
        conn.execute(statement, params)


# ---- several keys ---------------------------------------------------------------------------


def test_a_rotated_log_verifies_given_both_keys(
    url: str, rotated: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    new, old = rotated
    code, out, _ = run(capsys, "audit", "verify", "--decision-log", url,
                       "--log-key-file", new, "--log-key-file", old)  # fmt: skip
    assert (code, out) == (0, "OK: 6 records in 2 chains verified (keyed)\n")
    code, out, _ = run(capsys, "audit", "verify", "--decision-log", url,
                       "--log-key-file", new, "--log-key-file", old, "--format", "json")  # fmt: skip
    assert json.loads(out)["chain_keys"] == {WRITER: fingerprint(OLD), ROTATED: fingerprint(NEW)}


def test_a_chain_of_another_key_is_one_finding_naming_the_keys_tried(
    url: str, rotated: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    new, _ = rotated
    code, out, _ = run(capsys, "audit", "verify", "--decision-log", url, "--log-key-file", new)
    assert code == 1
    (line,) = out.splitlines()
    assert line.startswith(f"FAILED: unverifiable: chain {WRITER}: record ")
    assert line.endswith(
        f"(chain {WRITER}, seq 1) and the 2 after it verify under none of the keys given "
        f"(fingerprint {fingerprint(NEW)}): the chain was written with another key, or "
        "recomputed; its records are not checked one by one"
    )


def test_a_wrong_key_on_a_long_log_is_one_finding_not_one_per_record(url: str) -> None:
    write(url, OLD, count=40)
    result = verify_log(url, keys=[NEW, b"x" * 32])
    assert (result.ok, result.problems) == (False, 1)
    assert result.first_problem is not None
    assert f"and the {PROBE_RECORDS - 1} after it verify under none" in result.first_problem
    assert f"(fingerprints {fingerprint(NEW)}, {fingerprint(b'x' * 32)})" in result.first_problem


def test_an_altered_first_record_does_not_hide_the_chains_key(url: str) -> None:
    # The key is found on the second record: the first is then reported as what it is.
    write(url, OLD, count=5)
    sql(url, "UPDATE decisions SET client = 'mallory' WHERE seq = 1")
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
        (first,) = conn.execute("SELECT decision_id FROM decisions WHERE seq = 1").fetchone()
    result = verify_log(url, keys=[NEW, OLD])
    assert result.findings == (
        f"altered: record {first} (chain {WRITER}, seq 1) does not match its hash: its content "
        "was changed after it was written",
    )
    assert result.chain_keys == {WRITER: fingerprint(OLD)}


def test_the_one_key_form_of_verify_log_still_works(url: str) -> None:
    write(url, OLD)
    assert verify_log(url, key=OLD).ok
    assert verify_log(url, key=NEW, keys=[OLD]).ok  # both: each tried


# ---- anchors --------------------------------------------------------------------------------


def test_an_anchor_is_checked_with_the_key_it_names_and_signed_with_the_first(
    tmp_path: Path, url: str, rotated: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    new, old = rotated
    common = ["--decision-log", url]
    before = tmp_path / "before.json"
    # Signed with the first key given.
    assert run(capsys, "audit", "anchor", *common, "--log-key-file", old, "--log-key-file", new,
               "--out", str(before))[0] == 0  # fmt: skip
    assert json.loads(before.read_text())["key"] == fingerprint(OLD)
    after = tmp_path / "after.json"
    assert run(capsys, "audit", "anchor", *common, "--log-key-file", new, "--log-key-file", old,
               "--out", str(after))[0] == 0  # fmt: skip
    assert json.loads(after.read_text())["key"] == fingerprint(NEW)
    for anchor, signed in ((before, "an older key"), (after, "the log key")):
        code, out, _ = run(capsys, "audit", "verify", *common, "--log-key-file", new,
                           "--log-key-file", old, "--anchors", str(anchor))  # fmt: skip
        assert code == 0, out
        assert f"signature valid under {signed}" in out.splitlines()[-1]
    # None of the keys given signed it: the existing finding, listing what was given.
    other = key_file(tmp_path, b"x" * 32, "other.key")
    code, out, _ = run(capsys, "audit", "verify", *common, "--log-key-file", new,
                       "--log-key-file", other, "--anchors", str(before))  # fmt: skip
    assert code == 1
    assert out.startswith(
        f"FAILED: altered: anchors {before}: signed with another key (fingerprint "
        f"{fingerprint(OLD)}, the keys given are {fingerprint(NEW)}, {fingerprint(b'x' * 32)})"
    )


# ---- where the keys come from ---------------------------------------------------------------


def test_audit_reads_the_key_file_named_by_the_environment(
    tmp_path: Path,
    url: str,
    rotated: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    new, _ = rotated
    monkeypatch.setenv("REPLYGATE_LOG_KEY", "x" * 32)  # the file wins over the variable
    monkeypatch.setenv("REPLYGATE_LOG_KEY_FILE", new)
    code, out, _ = run(capsys, "audit", "verify", "--decision-log", url)
    assert code == 1 and f"FAILED: unverifiable: chain {WRITER}: " in out  # only NEW was given
    anchor = tmp_path / "anchor.json"
    sql(url, f"DELETE FROM decisions WHERE writer_id = '{WRITER}'")
    sql(url, "DELETE FROM decision_rules WHERE decision_id NOT IN "
             "(SELECT decision_id FROM decisions)")  # fmt: skip
    # Numbered 1 to N again, as a log of only the new key's chain would be.
    sql(url, "UPDATE decisions SET position = (SELECT count(*) FROM decisions AS d "
             "WHERE d.position <= decisions.position)")  # fmt: skip
    assert run(capsys, "audit", "anchor", "--decision-log", url, "--out", str(anchor))[0] == 0
    assert json.loads(anchor.read_text())["key"] == fingerprint(NEW)
    monkeypatch.setenv("REPLYGATE_LOG_KEY_FILE", str(tmp_path / "missing.key"))
    code, _, err = run(capsys, "audit", "verify", "--decision-log", url)
    assert code == 2
    assert err.startswith(
        f"replygate: error: $REPLYGATE_LOG_KEY_FILE: log key file {tmp_path / 'missing.key'}: "
    )


def test_a_key_variable_that_is_not_utf8_is_its_bytes() -> None:
    # How os.environ holds bytes that are not UTF-8: as lone surrogates (surrogateescape).
    raw = b"\xff\xfe" * 10
    value = raw.decode("utf-8", "surrogateescape")
    assert load_keys(None, {"REPLYGATE_LOG_KEY": value}) == [raw]
    assert load_key(None, {"REPLYGATE_LOG_KEY": value}) == raw
    with pytest.raises(ValueError, match=r"^\$REPLYGATE_LOG_KEY: holds characters"):
        load_keys(None, {"REPLYGATE_LOG_KEY": "\ud800" * 20})


def test_the_same_key_given_twice_is_tried_once(tmp_path: Path) -> None:
    first = key_file(tmp_path, NEW, "a.key")
    again = key_file(tmp_path, NEW, "b.key")
    assert load_keys([first, again], {}) == [NEW]


# ---- --allow-unkeyed with anchors -----------------------------------------------------------


def test_allow_unkeyed_with_signed_anchors_refuses_an_unkeyed_chain_they_do_not_list(
    tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The documented upgrade: unkeyed first, then keyed; anchored after the upgrade.
    write(url, None)
    write(url, NEW)
    new = key_file(tmp_path, NEW, "new.key")
    common = ["--decision-log", url, "--log-key-file", new, "--allow-unkeyed"]
    anchor = tmp_path / "anchor.json"
    assert run(capsys, "audit", "anchor", *common, "--out", str(anchor))[0] == 0
    assert run(capsys, "audit", "verify", *common, "--anchors", str(anchor))[0] == 0
    # A chain fabricated since, without the key.
    fabricated = write(url, None, writer="fabricated")
    assert run(capsys, "audit", "verify", *common)[0] == 0  # without anchors: accepted
    code, out, _ = run(capsys, "audit", "verify", *common, "--anchors", str(anchor))
    assert code == 1
    assert out.startswith(f"FAILED: unkeyed: chain {fabricated} (from record ")
    assert "is not keyed and not in the anchors: started after they were made, or fabricated" in (
        out
    )


def test_a_rotated_out_key_cannot_extend_or_start_a_chain_past_the_current_keys_anchor(
    tmp_path: Path, url: str, rotated: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by probing the log: after a rotation (a leak), whoever kept the old key could
    write a chain that verified while the old key was given, and nothing told it apart."""
    new, old = rotated
    common = ["--decision-log", url, "--log-key-file", new, "--log-key-file", old]
    anchor = tmp_path / "anchor.json"
    assert run(capsys, "audit", "anchor", *common, "--out", str(anchor))[0] == 0
    verified = ["audit", "verify", *common, "--anchors", str(anchor)]
    assert run(capsys, *verified)[0] == 0
    write(url, OLD, count=2, writer="forged")
    write(url, OLD, count=1, writer=WRITER)  # the old chain goes on: seq 4 of the old key
    code, out, _ = run(capsys, *verified)
    assert code == 1
    assert out.splitlines()[:2] == [
        f"FAILED: retired: chain {WRITER}, under the rotated-out key {fingerprint(OLD)}, goes "
        "on past its anchored seq 3 to seq 4: written with the old key after the anchor signed "
        "with the current one (2 problems in all)",
        f"  also retired: chain forged was written with the rotated-out key {fingerprint(OLD)}, "
        f"and the anchors signed with the current key {fingerprint(NEW)} do not list it: it was "
        "started after they were made, or forged by whoever holds the old key",
    ]
    # Anchors signed with the old key prove nothing about it: the rule is not applied.
    stale = tmp_path / "stale.json"
    old_first = ["--decision-log", url, "--log-key-file", old, "--log-key-file", new]
    assert run(capsys, "audit", "anchor", *old_first, "--out", str(stale))[0] == 0
    code, out, _ = run(capsys, "audit", "verify", *common, "--anchors", str(stale))
    assert code == 0
    assert "not the current one: whoever still holds that key could have signed it" in out
