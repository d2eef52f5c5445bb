"""Every option of `replygate serve`, from command-line flags or `REPLYGATE_*` variables.

Flags win over the environment, the environment over the defaults. The same `Settings` travel
to uvicorn's worker processes as environment variables (`to_env`), because with several workers
uvicorn imports the app by name in each child and can pass it nothing else.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from replygate.decision_log.urls import shown_url
from replygate.engine.models import MAX_REQUEST_BYTES

PREFIX = "REPLYGATE_"
DEFAULT_DECISION_LOG = "sqlite:///replygate-decisions.db"
DEFAULT_REDACT = {"content.text": "hash"}
REDACT_MODES = ("hash", "drop")
LOG_ACK_MODES = ("durable", "async")


class SettingsError(ValueError):
    """An option has a value the server cannot use; the message names the option."""


def bundled_policy() -> str:
    """The bundled `policies/` folder: relative when run from the project root, so decisions
    name `policies/care.policy` rather than an absolute path."""
    if Path("policies").is_dir():
        return "policies"
    return str(Path(__file__).resolve().parent.parent / "policies")


def _unknown_proxies(listed: str) -> str | None:
    """The first entry of a comma-separated proxy list that is not `*`, an address or a
    network. uvicorn takes any other word as a Unix socket's name and matches no TCP client by
    it, so a typo (`10.0.0.0/33`, `10.0.0.1;10.0.0.2`) would silently distrust the balancer."""
    for entry in (part.strip() for part in listed.split(",")):
        if entry in ("*", ""):
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return entry
    return None


@dataclass(frozen=True)
class Settings:
    """The server's configuration; `policy` and `repo` are exclusive (a folder or a git ref)."""

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    policy: str | None = None
    repo: str | None = None
    ref: str = "HEAD"
    poll: float = 10.0
    fetch: bool = False
    remote: str = "origin"
    decision_log: str = DEFAULT_DECISION_LOG
    keys: str | None = None
    api_keys: str | None = None
    open_health: bool = True
    open_metrics: bool = True
    max_body_bytes: int = MAX_REQUEST_BYTES
    batch_limit: int = 100
    redact: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_REDACT))
    log_queue_size: int = 10_000
    access_log: bool = False
    ready_timeout: float = 30.0
    # The review pages' signed session cookies: one secret for every worker and replica.
    session_secret: str | None = None
    session_hours: float = 8.0
    # Where sign-outs are kept until their cookies expire; None: in the process's memory.
    session_store: str | None = None
    # Whose X-Forwarded-For/-Proto headers are believed (uvicorn's forwarded_allow_ips): the
    # load balancer that ends TLS, so session cookies are `Secure` and logs show the client.
    forwarded_allow_ips: str = "127.0.0.1"
    # durable: a check is answered once its record is committed (group commit); async: queued.
    log_ack: str = "durable"
    # The log key (HMAC chains) from this file; else $REPLYGATE_LOG_KEY (never a setting).
    log_key_file: str | None = None
    # A request's headers and body must arrive within this time (slow or stalled clients).
    request_timeout: float = 30.0
    # The folder's files as `replygate serve` read them once at start-up (a JSON file it
    # writes): every worker, and every worker restarted, serves exactly that policy. Without
    # it each worker read the folder itself, and one restarted while the files were being
    # edited served a torn policy (a deny file missing: allows no version of the folder gives).
    policy_snapshot: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.policy and self.repo:
            problems.append("--policy and --repo exclude each other: serve a folder or a git ref")
        if not 0 < self.port < 65536:
            problems.append(f"port: {self.port} is not a TCP port")
        if not (math.isfinite(self.request_timeout) and 1 <= self.request_timeout <= 3600):
            problems.append("request_timeout: must be at least 1 and at most 3600 seconds")
        if not 1 <= self.workers <= MAX_WORKERS:
            problems.append(f"workers: must be at least 1 and at most {MAX_WORKERS}")
        # NaN passes every comparison, infinity overflows the follower's timer: bound both.
        if not (math.isfinite(self.poll) and MIN_POLL_SECONDS <= self.poll <= MAX_POLL_SECONDS):
            problems.append(
                f"poll: must be at least {MIN_POLL_SECONDS} and at most {MAX_POLL_SECONDS} seconds"
            )
        if not (math.isfinite(self.ready_timeout) and self.ready_timeout >= 0):
            problems.append("ready_timeout: must be a finite number of seconds, 0 or more")
        if self.max_body_bytes < 1024:
            problems.append("max_body_bytes: must be at least 1024")
        if self.batch_limit < 1:
            problems.append("batch_limit: must be at least 1")
        if not (
            math.isfinite(self.session_hours)
            and MIN_SESSION_HOURS <= self.session_hours <= MAX_SESSION_HOURS
        ):
            # Shorter, the cookie's Max-Age rounded to 0 and no sign-in ever held.
            problems.append(
                "session_hours: must be at least 0.01 (36 seconds) and at most "
                f"{MAX_SESSION_HOURS} hours"
            )
        if self.session_secret is not None and len(self.session_secret) < 32:
            problems.append(
                "session_secret: use at least 32 characters (e.g. 32 random bytes, hex)"
            )
        if self.log_queue_size < 1:
            problems.append("log_queue_size: must be at least 1")
        for name, mode in self.redact.items():
            if mode not in REDACT_MODES:
                problems.append(f"redact: {name}={mode}: the mode is hash or drop")
        if bad := _unknown_proxies(self.forwarded_allow_ips):
            problems.append(
                f"forwarded_allow_ips: {bad!r} is neither an IP address, a network "
                "(10.0.0.0/8) nor *"
            )
        if self.log_ack not in LOG_ACK_MODES:
            problems.append(f"log_ack: '{self.log_ack}' is neither durable nor async")
        scheme = self.decision_log.split("://", 1)[0]
        if scheme not in ("sqlite", "postgresql", "postgres"):
            problems.append(
                f"decision_log: '{shown_url(self.decision_log)}' is neither sqlite:///PATH nor "
                "postgresql://…"
            )
        if problems:
            raise SettingsError("; ".join(problems))

    @property
    def policy_folder(self) -> str:
        """The folder to serve when no repository is followed."""
        return self.policy or bundled_policy()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then `REPLYGATE_*` variables, then `overrides` (the command-line flags)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for option in fields(cls):
            raw = environ.get(PREFIX + option.name.upper())
            if raw is not None and raw != "":
                values[option.name] = _parse(option.name, raw)
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """These settings as `REPLYGATE_*` variables (the inverse of `from_env`)."""
        found = {}
        for option in fields(self):
            value = getattr(self, option.name)
            if value is None:
                continue
            found[PREFIX + option.name.upper()] = _render(value)
        return found

    def with_session_secret(self, secret: str) -> Settings:
        """A copy that carries the review pages' session secret (one made at start-up)."""
        return replace(self, session_secret=secret)

    def with_policy_snapshot(self, path: str) -> Settings:
        """A copy whose folder policy comes from the snapshot `replygate serve` wrote."""
        return replace(self, policy_snapshot=path)

    def with_keys(self, api_keys: str) -> Settings:
        """A copy that carries inline API keys (the generated development key)."""
        return replace(self, api_keys=api_keys)


MAX_POLL_SECONDS = 86_400  # a day
MIN_POLL_SECONDS = 0.1  # faster would keep git busy in a loop: a push takes longer to arrive
# Each worker holds a compiled policy and a decision-log writer: far more than the machine's
# cores only adds memory and lock contention, and a typo (100000) must not fork a storm.
MAX_WORKERS = 64
MAX_SESSION_HOURS = 24 * 31  # a month
MIN_SESSION_HOURS = 0.01


_INTS = {"port", "workers", "max_body_bytes", "batch_limit", "log_queue_size"}
_FLOATS = {"poll", "ready_timeout", "session_hours", "request_timeout"}
_BOOLS = {"fetch", "open_health", "open_metrics", "access_log"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_redact(text: str) -> dict[str, str]:
    """`content.text=hash,post.text=drop` as a mapping; `none` (or nothing) redacts nothing."""
    found: dict[str, str] = {}
    if text.strip().lower() in ("", "none"):
        return found
    for part in text.split(","):
        name, _, mode = part.strip().partition("=")
        if not name:
            raise SettingsError(f"redact: '{part}' should read FIELD=hash or FIELD=drop")
        found[name.strip()] = (mode or "hash").strip()
    return found


def _parse(name: str, raw: str) -> Any:
    variable = PREFIX + name.upper()
    try:
        if name in _INTS:
            return int(raw)
        if name in _FLOATS:
            return float(raw)
    except ValueError:
        raise SettingsError(f"{variable}: '{raw}' is not a number") from None
    if name in _BOOLS:
        lowered = raw.strip().lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise SettingsError(f"{variable}: '{raw}' is not true or false")
    if name == "redact":
        return parse_redact(raw)
    return raw


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return ",".join(f"{key}={mode}" for key, mode in value.items()) or "none"
    return str(value)
