"""`audit verify` checks the JSON text as stored, not only the values it parses to.

The SQLite writer stores exactly the canonical text its hash covers. Other text for the same
values (a key repeated, which SQLite's JSON functions read first-wins; keys reordered; spaces)
is an edit: verify reports it as altered even though the parsed values still hash right.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from replygate.cli.main import main
from replygate.decision_log import open_decision_log, verify_log
from tests.test_decision_log import record, written

WRITER = "w-1"


@pytest.fixture
def log(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    with open_decision_log(url, writer_id=WRITER) as opened:
        written(opened, [record(minute) for minute in range(4)])
    return url


def edit(tmp_path: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(tmp_path / "decisions.db")) as conn, conn:
        return conn.execute(sql).fetchall()


def test_a_repeated_key_that_sql_reads_first_is_found(
    tmp_path: Path, log: str, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(
        tmp_path,
        """UPDATE decisions SET request = '{"actor":{"id":"mallory"},' || substr(request, 2)
           WHERE seq = 2""",
    )
    # SQL now reads another actor than the one logged; the value json.loads gives is unchanged.
    assert edit(
        tmp_path, "SELECT actor, request ->> '$.actor.id' FROM decisions WHERE seq = 2"
    ) == [("carol", "mallory")]
    result = verify_log(log)
    assert not result.ok and result.problems == 1
    assert result.first_problem == (
        f"altered: record {result.problem_record} (chain {WRITER}, seq 2): its request column is "
        "not the JSON text that was hashed (the same values written another way: a key "
        "repeated, reordered or spaced), so what SQL reads from it may differ from what was "
        "logged"
    )
    assert main(["audit", "verify", "--decision-log", log]) == 1
    assert capsys.readouterr().out.startswith("FAILED: altered: record ")


def reordered(text: str) -> str:
    """The same object, its keys in reverse order, as compact as the canonical text."""
    value = json.loads(text)
    return json.dumps(dict(reversed(value.items())), separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize(
    ("column", "change"),
    [
        ("request", lambda text: text.replace(",", ", ")),
        ("decision", reordered),
        ("redacted", lambda text: "[ ]"),
    ],
)
def test_the_same_values_spelt_otherwise_are_found(
    tmp_path: Path, log: str, column: str, change: Callable[[str], str]
) -> None:
    ((text,),) = edit(tmp_path, f"SELECT {column} FROM decisions WHERE seq = 3")
    assert isinstance(text, str) and change(text) != text
    with closing(sqlite3.connect(tmp_path / "decisions.db")) as conn, conn:
        conn.execute(f"UPDATE decisions SET {column} = ? WHERE seq = 3", (change(text),))
    result = verify_log(log)
    assert result.problems == 1
    assert f"(chain {WRITER}, seq 3): its {column} column is not the JSON text that was hashed" in (
        result.first_problem or ""
    )


def test_an_untouched_log_still_verifies(log: str) -> None:
    result = verify_log(log)
    assert (result.ok, result.records) == (True, 4)
