"""Rosters, routing and coverage: membership at boundaries, route order, coverage vs brute force.

Times without an offset are Vienna wall-clock time. Vienna falls back on 2026-10-25 and springs
forward on 2027-03-28.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replygate.engine.calendars import Calendar, OpeningHours
from replygate.engine.coverage import coverage, covered_arrivals
from replygate.engine.evaluator import Deadline, ResponseRule
from replygate.engine.loader import compile_sources, load_policy, read_folder
from replygate.engine.models import Reason, RouteRequest
from replygate.engine.rosters import DutyModel, Override, Roster, Rotation
from replygate.engine.routing import route, route_or_refusal

ROOT = Path(__file__).resolve().parent.parent
VIENNA = ZoneInfo("Europe/Vienna")
ZONE = "Europe/Vienna"


def at(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=VIENNA)


@pytest.fixture(scope="module")
def bundled() -> object:
    return load_policy(ROOT / "policies")


# ---- membership at boundaries ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("person", "moment", "expected"),
    [
        # carol's week starts Monday 2026-11-30 08:00; evenings are 18:00-22:00 on weekdays
        ("carol", "2026-11-30 18:00", True),
        ("carol", "2026-11-30 17:59:59", False),
        ("carol", "2026-11-30 22:00", False),
        ("ivan", "2026-11-30 18:00", False),
        ("carol", "2026-12-06 20:59", True),  # Sunday 09:00-21:00, still carol's week
        ("carol", "2026-12-07 18:00", False),  # the handoff was Monday 08:00: ivan's week
        ("ivan", "2026-12-07 18:00", True),
        ("carol", "2026-11-23 18:00", False),  # before the anchor, turns cycle backwards
        ("ivan", "2026-11-23 18:00", True),
        ("carol", "2026-11-16 18:00", True),
        # Christmas: ivan's week (12-21 .. 12-28), carol overrides 12-24 18:00 .. 12-27 00:00
        ("ivan", "2026-12-23 19:00", True),
        ("carol", "2026-12-24 18:00", True),
        ("ivan", "2026-12-24 18:00", False),
        ("carol", "2026-12-26 20:59", True),
        ("carol", "2026-12-27 09:00", False),  # the override has ended
        ("ivan", "2026-12-27 09:00", True),
        ("carol", "2026-12-24 17:00", False),  # an override never adds hours
        # office hours: holidays close the office, weekends too
        ("alice", "2026-12-01 08:00", True),
        ("alice", "2026-12-08 10:00", False),  # closed 2026-12-08
        ("alice", "2026-12-05 10:00", False),
        ("dave", "2026-12-05 22:59", True),
        ("dave", "2026-12-05 23:00", False),
        ("frank", "2026-12-01 10:00", True),
        ("nobody", "2026-12-01 10:00", False),  # persons on no roster are never on duty
    ],
)
def test_bundled_membership(bundled: object, person: str, moment: str, expected: bool) -> None:
    assert bundled.duty.is_on_duty(person, at(moment)) is expected  # type: ignore[attr-defined]


def _weekly_roster(
    hours: list[OpeningHours], rotation: Rotation | None = None, **kw: object
) -> Roster:
    return Roster("r", ["a", "b"], Calendar("r", ZONE, hours), ZONE, rotation, **kw)  # type: ignore[arg-type]


def test_overnight_hours_belong_to_their_start_day() -> None:
    roster = _weekly_roster([OpeningHours(4, 22 * 60, 6 * 60)])  # fri 22:00-06:00
    model = DutyModel([roster])
    assert model.is_on_duty("a", at("2026-12-05 05:59"))
    assert not model.is_on_duty("a", at("2026-12-05 06:00"))
    assert model.on_duty_until("a", at("2026-12-04 23:00")) == at("2026-12-05 06:00").astimezone(
        UTC
    )
    assert model.next_on_duty("a", at("2026-12-05 07:00")) == at("2026-12-11 22:00").astimezone(UTC)


def test_daily_handoff_stays_at_local_time_across_dst() -> None:
    # 1d turns from Saturday 2026-10-24 08:00: the fall-back night is 25 hours long
    rotation = Rotation(1, 0, datetime(2026, 10, 24, 8, 0))
    roster = _weekly_roster([OpeningHours(d, 0, 1440) for d in range(7)], rotation)
    assert roster.turn_start(1) == at("2026-10-25 08:00").astimezone(UTC)
    assert roster.turn_start(2) - roster.turn_start(1) == timedelta(hours=24)
    assert roster.turn_start(1) - roster.turn_start(0) == timedelta(hours=25)
    assert roster.on_duty_at(at("2026-10-25 07:59")) == {"a"}
    assert roster.on_duty_at(at("2026-10-25 08:00")) == {"b"}


def test_hour_turns_are_elapsed_time_across_dst() -> None:
    rotation = Rotation(0, 12 * 3600, datetime(2026, 10, 24, 20, 0))
    roster = _weekly_roster([OpeningHours(d, 0, 1440) for d in range(7)], rotation)
    # 20:00 CEST + 12 real hours is 07:00 CET on the fall-back day
    assert roster.turn_start(1) == at("2026-10-25 07:00").astimezone(UTC)
    assert roster.on_duty_at(at("2026-10-25 06:59")) == {"a"}
    assert roster.on_duty_at(at("2026-10-25 07:00")) == {"b"}


def test_later_override_wins_and_without_rotation_adds() -> None:
    hours = [OpeningHours(d, 0, 1440) for d in range(7)]
    overrides = [
        Override("c", at("2026-12-01 10:00"), at("2026-12-01 14:00")),
        Override("d", at("2026-12-01 12:00"), at("2026-12-01 13:00")),
    ]
    rotating = _weekly_roster(
        hours, Rotation(7, 0, datetime(2026, 11, 30, 8, 0)), overrides=overrides
    )
    assert rotating.on_duty_at(at("2026-12-01 11:00")) == {"c"}
    assert rotating.on_duty_at(at("2026-12-01 12:30")) == {"d"}
    assert rotating.on_duty_at(at("2026-12-01 13:00")) == {"c"}
    assert rotating.on_duty_at(at("2026-12-01 14:00")) == {"a"}
    plain = _weekly_roster(hours, overrides=overrides)
    assert plain.on_duty_at(at("2026-12-01 11:00")) == {"a", "b", "c"}


def test_none_within_the_look_ahead() -> None:
    model = DutyModel([_weekly_roster([OpeningHours(d, 0, 1440) for d in range(7)])])
    assert model.on_duty_until("a", at("2026-12-01 10:00")) is None
    assert model.next_on_duty("zed", at("2026-12-01 10:00")) is None


# ---- routing -----------------------------------------------------------------------------------


def _route_request(received: str, when: str, **post: object) -> RouteRequest:
    body = {
        "channel": "twitter",
        "post": {
            "id": "t-1",
            "sentiment": "negative",
            "category": "complaint",
            "author_reach": 25000,
            "received_at": at(received).isoformat(),
            **post,
        },
        "at": at(when).isoformat(),
    }
    return RouteRequest.model_validate(body)


def test_route_orders_on_duty_first_then_allow_then_next_on_duty(bundled: object) -> None:
    answer = route(bundled, _route_request("2026-12-05 22:10", "2026-12-05 22:15"))  # type: ignore[arg-type]
    got = json.loads(answer.model_dump_json())
    assert [c["person"] for c in got["candidates"]] == ["dave", "carol", "ivan"]
    dave, carol, ivan = got["candidates"]
    assert dave == {
        "person": "dave",
        "decision": "allow",
        "approvers": [],
        "approvers_on_duty": {},
        "on_duty": True,
        "on_duty_until": "2026-12-05T22:00:00Z",
        "rosters": ["comms-on-call"],
    }
    assert carol["next_on_duty"] == "2026-12-06T08:00:00Z" and "on_duty_until" not in carol
    assert carol["approvers_on_duty"] == {"comms_lead": ["dave"]}
    assert ivan["next_on_duty"] == "2026-12-07T17:00:00Z"
    assert got["covered"] is True
    assert got["inform"] == [{"unit": "customer_service", "on_duty": ["dave"]}]


def test_a_route_on_an_undeclared_channel_is_refused_naming_it(bundled: object) -> None:
    """Found by probing rosters: no candidates, `covered: false` and no reason, where a check
    says `unknown_channel`: a typo in a tool's channel name read as "nobody can answer"."""
    request = _route_request("2026-12-05 22:10", "2026-12-05 22:15", category="nosuch")
    request = request.model_copy(update={"channel": "nosuch"})
    answer, refused = route_or_refusal(bundled, request)  # type: ignore[arg-type]
    assert answer is None
    assert refused[0] == {
        "field": "channel",
        "message": "channel 'nosuch' is not declared in the policy",
    }
    assert refused[1]["field"] == "post.category"


def test_route_at_night_is_not_covered(bundled: object) -> None:
    answer = route(bundled, _route_request("2026-12-05 23:30", "2026-12-05 23:31"))  # type: ignore[arg-type]
    assert answer.covered is False
    assert all(not c["on_duty"] for c in answer.candidates)
    assert [c["person"] for c in answer.candidates] == ["dave", "carol", "ivan"]


def test_route_office_hours_lists_agents(bundled: object) -> None:
    answer = route(
        bundled,  # type: ignore[arg-type]
        _route_request(
            "2026-12-01 10:00", "2026-12-01 10:01", sentiment="positive", category="feature_request"
        ),
    )
    # Tuesday 10:00: the office rosters, and dave's comms on-call; carol and ivan work evenings.
    assert [(c["person"], c["on_duty"]) for c in answer.candidates] == [
        ("alice", True),
        ("bob", True),
        ("dave", True),
        ("grace", True),
        ("heidi", True),
        ("judy", True),
        ("carol", False),
        ("ivan", False),
    ]
    assert [i.unit for i in answer.inform] == ["product_management"]
    assert answer.inform[0].on_duty == ["grace"]


def _brute_force_candidates(policy: Any, request: RouteRequest) -> list[tuple[Any, ...]]:
    """Every person decided on their own, each status asked on its own: what `route` shortcuts."""
    found = []
    for person in sorted(policy.people):
        decision = policy.decide(request.as_check(person))
        if decision.decision in ("allow", "approval_required"):
            on_duty, boundary = policy.duty.status(person, request.at)
            found.append((person, decision.decision, tuple(decision.approvers), on_duty, boundary))
    return found


IDENTITY_RULE = """
rule bob-is-on-leave {
    deny
    on reply
    by agent
    when actor.id == "bob"
}
"""


@pytest.mark.parametrize("identity_rule", [False, True])
@pytest.mark.parametrize(
    ("received", "category", "sentiment"),
    [
        ("2026-12-05 22:10", "complaint", "negative"),
        ("2026-12-01 10:00", "feature_request", "positive"),
        ("2026-12-24 19:00", "question", "neutral"),
        ("2026-12-06 03:00", "complaint", "negative"),
    ],
)
def test_route_candidates_equal_deciding_every_person(
    identity_rule: bool, received: str, category: str, sentiment: str
) -> None:
    # Persons with the same roles are decided once unless a rule looks at who the actor is.
    sources = read_folder(ROOT / "policies")
    if identity_rule:
        sources["policies/identity.policy"] = IDENTITY_RULE
    policy = compile_sources(sources)
    request = _route_request(received, received, category=category, sentiment=sentiment)
    answer = route(policy, request)
    got = sorted(
        (
            c["person"],
            c["decision"],
            tuple(c["approvers"]),
            c["on_duty"],
            c.get("on_duty_until") if c["on_duty"] else c.get("next_on_duty"),
        )
        for c in answer.candidates
    )
    assert got == _brute_force_candidates(policy, request)
    if category == "feature_request":  # alice and bob hold the same roles
        persons = {c["person"] for c in answer.candidates}
        assert "alice" in persons
        assert ("bob" in persons) is not identity_rule


# ---- coverage against a minute-by-minute reference ---------------------------------------------

START = datetime(2026, 10, 23, 0, 0, tzinfo=VIENNA)  # spans the fall-back weekend


@st.composite
def small_rosters(draw: st.DrawFn) -> tuple[DutyModel, int, bool]:
    rosters = []
    for number in range(draw(st.integers(1, 2))):
        hours = [
            OpeningHours(
                draw(st.integers(0, 6)),
                draw(st.integers(0, 95)) * 15,
                draw(st.integers(1, 96)) * 15,
            )
            for _ in range(draw(st.integers(1, 3)))
        ]
        members = draw(
            st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True)
        )
        rotation = None
        if draw(st.booleans()):
            length = draw(st.sampled_from([(1, 0), (0, 6 * 3600), (0, 90 * 60)]))
            rotation = Rotation(*length, datetime(2026, 10, 24, draw(st.integers(0, 23)), 0))
        rosters.append(
            Roster(f"r{number}", members, Calendar(f"r{number}", ZONE, hours), ZONE, rotation)
        )
    within = draw(st.sampled_from([15, 30, 60, 240]))
    business = draw(st.booleans())
    return DutyModel(rosters), within, business


@given(small_rosters())
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_covered_arrivals_match_minute_stepping(case: tuple[DutyModel, int, bool]) -> None:
    duty, within, business = case
    office = Calendar("office", ZONE, [OpeningHours(d, 8 * 60, 18 * 60) for d in range(5)])
    rule = ResponseRule(
        "complaint",
        Deadline(timedelta(minutes=within), office if business else None),
        None,
        None,
        Reason.model_construct(
            rule=None, effect=None, code="response_time", message="", source=None
        ),
        0,
    )

    class _Policy:
        pass

    policy = _Policy()
    policy.duty = duty  # type: ignore[attr-defined]
    end = START + timedelta(days=3)
    for person in ("a", "b", "c"):
        covered = covered_arrivals(policy, person, rule, START, end)  # type: ignore[arg-type]
        minute = START.astimezone(UTC)
        while minute < end:
            due = rule.deadline.due(minute)
            reference = (
                due is not None and duty.anyone_between([person], minute, due)
                if due and due > minute
                else False
            )
            brute = False
            if due is not None:
                step = minute
                while step < due and not brute:
                    brute = duty.is_on_duty(person, step)
                    step += timedelta(minutes=1)
            inside = any(s <= minute < e for s, e in covered)
            assert inside == brute == reference, (person, minute, covered)
            minute += timedelta(minutes=37)


def test_bundled_coverage_finds_the_night_gap(bundled: object) -> None:
    report = coverage(bundled, at("2026-11-30 00:00"), at("2026-12-07 00:00"))  # type: ignore[arg-type]
    complaints = [c for c in report.classes if c.category == "complaint"]
    assert complaints and all(c.gaps for c in complaints)
    first = complaints[0].gaps[1]
    assert first[0] == at("2026-11-30 23:00").astimezone(UTC)
    assert (first[1] - timedelta(microseconds=1)) == at("2026-12-01 06:30").astimezone(UTC)
    assert report.staffed["care-evenings"]["2026-W49"] == 44.0
    questions = [c for c in report.classes if c.category == "question"]
    assert all(not c.gaps for c in questions)


def test_policy_errors_for_rosters() -> None:
    from replygate.policy_dsl.source import PolicyError

    text = (
        "person a is x\nrole x\nroster r {\n  members a, zz\n  open mon 08:00-09:00\n"
        '  rotate every 0d from 2026-01-01\n}\ncalendar c { zone "UTC" open mon 08:00-09:00 holidays ATT }\n'
    )
    with pytest.raises(PolicyError) as caught:
        compile_sources({"p.policy": text})
    rendered = caught.value.render()
    assert "p.policy:4:14: error: unknown person 'zz' [unknown-person]" in rendered
    assert "[empty-rotation]" in rendered and "[missing-zone]" in rendered
    assert "no public holidays are known for country 'ATT'" in rendered
    assert "help: did you mean 'AT'?" in rendered or "help:" in rendered


def test_cli_route_and_coverage(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from replygate.cli.main import main

    request = tmp_path / "r.json"
    request.write_text(
        json.dumps(
            {
                "channel": "twitter",
                "post": {
                    "id": "t",
                    "sentiment": "positive",
                    "category": "praise",
                    "author_reach": 1,
                    "received_at": "2026-12-01T10:00:00+01:00",
                },
                "at": "2026-12-01T10:00:00+01:00",
            }
        )
    )
    assert main(["route", "--policy", str(ROOT / "policies"), "--request", str(request)]) == 0
    assert json.loads(capsys.readouterr().out)["covered"] is True
    request.write_text(json.dumps({"actor": {"id": "x"}, "channel": "twitter"}))
    assert main(["route", "--policy", str(ROOT / "policies"), "--request", str(request)]) == 2
    assert "actor: a route request names no actor" in capsys.readouterr().err
    args = [
        "coverage",
        "--policy",
        str(ROOT / "policies"),
        "--from",
        "2026-11-30T00:00:00+01:00",
        "--until",
        "2026-12-01T00:00:00+01:00",
    ]
    assert main([*args, "--fail-on-gap"]) == 1
    assert main([*args, "--format", "markdown"]) == 0
    assert "| weekday | from | until | covered by |" in capsys.readouterr().out
    assert main([*args, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["gaps"] is True


@pytest.mark.parametrize("form", ["text", "markdown"])
def test_cli_coverage_writes_year_one_with_four_digits(
    capsys: pytest.CaptureFixture[str], form: str
) -> None:
    """glibc's %Y wrote the first duty year as `Mon 1-01-15`."""
    from replygate.cli.main import main

    args = ["coverage", "--policy", str(ROOT / "policies"), "--format", form]
    args += ["--from", "0001-01-15T00:00:00+00:00", "--until", "0001-01-16T00:00:00+00:00"]
    main(args)
    out = capsys.readouterr().out
    # Vienna's local mean time in year 1 is +01:05:21.
    assert "Mon 0001-01-15 01:05" in out and "Tue 0001-01-16 01:05" in out
    assert " 1-01-15" not in out


def test_holidays_by_country_close_the_calendar() -> None:
    calendar = Calendar(
        "c",
        ZONE,
        [OpeningHours(d, 0, 1440) for d in range(7)],
        countries=[("AT", None)],
        recurring=[(12, 31)],
    )
    assert not calendar.is_open(at("2026-12-25 10:00"))
    assert not calendar.is_open(at("2026-12-31 10:00"))
    assert calendar.is_open(at("2026-12-30 10:00"))
    assert date(2026, 12, 25)


def test_diff_reports_opened_gaps_as_widening(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from replygate.cli.main import main

    head = tmp_path / "head"
    head.mkdir()
    for source in (ROOT / "policies").glob("*.policy"):
        text = source.read_text(encoding="utf-8")
        (head / source.name).write_text(
            text.replace("07:00-23:00", "08:00-22:00"), encoding="utf-8"
        )
    args = [
        "diff",
        str(ROOT / "policies"),
        str(head),
        "--coverage-from",
        "2026-11-30T00:00:00+01:00",
    ]
    assert main([*args, "--fail-on", "widening"]) == 1
    out = capsys.readouterr().out
    assert "complaint (any sentiment; any channel): 56 h opened, 0 h closed" in out
    assert "    + Mon 2026-11-30 22:00 - Mon 2026-11-30 23:00" in out
    assert main([*args, "--format", "json"]) == 0
    section = json.loads(capsys.readouterr().out)["coverage"]
    assert section["opened"] is True and section["zone"] == "Europe/Vienna"
    assert (
        main(
            [
                str(a)
                for a in [
                    "diff",
                    head,
                    ROOT / "policies",
                    "--fail-on",
                    "widening",
                    "--coverage-from",
                    "2026-11-30T00:00:00+01:00",
                ]
            ]
        )
        == 0
    )
    assert "0 h opened, 56 h closed" in capsys.readouterr().out


def test_response_times_by_channel_and_condition_earliest_wins() -> None:
    from replygate.engine.models import CheckRequest

    text = (
        "role agent\nperson alice is agent\nchannel twitter, facebook\n"
        "calendar always { open always }\n"
        "respond to complaint within 30m during always\n"
        "respond to complaint within 10m via twitter when post.author_reach >= 10000\n"
        "respond to complaint within 20m when post.sentiment == negative\n"
        'rule a { allow on reply by agent message "a" }\n'
    )
    policy = compile_sources({"p.policy": text})

    def decide(channel: str, reach: int, sentiment: str) -> dict[str, object]:
        request = CheckRequest.model_validate(
            {
                "actor": {"id": "alice"},
                "action": "reply",
                "channel": channel,
                "post": {
                    "id": "1",
                    "sentiment": sentiment,
                    "category": "complaint",
                    "author_reach": reach,
                    "received_at": "2026-12-01T10:00:00Z",
                },
                "at": "2026-12-01T10:01:00Z",
            }
        )
        return json.loads(policy.decide(request).model_dump_json())

    got = decide("twitter", 20000, "negative")
    assert got["respond_by"] == "2026-12-01T10:10:00Z"
    last = got["reasons"][-1]
    assert (last["rule"], last["effect"], last["code"]) == (None, None, "response_time")
    assert last["source"]["line"] == 6
    assert decide("facebook", 20000, "negative")["respond_by"] == "2026-12-01T10:20:00Z"
    plain = decide("facebook", 5, "neutral")
    assert plain["respond_by"] == "2026-12-01T10:30:00Z"
    assert plain["reasons"][0]["code"] == "allow" and plain["reasons"][-1]["source"]["line"] == 5


# ---- N approvals: covered only with as many other holders on duty as approvals are missing ----

TWO_LAWYERS = """
unit care "Care"
unit legal "Legal"
role agent in care
role legal in legal
person ann is agent
person lea is legal
person leo is legal
channel twitter
calendar always {
    open always
}
respond to complaint within 1h during always
rule agents-reply { allow on reply by agent }
rule two-lawyers { require 2 approvals from legal on reply by agent }
roster agents {
    members ann
    zone "Europe/Vienna"
    open mon-sun 08:00-20:00
}
roster lea-early {
    members lea
    zone "Europe/Vienna"
    open mon-sun 08:00-20:00
}
roster leo-late {
    members leo
    zone "Europe/Vienna"
    open mon-sun 12:00-20:00
}
"""


@pytest.fixture(scope="module")
def two_lawyers() -> Any:
    return compile_sources({"two.policy": TWO_LAWYERS})


@pytest.mark.parametrize(
    ("arrival", "covered"),
    [
        ("2026-12-02 09:00", False),  # only lea is on duty before 10:00: one of two approvals
        ("2026-12-02 11:00", False),  # due 12:00, leo starts at 12:00: too late
        ("2026-12-02 11:00:01", True),  # leo is on duty from 12:00, before 12:00:01
        ("2026-12-02 13:00", True),
    ],
)
def test_route_needs_as_many_approvers_as_approvals_missing(
    two_lawyers: Any, arrival: str, covered: bool
) -> None:
    answer = route(two_lawyers, _route_request(arrival, arrival))
    assert [(c["person"], c["decision"]) for c in answer.candidates] == [
        ("ann", "approval_required")
    ]
    assert answer.covered is covered


def test_coverage_needs_as_many_approvers_as_approvals_missing(two_lawyers: Any) -> None:
    report = coverage(two_lawyers, at("2026-12-02 00:00"), at("2026-12-03 00:00"))
    (complaints,) = [c for c in report.classes if c.category == "complaint"]
    # Arrivals up to 11:00 have one lawyer on duty before their deadline, after 19:00 none.
    gaps = [(start.astimezone(VIENNA), end.astimezone(VIENNA)) for start, end in complaints.gaps]
    assert gaps == [
        (at("2026-12-02 00:00"), at("2026-12-02 11:00:00.000001")),
        (at("2026-12-02 20:00"), at("2026-12-03 00:00")),
    ]


def test_response_times_and_shares_may_test_named_lists() -> None:
    """A `when` of a response time or a share may use `mentions any of LIST` and `in LIST`
    (README "Lists"); the policy used to fail to compile with a KeyError."""
    from replygate.engine.models import CheckRequest

    text = (
        "unit legal_dept\nrole agent in legal_dept\nperson alice is agent\nchannel twitter\n"
        'list competitors "Acme Rival"\nlist social [twitter]\n'
        "respond to complaint within 30m\n"
        "respond to complaint within 10m when post.text mentions any of competitors\n"
        "respond to complaint within 20m when channel in social\n"
        "share complaint with legal_dept when post.text mentions any of competitors\n"
        'rule a { allow on reply by agent message "a" }\n'
    )
    policy = compile_sources({"p.policy": text})
    post = {
        "id": "1",
        "sentiment": "negative",
        "category": "complaint",
        "author_reach": 5,
        "received_at": "2026-12-01T10:00:00Z",
    }

    def respond_by(post_text: str) -> object:
        body = {
            "actor": {"id": "alice"},
            "action": "reply",
            "channel": "twitter",
            "post": {**post, "text": post_text},
            "at": "2026-12-01T10:01:00Z",
        }
        return json.loads(policy.decide(CheckRequest.model_validate(body)).model_dump_json())[
            "respond_by"
        ]

    assert respond_by("better than acme  RIVAL!") == "2026-12-01T10:10:00Z"
    assert respond_by("AcmeRivalry") == "2026-12-01T10:20:00Z"
    request = RouteRequest.model_validate(
        {"channel": "twitter", "post": {**post, "text": "Acme Rival"}, "at": "2026-12-01T10:01:00Z"}
    )
    assert [i.unit for i in route(policy, request).inform] == ["legal_dept"]


# ---- deadlines weeks away, deadlines that cannot be computed, rotations at the ends of time ----

TEAM = """
unit cs "Customer service"
role agent in cs
person a is agent
channel twitter
rule agents-reply { allow on reply by agent message "Agents reply." }
"""
CLOSED_FIVE_WEEKS = ", ".join((date(2027, 1, 1) + timedelta(days=n)).isoformat() for n in range(35))
SHOP_CLOSED_FOR_FIVE_WEEKS = f"""
calendar shop {{
    zone "Europe/Vienna"
    open mon-sun 08:00-18:00
    closed {CLOSED_FIVE_WEEKS}
}}
respond to complaint within 60d during shop
roster r {{ members a  during shop }}
"""


def test_covered_looks_as_far_as_the_deadline_not_only_four_weeks() -> None:
    """The shop reopens on 2027-02-05, 35 days on, and the complaint is due in June: covered,
    in route and coverage alike, though nobody is on duty within the 28-day look-ahead."""
    policy = compile_sources({"team.policy": TEAM, "shop.policy": SHOP_CLOSED_FOR_FIVE_WEEKS})
    answer = route(policy, _route_request("2027-01-01 10:00", "2027-01-01 10:00"))
    assert answer.candidates[0]["next_on_duty"] is None  # as documented: 28 days ahead only
    assert answer.covered is True
    for until in ("2027-01-02 00:00", "2027-01-20 00:00"):
        report = coverage(policy, at("2027-01-01 00:00"), at(until))
        assert [c.gaps for c in report.classes] == [[]]


def test_coverage_counts_a_deadline_that_cannot_be_computed_as_a_gap() -> None:
    """366 days of office hours are more than the office opens in two years: route says not
    covered, and coverage now says the same of every arrival (it said covered)."""
    office = """
    calendar office { zone "Europe/Vienna" open mon-fri 08:00-18:00 }
    respond to question within 366d during office
    respond to complaint within 100d during office
    roster r { members a  zone "Europe/Vienna"  open mon-sun 00:00-24:00 }
    """
    policy = compile_sources({"team.policy": TEAM, "office.policy": office})
    question = route(
        policy, _route_request("2027-01-05 10:00", "2027-01-05 10:00", category="question")
    )
    assert question.respond_by is None and question.covered is False
    start, end = at("2027-01-05 00:00"), at("2027-01-06 00:00")
    gaps = {c.category: c.gaps for c in coverage(policy, start, end).classes}
    assert gaps == {"complaint": [], "question": [(start.astimezone(UTC), end.astimezone(UTC))]}


def test_a_year_long_rotation_is_answered_up_to_the_last_day_rosters_compute() -> None:
    """The turn after 9999-11 would begin in the year 10000: it does not begin at all."""
    rotating = """
    roster r { members a  zone "Europe/Vienna"  open mon-sun 00:00-24:00
               rotate every 52w from 2026-12-30 08:00 }
    """
    policy = compile_sources({"team.policy": TEAM, "r.policy": rotating})
    request = _route_request("9999-11-14 10:00", "9999-11-14 10:00")
    assert route(policy, request).covered is True


@pytest.mark.parametrize(
    ("rotation", "message"),
    [
        (
            'zone "Pacific/Pago_Pago" rotate every 1w from 9999-12-31 23:00',
            "9999-12-31 23:00 in Pacific/Pago_Pago lies outside the years 1 to 9999 in UTC "
            "[window-out-of-range]",
        ),
        (
            'zone "Asia/Tokyo" rotate every 1w from 0001-01-01 00:00',
            "0001-01-01 00:00 in Asia/Tokyo lies outside the years 1 to 9999 in UTC "
            "[window-out-of-range]",
        ),
        (
            'zone "Europe/Vienna" rotate every 59m59s from 2027-01-04 08:00',
            "a turn of a rotation lasts at least 1h [rotation-too-short]",
        ),
    ],
)
def test_rotations_that_would_crash_or_stall_routing_are_policy_errors(
    rotation: str, message: str
) -> None:
    """A rotation starting outside time crashed every route; one-second turns took minutes."""
    from replygate.policy_dsl.source import PolicyError

    text = f"roster r {{ members a  open mon-fri 08:00-18:00  {rotation} }}"
    with pytest.raises(PolicyError) as caught:
        compile_sources({"team.policy": TEAM, "r.policy": text})
    assert "r.policy:1:" in caught.value.render()
    assert message in caught.value.render()


def test_an_hour_long_rotation_is_accepted() -> None:
    text = 'roster r { members a  zone "UTC"  open mon-fri 08:00-18:00  rotate every 1h from 2027-01-04 08:00 }'
    policy = compile_sources({"team.policy": TEAM, "r.policy": text})
    assert route(policy, _route_request("2027-01-05 10:00", "2027-01-05 10:00")).covered is True


def test_coverage_says_any_channel_only_for_every_channel() -> None:
    """Four of five channels were "any channel", printed beside the fifth's own class."""
    from replygate.cli.coverage import as_text

    five = """
    channel facebook, instagram, linkedin, mastodon
    respond to complaint within 30m
    rule no-mastodon { deny on reply via mastodon by agent message "Not on Mastodon." }
    roster r { members a  zone "Europe/Vienna"  open mon-fri 08:00-18:00 }
    """
    policy = compile_sources({"team.policy": TEAM, "five.policy": five})
    text = as_text(coverage(policy, at("2027-01-04 00:00"), at("2027-01-05 00:00")))
    assert "complaint: any sentiment, any reach, facebook, instagram, linkedin, twitter" in text
    assert "complaint: any sentiment, any reach, mastodon" in text
    assert "any channel" not in text


def test_coverage_and_route_at_the_last_dates_rosters_compute() -> None:
    """Found in review: coverage of a window ending after 9997-12-26 overflowed (a business
    deadline's horizon past the year 9999), and a route whose look-ahead passed the last day
    rosters compute was refused instead of answered."""
    policy = compile_sources({"team.policy": TEAM, "shop.policy": SHOP_CLOSED_FOR_FIVE_WEEKS})
    report = coverage(policy, at("9998-06-01 00:00"), at("9998-06-08 00:00"))
    assert [c.category for c in report.classes] == ["complaint"]
    late = _route_request("9999-10-25 10:00", "9999-10-25 10:00")
    closed = """
    calendar shop { zone "Europe/Vienna" open mon-sun 08:00-18:00
                    closed every 10-20, 10-21, 10-22, 10-23, 10-24, 10-25, 10-26, 10-27, 10-28, 10-29,
                           10-30, 10-31, 11-01, 11-02, 11-03, 11-04, 11-05, 11-06, 11-07, 11-08,
                           11-09, 11-10, 11-11, 11-12, 11-13, 11-14, 11-15, 11-16, 11-17, 11-18,
                           11-19, 11-20, 11-21, 11-22, 11-23, 11-24, 11-25, 11-26, 11-27, 11-28 }
    respond to complaint within 30d
    roster r { members a  during shop }
    """
    policy = compile_sources({"team.policy": TEAM, "closed.policy": closed})
    assert route(policy, late).covered is False


# ---- coverage of response times promised for labelled posts and context flags -----------------

PROMISES = """
channel twitter
role agent
person a is agent
category complaint
label vip
rule r { allow on reply by agent message "ok" }
respond to complaint within 8h
respond to complaint within 10m when post has label vip
respond to complaint within 5m when context.urgent
roster x { members a zone "Europe/Vienna" open mon-fri 08:00-18:00 }
"""


def test_coverage_checks_response_times_promised_for_a_label_or_a_context_flag() -> None:
    """Only the 8h promise was looked at (78 h of gaps): a vip complaint due in 10 minutes at
    07:00 on a Tuesday, which `route` says nobody covers, was reported covered."""
    from replygate.cli.coverage import as_text

    policy = compile_sources({"t.policy": PROMISES})
    report = coverage(policy, at("2026-11-30 00:00"), at("2026-12-07 00:00"))
    by_rule = {c.response_time.deadline.within: c for c in report.classes}
    assert set(by_rule) == {timedelta(hours=8), timedelta(minutes=10), timedelta(minutes=5)}
    vip, urgent = by_rule[timedelta(minutes=10)], by_rule[timedelta(minutes=5)]
    assert vip.traits == ["without context.urgent; labelled vip"]
    assert urgent.traits == ["context.urgent"]
    assert by_rule[timedelta(hours=8)].traits == ["without context.urgent; not labelled vip"]
    # Weekdays 07:50-18:00 (vip) and 07:55-18:00 (urgent) are covered; the rest of the week not.
    assert vip.gap_hours == pytest.approx(168 - 5 * (10 + 10 / 60), abs=0.01)
    assert urgent.gap_hours == pytest.approx(168 - 5 * (10 + 5 / 60), abs=0.01)
    assert by_rule[timedelta(hours=8)].gap_hours == 78
    tuesday_seven = at("2026-12-01 07:00")
    assert any(s <= tuesday_seven < e for s, e in vip.gaps)
    request = RouteRequest.model_validate(
        {
            "channel": "twitter",
            "post": {
                "id": "p",
                "sentiment": "negative",
                "category": "complaint",
                "received_at": "2026-12-01T07:00:00+01:00",
                "author_reach": 10,
                "labels": ["vip"],
            },
            "at": "2026-12-01T07:00:00+01:00",
        }
    )
    assert route(policy, request).covered is False
    assert "twitter (without context.urgent; labelled vip)" in as_text(report)


def test_coverage_tries_each_tested_value_alone_past_the_combination_limit() -> None:
    """Ten flags are 1,024 combinations: each alone (and none) is tried instead."""
    from replygate.engine.coverage import MAX_TRAIT_COMBINATIONS, trait_combinations

    flags = "".join(f"respond to complaint within {n + 1}m when context.f{n}\n" for n in range(10))
    policy = compile_sources({"t.policy": PROMISES + flags})
    combinations = trait_combinations(policy)
    assert MAX_TRAIT_COMBINATIONS < 2**11
    assert len(combinations) == 1 + 10 + 1 + 1  # none, each flag, urgent, vip
    report = coverage(policy, at("2026-11-30 00:00"), at("2026-12-01 00:00"))
    assert timedelta(minutes=1) in {c.response_time.deadline.within for c in report.classes}


def test_a_diff_names_the_label_whose_promise_opened_gaps() -> None:
    from replygate.engine.review.coverage import coverage_changes, coverage_text

    base = compile_sources({"t.policy": PROMISES.replace("respond to complaint within 10m", "#")})
    head = compile_sources({"t.policy": PROMISES})
    diff = coverage_changes(base, head, at("2026-11-30 00:00"), at("2026-12-07 00:00"))
    (change,) = diff.changes
    assert change.traits == ("without context.urgent; labelled vip",)
    assert "complaint (any sentiment; twitter; without context.urgent; labelled vip)" in (
        coverage_text(diff)
    )


def test_coverage_reads_context_values_from_a_named_list_and_ignores_rules_no_reply_meets() -> None:
    """`context.tier in premium` was not looked at (`in [gold, platinum]` was); a rule `on post`
    cannot decide a reply, and its conditions made classes of their own."""
    from replygate.engine.coverage import trait_combinations

    policy = compile_sources(
        {
            "t.policy": PROMISES
            + "list premium [gold, platinum]\n"
            + "respond to complaint within 2m when context.tier in premium\n"
            + 'rule posts { allow on post by agent when context.campaign message "x" }\n'
        }
    )
    names = {name for combination in trait_combinations(policy) for name, _ in combination}
    assert names == {"context.tier", "context.urgent", "label vip"}
    report = coverage(policy, at("2026-11-30 00:00"), at("2026-12-01 00:00"))
    assert timedelta(minutes=2) in {c.response_time.deadline.within for c in report.classes}
    assert report.notes == ()


def test_coverage_says_when_labels_and_context_were_tried_one_at_a_time(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from replygate.cli.main import main

    flags = "".join(f"respond to complaint within {n + 1}m when context.f{n}\n" for n in range(10))
    (tmp_path / "t.policy").write_text(PROMISES + flags, encoding="utf-8")
    window = ["--from", "2026-11-30T00:00:00+01:00", "--until", "2026-12-01T00:00:00+01:00"]
    assert main(["coverage", "--policy", str(tmp_path), *window]) == 0
    out = capsys.readouterr().out
    assert "Note: the rules test 12 post labels and context keys, 4,096 combinations" in out
    assert main(["coverage", "--policy", str(tmp_path), *window, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["notes"][0].startswith("the rules test 12")


def test_a_response_time_may_not_test_the_post_s_age() -> None:
    """`when post.age > 1h` passed lint, and the deadline moved after the fact: 10:30 at
    10:01, then 10:05 (already missed) at 11:01."""
    from replygate.engine.loader import check_sources

    _, diagnostics = check_sources(
        {"t.policy": PROMISES + "respond to complaint within 5m when post.age > 1h\n"}
    )
    assert [(d.code, d.span.line) for d in diagnostics if d.severity == "error"] == [
        ("response-time-condition", PROMISES.count("\n") + 1)
    ]


def test_a_diff_giving_a_channel_accounts_opens_no_gap_for_posts_without_one() -> None:
    """BASE's class of twitter posts without an account was judged on HEAD, which refuses such
    posts: every hour was reported as an opened gap (and `--fail-on widening` failed), while
    `coverage` of HEAD found the same gaps as BASE for posts to the new account."""
    from replygate.engine.review.coverage import coverage_changes

    week = at("2026-11-30 00:00"), at("2026-12-07 00:00")
    with_account = PROMISES + 'account "@help" on twitter\n'
    base = compile_sources({"t.policy": PROMISES})
    head = compile_sources({"t.policy": with_account})
    assert coverage_changes(base, head, *week).changes == ()
    # Shorter hours on HEAD still open a gap for posts to the account.
    shorter = compile_sources({"t.policy": with_account.replace("08:00-18:00", "08:00-17:00")})
    assert coverage_changes(base, shorter, *week).opened


EARLIER_OF = """
role agent
person a is agent
channel twitter
calendar office { zone "Europe/Vienna" open mon-fri 09:00-17:00 }
respond to complaint within 24h
respond to complaint within 1h during office via twitter
rule r { allow on reply by agent message "ok" }
roster r1 { members a zone "Europe/Vienna" open mon-sun 20:00-22:00 }
"""


def _routed(policy: Any, arrival: datetime) -> bool:
    post = {"id": "p", "sentiment": "negative", "category": "complaint", "author_reach": 5}
    request = RouteRequest.model_validate(
        {
            "channel": "twitter",
            "post": {**post, "received_at": arrival.isoformat()},
            "at": arrival.isoformat(),
        }
    )
    return route(policy, request).covered


def test_coverage_holds_each_arrival_to_the_earliest_of_its_response_times() -> None:
    """The rule that won at `--from` was used for the whole range: from Saturday the 24h
    promise alone (no gap all week), from Monday the office one alone. A complaint at Monday
    13:00 is due at 14:00 (`route`: not covered)."""
    policy = compile_sources({"t.policy": EARLIER_OF})
    for start in ("2026-11-28 00:00", "2026-11-30 00:00"):
        report = coverage(policy, at(start), at("2026-12-05 00:00"))
        (item,) = report.classes
        assert item.promise == (
            "the earlier of respond to complaint within 24h and respond to complaint within "
            "1h during office via twitter"
        )
        gaps = item.gaps
        for arrival in ("2026-11-30 13:00", "2026-11-30 23:00", "2026-12-01 16:30"):
            moment = at(arrival)
            if moment >= at(start):
                in_gap = any(low <= moment < high for low, high in gaps)
                assert in_gap is (not _routed(policy, moment)), arrival
    # Saturday: the 24h promise is the earlier one, and the roster's evening covers it.
    saturday = coverage(policy, at("2026-11-28 00:00"), at("2026-12-05 00:00")).classes[0]
    assert not any(low <= at("2026-11-28 10:00") < high for low, high in saturday.gaps)


def test_coverage_decides_who_may_answer_where_the_deadline_can_be_computed() -> None:
    """From a start whose deadline could not be computed (it counts as passed), `deadline has
    passed` escalated every person away for the whole range: all of it was one gap."""
    policy = compile_sources(
        {
            "t.policy": """
role agent
role senior
person a is agent
channel twitter
calendar c { zone "Europe/Vienna" open mon 10:00-11:00 }
respond to question within 105h during c
rule r { allow on reply by agent message "ok" }
rule late { escalate to senior on reply by agent when deadline has passed message "late" }
roster r1 { members a zone "Europe/Vienna" open mon-sun 00:00-24:00 }
"""
        }
    )
    late = coverage(policy, at("2026-12-29 12:00"), at("2027-01-12 00:00")).classes[0]
    early = coverage(policy, at("2026-12-28 00:00"), at("2027-01-12 00:00")).classes[0]
    cut = [(max(low, at("2026-12-29 12:00")), high) for low, high in early.gaps]
    assert late.gaps == [(low, high) for low, high in cut if low < high]


def test_coverage_says_what_it_does_not_vary() -> None:
    text = EARLIER_OF + 'list competitors "Acme Rival"\n'
    text += "respond to complaint within 10m when post.text mentions any of competitors\n"
    report = coverage(
        compile_sources({"t.policy": text}), at("2026-11-30 00:00"), at("2026-12-07 00:00")
    )
    assert any(
        note.startswith("conditions test post.text, which coverage does not vary")
        for note in report.notes
    )
    plain = coverage(
        compile_sources({"t.policy": EARLIER_OF}), at("2026-11-30 00:00"), at("2026-12-07 00:00")
    )
    assert plain.notes == ()


def test_a_class_title_says_when_it_holds_only_the_other_combinations() -> None:
    """Beside `positive or neutral, 10,000 followers or more [10m]`, the 8h group was titled
    `any sentiment, any reach`, though it holds no positive post from 10,000 followers."""
    from replygate.cli.coverage import as_text

    text = (
        "role agent\nperson a is agent\nchannel twitter\nrespond to complaint within 8h\n"
        "respond to complaint within 10m when post.author_reach >= 10000 and "
        "post.sentiment != negative\n"
        'rule r { allow on reply by agent message "ok" }\n'
        'roster r1 { members a zone "Europe/Vienna" open mon-fri 08:00-18:00 }\n'
    )
    report = coverage(
        compile_sources({"t.policy": text}), at("2026-11-30 00:00"), at("2026-12-07 00:00")
    )
    titles = [line for line in as_text(report).splitlines() if line.startswith("complaint")]
    assert titles == [
        "complaint: positive or neutral, 10,000 followers or more, twitter  "
        "[respond to complaint within 10m when …]",
        "complaint: any sentiment, any reach, twitter (the combinations no other class of this "
        "category takes)  [respond to complaint within 8h]",
    ]


def test_a_longer_promise_whose_deadline_cannot_be_computed_is_not_dropped() -> None:
    """`within 6000h during office` beside `within 4h during office`: the longer one cannot be
    computed (past what the calendar is searched for), so such a post is due at once and nobody
    can answer it, as `route` says; dropped as the longer of the two, the class showed 0 h."""
    sources = dict(read_folder(ROOT / "policies"))
    sources["policies/zz.policy"] = "respond to question within 6000h during office via twitter\n"
    policy = compile_sources(sources)
    start, end = at("2027-03-01 00:00"), at("2027-03-08 00:00")
    report = coverage(policy, start, end)
    twitter = [c for c in report.classes if c.category == "question" and "twitter" in c.channels]
    assert twitter and all(
        c.gaps == [(start.astimezone(UTC), end.astimezone(UTC))] for c in twitter
    )


def test_a_person_in_many_rosters_is_on_duty_exactly_when_the_timeline_says() -> None:
    """Past 16 rosters, "on duty now?" asks each roster (500 hourly rotations took 10 s a
    check building the week's timeline); it must answer as the timeline does, which routing
    still builds."""
    rosters = "".join(
        f'roster r{i} {{\n members alice, bob\n zone "Europe/Vienna"\n'
        f" open mon-fri {8 + i % 5:02d}:00-{17 + i % 5:02d}:30\n"
        f" rotate every {1 + i % 3}h from 2026-01-0{1 + i % 7} 0{i % 10}:{i % 60:02d}\n}}\n"
        for i in range(40)
    )
    text = f"role agent\nperson alice is agent\nperson bob is agent\n{rosters}"
    duty = compile_sources({"p.policy": text}).duty
    start = datetime(2026, 3, 27, tzinfo=UTC)  # the spring change in Vienna is in this week
    moments = [start + timedelta(minutes=m) for m in range(0, 7 * 24 * 60, 17)]
    # Asked first, so no timeline exists yet: each roster is asked directly.
    fast = [duty.is_on_duty("alice", moment) for moment in moments]
    assert fast == [duty.status("alice", moment)[0] for moment in moments]
    assert True in fast and False in fast


def test_anyone_between_looks_past_the_look_ahead() -> None:
    """Found by probing rosters: `anyone_between` asked `next_on_duty`, which looks 28 days
    ahead, so ann's turn five weeks on was "not on duty" where `duty_between` found it."""
    policy = compile_sources(
        {
            "p.policy": "role agent\nperson ann is agent\nperson bob is agent\n"
            'channel twitter\nroster five {\n  members bob, ann\n  zone "Europe/Vienna"\n'
            "  open mon-sun 00:00-24:00\n  rotate every 5w from 2026-11-30 00:00\n}\n"
        }
    )
    start = datetime(2026, 11, 30, 12, tzinfo=UTC)
    turn = datetime(2027, 1, 3, 23, tzinfo=UTC)  # ann's first turn, 00:00 in Vienna
    assert policy.duty.duty_between("ann", start, datetime(2027, 6, 1, tzinfo=UTC))[0][0] == turn
    assert policy.duty.anyone_between(["ann"], start, datetime(2027, 6, 1, tzinfo=UTC))
    assert policy.duty.anyone_between(["ann"], start, turn + timedelta(microseconds=1))
    assert not policy.duty.anyone_between(["ann"], start, turn)
    assert not policy.duty.anyone_between(
        ["cid", "nobody"], start, datetime(2027, 6, 1, tzinfo=UTC)
    )


YEAR_ONE = """role agent
person ann is agent
channel twitter
roster desk {
    members ann
    zone "UTC"
    open mon-sun 00:00-24:00
}
calendar office {
    zone "UTC"
    open mon-fri 08:00-18:00
}
rule a {
    allow
    on reply
    by agent
    message "ok"
}
"""


@pytest.mark.parametrize(
    ("respond", "gaps"),
    [
        ("respond to complaint within 3w", "  gaps: 0 h"),
        # 52 weeks of office time lie beyond the 731 days searched: counted as passed.
        ("respond to complaint within 52w during office", "  gaps: 24 h"),
    ],
)
def test_coverage_in_the_first_weeks_of_year_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], respond: str, gaps: str
) -> None:
    """Found by probing rosters: looking back from a window in year 1 went before it (an
    OverflowError), reported as deadlines reaching "past 9999-12-31: choose an earlier --until"."""
    from replygate.cli.main import main

    policy = tmp_path / "p.policy"
    policy.write_text(YEAR_ONE + respond + "\n")
    window = ["--from", "0001-01-15T00:00:00Z", "--until", "0001-01-16T00:00:00Z"]
    assert main(["coverage", "--policy", str(policy), *window]) == 0
    assert gaps in capsys.readouterr().out.splitlines()


# ---- the fast timeline against the per-turn computation it replaced -----------------------------


def _reference_turn_start(roster: Roster, k: int) -> datetime:
    """Turn k's start as the rosters once computed it: every turn through the zone."""
    rotation = roster.rotation
    assert rotation is not None
    try:
        local = rotation.anchor + timedelta(days=k * rotation.days)
        return local.replace(tzinfo=roster.zone).astimezone(UTC) + timedelta(
            seconds=k * rotation.seconds
        )
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC) if k > 0 else datetime.min.replace(tzinfo=UTC)


def _reference_turn_at(roster: Roster, moment: datetime) -> int:
    rotation = roster.rotation
    assert rotation is not None
    length = rotation.days * 86_400 + rotation.seconds
    k = int((moment - _reference_turn_start(roster, 0)).total_seconds() // length)
    while _reference_turn_start(roster, k) > moment:
        k -= 1
    while _reference_turn_start(roster, k + 1) <= moment:
        k += 1
    return k


def _reference_segments(roster: Roster, day: int) -> list[tuple[datetime, datetime, set[str]]]:
    """A UTC day's segments as they were computed before turns became arithmetic: each piece
    between two cuts asks the overrides and `turn_at` anew."""
    low = datetime.combine(date.fromordinal(day), datetime.min.time(), UTC)
    pieces: list[tuple[datetime, datetime, set[str]]] = []
    for start, end in roster.hours.open_intervals(low, low + timedelta(days=1)):
        cuts = {start, end}
        if roster.rotation is not None:
            k = _reference_turn_at(roster, start)
            while (boundary := _reference_turn_start(roster, k + 1)) < end:
                cuts.add(boundary)
                k += 1
        for override in roster.overrides:
            cuts.update(p for p in (override.start, override.end) if start < p < end)
        points = sorted(cuts)
        for begin, finish in itertools.pairwise(points):
            chosen = None
            for override in roster.overrides:
                if override.start <= begin < override.end:
                    chosen = override.person
            if roster.rotation is None:
                persons = set(roster.members) | ({chosen} if chosen else set())
            elif chosen is not None:
                persons = {chosen}
            else:
                turn = _reference_turn_at(roster, begin)
                persons = {roster.members[turn % len(roster.members)]}
            if pieces and pieces[-1][1] == begin and pieces[-1][2] == persons:
                pieces[-1] = (pieces[-1][0], finish, persons)
            else:
                pieces.append((begin, finish, persons))
    return pieces


_DST_ZONES = [
    "Europe/Vienna",
    "America/Santiago",  # changes at local midnight
    "Australia/Lord_Howe",  # a 30-minute change
    "America/New_York",
    "Asia/Kolkata",
    "UTC",
]


def _offset_change_days(zone: str) -> list[int]:
    """The UTC days of 2026 and 2027 in which `zone` changes its offset."""
    tz = ZoneInfo(zone)
    first = date(2026, 1, 1).toordinal()
    found = []
    for day in range(first, first + 730):
        low = datetime.combine(date.fromordinal(day), datetime.min.time(), UTC)
        if low.astimezone(tz).utcoffset() != (low + timedelta(days=1)).astimezone(tz).utcoffset():
            found.append(day)
    return found


_CHANGE_DAYS = {zone: _offset_change_days(zone) for zone in _DST_ZONES}


@st.composite
def _any_roster(draw: st.DrawFn) -> tuple[Roster, list[int]]:
    zone = draw(st.sampled_from(_DST_ZONES))
    shape = draw(st.sampled_from(["day", "overnight", "always", "odd"]))
    if shape == "day":
        hours = [OpeningHours(d, 8 * 60, 18 * 60) for d in range(5)]
    elif shape == "overnight":
        hours = [OpeningHours(d, 22 * 60, 6 * 60) for d in range(7)]
    elif shape == "always":
        hours = [OpeningHours(d, 0, 1440) for d in range(7)]
    else:  # ranges around the hours clocks change at, in minutes of a quarter hour
        hours = [
            OpeningHours(draw(st.integers(0, 6)), start, draw(st.integers(1, 96)) * 15)
            for start in draw(st.lists(st.integers(0, 95).map(lambda q: q * 15), max_size=3))
        ]
    if shape == "always" and draw(st.booleans()):
        calendar = Calendar("h", zone, [], always=True)
    else:
        calendar = Calendar("h", zone, hours)
    members = draw(st.lists(st.sampled_from("abcd"), min_size=1, max_size=3, unique=True))
    change_days = _CHANGE_DAYS[zone] or [date(2026, 3, 29).toordinal()]
    rotation = None
    if draw(st.booleans()) or shape == "always":
        days, seconds = draw(
            st.sampled_from([(0, 3600), (0, 12_600), (0, 90_000), (1, 43_200), (7, 0), (1, 0)])
        )
        anchor_day = draw(st.sampled_from(change_days)) + draw(st.integers(-40, 40))
        anchor = datetime.combine(date.fromordinal(anchor_day), datetime.min.time()) + timedelta(
            minutes=draw(st.integers(0, 95)) * 15
        )
        rotation = Rotation(days, seconds, anchor)
    overrides = []
    for _ in range(draw(st.integers(0, 2))):
        begin = datetime.combine(
            date.fromordinal(draw(st.sampled_from(change_days))), datetime.min.time(), UTC
        ) + timedelta(minutes=draw(st.integers(-1440, 2880)))
        end = begin + timedelta(minutes=draw(st.integers(-60, 2000)))
        overrides.append(Override(draw(st.sampled_from("abcde")), begin, end))
    roster = Roster("r", members, calendar, zone, rotation, overrides)
    days = sorted(
        {
            draw(st.sampled_from(change_days)) + draw(st.integers(-2, 2))
            for _ in range(draw(st.integers(1, 4)))
        }
    )
    return roster, days


@given(_any_roster())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_segments_equal_the_per_turn_computation(case: tuple[Roster, list[int]]) -> None:
    roster, days = case
    for day in days:
        got = [(s.start, s.end, set(s.persons)) for s in roster.segments(day)]
        assert got == _reference_segments(roster, day), (roster.zone, roster.rotation, day)
        if roster.rotation is not None:
            low = datetime.combine(date.fromordinal(day), datetime.min.time(), UTC)
            for minutes in range(0, 1440, 97):
                moment = low + timedelta(minutes=minutes)
                k = roster.turn_at(moment)
                assert k == _reference_turn_at(roster, moment)
                assert roster.turn_start(k) == _reference_turn_start(roster, k) <= moment
                assert moment < roster.turn_start(k + 1) == _reference_turn_start(roster, k + 1)


def test_turns_far_from_the_anchor_are_exact_to_the_microsecond() -> None:
    # A float's quotient loses microseconds centuries from the anchor; whole microseconds do not.
    hours = [OpeningHours(d, 0, 1440) for d in range(7)]
    roster = _weekly_roster(hours, Rotation(0, 3600 * 5 + 7, datetime(2026, 3, 29, 2, 30)))
    for moment in (
        datetime(9999, 11, 14, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1, 1, 15, tzinfo=UTC),
        roster.turn_start(13_000_000),
        roster.turn_start(13_000_000) - timedelta(microseconds=1),
        roster.turn_start(-987_654),
    ):
        k = roster.turn_at(moment)
        assert k == _reference_turn_at(roster, moment)
        assert roster.turn_start(k) <= moment < roster.turn_start(k + 1)


def test_a_boundary_exactly_at_the_look_ahead_is_shown_for_both_fields() -> None:
    """Found by probing rosters: ann's turn ending exactly 28 days ahead was `on_duty_until:
    null`, while bob's turn starting at that instant was his `next_on_duty`."""
    policy = compile_sources(
        {
            "p.policy": "role agent\nperson ann is agent\nperson bob is agent\n"
            'channel twitter\nroster desk {\n  members ann, bob\n  zone "UTC"\n'
            "  open mon-sun 00:00-24:00\n  rotate every 4w from 2026-11-30 00:00\n}\n"
        }
    )
    start = datetime(2026, 11, 30, tzinfo=UTC)
    handover = start + timedelta(days=28)
    assert policy.duty.statuses(["ann", "bob"], start) == [(True, handover), (False, handover)]


def test_the_caches_hold_at_most_their_budget_and_answer_as_fresh_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by a resource probe: bounded per roster only, the caches of 500 hourly rosters
    grew a server by 55 MB a new four-week window (3.4 GB after 60 routes)."""
    from replygate.engine import rosters

    monkeypatch.setattr(rosters, "_SEGMENT_BUDGET", 2_000)
    monkeypatch.setattr(rosters, "_INSTANT_BUDGET", 6_000)
    always = [OpeningHours(d, 0, 1440) for d in range(7)]

    def hourly(number: int) -> Roster:
        rotation = Rotation(0, 3600, datetime(2026, 1, 1, number % 24))
        hours = Calendar(f"r{number}", ZONE, always)
        return Roster(f"r{number}", [f"p{number}", f"q{number}"], hours, ZONE, rotation)

    monkeypatch.setattr(rosters, "_CALENDAR_DAY_BUDGET", 400)
    model = DutyModel([hourly(n) for n in range(4)])
    assert {roster.hours.cache_days for roster in model.rosters.values()} == {100}
    persons = [f"{kind}{n}" for n in range(4) for kind in "pq"]
    for week in range(12):  # a new window each time, as the probe's routes asked
        moment = at("2026-12-01 10:30") + timedelta(days=28 * week, minutes=7 * week)
        fresh = DutyModel([hourly(n) for n in range(4)])
        assert model.statuses(persons, moment) == fresh.statuses(persons, moment)
        assert [model.intervals(p, moment.toordinal()) for p in persons] == [
            fresh.intervals(p, moment.toordinal()) for p in persons
        ]
        held = sum(roster._held for roster in model.rosters.values())
        assert held <= rosters._SEGMENT_BUDGET
        assert model._timeline_instants <= rosters._INSTANT_BUDGET // 2
        assert model._day_instants <= rosters._INSTANT_BUDGET // 2
        assert all(len(r.hours._buckets) <= 100 for r in model.rosters.values())
        timelines = sum(
            2 * len(s) for week_lines in model._timelines.values() for s, _ in week_lines.values()
        )
        assert timelines == model._timeline_instants  # the count is what is held
