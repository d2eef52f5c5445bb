"""/readyz while the decision log cannot write: not ready until a write succeeds again."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_api import REQUEST, auth, make_settings

from replygate.api.app import create_app
from replygate.decision_log import open_decision_log
from replygate.decision_log.sqlite import SqliteBackend
from tests.test_api_server import wait_for
from tests.test_decision_log import record


def test_readiness_fails_while_the_decision_log_cannot_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk refused every check (503) while /readyz said 200: traffic kept coming."""
    disk_full = threading.Event()
    insert = SqliteBackend.insert

    def insert_unless_full(self: SqliteBackend, rows: Any) -> None:
        if disk_full.is_set():
            raise sqlite3.OperationalError("database or disk is full")
        insert(self, rows)

    monkeypatch.setattr(SqliteBackend, "insert", insert_unless_full)
    log = open_decision_log(f"sqlite:///{tmp_path / 'decisions.db'}", ack="durable")
    app = create_app(make_settings(tmp_path, open_health=True), open_log=lambda _settings: log)
    with TestClient(app) as client:
        assert client.post("/v1/check", json=REQUEST, headers=auth("checker")).status_code == 200
        assert client.get("/readyz").status_code == 200

        disk_full.set()
        # Queued without waiting for its commit (a check would wait 10 s for its 503).
        log.submit(record(1))
        wait_for(lambda: client.get("/readyz").status_code == 503, 30, "/readyz to say 503")
        answer = client.get("/readyz").json()
        assert answer["code"] == "decision_log_unavailable"
        assert "cannot write" in answer["message"]

        disk_full.clear()  # space again: the writer's retry succeeds, and it is ready again
        wait_for(lambda: client.get("/readyz").status_code == 200, 30, "/readyz to say 200")
        assert log.stats["failing_writes"] == 0
        assert log.count() == 2


def test_in_async_mode_a_failing_write_leaves_the_server_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checks are answered from the queue while the writer retries: a database blip must not
    take every replica out of rotation at once (the review's find)."""

    def always_full(self: SqliteBackend, rows: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    log = open_decision_log(f"sqlite:///{tmp_path / 'decisions.db'}", ack="async")
    app = create_app(make_settings(tmp_path, open_health=True), open_log=lambda _settings: log)
    with TestClient(app) as client:
        monkeypatch.setattr(SqliteBackend, "insert", always_full)
        assert client.post("/v1/check", json=REQUEST, headers=auth("checker")).status_code == 200
        wait_for(lambda: log.stats["failing_writes"] > 0, 30, "a failed write")
        assert client.get("/readyz").status_code == 200
        monkeypatch.undo()
        wait_for(lambda: log.stats["failing_writes"] == 0, 30, "the retry to succeed")
