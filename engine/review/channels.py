"""Which channels and accounts matter. Channels that no rule and no declaration tells apart are
interchangeable: one channel of each such class stands for the others, which keeps policies
with many channels small. An undeclared channel is added, to see it refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from replygate.engine.review.facts import mentioned
from replygate.policy_dsl import ast

if TYPE_CHECKING:
    from replygate.engine.review import Side


class Channels:
    """The representative channels, the accounts declared for each, and an undeclared channel."""

    def __init__(
        self,
        sides: Sequence[Side],
        rules: Mapping[str, Sequence[ast.Rule]],
        lists: Mapping[str, ast.NamedList] | None = None,
    ) -> None:
        self.sides = tuple(sides)
        self.lists = dict(lists or {})
        self.members: dict[
            str, list[str]
        ] = {}  # each representative and the channels it stands for
        self.channels, self.undeclared = self._representatives(rules)
        self.accounts = self._accounts()

    def _representatives(self, rules: Mapping[str, Sequence[ast.Rule]]) -> tuple[list[str], str]:
        """One channel for each class of channels that no rule or declaration tells apart."""
        declared = [s.policy.channels for s in self.sides]
        accounts = [s.policy.accounts for s in self.sides]
        named = mentioned(rules.values(), "channel", self.lists)
        vias = [
            frozenset(c.value for c in rule.channels)
            for versions in rules.values()
            for rule in versions
            if rule.channels is not None
        ]
        # A response time for some channels only (`respond … via facebook`) tells them apart
        # too: merged into twitter's class, facebook's own deadline was never tried.
        vias += [
            frozenset(timed.channels)
            for side in self.sides
            for timed_rules in side.policy.response_rules.values()
            for timed in timed_rules
            if timed.channels is not None
        ]
        names: list[str] = []
        for side in reversed(self.sides):
            names += [c for c in side.result.symbols.channels.names() if c not in names]
        classes: dict[tuple[Any, ...], str] = {}
        for channel in names:
            signature = (
                tuple(channel in d for d in declared),
                tuple(a.get(channel) for a in accounts),
                tuple(channel in via for via in vias),
                channel if channel in named else None,
            )
            self.members.setdefault(classes.setdefault(signature, channel), []).append(channel)
        undeclared = "undeclared-channel"
        while undeclared in names:
            undeclared += "-x"
        return list(classes.values()), undeclared

    def _accounts(self) -> dict[str, list[str]]:
        found: dict[str, set[str]] = {}
        for side in self.sides:
            for channel, handles in side.policy.accounts.items():
                found.setdefault(channel, set()).update(handles)
        return {c: sorted(h) for c, h in found.items()}

    def base_account(self, channel: str) -> str | None:
        """The account a channel's requests use by default: one declared on both sides if any."""
        handles = self.accounts.get(channel)
        if not handles:
            return None
        both = [
            h for h in handles if all(h in s.policy.accounts.get(channel, ()) for s in self.sides)
        ]
        return (both or handles)[0]

    def accounts_to_try(self, channel: str) -> list[str | None]:
        """The accounts a rule's requests on `channel` are tried with: the default one, or
        when the change gives or takes the channel's accounts, each of them and none (a
        request without an account is refused where the channel has some)."""
        declared = [s.policy.accounts.get(channel, frozenset()) for s in self.sides]
        if declared[0] == declared[1]:
            return [self.base_account(channel)]
        return [*self.accounts.get(channel, ()), None]

    def used_by(self, rules: Sequence[ast.Rule]) -> list[str]:
        """The representative channels a rule (any version) can apply to."""
        if any(r.channels is None for r in rules):
            return self.channels
        named = {c.value for r in rules for c in r.channels or ()}
        return [c for c in self.channels if c in named]
