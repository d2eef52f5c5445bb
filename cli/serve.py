"""`replygate serve`: run the decision API with uvicorn (uvloop + httptools).

Without options it serves the bundled `policies/` on 127.0.0.1:8080, logs decisions to
`./replygate-decisions.db` and, since no keys file is given, prints a generated development key
rather than running open. Everything is checked before uvicorn starts (policy, repository, keys,
decision log), so a mistake reads `replygate: error: …` or `file:line:col: error: …`, never a
traceback.

With `--workers N > 1` uvicorn imports the app by name in each worker process
(`api.app:app_from_env`); the settings travel as `REPLYGATE_*` variables and the metrics use
prometheus-client's multiprocess mode in a temporary folder.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import shutil
import signal
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from replygate.api.settings import Settings


def configure(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("what to serve (default: the bundled policies/ folder)")
    where.add_argument("--policy", metavar="PATH", help="a policy folder, loaded once")
    where.add_argument("--repo", metavar="PATH", help="a git repository whose ref is followed")
    where.add_argument("--ref", metavar="REF", help="the ref to follow (default: HEAD)")
    where.add_argument(
        "--poll", metavar="SECONDS", type=float, help="how often to poll the ref (default: 10)"
    )
    where.add_argument(
        "--fetch",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="fetch from the remote before each poll",
    )
    where.add_argument("--remote", metavar="NAME", help="the remote to fetch (default: origin)")

    net = parser.add_argument_group("network")
    net.add_argument("--host", help="address to listen on (default: 127.0.0.1)")
    net.add_argument("--port", type=int, help="port (default: 8080)")
    net.add_argument("--workers", type=int, metavar="N", help="worker processes (default: 1)")
    net.add_argument(
        "--request-timeout",
        type=float,
        metavar="SECONDS",
        help="a request's headers and body must arrive within this time, else 408 and the "
        "connection is closed (default: 30)",
    )
    net.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="log every request (default: off)",
    )

    data = parser.add_argument_group("decision log and security")
    data.add_argument(
        "--decision-log",
        metavar="URL",
        help="sqlite:///PATH or postgresql://… (default: sqlite:///replygate-decisions.db)",
    )
    data.add_argument(
        "--redact",
        metavar="FIELDS",
        help="FIELD=hash|drop,… before storing (default: content.text=hash; 'none' for nothing)",
    )
    data.add_argument(
        "--log-ack",
        choices=("durable", "async"),
        help="durable: answer a check once its record is committed to disk (group commit); "
        "async: once it is queued, faster, a crash may lose the last records (default: durable)",
    )
    data.add_argument(
        "--log-key-file",
        metavar="FILE",
        help="the decision-log key (HMAC hash chains); default: $REPLYGATE_LOG_KEY, else none",
    )
    data.add_argument("--keys", metavar="FILE", help="API keys file (TOML or JSON)")
    data.add_argument(
        "--session-secret-file",
        metavar="FILE",
        help="the review pages' session secret (the same in every replica; default: "
        "$REPLYGATE_SESSION_SECRET, else a session-secret file beside --keys, else made at start)",
    )
    data.add_argument(
        "--session-hours",
        type=float,
        metavar="HOURS",
        help="how long a review-page session lasts (default: 8, at most 744: a month)",
    )
    data.add_argument(
        "--session-store",
        metavar="DIR",
        help="a folder where signed-out review sessions are kept until they would have expired, "
        "so a copied cookie stops working; give replicas one shared folder (default: this "
        "server's own, for all its workers)",
    )
    data.add_argument(
        "--forwarded-allow-ips",
        metavar="IPS",
        help="addresses whose X-Forwarded-For/-Proto are believed: the load balancer that ends "
        "TLS, so session cookies are Secure (comma-separated, or *; default: 127.0.0.1)",
    )
    data.add_argument(
        "--open-health",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="serve /healthz and /readyz without a key (default: yes)",
    )
    data.add_argument(
        "--open-metrics",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="serve /metrics without a key (default: yes)",
    )
    data.add_argument("--max-body-bytes", type=int, metavar="N", help="default: 1048576")
    data.add_argument("--batch-limit", type=int, metavar="N", help="default: 100")

    keys = parser.add_argument_group("making API keys")
    keys.add_argument(
        "--hash-key",
        metavar="CLIENT",
        help="print a new key for CLIENT and its keys-file entry, then exit",
    )
    keys.add_argument(
        "--scopes",
        default="check",
        help="scopes of --hash-key: check,audit,admin,review (default: check)",
    )


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from replygate.api.settings import parse_redact

    found = {
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
        "policy": args.policy,
        "repo": args.repo,
        "ref": args.ref,
        "poll": args.poll,
        "fetch": args.fetch,
        "remote": args.remote,
        "decision_log": args.decision_log,
        "keys": args.keys,
        "open_health": args.open_health,
        "open_metrics": args.open_metrics,
        "max_body_bytes": args.max_body_bytes,
        "batch_limit": args.batch_limit,
        "access_log": args.access_log,
        "log_ack": args.log_ack,
        "log_key_file": args.log_key_file,
        "request_timeout": args.request_timeout,
        "session_hours": args.session_hours,
        "session_store": args.session_store,
        "forwarded_allow_ips": args.forwarded_allow_ips,
    }
    if args.redact is not None:
        found["redact"] = parse_redact(args.redact)
    return found


def _preflight(settings: Settings) -> tuple[int | None, dict[str, str] | None]:
    """Check what would otherwise fail inside uvicorn with a traceback: (None when all is well,
    else the exit code; the folder's files as read and compiled, when a folder is served)."""
    from replygate.api.auth import KeyRing
    from replygate.cli.common import fail, policy_source, report
    from replygate.engine.errors import GitError, PolicyError

    KeyRing.from_settings(settings)  # raises SettingsError naming the entry
    if settings.session_store and not _writable_folder(settings.session_store):
        return fail(
            f"--session-store: {settings.session_store} is not a folder this server can write"
        ), None
    sources = None
    if settings.repo:
        try:
            repo = policy_source(repo=settings.repo, ref=settings.ref).open()
        except PolicyError as error:
            return report(error), None
        try:
            if settings.fetch:
                repo.check_remote(settings.remote)
        except GitError as error:
            # A remote that is not there: every poll would fail and the server never be ready.
            return fail(f"--remote: {error.message}"), None
        finally:
            repo.close()
    else:
        sources = _read_folder_once(settings.policy_folder)
        if sources is None:
            return 2, None
    from replygate.api.app import default_log
    from replygate.decision_log import DecisionLogError

    try:
        default_log(settings).close(5.0)
    except (ValueError, DecisionLogError) as error:
        return fail(str(error)), None
    return _can_listen(settings.host, settings.port), sources


def _read_folder_once(folder: str) -> dict[str, str] | None:
    """The folder's files, read once and compiled (every worker serves exactly these), or None
    after printing why they do not compile."""
    from replygate.cli.common import report
    from replygate.engine.errors import PolicyError
    from replygate.engine.source import PolicySource

    source = PolicySource.folder(folder)
    try:
        _, sources = source.read()
        PolicySource.as_read(folder, sources).load()
    except PolicyError as error:
        report(error, source)
        return None
    return sources


def _writable_folder(path: str) -> bool:
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def _can_listen(host: str, port: int) -> int | None:
    """Bind the address as uvicorn will (SO_REUSEADDR), so a bad --host or a port in use is a
    `replygate: error:` naming the option, not uvicorn's log line and exit code 3."""
    import socket

    from replygate.cli.common import fail

    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as error:
        return fail(f"--host: cannot listen on '{host}': {getattr(error, 'strerror', error)}")
    family, kind, proto, _, address = found[0]
    try:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as error:
        option = "--port" if error.errno in (errno.EADDRINUSE, errno.EACCES) else "--host"
        return fail(f"{option}: cannot listen on {host}:{port}: {error.strerror}")
    return None


def run(args: argparse.Namespace) -> int:
    from replygate.api.auth import parse_scopes, print_new_key
    from replygate.api.settings import Settings, SettingsError
    from replygate.cli.common import fail

    try:
        if args.hash_key is not None:
            if not args.hash_key.strip():
                return fail("--hash-key: a client name is required")
            print_new_key(args.hash_key, parse_scopes(args.scopes))
            return 0
        settings = Settings.from_env(**_overrides(args))
        following = [f"--{name}" for name in ("ref", "poll", "fetch", "remote")]
        given = [o for o in following if getattr(args, o[2:]) is not None]
        if given and not settings.repo:
            # Without a repository they would be ignored, and the folder served unannounced.
            verb = "follows" if len(given) == 1 else "follow"
            return fail(f"{' and '.join(given)} {verb} a git repository: give --repo PATH too")
        if args.session_secret_file:
            settings = settings.with_session_secret(_read_secret(args.session_secret_file))
        problem, sources = _preflight(settings)
    except SettingsError as error:
        return fail(str(error))
    if problem is not None:
        return problem
    if not settings.keys and not settings.api_keys:
        from replygate.api.auth import development_keys

        key, inline = development_keys()
        settings = settings.with_keys(inline)
        print(
            f"replygate: development API key (scopes check, audit, admin, review): {key}",
            file=sys.stderr,
            flush=True,
        )
    from replygate.api.review_page import new_secret, session_secret
    from replygate.decision_log import shown_url

    try:
        found = session_secret(settings)  # a `session-secret` file beside --keys is read here
    except SettingsError as error:
        return fail(str(error))
    # Else one secret for every worker of this server, so a session works whichever answers.
    settings = settings.with_session_secret(found or new_secret())
    source = f"{settings.repo} at {settings.ref}" if settings.repo else settings.policy_folder
    print(
        f"replygate: serving {source} on http://{settings.host}:{settings.port} "
        f"({settings.workers} worker{'s' if settings.workers > 1 else ''}, decision log "
        f"{shown_url(settings.decision_log)})",
        file=sys.stderr,
        flush=True,
    )
    print(
        f"replygate: review pages on http://{settings.host}:{settings.port}/ "
        "(sign in with an API key that has the review scope)",
        file=sys.stderr,
        flush=True,
    )
    return _serve(settings, sources)


def _read_secret(path: str) -> str:
    """The session secret in a file (one line); `SettingsError` names the option and file."""
    from replygate.api.review_page.session import read_secret

    return read_secret(path, "--session-secret-file:")


def _stopped(_signum: int, _frame: Any) -> None:
    raise SystemExit(0)


SHUTDOWN_GRACE_SECONDS = 30
# How long uvicorn's supervisor waits for a worker to start (SIGHUP's rolling restart) or to
# answer its health ping; uvicorn's 5 s abandon a restart whose worker compiles a large policy
# (12,000 rules take about 8 s) or waits for the followed ref's first answer.
WORKER_START_SECONDS = 120


def _server_class() -> Any:
    import contextlib
    import sys
    import threading

    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, stopping gracefully on SIGHUP too, and once only.

        uvicorn force-exits on a second Ctrl-C: requests in flight were cancelled with
        tracebacks and the lifespan, which drains the decision log, never ran. Here a second
        signal only says that the stop is under way; `timeout_graceful_shutdown` bounds it.
        """

        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            with super().capture_signals():
                if threading.current_thread() is not threading.main_thread():
                    yield
                    return
                previous = signal.signal(signal.SIGHUP, self.handle_exit)
                try:
                    yield
                finally:
                    signal.signal(signal.SIGHUP, previous)

        def handle_exit(self, sig: int, frame: Any) -> None:
            if self.should_exit:
                print(
                    "replygate: already stopping: waiting for requests in flight (at most "
                    f"{SHUTDOWN_GRACE_SECONDS} s), then draining the decision log",
                    file=sys.stderr,
                    flush=True,
                )
                return
            super().handle_exit(sig, frame)

    return Server


def _supervisor_class() -> Any:
    from uvicorn.supervisors.multiprocess import Multiprocess

    class Supervisor(Multiprocess):
        """uvicorn's worker supervisor, closing its copy of the listening socket on stop.

        Each worker stops accepting when it is told to stop, but the socket stays open while
        the supervisor holds it: connections made meanwhile would wait in its backlog and be
        reset when it exits. Closed first, a client is refused at once (and retries another
        replica), as with one worker. It remembers a Ctrl-C, so the exit code says 130 as
        with one worker.
        """

        interrupted = False

        def __init__(self, config: Any, sockets: list[Any]) -> None:
            super().__init__(config, sockets)
            for stop in (signal.SIGINT, signal.SIGTERM):
                signal.signal(stop, self._stop)

        def _stop(self, sig: int, _frame: Any) -> None:
            # Acted on at once: uvicorn queued a stop behind every SIGHUP received before it,
            # each a rolling restart of about 6 s (a burst of 40 kept a SIGTERM waiting for
            # four minutes, past a service manager's patience, whose SIGKILL skips the drain).
            if sig == signal.SIGINT:
                self.interrupted = True
            self.signal_queue.append(sig)
            self.should_exit.set()

        def handle_signals(self) -> None:
            # Any number of SIGHUPs queued meanwhile is one restart; none once stopping.
            queued = [sig for sig in self.signal_queue if sig != signal.SIGHUP]
            if signal.SIGHUP in self.signal_queue and not self.should_exit.is_set():
                queued.append(signal.SIGHUP)
            self.signal_queue[:] = queued
            super().handle_signals()

        def handle_int(self) -> None:
            self.interrupted = True
            super().handle_int()

        def terminate_all(self) -> None:
            for listener in self.sockets:
                listener.close()
            super().terminate_all()

    return Supervisor


def _serve(settings: Settings, sources: dict[str, str] | None) -> int:
    """Run uvicorn; `sources`, a folder's files as read at start-up, are what every worker
    serves (written to a private temporary folder for them, removed at exit)."""
    made: list[str] = []
    try:
        if sources is not None:
            from replygate.api.policy_source import write_snapshot

            made.append(tempfile.mkdtemp(prefix="replygate-policy-"))
            settings = settings.with_policy_snapshot(write_snapshot(sources, made[-1]))
        return _run_uvicorn(settings, made)
    finally:
        for folder in made:
            shutil.rmtree(folder, ignore_errors=True)


def _run_uvicorn(settings: Settings, made: list[str]) -> int:
    """uvicorn with one worker in this process, or a supervisor of several; temporary folders
    it makes go into `made`."""
    import uvicorn

    from replygate.api.app import configure_logging
    from replygate.api.protocol import NAME as JSON_ERRORS_PROTOCOL

    configure_logging()
    operator_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if operator_metrics_dir:
        problem = _empty_metrics_dir(operator_metrics_dir)
        if problem is not None:
            return problem
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        # httptools, answering requests it cannot parse in the API's JSON error shape
        "http": JSON_ERRORS_PROTOCOL,
        # No WebSocket endpoints: with the websockets library installed (uvicorn[standard]), a
        # handshake was answered by it in plain text; now the app answers it as HTTP, in JSON.
        "ws": "none",
        "lifespan": "on",
        "access_log": settings.access_log,
        "log_level": "info",
        "server_header": False,
        # A stop waits this long for requests in flight, then cancels them; the lifespan then
        # drains the decision log. (A request still arriving is cut by --request-timeout.)
        "timeout_graceful_shutdown": SHUTDOWN_GRACE_SECONDS,
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
    }
    if settings.workers == 1:
        from replygate.api.app import create_app
        from replygate.api.protocol import JsonErrorsProtocol

        JsonErrorsProtocol.request_timeout = settings.request_timeout
        # uvicorn shuts down gracefully on SIGTERM (the lifespan drains the decision log), then
        # raises the signal again to die by it; by then the stop has succeeded, so exit 0.
        # SIGHUP (a closed terminal, `kill -HUP`) stops the same way instead of killing the
        # process with answered decisions still queued for the log.
        signal.signal(signal.SIGTERM, _stopped)
        signal.signal(signal.SIGHUP, _stopped)
        _server_class()(uvicorn.Config(create_app(settings), **options)).run()
        return 0
    if not settings.session_store:
        # A sign-out in one worker must end the session in every worker.
        made.append(tempfile.mkdtemp(prefix="replygate-sessions-"))
        settings = replace(settings, session_store=made[-1])
    # Workers are new interpreters: they read the settings (and the metrics folder) from env.
    os.environ.update(settings.to_env())
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        made.append(tempfile.mkdtemp(prefix="replygate-metrics-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made[-1]
    config = uvicorn.Config(
        "replygate.api.app:app_from_env",
        factory=True,
        workers=settings.workers,
        timeout_worker_healthcheck=WORKER_START_SECONDS,
        **options,
    )
    supervisor = _supervisor_class()(config, sockets=[config.bind_socket()])
    supervisor.run()
    return 130 if supervisor.interrupted else 0


_PROMETHEUS_FILE = re.compile(
    r"(counter|histogram|summary|gauge_(live)?(all|sum|min|max|mostrecent))_\d+\.db"
)


def _empty_metrics_dir(folder: str) -> int | None:
    """Remove what prometheus-client wrote to an operator's `PROMETHEUS_MULTIPROC_DIR` (its
    `*.db` files) before this run: a previous run's counts would add to this one's. Nothing
    else in the folder is touched. The exit code when a file cannot be removed, else None."""
    from replygate.cli.common import fail

    for path in Path(folder).glob("*.db"):
        # Only prometheus-client's own files: the folder may hold a decision log (`*.db` too).
        if not _PROMETHEUS_FILE.fullmatch(path.name):
            continue
        try:
            if path.is_file() and not path.is_symlink():
                path.unlink()
        except FileNotFoundError:
            continue
        except OSError as error:
            return fail(f"PROMETHEUS_MULTIPROC_DIR: cannot remove {path}: {error.strerror}")
    return None
