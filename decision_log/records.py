"""One logged decision, the errors of the decision log, and the one timestamp spelling it stores.

A record is built on the decision's hot path (`DecisionRecord.new`, a few microseconds, no
validation of values the service already trusts); the writer thread later redacts it, gives it
its place in the writer's hash chain (`writer_id`, `seq`, `prev_hash`, `hash`) and stores it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

__all__ = [
    "Checked",
    "DecisionLogError",
    "DecisionRecord",
    "LogClosed",
    "LogFailed",
    "LogFull",
    "format_time",
    "parse_time",
]


class LogFull(RuntimeError):
    """The writer could not take a record within the blocking bound: refuse the check (503)."""


class LogClosed(LogFull):
    """The decision log is stopping or stopped and accepts no more records."""


class LogFailed(LogFull):
    """Durable mode: the record could not be committed in time; the check is not answered."""


class DecisionLogError(RuntimeError):
    """The decision log cannot be opened or read: the message says which log and why."""


class Checked:
    """An answered check as the API hands it over: the request body and the decision as JSON text.

    The cheapest record to make on the hot path (~2 µs): nothing is parsed or dumped there, and a
    queue of bytes and strings holds no objects the garbage collector must walk (with queued
    pydantic models or dicts it ran about seven times as often). `request` is the body exactly as
    the client sent it (or a batch item already parsed); the writer parses it and writes its
    canonical JSON (`chain.parse_request`). `decision_json` is the decision's JSON text.

    `ack` is set by `DecisionLog.log` in durable mode: a future the writer completes (on its
    event loop) once the record is committed, or fails when it cannot be.
    """

    __slots__ = (
        "ack",
        "client",
        "commit",
        "decision_id",
        "decision_json",
        "latency_ms",
        "ref",
        "request",
        "time",
    )

    def __init__(
        self,
        request: bytes | str | dict[str, Any],
        decision_json: str,
        client: str,
        commit: str | None,
        ref: str | None,
        latency_ms: float,
    ) -> None:
        now = datetime.now(UTC)
        self.decision_id = time_ordered_id(now)
        self.time = now
        self.client = client
        self.request = request
        self.decision_json = decision_json
        self.commit = commit
        self.ref = ref
        self.latency_ms = latency_ms
        self.ack: Any = None


def format_time(value: datetime) -> str:
    """UTC with microseconds and a `Z`: the spelling stored, hashed and put in cursors.

    Fixed width, so that in SQLite (TEXT) the lexical order is the chronological order.
    """
    if value.tzinfo is not UTC:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("a decision-log time needs a time-zone offset")
        value = value.astimezone(UTC)
    # By hand: strftime costs several times as much, on the writer's per-record path.
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:"
        f"{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}Z"
    )


def parse_time(text: str) -> datetime:
    """The inverse of `format_time` (any ISO time with an offset is read)."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"'{text}' has no time-zone offset")
    return value.astimezone(UTC)


def actor_of(request: Any) -> str | None:
    """The actor's id in a logged request (what the `actor` column and filter hold)."""
    actor = request.get("actor") if isinstance(request, dict) else None
    value = actor.get("id") if isinstance(actor, dict) else None
    return value if isinstance(value, str) else None


def outcome_of(decision: Any) -> str | None:
    """The outcome of a logged decision (what the `outcome` column and filter hold)."""
    value = decision.get("decision") if isinstance(decision, dict) else None
    return value if isinstance(value, str) else None


def time_ordered_id(now: datetime) -> str:
    """A UUID version 7 as 32 hex digits: milliseconds since 1970, then 74 random bits.

    Ids that grow with time are appended to the end of the database's indexes instead of being
    scattered over them, which makes inserts markedly cheaper than with random UUID4s.
    """
    value = (int(now.timestamp() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    value = (value & _UUID_CLEAR) | _UUID_VERSION_7
    return f"{value:032x}"


_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID_VERSION_7 = (0x7 << 76) | (0x2 << 62)


class DecisionRecord(BaseModel):
    """One answered check as the audit trail keeps it.

    `request` is stored after redaction and always carries `at`, so a replay can decide it again
    as of its original time. The chain fields are empty (`seq` 0) until the writer stores it.
    """

    model_config = ConfigDict(extra="forbid")

    decision_id: str
    time: datetime
    client: str
    request: dict[str, Any]
    decision: dict[str, Any]
    commit: str | None = None
    ref: str | None = None
    latency_ms: float = 0.0
    writer_id: str = ""
    seq: int = 0
    prev_hash: str = ""
    hash: str = ""
    # Which request fields were redacted before storage (`content.text=hash`); hashed too.
    redacted: list[str] = []

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("time needs a time-zone offset")
        return value.astimezone(UTC)

    @classmethod
    def new(
        cls,
        request: dict[str, Any],
        decision: dict[str, Any],
        client: str,
        commit: str | None,
        ref: str | None,
        latency_ms: float,
    ) -> DecisionRecord:
        """A record of a decision made now, from JSON-ready request and decision dicts.

        The request's `at` is filled with now when it is missing: a replay decides it as of then.
        """
        now = datetime.now(UTC)
        if "at" not in request:
            request = {**request, "at": now.isoformat()}
        # The decision's hot path: the caller's dicts come from pydantic dumps, so validation
        # would only cost; setting the state directly is ~1 µs against ~5 for model_construct.
        # tests/test_decision_log.py keeps the result equal to a validated record.
        made = object.__new__(cls)
        state = {
            "decision_id": time_ordered_id(now),
            "time": now,
            "client": client,
            "request": request,
            "decision": decision,
            "commit": commit,
            "ref": ref,
            "latency_ms": float(latency_ms),
            "writer_id": "",
            "seq": 0,
            "prev_hash": "",
            "hash": "",
            "redacted": [],
        }
        object.__setattr__(made, "__dict__", state)
        object.__setattr__(made, "__pydantic_fields_set__", set(_NEW_FIELDS))
        object.__setattr__(made, "__pydantic_extra__", None)
        object.__setattr__(made, "__pydantic_private__", None)
        return made

    @property
    def outcome(self) -> str | None:
        """The decision's outcome (`allow`, `deny`, …) as logged."""
        return outcome_of(self.decision)

    @property
    def actor(self) -> str | None:
        """The actor's id as stored (after redaction)."""
        return actor_of(self.request)

    def as_dict(self) -> dict[str, Any]:
        """The record as the audit API shows it: JSON-ready, the decision's id under `id`."""
        return {
            "id": self.decision_id,
            "time": self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "client": self.client,
            "commit": self.commit,
            "ref": self.ref,
            "latency_ms": self.latency_ms,
            "request": self.request,
            "decision": self.decision,
            "redacted": list(self.redacted),
            "writer_id": self.writer_id,
            "seq": self.seq,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


_NEW_FIELDS = frozenset(
    ("decision_id", "time", "client", "request", "decision", "commit", "ref", "latency_ms")
)
