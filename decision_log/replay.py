"""Logged requests as a source of requests: for `replygate replay` and `replygate diff`.

    replay(url, policy) -> Replay: every logged request decided again, as of its own `at`,
                                   and the ones whose outcome would change

"Which real decisions would this pull request have changed?" A replay works on the request as
it was stored: a redacted field is gone or a hash. A request whose outcome changes while a rule
that could decide it reads a redacted field is *not replayable* for that rule
(engine/review/redacted.py): the change may be the redaction's doing (the rule saw a hash, not
the text), so it is counted apart and never reported as a change, and `--fail-on` ignores it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from replygate.decision_log.backend import Unreadable
from replygate.decision_log.log import open_backend
from replygate.decision_log.records import DecisionRecord
from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.models import (
    CheckRequest,
    PolicyVersion,
    describe_errors,
    validate_request,
)
from replygate.engine.review.redacted import (
    EVERY_RULE,
    IMPLICIT_READS,
    reason_rules,
    related,
    rules_reading,
    unreplayable_rules,
)

__all__ = [
    "Change",
    "NotReplayable",
    "Replay",
    "iter_requests",
    "rebuild_request",
    "replay",
    "rules_reading",
]

log = logging.getLogger("replygate.decision_log")


def rebuild_request(record: DecisionRecord) -> CheckRequest:
    """The logged request as a CheckRequest; ValidationError when redaction removed too much.

    The same strict validation as a request on the wire (`validate_request`).
    """
    return validate_request(record.request)


def _records(url: str, since: datetime | None) -> Iterator[DecisionRecord | Unreadable]:
    """The stored records, oldest first; a row that cannot be read back as `Unreadable`."""
    backend = open_backend(url, readonly=True)
    try:
        backend.check_schema()
        for record in backend.scan(since):
            if isinstance(record, DecisionRecord) and not isinstance(record.decision, dict):
                yield Unreadable(record.decision_id, "its decision column is not a JSON object")
            else:
                yield record
    finally:
        backend.close()


def iter_requests(
    url: str, since: datetime | None = None
) -> Iterator[tuple[str, CheckRequest, tuple[str, ...]]]:
    """(decision_id, request, redacted) of every logged decision, oldest first, as stored.

    `redacted` lists the record's redacted fields (`content.text=hash`): `replygate diff` does
    not report a change of such a request that a rule reading those fields could explain.

    A record whose stored request is no longer a valid request (a required field was dropped
    by redaction) is left out with a warning naming how many; so is a row that cannot be read
    back at all (altered in the database: `replygate audit verify` says how).
    """
    skipped = unreadable = 0
    for record in _records(url, since):
        if isinstance(record, Unreadable):
            unreadable += 1
            continue
        try:
            request = rebuild_request(record)
        except ValidationError:
            skipped += 1
            continue
        yield record.decision_id, request, tuple(record.redacted)
    if skipped:
        log.warning(
            "decision log: %d logged requests cannot be rebuilt (a required field was "
            "redacted) and were left out",
            skipped,
        )
    if unreadable:
        log.warning(
            "decision log: %d stored records cannot be read (altered in the database? "
            "`replygate audit verify` checks it) and were left out",
            unreadable,
        )


@dataclass(frozen=True)
class Change:
    """A logged decision that the replayed policy would decide differently."""

    decision_id: str
    time: datetime
    actor: str
    action: str
    channel: str
    before: str
    after: str
    klass: str  # widening | narrowing | changed
    rule_before: str
    rule_after: str
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "decision_id": self.decision_id,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "actor": self.actor,
            "action": self.action,
            "channel": self.channel,
            "before": self.before,
            "after": self.after,
            "class": self.klass,
            "rule_before": self.rule_before,
            "rule_after": self.rule_after,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class NotReplayable:
    """A logged decision whose replayed outcome differs, but may differ only by redaction."""

    decision_id: str
    rules: tuple[str, ...]  # the rules that read a redacted field of it
    fields: tuple[str, ...]  # its redacted fields (`content.text=hash`)
    before: str
    after: str  # on the redacted request: not a finding

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "decision_id": self.decision_id,
            "rules": list(self.rules),
            "redacted": list(self.fields),
            "before": self.before,
            "after_on_redacted_request": self.after,
        }


@dataclass
class Replay:
    """What a replay found: how many were decided again, which changed, what it could not see."""

    policy: PolicyVersion
    replayed: int = 0
    changes: list[Change] = field(default_factory=list)
    unreplayable: list[tuple[str, str]] = field(default_factory=list)
    # Rows that cannot be read back at all (altered in the database): skipped, counted apart.
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    not_replayable: list[NotReplayable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def not_replayable_by_rule(self) -> dict[str, int]:
        """Rule -> how many decisions are not replayable for it."""
        counts: Counter[str] = Counter()
        for item in self.not_replayable:
            counts.update(item.rules)
        return dict(sorted(counts.items()))

    def count(self, klass: str) -> int:
        """Changes of one class."""
        return sum(1 for change in self.changes if change.klass == klass)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "policy": self.policy.model_dump(mode="json"),
            "replayed": self.replayed,
            "changed": len(self.changes),
            "widening": self.count("widening"),
            "narrowing": self.count("narrowing"),
            "changes": [change.as_dict() for change in self.changes],
            "not_replayable": len(self.not_replayable),
            "not_replayable_by_rule": self.not_replayable_by_rule(),
            "not_replayable_decisions": [item.as_dict() for item in self.not_replayable],
            "unreplayable": [
                {"decision_id": decision_id, "reason": reason}
                for decision_id, reason in self.unreplayable
            ],
            "unreadable": [
                {"decision_id": decision_id, "reason": reason}
                for decision_id, reason in self.unreadable
            ],
            "notes": self.notes,
        }


def replay(url: str, policy: CompiledPolicy, since: datetime | None = None) -> Replay:
    """Decide every logged request (since `since`) again under `policy`; list what changes."""
    from replygate.engine.review.impact import Outcome, classify, deciding_rule, outcome_of

    readers = rules_reading(policy)
    result = Replay(policy.version)
    redacted_seen: Counter[str] = Counter()
    for record in _records(url, since):
        if isinstance(record, Unreadable):
            result.unreadable.append((record.decision_id, record.reason))
            continue
        try:
            request = rebuild_request(record)
        except ValidationError as error:
            reason = describe_errors(error).replace("\n", "; ")
            result.unreplayable.append((record.decision_id, reason))
            continue
        result.replayed += 1
        mattering = _mattering(record.redacted, readers)
        redacted_seen.update(mattering)
        before = _logged_outcome(record.decision, Outcome)
        decision = policy.decide(request)
        after = outcome_of(decision)
        if before == after:
            continue
        involved = reason_rules(record.decision) | reason_rules(decision)
        hidden = unreplayable_rules(policy, request, record.redacted, involved)
        if hidden:
            result.not_replayable.append(
                NotReplayable(
                    record.decision_id,
                    tuple(hidden),
                    tuple(record.redacted),
                    str(before),
                    str(after),
                )
            )
            continue
        result.changes.append(
            Change(
                decision_id=record.decision_id,
                time=record.time,
                actor=request.actor.id,
                action=request.action,
                channel=request.channel,
                before=str(before),
                after=str(after),
                klass=classify(before, after) if before.decision in _ORDER else "changed",
                rule_before=_logged_rule(record.decision),
                rule_after=deciding_rule(decision),
                notes=tuple(_note(entry, readers, None) for entry in mattering),
            )
        )
    result.notes = [_note(entry, readers, count) for entry, count in sorted(redacted_seen.items())]
    return result


_ORDER = ("deny", "escalate", "approval_required", "allow")


def _mattering(redacted: list[str], readers: dict[str, set[str]]) -> list[str]:
    """The `field=mode` entries of a record that a rule of the policy reads."""
    found = []
    for entry in redacted:
        name = entry.partition("=")[0]
        if any(related(name, path) for path in IMPLICIT_READS) or any(
            related(name, path) for path in readers
        ):
            found.append(entry)
    return found


def _note(entry: str, readers: dict[str, set[str]], count: int | None) -> str:
    """What a redacted field hides: for one change (`count` None) or over the whole replay."""
    name, _, mode = entry.partition("=")
    if any(related(name, path) for path in IMPLICIT_READS):
        rules = EVERY_RULE
    else:
        names = sorted({rule for path, rs in readers.items() if related(name, path) for rule in rs})
        rules = ", ".join(names)
    how = "dropped" if mode == "drop" else "hashed"
    if count is None:
        return f"may be an effect of redaction: {name} was {how} before logging and {rules} read it"
    saw = "its default" if mode == "drop" else "the hash, not the original"
    records = "1 replayed record" if count == 1 else f"{count} replayed records"
    return (
        f"{name} was {how} before logging in {records}; the rules that read it ({rules}) saw "
        f"{saw}, so their part in those decisions is not replayed faithfully"
    )


def _logged_outcome(decision: dict[str, Any], outcome: Any) -> Any:
    approvers = decision.get("approvers") or []
    return outcome(
        str(decision.get("decision")),
        tuple(str(a) for a in approvers) if isinstance(approvers, list) else (),
        decision.get("escalate_to"),
    )


def _logged_rule(decision: dict[str, Any]) -> str:
    reasons = decision.get("reasons")
    if not isinstance(reasons, list) or not reasons or not isinstance(reasons[0], dict):
        return "(none)"
    first = reasons[0]
    rule = first.get("rule")
    return rule if isinstance(rule, str) else f"({first.get('code')})"
