"""The Changes page says what `replygate diff` says: the banner of a change that only opens a
coverage gap, examples in the CLI's words, and which posts a coverage change is about."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from test_review_page import repo_client, sign_in

from replygate.api.review_page.changes import widening_text
from replygate.engine.loader import compile_sources
from replygate.engine.review.coverage import coverage_changes, coverage_json, coverage_text

ROOT = Path(__file__).resolve().parent.parent


def test_a_change_that_only_opens_a_gap_says_so_in_the_banner() -> None:
    """The banner read "Widening: 0 decisions become more permissive"."""
    data = {"summary": {"widens": True, "widening": 0}, "coverage": {"opened": True}}
    words = widening_text(data)
    assert words is not None
    assert "0 decisions" not in words
    assert words.startswith("a coverage gap opens (below): some posts can no longer be answered")
    both = widening_text({"summary": {"widens": True, "widening": 2}, "coverage": {"opened": True}})
    assert both == (
        "2 decisions become more permissive; and a coverage gap opens (below): some posts can "
        "no longer be answered in time by anyone on duty"
    )
    assert widening_text({"summary": {"widens": False, "widening": 0}}) is None


def test_the_changes_page_shows_the_gap_banner_and_examples_as_the_cli_does(
    tmp_path: Path,
) -> None:
    from gitrepo import commit_policies, example_sources, make_repo

    repo = make_repo(tmp_path)
    first = example_sources()
    commit_policies(repo, first, "first")
    second = dict(first)
    hours = second["policies/hours.policy"]
    second["policies/hours.policy"] = hours.replace("complaint within 30m", "complaint within 20m")
    commit_policies(repo, second, "shorter")
    third = dict(first)
    care = third["policies/care.policy"]
    third["policies/care.policy"] = care.replace("author_reach >= 10000", "author_reach >= 5000")
    commit_policies(repo, third, "threshold")
    with repo_client(tmp_path, repo) as client:
        sign_in(client)
        gap = client.get("/changes", params={"base": "main~2", "head": "main~1"})
        assert gap.status_code == 200
        assert "0 decisions become more permissive" not in gap.text
        assert "<strong>Widening:</strong> a coverage gap opens (below)" in gap.text
        assert "<strong>complaint (any sentiment; any channel)</strong>" in gap.text
        examples = client.get("/changes", params={"base": "main~1", "head": "main"})
        assert "{&#39;actor&#39;" not in examples.text  # no Python dict
        assert " reply on twitter · negative " in examples.text
        assert "deciding rule: " in examples.text


REACH = """
role agent
role senior_agent extends agent
role comms_lead extends senior_agent
person carol is senior_agent
person dave is comms_lead
channel twitter
category complaint
respond to complaint within 30m
rule senior-agents-answer { allow on reply by senior_agent }
roster care { members carol, dave zone "Europe/Vienna" open mon-fri 08:00-18:00 }
roster comms { members dave zone "Europe/Vienna" open mon-sun 07:00-23:00 }
"""


def test_a_coverage_change_names_the_reach_it_is_about() -> None:
    """Only posts from 50,000 followers lose cover: the text and the page read as all posts."""
    base = compile_sources({"t.policy": REACH})
    head = compile_sources(
        {
            "t.policy": REACH
            + "rule big { escalate to comms_lead on reply by senior_agent "
            + "when post.author_reach >= 50000 }\n"
        }
    )
    start = datetime.fromisoformat("2026-11-30T00:00:00+01:00")
    end = datetime.fromisoformat("2026-12-07T00:00:00+01:00")
    diff = coverage_changes(base, head, start, end)
    assert diff.opened
    text = coverage_text(diff)
    assert "complaint (any sentiment; twitter; 50,000 followers or more)" in text
    (change,) = coverage_json(diff)["changes"]
    assert change["posts"] == "complaint (any sentiment; twitter; 50,000 followers or more)"
