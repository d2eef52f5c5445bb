"""The SQLite committer process: a decision log survives it dying, and it outlives no parent.

The write transaction of an SQLite log runs in a child process (`sqlite_committer.py`); these
tests kill and signal that process the way a crash, a terminal or a service manager would, and
check that every decision still reaches the log with its chain intact.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from replygate.decision_log import DecisionLog, DecisionRecord, open_decision_log, verify_log
from replygate.decision_log.sqlite import Committer


def records(count: int) -> list[DecisionRecord]:
    return [
        DecisionRecord.new(
            request={"actor": {"id": f"agent-{n}"}, "action": "reply", "channel": "twitter"},
            decision={"decision": "allow", "reasons": [{"rule": "agents-reply"}]},
            client="publisher",
            commit=None,
            ref=None,
            latency_ms=0.5,
        )
        for n in range(count)
    ]


def committer_of(log: DecisionLog) -> Committer:
    committer = log._backend._writer_conn  # the committer of the batch written last
    assert isinstance(committer, Committer)
    return committer


def write(log: DecisionLog, batch: list[DecisionRecord]) -> None:
    for item in batch:
        log.submit(item)
    assert log.flush(20.0)


def stopped(pid: int) -> bool:
    """Whether the process has exited (a zombie nobody reaped counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def wait_until_stopped(pid: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stopped(pid):
            return True
        os.sched_yield()
    return False


@pytest.fixture(params=["durable", "async"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DecisionLog]:
    opened = open_decision_log(f"sqlite:///{tmp_path / 'decisions.db'}", ack=request.param)
    yield opened
    opened.close()


def test_a_killed_committer_is_replaced_and_nothing_is_lost(log: DecisionLog) -> None:
    write(log, records(5))
    first = committer_of(log).pid
    os.kill(first, signal.SIGKILL)
    assert wait_until_stopped(first)

    write(log, records(7))  # the first attempt finds the pipe broken; the retry succeeds

    assert committer_of(log).pid != first
    assert log.count() == 12
    result = verify_log(log._backend.url)
    assert result.ok, result


def test_the_committer_ignores_interrupt_and_terminate(log: DecisionLog) -> None:
    # A terminal's Ctrl+C and a service manager's stop reach the whole process group; the
    # worker drains its queue through the committer before it stops, so the committer stays.
    write(log, records(2))
    pid = committer_of(log).pid
    os.kill(pid, signal.SIGINT)
    os.kill(pid, signal.SIGTERM)

    write(log, records(3))

    assert committer_of(log).pid == pid
    assert not stopped(pid)
    assert log.count() == 5


def test_closing_the_log_ends_the_committer(tmp_path: Path) -> None:
    log = open_decision_log(f"sqlite:///{tmp_path / 'decisions.db'}")
    write(log, records(1))
    pid = committer_of(log).pid
    log.close()
    assert stopped(pid)


def test_a_closed_log_is_in_its_database_file_not_only_in_its_wal(tmp_path: Path) -> None:
    """Found by probing the log: after a clean stop a small log was all in its -wal file (the
    readers, read-only, never checkpoint it), and a backup of the .db alone verified as
    `OK: 0 records`."""
    log = open_decision_log(f"sqlite:///{tmp_path / 'decisions.db'}")
    write(log, records(20))
    log.close()
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "decisions.db").write_bytes((tmp_path / "decisions.db").read_bytes())
    result = verify_log(f"sqlite:///{backup / 'decisions.db'}")
    assert (result.ok, result.records) == (True, 20)


def test_the_committer_ends_when_its_parent_is_killed(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys
                from replygate.decision_log import DecisionRecord, open_decision_log
                log = open_decision_log("sqlite:///{tmp_path / "decisions.db"}")
                log.submit(DecisionRecord.new(request={{}}, decision={{}}, client="c",
                                              commit=None, ref=None, latency_ms=1.0))
                assert log.flush(20.0)
                print(log._backend._writer_conn.pid, flush=True)
                sys.stdin.read()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    with parent:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert not stopped(pid)
        parent.kill()

    assert wait_until_stopped(pid)


def test_an_empty_log_verifies_with_a_note_that_nothing_was_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from replygate.cli.main import main

    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    open_decision_log(url).close()
    assert main(["audit", "verify", "--decision-log", url]) == 0
    assert capsys.readouterr().out == (
        "OK: 0 records in 0 chains verified\n"
        "Note: the log holds no records, so nothing was verified (a copy of an SQLite log made "
        "without its -wal file holds only what was checkpointed into it; anchors tell an "
        "emptied log from a new one)\n"
    )
