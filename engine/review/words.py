"""A group of changed decisions in a sentence a reviewer reads first.

    Replies to negative posts from authors with 5,000 to 9,999 followers, by carol or dave:
    were allowed, now need approval from comms_lead.

The sentence names what the group's requests have in common and the space as a whole does not:
the action, the channels, the post (sentiment, category, reach range, labels), the actors (by
name when few, else by the role they share), the time of day and week, approvals, labels,
context and text. An attribute the group shares with the plain request every variation starts
from (a positive question from an author with 100 followers at 10:00 on a Wednesday) is left
out: that value is where the generator stood, not what sets the group apart.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from zoneinfo import ZoneInfo

from replygate.engine.review.cases import NEUTRAL_TEXT, UNDECLARED_ACCOUNT, Baseline
from replygate.engine.review.traits import Traits

RolesOf = Callable[[str, tuple[str, ...]], frozenset[str]]
MAX_NAMED = 3  # actors named one by one; beyond, the role they share


def _either(values: Iterable[str]) -> str:
    items = sorted(values)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def _every(values: Sequence[str]) -> str:
    """`care-team, legal-team and press-office`."""
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " and " + values[-1]


def _labels(sets: Iterable[tuple[str, ...]]) -> str:
    """`legal_claim and mentions_price` when every set has both, else `legal_claim or …`;
    `promo and legal_claim or mentions_price` when every set has promo and one of the others
    (another approval rule's label added to a change: "labelled promo" alone was too wide)."""
    each = [set(labels) for labels in sets]
    shared: set[str] = set.intersection(*each)
    if not shared:
        return _either(set.union(*each))
    both = " and ".join(sorted(shared))
    rest = [labels - shared for labels in each]
    return f"{both} and {_either(set.union(*rest))}" if all(rest) else both


def outcome_words(
    decision: str, roles: Sequence[str], escalate_to: str | None, *, past: bool = False
) -> str:
    """`are now allowed`, `now need approval from X` (past: `were allowed`, `needed …`)."""
    if decision == "approval_required":
        verb = "needed" if past else "now need"
        return f"{verb} approval from " + " and ".join(roles)
    done = {"allow": "allowed", "deny": "denied"}.get(decision, f"escalated to {escalate_to}")
    return f"were {done}" if past else f"are now {done}"


def _reach(group: Traits, every: Traits, baseline: Baseline) -> str | None:
    if not group.reaches or baseline.reach in group.reaches or group.reaches == every.reaches:
        return None
    low, high = min(group.reaches), max(group.reaches)
    if high == max(every.reaches) and low > min(every.reaches):
        return f"from authors with {low:,} or more followers"
    if low == min(every.reaches):
        return f"from authors with at most {high:,} followers"
    if low == high:
        return f"from authors with {low:,} followers"
    return f"from authors with {low:,} to {high:,} followers"


def _post(group: Traits, every: Traits, baseline: Baseline) -> str:
    """`negative complaints from authors with 10,000 or more followers`, or `posts`."""
    words = []
    if baseline.sentiment not in group.sentiments and group.sentiments != every.sentiments:
        words.append(_either(group.sentiments))
    if baseline.category not in group.categories and group.categories != every.categories:
        words.append(_either(f"{c.replace('_', ' ')} posts" for c in group.categories))
    else:
        words.append("posts")
    if () not in group.post_labels and group.post_labels:
        words.append("labelled " + _labels(group.post_labels))
    reach = _reach(group, every, baseline)
    return " ".join(words) + (f" {reach}" if reach else "")


def _subject(group: Traits, every: Traits, baseline: Baseline) -> str:
    channels = ""
    declared = group.channels & baseline.channels.keys()
    if declared != every.channels & baseline.channels.keys():
        # A channel stands for every channel no rule tells apart from it: name them all.
        names = [c for r in declared for c in baseline.channels[r]]
        if group.channels - declared:
            names.append("an undeclared channel")
        channels = f" on {_either(names)}"
    accounts = {
        pair
        for pair in every.accounts
        if pair[0] in group.channels and pair[1] not in (None, UNDECLARED_ACCOUNT)
    }
    if accounts and not group.accounts & accounts:
        # A channel given accounts refuses requests without one: say that is the difference.
        channels += " without a declared account"
    if group.actions == {"reply"}:
        return f"Replies to {_post(group, every, baseline)}{channels}"
    if group.actions == {"post"}:
        return f"New posts{channels}"
    return f"Replies and new posts{channels}"


def _actors(group: Traits, every: Traits, roles_of: RolesOf) -> str:
    if group.actors.keys() == every.actors.keys():
        return "by anyone"
    if group.actors.keys() == {a for a in every.actors if roles_of(*a)}:
        return "by anyone holding a role"
    names = _names(list(group.actors), roles_of)
    if len(names) <= MAX_NAMED:
        return "by " + _either(dict.fromkeys(names))
    shared = frozenset.intersection(*(roles_of(actor, groups) for actor, groups in group.actors))
    if shared:
        holders = " and ".join(sorted(shared))
        return f"by holders of {holders} ({len(names)} people and groups)"
    if all(not roles_of(actor, groups) for actor, groups in group.actors):
        return f"by people holding no role ({len(names)})"
    return f"by {len(names)} people and groups, e.g. {', '.join(names[:MAX_NAMED])}"


def _names(actors: Sequence[tuple[str, tuple[str, ...]]], roles_of: RolesOf) -> list[str]:
    """The actors by name: a person also tried in a group is named once, saying so (not as plain
    frank: frank alone may change on fewer posts than frank in care-team)."""
    in_groups: dict[str, list[str]] = {}
    for actor, groups in actors:
        # A person holds roles of their own; the space's stand-in for a group's members does not.
        if groups and roles_of(actor, ()):
            in_groups.setdefault(actor, []).append(_every(sorted(groups)))
    names: list[str] = []
    for actor, groups in actors:
        also = in_groups.get(actor, [])
        if not groups:
            shown = f" (also in {_either(also)})" if also else ""
            names.append(actor + shown)
        elif actor in in_groups:
            if (actor, ()) not in actors and also[0] == _every(sorted(groups)):
                names.append(f"{actor} as a member of {_either(also)}")
        else:
            names.append(f"a member of {', '.join(sorted(groups))}")
    return names


def _when(group: Traits, every: Traits, baseline: Baseline) -> str | None:
    tz = ZoneInfo(baseline.zone)
    base = baseline.at.astimezone(tz)
    local = [t.astimezone(tz) for t in group.times]
    if any(t.time() == base.time() and t.weekday() == base.weekday() for t in local):
        return None  # the generator's own time is among them: time is not what they share
    parts = []
    days = {t.weekday() for t in local}
    every_days = {t.astimezone(tz).weekday() for t in every.times}
    dates = sorted({t.date() for t in local})
    if (
        base.date() not in dates
        and len(dates) <= MAX_NAMED
        and len({t.astimezone(tz).date() for t in every.times}) > len(dates)
    ):
        # A closed date added or removed: "on weekdays between 08:00 and 17:59" read as every
        # office hour, when only that day changed.
        shown = [f"{d:%a %Y-%m-%d}" for d in dates]
        parts.append("on " + (f"{', '.join(shown[:-1])} or " if len(shown) > 1 else "") + shown[-1])
    elif days != every_days:
        if days <= {5, 6}:
            parts.append("on weekends")
        elif not days & {5, 6} and every_days & {5, 6}:
            parts.append("on weekdays")
    low, high = min(t.time() for t in local), max(t.time() for t in local)
    if low == high:
        parts.append(f"at {low:%H:%M}")
    else:
        parts.append(f"between {low:%H:%M} and {high:%H:%M}")
    return " ".join(parts)


def _extras(group: Traits, every: Traits) -> list[str]:
    found = []
    if NEUTRAL_TEXT not in group.texts:
        found.append(_text(group.texts, every.texts))
    if () not in group.approvals:
        approvers = sorted({by for approvals in group.approvals for by, _ in approvals})
        found.append("with an approval by " + _either(approvers))
    if () not in group.content_labels:
        found.append("labelled " + _labels(group.content_labels))
    if () not in group.contexts:
        shared_items = set.intersection(*(set(items) for items in group.contexts))
        for name, _, value in sorted(shared_items, key=lambda item: item[0]):
            shown = str(value).lower() if isinstance(value, bool) else str(value)
            found.append(f"while context.{name} is {shown}")
    return found


def _text(texts: Collection[str | None], every: Collection[str | None]) -> str:
    """The texts of a group without the neutral one. No text stands for the empty one too where
    the empty one was not tried (no pattern tells them apart)."""
    written = [text for text in texts if text]
    if written:
        return f'with a text like "{written[0]}"'
    if None not in texts:
        return "with an empty text"
    if "" in texts or "" not in every:
        return "without a text or with an empty one"
    return "without a text"


def summary(
    group: Traits,
    every: Traits,
    baseline: Baseline,
    roles_of: RolesOf,
    before: str,
    after: str,
) -> str:
    """The sentence for one group: who, what, when, and how the decision moved."""
    parts = [_subject(group, every, baseline), _actors(group, every, roles_of)]
    when = _when(group, every, baseline)
    if when:
        parts.append(when)
    parts += _extras(group, every)
    return f"{', '.join(parts)}: {before}, {after}."
