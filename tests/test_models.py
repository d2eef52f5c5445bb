"""The wire contract: request validation that names fields, and decisions built on the hot path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from replygate.engine.models import (
    CheckRequest,
    Decision,
    PolicyVersion,
    Reason,
    RouteRequest,
    Source,
    build_decision,
    field_errors,
)

REPLY = {
    "actor": {"id": "alice"},
    "action": "reply",
    "channel": "twitter",
    "post": {
        "id": "p",
        "sentiment": "negative",
        "category": "complaint",
        "author_reach": 1,
        "received_at": "2026-11-27T21:40:00+01:00",
    },
}


def errors_of(data: dict) -> list[dict[str, str]]:  # type: ignore[type-arg]
    with pytest.raises(ValidationError) as caught:
        CheckRequest.model_validate(data)
    return field_errors(caught.value)


def test_at_defaults_to_now_in_utc() -> None:
    before = datetime.now(UTC)
    request = CheckRequest.model_validate(REPLY)
    assert before <= request.at <= datetime.now(UTC)


def test_naive_at_is_rejected_with_the_field_name() -> None:
    assert errors_of({**REPLY, "at": "2026-11-27T22:05:00"}) == [
        {"field": "at", "message": "timestamp needs a time-zone offset"}
    ]


def test_post_is_forbidden_for_new_posts() -> None:
    assert errors_of({**REPLY, "action": "post"}) == [
        {"field": "post", "message": "a new post answers no post: leave 'post' out"}
    ]


def test_negative_reach_is_rejected() -> None:
    data = {**REPLY, "post": {**REPLY["post"], "author_reach": -1}}  # type: ignore[dict-item]
    assert errors_of(data)[0]["field"] == "post.author_reach"


def test_nested_list_fields_are_dotted() -> None:
    assert errors_of({**REPLY, "approvals": [{"by": "dave"}, {}]}) == [
        {"field": "approvals.1.by", "message": "is required"}
    ]


def test_build_decision_equals_a_validated_decision() -> None:
    due = datetime(2026, 11, 27, 22, 10, tzinfo=timezone(timedelta(hours=1)))
    reason = Reason(
        rule="r",
        effect="escalate",
        code="escalate",
        message="m",
        source=Source(file="f.policy", line=1, column=1),
    )
    values = {
        "decision": "escalate",
        "approvers": [],
        "escalate_to": "senior_agent",
        "respond_by": due,
        "sla_breached": True,
        "reasons": [reason],
        "policy": PolicyVersion(files=["f.policy"]),
    }
    built = build_decision(**values)  # type: ignore[arg-type]
    validated = Decision.model_validate(values)
    assert built == validated
    assert built.model_dump_json() == validated.model_dump_json()
    assert built.model_dump(mode="json")["respond_by"] == "2026-11-27T21:10:00Z"


def test_zoneinfo_times_do_real_time_arithmetic() -> None:
    from zoneinfo import ZoneInfo

    from replygate.engine.loader import load_policy

    vienna = ZoneInfo("Europe/Vienna")
    request = CheckRequest(
        actor={"id": "alice"},  # type: ignore[arg-type]
        action="reply",
        channel="twitter",
        post={
            "id": "p",
            "sentiment": "positive",
            "category": "praise",
            "author_reach": 1,  # type: ignore[arg-type]
            "received_at": datetime(2026, 3, 28, 12, 0, tzinfo=vienna),
        },
        at=datetime(2026, 3, 28, 12, 5, tzinfo=vienna),
    )
    decision = load_policy(Path(__file__).resolve().parent.parent / "policies").decide(request)
    assert decision.model_dump(mode="json")["respond_by"] == "2026-03-29T11:00:00Z"  # 24 real hours


@pytest.mark.parametrize("model", [CheckRequest, RouteRequest])
@pytest.mark.parametrize(
    ("context", "valid"),
    [
        ({"crisis": True, "note": "a\tb", "tier": 3}, True),
        ({"note": "a\u0001b"}, False),  # a control character in a context string
        ({"k\u0001": 1}, False),  # ... in a key
        ({"": 1}, False),
    ],
)
def test_the_context_schema_refuses_what_validation_refuses(
    model: Any, context: dict[str, Any], valid: bool
) -> None:
    """Keys failing the pattern were unconstrained (`patternProperties` without
    `additionalProperties`), and strings had no pattern: a client generated from the OpenAPI
    document accepted contexts the server answers 422."""
    import jsonschema_rs

    schema = model.model_json_schema()["properties"]["context"]
    assert jsonschema_rs.is_valid(schema, context) is valid
    request: dict[str, Any] = {"channel": "twitter", "context": context}
    if model is CheckRequest:
        request.update(actor={"id": "a"}, action="post")
    else:
        request["post"] = {
            "id": "p",
            "sentiment": "negative",
            "category": "complaint",
            "author_reach": 1,
            "received_at": "2026-11-27T10:00:00+01:00",
        }
    try:
        model.model_validate(request)
    except ValidationError:
        assert not valid
    else:
        assert valid
