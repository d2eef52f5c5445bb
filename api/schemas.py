"""Response models of the HTTP API, with the examples the OpenAPI document shows.

Requests and decisions themselves are the engine's wire contract (`engine.models`); this module
adds only what HTTP needs around them: the decision id, batches, errors, policy status, rules
and the audit trail.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from replygate.engine.models import CheckRequest, Decision, Outcome, Source, read_timestamp

# `?since=2026-01-01T00:00:00+01:00` arrives as "…00:00:00 01:00": a URL's `+` is a space.
_PLUS_AS_SPACE = re.compile(r".*\d \d{2}(:?\d{2})?")
PLUS_HINT = (
    "is not a timestamp: a '+' in a URL stands for a space, so the offset arrived without its "
    "sign; write the '+' as %2B (e.g. 2026-11-27T21:40:00%2B01:00)"
)


def _query_timestamp(value: object) -> object:
    # The wire contract's grammar and limits (one reader for bodies, queries and the command
    # line): pydantic's own would read "0.5" as seconds since 1970 and cut a 7th digit off.
    if isinstance(value, str):
        if _PLUS_AS_SPACE.fullmatch(value):
            raise ValueError(PLUS_HINT)
        return read_timestamp(value)
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_query_timestamp)]
"""An ISO 8601 timestamp with a time-zone offset, its instant within UTC (query parameters)."""

_DIGITS = re.compile(r"[0-9]+")
_MOST_DIGITS = 9  # a count beyond 999,999,999 is past every limit: refused without reading it


def read_count(text: str) -> int:
    """A whole number written in decimal digits alone; ValueError saying so otherwise."""
    # pydantic reads "1.0", "1_0" (as 10) and " +1 " as integers; a query count is plain digits.
    if not _DIGITS.fullmatch(text):
        raise ValueError("is not a whole number: write digits only, e.g. 100")
    if len(text.lstrip("0")) > _MOST_DIGITS:
        raise ValueError(f"is too large: at most {_MOST_DIGITS} digits")
    return int(text)


def _digits_only(value: object) -> object:
    return read_count(value) if isinstance(value, str) else value


MAX_PAGE_SIZE = 1000
PageSize = Annotated[Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)], BeforeValidator(_digits_only)]
"""A page size in a query parameter, written in decimal digits and nothing else. The bounds sit
inside, so the OpenAPI document states them as `minimum`/`maximum` (on the outer annotation
FastAPI wrote them as `ge`/`le`, which no JSON Schema validator reads)."""

EXAMPLE_REQUEST: dict[str, Any] = {
    "actor": {"id": "carol", "groups": []},
    "action": "reply",
    "channel": "twitter",
    "post": {
        "id": "t-1",
        "sentiment": "negative",
        "category": "complaint",
        "author_reach": 25000,
        "received_at": "2026-11-27T21:40:00+01:00",
        "labels": [],
    },
    "content": {"labels": [], "text": "We are sorry - we will call you today."},
    "context": {"crisis": False},
    "at": "2026-11-27T21:50:00+01:00",
}

EXAMPLE_DECISION: dict[str, Any] = {
    "decision": "approval_required",
    "approvers": ["comms_lead"],
    "escalate_to": None,
    "respond_by": "2026-11-27T21:10:00Z",
    "sla_breached": False,
    "reasons": [
        {
            "rule": "viral-negative-needs-comms-lead",
            "effect": "approval_required",
            "code": "approval_required",
            "message": "A negative post by an author with 10,000 or more followers needs "
            "the communications lead's approval.",
            "source": {
                "file": "policies/care.policy",
                "line": 30,
                "column": 1,
                "commit": "3f9c2d1e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e",
                "author": "Erin Legal <erin@example.com>",
            },
        }
    ],
    "policy": {
        "files": ["policies/care.policy", "policies/team.policy"],
        "commit": "3f9c2d1e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e",
        "ref": "main",
    },
    "approvals_missing": {"comms_lead": 1},
    "decision_id": "01JDQ7Z8M5X3V9K2N4P6R8T0W2",
}


class FieldError(BaseModel):
    """One bad field, named with dots: `post.received_at`."""

    field: str
    message: str


class ErrorBody(BaseModel):
    """Every error the API returns has this shape."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "invalid_request",
                    "message": "post.received_at: timestamp needs a time-zone offset",
                    "location": "post.received_at",
                    "fields": [
                        {
                            "field": "post.received_at",
                            "message": "timestamp needs a time-zone offset",
                        }
                    ],
                }
            ]
        }
    )

    code: str = Field(description="a stable, machine-readable error code")
    message: str = Field(description="what went wrong, for a person")
    location: str | None = Field(
        default=None, description="where: a dotted field name, a parameter or `body`"
    )
    fields: list[FieldError] | None = Field(
        default=None, description="every bad field, when the request did not validate"
    )


class CheckResponse(Decision):
    """The engine's decision plus the id under which the decision log keeps it."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_DECISION]})

    decision_id: str = Field(description="look the decision up at /v1/decisions/{decision_id}")


class BatchRequest(BaseModel):
    """Several checks in one call; each is decided on its own."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"requests": [EXAMPLE_REQUEST]}]}
    )

    requests: list[CheckRequest]


class BatchEnvelope(BaseModel):
    """How a batch is parsed: items stay raw so one bad item cannot fail the others."""

    model_config = ConfigDict(extra="forbid")

    requests: list[Any]


class BatchItemError(BaseModel):
    """A batch item that could not be decided, in the place of its decision."""

    error: ErrorBody


class BatchResponse(BaseModel):
    """One entry per request, in order: a decision, or an error for that item alone."""

    decisions: list[CheckResponse | BatchItemError]


class PolicyStatus(BaseModel):
    """Which policy is serving and how its last load went."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "source": "repo",
                    "ref": "main",
                    "commit": "3f9c2d1e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e",
                    "loaded_at": "2026-11-27T20:58:03Z",
                    "state": "ready",
                    "files": ["policies/care.policy"],
                    "digest": "sha256:1580258ac9eeded3a1c1a5daf16297b88f0378e0ed3a3f60b065ed027997a04f",
                    "last_error": None,
                    "last_error_commit": None,
                    "last_checked_at": "2026-11-27T21:04:13Z",
                }
            ]
        }
    )

    source: Literal["folder", "repo"]
    ref: str | None = None
    commit: str | None = None
    loaded_at: datetime | None = None
    state: str
    files: list[str] = Field(default_factory=list)
    digest: str | None = Field(
        default=None,
        description="`sha256:…` of the serving policy's text, as each decision's `policy.digest`",
    )
    last_error: list[dict[str, Any]] | None = Field(
        default=None,
        description="the errors of the last commit that failed to load, each with its location "
        "(file, line, column); the last good policy keeps serving",
    )
    last_error_commit: str | None = None
    last_checked_at: datetime | None = None


class RuleInfo(BaseModel):
    """One rule of the serving policy, with where it is written and who last changed it."""

    name: str
    effect: Outcome
    roles: list[str] = Field(
        default_factory=list,
        description="the escalation target, or the roles whose approval is required",
    )
    message: str
    source: Source | None


class RulesResponse(BaseModel):
    """Every rule of the serving policy, in source order."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "commit": "3f9c2d1e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e",
                    "ref": "main",
                    "rules": [
                        {
                            "name": "viral-negative-needs-comms-lead",
                            "effect": "approval_required",
                            "roles": ["comms_lead"],
                            "message": "A negative post by an author with 10,000 or more "
                            "followers needs the communications lead's approval.",
                            "source": EXAMPLE_DECISION["reasons"][0]["source"],
                        }
                    ],
                }
            ]
        }
    )

    commit: str | None
    ref: str | None
    rules: list[RuleInfo]


class DecisionEntry(BaseModel):
    """One logged decision: the request as stored (after redaction), the decision, and the
    record's place in its writer's hash chain (`replygate audit verify` checks it)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b9d6f3c2a8e4d51b7c4e2f1a9d8c7b6",
                    "time": "2026-11-27T20:50:00.120000Z",
                    "client": "publisher",
                    "commit": "3f9c2d1e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e",
                    "ref": "main",
                    "latency_ms": 0.08,
                    "request": {
                        **EXAMPLE_REQUEST,
                        "content": {"labels": [], "text": "sha256:5e1c…"},
                    },
                    "decision": {
                        key: value
                        for key, value in EXAMPLE_DECISION.items()
                        if key != "decision_id"
                    },
                    "redacted": ["content.text=hash"],
                    "writer_id": "host-1:4711:9a1f",
                    "seq": 42,
                    "prev_hash": "c0ffee…",
                    "hash": "5ca1ab1e…",
                }
            ]
        },
    )

    id: str = Field(description="the `decision_id` the check answered with")
    time: datetime
    client: str = Field(description="the API client whose key asked")
    commit: str | None = None
    ref: str | None = None
    latency_ms: float
    request: dict[str, Any] = Field(description="the request, after redaction")
    decision: dict[str, Any]
    redacted: list[str] = Field(
        default_factory=list, description="which fields were redacted, as `field=mode`"
    )
    writer_id: str = Field(description="the server process whose hash chain holds the record")
    seq: int
    prev_hash: str
    hash: str


class DecisionPage(BaseModel):
    """A page of the audit trail; pass `next_cursor` as `cursor` for the next one."""

    decisions: list[DecisionEntry]
    next_cursor: str | None = None


class Health(BaseModel):
    """The process answers."""

    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    """A policy is loaded and checks can be decided."""

    status: Literal["ready"] = "ready"
    commit: str | None = None
