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

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache

from replygate.engine.evaluator import CompiledPolicy, CompiledRule
from replygate.engine.models import Actor, CheckRequest, Decision
from replygate.policy_dsl import ast

SENTIMENTS = ("negative", "neutral", "positive")
# A matrix is read by people: beyond these, columns are left out (the page says which).
MAX_CATEGORIES = 8
MAX_REACH_CUTS = 3
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


def _conditions(rule: ast.Rule) -> Iterator[ast.Node]:
    return ast.walk((*rule.when, *rule.unless))


def reach_bands(policy: CompiledPolicy) -> list[tuple[int, int | None]]:
    """[from, to) bands of author reach between the thresholds the rules compare with (the
    `MAX_REACH_CUTS` most compared, when there are more)."""
    uses: Counter[int] = Counter()
    for rule in policy.rules:
        for node in _conditions(rule.source):
            if not (isinstance(node, ast.Compare) and node.path.parts == REACH):
                continue
            value = node.value.value
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            whole = int(value)
            # `> 10000` and `<= 10000` change answer after the threshold, the others at it.
            uses[whole + 1 if node.op in (">", "<=", "==", "!=") else whole] += 1
            if node.op in ("==", "!="):
                uses[whole] += 1
    kept = {cut for cut, _ in uses.most_common(MAX_REACH_CUTS) if cut > 0}
    ordered = sorted({0} | kept)
    return [(low, high) for low, high in zip(ordered, [*ordered[1:], None], strict=True)]


def all_categories(policy: CompiledPolicy) -> list[str]:
    """The categories the policy knows: response-time rules first, then those rules test."""
    found = dict.fromkeys(policy.deadlines)
    for rule in policy.rules:
        for node in _conditions(rule.source):
            if isinstance(node, ast.Compare) and node.path.parts == CATEGORY:
                found.setdefault(str(node.value.value))
            elif isinstance(node, ast.Member) and node.path.parts == CATEGORY:
                found.update(dict.fromkeys(str(v.value) for v in node.values))
    # Declared categories a rule does not name still get a column: a post can have them.
    found.update(dict.fromkeys(sorted(policy.categories)))
    return list(found)


def categories(policy: CompiledPolicy) -> list[str]:
    """The categories the matrix shows: at most `MAX_CATEGORIES`, response-time ones first."""
    return all_categories(policy)[:MAX_CATEGORIES]


def post_kinds(policy: CompiledPolicy) -> list[PostKind]:
    """Every column of the matrix, replies first, then a new post per channel."""
    kinds = []
    bands = reach_bands(policy)
    shown = categories(policy)
    for sentiment in SENTIMENTS:
        for category in shown:
            for low, high in bands:
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


def channel_classes(policy: CompiledPolicy) -> list[list[str]]:
    """Channels no rule tells apart share one answer: group them, each group decided once.

    Two channels differ for a rule when its `via` names one and not the other, or when its
    conditions mention either (as `channel == x`, `channel in [...]`); accounts split too.
    """
    signature: dict[str, list[str]] = {channel: [] for channel in sorted(policy.channels)}
    for rule in policy.rules:
        named = {c.value for c in rule.source.channels or ()}
        mentioned = {
            str(v.value)
            for node in _conditions(rule.source)
            if isinstance(node, ast.Compare | ast.Member) and node.path.parts == ("channel",)
            for v in (node.values if isinstance(node, ast.Member) else (node.value,))
        }
        for channel, marks in signature.items():
            if rule.source.channels is not None and channel in named:
                marks.append(f"via:{rule.name}")
            if channel in mentioned:
                marks.append(f"cond:{rule.name}")
    for channel, marks in signature.items():
        if channel in policy.accounts:
            marks.append(f"accounts:{channel}")
    groups: dict[tuple[str, ...], list[str]] = {}
    for channel, marks in signature.items():
        groups.setdefault(tuple(marks), []).append(channel)
    return list(groups.values())


def _channels_for(kind: PostKind, classes: list[list[str]]) -> list[list[str]]:
    return [[kind.channel]] if kind.channel else classes


def _account_for(policy: CompiledPolicy, channel: str) -> str | None:
    accounts = policy.accounts.get(channel)
    return min(accounts) if accounts else None


def decide_cell(
    policy: CompiledPolicy,
    kind: PostKind,
    actor: str,
    held: Iterable[str],
    at: datetime,
    classes: list[list[str]] | None = None,
) -> Cell:
    """The cell for `actor` (holding `held`) and one kind of post, over its channels."""
    classes = channel_classes(policy) if classes is None else classes
    answers: list[tuple[str, Decision]] = []
    who = Actor(id=actor)
    for group in _channels_for(kind, classes):
        channel = group[0]
        request = _request(kind, channel, _account_for(policy, channel), at)
        decision = policy.decide(request.model_copy(update={"actor": who}))
        answers.extend((member, decision) for member in group)
    texts = {outcome_text(decision) for _, decision in answers}
    rules = tuple(
        dict.fromkeys(r.rule for _, d in answers for r in d.reasons if r.rule is not None)
    )
    held_roles = set(held)
    by_name = _rules_by_name(policy)
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


def _rules_by_name(policy: CompiledPolicy) -> dict[str, CompiledRule]:
    # Holder policies share the rule list: key the index by the list, built once per policy.
    key = id(policy.rules)
    found = _BY_NAME.get(key)
    if found is None or found[0] is not policy.rules:
        found = (policy.rules, {rule.name: rule for rule in policy.rules})
        _BY_NAME[key] = found
        while len(_BY_NAME) > 8:
            _BY_NAME.pop(next(iter(_BY_NAME)))
    return found[1]


_BY_NAME: dict[int, tuple[list[CompiledRule], dict[str, CompiledRule]]] = {}


def _holder(policy: CompiledPolicy, role: str) -> tuple[CompiledPolicy, str]:
    """The policy with one more person who holds exactly `role` (and what it inherits)."""
    actor = f"holder-of-{role or 'no-role'}"
    while actor in policy.people:
        actor += "~"
    held = policy.closure.get(role, frozenset({role})) if role else frozenset()
    return replace(policy, people={**policy.people, actor: held}), actor


def all_rows(policy: CompiledPolicy) -> list[str]:
    """The role rows in declaration order, and the row of someone on no team last."""
    return [*policy.closure, NO_ROLE]


def authority_matrix(
    policy: CompiledPolicy, at: datetime, roles: Sequence[str] | None = None
) -> Matrix:
    """Each role's answer (no approvals) for each kind of post, at `at`; plus a no-role row.

    `roles` picks the rows (a page of them: a matrix costs rows x kinds x channel classes
    decisions)."""
    kinds = post_kinds(policy)
    classes = channel_classes(policy)
    rows = []
    for role in all_rows(policy) if roles is None else roles:
        holder_policy, actor = _holder(policy, role)
        held = holder_policy.people[actor]
        cells = tuple(decide_cell(holder_policy, kind, actor, held, at, classes) for kind in kinds)
        rows.append(Row(role, tuple(sorted(held)), cells))
    return Matrix(at, tuple(kinds), tuple(rows))


def _named_people(policy: CompiledPolicy) -> set[str]:
    """Person ids that rule conditions test (`actor.id == "x"`): their rows are their own."""
    named: set[str] = set()
    for rule in policy.rules:
        for node in _conditions(rule.source):
            if isinstance(node, ast.Compare | ast.Member) and node.path.parts == ("actor", "id"):
                values = node.values if isinstance(node, ast.Member) else (node.value,)
                named.update(str(v.value) for v in values)
    return named


def person_rows(
    policy: CompiledPolicy, at: datetime, persons: Sequence[str] | None = None
) -> Matrix:
    """Each declared person's own answers, decided as them (roles from person declarations).

    A person whom no condition names gets the answers of anyone holding the same roles, so
    people sharing a role set are decided once."""
    kinds = post_kinds(policy)
    classes = channel_classes(policy)
    named = _named_people(policy)
    shared: dict[frozenset[str], tuple[Cell, ...]] = {}
    rows = []
    for person in policy.people if persons is None else persons:
        held = policy.people[person]
        cells = None if person in named else shared.get(held)
        if cells is None:
            cells = tuple(decide_cell(policy, kind, person, held, at, classes) for kind in kinds)
            if person not in named:
                shared[held] = cells
        rows.append(Row(person, tuple(sorted(held)), cells))
    return Matrix(at, tuple(kinds), tuple(rows))
