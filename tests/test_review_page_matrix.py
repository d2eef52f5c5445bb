"""The Team page's matrices decide as `replygate check` does: per person where a condition reads
who the actor is, per account where a rule names one, and they say which reach thresholds
they leave out."""

from __future__ import annotations

from datetime import datetime

from replygate.api.review_page.views import left_out
from replygate.engine.authority import authority_matrix, person_rows
from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.loader import compile_sources
from replygate.engine.models import CheckRequest

TEAM = """
role agent
role senior_agent extends agent
role comms_lead extends senior_agent
person alice is agent
person bob is agent
person carol is senior_agent
person ivan is senior_agent
channel twitter, facebook
category question
rule agents-reply {
    allow
    on reply
    by agent
}
"""

ON_DUTY = """
roster care-evenings {
    members carol, ivan
    zone "Europe/Vienna"
    open mon-fri 18:00-22:00
    rotate every 1w from 2026-11-30 08:00
}
rule off-duty-negative-goes-to-comms {
    escalate to comms_lead
    on reply
    by senior_agent
    when post.sentiment == negative
    unless actor on duty
}
"""

BOB_PATTERN = """
rule not-bob {
    deny
    on reply
    by agent
    when actor.id matches /^bob$/
}
"""

AT = datetime.fromisoformat("2026-12-02T19:00:00+01:00")  # carol's week, 19:00: carol on duty


def compiled(*texts: str) -> CompiledPolicy:
    return compile_sources({"t.policy": "\n".join(texts)})


def checked(policy: CompiledPolicy, person: str, sentiment: str, channel: str = "twitter") -> str:
    request = CheckRequest.model_validate(
        {
            "actor": {"id": person},
            "action": "reply",
            "channel": channel,
            "at": AT.isoformat(),
            "post": {
                "id": "p",
                "sentiment": sentiment,
                "category": "question",
                "author_reach": 0,
                "received_at": AT.isoformat(),
            },
        }
    )
    decision = policy.decide(request)
    if decision.decision == "escalate":
        return f"escalate to {decision.escalate_to}"
    return decision.decision


class TestPersonsDecidedAsThemselves:
    def test_actor_on_duty_is_decided_per_person(self) -> None:
        """ivan (off duty) showed carol's allow: persons with one role set were decided once."""
        policy = compiled(TEAM, ON_DUTY)
        matrix = person_rows(policy, AT)
        key = "reply:negative:question:0"
        assert checked(policy, "carol", "negative") == "allow"
        assert checked(policy, "ivan", "negative") == "escalate to comms_lead"
        assert matrix.cell("carol", key).text == "allow"
        assert matrix.cell("ivan", key).text == "escalate to comms_lead"

    def test_any_test_of_actor_id_is_decided_per_person(self) -> None:
        """`actor.id matches /^bob$/` copied alice's allow into bob's row."""
        policy = compiled(TEAM, BOB_PATTERN)
        matrix = person_rows(policy, AT)
        key = "reply:positive:question:0"
        assert matrix.cell("alice", key).text == checked(policy, "alice", "positive") == "allow"
        assert matrix.cell("bob", key).text == checked(policy, "bob", "positive") == "deny"

    def test_people_alike_are_still_decided_once(self) -> None:
        """Sharing stays for people whose roles and person-specific answers agree."""
        from unittest.mock import patch

        from replygate.engine import authority

        policy = compiled(TEAM, ON_DUTY)
        calls: list[str] = []
        real = authority.decide_cell

        def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(args[2])
            return real(*args, **kwargs)

        with patch.object(authority, "decide_cell", counting):
            person_rows(policy, AT)
        assert set(calls) == {"alice", "carol", "ivan"}  # bob shares alice's answers


RULES_AT_MANY_REACHES = """
role agent
person alice is agent
channel twitter
category question
rule a { deny on reply by agent when post.author_reach >= 10000 }
rule b { deny on reply by agent when post.author_reach >= 10000 and post.sentiment == negative }
rule c { deny on reply by agent when post.author_reach >= 20000 }
rule d { deny on reply by agent when post.author_reach >= 20000 and post.sentiment == neutral }
rule e { deny on reply by agent when post.author_reach >= 500000 }
rule f { deny on reply by agent when post.author_reach >= 500000 and post.sentiment == neutral }
rule g { escalate to agent on reply by agent when post.author_reach > 100000 }
rule h { allow on reply by agent }
"""


def test_reach_thresholds_left_out_are_named() -> None:
    """The note said "reach split at 10,000, 20,000, 500,000" while `> 100000` changed answers."""
    note = left_out(compiled(RULES_AT_MANY_REACHES))
    assert note is not None
    assert "reach split at 10,000, 20,000, 500,000" in note
    assert "1 more reach threshold left out" in note and "100,001" in note


ACCOUNTS = """
role agent
person alice is agent
channel twitter, facebook
account "@acme_support" on twitter
account "@acme_news" on twitter
account "@acme_jobs" on twitter
rule support-account {
    allow
    on post
    via twitter
    by agent
    when account == "@acme_support"
}
"""


def test_a_new_post_column_shows_the_answer_per_account_where_they_differ() -> None:
    """Only the first account (@acme_jobs) was decided: the @acme_support allow was invisible."""
    policy = compiled(ACCOUNTS)
    for matrix in (authority_matrix(policy, AT), person_rows(policy, AT)):
        row = "agent" if matrix.rows[0].name != "alice" else "alice"
        cell = matrix.cell(row, "post:twitter")
        assert cell.outcome == "mixed" and cell.text == "depends on the account"
        assert dict(cell.per_channel) == {
            "twitter @acme_support": "allow",
            "twitter @acme_jobs, @acme_news": "deny",
        }
        assert matrix.cell(row, "post:facebook").text == "deny"


def test_a_channel_whose_rules_name_many_accounts_is_decided_once_and_says_so() -> None:
    """Each named account was a decision in every cell: 250 accounts took the role matrix from
    2 s to 400 s (the review of the diff)."""
    from replygate.api.review_page.views import left_out
    from replygate.engine.authority import MAX_ACCOUNT_GROUPS, account_classes
    from replygate.engine.loader import compile_sources

    count = MAX_ACCOUNT_GROUPS + 2
    accounts = "".join(f'account "@a{n}" on twitter\n' for n in range(count))
    grants = "".join(
        f'rule r{n} {{ allow on post via twitter by agent when account == "@a{n}" }}\n'
        for n in range(count)
    )
    policy = compile_sources(
        {"p.policy": "role agent\nperson alice is agent\nchannel twitter\n" + accounts + grants}
    )
    (group,) = account_classes(policy)["twitter"]
    assert len(group) == count
    note = left_out(policy)
    assert note is not None and "the accounts of twitter are decided once" in note
