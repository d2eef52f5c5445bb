"""The strict wire contract at every entry point but HTTP (tests/test_api_wire.py has that).

One parser (`engine.models.parse_request` for JSON text, `validate_request` for decoded JSON):
no value is converted, names take no control characters, free text only TAB/LF/CR among them,
lone surrogates nowhere, and every timestamp is a string with an offset whose instant exists in
UTC. A deadline past 9999-12-31 fails closed in the engine and is refused naming the field.
"""

from __future__ import annotations

import io
import json
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from wire_cases import (
    ACCEPTED,
    CASES,
    CONTEXT_KEY,
    EVERY_FIELD,
    JSON_VALUES,
    NAME_REFUSED,
    TEXT_REFUSED,
    TIMESTAMP_FIELDS,
    VALID,
    Case,
    names_the_path,
    with_value,
)

from replygate.cli.main import main
from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.models import (
    DEADLINE_OUT_OF_RANGE,
    CheckRequest,
    field_errors,
    parse_request,
    range_errors,
    validate_request,
)
from replygate.scenarios.builder import RequestDraft
from replygate.scenarios.values import StepProblem

ROOT = Path(__file__).absolute().parent.parent
POLICY = str(ROOT / "policies")
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def refusal(text: str) -> list[dict[str, str]]:
    """The field errors of parsing `text`; fails if it parses."""
    with pytest.raises(ValidationError) as caught:
        parse_request(text)
    return field_errors(caught.value)


def outcome(parse: Any, data: Any) -> tuple[str, Any]:
    try:
        return "ok", parse(data).model_dump(mode="json")
    except ValidationError as error:
        return "refused", field_errors(error)


# ---- the table of bad values, through the parser --------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=str)
def test_each_bad_value_is_refused_naming_its_field(case: Case) -> None:
    errors = refusal(case.text())
    fields = [item["field"] for item in errors]
    assert case.field in fields, fields
    assert names_the_path(fields, case.field), fields
    # A batch item, a logged request, a scenario: a value already decoded from JSON, the same.
    with pytest.raises(ValidationError) as caught:
        validate_request(json.loads(case.text()))
    assert field_errors(caught.value) == errors


@pytest.mark.parametrize(("path", "value"), ACCEPTED, ids=repr)
def test_look_alikes_are_accepted_unchanged(path: str, value: Any) -> None:
    request = parse_request(json.dumps(with_value(VALID, path, value)))
    dumped = json.loads(request.model_dump_json())
    if path == CONTEXT_KEY:
        assert dumped["context"] == {value: True}
    elif path in TIMESTAMP_FIELDS:
        # The instant written (the dump spells it in UTC).
        written = datetime.fromisoformat(value.replace("z", "Z"))
        assert datetime.fromisoformat(_at(dumped, path)) == written
    else:
        assert json.dumps(with_value(dumped, path, value)) == json.dumps(dumped)


def _at(data: dict[str, Any], path: str) -> str:
    for part in path.split("."):
        data = data[part]
    return str(data)


def test_the_issues_examples() -> None:
    def field_of(**changes: Any) -> list[dict[str, str]]:
        data = VALID
        for path, value in changes.items():
            data = with_value(data, path.replace("__", "."), value)
        return refusal(json.dumps(data))

    out_of_range = (
        "is outside the range of timestamps: in UTC it must lie between "
        "0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z"
    )
    assert field_of(at="0001-01-01T00:30:00+01:00") == [{"field": "at", "message": out_of_range}]
    assert field_of(at="9999-12-31T23:30:00-01:00") == [{"field": "at", "message": out_of_range}]
    assert field_of(post__received_at="9999-12-31T23:00:00-14:00") == [
        {"field": "post.received_at", "message": out_of_range}
    ]
    assert field_of(actor__id="a\x00b") == [
        {
            "field": "actor.id",
            "message": "contains the control character U+0000; names and labels take no "
            "control characters",
        }
    ]
    integer = "is not an integer: write a JSON number without quotes or a fraction"
    assert field_of(post__author_reach=True) == [{"field": "post.author_reach", "message": integer}]
    assert field_of(post__author_reach="25000") == [
        {"field": "post.author_reach", "message": integer}
    ]
    timestamp = "is not a timestamp: write a JSON string such as 2026-11-27T21:40:00+01:00"
    for value in (1700000000, "1700000000", 1700000000.0):
        assert field_of(at=value) == [{"field": "at", "message": timestamp}]


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("actor.id", "a" * 300, "is too long: 300 characters, at most 256"),
        ("actor.id", "", "is empty"),
        ("content.text", "x" * 100_001, "is too long: 100,001 characters, at most 100,000"),
        ("content.labels", ["x"] * 1000, "has too many items: 1,000, at most 100"),
        ("post.author_reach", -1, "must be at least 0"),
        ("context", {f"k{n}": n for n in range(101)}, "has too many entries: 101, at most 100"),
        ("context", {"k" * 249: 1}, "a key is too long: 249 characters, at most 248"),
    ],
)
def test_a_limit_broken_is_named_with_the_limit(path: str, value: Any, message: str) -> None:
    """The limits of docs/limits.md in its words, not the validation library's."""
    assert refusal(json.dumps(with_value(VALID, path, value))) == [
        {"field": path, "message": message}
    ]


def test_a_lone_surrogate_escape_names_its_field_not_the_json() -> None:
    # pydantic-core's parser refuses `"\ud800"` as malformed JSON; Python's decodes it.
    text = json.dumps(VALID).replace('"carol"', '"\\ud800"')
    assert refusal(text) == [
        {"field": "actor.id", "message": "contains a lone surrogate, which is not a character"}
    ]
    assert refusal('{"actor": ')[0]["field"] == "request"  # not JSON at all


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(VALID).encode("utf-16"),
        json.dumps(VALID).encode("utf-32"),
        b"\xef\xbb\xbf" + json.dumps(VALID).encode(),  # a byte-order mark
        json.dumps(VALID).encode()[:-1] + b"\xff}",
    ],
    ids=["utf-16", "utf-32", "bom", "invalid-utf-8"],
)
def test_the_fallback_parser_reads_only_utf_8_json(body: bytes) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_request(body)
    assert caught.value.errors(include_url=False)[0]["type"] == "json_invalid"


def test_a_surrogate_pair_escape_is_one_character() -> None:
    text = json.dumps(with_value(VALID, "content.text", "\U0001f600"))  # "\ud83d\ude00"
    assert parse_request(text).content.text == "\U0001f600"


def test_an_escaped_key_is_shown_escaped() -> None:
    text = json.dumps({**VALID, "a\x00\u202eb": 1})
    assert refusal(text) == [{"field": "a\\u0000\\u202eb", "message": "is not a known field"}]


# ---- properties: any JSON value in any field -------------------------------------------------


@PROPERTY
@given(st.sampled_from(EVERY_FIELD), JSON_VALUES)
def test_any_value_in_any_field_is_kept_as_written_or_refused_there(path: str, value: Any) -> None:
    data = with_value(VALID, path, value)
    text = json.dumps(data)
    parsed = outcome(parse_request, text)
    # JSON text and the decoded value: one contract.
    assert outcome(validate_request, json.loads(text)) == parsed
    if parsed[0] == "refused":
        assert names_the_path([item["field"] for item in parsed[1]], path), parsed
        return
    dumped = parsed[1]
    if path in ("at", "post.received_at"):
        # Only ISO text with an offset is a time; the instant is kept.
        assert isinstance(value, str)
        assert datetime.fromisoformat(value.replace("z", "Z").replace(" ", "T")).tzinfo
        return
    # No coercion: a value accepted is exactly the value sent (objects get their defaults).
    if not isinstance(value, dict | list):
        assert json.dumps(with_value(dumped, path, value)) == json.dumps(dumped)


BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
NAMES = ("actor.id", "channel", "post.category", "approvals.0.by", "actor.groups.0")
TEXTS = ("content.text", "post.text", "context.note")


@PROPERTY
@given(st.sampled_from(NAMES), st.text(st.characters(codec=None), min_size=1, max_size=20))
def test_a_name_is_refused_exactly_when_it_holds_a_control_character(path: str, name: str) -> None:
    refused = any(unicodedata.category(ch) in ("Cc", "Cs") or ch in BIDI for ch in name)
    state, errors = outcome(parse_request, json.dumps(with_value(VALID, path, name)))
    assert (state == "refused") == refused
    if refused:
        assert [item["field"] for item in errors] == [path]


@PROPERTY
@given(st.sampled_from(TEXTS), st.text(st.characters(codec=None), max_size=20))
def test_a_text_is_refused_exactly_when_it_holds_a_refused_character(path: str, text: str) -> None:
    refused = any(
        (ord(ch) < 0x20 and ch not in "\t\n\r") or ch == "\x7f" or unicodedata.category(ch) == "Cs"
        for ch in text
    )
    state, errors = outcome(parse_request, json.dumps(with_value(VALID, path, text)))
    assert (state == "refused") == refused
    if refused:
        assert [item["field"] for item in errors] == [path]


# ---- deadlines near the end of time: fail closed in the engine ------------------------------

_OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
_INSTANTS = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 3), max_value=datetime(9999, 12, 29)),
    st.datetimes(min_value=datetime(9997, 1, 1), max_value=datetime(9999, 12, 29)),
    st.datetimes(max_value=datetime(1, 1, 10)),
)


@PROPERTY
@given(
    _INSTANTS,
    _OFFSETS,
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
    st.sampled_from(("complaint", "question", "praise", "feature_request", "crisis", "other")),
)
def test_the_engine_never_raises_near_the_ends_of_time(
    example_policy: CompiledPolicy,
    received: datetime,
    offset: timezone,
    later: timedelta,
    category: str,
) -> None:
    received_at = received.replace(tzinfo=offset)
    try:
        at = received_at + later
    except OverflowError:
        at = received_at
    data = with_value(VALID, "post.category", category)
    data = with_value(data, "post.received_at", received_at.isoformat())
    data = with_value(data, "at", at.isoformat())
    state, _ = outcome(parse_request, json.dumps(data))
    if state == "refused":
        return
    decision = example_policy.decide(parse_request(json.dumps(data)))
    codes = {reason.code for reason in decision.reasons}
    assert "evaluation_error" not in codes
    if DEADLINE_OUT_OF_RANGE in codes:
        assert decision.decision == "deny"
        assert received_at.astimezone(UTC) > datetime(9997, 1, 1, tzinfo=UTC)
        assert range_errors(decision)[0]["field"] == "post.received_at"
    else:
        assert range_errors(decision) == []


@pytest.mark.parametrize(
    ("category", "received_at"),
    [
        ("complaint", "9999-12-31T23:50:00Z"),  # 30m of real time
        ("praise", "9999-12-31T00:00:00Z"),  # 24h of real time
        ("question", "9999-12-30T09:00:00Z"),  # 4h of office hours: searched past the end
        ("feature_request", "9999-12-31T12:00:00Z"),  # 8h of office hours
    ],
)
def test_a_deadline_past_9999_fails_closed_and_names_the_field(
    example_policy: CompiledPolicy, category: str, received_at: str
) -> None:
    data = with_value(with_value(VALID, "post.category", category), "post.received_at", received_at)
    request = parse_request(json.dumps(with_value(data, "at", received_at)))
    decision = example_policy.decide(request)
    assert decision.decision == "deny"
    assert [reason.code for reason in decision.reasons] == [DEADLINE_OUT_OF_RANGE]
    assert range_errors(decision) == [
        {
            "field": "post.received_at",
            "message": "the response deadline of a post received at this time lies beyond "
            "9999-12-31T23:59:59.999999Z, the last time a deadline can be computed",
        }
    ]


def test_a_deadline_that_fits_is_computed(example_policy: CompiledPolicy) -> None:
    data = with_value(VALID, "post.received_at", "9999-12-31T23:00:00Z")
    decision = example_policy.decide(
        parse_request(json.dumps(with_value(data, "at", "9999-12-31T23:10:00Z")))
    )
    assert decision.respond_by == datetime(9999, 12, 31, 23, 30, tzinfo=UTC)


# ---- replygate check -----------------------------------------------------------------------


def run_check(
    args: list[str], stdin: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin.encode()), "utf-8"))
    code = main(["check", "--policy", POLICY, *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_check_requests_refuses_every_bad_line_naming_its_field(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [case.text() for case in CASES]
    _, out, _ = run_check(["--requests", "-"], "\n".join(lines) + "\n", capsys, monkeypatch)
    answers = [json.loads(line) for line in out.splitlines()]
    assert len(answers) == len(CASES)
    for number, (case, answer) in enumerate(zip(CASES, answers, strict=True), start=1):
        assert answer["error"]["line"] == number
        fields = [item["field"] for item in answer["error"]["fields"]]
        assert fields == [item["field"] for item in refusal(case.text())], case


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"actor.id": "a\x00b"}, "actor.id: contains the control character U+0000"),
        ({"post.author_reach": True}, "post.author_reach: is not an integer"),
        ({"at": 1700000000}, "at: is not a timestamp"),
        ({"at": "9999-12-31T23:30:00-01:00"}, "at: is outside the range of timestamps"),
        ({"content.text": "a\ud800"}, "content.text: contains a lone surrogate"),
        (
            {"post.received_at": "9999-12-31T23:50:00Z", "at": "9999-12-31T23:50:00Z"},
            "post.received_at: the response deadline of a post received at this time lies beyond",
        ),
    ],
)
@pytest.mark.parametrize("explain", [False, True])
def test_check_request_names_the_field_and_exits_2(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    changes: dict[str, Any],
    expected: str,
    explain: bool,
) -> None:
    data = VALID
    for path, value in changes.items():
        data = with_value(data, path, value)
    args = ["--request", "-", *(["--explain"] if explain else [])]
    code, out, err = run_check(args, json.dumps(data), capsys, monkeypatch)
    assert code == 2
    assert out == ""
    assert err.startswith(expected), err
    assert "Traceback" not in err


def test_check_requests_refuses_a_deadline_past_9999_in_its_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    late = with_value(
        with_value(VALID, "post.received_at", "9999-12-31T23:50:00Z"), "at", "9999-12-31T23:50:00Z"
    )
    stdin = json.dumps(VALID) + "\n" + json.dumps(late) + "\n"
    _, out, _ = run_check(["--requests", "-"], stdin, capsys, monkeypatch)
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["decision"] in ("allow", "approval_required")
    assert second["error"]["line"] == 2
    assert second["error"]["fields"][0]["field"] == "post.received_at"


# ---- scenarios --------------------------------------------------------------------------------

_DRAFT_FIELDS = {
    "actor.id": lambda d, v: setattr(d, "actor_id", v),
    "actor.groups.0": lambda d, v: setattr(d, "actor_groups", [v]),
    "channel": lambda d, v: setattr(d, "channel", v),
    "account": lambda d, v: setattr(d, "account", v),
    "post.category": lambda d, v: setattr(d, "category", v),
    "post.labels.0": lambda d, v: setattr(d, "post_labels", [v]),
    "content.labels.0": lambda d, v: setattr(d, "content_labels", [v]),
    "approvals.0.by": lambda d, v: setattr(d, "approvals", [{"by": v}]),
    "context": lambda d, v: d.context.update({v: True}),
}
_DRAFT_TEXTS = {
    "content.text": lambda d, v: setattr(d, "content_text", v),
    "post.text": lambda d, v: setattr(d, "post_text", v),
    "context.note": lambda d, v: d.context.update({"note": v}),
}


def draft() -> RequestDraft:
    made = RequestDraft(actor_id="carol", action="reply", channel="twitter")
    made.sentiment, made.category, made.reach = "negative", "complaint", 25000
    made.received_at = datetime(2026, 11, 27, 20, 40, tzinfo=UTC)
    made.at = datetime(2026, 11, 27, 20, 50, tzinfo=UTC)
    return made


@pytest.mark.parametrize("field", sorted(_DRAFT_FIELDS))
def test_a_scenario_refuses_a_control_character_in_a_name(field: str) -> None:
    for bad in NAME_REFUSED:
        made = draft()
        _DRAFT_FIELDS[field](made, f"a{bad}b")
        pattern = f"(?m)^{field.replace('.', '[.]')}: (a key )?contains"
        with pytest.raises(StepProblem, match=pattern):
            made.build()


@pytest.mark.parametrize("field", sorted(_DRAFT_TEXTS))
def test_a_scenario_refuses_a_control_character_in_text(field: str) -> None:
    for bad in TEXT_REFUSED:
        made = draft()
        _DRAFT_TEXTS[field](made, f"a{bad}b")
        with pytest.raises(StepProblem, match=f"(?m)^{field.replace('.', '[.]')}: contains"):
            made.build()


def test_a_scenario_keeps_tab_newline_and_emoji_in_text() -> None:
    made = draft()
    made.content_text = "line one\n\tline two\r\n\U0001f600"
    assert made.build().content.text == made.content_text


def test_a_scenario_refuses_a_time_outside_utc() -> None:
    made = draft()
    made.at = datetime(9999, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-1)))
    with pytest.raises(StepProblem, match=r"(?m)^at: is outside the range of timestamps"):
        made.build()


def test_a_scenario_reply_after_the_end_of_time_says_so() -> None:
    made = draft()
    made.received_at = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    made.at = None
    made.after_received = timedelta(days=2)
    with pytest.raises(StepProblem, match="after 9999-12-31"):
        made.build()


def test_a_scenario_with_a_deadline_past_9999_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feature = tmp_path / "end.feature"
    feature.write_text(
        "Feature: The end of time\n"
        "  Scenario: A complaint received in the last minutes\n"
        "    Given a negative complaint on twitter from an author with 25,000 followers, "
        "received at 9999-12-31 23:50 UTC\n"
        "    When carol replies at 9999-12-31 23:55 UTC\n"
        "    Then the reply needs approval from comms_lead\n",
        encoding="utf-8",
    )
    code = main(["test", str(feature), "--policy", POLICY])
    out, err = capsys.readouterr()
    assert code != 0
    assert "post.received_at: the response deadline of a post received at this time" in out + err
    assert "Traceback" not in out + err


@pytest.mark.parametrize(
    ("then", "passes"),
    [
        ("Then the reply is denied", False),  # the report shows the deadline
        ("Then the response is due by 9999-12-31 23:29 UTC", True),
        ("Then the response is due by 9999-12-31 23:58 Europe/Vienna", False),
    ],
)
def test_a_deadline_past_the_end_of_the_scenarios_zone_is_shown_in_utc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], then: str, passes: bool
) -> None:
    """Due at 9999-12-31 23:29Z is 10000-01-01 00:29 in Vienna, which no datetime holds."""
    feature = tmp_path / "end.feature"
    feature.write_text(
        "Feature: The end of time\n"
        "  Scenario: A complaint received in the last minute, in Vienna\n"
        "    Given a negative complaint on twitter, received at 9999-12-31 23:59 Europe/Vienna\n"
        "    When carol replies\n"
        f"    {then}\n",
        encoding="utf-8",
    )
    code = main(["test", str(feature), "--policy", POLICY])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "OverflowError" not in out + err
    assert code == (0 if passes else 1), out + err
    if not passes:
        assert "9999-12-31 23:29 UTC" in out


def test_builder_requests_equal_the_parsed_json() -> None:
    request = draft().build()
    assert parse_request(request.model_dump_json()) == request
    assert isinstance(request, CheckRequest)


# ---- replay: logged requests are read by the same rules ------------------------------------


def test_replay_reads_logged_requests_as_strictly_as_the_api(
    tmp_path: Path, example_policy: CompiledPolicy
) -> None:
    # A log written before the contract was strict may hold what the API now refuses: replay
    # reports such a record as not replayable, naming the field, instead of coercing it.
    from replygate.decision_log import DecisionRecord, open_decision_log
    from replygate.decision_log.replay import replay

    url = f"sqlite:///{tmp_path / 'old.db'}"
    good = parse_request(json.dumps(VALID))
    stored = {
        "good": good.model_dump(mode="json"),
        "coerced": with_value(good.model_dump(mode="json"), "post.author_reach", True),
        "escape": with_value(good.model_dump(mode="json"), "actor.id", "a\x1bb"),
    }
    ids = {}
    with open_decision_log(url) as log:
        for name, request in stored.items():
            record = DecisionRecord.new(
                request=request,
                decision=example_policy.decide(good).model_dump(mode="json"),
                client="publisher",
                commit=None,
                ref=None,
                latency_ms=0.1,
            )
            log.submit(record)
            ids[record.decision_id] = name
    result = replay(url, example_policy)
    assert result.replayed == 1
    reasons = {ids[decision_id]: reason for decision_id, reason in result.unreplayable}
    assert reasons["coerced"].startswith("post.author_reach: is not an integer")
    assert reasons["escape"].startswith("actor.id: contains the control character U+001B")


def test_every_name_a_policy_may_write_can_be_sent() -> None:
    """A lint-clean policy named a 250-character person, a 150-character label and a context
    key of 150: every request naming them was refused (ids stopped at 200, labels at 100)."""
    from replygate.engine.loader import compile_sources

    person, label, key = "p" * 256, "l" * 256, "k" * 248
    policy = compile_sources(
        {
            "long.policy": f"role agent\nperson {person} is agent\nchannel twitter\n"
            f"label {label}\n"
            f"rule long {{ allow on post by agent when content has label {label} "
            f'and context.{key} == "yes" message "Long names." }}\n'
        }
    )
    body = {
        "actor": {"id": person},
        "action": "post",
        "channel": "twitter",
        "content": {"labels": [label]},
        "context": {key: "yes"},
        "at": "2026-11-27T10:00:00+01:00",
    }
    assert policy.decide(parse_request(json.dumps(body))).decision == "allow"
    for field, longer in (
        ("actor.id", {**body, "actor": {"id": person + "p"}}),
        ("content.labels.0", {**body, "content": {"labels": [label + "l"]}}),
        ("context", {**body, "context": {key + "k": "yes"}}),
    ):
        with pytest.raises(ValidationError) as refused:
            parse_request(json.dumps(longer))
        assert field in str(refused.value)
