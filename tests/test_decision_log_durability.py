"""Durable acknowledgement means on stable storage, not merely committed (docs/decision-log.md).

The SQLite committer is replaced by the real one with its `os.fdatasync` swapped: one whose
fsync fails with EIO after COMMIT, one that dies between COMMIT and its fsync. A record whose
fsync failed is never acknowledged (the API answers 503); a record found committed after the
committer died is acknowledged only once the writer has fsynced the log itself.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from replygate.decision_log import DecisionLog, open_decision_log, verify_log
from replygate.decision_log import sqlite as sqlite_module
from replygate.decision_log import writer as writer_module
from replygate.decision_log.records import Checked, LogFailed

BODY = (
    b'{"actor": {"id": "carol"}, "action": "reply", "channel": "twitter", '
    b'"at": "2026-11-27T21:50:00+01:00"}'
)
DECISION = '{"decision":"allow","reasons":[]}'

# The real committer, its fdatasync replaced by FSYNC (a statement run in the committer).
COMMITTER = """
import errno, importlib.util, os, sys
spec = importlib.util.spec_from_file_location("committer", {real!r})
committer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(committer)
def fdatasync(fd):
    {fsync}
committer.os = type(sys)("os_with_another_fdatasync")
committer.os.__dict__.update(os.__dict__, fdatasync=fdatasync)
sys.exit(committer.main(sys.argv))
"""
FAILS = 'raise OSError(errno.EIO, "Input/output error (simulated)")'
DIES = "os._exit(3)"  # after COMMIT, before the fsync: the outcome is unknown to the writer


def committer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fsync: str) -> None:
    script = tmp_path / "committer.py"
    script.write_text(COMMITTER.format(real=str(sqlite_module.COMMITTER), fsync=fsync))
    monkeypatch.setattr(sqlite_module, "COMMITTER", script)
    monkeypatch.setattr(writer_module, "FIRST_RETRY", 0.001)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'decisions.db'}"


@pytest.fixture
def opened(url: str) -> Iterator[list[DecisionLog]]:
    logs: list[DecisionLog] = []
    yield logs
    for log in logs:
        log.close(5.0)


def check(log: DecisionLog) -> None:
    """What the API does for one check in durable mode: returns once the log acknowledges."""
    asyncio.run(log.log(Checked(BODY, DECISION, "publisher", None, None, 1.0)))


def test_a_record_whose_fsync_failed_is_not_acknowledged(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    opened: list[DecisionLog],
    caplog: pytest.LogCaptureFixture,
) -> None:
    committer(tmp_path, monkeypatch, FAILS)
    log = open_decision_log(url, ack="durable", ack_timeout=20.0)
    opened.append(log)
    with pytest.raises(LogFailed, match="could not make this decision durable"):
        check(log)
    # Committed (the log may hold a decision that was not given), never acknowledged; and
    # nothing later is either: a later fsync may succeed without the lost pages on disk.
    assert log.count() == 1
    with pytest.raises(LogFailed, match="cannot make decisions durable: committed, but the fsync"):
        check(log)
    assert log.count() == 1
    assert "no decision is acknowledged any more until the log is opened again" in caplog.text
    assert verify_log(url).ok


def test_a_record_committed_before_the_committer_died_is_acknowledged_once_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, opened: list[DecisionLog]
) -> None:
    committer(tmp_path, monkeypatch, DIES)
    synced: list[Path] = []
    fsync = os.fsync

    def watched(fd: int) -> None:
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", watched)
    log = open_decision_log(url, ack="durable", ack_timeout=20.0)
    opened.append(log)
    check(log)
    check(log)
    assert log.count() == 2
    assert log.stats["write_errors"] == 2  # each committer died; each batch was found stored
    wal = Path(f"{url.removeprefix('sqlite:///')}-wal")
    assert synced.count(wal.resolve()) == 2  # by the writer, before each acknowledgement
    assert verify_log(url).ok


def test_a_record_committed_before_the_committer_died_fails_when_its_fsync_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, opened: list[DecisionLog]
) -> None:
    committer(tmp_path, monkeypatch, DIES)

    def fails(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error (simulated)")

    monkeypatch.setattr(os, "fsync", fails)
    log = open_decision_log(url, ack="durable", ack_timeout=20.0)
    opened.append(log)
    with pytest.raises(LogFailed, match="could not make this decision durable"):
        check(log)
    assert log.count() == 1
    with pytest.raises(LogFailed, match="cannot make decisions durable"):
        check(log)


def test_a_commit_that_takes_longer_than_the_ack_timeout_fails_each_waiting_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, opened: list[DecisionLog]
) -> None:
    """A check is not answered 200 on a commit that did not happen in time: 503, and the next
    checks succeed once the storage answers again."""
    release = tmp_path / "storage-answers-again"
    committer(
        tmp_path,
        monkeypatch,
        f"while not os.path.exists({str(release)!r}): __import__('time').sleep(0.01)",
    )
    log = open_decision_log(url, ack="durable", ack_timeout=0.3)
    opened.append(log)

    async def stalled() -> list[BaseException | None]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = asyncio.ensure_future(log.log(Checked(BODY, DECISION, "a", None, None, 1.0)))
        await asyncio.sleep(0.1)  # a second check arriving later has its own deadline
        second = asyncio.ensure_future(log.log(Checked(BODY, DECISION, "b", None, None, 1.0)))
        outcomes = []
        for waiting, earliest in ((first, 0.3), (second, 0.4)):
            try:
                await asyncio.wait_for(waiting, 10)  # no hang should the deadline never come
                outcomes.append(None)
            except LogFailed as error:
                assert loop.time() - started >= earliest
                outcomes.append(error)
        return outcomes

    outcomes = asyncio.run(stalled())
    assert [str(error) for error in outcomes] == [
        f"the decision log {log.where} did not commit within 0.3 s"
    ] * 2
    release.touch()
    log.ack_timeout = 20.0  # the storage answers again: no deadline for a loaded machine to miss
    check(log)  # answered once its commit happens; the stalled ones were committed before it
    assert log.count() == 3
    assert verify_log(url).ok


def test_async_mode_is_not_affected(url: str, opened: list[DecisionLog]) -> None:
    log = open_decision_log(url, ack="async")
    opened.append(log)
    check(log)
    assert log.flush(10.0) and log.count() == 1


def test_readiness_fails_once_the_log_takes_no_decisions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """Every check of this process would be a 503 now: a load balancer must route elsewhere."""
    from fastapi.testclient import TestClient
    from test_api import make_settings

    from replygate.api.app import create_app

    committer(tmp_path, monkeypatch, FAILS)
    log = open_decision_log(url, ack="durable", ack_timeout=20.0)
    app = create_app(make_settings(tmp_path, open_health=True), open_log=lambda _settings: log)
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        with pytest.raises(LogFailed):
            check(log)
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["code"] == "decision_log_unavailable"
        assert "fsync" in answer.json()["message"]
