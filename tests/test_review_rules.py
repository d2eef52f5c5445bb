"""Rule, declaration and authority changes between two versions of the example policy."""

from __future__ import annotations

import re
from collections.abc import Mapping

import pytest
from gitrepo import example_sources

from replygate.engine.review import Side, load_side
from replygate.engine.review.rules import (
    authority_changes,
    declaration_changes,
    rule_changes,
    rule_fields,
)

CARE = "policies/care.policy"
TEAM = "policies/team.policy"
HOURS = "policies/hours.policy"
SAFETY = "policies/safety.policy"
ROSTERS = "policies/rosters.policy"


def sides(**edits: tuple[str, str, str]) -> tuple[Side, Side]:
    """BASE is the example policy; HEAD applies each edit (file, old text, new text) once."""
    base = example_sources()
    head = dict(base)
    for file, old, new in edits.values():
        assert old in head[file], old
        head[file] = head[file].replace(old, new, 1)
    return load_side("base", "main", base), load_side("head", "WORKTREE", head)


def changed_fields(changes: list, name: str) -> Mapping[str, tuple[str | None, str | None]]:
    (change,) = [c for c in changes if c.rule == name]
    return {f.field: (f.before, f.after) for f in change.fields}


class TestRuleChanges:
    def test_unchanged_policy_has_no_changes(self) -> None:
        base, head = sides()
        assert rule_changes(base, head) == []
        assert declaration_changes(base, head) == []
        assert len(authority_changes(base, head)) == 0

    def test_a_moved_threshold_is_a_change_of_conditions(self) -> None:
        base, head = sides(edit=(CARE, "author_reach >= 10000", "author_reach >= 5000"))
        (change,) = rule_changes(base, head)
        assert (change.change, change.rule) == ("changed", "viral-negative-needs-comms-lead")
        assert changed_fields([change], change.rule) == {
            "conditions": (
                "when post.sentiment == negative and post.author_reach >= 10000",
                "when post.sentiment == negative and post.author_reach >= 5000",
            )
        }
        assert change.base_at == change.head_at == f"{CARE}:28:1"
        assert "post.author_reach >= 5000" in (change.after or "")

    @pytest.mark.parametrize(
        ("old", "new", "field", "before", "after"),
        [
            (
                "escalate to senior_agent\n    on reply\n    by agent\n    when post.sentiment",
                "escalate to comms_lead\n    on reply\n    by agent\n    when post.sentiment",
                "effect",
                "escalate to senior_agent",
                "escalate to comms_lead",
            ),
            (
                "allow\n    on reply\n    by agent\n",
                "allow\n    on reply, post\n    by agent\n",
                "on",
                "on reply",
                "on reply, post",
            ),
            (
                "allow\n    on reply\n    by agent\n",
                "allow\n    on reply\n    via twitter\n    by agent\n",
                "via",
                "via every channel",
                "via twitter",
            ),
            (
                "allow\n    on reply\n    by agent\n",
                "allow\n    on reply\n    by agent, marketing\n",
                "by",
                "by agent",
                "by agent, marketing",
            ),
            (
                '"Agents may reply to positive and neutral posts on every channel, at any time."',
                '"Agents may reply."',
                "message",
                'message "Agents may reply to positive and neutral posts on every channel, at any time."',
                'message "Agents may reply."',
            ),
        ],
        ids=["effect", "on", "via", "by", "message"],
    )
    def test_each_part_of_a_rule_is_compared(
        self, old: str, new: str, field: str, before: str, after: str
    ) -> None:
        base, head = sides(edit=(CARE, old, new))
        (change,) = rule_changes(base, head)
        assert changed_fields([change], change.rule) == {field: (before, after)}

    def test_a_policy_on_one_line_has_no_rule_changes(self) -> None:
        base = example_sources()
        # Everything on one line per file (comments dropped first, or they would swallow code).
        squashed = {
            path: re.sub(r"\s+", " ", re.sub(r"#[^\n]*", "", text)) for path, text in base.items()
        }
        old, new = load_side("base", "main", base), load_side("head", "x", squashed)
        assert rule_changes(old, new) == []
        assert declaration_changes(old, new) == []

    def test_a_rule_renamed_with_equal_content_is_one_rename(self) -> None:
        base, head = sides(
            edit=(SAFETY, "rule no-promises-of-outcomes", "rule no-guarantees-promised")
        )
        (change,) = rule_changes(base, head)
        assert change.change == "renamed"
        assert (change.old_name, change.rule) == (
            "no-promises-of-outcomes",
            "no-guarantees-promised",
        )

    def test_a_renamed_and_changed_rule_is_removed_and_added(self) -> None:
        base, head = sides(
            name=(SAFETY, "rule no-promises-of-outcomes", "rule no-guarantees"),
            body=(SAFETY, r"/\bguaranteed?\b/i", r"/\bguarantee[ds]?\b/i"),
        )
        kinds = {(c.change, c.rule) for c in rule_changes(base, head)}
        assert kinds == {("added", "no-guarantees"), ("removed", "no-promises-of-outcomes")}

    def test_added_rule_lists_its_parts(self) -> None:
        rule = (
            "\nrule erin-may-post {\n    allow\n    on post\n    via linkedin\n    by legal\n"
            '    message "Legal may post on LinkedIn."\n}\n'
        )
        base, head = sides(edit=(SAFETY, "# Rules that hold", rule + "# Rules that hold"))
        (change,) = rule_changes(base, head)
        assert (change.change, change.rule, change.before) == ("added", "erin-may-post", None)
        fields = changed_fields([change], "erin-may-post")
        assert fields["via"] == (None, "via linkedin")
        assert fields["conditions"] == (None, "")


class TestRuleFields:
    def test_fields_follow_the_canonical_layout(self) -> None:
        base, _ = sides()
        rule = base.result.symbols.rules["crisis-post-goes-to-comms-lead"]
        assert rule_fields(rule) == {
            "effect": "escalate to comms_lead",
            "on": "on reply",
            "via": "via every channel",
            "by": "by anyone",
            "conditions": "when post.category == crisis\nunless actor is comms_lead",
            "message": 'message "Posts about a crisis are answered by the communications lead."',
        }


class TestDeclarationChanges:
    def test_calendar_hours_and_closed_dates(self) -> None:
        base, head = sides(
            hours=(HOURS, "08:00-18:00", "08:00-17:00"),
            closed=(HOURS, "2027-01-06", "2027-01-06, 2027-04-05"),
        )
        (change,) = declaration_changes(base, head)
        assert (change.kind, change.name, change.change) == ("calendar", "office", "changed")
        fields = {f.field: (f.before, f.after) for f in change.fields}
        assert fields["hours"] == ("mon-fri 08:00-18:00", "mon-fri 08:00-17:00")
        assert fields["closed"][1].endswith("2027-01-06, 2027-04-05")

    def test_response_time_channel_and_person(self) -> None:
        base, head = sides(
            sla=(HOURS, "question within 4h during office", "question within 2h during office"),
            channel=(TEAM, "channel twitter,", "channel tiktok, twitter,"),
            person=(TEAM, "person grace is product_manager", "person zoe is agent"),
            roster=(ROSTERS, "members grace", "members zoe"),  # rosters name declared persons
        )
        found = {(d.kind, d.name, d.change) for d in declaration_changes(base, head)}
        assert found == {
            ("response time", "question", "changed"),
            ("channel", "tiktok", "added"),
            ("person", "grace", "removed"),
            ("person", "zoe", "added"),
            ("roster", "product-office", "changed"),  # its members changed with them
        }


class TestAuthority:
    def test_a_wider_role_gives_its_holders_more(self) -> None:
        base, head = sides(
            edit=(TEAM, "role senior_agent extends agent", "role senior_agent extends agent, legal")
        )
        authority = authority_changes(base, head)
        gained = {
            h.holder: [(g.role, g.via) for g in h.gained] for h in authority.holders if h.gained
        }
        assert gained == {
            "carol": [("legal", "extends change: senior_agent now inherits legal")],
            "dave": [("legal", "extends change: comms_lead now inherits legal")],
            "ivan": [("legal", "extends change: senior_agent now inherits legal")],
        }
        roles = {r.role: (r.gained, r.lost) for r in authority.roles}
        assert roles == {"senior_agent": (("legal",), ()), "comms_lead": (("legal",), ())}

    def test_a_person_assigned_a_role(self) -> None:
        base, head = sides(edit=(TEAM, "person alice is agent", "person alice is senior_agent"))
        (holder,) = authority_changes(base, head).holders
        assert holder.holder == "alice"
        assert [(g.role, g.via) for g in holder.gained] == [("senior_agent", "direct assignment")]
        assert holder.lost == ()

    def test_a_group_and_a_person_losing_roles(self) -> None:
        base, head = sides(
            group=(TEAM, "group care-team is agent", "group care-team is marketing"),
            person=(TEAM, "person heidi is agent, legal\n", ""),
            roster=(ROSTERS, "members alice, bob, heidi, judy", "members alice, bob, judy"),
        )
        holders = {
            (h.kind, h.holder): (
                [(g.role, g.via) for g in h.gained],
                [(g.role, g.via) for g in h.lost],
            )
            for h in authority_changes(base, head).holders
        }
        assert holders == {
            ("person", "heidi"): (
                [],
                [("agent", "person removed"), ("legal", "person removed")],
            ),
            ("group", "care-team"): (
                [("marketing", "direct assignment")],
                [("agent", "direct assignment removed")],
            ),
        }
