"""The benchmark's peers decide the example policy exactly like the hand-written floor.

Agreement first, timing second (issue 6): Cedar (one call and batched) and Casbin must give the
floor's decision, approvers and escalation target on every generated request, on the example
policy and on a scaled one. A table of explicit cases pins the floor (and the peers) to the
example policy's rules at the edges: reach 9,999/10,000, office hours closing, deadlines to the
second, holidays, daylight saving, crisis mode, approvals.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

import pytest

pytest.importorskip("cedarpy")
pytest.importorskip("casbin")

from bench.peers import floor
from bench.peers.casbin_peer import CasbinPeer
from bench.peers.cedar_peer import CedarPeer, scaled_policy_text
from bench.requests_gen import generate

Decide = Any  # a peer's decide: dict -> dict


@pytest.fixture(scope="module")
def requests() -> list[dict[str, Any]]:
    return generate(2000)


@pytest.fixture(scope="module")
def expected(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [floor.decide(r) for r in requests]


@pytest.fixture(scope="module")
def cedar() -> CedarPeer:
    return CedarPeer()


@pytest.fixture(scope="module")
def casbin_fast() -> CasbinPeer:
    return CasbinPeer(parse_once=True)


def _disagreements(
    requests: list[dict[str, Any]], expected: list[dict[str, Any]], got: list[dict[str, Any]]
) -> list[str]:
    """One line per request where a peer differs from the floor, for a readable failure."""
    found = []
    for request, want, answer in zip(requests, expected, got, strict=True):
        if want != answer:
            found.append(f"{json.dumps(request)}\n  floor {want}\n  peer  {answer}")
    return found


# ---- agreement on generated requests ---------------------------------------------------------


def test_cedar_agrees_with_the_floor(requests, expected, cedar):
    assert _disagreements(requests, expected, [cedar.decide(r) for r in requests]) == []


def test_cedar_batch_agrees_with_the_floor(requests, expected, cedar):
    assert _disagreements(requests, expected, cedar.decide_batch(requests)) == []


def test_cedar_with_request_validation_agrees(requests, expected):
    peer = CedarPeer(request_schema=True)
    sample = slice(0, 300)
    got = [peer.decide(r) for r in requests[sample]]
    assert _disagreements(requests[sample], expected[sample], got) == []


def test_casbin_agrees_with_the_floor(requests, expected, casbin_fast):
    assert _disagreements(requests, expected, [casbin_fast.decide(r) for r in requests]) == []


def test_casbin_as_shipped_agrees_with_the_floor(requests, expected):
    """pycasbin's own FastEnforcer (matcher parsed per call) on a sample: it is ~3x slower."""
    peer = CasbinPeer()
    sample = slice(0, 100)
    got = [peer.decide(r) for r in requests[sample]]
    assert _disagreements(requests[sample], expected[sample], got) == []


def test_scaled_peers_still_agree(requests, expected):
    """100 generated rules and 4 redundant matching grants change no decision."""
    sample = slice(0, 300)
    cedar = CedarPeer.scaled(100, matching=4)
    casbin = CasbinPeer.scaled(100, matching=4, parse_once=True)
    for peer in (cedar, casbin):
        got = [peer.decide(r) for r in requests[sample]]
        assert _disagreements(requests[sample], expected[sample], got) == []


def test_scaled_policy_sets_hold_the_extra_rules():
    assert len(CedarPeer.scaled(10).rules) == len(CedarPeer().rules) + 10
    assert scaled_policy_text(10, matching=2).count("redundant-grant-") == 2
    extra = len(CasbinPeer.scaled(10).enforcer.get_policy()) - len(
        CasbinPeer().enforcer.get_policy()
    )
    assert extra == 10


def test_the_requests_reach_every_outcome(expected):
    outcomes = Counter((d["decision"], d["escalate_to"], tuple(d["approvers"])) for d in expected)
    assert {
        ("allow", None, ()),
        ("deny", None, ()),
        ("escalate", "senior_agent", ()),
        ("escalate", "comms_lead", ()),
        ("approval_required", None, ("legal",)),
        ("approval_required", None, ("comms_lead",)),
        ("approval_required", None, ("comms_lead", "legal")),
    } <= set(outcomes)
    assert any(d["sla_breached"] for d in expected)
    assert any(d["respond_by"] is None for d in expected)


# ---- the generator ---------------------------------------------------------------------------


def test_generator_is_deterministic_and_json():
    first = generate(300, seed=11)
    assert first == generate(300, seed=11)
    assert first != generate(300, seed=12)
    assert json.loads(json.dumps(first)) == first


def test_generator_covers_the_edges(requests):
    actors = {r["actor"]["id"] for r in requests}
    assert {"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "zoe"} <= actors
    assert any("care-team" in r["actor"]["groups"] and r["actor"]["id"] == "kim" for r in requests)
    assert {r["channel"] for r in requests} == {"twitter", "facebook", "instagram", "linkedin"}
    assert {r["action"] for r in requests} == {"reply", "post"}
    posts = [r["post"] for r in requests if "post" in r]
    assert {"question", "complaint", "praise", "feature_request", "crisis"} <= {
        p["category"] for p in posts
    }
    assert {9_999, 10_000} <= {p["author_reach"] for p in posts}
    stamps = [r["at"] for r in requests] + [p["received_at"] for p in posts]
    assert all(datetime.fromisoformat(s).tzinfo is not None for s in stamps)
    days = {s[:10] for s in stamps}
    assert {"2026-03-29", "2026-10-25", "2026-12-08", "2026-12-24", "2027-01-06"} <= days
    texts = " ".join(r["content"]["text"] for r in requests)
    assert "GUARANTEED" in texts
    assert "guarantees" in texts
    approvals = [(r["actor"]["id"], a["by"]) for r in requests for a in r.get("approvals", ())]
    assert any(actor == by for actor, by in approvals)
    assert any(r.get("context", {}).get("crisis") is True for r in requests)


# ---- explicit cases from the example policy ----------------------------------------------------


def _reply(
    actor: str,
    sentiment: str = "positive",
    category: str = "question",
    reach: int = 100,
    received: str = "2026-11-27T10:00:00+01:00",
    at: str = "2026-11-27T10:05:00+01:00",
    **extra: Any,
) -> dict[str, Any]:
    request = {
        "actor": {"id": actor, "groups": extra.pop("groups", [])},
        "action": "reply",
        "channel": extra.pop("channel", "twitter"),
        "account": "@acme_help",
        "post": {
            "id": "t-1",
            "sentiment": sentiment,
            "category": category,
            "author_reach": reach,
            "received_at": received,
            "labels": [],
        },
        "content": {"labels": extra.pop("labels", []), "text": extra.pop("text", "Thanks!")},
        "at": at,
    }
    request.update(extra)
    return request


def _post(actor: str, channel: str, at: str, **extra: Any) -> dict[str, Any]:
    request = {
        "actor": {"id": actor, "groups": []},
        "action": "post",
        "channel": channel,
        "account": "acme",
        "content": {"labels": [], "text": "Our new collection is out."},
        "at": at,
    }
    request.update(extra)
    return request


# (name, request, expected): "allow", "deny", "escalate:<role>" or "approval:<role>,<role>".
CASES = [
    ("carol negative reach 9999", _reply("carol", "negative", reach=9_999), "allow"),
    ("carol negative reach 10000", _reply("carol", "negative", reach=10_000), "approval:comms_lead"),
    ("carol viral, dave approved", _reply("carol", "negative", reach=10_000, approvals=[{"by": "dave"}]), "allow"),
    ("carol viral, self-approved", _reply("carol", "negative", reach=10_000, approvals=[{"by": "carol"}]), "approval:comms_lead"),
    ("carol viral price, bob approved", _reply("carol", "negative", reach=50_000, labels=["mentions_price"], approvals=[{"by": "bob"}]), "approval:comms_lead,legal"),
    ("dave negative, viral", _reply("dave", "negative", reach=10_000), "allow"),
    ("alice negative", _reply("alice", "negative"), "escalate:senior_agent"),
    ("care-team member negative", _reply("kim", "negative", groups=["care-team"]), "escalate:senior_agent"),
    ("alice positive", _reply("alice"), "allow"),
    ("alice price", _reply("alice", labels=["mentions_price"]), "approval:legal"),
    ("alice legal claim, erin approved", _reply("alice", labels=["legal_claim"], approvals=[{"by": "erin"}]), "allow"),
    ("heidi price (holds legal)", _reply("heidi", labels=["mentions_price"]), "allow"),
    ("alice complaint at its deadline", _reply("alice", "neutral", "complaint", at="2026-11-27T10:30:00+01:00"), "allow"),
    ("alice complaint 1 s late", _reply("alice", "neutral", "complaint", at="2026-11-27T10:30:01+01:00"), "escalate:senior_agent"),
    ("carol complaint late", _reply("carol", "neutral", "complaint", at="2026-11-27T12:00:00+01:00"), "allow"),
    ("alice crisis post", _reply("alice", "negative", "crisis"), "escalate:comms_lead"),
    ("erin crisis post", _reply("erin", "neutral", "crisis"), "escalate:comms_lead"),
    ("dave crisis post", _reply("dave", "negative", "crisis"), "allow"),
    ("crisis mode: carol", _reply("carol", context={"crisis": True}), "deny"),
    ("crisis mode: dave positive", _reply("dave", context={"crisis": True}), "allow"),
    ("outsider", _reply("zoe"), "deny"),
    ("outsider in an unknown group", _reply("mallory", groups=["press-office"]), "deny"),
    ("guarantee", _reply("carol", text="We GUARANTEE it."), "deny"),
    ("guarantees is not the word", _reply("carol", text="See our guarantees."), "allow"),
    ("grace positive feature request", _reply("grace", category="feature_request"), "allow"),
    ("grace negative feature request", _reply("grace", "negative", "feature_request"), "deny"),
    ("grace question", _reply("grace"), "deny"),
    ("frank replies", _reply("frank"), "deny"),
    ("frank in care-team replies", _reply("frank", groups=["care-team"]), "deny"),
    ("frank linkedin Mon 17:59", _post("frank", "linkedin", "2026-11-23T17:59:00+01:00"), "allow"),
    ("frank linkedin Mon 18:00", _post("frank", "linkedin", "2026-11-23T18:00:00+01:00"), "deny"),
    ("frank twitter in hours", _post("frank", "twitter", "2026-11-23T10:00:00+01:00"), "deny"),
    ("frank instagram, holiday", _post("frank", "instagram", "2026-12-08T10:00:00+01:00"), "deny"),
    ("frank linkedin Saturday", _post("frank", "linkedin", "2026-11-28T10:00:00+01:00"), "deny"),
    ("alice posts", _post("alice", "linkedin", "2026-11-23T10:00:00+01:00"), "deny"),
]  # fmt: skip


def _expected(spec: str) -> tuple[str, list[str], str | None]:
    kind, _, roles = spec.partition(":")
    if kind == "escalate":
        return "escalate", [], roles
    if kind == "approval":
        return "approval_required", roles.split(","), None
    return kind, [], None


@pytest.fixture(scope="module")
def peers(cedar: CedarPeer, casbin_fast: CasbinPeer) -> dict[str, Decide]:
    return {
        "floor": floor.decide,
        "cedar": cedar.decide,
        "cedar-batch": lambda r: cedar.decide_batch([r])[0],
        "casbin": casbin_fast.decide,
    }


@pytest.mark.parametrize("peer", ["floor", "cedar", "cedar-batch", "casbin"])
@pytest.mark.parametrize(
    ("request_", "spec"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_example_policy_case(peers, peer, request_, spec):
    got = peers[peer](request_)
    assert (got["decision"], got["approvers"], got["escalate_to"]) == _expected(spec)


# (received_at, category, respond_by): counted on the office calendar or in real time.
DEADLINES = [
    ("2026-11-27T21:40:00+01:00", "complaint", "2026-11-27T21:10:00Z"),
    ("2026-11-27T10:00:00+01:00", "question", "2026-11-27T13:00:00Z"),
    # Friday 16:00 before the autumn change: 2h on Friday, 2h from Monday 08:00 CET.
    ("2026-10-23T16:00:00+02:00", "question", "2026-10-26T09:00:00Z"),
    # Friday 17:00 before the spring change: 1h on Friday, 7h from Monday 08:00 CEST.
    ("2026-03-27T17:00:00+01:00", "feature_request", "2026-03-30T13:00:00Z"),
    # Received on a Saturday: the clock starts at Monday's opening.
    ("2026-11-28T11:00:00+01:00", "question", "2026-11-30T11:00:00Z"),
    # Monday 17:00 before the 8 December holiday: 1h on Monday, 3h on Wednesday.
    ("2026-12-07T17:00:00+01:00", "question", "2026-12-09T10:00:00Z"),
    # Exhausting the budget exactly at closing: the deadline is the closing instant.
    ("2026-11-27T14:00:00+01:00", "question", "2026-11-27T17:00:00Z"),
    ("2026-12-23T09:00:00+01:00", "praise", "2026-12-24T08:00:00Z"),
    ("2026-12-23T09:00:00+01:00", "partnership", None),
]


@pytest.mark.parametrize(("received", "category", "respond_by"), DEADLINES)
def test_floor_deadlines(received, category, respond_by):
    decided = floor.decide(_reply("carol", category=category, received=received, at=received))
    assert decided["respond_by"] == respond_by
    assert decided["sla_breached"] is False


def test_a_new_post_has_no_deadline():
    decided = floor.decide(_post("frank", "linkedin", "2026-11-23T10:00:00+01:00"))
    assert decided["respond_by"] is None
