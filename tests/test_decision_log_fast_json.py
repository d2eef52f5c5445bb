"""The decision log writes the canonical bytes of a request, however the client spelt it.

The API hands the log the request body as sent (a batch item as parsed) and the decision's
JSON (`Checked`); `chain.parse_request` parses it and picks the encoder: orjson when the body
holds no float, the canonical encoder otherwise (orjson spells floats differently). A record
written either way must hash and verify alike, so these tests compare what is stored byte for
byte with `storable` of the parsed value, on generated values with and without floats.
"""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from replygate.api.app import Service
from replygate.decision_log.chain import (
    parse_json,
    parse_request,
    storable,
    storable_without_floats,
)
from replygate.decision_log.records import DecisionRecord, format_time
from replygate.decision_log.redaction import Redactor
from replygate.decision_log.writer import prepare
from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.models import CheckRequest, Decision

_ints = st.integers() | st.sampled_from([2**63 - 1, 2**63, -(2**63), 2**64, -(2**64) - 1])
_floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [1e-7, 1e16, 1e22, -0.0, 0.5, 5e-324, 1.7976931348623157e308]
)
_scalars = st.none() | st.booleans() | _ints | st.text()
_json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
_json_with_floats = st.recursive(
    _scalars | _floats,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _stored(body: bytes | str | Any) -> str:
    value, encode = parse_request(body)
    return encode(value)


@settings(max_examples=500, deadline=None)
@given(_json_values)
def test_the_fast_path_writes_the_canonical_bytes_of_floatless_json(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    assert storable_without_floats(parse_json(text)) == storable(json.loads(text))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), _json_with_floats, max_size=5))
def test_a_body_is_stored_canonically_however_its_numbers_are_spelt(value: Any) -> None:
    expected = storable(value)
    spellings = [
        json.dumps(value, ensure_ascii=False).encode(),  # Python: 1e-07, 1e+16
        json.dumps(value, indent=1).encode(),  # whitespace before values, \u escapes
    ]
    with contextlib.suppress(TypeError):  # orjson refuses integers beyond 64 bits
        spellings.append(orjson.dumps(value))  # orjson: 1e-7, 0.00001
    for body in spellings:
        assert _stored(body) == expected
    assert _stored(value) == expected  # a batch item, already parsed


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_strings_with_any_character_are_written_alike(text: str) -> None:
    value = {text: [text, {"k": text}]}
    assert storable_without_floats(value) == storable(value)
    assert _stored(json.dumps(value).encode()) == storable(value)


def test_non_finite_numbers_keep_their_names() -> None:
    # Numbers as a client may spell them (NaN and Infinity are refused: tests/test_ends_of_time.py).
    for literal, name in (("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "-inf")):
        body = f'{{"context": {{"x": {literal}, "y": [1, {literal}]}}}}'.encode()
        assert _stored(body) == f'{{"context":{{"x":"{name}","y":[1,"{name}"]}}}}'
    assert _stored(b'{"x": 1e400}') == '{"x":"inf"}'
    assert math.isnan(parse_json(b'{"x": NaN}')["x"])


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
    # Numbers as a client may spell them (NaN and Infinity are refused: tests/test_ends_of_time.py).
    body = {**_requests()[0], "context": {"x": 0.5, "y": "z"}}
    return json.dumps(body).replace("0.5", literal)


def _pair(body: str, policy: CompiledPolicy, redactor: Redactor) -> tuple[Any, Any]:
    parsed = CheckRequest.model_validate_json(body)
    decision = policy.decide(parsed)
    fast = Service.record(body.encode(), decision, decision.model_dump_json(), "publisher", 0.0015)
    slow = DecisionRecord.new(
        json.loads(body), decision.model_dump(mode="json"), "publisher", None, None, 1
    )
    return prepare(fast, redactor), prepare(slow, redactor)


def test_a_checked_body_is_stored_as_its_parsed_record(example_policy: CompiledPolicy) -> None:
    for redactor in (Redactor(), Redactor({"content.text": "hash", "approvals.by": "drop"})):
        bodies = [json.dumps(body) for body in _requests()[:-1]]
        bodies += [_with_context(literal) for literal in ("1e-7", "-0.0", "1e308", "1E+2")]
        for body in bodies:
            fast, slow = _pair(body, example_policy, redactor)
            assert fast.request_json == slow.request_json
            assert fast.decision_json == slow.decision_json
            assert fast.redacted_json == slow.redacted_json
            assert (fast.actor, fast.outcome, fast.rules) == (slow.actor, slow.outcome, slow.rules)


def test_a_body_without_a_time_is_stored_with_the_time_it_was_decided(
    example_policy: CompiledPolicy,
) -> None:
    body = json.dumps(_requests()[-1])
    decision = example_policy.decide(CheckRequest.model_validate_json(body))
    record = Service.record(body.encode(), decision, decision.model_dump_json(), "p", 0.1)
    stored = json.loads(prepare(record, Redactor()).request_json)
    assert stored["at"] == format_time(record.time)


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
    # A decision holds no float, so the writer encodes it with the fast encoder always.
    found: list[str] = []
    _number_fields(CheckRequest.model_json_schema(), "", found)
    # Context keys are names (no control characters, `propertyNames`); their values, a union
    # with a number in it, are every property's schema.
    assert found == ["/properties/context/additionalProperties/anyOf/2"]
    found = []
    _number_fields(Decision.model_json_schema(mode="serialization"), "", found)
    assert found == []
