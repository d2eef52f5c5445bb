"""Authority at a glance: what a holder of each role may do with each kind of post.

A reviewer asks "who may answer a viral complaint without asking anyone?". The matrix answers
it by deciding one request per role and kind of post with the real evaluator, so it can never
disagree with a check:

    kinds of post (sentiment x category x reach band, and `post` per channel)
      x roles (a holder of exactly that role and what it inherits)
      -> the decision with no approvals, on every channel, and the rules that decided it

Reach bands split at the thresholds that rules compare `post.author_reach` with, so every
band is one answer. Persons get the same row, decided as themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache

from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.models import Actor, CheckRequest, Decision
from replygate.policy_dsl import ast

SENTIMENTS = ("negative", "neutral", "positive")
NO_ROLE = ""  # the row of someone who is not on the publishing team
REACH = ("post", "author_reach")
CATEGORY = ("post", "category")


@dataclass(frozen=True, slots=True)
class PostKind:
    """One column: a kind of post (a reply to it), or a new post on one channel."""

    key: str
    action: str
    sentiment: str | None = None
    category: str | None = None
    reach_from: int = 0
    reach_to: int | None = None  # exclusive; None: no upper bound
    channel: str | None = None

    @property
    def label(self) -> str:
        if self.action == "post":
            return f"new post on {self.channel}"
        return f"{self.sentiment} {self.category.replace('_', ' ') if self.category else ''}"

    @property
    def reach_label(self) -> str:
        if self.reach_to is None:
            return "any reach" if self.reach_from == 0 else f"{self.reach_from:,}+ followers"
        if self.reach_from == 0:
            return f"under {self.reach_to:,} followers"
        return f"{self.reach_from:,} to {self.reach_to - 1:,} followers"


@dataclass(frozen=True, slots=True)
class Cell:
    """The answer for one row and kind of post: per channel when channels disagree."""

    outcome: str  # "allow" | "approval_required" | "escalate" | "deny" | "mixed"
    text: str
    rules: tuple[str, ...]
    per_channel: tuple[tuple[str, str], ...] = ()  # (channel, text) when channels differ
    granted_by: tuple[str, ...] = ()  # the row's roles named by the deciding allow rules


@dataclass(frozen=True, slots=True)
class Row:
    """A role (or a person) and its answer for every kind of post."""

    name: str
    roles: tuple[str, ...]
    cells: tuple[Cell, ...]


@dataclass(frozen=True, slots=True)
class Matrix:
    """Kinds of post as columns, roles as rows, decided at `at`."""

    at: datetime
    kinds: tuple[PostKind, ...]
    rows: tuple[Row, ...]

    def cell(self, row: str, kind: str) -> Cell:
        """The cell of a row (role or person) and a kind's key; KeyError when absent."""
        column = next(i for i, k in enumerate(self.kinds) if k.key == kind)
        return next(r for r in self.rows if r.name == row).cells[column]


def _conditions(rule: ast.Rule) -> Iterator[object]:
    stack: list[object] = [*rule.when, *rule.unless]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.Not):
            stack.append(node.operand)
        elif isinstance(node, ast.And | ast.Or):
            stack.extend(node.operands)


def reach_bands(policy: CompiledPolicy) -> list[tuple[int, int | None]]:
    """[from, to) bands of author reach between the thresholds the rules compare with."""
    cuts = {0}
    for rule in policy.rules:
        for node in _conditions(rule.source):
            if not (isinstance(node, ast.Compare) and node.path.parts == REACH):
                continue
            value = node.value.value
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            whole = int(value)
            # `> 10000` and `<= 10000` change answer after the threshold, the others at it.
            cuts.add(whole + 1 if node.op in (">", "<=", "==", "!=") else whole)
            if node.op in ("==", "!="):
                cuts.add(whole)
    ordered = sorted(c for c in cuts if c >= 0)
    return [(low, high) for low, high in zip(ordered, [*ordered[1:], None], strict=True)]


def categories(policy: CompiledPolicy) -> list[str]:
    """The categories the policy knows: response-time rules first, then those rules test."""
    found = dict.fromkeys(policy.deadlines)
    for rule in policy.rules:
        for node in _conditions(rule.source):
            if isinstance(node, ast.Compare) and node.path.parts == CATEGORY:
                found.setdefault(str(node.value.value))
            elif isinstance(node, ast.Member) and node.path.parts == CATEGORY:
                found.update(dict.fromkeys(str(v.value) for v in node.values))
    return list(found)


def post_kinds(policy: CompiledPolicy) -> list[PostKind]:
    """Every column of the matrix, replies first, then a new post per channel."""
    kinds = []
    for sentiment in SENTIMENTS:
        for category in categories(policy):
            for low, high in reach_bands(policy):
                key = f"reply:{sentiment}:{category}:{low}"
                kinds.append(PostKind(key, "reply", sentiment, category, low, high))
    kinds.extend(
        PostKind(f"post:{channel}", "post", channel=channel) for channel in sorted(policy.channels)
    )
    return kinds


@lru_cache(maxsize=4096)
def _request(kind: PostKind, channel: str, account: str | None, at: datetime) -> CheckRequest:
    """The request for a kind of post; callers put their actor in (validation runs once)."""
    data: dict[str, object] = {
        "actor": {"id": "nobody"},
        "action": kind.action,
        "channel": channel,
        "at": at.isoformat(),
    }
    if account is not None:
        data["account"] = account
    if kind.action == "reply":
        data["post"] = {
            "id": "authority-matrix",
            "sentiment": kind.sentiment,
            "category": kind.category,
            "author_reach": kind.reach_from,
            "received_at": at.isoformat(),
        }
    return CheckRequest.model_validate(data)


def outcome_text(decision: Decision) -> str:
    """allow / approval from X / escalate to Y / deny, as the matrix shows it."""
    if decision.decision == "approval_required":
        return "approval from " + ", ".join(decision.approvers)
    if decision.decision == "escalate":
        return f"escalate to {decision.escalate_to}"
    return decision.decision


def _channels_for(policy: CompiledPolicy, kind: PostKind) -> list[str]:
    return [kind.channel] if kind.channel else sorted(policy.channels)


def _account_for(policy: CompiledPolicy, channel: str) -> str | None:
    accounts = policy.accounts.get(channel)
    return min(accounts) if accounts else None


def decide_cell(
    policy: CompiledPolicy, kind: PostKind, actor: str, held: Iterable[str], at: datetime
) -> Cell:
    """The cell for `actor` (holding `held`) and one kind of post, over its channels."""
    answers: list[tuple[str, Decision]] = []
    who = Actor(id=actor)
    for channel in _channels_for(policy, kind):
        request = _request(kind, channel, _account_for(policy, channel), at)
        answers.append((channel, policy.decide(request.model_copy(update={"actor": who}))))
    texts = {outcome_text(decision) for _, decision in answers}
    rules = tuple(
        dict.fromkeys(r.rule for _, d in answers for r in d.reasons if r.rule is not None)
    )
    held_roles = set(held)
    by_name = {rule.name: rule for rule in policy.rules}
    granted: dict[str, None] = {}
    for _, decision in answers:
        if decision.decision not in ("allow", "approval_required"):
            continue
        for reason in decision.reasons:
            rule = by_name.get(reason.rule) if reason.rule else None
            if rule is None or rule.effect != "allow":
                continue
            named = rule.source.roles
            if named is None:
                granted["anyone"] = None
            else:
                granted.update(dict.fromkeys(r.value for r in named if r.value in held_roles))
    if len(texts) == 1:
        decision = answers[0][1]
        return Cell(decision.decision, texts.pop(), rules, granted_by=tuple(granted))
    per_channel = tuple((channel, outcome_text(decision)) for channel, decision in answers)
    return Cell("mixed", "depends on the channel", rules, per_channel, tuple(granted))


def _holder(policy: CompiledPolicy, role: str) -> tuple[CompiledPolicy, str]:
    """The policy with one more person who holds exactly `role` (and what it inherits)."""
    actor = f"holder-of-{role or 'no-role'}"
    while actor in policy.people:
        actor += "~"
    held = policy.closure.get(role, frozenset({role})) if role else frozenset()
    return replace(policy, people={**policy.people, actor: held}), actor


def authority_matrix(policy: CompiledPolicy, at: datetime) -> Matrix:
    """Each role's answer (no approvals) for each kind of post, at `at`; plus a no-role row."""
    kinds = post_kinds(policy)
    rows = []
    for role in [*policy.closure, NO_ROLE]:
        holder_policy, actor = _holder(policy, role)
        held = holder_policy.people[actor]
        cells = tuple(decide_cell(holder_policy, kind, actor, held, at) for kind in kinds)
        rows.append(Row(role, tuple(sorted(held)), cells))
    return Matrix(at, tuple(kinds), tuple(rows))


def person_rows(policy: CompiledPolicy, at: datetime) -> Matrix:
    """Each declared person's own answers, decided as them (roles from person declarations)."""
    kinds = post_kinds(policy)
    rows = []
    for person, held in policy.people.items():
        cells = tuple(decide_cell(policy, kind, person, held, at) for kind in kinds)
        rows.append(Row(person, tuple(sorted(held)), cells))
    return Matrix(at, tuple(kinds), tuple(rows))
