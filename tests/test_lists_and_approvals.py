"""Issue 13 as a policy author meets it: N approvals, named lists, declared categories and labels,
rules `on`/`via`/`by` leave out in `--explain`, and stale numbers in messages."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from gitrepo import example_sources

from replygate.api.app import create_app
from replygate.cli.main import main
from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.explain import explain
from replygate.engine.loader import check_sources, compile_sources, load_policy
from replygate.engine.models import CheckRequest
from replygate.engine.review import load_side
from replygate.engine.review.rules import declaration_changes, rule_changes
from replygate.policy_dsl.checker import stated_numbers
from replygate.policy_dsl.formatter import format_source
from replygate.policy_dsl.parser import parse_policy
from replygate.policy_dsl.source import PolicyError
from replygate.scenarios.coverage import PolicyCoverage
from replygate.scenarios.values import parse_outcome

ROOT = Path(__file__).resolve().parent.parent

TEAM = """
role agent
role legal
role comms
person ann is agent
person lex is legal
person lee is legal
person lou is legal, comms
person duo is agent, legal
channel twitter, facebook, instagram
rule agents { allow on any by agent message "agents publish" }
"""


def policy(rules: str) -> CompiledPolicy:
    return compile_sources({"t.policy": TEAM + rules})


def request(**overrides: Any) -> CheckRequest:
    data: dict[str, Any] = {
        "actor": {"id": "ann"},
        "action": "reply",
        "channel": "twitter",
        "post": {
            "id": "p",
            "sentiment": "positive",
            "category": "question",
            "author_reach": 10,
            "received_at": "2026-11-27T10:00:00+01:00",
        },
        "at": "2026-11-27T10:05:00+01:00",
    }
    data.update(overrides)
    return CheckRequest.model_validate(data)


def decide(p: CompiledPolicy, **overrides: Any) -> dict[str, Any]:
    return p.decide(request(**overrides)).model_dump(mode="json")


def codes(text: str) -> list[tuple[str, str]]:
    _, diagnostics = check_sources({"t.policy": text})
    return [(d.code, d.message) for d in diagnostics]


# ---- N approvals ---------------------------------------------------------------------------------

TWO_LEGAL = 'rule two { require 2 approvals from legal on any by anyone message "two lawyers" }\n'


class TestApprovals:
    def test_two_approvals_from_other_people(self) -> None:
        p = policy(TWO_LEGAL)
        assert decide(p)["approvals_missing"] == {"legal": 2}
        one = decide(p, approvals=[{"by": "lex"}])
        assert (one["decision"], one["approvers"], one["approvals_missing"]) == (
            "approval_required",
            ["legal"],
            {"legal": 1},
        )
        both = decide(p, approvals=[{"by": "lex"}, {"by": "lee"}])
        assert (both["decision"], both["approvals_missing"]) == ("allow", {})

    def test_the_actor_who_holds_the_role_counts_as_one(self) -> None:
        p = policy(TWO_LEGAL)
        assert decide(p, actor={"id": "duo"})["approvals_missing"] == {"legal": 1}
        assert decide(p, actor={"id": "duo"}, approvals=[{"by": "lex"}])["decision"] == "allow"

    def test_one_person_counts_once(self) -> None:
        decision = decide(policy(TWO_LEGAL), approvals=[{"by": "lex"}, {"by": "lex"}])
        assert decision["approvals_missing"] == {"legal": 1}
        notes = [r["message"] for r in decision["reasons"] if r["code"] == "approval_ignored"]
        assert notes == [
            "approval by lex ignored: lex already approved, and each approval must come "
            "from a different person"
        ]

    def test_self_approval_does_not_count(self) -> None:
        decision = decide(policy(TWO_LEGAL), actor={"id": "duo"}, approvals=[{"by": "duo"}])
        assert decision["approvals_missing"] == {"legal": 1}

    def test_rules_for_one_role_combine_to_the_largest_n(self) -> None:
        p = policy(
            TWO_LEGAL + 'rule one { require approval from legal on any by anyone message "x" }'
        )
        decision = decide(p, approvals=[{"by": "lex"}])
        assert decision["approvals_missing"] == {"legal": 1}
        # the rule that needs one approval is met; only the rule needing two is still waiting
        assert [r["rule"] for r in decision["reasons"]] == ["two"]

    def test_n_applies_to_each_role_and_one_approval_counts_for_several(self) -> None:
        p = policy('rule r { require 2 approvals from legal, comms on any by anyone message "x" }')
        decision = decide(p, approvals=[{"by": "lou"}])
        assert decision["approvers"] == ["comms", "legal"]
        assert decision["approvals_missing"] == {"comms": 1, "legal": 1}

    def test_one_approval_keeps_todays_meaning(self) -> None:
        p = policy('rule r { require approval from legal on any by anyone message "x" }')
        assert decide(p)["approvals_missing"] == {"legal": 1}
        assert decide(p, actor={"id": "duo"})["decision"] == "allow"
        assert decide(p, approvals=[{"by": "lex"}])["approvals_missing"] == {}

    @pytest.mark.parametrize("count", ["0", "101", "1.5"])
    def test_a_bad_number_of_approvals_is_an_error(self, count: str) -> None:
        with pytest.raises(PolicyError) as error:
            parse_policy(f"rule r {{ require {count} approvals from legal on any by anyone }}")
        assert error.value.diagnostics[0].code == "bad-number"


# ---- named lists -----------------------------------------------------------------------------------

COMPETITORS = """
list competitors "Acme Rival", "Rival Corp"
list social [twitter, facebook]
rule competitors-need-comms {
    require approval from comms
    on any
    by anyone
    when content.text mentions any of competitors
    message "competitors"
}
rule social-is-denied-on-posts {
    deny
    on post
    by anyone
    when channel in social
    message "no posts on social"
}
"""


class TestLists:
    @pytest.mark.parametrize(
        ("text", "mentioned"),
        [
            ("acme  rival", True),
            ("Unlike ACME RIVAL, we…", True),
            ("acme\u00a0rival", True),
            ("acme\n\trival", True),
            ("(rival corp)", True),
            ("AcmeRivalry", False),
            ("Rival Corporation", False),
            ("acme rivalé", False),
            ("éacme rival", False),
            ("acme_rival", False),
            ("x_acme rival", False),
            ("acme rival2", False),
            ("acmerival", False),
            ("", False),
        ],
    )
    def test_mentions_matches_whole_phrases_in_any_case_and_spacing(
        self, text: str, mentioned: bool
    ) -> None:
        decision = decide(policy(COMPETITORS), content={"text": text})
        assert (decision["decision"] == "approval_required") is mentioned

    def test_phrases_are_taken_literally(self) -> None:
        p = policy(
            'list odd "a.b", "C++"\nrule r { deny on any by anyone when content.text mentions any of odd message "x" }'
        )
        assert decide(p, content={"text": "axb"})["decision"] == "allow"
        assert decide(p, content={"text": "we like a.b"})["decision"] == "deny"
        assert decide(p, content={"text": "c++ rocks"})["decision"] == "deny"

    def test_post_text_can_be_searched_and_a_missing_text_mentions_nothing(self) -> None:
        p = policy(
            'list odd "acme"\nrule r { deny on any by anyone when post.text mentions any of odd message "x" }'
        )
        with_text = dict(request().post.model_dump(mode="json"), text="ACME!")  # type: ignore[union-attr]
        assert decide(p, post=with_text)["decision"] == "deny"
        assert decide(p)["decision"] == "allow"

    def test_symbol_lists_work_where_brackets_do(self) -> None:
        p = policy(COMPETITORS)
        assert decide(p, action="post", post=None, channel="facebook")["decision"] == "deny"
        assert decide(p, action="post", post=None, channel="instagram")["decision"] == "allow"
        negated = policy(COMPETITORS.replace("channel in social", "channel not in social"))
        assert decide(negated, action="post", post=None, channel="instagram")["decision"] == "deny"

    def test_list_errors(self) -> None:
        found = codes(
            TEAM
            + COMPETITORS
            + """
list social [instagram]
rule a { deny on any by anyone when channel in socal message "x" }
rule b { deny on any by anyone when channel in competitors message "x" }
rule c { deny on any by anyone when content.text mentions any of social message "x" }
rule d { deny on any by anyone when post.author_reach mentions any of competitors message "x" }
list bad_channels [twitter, tiktok]
rule e { deny on any by anyone when channel in bad_channels message "x" }
"""
        )
        assert ("duplicate", "list 'social' is defined twice; first at t.policy:14:6") in found
        assert ("unknown-list", "unknown list 'socal'") in found
        assert any(c == "wrong-list-kind" and "holds phrases" in m for c, m in found)
        assert any(c == "wrong-list-kind" and "holds values" in m for c, m in found)
        assert (
            "type-mismatch",
            "'mentions' needs text, but 'post.author_reach' is number",
        ) in found
        assert ("unknown-value", "'channel' is never 'tiktok'") in found


# ---- declared categories and labels --------------------------------------------------------------

DECLARED = """
category complaint, question, praise
label mentions_price, legal_claim
"""


class TestDeclaredVocabulary:
    def test_undeclared_values_in_rules_are_errors_with_did_you_mean(self) -> None:
        found = codes(
            TEAM
            + DECLARED
            + """
list cats [complaint, praize]
respond to questoin within 4h
rule a { deny on reply by anyone when post.category == praize message "x" }
rule b { deny on reply by anyone when post.category in [question, complant] message "x" }
rule c { deny on any by anyone when content has label mentions_prize message "x" }
rule d { deny on reply by anyone when post has label legal_claims message "x" }
rule e { deny on reply by anyone when post.category in cats message "x" }
rule f { deny on any by anyone when actor.groups has label anything-goes message "x" }
unit product
share question, feature_requests with product
"""
        )
        errors = [m for c, m in found if c == "unknown-value"]
        assert errors == [
            "category 'questoin' is not declared",
            "'post.category' is never 'praize'",
            "'post.category' is never 'complant'",
            "label 'mentions_prize' is not declared",
            "label 'legal_claims' is not declared",
            "'post.category' is never 'praize'",
            "category 'feature_requests' is not declared",  # a share: it shared nothing
        ]

    def test_a_policy_that_declares_none_accepts_any_word(self) -> None:
        p = policy('rule r { deny on reply by anyone when post.category == spam message "x" }')
        assert p.undeclared_values(request(content={"labels": ["whatever"]})) == []
        assert decide(p)["decision"] == "allow"

    def test_undeclared_values_in_a_request_name_the_field(self) -> None:
        p = policy(DECLARED)
        post = dict(request().post.model_dump(mode="json"), category="shipping", labels=["vip"])  # type: ignore[union-attr]
        found = p.undeclared_values(request(post=post, content={"labels": ["legal_claim", "x"]}))
        assert found == [
            {
                "field": "post.category",
                "message": "category 'shipping' is not declared in the policy; "
                "declared categories: complaint, praise, question",
            },
            {
                "field": "content.labels.1",
                "message": "label 'x' is not declared in the policy; "
                "declared labels: legal_claim, mentions_price",
            },
            {
                "field": "post.labels.0",
                "message": "label 'vip' is not declared in the policy; "
                "declared labels: legal_claim, mentions_price",
            },
        ]


BUNDLED_REQUEST = {
    "actor": {"id": "alice"},
    "action": "reply",
    "channel": "twitter",
    "post": {
        "id": "t-1",
        "sentiment": "positive",
        "category": "shipping",
        "author_reach": 10,
        "received_at": "2026-11-27T10:00:00+01:00",
    },
    "at": "2026-11-27T10:05:00+01:00",
}


def test_the_api_refuses_an_undeclared_category_with_422(tmp_path: Path) -> None:
    from test_api import auth, make_settings

    with TestClient(create_app(make_settings(tmp_path))) as client:
        response = client.post("/v1/check", json=BUNDLED_REQUEST, headers=auth("checker"))
        assert response.status_code == 422
        (field,) = response.json()["fields"]
        assert field["field"] == "post.category"
        assert "complaint, crisis, feature_request, other, praise, question" in field["message"]
        batch = client.post(
            "/v1/check/batch", json={"requests": [BUNDLED_REQUEST]}, headers=auth("checker")
        )
        assert batch.json()["decisions"][0]["error"]["fields"][0]["field"] == "post.category"


def test_the_cli_refuses_an_undeclared_label(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = dict(BUNDLED_REQUEST, content={"labels": ["spam"]})
    bad["post"] = dict(BUNDLED_REQUEST["post"], category="question")  # type: ignore[arg-type]
    stdin = io.TextIOWrapper(io.BytesIO(json.dumps(bad).encode()), "utf-8")  # as a real stdin
    monkeypatch.setattr("sys.stdin", stdin)
    code = main(["check", "--policy", str(ROOT / "policies"), "--request", "-"])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("content.labels.0: label 'spam' is not declared in the policy")


# ---- explain why not -----------------------------------------------------------------------------


def test_explain_lists_the_rules_on_via_and_by_leave_out() -> None:
    p = compile_sources(
        {
            "t.policy": TEAM
            + """
role intern
rule interns-on-instagram { allow on reply via instagram by intern message "x" }
rule interns-post { allow on post by intern message "x" }
"""
        }
    )
    text = explain(p, request())
    assert "not targeted: 2 rules leave out this request by on, via or by" in text
    assert "left out  interns-on-instagram  [allow]  channel twitter not in: instagram" in text
    assert "left out  interns-post  [allow]  action reply not in: post" in text
    intern = explain(p, request(channel="instagram"))
    assert "left out  interns-on-instagram  [allow]  actor holds none of: intern" in intern


# ---- stale messages -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "numbers"),
    [
        ("10,000 or more followers", [10000.0]),
        ("more than 50k followers", [50000.0]),
        ("2.5k", [2500.0]),
        ("over 250 followers", [250.0]),
        ("at most 99 posts", []),
        ("Mon-Fri 08:00-18:00, closed on 2026-12-24 and 24.12.2026", []),
        ("10km away, version v1234", []),
        # Found by the docs audit: "10 000" was read as 000, a stale number.
        ("10 000 or more followers", [10000.0]),
        ("10\u202f000, 10\u00a0000 and 2 500 000", [10000.0, 10000.0, 2500000.0]),
        ("10'000 oder 1\u2019000\u2019000", [10000.0, 1000000.0]),
        ("10.000 Follower", []),
    ],
)
def test_the_numbers_a_message_states(message: str, numbers: list[float]) -> None:
    assert [value for _, value in stated_numbers(message)] == numbers


def test_a_stale_number_in_a_message_is_a_warning_that_a_comment_silences() -> None:
    rule = """
rule big {
    deny
    on reply
    by anyone
    when post.author_reach >= 50000
    message "Authors with 10,000 or more followers need care."
}
"""
    found = codes(TEAM + rule)
    assert (
        "stale-message",
        "rule 'big' says 10,000 in its message, but its conditions compare with 50000",
    ) in found
    silenced = rule.replace("    deny\n", "    deny  # lint-ignore: stale-message\n")
    assert not [c for c, _ in codes(TEAM + silenced) if c == "stale-message"]
    fixed = rule.replace("10,000", "50,000")
    assert not [c for c, _ in codes(TEAM + fixed) if c == "stale-message"]


def test_fmt_keeps_a_lint_ignore_written_in_a_rules_header_in_force() -> None:
    """`rule # lint-ignore: stale-message` then the name: fmt moves a comment inside a header
    that spans lines above the rule, and the warning came back (`lint --strict` failed only
    after `fmt`). The comment lines directly above a rule count as its own."""
    body = (
        "    deny\n    on reply\n    by anyone\n    when post.author_reach >= 50000\n"
        '    message "Authors with 10,000 or more followers need care."\n}\n'
    )
    rule = "rule # lint-ignore: stale-message\n    big {\n" + body
    formatted = format_source(TEAM + rule)
    assert "# lint-ignore: stale-message\nrule big {" in formatted
    for text in (TEAM + rule, formatted):
        assert not [c for c, _ in codes(text) if c == "stale-message"], text
    # Above, but with another declaration between: not this rule's.
    apart = TEAM + "# lint-ignore: stale-message\nrole extra\nrule big {\n" + body
    assert [c for c, _ in codes(apart) if c == "stale-message"]


# ---- fmt, diff, coverage, scenarios ------------------------------------------------------------------


def test_fmt_round_trips_the_new_syntax() -> None:
    text = (
        'list competitors "Acme Rival" ,"Rival Corp"\nlist social [ twitter,facebook ]\n'
        "category complaint,question\nlabel mentions_price\n"
        "rule r { require 1 approval from legal on any by anyone when channel not in social }\n"
        "rule s { require 2 approval from legal on any by anyone "
        "when content.text mentions any of competitors }\n"
    )
    formatted = format_source(text)
    assert (
        'list competitors "Acme Rival", "Rival Corp"\nlist social [twitter, facebook]\n'
        in formatted
    )
    assert "    require approval from legal\n" in formatted
    assert "    require 2 approvals from legal\n" in formatted
    assert "    when content.text mentions any of competitors\n" in formatted
    assert parse_policy(formatted).declarations == parse_policy(text).declarations
    assert format_source(formatted) == formatted


def test_diff_reports_lists_categories_labels_and_n() -> None:
    base = example_sources()
    head = dict(base)
    vocabulary = "policies/vocabulary.policy"
    head[vocabulary] = (
        head[vocabulary]
        .replace('"Rival Corp"', '"Rival Corp", "Contoso"')
        .replace("crisis, other", "crisis")
        .replace("apology", "apology, vip")
    )
    safety = "policies/safety.policy"
    head[safety] = head[safety].replace("require 2 approvals", "require 3 approvals")
    old, new = load_side("base", "main", base), load_side("head", "WORKTREE", head)
    changes = {(c.kind, c.name, c.change): c for c in declaration_changes(old, new)}
    listed = changes[("list", "competitors", "changed")]
    assert [(f.field, f.after) for f in listed.fields] == [
        ("values", '"Acme Rival", "Rival Corp", "Contoso"')
    ]
    assert ("category", "other", "removed") in changes
    assert ("label", "vip", "added") in changes
    (rule,) = rule_changes(old, new)
    assert [(f.field, f.before, f.after) for f in rule.fields] == [
        ("effect", "require 2 approvals from legal", "require 3 approvals from legal")
    ]


def test_coverage_counts_the_branches_of_list_conditions() -> None:
    p = policy(COMPETITORS)
    coverage = PolicyCoverage(p, "t")
    coverage.record(request(content={"text": "Acme Rival"}))
    report = {r.rule: r for r in coverage.report().rules}
    assert report["competitors-need-comms"].total == 3
    assert [m.never for m in report["competitors-need-comms"].missing] == ["never false"]
    coverage.record(request(action="post", post=None, channel="facebook"))
    coverage.record(request(action="post", post=None, channel="instagram"))
    report = {r.rule: r for r in coverage.report().rules}
    assert report["competitors-need-comms"].missing == []
    assert report["social-is-denied-on-posts"].missing == []


def test_the_scenario_phrase_for_several_approvals() -> None:
    expected = parse_outcome("needs 2 approvals from legal")
    assert (expected.decision, expected.roles, expected.count) == (
        "approval_required",
        ("legal",),
        2,
    )
    assert parse_outcome("needs 1 more approval from legal").count == 1
    assert parse_outcome("needs approval from legal").count is None


def test_the_bundled_policy_boundaries(example_policy: CompiledPolicy) -> None:
    bundled = load_policy(ROOT / "policies")

    def ask(actor: str, **content: Any) -> dict[str, Any]:
        data = dict(BUNDLED_REQUEST, actor={"id": actor}, content=content)
        data["post"] = dict(BUNDLED_REQUEST["post"], category="question")  # type: ignore[arg-type]
        return bundled.decide(CheckRequest.model_validate(data)).model_dump(mode="json")

    assert ask("alice", text="acme  rival")["approvers"] == ["marketing"]
    assert ask("alice", text="AcmeRivalry")["decision"] == "allow"
    assert ask("alice", text="Rival Corporation")["decision"] == "allow"
    assert ask("heidi", labels=["legal_threat"])["approvals_missing"] == {"legal": 1}
    assert ask("alice", labels=["legal_threat"])["approvals_missing"] == {"legal": 2}


def test_the_list_benchmark_runs_both_policies_on_the_same_requests() -> None:
    from bench.bench_lists import phrases, run

    assert len(set(phrases(200))) == 200
    result = run(count=50, request_count=40, rounds=2)
    assert (result["phrases"], result["decisions_per_policy"]) == (50, 80)
    assert {"median_us_without_rule", "added_us_median_of_pairs"} <= result.keys()


def test_diff_finds_the_decisions_a_new_phrase_or_a_larger_n_changes() -> None:
    from replygate.engine.review import compare

    base = example_sources()
    head = dict(base)
    vocabulary = "policies/vocabulary.policy"
    head[vocabulary] = head[vocabulary].replace('"Rival Corp"', '"Rival Corp", "Contoso"')
    safety = "policies/safety.policy"
    head[safety] = head[safety].replace("require 2 approvals", "require 3 approvals")
    review = compare(load_side("base", "main", base), load_side("head", "WORKTREE", head))
    examples = [e for g in review.impact.groups for e in g.examples]
    assert any("Contoso" in e.request.content.text for e in examples)
    assert any(e.rule_after == "legal-threats-need-two-lawyers" for e in examples)
    assert review.impact.widening == 0


def test_a_scenario_with_an_undeclared_label_fails_with_the_same_message(tmp_path: Path) -> None:
    from test_scenarios import replygate, write_project

    policy = TEAM + "label mentions_price\ncategory question\n"
    feature = """Feature: labels
  Scenario: a label the policy does not declare
    Given a positive question on twitter, received at 2026-11-27 10:00 Europe/Vienna
    And the reply is labelled shiping
    When ann replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is allowed
"""
    write_project(tmp_path, {"labels.feature": feature}, policy)
    done = replygate("test", cwd=tmp_path)
    assert done.returncode != 0
    assert (
        "content.labels.0: label 'shiping' is not declared in the policy; "
        "declared labels: mentions_price" in done.stdout + done.stderr
    )


def test_explain_shows_every_rule_either_as_a_candidate_or_left_out() -> None:
    """Rules the index keeps out by an equality (sentiment, category) were in neither list:
    `agents-reply-to-positive-and-neutral` vanished for a negative post, and 15 of 17 rules
    were accounted for."""
    from replygate.engine.loader import load_policy

    policy = load_policy(ROOT / "policies")
    post = dict(BUNDLED_REQUEST["post"], sentiment="negative", category="complaint")  # type: ignore[arg-type]
    text = explain(policy, CheckRequest.model_validate(dict(BUNDLED_REQUEST, post=post)))
    named = [
        line.removeprefix("  left out").split()[0 if line.startswith("  left out") else 1]
        for line in text.splitlines()
        if line.startswith(("  skipped ", "  MATCHED ", "  left out "))
    ]
    assert sorted(named) == sorted(rule.name for rule in policy.rules)
    assert f"candidate rules: {len(policy.rules) - 7} of {len(policy.rules)}" in text
    assert "skipped  agents-reply-to-positive-and-neutral" in text
    assert "fails  post.sentiment in [positive, neutral]  (post.sentiment is 'negative')" in text
    assert "skipped  crisis-post-goes-to-comms-lead" in text
