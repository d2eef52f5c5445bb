"""`replygate serve --workers N`: how it sets up uvicorn's supervisor (no server started)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from replygate.api.policy_source import FolderSource, open_source
from replygate.api.settings import Settings
from replygate.cli import serve
from replygate.engine.errors import SourceError
from tests.test_api_server import free_port

ROOT = Path(__file__).resolve().parent.parent


class FakeSupervisor:
    """Takes uvicorn's config as the supervisor would, and starts nothing."""

    seen: list[Any] = []

    def __init__(self, config: Any, sockets: list[socket.socket]) -> None:
        self.seen.append(config)
        for listener in sockets:
            listener.close()
        self.interrupted = False

    def run(self) -> None:
        pass


@pytest.fixture
def serve_nothing(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """`serve._serve` with the supervisor replaced, in a copy of the environment."""
    monkeypatch.setattr(os, "environ", dict(os.environ))
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    monkeypatch.setattr("replygate.api.app.configure_logging", lambda: None)
    monkeypatch.setattr(serve, "_supervisor_class", lambda: FakeSupervisor)
    FakeSupervisor.seen = []
    return FakeSupervisor.seen


def two_workers() -> Settings:
    return Settings.from_env({}, workers=2, port=free_port())


def test_a_worker_has_time_to_start_on_a_rolling_restart(serve_nothing: list[Any]) -> None:
    # uvicorn's 5 s abandoned SIGHUP's restart of a worker compiling a 12,000-rule policy.
    assert serve._serve(two_workers(), None) == 0
    (config,) = serve_nothing
    assert config.timeout_worker_healthcheck == serve.WORKER_START_SECONDS >= 60


def test_an_operators_metrics_folder_is_emptied_of_a_previous_runs_files(
    serve_nothing: list[Any], tmp_path: Path
) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    for name in ("counter_4242.db", "histogram_4242.db", "gauge_livesum_4242.db"):
        (folder / name).write_bytes(b"old counts")
    (folder / "README").write_text("not prometheus's")
    # A decision log is a .db file too: it must survive (the review found it unlinked).
    (folder / "replygate-decisions.db").write_bytes(b"the audit log")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)

    assert serve._serve(two_workers(), None) == 0
    assert sorted(path.name for path in folder.iterdir()) == ["README", "replygate-decisions.db"]
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(folder)  # used, not replaced


def test_the_workers_share_one_folder_of_ended_sessions(
    serve_nothing: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sign-out answered by one worker must end the session in every worker."""
    seen: dict[str, str] = {}

    class Recording(FakeSupervisor):
        def run(self) -> None:
            seen["store"] = os.environ["REPLYGATE_SESSION_STORE"]
            seen["existed"] = str(Path(seen["store"]).is_dir())

    monkeypatch.setattr(serve, "_supervisor_class", lambda: Recording)
    assert serve._serve(two_workers(), None) == 0
    assert seen["existed"] == "True"
    assert not Path(seen["store"]).exists()  # the server's own: removed when it stops


def test_an_operators_session_store_is_used_and_kept(
    serve_nothing: list[Any], tmp_path: Path
) -> None:
    settings = Settings.from_env({}, workers=2, port=free_port(), session_store=str(tmp_path))
    assert serve._serve(settings, None) == 0
    assert os.environ["REPLYGATE_SESSION_STORE"] == str(tmp_path)
    assert tmp_path.is_dir()


def test_the_workers_serve_the_folder_as_read_at_start_up(
    serve_nothing: list[Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Found by a consistency probe: workers restarted (SIGHUP) while the folder was being
    edited each read it again; 12,649 of 225,210 answers came from a folder with its deny file
    missing, 2,109 of them allows no version of the folder gave. Every worker now compiles
    the files the server read once at start-up."""
    folder = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", folder)
    sources = serve._read_folder_once(str(folder))
    assert sources is not None
    (folder / "safety.policy").unlink()  # an edit under way after the start
    seen: dict[str, Any] = {}

    class Recording(FakeSupervisor):
        def run(self) -> None:
            settings = Settings.from_env()  # as a worker reads them
            source = open_source(settings)
            source.start()  # as each worker (and each one restarted) does
            seen["policy"] = source.current
            seen["snapshot"] = settings.policy_snapshot

    monkeypatch.setattr(serve, "_supervisor_class", lambda: Recording)
    settings = Settings.from_env({}, workers=2, port=free_port(), policy=str(folder))
    assert serve._serve(settings, sources) == 0
    assert seen["policy"].version.files == sorted(sources)
    assert any(name.endswith("safety.policy") for name in seen["policy"].version.files)
    assert not Path(seen["snapshot"]).exists()  # the server's own: removed when it stops


def test_a_snapshot_that_is_gone_fails_the_start_with_its_path(tmp_path: Path) -> None:
    source = FolderSource("policies", str(tmp_path / "gone" / "policy.json"))
    with pytest.raises(SourceError, match="the policy read at start-up cannot be read from"):
        source.start()
    assert source.current is None  # nothing served: the worker does not start


@pytest.fixture
def supervisor() -> Iterator[Any]:
    """`replygate serve`'s supervisor of two workers, started nowhere; the test process's
    signal handlers (which the supervisor replaces) are put back afterwards."""
    from uvicorn.supervisors.multiprocess import SIGNALS

    saved = {sig: signal.getsignal(sig) for sig in SIGNALS}
    restarts: list[int] = []

    class Counting(serve._supervisor_class()):  # type: ignore[misc]
        def restart_all(self) -> None:
            restarts.append(len(self.signal_queue))

    made = Counting(SimpleNamespace(workers=2), sockets=[])
    made.restarts = restarts
    try:
        yield made
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def test_sighups_queued_during_a_restart_are_one_restart(supervisor: Any) -> None:
    """Found by a resource probe: uvicorn ran one rolling restart (about 6 s) per SIGHUP
    queued, 40 of them for four minutes."""
    supervisor.signal_queue.extend([signal.SIGHUP] * 5)
    supervisor.handle_signals()
    assert supervisor.restarts == [0]
    assert not supervisor.should_exit.is_set()


@pytest.mark.parametrize(("stop", "interrupted"), [(signal.SIGTERM, False), (signal.SIGINT, True)])
def test_a_stop_is_acted_on_at_once_not_behind_queued_restarts(
    supervisor: Any, stop: signal.Signals, interrupted: bool
) -> None:
    """A SIGTERM waited behind every SIGHUP queued before it (a service manager's stop timeout
    then SIGKILLs, which skips the decision log's drain)."""
    supervisor.signal_queue.extend([signal.SIGHUP] * 3)
    signal.raise_signal(stop)  # as the supervisor's main thread receives it
    assert supervisor.should_exit.is_set()  # the main loop and a restart in progress end
    assert supervisor.interrupted is interrupted  # exit code 130 after Ctrl-C
    supervisor.handle_signals()
    assert supervisor.restarts == []  # no restart once stopping
