"""The decision log's fast serialisation stores exactly the bytes the canonical path stores.

The API queues the parsed request and the decision's JSON (`Checked`); the writer serialises
them with orjson. A record written either way must hash and verify alike, so these tests
compare the fast path byte for byte with `storable` of the `model_dump(mode="json")` dicts.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from replygate.api.app import Service
from replygate.decision_log.chain import parse_json, storable, storable_without_floats
from replygate.decision_log.records import DecisionRecord
from replygate.decision_log.redaction import Redactor
from replygate.decision_log.writer import prepare
from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.models import NAME_PATTERN, CheckRequest, Decision

_ints = st.integers() | st.sampled_from([2**63 - 1, 2**63, -(2**63), 2**64, -(2**64) - 1])
_scalars = st.none() | st.booleans() | _ints | st.text()
_json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(_json_values)
def test_the_fast_path_writes_the_canonical_bytes_of_floatless_json(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    assert storable_without_floats(parse_json(text)) == storable(json.loads(text))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_strings_with_any_character_are_written_alike(text: str) -> None:
    value = {text: [text, {"k": text}]}
    assert storable_without_floats(value) == storable(value)


def _requests() -> list[dict[str, Any]]:
    base: dict[str, Any] = {
        "actor": {"id": "carol", "groups": ["care-team"]},
        "action": "reply",
        "channel": "twitter",
        "account": "@acme_help",
        "post": {
            "id": "t-1",
            "sentiment": "negative",
            "category": "complaint",
            "author_reach": 25000,
            "received_at": "2026-11-27T21:40:00+01:00",
            "labels": [],
        },
        "content": {"labels": ["mentions_price"], "text": "Sorry — we\u2019ll fix it 🙂"},
        "context": {"crisis": False},
        "at": "2026-11-27T22:05:00+01:00",
    }
    # Control characters are refused on the wire (NUL, U+001F); the ones free text may hold stay.
    odd_context = {"n": 2**70, "s": "a\tb\r\n\x85\x9f\u2028", "t": True, "u": None}
    floats = {"ratio": 1e-7, "big": 1e20, "zero": -0.0, "half": 0.5}
    return [
        base,
        {**base, "context": odd_context, "approvals": [{"by": "dave"}]},
        {**base, "context": floats},
        {**base, "content": {"labels": [], "text": 'tab\there \u2028 \x85 \\ " end'}},
        {key: value for key, value in base.items() if key != "at"},
    ]


def _with_context(literal: str) -> str:
    # JSON proper has no NaN or Infinity, but the request parser accepts them.
    body = {**_requests()[0], "context": {"x": 0.5, "y": "z"}}
    return json.dumps(body).replace("0.5", literal)


def _pair(body: str, policy: CompiledPolicy, redactor: Redactor) -> tuple[Any, Any]:
    parsed = CheckRequest.model_validate_json(body)
    decision = policy.decide(parsed)
    fast = Service.record(parsed, decision, decision.model_dump_json(), "publisher", 0.0015)
    slow = DecisionRecord.new(
        parsed.model_dump(mode="json"), decision.model_dump(mode="json"), "publisher", None, None, 1
    )
    return prepare(fast, redactor), prepare(slow, redactor)


def test_a_queued_check_is_stored_as_its_dumped_record(example_policy: CompiledPolicy) -> None:
    for redactor in (Redactor(), Redactor({"content.text": "hash", "approvals.by": "drop"})):
        bodies = [json.dumps(body) for body in _requests()]
        bodies += [_with_context(literal) for literal in ("NaN", "Infinity", "-1e400", "1e-7")]
        for body in bodies:
            fast, slow = _pair(body, example_policy, redactor)
            assert fast.request_json == slow.request_json
            assert fast.decision_json == slow.decision_json
            assert fast.redacted_json == slow.redacted_json
            assert (fast.actor, fast.outcome, fast.rules) == (slow.actor, slow.outcome, slow.rules)


def _number_fields(schema: Any, path: str, found: list[str]) -> None:
    if isinstance(schema, dict):
        if schema.get("type") == "number":
            found.append(path)
        for key, value in schema.items():
            _number_fields(value, f"{path}/{key}", found)
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            _number_fields(value, f"{path}/{index}", found)


def test_context_values_are_the_only_floats_of_a_request_and_a_decision() -> None:
    # The writer's fast path looks for floats only there (writer._floatless).
    found: list[str] = []
    _number_fields(CheckRequest.model_json_schema(), "", found)
    # Context keys are names (no control characters): their values sit under that pattern.
    assert found == [f"/properties/context/patternProperties/{NAME_PATTERN}/anyOf/2"]
    found = []
    _number_fields(Decision.model_json_schema(mode="serialization"), "", found)
    assert found == []
