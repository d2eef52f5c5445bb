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

from replygate.engine.conditions import Test, lower
from replygate.engine.evaluator import CompiledPolicy, CompiledRule, Evaluation
from replygate.engine.models import Actor, CheckRequest, Decision
from replygate.policy_dsl import ast

SENTIMENTS = ("negative", "neutral", "positive")
# A matrix is read by people: beyond these, columns are left out (the page says which).
MAX_CATEGORIES = 8
MAX_REACH_CUTS = 3
# A channel whose rules name more accounts than this is decided once, for its first account:
# each named account is a decision in every cell of every row (250 accounts took the role
# matrix from 2 s to 400 s); `accounts_left_out` names them for the page's note.
MAX_ACCOUNT_GROUPS = 8
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


def reach_cuts(policy: CompiledPolicy) -> tuple[list[int], list[int]]:
    """The reach values at which a rule's answer may change: (the `MAX_REACH_CUTS` most
    compared, which split the matrix's columns; the others, which it leaves out), each sorted."""
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
    ranked = [cut for cut, _ in uses.most_common() if cut > 0]
    return sorted(ranked[:MAX_REACH_CUTS]), sorted(ranked[MAX_REACH_CUTS:])


def reach_bands(policy: CompiledPolicy) -> list[tuple[int, int | None]]:
    """[from, to) bands of author reach between the thresholds the rules compare with (the
    `MAX_REACH_CUTS` most compared, when there are more: `reach_cuts` names the others)."""
    ordered = [0, *reach_cuts(policy)[0]]
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


AccountClasses = dict[str, list[tuple[str, ...]]]


def account_classes(policy: CompiledPolicy) -> AccountClasses:
    """`_account_groups`, with a channel of more than `MAX_ACCOUNT_GROUPS` groups in one."""
    return {
        channel: groups if len(groups) <= MAX_ACCOUNT_GROUPS else [groups_in_one(groups)]
        for channel, groups in _account_groups(policy).items()
    }


def _account_groups(policy: CompiledPolicy) -> AccountClasses:
    """Per channel with declared accounts: its accounts in groups no rule tells apart.

    Each account a condition names (`account == "@x"`, `account in [...]` or a named list) is a
    group of its own, the rest one group; a condition that reads the account any other way
    (`matches`, `<`) makes every account its own group. A group is decided once.
    """
    named: set[str] | None = set()
    for rule in policy.rules:
        for node in _conditions(rule.source):
            path = getattr(node, "path", None)
            if not (isinstance(path, ast.Path) and path.parts == ("account",)):
                continue
            if isinstance(node, ast.Compare) and node.op in ("==", "!="):
                values: tuple[ast.Literal, ...] = (node.value,)
            elif isinstance(node, ast.Member):
                values = node.values
            elif isinstance(node, ast.InList) and node.list.value in policy.lists:
                values = policy.lists[node.list.value].values
            else:
                named = None
                break
            if named is not None:
                named.update(str(v.value) for v in values)
    found: AccountClasses = {}
    for channel, accounts in policy.accounts.items():
        ordered = sorted(accounts)
        if named is None:
            found[channel] = [(account,) for account in ordered]
            continue
        alone = [(account,) for account in ordered if account in named]
        rest = tuple(account for account in ordered if account not in named)
        found[channel] = alone + ([rest] if rest else [])
    return found


def groups_in_one(groups: list[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(sorted(account for group in groups for account in group))


def accounts_left_out(policy: CompiledPolicy) -> list[str]:
    """The channels whose accounts the matrix does not tell apart: their rules tell apart more
    than `MAX_ACCOUNT_GROUPS` groups of them, so each is decided once, for its first account."""
    return sorted(
        channel
        for channel, groups in _account_groups(policy).items()
        if len(groups) > MAX_ACCOUNT_GROUPS
    )


def _accounts_label(accounts: tuple[str, ...]) -> str:
    if len(accounts) <= 3:
        return ", ".join(accounts)
    return f"{', '.join(accounts[:3])} and {len(accounts) - 3} more accounts"


def decide_cell(
    policy: CompiledPolicy,
    kind: PostKind,
    actor: str,
    held: Iterable[str],
    at: datetime,
    classes: list[list[str]] | None = None,
    accounts: AccountClasses | None = None,
) -> Cell:
    """The cell for `actor` (holding `held`) and one kind of post, over its channels and, on a
    channel with declared accounts, over its accounts (a rule may name one)."""
    classes = channel_classes(policy) if classes is None else classes
    accounts = account_classes(policy) if accounts is None else accounts
    # (channel, account group or None, decision) for every channel the kind covers
    answers: list[tuple[str, tuple[str, ...] | None, Decision]] = []
    who = Actor(id=actor)
    for group in _channels_for(kind, classes):
        channel = group[0]
        groups: list[tuple[str, ...] | None] = [None]
        groups = [*accounts[channel]] if accounts.get(channel) else groups
        for account_group in groups:
            account = None if account_group is None else account_group[0]
            request = _request(kind, channel, account, at)
            decision = policy.decide(request.model_copy(update={"actor": who}))
            answers.extend((member, account_group, decision) for member in group)
    texts = {outcome_text(decision) for _, _, decision in answers}
    rules = tuple(
        dict.fromkeys(r.rule for _, _, d in answers for r in d.reasons if r.rule is not None)
    )
    held_roles = set(held)
    by_name = _rules_by_name(policy)
    granted: dict[str, None] = {}
    for _, _, decision in answers:
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
        decision = answers[0][2]
        return Cell(decision.decision, texts.pop(), rules, granted_by=tuple(granted))
    return _mixed(answers, rules, tuple(granted))


def _mixed(
    answers: list[tuple[str, tuple[str, ...] | None, Decision]],
    rules: tuple[str, ...],
    granted: tuple[str, ...],
) -> Cell:
    """A cell whose channels or accounts disagree: each channel's answer, and per account group
    where a channel's accounts disagree (an account no rule names answers as the others)."""
    by_channel: dict[str, list[tuple[tuple[str, ...] | None, str]]] = {}
    for channel, account_group, decision in answers:
        by_channel.setdefault(channel, []).append((account_group, outcome_text(decision)))
    entries: list[tuple[str, str]] = []
    split_accounts = False
    for channel, found in by_channel.items():
        if len({text for _, text in found}) == 1:
            entries.append((channel, found[0][1]))
            continue
        split_accounts = True
        entries.extend((f"{channel} {_accounts_label(group or ())}", text) for group, text in found)
    split_channels = len({frozenset(t for _, t in found) for found in by_channel.values()}) > 1
    what = (
        "the channel and the account"
        if split_accounts and split_channels
        else "the account"
        if split_accounts
        else "the channel"
    )
    return Cell("mixed", f"depends on {what}", rules, tuple(entries), granted)


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
    classes, accounts = channel_classes(policy), account_classes(policy)
    rows = []
    for role in all_rows(policy) if roles is None else roles:
        holder_policy, actor = _holder(policy, role)
        held = holder_policy.people[actor]
        cells = tuple(
            decide_cell(holder_policy, kind, actor, held, at, classes, accounts) for kind in kinds
        )
        rows.append(Row(role, tuple(sorted(held)), cells))
    return Matrix(at, tuple(kinds), tuple(rows))


def _is_personal(node: ast.Node) -> bool:
    """Whether a condition reads who the actor is beyond the roles they hold: `actor on duty`
    or any test of an `actor.` attribute other than the request's groups (`actor.id ==`,
    `in`, `matches`, ...). Role tests (`actor is`, `has no role`, `in unit`) are not."""
    if isinstance(node, ast.ActorOnDuty):
        return True
    path = getattr(node, "path", None)
    return (
        isinstance(path, ast.Path)
        and path.parts[0] == "actor"
        and path.parts != ("actor", "groups")
    )


def personal_conditions(policy: CompiledPolicy) -> list[Test]:
    """The person-specific conditions of every rule, each once, as tests (see `_is_personal`)."""
    found: dict[ast.Node, None] = {}
    for rule in policy.rules:
        found.update(dict.fromkeys(n for n in _conditions(rule.source) if _is_personal(n)))
    return [
        lower(node, policy.clocks, policy.units, policy.lists)  # type: ignore[arg-type]
        for node in found
    ]


def _personal_answers(
    policy: CompiledPolicy, person: str, held: frozenset[str], at: datetime, tests: list[Test]
) -> tuple[object, ...]:
    """How the person-specific conditions come out for `person` at `at`: people with the same
    roles and the same answers here get the same decisions. A test that cannot be evaluated
    alone makes the person's answers their own."""
    request = CheckRequest.model_construct(
        actor=Actor(id=person), action="post", channel="", at=at, account=None, post=None
    )
    evaluation = Evaluation(policy, request, held)
    try:
        return tuple(test(evaluation) for test in tests)
    except Exception:  # decided on their own, never wrongly shared
        return (person,)


def person_rows(
    policy: CompiledPolicy, at: datetime, persons: Sequence[str] | None = None
) -> Matrix:
    """Each declared person's own answers, decided as them (roles from person declarations).

    People who hold the same roles and for whom every person-specific condition (`actor on
    duty`, a test of `actor.id`) comes out the same at `at` get the same answers, so they are
    decided once: exact, and the cost of a policy without such conditions is one decision per
    role set and kind of post."""
    kinds = post_kinds(policy)
    classes, accounts = channel_classes(policy), account_classes(policy)
    tests = personal_conditions(policy)
    shared: dict[tuple[frozenset[str], tuple[object, ...]], tuple[Cell, ...]] = {}
    rows = []
    for person in policy.people if persons is None else persons:
        held = policy.people[person]
        key = (held, _personal_answers(policy, person, held, at, tests) if tests else ())
        cells = shared.get(key)
        if cells is None:
            cells = tuple(
                decide_cell(policy, kind, person, held, at, classes, accounts) for kind in kinds
            )
            shared[key] = cells
        rows.append(Row(person, tuple(sorted(held)), cells))
    return Matrix(at, tuple(kinds), tuple(rows))
