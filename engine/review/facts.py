"""What a rule's conditions mention: the attributes, values, labels, patterns and clocks.

Every version of a rule (BASE's and HEAD's) is read together, so the space tries the values
either version turns on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from replygate.policy_dsl import ast
from replygate.policy_dsl.schema import LABEL_OWNERS

if TYPE_CHECKING:
    from replygate.engine.review import Side


@dataclass
class Facts:
    """What a rule's conditions mention, collected over every version of the rule."""

    values: dict[str, list[ast.Literal]] = field(default_factory=dict)
    labels: dict[str, list[str]] = field(default_factory=dict)
    patterns: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    clocks: list[str] = field(default_factory=list)
    deadline: bool = False
    phrases: dict[str, list[str]] = field(default_factory=dict)  # `mentions any of` lists


# A phrase list can hold thousands of phrases; a few of them show whether the rule reacts.
PHRASES_TRIED = 3


def facts(
    rules: Iterable[ast.Rule],
    lists: Mapping[str, ast.NamedList] | None = None,
    also: Iterable[ast.Expr] = (),
) -> Facts:
    """What the conditions of `rules` (and the expressions `also`) mention; a named list stands
    for its values."""
    found = Facts()
    conditions = [c for rule in rules for c in (*rule.when, *rule.unless)]
    for node in ast.walk((*conditions, *also)):
        _collect(node, found)  # type: ignore[arg-type]
        _collect_list(node, found, lists or {})  # type: ignore[arg-type]
    return found


def response_conditions(sides: Sequence[Side]) -> list[ast.Expr]:
    """The `when` conditions of every response time on either side: they choose the deadline a
    `deadline passed` rule is held to (`within 10m when post.author_reach >= 10000`)."""
    found: list[ast.Expr] = []
    for side in sides:
        for response in side.result.symbols.response_rules:
            found += [c for c in response.when if c not in found]
    return found


def _collect_list(node: ast.Expr, found: Facts, lists: Mapping[str, ast.NamedList]) -> None:
    """A named list stands for its values (`in`) or a few of its phrases (`mentions any of`)."""
    if not isinstance(node, ast.InList | ast.Mentions) or node.list.value not in lists:
        return
    named = lists[node.list.value]
    if isinstance(node, ast.InList):
        found.values.setdefault(node.path.dotted, []).extend(named.values)
    else:
        # `named_lists` already chose the phrases to try (every changed one, a few others).
        phrases = [str(v.value) for v in named.values]
        found.phrases.setdefault(node.path.dotted, []).extend(phrases)


def named_lists(sides: Sequence[Side]) -> dict[str, ast.NamedList]:
    """Every named list of either side with the values of both, those on one side only first."""
    base, head = (side.result.symbols.lists.items for side in sides)
    found: dict[str, ast.NamedList] = {}
    for name in dict.fromkeys([*head, *base]):
        versions = [side[name].values for side in (head, base) if name in side]
        shared = set(versions[0]).intersection(*versions[1:])
        common = [v for v in versions[0] if v in shared]
        changed = [v for values in versions for v in values if v not in shared]
        kind = (head.get(name) or base[name]).kind
        if kind == "text":
            # Every phrase the change adds or removes is tried (three added ones pushed a
            # removed one out, and its widening went unseen), and a few that both sides share.
            common = common[:PHRASES_TRIED]
        found[name] = ast.NamedList(ast.Name(name), kind, tuple(dict.fromkeys(changed + common)))
    return found


def _collect(node: ast.Expr, found: Facts) -> None:
    match node:
        case ast.Compare(path=path, value=value):
            found.values.setdefault(path.dotted, []).append(value)
        case ast.Member(path=path, values=values):
            found.values.setdefault(path.dotted, []).extend(values)
        case ast.HasLabel(path=path, label=label):
            owner = LABEL_OWNERS.get(path.dotted, path.dotted)
            found.labels.setdefault(owner, []).append(str(label.value))
        case ast.Matches(path=path, pattern=pattern, ignore_case=ignore_case):
            found.patterns.setdefault(path.dotted, []).append((pattern, ignore_case))
        case ast.Truthy(path=path):
            found.flags.append(path.dotted)
        case ast.NowIn(name=name):
            found.clocks.append(name.value)
        case ast.DeadlinePassed():
            found.deadline = True


def asks_duty(rules: Iterable[ast.Rule]) -> bool:
    """Whether a rule asks `actor on duty`: then who the actor is matters, not only their roles."""
    return any(
        isinstance(node, ast.ActorOnDuty)
        for rule in rules
        for node in ast.walk((*rule.when, *rule.unless))
    )


def rule_versions(sides: Sequence[Side]) -> dict[str, list[ast.Rule]]:
    """Every rule name with its versions (HEAD's first); renamed twins join their old name."""
    versions: dict[str, list[ast.Rule]] = {}
    for side in reversed(sides):
        for name, rule in side.result.symbols.rules.items.items():
            found = versions.setdefault(name, [])
            if rule not in found:
                found.append(rule)
    return versions


def mentioned(
    rules: Iterable[Sequence[ast.Rule]],
    dotted: str,
    lists: Mapping[str, ast.NamedList] | None = None,
) -> set[str]:
    """Every value any rule compares the attribute `dotted` with."""
    found: set[str] = set()
    for versions in rules:
        found |= {str(v.value) for v in facts(versions, lists).values.get(dotted, [])}
    return found
