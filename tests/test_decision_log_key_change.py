"""A fixed writer id across a key change: a chain keeps one key (docs/decision-log.md).

Opened with a fixed `writer_id`, the log continues that chain, unless its last record was
written with another key (or without one): then it starts the chain `ID+key-<fingerprint>`
(`ID+unkeyed`), so no chain mixes keys and every chain verifies under the key it was written
with, instead of failing for ever although nobody tampered.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from replygate.decision_log import DecisionLogError, open_decision_log, verify_log
from replygate.decision_log.keys import fingerprint
from tests.test_decision_log import record, written

WRITER = "fixed-writer"
KEY_A = b"a" * 32
KEY_B = b"b" * 32


def write(url: str, key: bytes | None, count: int = 3) -> str:
    """Write `count` records under the fixed writer id; the chain they went to."""
    with open_decision_log(url, writer_id=WRITER, key=key) as log:
        written(log, [record(minute) for minute in range(count)])
        return log.writer_id


def heads(url: str) -> dict[str, int]:
    path = url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT writer_id, max(seq) FROM decisions GROUP BY writer_id")
        return {str(writer): int(seq) for writer, seq in rows}


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'decisions.db'}"


def test_a_key_introduced_starts_a_new_chain_and_both_verify(url: str) -> None:
    assert write(url, None) == WRITER
    keyed = f"{WRITER}+key-{fingerprint(KEY_A)}"
    assert write(url, KEY_A) == keyed
    assert write(url, KEY_A) == keyed  # and continues it the next time
    assert heads(url) == {WRITER: 3, keyed: 6}
    result = verify_log(url, key=KEY_A, allow_unkeyed=True)
    assert result.ok, result.findings
    assert (result.keyed_chains, result.unkeyed_chains) == (1, 1)


def test_a_key_removed_starts_an_unkeyed_chain(url: str) -> None:
    write(url, KEY_A)
    assert write(url, None) == f"{WRITER}+unkeyed"
    assert write(url, KEY_A) == WRITER  # the key back: its own chain again
    assert verify_log(url, key=KEY_A, allow_unkeyed=True).ok


def test_a_rotated_key_starts_a_new_chain_each_verifying_under_its_key(url: str) -> None:
    write(url, KEY_A)
    rotated = f"{WRITER}+key-{fingerprint(KEY_B)}"
    assert write(url, KEY_B) == rotated
    assert heads(url) == {WRITER: 3, rotated: 3}
    # Given both keys, each chain verifies under its own.
    result = verify_log(url, keys=[KEY_B, KEY_A])
    assert result.ok, result.findings
    assert result.chain_keys == {WRITER: fingerprint(KEY_A), rotated: fingerprint(KEY_B)}
    # Given one, the other key's chain is one finding that says so, not one per record.
    for key, other in ((KEY_A, rotated), (KEY_B, WRITER)):
        result = verify_log(url, key=key)
        assert result.problems == 1
        assert result.first_problem is not None
        assert result.first_problem.startswith(f"unverifiable: chain {other}: record ")
        assert f"(fingerprint {fingerprint(key)}): the chain was written with another key" in (
            result.first_problem
        )


def test_a_chain_whose_head_does_not_verify_is_not_continued(url: str) -> None:
    write(url, KEY_A)
    path = url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE decisions SET client = 'mallory' WHERE seq = 3")
    assert write(url, KEY_A) == f"{WRITER}+key-{fingerprint(KEY_A)}"
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE decisions SET client = 'mallory' WHERE writer_id LIKE '%+key-%'")
    with pytest.raises(DecisionLogError, match="give another writer id"):
        open_decision_log(url, writer_id=WRITER, key=KEY_A)


def test_generated_writer_ids_are_unaffected(url: str) -> None:
    with open_decision_log(url, key=KEY_A) as log:
        written(log, [record(1)])
        assert "+" not in log.writer_id
