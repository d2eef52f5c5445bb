"""The request a publishing tool sends and the decision it gets back (the wire contract).

The API serves exactly these models, so the CLI, the HTTP service and the scenarios share one
JSON shape. Timestamps must carry an offset: a naive time is ambiguous by hours, and a policy
engine that guesses fails open.
"""

from __future__ import annotations

from datetime import UTC, datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationError,
    model_serializer,
    model_validator,
)

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Action = Literal["reply", "post"]
Sentiment = Literal["positive", "neutral", "negative"]
Outcome = Literal["allow", "deny", "escalate", "approval_required"]


def to_utc_text(value: datetime) -> str:
    """UTC with a `Z`, the one timestamp spelling decisions use."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


UtcTimestamp = Annotated[datetime, PlainSerializer(to_utc_text, return_type=str)]


def _fixed_offset(value: datetime) -> datetime:
    # A ZoneInfo time does wall-clock arithmetic: 12:00 Vienna + 24h across the spring change
    # would be 23 real hours. A fixed offset keeps what the caller wrote and makes sums real time.
    if type(value.tzinfo) is timezone:  # what JSON parsing gives: the common case, first
        return value
    offset = value.utcoffset()
    return value if offset is None else value.astimezone(timezone(offset))


def _not_a_number(value: Any) -> Any:
    # JSON timestamps are text; pydantic would read a number as seconds since 1970, which no
    # caller means and the documented schema (a date-time string) does not allow.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("is not a timestamp (use e.g. 2026-11-27T21:40:00+01:00)")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_not_a_number), AfterValidator(_fixed_offset)]


def _now() -> datetime:
    return datetime.now(UTC)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Actor(_Strict):
    """Who wants to publish: a person id and the directory groups they belong to."""

    id: Identifier
    groups: list[Label] = Field(default_factory=list, max_length=100)


class Post(_Strict):
    """The post being answered."""

    id: Identifier
    sentiment: Sentiment
    category: Label
    author_reach: int = Field(ge=0, strict=True)  # "25000" and 25000.0 are not counts
    received_at: Timestamp
    labels: list[Label] = Field(default_factory=list, max_length=100)
    text: str | None = Field(default=None, max_length=100_000)


class Content(_Strict):
    """What would be published."""

    labels: list[Label] = Field(default_factory=list, max_length=100)
    text: str = Field(default="", max_length=100_000)


class Approval(_Strict):
    """An approval already obtained, e.g. from the comms lead, for a four-eyes flow."""

    by: Identifier
    groups: list[Label] = Field(default_factory=list, max_length=100)


ContextValue = str | int | float | bool | None


class CheckRequest(_Strict):
    """May this actor take this action on this channel now?"""

    actor: Actor
    action: Action
    channel: Label
    account: str | None = Field(default=None, max_length=200)
    post: Post | None = None
    content: Content = Field(default_factory=Content)
    context: dict[Label, ContextValue] = Field(default_factory=dict, max_length=100)
    approvals: list[Approval] = Field(default_factory=list, max_length=50)
    at: Timestamp = Field(default_factory=_now)

    @model_validator(mode="after")
    def _post_matches_action(self) -> CheckRequest:
        if self.action == "reply" and self.post is None:
            raise ValueError("a reply needs the post it answers")
        if self.action == "post" and self.post is not None:
            raise ValueError("a new post answers no post: leave 'post' out")
        return self


class Source(BaseModel):
    """Where a rule is written: file, line, column; from git also the commit and author of that rule."""

    file: str
    line: int
    column: int
    commit: str | None = None
    author: str | None = None


class Reason(BaseModel):
    """Why: the rule that matched (None for the default deny), its effect, a code and its message.

    The reason with code `response_time` names the response-time rule that set `respond_by`;
    it decides nothing, so its `rule` and `effect` are None.
    """

    rule: str | None
    effect: Outcome | None
    code: str
    message: str
    source: Source | None = None


class PolicyVersion(BaseModel):
    """Which policy decided: its files, and from git the commit and ref."""

    files: list[str]
    commit: str | None = None
    ref: str | None = None


class Decision(BaseModel):
    """The engine's answer, with every reason and the response deadline."""

    decision: Outcome
    approvers: list[str] = Field(default_factory=list)
    escalate_to: str | None = None
    respond_by: UtcTimestamp | None = None
    sla_breached: bool = False
    reasons: list[Reason] = Field(default_factory=list)
    policy: PolicyVersion


_DECISION_FIELDS = frozenset(Decision.model_fields)


def build_decision(
    decision: Outcome,
    approvers: list[str],
    escalate_to: str | None,
    respond_by: datetime | None,
    sla_breached: bool,
    reasons: list[Reason],
    policy: PolicyVersion,
) -> Decision:
    """A Decision from values the engine already trusts, without validation.

    This is the decision's hot path: `model_construct` costs ~3 µs, setting the instance state
    directly under 1 µs. tests/test_models.py keeps the result equal to a validated model.
    """
    built = object.__new__(Decision)
    state = {
        "decision": decision,
        "approvers": approvers,
        "escalate_to": escalate_to,
        "respond_by": respond_by,
        "sla_breached": sla_breached,
        "reasons": reasons,
        "policy": policy,
    }
    object.__setattr__(built, "__dict__", state)
    object.__setattr__(built, "__pydantic_fields_set__", set(_DECISION_FIELDS))
    object.__setattr__(built, "__pydantic_extra__", None)
    object.__setattr__(built, "__pydantic_private__", None)
    return built


# ---- request errors that name the field ----------------------------------------------------

_FRIENDLY = {
    "timezone_aware": "timestamp needs a time-zone offset",
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "datetime_from_date_parsing": "is not a timestamp (use e.g. 2026-11-27T21:40:00+01:00)",
    "datetime_parsing": "is not a timestamp (use e.g. 2026-11-27T21:40:00+01:00)",
    "datetime_type": "is not a timestamp (use e.g. 2026-11-27T21:40:00+01:00)",
}


def field_errors(error: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors as `{field, message}` pairs, the field dotted (`post.received_at`)."""
    found = []
    for item in error.errors(include_url=False):
        location = [str(part) for part in item["loc"] if not str(part).startswith("function-")]
        field = ".".join(location) or "request"
        message = _FRIENDLY.get(item["type"], item["msg"])
        if item["type"] == "value_error":
            message = str(item.get("ctx", {}).get("error", item["msg"]))
        found.append({"field": field, "message": message})
    return found


def describe_errors(error: ValidationError) -> str:
    """One line per field: `post.received_at: timestamp needs a time-zone offset`."""
    return "\n".join(f"{e['field']}: {e['message']}" for e in field_errors(error))


# ---- routing: who should get this post (issue 9) ---------------------------------------------


class RouteRequest(_Strict):
    """A post to route: a check request without `actor` and `approvals` (the engine finds them)."""

    action: Literal["reply"] = "reply"
    channel: Label
    account: str | None = Field(default=None, max_length=200)
    post: Post
    content: Content = Field(default_factory=Content)
    context: dict[Label, ContextValue] = Field(default_factory=dict, max_length=100)
    at: Timestamp = Field(default_factory=_now)

    def as_check(self, person: str) -> CheckRequest:
        """The check request of one candidate: this post, answered by `person`, no approvals."""
        return CheckRequest.model_construct(
            actor=Actor.model_construct(id=person, groups=[]),
            action=self.action,
            channel=self.channel,
            account=self.account,
            post=self.post,
            content=self.content,
            context=self.context,
            approvals=[],
            at=self.at,
        )


class Candidate(BaseModel):
    """A person who may answer the post, whether they are on duty, and until or from when."""

    person: str
    decision: Literal["allow", "approval_required"]
    approvers: list[str]
    approvers_on_duty: dict[str, list[str]]
    on_duty: bool
    on_duty_until: UtcTimestamp | None = None
    next_on_duty: UtcTimestamp | None = None
    rosters: list[str]

    @model_serializer(mode="wrap")
    def _one_boundary(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # On duty: until when (no next_on_duty). Off duty: from when (no on_duty_until).
        data: dict[str, Any] = handler(self)
        data.pop("next_on_duty" if self.on_duty else "on_duty_until", None)
        return data


_CANDIDATE_FIELDS = frozenset(Candidate.model_fields)


def build_candidate(
    person: str,
    decision: str,
    approvers: list[str],
    approvers_on_duty: dict[str, list[str]],
    on_duty: bool,
    boundary: datetime | None,
    rosters: list[str],
) -> Candidate:
    """A Candidate from values the engine trusts, without validation (a route builds hundreds).

    `boundary` is `on_duty_until` when on duty, else `next_on_duty`.
    """
    built = object.__new__(Candidate)
    state = {
        "person": person,
        "decision": decision,
        "approvers": approvers,
        "approvers_on_duty": approvers_on_duty,
        "on_duty": on_duty,
        "on_duty_until": boundary if on_duty else None,
        "next_on_duty": None if on_duty else boundary,
        "rosters": rosters,
    }
    object.__setattr__(built, "__dict__", state)
    object.__setattr__(built, "__pydantic_fields_set__", set(_CANDIDATE_FIELDS))
    object.__setattr__(built, "__pydantic_extra__", None)
    object.__setattr__(built, "__pydantic_private__", None)
    return built


class Inform(BaseModel):
    """An org unit that should see this kind of post, and its members on duty now."""

    unit: str
    on_duty: list[str]


class Route(BaseModel):
    """Who can answer this post now, and by when: the answer of `replygate route`."""

    respond_by: UtcTimestamp | None
    sla_breached: bool
    candidates: list[Candidate]
    covered: bool
    inform: list[Inform]
    policy: PolicyVersion


def route_field_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Say why `actor` and `approvals` have no place in a route request."""
    why = {
        "actor": "a route request names no actor: the answer lists who may answer",
        "approvals": "a route request carries no approvals: the answer lists who may approve",
    }
    return [{**e, "message": why[e["field"]]} if e["field"] in why else e for e in errors]
