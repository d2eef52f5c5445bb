"""Decisions, routes and coverage where they once disagreed with the README or docs/rosters.md
(found by probing the engine against the documents, 2026-12-02). The reference interpreter is
asked too where it covers the feature: some of these it got wrong the same way."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from gitrepo import commit_policies, make_repo

from replygate.cli.main import main
from replygate.engine.coverage import coverage
from replygate.engine.loader import compile_sources, load_policy, read_folder
from replygate.engine.models import CheckRequest, RouteRequest
from replygate.engine.routing import route
from replygate.policy_dsl.parser import parse_policy
from tests.reference.interpreter import ReferencePolicy

POST = {
    "id": "t",
    "sentiment": "negative",
    "category": "complaint",
    "author_reach": 5,
    "received_at": "2026-12-02T10:00:00+01:00",
}


def check(actor: str, **changes: Any) -> dict[str, Any]:
    request = {
        "actor": {"id": actor},
        "action": "reply",
        "channel": "twitter",
        "post": POST,
        "at": "2026-12-02T10:05:00+01:00",
    }
    request.update(changes)
    return request


def decide(sources: dict[str, str], request: dict[str, Any]) -> tuple[str, str]:
    """The engine's outcome and the reference's for one request."""
    engine = compile_sources(sources).decide(CheckRequest.model_validate(request))
    reference = ReferencePolicy([parse_policy(text, path) for path, text in sources.items()])
    return engine.decision, reference.decide(request).decision


def test_a_folder_and_a_commit_read_files_in_the_same_order(tmp_path: Path, capsys: Any) -> None:
    """`Path` sorted `a/b.policy` before `a-b.policy`; git and the README sort the text."""
    files = {
        "pol/a-b.policy": "role agent\nrole legal\nrole marketing\nperson alice is agent\n"
        "channel twitter\nrule esc-legal { escalate to legal on reply by agent }\n",
        "pol/a/b.policy": "rule esc-marketing { escalate to marketing on reply by agent }\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert list(read_folder(tmp_path / "pol")) == [
        str(tmp_path / "pol/a-b.policy"),
        str(tmp_path / "pol/a/b.policy"),
    ]
    request = CheckRequest.model_validate(check("alice"))
    assert load_policy(tmp_path / "pol").decide(request).escalate_to == "legal"
    repo = make_repo(tmp_path)
    commit_policies(repo, {k.replace("pol/", "policies/"): v for k, v in files.items()}, "m")
    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps(check("alice")), encoding="utf-8")
    argv = ["check", "--repo", str(repo.working_tree_dir), "--request", str(request_file)]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["escalate_to"] == "legal"


def test_route_decides_each_person_when_a_rule_tests_actor_id_in_a_list() -> None:
    policy = compile_sources(
        {
            "a.policy": "role agent\nperson alice is agent\nperson bob is agent\nchannel twitter\n"
            "list vips [alice]\nrespond to complaint within 30m\n"
            "rule vip-reply { allow on reply by agent when actor.id in vips }\n"
        }
    )
    request = RouteRequest.model_validate(
        {"channel": "twitter", "post": POST, "at": POST["received_at"]}
    )
    assert [c["person"] for c in route(policy, request).candidates] == ["alice"]


APPROVALS = {
    "a.policy": "role agent\nrole legal\nrole marketing\nperson alice is agent\n"
    "person erin is legal\ngroup mkt is marketing\nchannel twitter\n"
    "rule r-allow { allow on reply by agent }\n"
    "rule r-both { require approval from legal, marketing on reply by anyone }\n"
}


def test_whether_an_approval_counts_does_not_depend_on_the_order() -> None:
    plain, with_group = {"by": "erin"}, {"by": "erin", "groups": ["mkt"]}
    for approvals in ([plain, with_group], [with_group, plain]):
        assert decide(APPROVALS, check("alice", approvals=approvals)) == ("allow", "allow")
    assert decide(APPROVALS, check("alice", approvals=[plain, plain])) == (
        "approval_required",
        "approval_required",
    )


MENTIONS = {
    "a.policy": "role agent\nperson alice is agent\nchannel twitter\n"
    'list competitors "Acme Rival", "Paris"\n'
    "rule r-allow { allow on post by agent }\n"
    "rule r-comp { deny on post by agent when content.text mentions any of competitors }\n"
}


def test_a_combining_mark_is_an_edge_and_the_turkish_i_is_its_own_letter() -> None:
    def post(text: str) -> dict[str, Any]:
        return {
            "actor": {"id": "alice"},
            "action": "post",
            "channel": "twitter",
            "content": {"text": text},
            "at": "2026-12-02T10:05:00+01:00",
        }

    # U+0345 is a mark, not a letter: RE2 folded it with the Greek iota and refused it as an edge.
    assert decide(MENTIONS, post("We beat Acme Rival\u0345 today")) == ("deny", "deny")
    assert decide(MENTIONS, post("PARİS office")) == ("allow", "allow")
    assert decide(MENTIONS, post("PARIS office")) == ("deny", "deny")


ROSTER = (
    "role agent\nperson alice is agent\nchannel twitter\n"
    "calendar always { open always }\nrespond to complaint within 30m during always\n"
)
WEEKS = (
    datetime.fromisoformat("2026-11-30T00:00:00+01:00"),
    datetime.fromisoformat("2026-12-14T00:00:00+01:00"),
)


def test_coverage_posts_carry_the_channel_s_declared_accounts() -> None:
    policy = compile_sources(
        {
            "a.policy": ROSTER + 'account "@acme_help" on twitter\n'
            'roster desk { members alice zone "Europe/Vienna" open mon-sun 00:00-24:00 }\n'
            "rule agents-reply { allow on reply by agent }\n"
        }
    )
    report = coverage(policy, *WEEKS)
    assert not report.has_gaps
    # Each hour in the local ISO week it falls in: 168 a week, not 169 and 167.
    assert report.staffed == {"desk": {"2026-W49": 168.0, "2026-W50": 168.0}}


def test_staffed_hours_of_a_night_roster_fall_in_their_local_week() -> None:
    policy = compile_sources(
        {
            "a.policy": ROSTER
            + 'roster night { members alice zone "Europe/Vienna" open sun 22:00-06:00 }\n'
            "rule r { allow on reply by agent }\n"
        }
    )
    assert coverage(policy, *WEEKS).staffed == {"night": {"2026-W49": 8.0, "2026-W50": 8.0}}


def test_coverage_tells_apart_the_reach_values_a_rule_lists() -> None:
    policy = compile_sources(
        {
            "a.policy": ROSTER.replace("person alice is agent", "person alice is agent\nrole lead")
            + 'roster care { members alice zone "Europe/Vienna" open mon-sun 00:00-24:00 }\n'
            "rule r { allow on reply by agent }\n"
            "rule big { escalate to lead on reply by agent when post.author_reach in [5000] }\n"
        }
    )
    report = coverage(policy, *WEEKS)
    gaps = {c.reach: c.gap_hours for c in report.classes}
    assert gaps["5,000 followers"] == 336.0


@pytest.mark.parametrize(
    ("condition", "bands"),
    [
        # `> 10000` treats 10,000 as the posts below: its band starts at 10,001.
        (
            "post.author_reach > 10000",
            {"fewer than 10,001 followers": 0.0, "10,001 followers or more": 336.0},
        ),
        (
            "post.author_reach >= 10000",
            {"fewer than 10,000 followers": 0.0, "10,000 followers or more": 336.0},
        ),
        (
            "post.author_reach <= 500",
            {"fewer than 501 followers": 336.0, "501 followers or more": 0.0},
        ),
        (
            "post.author_reach < 500",
            {"fewer than 500 followers": 336.0, "500 followers or more": 0.0},
        ),
        (
            "post.author_reach != 5000",
            {
                "fewer than 5,000 followers or 5,001 followers or more": 336.0,
                "5,000 followers": 0.0,
            },
        ),
    ],
)
def test_coverage_splits_reach_where_the_operator_does(
    condition: str, bands: dict[str, float]
) -> None:
    """One class per band of reach a comparison tells apart (not a neighbour either side of
    every threshold: 754 classes for 250 thresholds), named by the band it stands for."""
    policy = compile_sources(
        {
            "a.policy": ROSTER.replace("person alice is agent", "person alice is agent\nrole lead")
            + 'roster care { members alice zone "Europe/Vienna" open mon-sun 00:00-24:00 }\n'
            "rule r { allow on reply by agent }\n"
            f"rule big {{ escalate to lead on reply by agent when {condition} }}\n"
        }
    )
    report = coverage(policy, *WEEKS)
    assert {c.reach: c.gap_hours for c in report.classes} == bands


def test_a_deadline_that_cannot_be_computed_is_not_covered() -> None:
    policy = compile_sources(
        {
            "a.policy": "role agent\nperson alice is agent\nchannel twitter\n"
            'calendar rare { zone "Europe/Vienna" open mon 08:00-09:00 }\n'
            "respond to complaint within 52w during rare\n"
            'roster desk { members alice zone "Europe/Vienna" open mon-sun 00:00-24:00 }\n'
            "rule agents-reply { allow on reply by agent }\n"
        }
    )
    request = RouteRequest.model_validate(
        {"channel": "twitter", "post": POST, "at": POST["received_at"]}
    )
    routed = route(policy, request)
    assert routed.respond_by is None
    assert routed.covered is False
    assert [c["person"] for c in routed.candidates] == ["alice"]


def test_a_request_without_reply_text_carries_no_content_text() -> None:
    """A request without `content` read its text as "": a length-limit allow rule
    (`matches /^…{0,280}$/`) let through a reply that carried no text at all."""
    rules = (
        "role agent\nperson alice is agent\nchannel twitter\n"
        "rule short { allow on reply by agent when content.text matches /^[\\s\\S]{0,280}$/ }\n"
        'rule blank { deny on reply by anyone when content.text == "" }\n'
        'rule given { escalate to agent on reply by anyone when content.text != "" }\n'
    )
    for content in ({}, {"content": {}}, {"content": {"labels": []}}, {"content": {"text": None}}):
        # Absent: `matches` and `==` are false, `!=` true (README, Attributes).
        assert decide({"p.policy": rules}, check("alice", **content)) == ("escalate", "escalate")
    written = {"content": {"text": ""}}  # an empty text that was sent is a text
    assert decide({"p.policy": rules}, check("alice", **written)) == ("deny", "deny")


def test_a_reach_band_stands_for_every_value_in_it() -> None:
    """Each value either side of every compared number (the classes before bands) has the gaps
    of the band it falls in: no condition tells apart two values of one band."""
    import bisect
    from dataclasses import replace

    from replygate.engine import coverage as model

    sources = {
        str(p): p.read_text() for p in (Path(__file__).parent.parent / "policies").glob("*.policy")
    }
    sources["policies/mixed.policy"] = (
        "rule m1 { escalate to comms_lead on reply by agent"
        " when post.author_reach > 2000 and post.author_reach <= 4000 }\n"
        "rule m2 { deny on reply by senior_agent when post.author_reach == 777 }\n"
        "rule m3 { deny on reply by agent when post.author_reach in [12345, 54321] }\n"
        "rule m4 { require approval from legal on reply by agent"
        " when post.author_reach != 30000 and post.author_reach >= 25000 }\n"
        "respond to complaint within 5m when post.author_reach > 60000\n"
    )
    policy = compile_sources(sources)
    bands = model._reach_values(model._reach_thresholds(policy))
    assert bands == [
        0,
        777,
        778,
        2001,
        4001,
        10000,
        12345,
        12346,
        25000,
        30000,
        30001,
        54321,
        54322,
        60001,
    ]
    numbers = {int(n) for n in model._numbers(model._tested(policy)["post.author_reach"])}
    around = sorted({0, *(v for n in numbers for v in (n - 1, n, n + 1))})
    kinds = [k for k in model.post_classes(policy) if k.channel == "twitter" and not k.traits]
    start, end = WEEKS[0], WEEKS[0] + (WEEKS[1] - WEEKS[0]) / 2
    by_band = model.class_gaps(policy, kinds, start, end)
    by_value = model.class_gaps(
        policy, [replace(k, reach=v) for k in kinds for v in around], start, end
    )
    for kind, gaps in by_value.items():
        band = bands[bisect.bisect_right(bands, kind.reach) - 1]
        assert gaps == by_band[replace(kind, reach=band)], kind
