"""What a set of generated requests has in common: the raw material of a group's summary.

Each group of changed decisions collects the distinct values its requests take (action,
channel, post, actor, time, approvals, labels, context); the whole space collects the same,
so the summary can say which of them set the group apart (see `words`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from replygate.engine.review.cases import ApprovalItem, Case, ContextItem


@dataclass
class Traits:
    """The distinct values a set of requests takes, attribute by attribute."""

    count: int = 0
    actions: set[str] = field(default_factory=set)
    channels: set[str] = field(default_factory=set)
    accounts: set[tuple[str, str | None]] = field(default_factory=set)  # (channel, account)
    sentiments: set[str] = field(default_factory=set)  # replies only, as are the next three
    categories: set[str] = field(default_factory=set)
    reaches: set[int] = field(default_factory=set)
    actors: dict[tuple[str, tuple[str, ...]], None] = field(default_factory=dict)  # in order
    times: set[datetime] = field(default_factory=set)
    approvals: set[tuple[ApprovalItem, ...]] = field(default_factory=set)
    content_labels: set[tuple[str, ...]] = field(default_factory=set)
    post_labels: set[tuple[str, ...]] = field(default_factory=set)
    contexts: set[tuple[ContextItem, ...]] = field(default_factory=set)
    texts: dict[str | None, None] = field(default_factory=dict)  # the publication's text, in order

    def add(self, case: Case) -> None:
        """Count one request in."""
        self.count += 1
        self.actions.add(case.action)
        self.channels.add(case.channel)
        self.accounts.add((case.channel, case.account))
        if case.sentiment is not None:
            self.sentiments.add(case.sentiment)
            if case.category is not None:
                self.categories.add(case.category)
            if case.reach is not None:
                self.reaches.add(case.reach)
            self.post_labels.add(case.post_labels)
        self.actors[(case.actor, case.groups)] = None
        self.times.add(case.at)
        self.approvals.add(case.approvals)
        self.content_labels.add(case.content_labels)
        self.contexts.add(case.context)
        self.texts[case.content_text] = None

    @classmethod
    def of(cls, cases: Iterable[Case]) -> Traits:
        """The traits of every request in `cases`."""
        traits = cls()
        for case in cases:
            traits.add(case)
        return traits
