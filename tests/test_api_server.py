"""`replygate serve` as a real process on 127.0.0.1: start, decide, follow a commit under load,
SIGTERM, and find every answered check in the decision log."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gitrepo import commit_policies, make_repo

from replygate.api.auth import key_entry

ROOT = Path(__file__).absolute().parent.parent
POLICIES = ROOT / "policies"
KEY = "rg_server_test_key"
START_SECONDS = 60.0
STOP_SECONDS = 60.0

REQUEST: dict[str, Any] = {
    "actor": {"id": "carol"},
    "action": "reply",
    "channel": "twitter",
    "post": {
        "id": "t-1",
        "sentiment": "negative",
        "category": "complaint",
        "author_reach": 7000,
        "received_at": "2026-11-27T21:40:00+01:00",
    },
    "content": {"text": "We are sorry - we will call you today."},
    "at": "2026-11-27T21:50:00+01:00",
}
HEADERS = {"Authorization": f"Bearer {KEY}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll `condition` until it holds or `seconds` pass (then fail, saying what)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


class Server:
    """One `replygate serve` process; its output goes to a file shown when a test fails."""

    def __init__(
        self,
        tmp_path: Path,
        *args: str,
        env: dict[str, str] | None = None,
        new_session: bool = False,
        port: int | None = None,
    ) -> None:
        self.port = free_port() if port is None else port
        self.url = f"http://127.0.0.1:{self.port}"
        self.output = tmp_path / f"serve-{self.port}.log"
        command = [
            sys.executable,
            "-m",
            "replygate.cli.main",
            "serve",
            "--port",
            str(self.port),
            *args,
        ]
        clean = {k: v for k, v in os.environ.items() if not k.startswith("REPLYGATE_")}
        clean.pop("PROMETHEUS_MULTIPROC_DIR", None)
        with open(self.output, "wb") as sink:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env={**clean, **(env or {})},
                # Its own process group, so a test can SIGKILL the workers with it.
                start_new_session=new_session,
            )

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_ready(self) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited during start-up:\n{self.log()}")
            try:
                return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, START_SECONDS, f"/readyz of {self.url}")

    def terminate(self) -> int:
        """SIGTERM, as an orchestrator stops a container; the exit code."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"no graceful stop within {STOP_SECONDS} s:\n{self.log()}"
            ) from None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Every server a test starts; killed at the end if the test did not stop it."""
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.toml"
    path.write_text(key_entry("publisher", ["check", "audit"], KEY))
    return path


def logged_ids(database: Path) -> list[str]:
    with sqlite3.connect(database) as conn:
        return [row[0] for row in conn.execute("SELECT decision_id FROM decisions")]


def bundled_sources() -> dict[str, str]:
    return {
        f"policies/{path.name}": path.read_text(encoding="utf-8")
        for path in sorted(POLICIES.glob("*.policy"))
    }


class Burst:
    """Threads sending checks back to back until stopped; every answer is kept."""

    def __init__(self, url: str, threads: int = 3) -> None:
        self.url = url
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def __enter__(self) -> Burst:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self._stop.is_set():
                try:
                    response = client.post("/v1/check", json=REQUEST, headers=HEADERS)
                except httpx.HTTPError as error:
                    with self._lock:
                        self.failures.append(repr(error))
                    continue
                with self._lock:
                    self.answers.append((response.status_code, response.json()))

    def commits(self) -> set[str | None]:
        with self._lock:
            return {body.get("policy", {}).get("commit") for _, body in self.answers}


def test_serve_follows_a_commit_under_load_and_drains_on_sigterm(
    tmp_path: Path, keys_file: Path, servers: list[Server]
) -> None:
    repo = make_repo(tmp_path)
    first = commit_policies(repo, bundled_sources(), "Bundled policy")
    database = tmp_path / "decisions.db"
    server = Server(
        tmp_path,
        "--repo",
        str(repo.working_tree_dir),
        "--ref",
        "main",
        "--poll",
        "0.2",
        "--decision-log",
        f"sqlite:///{database}",
        "--keys",
        str(keys_file),
    )
    servers.append(server)
    server.wait_ready()
    client = httpx.Client(base_url=server.url, headers=HEADERS, timeout=10)
    assert client.get("/v1/policy").json()["commit"] == first

    changed = bundled_sources()
    changed["policies/care.policy"] = changed["policies/care.policy"].replace(
        "post.author_reach >= 10000", "post.author_reach >= 5000"
    )
    with Burst(server.url) as burst:
        wait_for(lambda: len(burst.answers) >= 50, 30, "checks answered before the commit")
        second = commit_policies(repo, changed, "Comms lead approves from 5000 followers")
        wait_for(
            lambda: client.get("/v1/policy").json()["commit"] == second,
            30,
            "the follower to report the new commit",
        )
        wait_for(lambda: second in burst.commits(), 30, "a check decided by the new commit")
        wait_for(lambda: len(burst.answers) >= 200, 30, "more checks after the swap")

    assert burst.failures == []
    assert {status for status, _ in burst.answers} == {200}
    outcomes = {body["policy"]["commit"]: body["decision"] for _, body in burst.answers}
    assert outcomes == {first: "allow", second: "approval_required"}
    answered = [body["decision_id"] for _, body in burst.answers]
    client.close()

    assert server.terminate() == 0, server.log()
    stored = logged_ids(database)
    assert len(stored) == len(answered)
    assert set(stored) == set(answered)


def test_two_workers_share_metrics_and_both_drain(
    tmp_path: Path, keys_file: Path, servers: list[Server]
) -> None:
    database = tmp_path / "decisions.db"
    server = Server(
        tmp_path,
        "--workers",
        "2",
        "--decision-log",
        f"sqlite:///{database}",
        "--keys",
        str(keys_file),
    )
    servers.append(server)
    server.wait_ready()
    answered = []
    # A new connection per round lets the kernel hand checks to both workers.
    for _ in range(40):
        with httpx.Client(base_url=server.url, headers=HEADERS, timeout=10) as client:
            for _ in range(5):
                response = client.post("/v1/check", json=REQUEST)
                assert response.status_code == 200, response.text
                answered.append(response.json()["decision_id"])

    def counted() -> float:
        text = httpx.get(f"{server.url}/metrics", timeout=5).text
        lines = [line for line in text.splitlines() if line.startswith("replygate_decisions_total")]
        return sum(float(line.rsplit(" ", 1)[1]) for line in lines)

    # Whichever worker answers the scrape, the count covers both.
    for _ in range(5):
        assert counted() == len(answered)

    assert server.terminate() == 0, server.log()
    assert sorted(logged_ids(database)) == sorted(answered)
    with sqlite3.connect(database) as conn:
        writers = {row[0] for row in conn.execute("SELECT DISTINCT writer_id FROM decisions")}
    assert 1 <= len(writers) <= 2


def test_without_keys_a_development_key_is_printed_and_required(
    tmp_path: Path, servers: list[Server]
) -> None:
    server = Server(tmp_path, "--decision-log", f"sqlite:///{tmp_path / 'decisions.db'}")
    servers.append(server)
    server.wait_ready()
    line = next(line for line in server.log().splitlines() if "development API key" in line)
    assert line.startswith(
        "replygate: development API key (scopes check, audit, admin, review): rg_dev_"
    )
    key = line.rsplit(" ", 1)[1]
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post("/v1/check", json=REQUEST).status_code == 401
        allowed = client.post("/v1/check", json=REQUEST, headers={"Authorization": f"Bearer {key}"})
        assert allowed.status_code == 200
        assert allowed.json()["reasons"][0]["source"]["file"] == "policies/care.policy"
    assert server.terminate() == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--keys", "{tmp}/absent.toml"], "absent.toml: No such file or directory"),
        (["--policy", "{tmp}/broken"], "care.policy:2:6: error: unexpected"),
        (["--repo", "{tmp}"], "replygate: error: '"),
        (["--decision-log", "mysql://x"], "replygate: error: decision_log:"),
        (["--port", "0"], "replygate: error: port: 0 is not a TCP port"),
        # Found by probing serve: uvicorn's own log line and exit code 3, or 100,000 forks.
        (["--host", "a b", "--decision-log", "sqlite:///{tmp}/x.db"], "--host: cannot listen"),
        (["--workers", "100000"], "replygate: error: workers: must be at least 1 and at most 64"),
        (["--poll", "1e-300"], "replygate: error: poll: must be at least 0.1"),
        (["--session-hours", "0"], "replygate: error: session_hours: must be at least 0.01"),
        # Max-Age rounded to 0: accepted, and no sign-in ever held.
        (["--session-hours", "0.0001"], "replygate: error: session_hours: must be at least 0.01"),
        (["--session-store", "/nonexistent"], "--session-store: /nonexistent is not a folder"),
        # Found by probing serve: ignored without --repo, and the bundled folder served.
        (["--ref", "main"], "replygate: error: --ref follows a git repository: give --repo"),
        (["--fetch", "--remote", "up"], "error: --fetch and --remote follow a git repository"),
        # uvicorn took a typo for a Unix socket's name: the balancer silently not believed.
        (
            ["--forwarded-allow-ips", "10.0.0.1, 10.0.0.0/33"],
            "error: forwarded_allow_ips: '10.0.0.0/33' is neither an IP address, a network",
        ),
    ],
)
def test_bad_options_are_reported_without_a_traceback(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "care.policy").write_text("# half a rule\nrule {\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "replygate.cli.main",
            "serve",
            *[a.format(tmp=tmp_path) for a in args],
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert expected in done.stderr
    assert "Traceback" not in done.stderr


# ---- two replicas sharing one real PostgreSQL ---------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A real PostgreSQL: $REPLYGATE_TEST_POSTGRES, or one started by .ci/postgres.sh."""
    url = os.environ.get("REPLYGATE_TEST_POSTGRES")
    if url:
        yield url
        return
    script = ROOT / ".ci" / "postgres.sh"
    name = f"api-tests-{os.getpid()}"  # one instance per pytest-xdist worker
    started = subprocess.run(
        ["bash", str(script), "start", name],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip().rsplit("=", 1)[1]
    try:
        yield url
    finally:
        subprocess.run(
            ["bash", str(script), "stop", name],
            capture_output=True,
            timeout=120,
            check=False,
        )


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh database on the server for one test, dropped afterwards."""
    import secrets

    import psycopg

    name = f"replygate_api_{secrets.token_hex(4)}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    head, _, _ = postgres_server.rpartition("/")
    yield f"{head}/{name}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_two_servers_share_one_postgresql_decision_log(
    tmp_path: Path, keys_file: Path, servers: list[Server], postgres_url: str
) -> None:
    import psycopg

    replicas = [
        Server(tmp_path, "--decision-log", postgres_url, "--keys", str(keys_file)) for _ in range(2)
    ]
    servers.extend(replicas)
    for replica in replicas:
        replica.wait_ready()
    clients = [httpx.Client(base_url=r.url, headers=HEADERS, timeout=10) for r in replicas]
    answered: list[list[str]] = [[], []]
    for number in range(120):
        side = number % 2
        response = clients[side].post("/v1/check", json=REQUEST)
        assert response.status_code == 200, response.text
        answered[side].append(response.json()["decision_id"])

    # One audit trail: the first replica finds what the second one decided.
    second_id = answered[1][-1]
    assert clients[1].post("/v1/check", json=REQUEST).status_code == 200
    wait_for(
        lambda: clients[0].get(f"/v1/decisions/{second_id}").status_code == 200,
        30,
        "the first replica to read the second replica's decision",
    )
    for client in clients:
        client.close()
    extra = 1
    from urllib.parse import urlsplit

    from replygate.decision_log import shown_url

    password = urlsplit(postgres_url).password
    for replica in replicas:
        assert replica.terminate() == 0, replica.log()
        # The start banner names the log without its password (journals and CI logs keep it).
        assert f"decision log {shown_url(postgres_url)})" in replica.log()
        assert not password or password not in replica.log()

    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT decision_id, writer_id FROM decisions").fetchall()
    stored = {decision_id for decision_id, _ in rows}
    assert len(rows) == len(answered[0]) + len(answered[1]) + extra
    assert set(answered[0]) | set(answered[1]) <= stored
    assert len({writer for _, writer in rows}) == 2


def test_the_worker_supervisor_stops_listening_before_it_stops_the_workers() -> None:
    # With several workers the supervisor holds the listening socket too: kept open while the
    # workers drain, it queued new connections that were reset when it exited. Closed first, a
    # client is refused at once and retries elsewhere, as with one worker.
    import uvicorn
    from uvicorn.supervisors.multiprocess import SIGNALS

    from replygate.cli.serve import _supervisor_class

    listener = socket.create_server(("127.0.0.1", 0))
    address = listener.getsockname()
    handlers = {sig: signal.getsignal(sig) for sig in SIGNALS}
    try:
        config = uvicorn.Config("replygate.api.app:app_from_env", factory=True, workers=2)
        supervisor = _supervisor_class()(config, sockets=[listener])
        supervisor.terminate_all()  # no workers started: only the socket to close
    finally:
        for sig, handler in handlers.items():  # Multiprocess installs its own
            signal.signal(sig, handler)
    assert listener.fileno() == -1
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=2).close()


def test_a_port_in_use_is_named_before_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                *(sys.executable, "-m", "replygate.cli.main", "serve", "--port", str(port)),
                *("--decision-log", f"sqlite:///{tmp_path / 'x.db'}"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    assert f"replygate: error: --port: cannot listen on 127.0.0.1:{port}" in done.stderr


# ---- clients that never finish a request; signals (found by probing with real clients) -------


def one_second_timeout(tmp_path: Path, keys_file: Path, servers: list[Server]) -> Server:
    """A ready server whose requests must arrive within a second."""
    server = Server(
        tmp_path,
        *("--keys", str(keys_file), "--request-timeout", "1"),
        *("--decision-log", f"sqlite:///{tmp_path / 'log.db'}"),
    )
    servers.append(server)
    server.wait_ready()
    return server


def test_a_request_that_does_not_arrive_in_time_is_answered_408_and_closed(
    tmp_path: Path, keys_file: Path, servers: list[Server]
) -> None:
    """A connection that never finished its request was held for ever: 20,000 of them took
    every file descriptor. Now headers and body must arrive within --request-timeout."""
    server = one_second_timeout(tmp_path, keys_file, servers)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as half_headers:
        half_headers.sendall(b"POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Le")
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as half_body:
            half_body.sendall(
                b"POST /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + KEY.encode()
                + b'\r\nContent-Length: 100\r\n\r\n{"actor"'
            )
            # Others are served meanwhile.
            assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
            answer = b""
            while chunk := half_headers.recv(4096):  # until the server closes it
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
            assert b'"code":"request_timeout"' in answer
            assert half_body.recv(4096) == b""  # closed without an answer: nothing was decided
    assert server.terminate() == 0


def test_a_client_that_never_reads_its_answers_is_cut_off(
    tmp_path: Path, keys_file: Path, servers: list[Server]
) -> None:
    """Found by a resource probe: a client that pipelined requests and never read kept its
    connection, the queued requests and the unsent answers for ever (no key needed; 1,000 such
    connections took 500 MB, kept after they left). An answer the client takes nothing of for
    --request-timeout seconds now resets the connection."""
    server = one_second_timeout(tmp_path, keys_file, servers)
    with socket.socket() as stalled:
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", server.port))
        stalled.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * 200)
        # Waits for the reset, not for data (the answers it never reads are pending).
        watch = select.poll()
        watch.register(stalled, select.POLLERR | select.POLLHUP)
        events = watch.poll(60_000)
        assert events and events[0][1] & (select.POLLERR | select.POLLHUP), events
        with pytest.raises(ConnectionResetError):
            while stalled.recv(1 << 20):
                pass
    # The server is whole, and serves a client that reads.
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as reader:
        reader.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * 20)
        received = b""
        while received.count(b"HTTP/1.1 200 OK") < 20 or not received.endswith(b"}"):
            received += reader.recv(1 << 16)
    assert "Traceback" not in server.log()
    assert server.terminate() == 0


@pytest.mark.parametrize("first, second", [(signal.SIGHUP, None), (signal.SIGINT, signal.SIGINT)])
def test_sighup_and_a_second_ctrl_c_stop_gracefully(
    tmp_path: Path,
    keys_file: Path,
    servers: list[Server],
    first: signal.Signals,
    second: signal.Signals | None,
) -> None:
    """SIGHUP killed a one-worker server with answered decisions still queued; a second Ctrl-C
    cancelled requests with tracebacks and skipped the log's drain."""
    database = tmp_path / "log.db"
    server = Server(
        tmp_path,
        *("--keys", str(keys_file), "--log-ack", "async"),
        *("--decision-log", f"sqlite:///{database}"),
    )
    servers.append(server)
    server.wait_ready()
    answered = []
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for _ in range(20):
            response = client.post("/v1/check", json=REQUEST, headers=HEADERS)
            assert response.status_code == 200
            answered.append(response.json()["decision_id"])
    server.process.send_signal(first)
    if second is not None:
        server.process.send_signal(second)
    code = server.process.wait(STOP_SECONDS)
    assert code in (0, 130), server.log()  # 130: stopped by Ctrl-C, as a shell reports it
    assert "Traceback" not in server.log()
    assert sorted(logged_ids(database)) == sorted(answered)


def test_an_idle_keep_alive_connection_is_closed_silently_under_a_short_request_timeout(
    tmp_path: Path, keys_file: Path, servers: list[Server]
) -> None:
    """With --request-timeout 1, a connection idle after its response got an unprompted 408
    before the keep-alive close (docs/api.md: no answer at all to a client that asks nothing)."""
    server = one_second_timeout(tmp_path, keys_file, servers)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as idle:
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while b'"status"' not in answer:
            answer += idle.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        rest = b""
        while chunk := idle.recv(4096):  # until uvicorn's keep-alive timer closes it
            rest += chunk
        assert rest == b""
    assert server.terminate() == 0


def test_head_sends_the_headers_of_a_get_and_no_body(
    tmp_path: Path, keys_file: Path, servers: list[Server]
) -> None:
    """A body after a HEAD's headers would be read as the next response on the connection."""
    server = one_second_timeout(tmp_path, keys_file, servers)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        connection.sendall(
            b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        answer = b""
        while answer.count(b"HTTP/1.1 ") < 2 or not answer.endswith(b"}"):
            answer += connection.recv(4096)
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    length = int(
        next(
            line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        ).split(b":")[1]
    )
    # Right after the HEAD's headers comes the GET's response, whose body has that length.
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n")
    assert len(rest.partition(b"\r\n\r\n")[2]) == length
    assert server.terminate() == 0


@pytest.mark.parametrize(("trusted", "secure"), [("*", True), ("10.9.9.9", False)])
def test_a_load_balancers_https_makes_session_cookies_secure_when_it_is_trusted(
    tmp_path: Path, servers: list[Server], trusted: str, secure: bool
) -> None:
    """TLS ends at the load balancer (docs/api.md): its X-Forwarded-Proto counts only from the
    addresses --forwarded-allow-ips names; --session-hours sets the cookie's lifetime."""
    keys = tmp_path / "keys.toml"
    keys.write_text(key_entry("reviewer", ["review"], KEY))
    server = Server(
        tmp_path,
        *("--keys", str(keys), "--decision-log", f"sqlite:///{tmp_path / 'log.db'}"),
        *("--forwarded-allow-ips", trusted, "--session-hours", "2"),
    )
    servers.append(server)
    server.wait_ready()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        form = client.get("/sign-in")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        signed_in = client.post(
            "/sign-in",
            data={"key": KEY, "csrf": token[1]},
            headers={"X-Forwarded-Proto": "https"},
        )
    assert signed_in.status_code == 303, signed_in.text
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith("replygate_session=")
    assert "Max-Age=7200" in cookie
    assert ("Secure" in cookie) is secure
    assert server.terminate() == 0


def test_ctrl_c_stops_several_workers_with_exit_code_130(
    tmp_path: Path, keys_file: Path, servers: list[Server]
) -> None:
    """One worker said 130 after Ctrl-C, as documented; two said 0."""
    server = Server(
        tmp_path,
        *("--workers", "2", "--keys", str(keys_file)),
        *("--decision-log", f"sqlite:///{tmp_path / 'log.db'}"),
        port=free_port(),
    )
    servers.append(server)
    server.wait_ready()
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(STOP_SECONDS) == 130, server.log()
    assert "Traceback" not in server.log()


def test_workers_restarted_after_a_broken_commit_serve_the_last_good_one(
    tmp_path: Path, keys_file: Path, servers: list[Server]
) -> None:
    """A worker started by SIGHUP's rolling restart while the ref's commit did not compile had
    no policy: every check it took was 503 not_ready, `/v1/policy` said `error`."""
    repo = make_repo(tmp_path)
    first = commit_policies(repo, bundled_sources(), "Bundled policy")
    server = Server(
        tmp_path,
        *("--repo", str(repo.working_tree_dir), "--ref", "main", "--poll", "0.2"),
        *("--workers", "2", "--keys", str(keys_file)),
        *("--decision-log", f"sqlite:///{tmp_path / 'log.db'}"),
        port=free_port(),
    )
    servers.append(server)
    server.wait_ready()
    broken = commit_policies(repo, {"policies/care.policy": "rule oops {\n    allow\n"}, "Broken")

    def states() -> set[tuple[str, str | None, str | None]]:
        found = set()
        for _ in range(8):  # a new connection each: the kernel hands them to either worker
            body = httpx.get(f"{server.url}/v1/policy", headers=HEADERS, timeout=10).json()
            found.add((body["state"], body["commit"], body["last_error_commit"]))
        return found

    wait_for(lambda: states() == {("degraded", first, broken)}, 30, "both workers degraded")
    server.process.send_signal(signal.SIGHUP)
    wait_for(lambda: server.log().count("Terminated child process") >= 2, 60, "the rolling restart")
    assert states() == {("degraded", first, broken)}, server.log()
    for _ in range(10):
        response = httpx.post(f"{server.url}/v1/check", json=REQUEST, headers=HEADERS, timeout=10)
        assert response.status_code == 200, response.text
        assert response.json()["policy"]["commit"] == first
    assert server.terminate() == 0, server.log()
