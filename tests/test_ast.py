"""The tree's shared machinery: one generic walker, clause spans, and spans outside equality."""

from __future__ import annotations

import typing
from dataclasses import fields

import pytest

from replygate.policy_dsl import ast
from replygate.policy_dsl.formatter import format_policy
from replygate.policy_dsl.parser import parse_policy
from replygate.policy_dsl.source import UNKNOWN_SPAN

POLICY = """\
role agent
role lead extends agent
channel twitter
calendar office {
    zone "Europe/Vienna"  # the office's zone
    open always
    closed 2026-12-24
}
rule r {
    allow
    on any  # every action
    by anyone
    when actor is lead and not (context.crisis or post.sentiment == negative)
    unless actor is agent
    message "m"  # why
}
"""


@pytest.fixture(scope="module")
def policy() -> ast.PolicyFile:
    return parse_policy(POLICY, "t.policy")


class TestWalker:
    def test_walk_is_pre_order_in_source_order(self, policy: ast.PolicyFile) -> None:
        rule = policy.declarations[-1]
        assert isinstance(rule, ast.Rule)
        kinds = [type(n).__name__ for n in ast.walk(rule.when[0])]
        assert kinds == [
            "And",
            "ActorIs",
            "Name",
            "Not",
            "Or",
            "Truthy",
            "Path",
            "Compare",
            "Path",
            "Literal",
        ]

    def test_find_all_over_a_file(self, policy: ast.PolicyFile) -> None:
        roles = [n.role.value for n in policy.find_all(ast.ActorIs)]
        assert roles == ["lead", "agent"]
        assert [type(n).__name__ for n in ast.find_all(policy, ast.Not, ast.Or)] == ["Not", "Or"]

    def test_spans_and_comments_are_never_children(self, policy: ast.PolicyFile) -> None:
        for node in policy.walk():
            for child in node.iter_children():
                assert isinstance(child, ast.Node)

    def test_every_node_class_declares_its_children_by_its_fields(self) -> None:
        classes = [c for c in vars(ast).values() if isinstance(c, type) and issubclass(c, ast.Node)]
        for cls in classes:
            if cls is ast.Node:
                continue
            for f in fields(cls):  # type: ignore[arg-type]
                spanlike = f.name == "span" or f.name.endswith(("_span", "_spans"))
                assert (not f.compare) == (spanlike or f.name == "comments"), (cls, f.name)

    def test_walk_has_no_recursion_limit(self) -> None:
        expr: ast.Expr = ast.Truthy(ast.Path(("context", "x")))
        for _ in range(5_000):
            expr = ast.Not(expr)
        assert sum(1 for _ in ast.walk(expr)) == 5_002

    def test_flatten(self) -> None:
        a, b, c = (ast.Truthy(ast.Path(("context", n))) for n in "abc")
        nested = ast.And((a, ast.And((b, ast.Or((c, a)))), c))
        assert ast.flatten(nested, ast.And) == [a, b, ast.Or((c, a)), c]


class TestClauseSpans:
    def test_every_clause_carries_its_span(self, policy: ast.PolicyFile) -> None:
        calendar, rule = policy.declarations[3], policy.declarations[4]
        assert isinstance(calendar, ast.Calendar) and isinstance(rule, ast.Rule)
        assert (calendar.zone_span.line, calendar.zone_span.column) == (5, 5)
        assert (calendar.always_span.line, calendar.always_span.column) == (6, 5)
        assert [(s.line, s.column) for s in calendar.closed_spans] == [(7, 5)]
        assert (rule.on_span.line, rule.on_span.column, rule.on_span.end_column) == (11, 5, 11)
        assert (rule.by_span.line, rule.by_span.column) == (12, 5)
        assert [s.line for s in rule.when_spans] == [13]
        assert [s.line for s in rule.unless_spans] == [14]
        assert (rule.message_span.line, rule.message_span.column) == (15, 5)
        assert rule.via_span == UNKNOWN_SPAN

    def test_the_formatter_places_comments_from_the_tree_alone(
        self, policy: ast.PolicyFile
    ) -> None:
        text = format_policy(policy)
        assert "    on any  # every action\n" in text
        assert '    message "m"  # why\n' in text
        assert '    zone "Europe/Vienna"  # the office\'s zone\n' in text

    def test_spans_take_no_part_in_equality(self, policy: ast.PolicyFile) -> None:
        moved = parse_policy("\n\n" + POLICY.replace("    ", "  "), "t.policy")
        assert moved == policy


class TestClosedSets:
    def test_effects_and_operators_are_literal_types(self) -> None:
        assert set(ast.EFFECT_KINDS) == {"allow", "deny", "escalate", "approval_required"}
        assert set(ast.COMPARE_OPS) == {"==", "!=", "<", "<=", ">", ">="}
        assert typing.get_type_hints(ast.Effect)["kind"] == ast.EffectKind
