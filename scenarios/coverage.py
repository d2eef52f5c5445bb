"""Rule coverage: which rules, and which branches of each rule, the scenarios exercised.

Definitions (docs/scenarios.md repeats them for policy authors):

- The *conditions* of a rule are its `when` conditions split at `and`, and each `unless`
  condition whole; a condition that is an `or` (or `not (… or …)`) counts each operand as a
  condition of its own. This is `policy_dsl.checker.conjuncts(rule)` with `or` operands split.
- A rule has one *branch* "the rule matches" plus, for each condition, two branches: the
  condition as written evaluated true, and evaluated false.
- A request *reaches* a rule when the rule's `on`, `via` and `by` clauses admit it: the rule
  targets the request's action, its channel, and one of the actor's roles (held directly or by
  inheritance), or anyone. This is the engine's candidate lookup
  (`CompiledPolicy.candidates`) without its index shortcut: the index files a rule with an
  equality condition (`post.sentiment == negative`) under that value and never offers it for
  other values, which would make "the condition is false" unreachable. Requests the engine
  refuses before looking at rules (an undeclared channel or account) reach no rule.
- Only requests that reach a rule count for its branches, and every condition of the rule is
  evaluated for them, not just the ones the engine needed before it knew the answer.
- Coverage = covered branches / all branches of all rules, over every request the scenarios
  decided against the policy under test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from replygate.policy_dsl import ast

if TYPE_CHECKING:
    from replygate.engine.evaluator import CompiledPolicy, CompiledRule
    from replygate.engine.models import CheckRequest

MATCHES = -1  # the condition index of the branch "the rule matches"


@dataclass(frozen=True, slots=True)
class Condition:
    """One condition of a rule: the expression as written and whether it follows `unless`."""

    expr: ast.Expr
    unless: bool


def conditions_of(rule: ast.Rule) -> list[Condition]:
    """The rule's conditions, in source order (see the module docstring for the definition)."""
    found: list[Condition] = []
    for expr in rule.when:
        for conjunct in ast.flatten(expr, ast.And):
            found.extend(Condition(e, False) for e in _split_or(conjunct))
    for expr in rule.unless:
        # `unless A or B` is `not A and not B`: A and B each decide the rule on their own.
        found.extend(Condition(e, True) for e in _split_or(expr))
    return found


def _split_or(expr: ast.Expr) -> list[ast.Expr]:
    inner = expr.operand if isinstance(expr, ast.Not) else expr
    if isinstance(inner, ast.Or):
        return [part for operand in inner.operands for part in _split_or(operand)]
    return [expr]


def quote(sources: dict[str, str], expr: ast.Expr) -> str:
    """The condition's text as written in the policy file (one line, spaces collapsed)."""
    span = expr.span
    text = sources.get(span.file)
    if text is None:
        return f"<condition at {span}>"
    lines = text.splitlines()[span.line - 1 : span.end_line]
    if not lines:
        return f"<condition at {span}>"
    if len(lines) == 1:
        return lines[0][span.column - 1 : span.end_column - 1]
    lines[0] = lines[0][span.column - 1 :]
    lines[-1] = lines[-1][: span.end_column - 1]
    return " ".join(" ".join(line.split()) for line in lines)


# ---- recording ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _RuleProbe:
    """A rule's targeting and its conditions lowered once, for every request reaching it."""

    actions: frozenset[str] | None
    channels: frozenset[str] | None
    roles: frozenset[str] | None
    tests: list[Callable[[Any], bool]]

    def reaches(self, request: CheckRequest, roles: frozenset[str]) -> bool:
        """Whether the rule's `on`, `via` and `by` clauses admit the request."""
        return (
            (self.actions is None or request.action in self.actions)
            and (self.channels is None or request.channel in self.channels)
            and (self.roles is None or not self.roles.isdisjoint(roles))
        )


def _names(names: tuple[ast.Name, ...] | None) -> frozenset[str] | None:
    return None if names is None else frozenset(name.value for name in names)


@dataclass(slots=True)
class PolicyCoverage:
    """The branches one compiled policy's rules took, over every request recorded."""

    policy: CompiledPolicy
    label: str
    covered: set[tuple[str, int, bool]] = field(default_factory=set)
    reached: set[str] = field(default_factory=set)
    requests: int = 0
    _probes: dict[str, _RuleProbe] = field(default_factory=dict)

    def record(self, request: CheckRequest) -> None:
        """Note the branches every candidate rule takes for `request`."""
        from replygate.engine.evaluator import Evaluation

        self.requests += 1
        policy = self.policy
        if request.channel not in policy.channels:
            return  # refused before any rule is looked at
        accounts = policy.accounts.get(request.channel)
        if accounts is not None and request.account not in accounts:
            return
        roles = policy.roles_of(request.actor.id, tuple(request.actor.groups))
        evaluation = Evaluation(policy, request, roles)
        for rule in policy.rules:
            probe = self._probe(rule)
            if not probe.reaches(request, roles):
                continue
            self.reached.add(rule.name)
            if rule.test is None or rule.test(evaluation):
                self.covered.add((rule.name, MATCHES, True))
            for index, test in enumerate(probe.tests):
                self.covered.add((rule.name, index, bool(test(evaluation))))

    def _probe(self, rule: CompiledRule) -> _RuleProbe:
        probe = self._probes.get(rule.name)
        if probe is None:
            from replygate.engine.conditions import lower

            policy = self.policy
            source = rule.source
            tests = [
                lower(c.expr, policy.clocks, policy.units, policy.lists)
                for c in conditions_of(source)
            ]
            probe = _RuleProbe(
                _names(source.actions), _names(source.channels), _names(source.roles), tests
            )
            self._probes[rule.name] = probe
        return probe

    def report(self) -> CoverageReport:
        """Covered and missing branches of every rule, in source order."""
        rules = []
        for rule in sorted(self.policy.rules, key=lambda r: r.order):
            source = rule.source
            where = f"{source.span.file}:{source.span.line}"
            missing: list[MissingBranch] = []
            total = 1
            if (rule.name, MATCHES, True) not in self.covered:
                missing.append(MissingBranch("(the rule as a whole)", "never matched"))
            for index, condition in enumerate(conditions_of(source)):
                total += 2
                text = quote(self.policy.sources, condition.expr)
                if condition.unless:
                    text = f"unless {text}"
                for value in (True, False):
                    if (rule.name, index, value) not in self.covered:
                        missing.append(MissingBranch(text, f"never {str(value).lower()}"))
            rules.append(RuleCoverage(rule.name, where, total, rule.name in self.reached, missing))
        return CoverageReport(self.label, rules, self.requests)


@dataclass(frozen=True, slots=True)
class MissingBranch:
    """A branch no scenario took: the condition as written and which value it never had."""

    condition: str
    never: str


@dataclass(frozen=True, slots=True)
class RuleCoverage:
    """One rule's branches: how many in all, whether any request reached it, which are missing."""

    rule: str
    where: str
    total: int
    reached: bool
    missing: list[MissingBranch]

    @property
    def covered(self) -> int:
        return self.total - len(self.missing)


@dataclass(frozen=True, slots=True)
class CoverageReport:
    """Rule coverage of one policy over a scenario run."""

    policy: str
    rules: list[RuleCoverage]
    requests: int

    @property
    def total(self) -> int:
        return sum(rule.total for rule in self.rules)

    @property
    def covered(self) -> int:
        return sum(rule.covered for rule in self.rules)

    @property
    def ratio(self) -> Fraction:
        """Covered / all branches, exactly (a policy without rules is fully covered)."""
        return Fraction(self.covered, self.total) if self.total else Fraction(1)

    def percent_text(self) -> str:
        """The percentage with one decimal, rounded down: 99.96% never shows as 100.0%."""
        tenths = int(self.ratio * 1000)
        return f"{tenths // 10}.{tenths % 10}%"

    def meets(self, minimum: float) -> bool:
        """Whether coverage is at least `minimum` percent."""
        return self.ratio * 100 >= Fraction(str(minimum))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly form."""
        return {
            "policy": self.policy,
            "branches": self.total,
            "covered": self.covered,
            "percent": float(self.ratio * 100),
            "requests": self.requests,
            "rules": [
                {
                    "rule": r.rule,
                    "where": r.where,
                    "branches": r.total,
                    "covered": r.covered,
                    "reached": r.reached,
                    "missing": [{"condition": m.condition, "never": m.never} for m in r.missing],
                }
                for r in self.rules
            ],
        }


class CoverageRecorder:
    """Coverage of each policy under test, keyed by its source."""

    def __init__(self) -> None:
        self._policies: dict[object, PolicyCoverage] = {}

    def watch(self, key: object, policy: CompiledPolicy, label: str) -> PolicyCoverage:
        """Start (or continue) recording for the policy known as `key`."""
        found = self._policies.get(key)
        if found is None:
            found = self._policies[key] = PolicyCoverage(policy, label)
        return found

    def record(
        self, key: object, policy: CompiledPolicy, label: str, request: CheckRequest
    ) -> None:
        """Record one decided request against the policy known as `key`."""
        self.watch(key, policy, label).record(request)

    def reports(self) -> list[CoverageReport]:
        """One report per policy under test, in the order they were first seen."""
        return [coverage.report() for coverage in self._policies.values()]


# ---- the table ------------------------------------------------------------------------------------


def render(report: CoverageReport, *, all_rules: bool = False) -> str:
    """The coverage summary line and the table of rules and branches no scenario exercised."""
    requests = "1 request" if report.requests == 1 else f"{report.requests} requests"
    lines = [
        f"Rule coverage of {report.policy}: {report.covered} of {report.total} branches "
        f"({report.percent_text()}), {sum(r.reached for r in report.rules)} of "
        f"{len(report.rules)} rules reached, {requests} decided"
    ]
    rows: list[tuple[str, str, str, str]] = []
    for rule in report.rules:
        if not rule.reached:
            rows.append((rule.rule, rule.where, "(no scenario reaches this rule)", "never reached"))
            continue
        rows.extend((rule.rule, rule.where, m.condition, m.never) for m in rule.missing)
    if rows:
        lines.append("")
        lines.append("Not exercised by any scenario:")
        lines.extend(_table(("RULE", "WRITTEN AT", "CONDITION", "MISSING"), rows))
    if all_rules:
        lines.append("")
        per_rule = [
            (r.rule, r.where, f"{r.covered}/{r.total}", "" if r.missing else "complete")
            for r in report.rules
        ]
        lines.extend(_table(("RULE", "WRITTEN AT", "BRANCHES", ""), per_rule))
    return "\n".join(lines)


def _table(header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> list[str]:
    body = list(rows)
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        return (
            "  "
            + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )

    return [line(header), *(line(row) for row in body)]
