"""The request a publishing tool sends and the decision it gets back (the wire contract).

The API serves exactly these models, so the CLI, the HTTP service and the scenarios share one
JSON shape. Timestamps must carry an offset: a naive time is ambiguous by hours, and a policy
engine that guesses fails open.

The contract is strict, and the same for every entry point (`parse_request` for JSON text,
`validate_request` for a value already decoded from JSON): nothing is converted. A timestamp is a
JSON string in ISO 8601 form with an offset whose instant exists in UTC; an integer is a JSON
integer (not `true`, not `"25000"`, not `25000.0`); a boolean is a JSON boolean. Names (ids,
labels, channels, accounts, categories, context keys, groups) take no control character, no
bidirectional formatting character and no lone surrogate; free text (`content.text`,
`post.text`, context strings) takes no control character but TAB, LF and CR, and no lone
surrogate. A log whose records can be printed and compared byte for byte depends on it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timezone
from typing import Annotated, Any, Literal, NotRequired, TypeVar, cast

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from replygate.policy_dsl.limits import MAX_NAME_LENGTH

# The largest request body the server takes by default (`--max-body-bytes`); the CLI reads a
# request file, or a line of requests, up to the same size.
MAX_REQUEST_BYTES = 1_048_576

# Characters a name may not hold: C0 and C1 controls (Unicode category Cc), and the
# bidirectional formatting characters that reorder how a log line is displayed (CVE-2021-42574,
# "Trojan Source"). Free text keeps TAB, LF and CR, and the C1 range. Lone surrogates (JSON's
# "\ud800" decodes to one; it is not a character) pydantic refuses in every string by itself.
# The patterns run in pydantic-core (no Python call per field) and show in the OpenAPI document.
NAME_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
TEXT_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$"
_NOT_IN_NAMES = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NOT_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_WHY = {
    NAME_PATTERN: (_NOT_IN_NAMES, "names and labels take no control characters"),
    TEXT_PATTERN: (_NOT_IN_TEXT, "text takes only TAB, LF and CR among them"),
}
LONE_SURROGATE = "contains a lone surrogate, which is not a character"


def _refusal(found: str, what: str) -> str:
    code = ord(found)
    if 0xD800 <= code <= 0xDFFF:
        return LONE_SURROGATE
    if 0x202A <= code <= 0x2069:
        return f"contains the bidirectional formatting character U+{code:04X}; {what}"
    return f"contains the control character U+{code:04X}; {what}"


def _text(value: str) -> str:
    found = _NOT_IN_TEXT.search(value)
    if found is not None:
        raise ValueError(_refusal(found.group(), _WHY[TEXT_PATTERN][1]))
    return value


# As long as the policy may write them (docs/limits.md): a person, label or account that a
# policy can name must be one a request can send.
Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN)
]
Label = Identifier  # a channel, label, category or group: a name, as an id is
Account = Identifier  # "" is no account: refused like an empty channel, not read as one
# A policy reads a context key as the path `context.KEY`, which is a name of at most 256 too.
ContextKey = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=MAX_NAME_LENGTH - len("context."), pattern=NAME_PATTERN
    ),
]
Text = Annotated[str, StringConstraints(max_length=100_000, pattern=TEXT_PATTERN)]
Action = Literal["reply", "post"]
Sentiment = Literal["positive", "neutral", "negative"]
Outcome = Literal["allow", "deny", "escalate", "approval_required"]


def to_utc_text(value: datetime) -> str:
    """UTC with a `Z`, the one timestamp spelling decisions use."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


UtcTimestamp = Annotated[datetime, PlainSerializer(to_utc_text, return_type=str)]


TIMESTAMP_EXAMPLE = "2026-11-27T21:40:00+01:00"
NOT_A_TIMESTAMP = f"is not a timestamp: write a JSON string such as {TIMESTAMP_EXAMPLE}"
NEEDS_OFFSET = "timestamp needs a time-zone offset"
# RFC 3339 (with a space or lowercase letters, minutes-only times and offsets without a colon
# tolerated): pydantic would also read "1700000000" as Unix time, fromisoformat week dates.
_ISO_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}"
    r"(?::(?P<second>\d{2})(?:[.,](?:\d{6}(?P<finer>\d*)|\d{1,5}))?)?"
    # Offset minutes 00-59: fromisoformat reads +00:99 as +01:39, a different instant.
    r"(?:[Zz]|[+-]\d{2}:?[0-5]\d)?",
    re.ASCII,
)
# fromisoformat cuts digits past the sixth off: a reply 999 ns after its deadline was on time.
FINER_THAN_MICROSECONDS = (
    "has a fraction of a second finer than a microsecond: times are kept to the microsecond, "
    "so write at most 6 digits after the point (digits past the sixth must be 0)"
)
LEAP_SECOND = (
    "has second 60 (a leap second), which cannot be represented: write 23:59:59.999999 or the "
    "next minute's 00"
)
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
OUT_OF_RANGE = (
    "is outside the range of timestamps: in UTC it must lie between "
    "0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z"
)


def _timestamp(value: object) -> datetime:
    """A JSON string in ISO 8601 form with an offset (or, from Python, an aware datetime)."""
    if isinstance(value, str):
        # The shape first: `fromisoformat` also reads week dates and any separator.
        shape = _ISO_TIMESTAMP.fullmatch(value)
        if shape is None:
            raise ValueError(NOT_A_TIMESTAMP)
        if shape["finer"] and shape["finer"].strip("0"):
            raise ValueError(FINER_THAN_MICROSECONDS)
        if shape["second"] == "60":
            raise ValueError(LEAP_SECOND)
        try:
            parsed = datetime.fromisoformat(value[:-1] + "Z" if value[-1] == "z" else value)
        except ValueError:
            raise ValueError(NOT_A_TIMESTAMP) from None
    elif isinstance(value, datetime):
        parsed = value
    else:  # a number is not a time, even if pydantic could read it as Unix seconds
        raise ValueError(NOT_A_TIMESTAMP)
    offset = parsed.utcoffset()
    if offset is None:
        raise ValueError(NEEDS_OFFSET)
    if parsed.year in (1, 9999):  # only the first and last years can leave UTC's range
        representable(parsed)
    if type(parsed.tzinfo) is timezone:  # what fromisoformat gives: the common case
        return parsed
    # A ZoneInfo time does wall-clock arithmetic: 12:00 Vienna + 24h across the spring change
    # would be 23 real hours. A fixed offset keeps what the caller wrote and makes sums real time.
    return parsed.replace(tzinfo=timezone(offset))


NOT_A_TIMESTAMP_TEXT = f"is not a timestamp: write one such as {TIMESTAMP_EXAMPLE}"


def read_timestamp(text: str) -> datetime:
    """A timestamp written outside JSON (a query parameter, an address, a command-line option),
    read by the wire contract's grammar and limits; ValueError with the reason (which speaks of
    text, not of JSON strings)."""
    try:
        return _timestamp(text)
    except ValueError as error:
        if str(error) == NOT_A_TIMESTAMP:
            raise ValueError(NOT_A_TIMESTAMP_TEXT) from None
        raise


def representable(value: datetime) -> datetime:
    """`value` unchanged if its instant exists in UTC; `ValueError` (OUT_OF_RANGE) if not.

    `0001-01-01T00:30:00+01:00` is a valid ISO 8601 text whose instant precedes year 1 in UTC:
    deadlines, comparisons and the decision log, all computed in UTC, could not handle it.
    """
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError(OUT_OF_RANGE) from None
    return value


# One Python call per timestamp, the same for JSON text and decoded JSON (strict mode would
# refuse the ISO strings a decoded value holds; lax mode would read numbers as Unix time).
Timestamp = Annotated[AwareDatetime, BeforeValidator(_timestamp)]


def _now() -> datetime:
    return datetime.now(UTC)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


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
    text: Text | None = None


class Content(_Strict):
    """What would be published."""

    labels: list[Label] = Field(default_factory=list, max_length=100)
    # Absent (None) when not sent, not "": an attribute the request does not carry equals
    # nothing (README), so `matches /^.{0,280}$/` must not allow a request without a reply.
    text: Text | None = None


class Approval(_Strict):
    """An approval already obtained, e.g. from the comms lead, for a four-eyes flow."""

    by: Identifier
    groups: list[Label] = Field(default_factory=list, max_length=100)


def _context_value(value: object) -> object:
    # One check and one message for the union: JSON's scalars as they are, text as free text.
    if isinstance(value, float) and not math.isfinite(value):
        # pydantic's parser reads NaN, Infinity and 1e400 (as inf): none of them is JSON.
        raise ValueError("is not a finite number: NaN and Infinity are not JSON numbers")
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _text(value)
    raise ValueError("is not a string, a number, true, false or null")


ContextValue = Annotated[
    str | int | float | bool | None,
    PlainValidator(_context_value, json_schema_input_type=Text | int | float | bool | None),
]


def _context_schema(schema: dict[str, Any]) -> None:
    # pydantic writes the key pattern as `patternProperties`, which leaves every key that fails
    # it unconstrained: a generated client accepted what the server refuses. The pattern goes
    # into `propertyNames`, so every key must match it.
    patterns = schema.pop("patternProperties", None)
    if patterns:
        ((pattern, values),) = patterns.items()
        schema["propertyNames"] = {**schema.get("propertyNames", {}), "pattern": pattern}
        schema["additionalProperties"] = values


def _context_field() -> Any:
    return Field(default_factory=dict, max_length=100, json_schema_extra=_context_schema)


class CheckRequest(_Strict):
    """May this actor take this action on this channel now?"""

    actor: Actor
    action: Action
    channel: Label
    account: Account | None = None
    post: Post | None = None
    content: Content = Field(default_factory=Content)
    context: dict[ContextKey, ContextValue] = _context_field()
    approvals: list[Approval] = Field(default_factory=list, max_length=50)
    at: Timestamp = Field(default_factory=_now)

    @model_validator(mode="after")
    def _post_matches_action(self) -> CheckRequest:
        if self.action == "reply" and self.post is None:
            raise ValueError(REPLY_NEEDS_POST)
        if self.action == "post" and self.post is not None:
            raise ValueError(POST_ANSWERS_NONE)
        return self


REPLY_NEEDS_POST = "a reply needs the post it answers"
POST_ANSWERS_NONE = "a new post answers no post: leave 'post' out"
# Errors of the whole request that one field decides: named by that field.
_FIELD_OF_MESSAGE = {REPLY_NEEDS_POST: "post", POST_ANSWERS_NONE: "post"}


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
    """Which policy decided: its files, from git the commit and ref, and the digest of its
    text (what names a folder's policy, which has no commit: docs/api.md)."""

    files: list[str]
    commit: str | None = None
    ref: str | None = None
    digest: str | None = None


def policy_digest(sources: Mapping[str, str]) -> str:
    """`sha256:<hex>` of a policy's files: per file in name order, its name, its length in
    UTF-8 bytes and its text, each ended by a newline (so no two sets share the bytes)."""
    hashed = hashlib.sha256()
    for name in sorted(sources):
        text = sources[name].encode("utf-8")
        named = name.encode("utf-8", "surrogatepass")  # a file name may not be UTF-8
        hashed.update(b"%s\n%d\n%s\n" % (named, len(text), text))
    return "sha256:" + hashed.hexdigest()


class Decision(BaseModel):
    """The engine's answer, with every reason and the response deadline."""

    decision: Outcome
    approvers: list[str] = Field(default_factory=list)
    escalate_to: str | None = None
    respond_by: UtcTimestamp | None = None
    sla_breached: bool = False
    reasons: list[Reason] = Field(default_factory=list)
    policy: PolicyVersion
    # How many more approvals each role in `approvers` needs (`require 2 approvals from legal`).
    approvals_missing: dict[str, int] = Field(default_factory=dict)


_DECISION_FIELDS = frozenset(Decision.model_fields)


def build_decision(
    decision: Outcome,
    approvers: list[str],
    escalate_to: str | None,
    respond_by: datetime | None,
    sla_breached: bool,
    reasons: list[Reason],
    policy: PolicyVersion,
    approvals_missing: dict[str, int] | None = None,
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
        "approvals_missing": {} if approvals_missing is None else approvals_missing,
    }
    object.__setattr__(built, "__dict__", state)
    object.__setattr__(built, "__pydantic_fields_set__", set(_DECISION_FIELDS))
    object.__setattr__(built, "__pydantic_extra__", None)
    object.__setattr__(built, "__pydantic_private__", None)
    return built


# ---- the one way in: parsing and validating a request ----------------------------------------


# A valid request has at most ~5,600 keys and list items (100 groups, labels and context values,
# 50 approvals of 100 groups each). Past this many, validating it, and naming every unknown key,
# took seconds (90,000 keys in a 1 MB body: 2-4 s and a 7 MB answer). Only a body longer than
# LARGE_BODY can hold more than a few thousand, so only such bodies are counted.
MAX_MEMBERS = 10_000
LARGE_BODY = 65_536
TOO_MANY_MEMBERS = (
    f"has more than {MAX_MEMBERS:,} keys and list items; a request has at most {MAX_MEMBERS:,}"
)


def members_error(data: object, model: str = "CheckRequest") -> ValidationError | None:
    """The error for a decoded request with more than MAX_MEMBERS keys and list items, or None."""
    count, pending = 0, [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            count += len(value)
            pending += value.values()
        elif isinstance(value, list):
            count += len(value)
            pending += value
        if count > MAX_MEMBERS:
            refusal = PydanticCustomError("too_many_members", TOO_MANY_MEMBERS)
            return ValidationError.from_exception_data(
                model, [{"type": refusal, "loc": (), "input": None}]
            )
    return None


def _counted(text: str | bytes, model: str) -> None:
    """Raise `members_error` for a long body with too many keys and items (see MAX_MEMBERS)."""
    if len(text) <= LARGE_BODY:
        return
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return  # not JSON: the parser says where
    error = members_error(data, model)
    if error is not None:
        raise error


def parse_request(text: str | bytes) -> CheckRequest:
    """A request from JSON text (the body of a check, a line of `--requests`); strict.

    Raises `ValidationError`; `field_errors` names each bad field. Text that is not JSON is a
    `json_invalid` error.
    """
    _counted(text, "CheckRequest")
    try:
        return CheckRequest.model_validate_json(text)
    except ValidationError as error:
        return validate_request(parse_json(text, error))


def parse_route_request(text: str | bytes) -> RouteRequest:
    """A route request from JSON text: the rules of `parse_request`, for `RouteRequest`."""
    _counted(text, "RouteRequest")
    try:
        return RouteRequest.model_validate_json(text)
    except ValidationError as error:
        return RouteRequest.model_validate(parse_json(text, error))


def validate_request(data: object) -> CheckRequest:
    """A request from a value decoded from JSON (a batch item, a logged request); strict.

    Exactly the rules of `parse_request`: strict mode, with timestamps read from ISO text only.
    """
    return CheckRequest.model_validate(data)


def parse_json(text: str | bytes, error: ValidationError) -> Any:
    """`text` decoded by Python's json module, after pydantic's parser refused it with `error`.

    pydantic-core refuses escaped lone surrogates (`"\\ud800"`) as malformed JSON, which would
    hide the field they sit in; the standard library decodes them, so the field validators can
    name it. Text neither parser reads re-raises `error`.
    """
    if not any(item["type"] == "json_invalid" for item in error.errors(include_url=False)):
        raise error
    try:
        # UTF-8 only: json.loads would also guess UTF-16 or UTF-32 from bytes.
        return json.loads(
            text.decode("utf-8") if isinstance(text, bytes) else text, parse_int=_integer
        )
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError included
        raise error from None


class OverlongInteger:
    """A JSON integer with more digits than Python converts (4,300): valid JSON, but no field's
    value, so the field that holds it is named (not the whole body called malformed)."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"<an integer of {self.digits} digits>"


def _integer(literal: str) -> int | OverlongInteger:
    try:
        return int(literal)
    except ValueError:  # past sys.get_int_max_str_digits()
        return OverlongInteger(len(literal.lstrip("-")))


# ---- deadlines beyond the end of time -------------------------------------------------------

DEADLINE_OUT_OF_RANGE = "deadline_out_of_range"
DEADLINE_FIELD = "post.received_at"
DEADLINE_MESSAGE = (
    "the response deadline of a post received at this time lies beyond "
    "9999-12-31T23:59:59.999999Z, the last time a deadline can be computed"
)

# Rosters answer from timelines a few weeks long around an instant, in the rosters' zones: an
# instant this close to either end of `datetime` has no such weeks (docs/rosters.md).
EARLIEST_DUTY = datetime(1, 1, 15, tzinfo=UTC)
LATEST_DUTY = datetime(9999, 11, 15, tzinfo=UTC)
DUTY_OUT_OF_RANGE = "duty_out_of_range"
DUTY_FIELD = "at"
DUTY_MESSAGE = (
    "who is on duty can be computed between 0001-01-15T00:00:00Z and 9999-11-15T00:00:00Z; "
    "this request asks outside that range"
)


class OutOfRange(Exception):
    """A request the engine cannot answer because it reaches past the ends of time.

    `decide` turns it into a fail-closed deny with `code`; callers that answer requests
    themselves (routing, coverage) report `field` and `message` like any other bad value.
    """

    code: str
    field: str
    message: str

    def as_field_error(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class DeadlineOutOfRange(OutOfRange):
    """A response deadline that would fall (or be searched for) after 9999-12-31."""

    code, field, message = DEADLINE_OUT_OF_RANGE, DEADLINE_FIELD, DEADLINE_MESSAGE


class DutyOutOfRange(OutOfRange):
    """An instant too close to either end of `datetime` to say who is on duty."""

    code, field, message = DUTY_OUT_OF_RANGE, DUTY_FIELD, DUTY_MESSAGE


_RANGE_ERRORS = {kind.code: kind for kind in (DeadlineOutOfRange, DutyOutOfRange)}


def range_errors(decision: Decision) -> list[dict[str, str]]:
    """The bad field of a request the engine refused because it reaches past the ends of time.

    The engine fails closed (a `deny` with code `deadline_out_of_range` or `duty_out_of_range`);
    the API, the CLI and the scenarios answer such a request as invalid, naming the field, like
    any other bad value.
    """
    reasons = decision.reasons
    if decision.decision == "deny" and reasons and reasons[0].code in _RANGE_ERRORS:
        return [_RANGE_ERRORS[reasons[0].code]().as_field_error()]
    return []


# ---- request errors that name the field ----------------------------------------------------

_FRIENDLY = {
    "timezone_aware": NEEDS_OFFSET,
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "datetime_from_date_parsing": NOT_A_TIMESTAMP,
    "datetime_parsing": NOT_A_TIMESTAMP,
    "datetime_type": NOT_A_TIMESTAMP,
    "int_type": "is not an integer: write a JSON number without quotes or a fraction",
    "bool_type": "is not a boolean: write true or false",
    "string_type": "is not a string",
    "string_unicode": LONE_SURROGATE,
    "model_type": "is not an object",
    "dict_type": "is not an object",
    "list_type": "is not a list",
}
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable_name(part: object) -> str:
    """A field name as errors show it: the client's key, with what would garble a terminal or
    a log line (control, bidi characters, lone surrogates) escaped."""
    return _UNPRINTABLE.sub(lambda found: f"\\u{ord(found.group()):04x}", str(part))


def _unwanted(item: Any) -> str:
    """Which character broke a name or text pattern, and the rule it broke."""
    unwanted, what = _WHY.get(item.get("ctx", {}).get("pattern"), (_NOT_IN_NAMES, "invalid"))
    found = unwanted.search(str(item.get("input", "")))
    return _refusal(found.group(), what) if found else str(item["msg"])


_BOUNDS = frozenset(
    {
        "string_too_long",
        "string_too_short",
        "too_long",
        "too_short",
        "greater_than_equal",
        "less_than_equal",
        "greater_than",
        "less_than",
    }
)


_SIZES = frozenset({"string_too_long", "too_long"})


def _out_of_bounds(item: Any) -> str:
    """A limit broken, in the words of the rest of the errors (and docs/limits.md)."""
    bound = item.get("ctx", {})
    given = item.get("input")
    kind = item["type"]
    if kind in _SIZES and not isinstance(given, str | list | dict):
        return str(item["msg"])
    if kind == "string_too_long":
        return f"is too long: {len(given):,} characters, at most {bound['max_length']:,}"
    if kind == "string_too_short":
        least = bound["min_length"]
        return "is empty" if least == 1 else f"is too short: at least {least:,} characters"
    if kind == "too_long":
        items = "entries" if isinstance(given, dict) else "items"
        return f"has too many {items}: {len(given):,}, at most {bound['max_length']:,}"
    if kind == "too_short":
        return f"has too few items: at least {bound['min_length']:,}"
    limits = {
        "greater_than_equal": ("must be at least", "ge"),
        "less_than_equal": ("must be at most", "le"),
        "greater_than": ("must be more than", "gt"),
        "less_than": ("must be less than", "lt"),
    }
    words, key = limits[kind]
    return f"{words} {bound[key]:,}" if isinstance(bound.get(key), int) else str(item["msg"])


MAX_LISTED_ERRORS = 100


def field_errors(error: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors as `{field, message}` pairs, the field dotted (`post.received_at`); at
    most MAX_LISTED_ERRORS, then one that counts the rest."""
    found = []
    for item in error.errors(include_url=False)[:MAX_LISTED_ERRORS]:
        location = [
            printable_name(part) for part in item["loc"] if not str(part).startswith("function-")
        ]
        message = _FRIENDLY.get(item["type"], item["msg"])
        if isinstance(item.get("input"), OverlongInteger):
            message = (
                f"is an integer of {item['input'].digits:,} digits; "
                f"at most {sys.get_int_max_str_digits():,} are read"
            )
        elif item["type"] == "value_error":
            message = str(item.get("ctx", {}).get("error", item["msg"]))
        elif item["type"] == "json_invalid":
            message = f"not valid JSON: {item.get('ctx', {}).get('error', 'invalid JSON')}"
        elif item["type"] == "string_pattern_mismatch":
            message = _unwanted(item)
        elif item["type"] in _BOUNDS:
            message = _out_of_bounds(item)
        if location and location[-1] == "[key]":
            # A bad key of `context`: name the object, the key goes into the message.
            location = location[:-2]
            message = f"a key {message}"
        field = ".".join(location) or _FIELD_OF_MESSAGE.get(message, "request")
        found.append({"field": field, "message": message})
    unlisted = error.error_count() - MAX_LISTED_ERRORS
    if unlisted > 0:
        found.append({"field": "request", "message": f"and {unlisted:,} more errors, not listed"})
    return found


def describe_errors(error: ValidationError) -> str:
    """One line per field: `post.received_at: timestamp needs a time-zone offset`."""
    return "\n".join(f"{e['field']}: {e['message']}" for e in field_errors(error))


_new = object.__new__
_set = object.__setattr__
_Model = TypeVar("_Model", bound=BaseModel)


def trusted(model: type[_Model], state: dict[str, Any]) -> _Model:
    """A model from values the engine made itself, every field given, without validation.

    `model_construct` costs ~10 us (it looks at every field for defaults and aliases); routing
    builds a check request for every group of persons it decides, so they are assembled directly.
    """
    built = _new(model)
    _set(built, "__dict__", state)
    _set(built, "__pydantic_fields_set__", set(state))
    _set(built, "__pydantic_extra__", None)
    _set(built, "__pydantic_private__", None)
    return built


# ---- routing: who should get this post (issue 9) ---------------------------------------------


class RouteRequest(_Strict):
    """A post to route: a check request without `actor` and `approvals` (the engine finds them)."""

    action: Literal["reply"] = "reply"
    channel: Label
    account: Account | None = None
    post: Post
    content: Content = Field(default_factory=Content)
    context: dict[ContextKey, ContextValue] = _context_field()
    at: Timestamp = Field(default_factory=_now)

    def as_check(self, person: str) -> CheckRequest:
        """The check request of one candidate: this post, answered by `person`, no approvals."""
        return trusted(
            CheckRequest,
            {
                "actor": trusted(Actor, {"id": person, "groups": []}),
                "action": self.action,
                "channel": self.channel,
                "account": self.account,
                "post": self.post,
                "content": self.content,
                "context": self.context,
                "approvals": [],
                "at": self.at,
            },
        )


Answering = Literal["allow", "approval_required"]


class Candidate(TypedDict):
    """A person who may answer the post, whether they are on duty, and until or from when.

    On duty: `on_duty_until` and no `next_on_duty`; off duty: `next_on_duty` and no
    `on_duty_until` (either `null` when no boundary falls within 28 days). A plain dictionary
    rather than a model: a route over hundreds of persons builds one for each, and building
    models cost twice the rest of the route (bench/bench_route.py).
    """

    person: str
    decision: Answering
    approvers: list[str]
    approvers_on_duty: dict[str, list[str]]
    on_duty: bool
    on_duty_until: NotRequired[UtcTimestamp | None]
    next_on_duty: NotRequired[UtcTimestamp | None]
    rosters: list[str]


def build_candidate(
    person: str,
    outcome: str,
    approvers: list[str],
    approvers_on_duty: dict[str, list[str]],
    on_duty: bool,
    boundary: datetime | None,
    rosters: list[str],
) -> Candidate:
    """A candidate; `boundary` is `on_duty_until` when on duty, else `next_on_duty`."""
    decision = cast(Answering, outcome)  # routing passes only the persons who may answer
    if on_duty:
        return {
            "person": person,
            "decision": decision,
            "approvers": approvers,
            "approvers_on_duty": approvers_on_duty,
            "on_duty": True,
            "on_duty_until": boundary,
            "rosters": rosters,
        }
    return {
        "person": person,
        "decision": decision,
        "approvers": approvers,
        "approvers_on_duty": approvers_on_duty,
        "on_duty": False,
        "next_on_duty": boundary,
        "rosters": rosters,
    }


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
