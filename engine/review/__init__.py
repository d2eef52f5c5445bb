"""Review of a policy change: what changed in the text, in authority and in decisions.

    load_side(BASE) + load_side(HEAD) -> compare() -> Review -> render(review, format)

`rules` finds rule, declaration and authority changes; `space` generates the requests the two
versions could disagree on; `impact` decides them on both sides and groups the differences;
`render` prints the review for a terminal, a pull request or a machine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.loader import compile_set
from replygate.engine.models import CheckRequest, PolicyVersion
from replygate.engine.review.impact import (
    NOT_REPLAYABLE,
    BrokenScenario,
    Expectation,
    Impact,
    NamedChange,
    broken_scenarios,
    decision_impact,
    named_changes,
)
from replygate.engine.review.render import render
from replygate.engine.review.rules import (
    Authority,
    DeclarationChange,
    RuleChange,
    authority_changes,
    declaration_changes,
    rule_changes,
)
from replygate.engine.review.space import generate_space
from replygate.policy_dsl.checker import CheckResult
from replygate.policy_dsl.source import PolicyError


@dataclass
class Side:
    """One version of the policy set under review: its sources, namespace and compiled form."""

    name: str  # "base" or "head"
    label: str  # as the user named it: a revision, WORKTREE or a folder
    commit: str | None
    sources: dict[str, str]
    result: CheckResult
    policy: CompiledPolicy


@dataclass
class SideError(Exception):
    """A side that does not compile: which side, and every error in it."""

    name: str
    label: str
    error: PolicyError

    def __post_init__(self) -> None:
        super().__init__(f"{self.name} ({self.label}) does not compile")


def load_side(name: str, label: str, sources: Mapping[str, str], commit: str | None = None) -> Side:
    """Compile one side (the one compile path), or raise `SideError` carrying every error."""
    version = PolicyVersion(files=sorted(sources), commit=commit, ref=label)
    try:
        compiled = compile_set(sources, version)
    except PolicyError as error:
        raise SideError(name, label, error) from None
    return Side(name, label, commit, dict(sources), compiled.result, compiled.policy)


@dataclass(frozen=True)
class NamedRequest:
    """A request with a name and where it came from: a scenario or a logged decision."""

    name: str
    source: str  # "scenario" | "decision-log"
    request: CheckRequest
    expected: Expectation | None = None  # a scenario's expected outcome, when it states one
    # A logged request's redacted fields (`content.text=hash`): a change a rule reading them
    # could explain is not replayable, counted apart (engine/review/redacted.py).
    redacted: tuple[str, ...] = ()


@dataclass(frozen=True)
class RequestSource:
    """Where named requests came from, and whether that source could be read."""

    source: str  # "scenario" | "decision-log"
    location: str  # the features folder or the log URL, as given
    status: str  # "used" | "skipped"
    requests: int = 0
    note: str | None = None


@dataclass
class Review:
    """Everything a reviewer is shown about one change, before rendering."""

    base: Side
    head: Side
    rules: list[RuleChange]
    declarations: list[DeclarationChange]
    authority: Authority
    impact: Impact
    named: list[NamedChange] = field(default_factory=list)
    sources: list[RequestSource] = field(default_factory=list)
    broken: list[BrokenScenario] = field(default_factory=list)  # HEAD misses their expectation

    @property
    def newly_broken(self) -> list[BrokenScenario]:
        """Scenarios whose expectation held on BASE and no longer holds on HEAD."""
        return [b for b in self.broken if b.held_on_base]

    # Named requests whose outcome differs only where a redacted field hides a rule's input.
    not_replayable: list[NamedChange] = field(default_factory=list)

    @property
    def widens(self) -> bool:
        """True when any request, generated or named, gets a more permissive decision."""
        return self.impact.widening > 0 or any(n.klass == "widening" for n in self.named)


def compare(
    base: Side,
    head: Side,
    named: Sequence[NamedRequest] = (),
    *,
    examples: int = 3,
    sources: Sequence[RequestSource] = (),
) -> Review:
    """Review the change from `base` to `head`: rule changes, authority and decision impact."""
    space = generate_space(base, head)
    rules = rule_changes(base, head)
    changes = named_changes(base, head, named)
    return Review(
        base=base,
        head=head,
        rules=rules,
        declarations=declaration_changes(base, head),
        authority=authority_changes(base, head),
        impact=decision_impact(base, head, space, examples, rules),
        named=[change for change in changes if change.klass != NOT_REPLAYABLE],
        sources=list(sources),
        broken=broken_scenarios(base, head, named),
        not_replayable=[change for change in changes if change.klass == NOT_REPLAYABLE],
    )


__all__ = [
    "BrokenScenario",
    "Expectation",
    "NamedRequest",
    "RequestSource",
    "Review",
    "Side",
    "SideError",
    "compare",
    "load_side",
    "render",
]
