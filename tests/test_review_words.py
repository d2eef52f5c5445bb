"""The change report in words: a sentence per group, and groups split by the change behind them."""

from __future__ import annotations

from gitrepo import example_sources

from replygate.engine.review import Review, Side, compare, load_side, render
from replygate.engine.review.causes import AUTHORITY, DECLARATIONS, RULES, Cause

CARE = "policies/care.policy"
HOURS = "policies/hours.policy"
TEAM = "policies/team.policy"
SAFETY = "policies/safety.policy"

# Two unrelated edits that both turn denials into allows: product managers may now answer
# negative feature requests, and the ban on promises now only holds in strict mode.
TWO_CAUSES = (
    (
        CARE,
        "when post.category == feature_request and post.sentiment in [positive, neutral]",
        "when post.category == feature_request",
    ),
    (
        SAFETY,
        "    when content.text matches /\\bguaranteed?\\b/i\n",
        "    when content.text matches /\\bguaranteed?\\b/i and context.strict\n",
    ),
)


def sides(*edits: tuple[str, str, str]) -> tuple[Side, Side]:
    base = example_sources()
    head = dict(base)
    for file, old, new in edits:
        assert old in head[file], old
        head[file] = head[file].replace(old, new, 1)
    return load_side("base", "main", base), load_side("head", "WORKTREE", head)


def review(*edits: tuple[str, str, str]) -> Review:
    return compare(*sides(*edits), examples=50)


class TestSentences:
    def test_a_moved_reach_threshold(self) -> None:
        groups = review((CARE, "author_reach >= 10000", "author_reach >= 5000")).impact.groups
        group = next(g for g in groups if str(g.before) == "allow")
        assert group.summary == (
            "Replies to negative posts from authors with 5,000 to 9,999 followers, by carol or ivan: "
            "were allowed, now need approval from comms_lead."
        )

    def test_closing_an_hour_earlier(self) -> None:
        group, _ = review((HOURS, "08:00-18:00", "08:00-17:00")).impact.groups
        assert group.summary == (
            "New posts on instagram or linkedin, by frank (also in care-team), on weekdays between "
            "17:00 and 17:59: "
            "were allowed, are now denied."
        )

    def test_a_second_approver(self) -> None:
        edit = (
            CARE,
            "require approval from comms_lead\n",
            "require approval from comms_lead, legal\n",
        )
        summaries = {g.summary for g in review(edit).impact.groups}
        assert (
            "Replies to negative posts from authors with 10,000 or more followers, by carol or ivan: "
            "needed approval from comms_lead, now need approval from comms_lead and legal."
        ) in summaries

    def test_a_person_gaining_a_role(self) -> None:
        groups = review(
            (TEAM, "person alice is agent", "person alice is senior_agent")
        ).impact.groups
        assert {g.cause for g in groups} == {Cause(AUTHORITY)}
        assert (
            "Replies to negative posts from authors with 10,000 or more followers, by alice: "
            "were escalated to senior_agent, now need approval from comms_lead."
        ) in {g.summary for g in groups}

    def test_the_words_lead_the_text_report(self) -> None:
        report = render(review((CARE, "author_reach >= 10000", "author_reach >= 5000")), "text")
        words = report.index("What changes\n  NARROWING  Replies to negative posts")
        assert words < report.index("Rules: 1 changed") < report.index("Decision impact")


class TestCauses:
    def test_two_unrelated_causes_of_one_outcome_are_two_groups(self) -> None:
        result = review(*TWO_CAUSES)
        widening = [
            g for g in result.impact.groups if (str(g.before), str(g.after)) == ("deny", "allow")
        ]
        by_cause = {g.cause: g for g in widening}
        promises = by_cause[Cause(RULES, ("no-promises-of-outcomes",))]
        answers = by_cause[Cause(RULES, ("product-managers-answer-feature-requests",))]
        assert all("guarantee" in e.case.content_text.lower() for e in promises.examples)
        assert {e.case.actor for e in answers.examples} == {"grace"}
        assert all(
            (e.case.category, e.case.sentiment) == ("feature_request", "negative")
            for e in answers.examples
        )
        assert answers.summary == (
            "Replies to negative feature request posts, by grace: were denied, are now allowed."
        )
        assert 'with a text like "We guarantee it."' in promises.summary

    def test_the_cause_is_named_in_each_group_heading(self) -> None:
        result = review(*TWO_CAUSES)
        text = render(result, "text")
        assert (
            "because: rule no-promises-of-outcomes changed (conditions)" in text
            and "because: rule product-managers-answer-feature-requests changed (conditions)"
            in text
        )
        markdown = render(result, "markdown")
        assert "| because | requests |" in markdown
        assert "because: rule product-managers-answer-feature-requests changed" in markdown

    def test_a_calendar_change_is_a_declaration_cause(self) -> None:
        result = review((HOURS, "08:00-18:00", "08:00-17:00"))
        assert {group.cause for group in result.impact.groups} == {Cause(DECLARATIONS)}
        assert "because: declarations: calendar office changed" in render(result, "text")
