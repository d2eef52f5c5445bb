"""What changed in the policy text: rules, declarations, and who holds which authority.

Rules are matched by name and compared as syntax trees, whose equality ignores source spans:
a rule that was only reformatted or moved is unchanged. A rule removed and another added with
equal content is a rename, not two changes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, TypeVar

from replygate.policy_dsl import ast
from replygate.policy_dsl.durations import format_duration
from replygate.policy_dsl.formatter import format_policy

if TYPE_CHECKING:
    from replygate.engine.review import Side

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class FieldChange:
    """One part of a rule or declaration, as text before and after (None: absent on that side)."""

    field: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class RuleChange:
    """A rule added, removed, changed or renamed, with the rule's text on each side."""

    change: str  # "added" | "removed" | "changed" | "renamed"
    rule: str  # the name on HEAD (on BASE for a removed rule)
    old_name: str | None  # a renamed rule's name on BASE
    fields: tuple[FieldChange, ...]
    before: str | None
    after: str | None
    base_at: str | None  # file:line:col on BASE
    head_at: str | None


@dataclass(frozen=True)
class DeclarationChange:
    """A role, person, group, channel, account, calendar, period, unit, response time, list,
    category or label that changed."""

    kind: str
    name: str
    change: str  # "added" | "removed" | "changed"
    fields: tuple[FieldChange, ...]


@dataclass(frozen=True)
class RoleGrant:
    """A role a holder gained or lost, and how: assignment, inheritance, or a new holder."""

    role: str
    via: str


@dataclass(frozen=True)
class HolderChange:
    """A person or group whose effective roles (inheritance included) differ between the sides."""

    kind: str  # "person" | "group"
    holder: str
    gained: tuple[RoleGrant, ...]
    lost: tuple[RoleGrant, ...]


@dataclass(frozen=True)
class InheritanceChange:
    """A role that inherits more or fewer roles than before."""

    role: str
    extends_before: tuple[str, ...]
    extends_after: tuple[str, ...]
    gained: tuple[str, ...]
    lost: tuple[str, ...]


@dataclass
class Authority:
    """Who gained or lost what, and which roles' inheritance changed."""

    holders: list[HolderChange]
    roles: list[InheritanceChange]

    def __len__(self) -> int:
        return len(self.holders) + len(self.roles)


# ---- printing the policy language -------------------------------------------------------------

# The formatter prints a rule's clauses in a fixed order, one clause a line (a long condition
# continues on lines indented deeper), so each field's text can be read off its output.
_CLAUSE_FIELDS = {
    "allow": "effect",
    "deny": "effect",
    "escalate": "effect",
    "require": "effect",
    "on": "on",
    "via": "via",
    "by": "by",
    "when": "conditions",
    "unless": "conditions",
    "message": "message",
}


def rule_text(rule: ast.Rule) -> str:
    """The whole rule in the canonical `fmt` layout."""
    return format_policy(ast.PolicyFile(rule.span.file, (rule,))).strip("\n")


def rule_fields(rule: ast.Rule) -> dict[str, str]:
    """The rule's parts as `fmt` writes them: effect, on, via, by, conditions, message."""
    fields: dict[str, list[str]] = {
        "effect": [],
        "on": [],
        "via": ["via every channel"],
        "by": [],
        "conditions": [],
        "message": [],
    }
    current: list[str] | None = None
    seen: set[str] = set()
    for line in rule_text(rule).splitlines()[1:-1]:
        text = line.strip()
        if line.startswith(" " * 8) and current is not None:
            current.append(text)  # the continuation of a long condition
            continue
        field = _CLAUSE_FIELDS.get(text.split(" ", 1)[0])
        if field is None:
            continue
        if field not in seen:
            fields[field] = []
            seen.add(field)
        current = fields[field]
        current.append(text)
    return {name: "\n".join(lines) for name, lines in fields.items()}


def clock_text(minutes: int) -> str:
    """Minutes after midnight as HH:MM (24:00 for the end of the day)."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# ---- rules -----------------------------------------------------------------------------------


def _field_changes(before: Mapping[str, str], after: Mapping[str, str]) -> tuple[FieldChange, ...]:
    keys = list(dict.fromkeys([*before, *after]))
    return tuple(
        FieldChange(key, before.get(key), after.get(key))
        for key in keys
        if before.get(key) != after.get(key)
    )


def _same_but_name(old: ast.Rule, new: ast.Rule) -> bool:
    return dataclasses.replace(old, name=new.name) == new


def rule_changes(base: Side, head: Side) -> list[RuleChange]:
    """Rules changed, renamed, added and removed, in that order, matched by name."""
    old = base.result.symbols.rules.items
    new = head.result.symbols.rules.items
    changed = [
        RuleChange(
            "changed",
            name,
            None,
            _field_changes(rule_fields(old[name]), rule_fields(rule)),
            rule_text(old[name]),
            rule_text(rule),
            str(old[name].span),
            str(rule.span),
        )
        for name, rule in new.items()
        if name in old and old[name] != rule
    ]
    removed = [name for name in old if name not in new]
    added = [name for name in new if name not in old]
    renamed: list[RuleChange] = []
    for name in list(removed):
        twin = next((a for a in added if _same_but_name(old[name], new[a])), None)
        if twin is None:
            continue
        removed.remove(name)
        added.remove(twin)
        renamed.append(
            RuleChange(
                "renamed",
                twin,
                name,
                (FieldChange("name", name, twin),),
                rule_text(old[name]),
                rule_text(new[twin]),
                str(old[name].span),
                str(new[twin].span),
            )
        )
    return [
        *changed,
        *renamed,
        *(
            RuleChange(
                "added",
                n,
                None,
                _field_changes({}, rule_fields(new[n])),
                None,
                rule_text(new[n]),
                None,
                str(new[n].span),
            )
            for n in added
        ),
        *(
            RuleChange(
                "removed",
                n,
                None,
                _field_changes(rule_fields(old[n]), {}),
                rule_text(old[n]),
                None,
                str(old[n].span),
                None,
            )
            for n in removed
        ),
    ]


# ---- declarations ----------------------------------------------------------------------------


def _days_text(days: tuple[int, ...]) -> str:
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(
        DAY_NAMES[r[0]] if len(r) == 1 else f"{DAY_NAMES[r[0]]}-{DAY_NAMES[r[-1]]}" for r in runs
    )


def hours_text(calendar: ast.Calendar) -> str:
    """`mon-fri 08:00-18:00` (lines joined by `; `), or `always`."""
    if calendar.always:
        return "always"
    return "; ".join(
        _days_text(line.days)
        + " "
        + ", ".join(f"{clock_text(a)}-{clock_text(b)}" for a, b in line.ranges)
        for line in calendar.hours
    )


def _roster_fields(roster: ast.Roster) -> dict[str, str]:
    """A roster's lines as `fmt` writes them (members, hours, rotation, overrides), by keyword."""
    text = format_policy(ast.PolicyFile("<roster>", (roster,))).strip()
    fields: dict[str, list[str]] = {}
    for line in text.split("\n")[1:-1]:
        words = line.strip()
        keyword = words.split(" ", 1)[0]
        fields.setdefault(keyword, []).append(words)
    return {keyword: "; ".join(lines) for keyword, lines in fields.items()}


def _scoped_responses(rules: list[ast.ResponseTime]) -> dict[str, ast.ResponseTime]:
    """The `via`/`when` response-time rules, each named by what it applies to
    (`respond to complaint via twitter`), so a lengthened or removed one is listed."""
    found = {}
    for rule in rules:
        if rule.channels is None and not rule.when:
            continue
        bare = dataclasses.replace(rule, within=timedelta(minutes=1), calendar=None)
        text = format_policy(ast.PolicyFile("<response>", (bare,))).strip()
        found[" ".join(text.replace(" within 1m", "").split())] = rule
    return found


def _dates_text(dates: tuple[date, ...]) -> str:
    return ", ".join(d.isoformat() for d in sorted(set(dates))) or "none"


def _window_text(window: ast.Window) -> str:
    (start, start_min), (end, end_min) = window.start, window.end
    return f"from {start} {clock_text(start_min)} until {end} {clock_text(end_min)}"


def _zone(zone: ast.Name | None) -> str:
    return zone.value if zone is not None else "none"


D = TypeVar("D")


def _table_changes(
    kind: str,
    old: Mapping[str, D],
    new: Mapping[str, D],
    describe: Callable[[D], dict[str, str]],
) -> list[DeclarationChange]:
    found = []
    for name in dict.fromkeys([*old, *new]):
        if name not in new:
            found.append(
                DeclarationChange(kind, name, "removed", _field_changes(describe(old[name]), {}))
            )
        elif name not in old:
            found.append(
                DeclarationChange(kind, name, "added", _field_changes({}, describe(new[name])))
            )
        else:
            fields = _field_changes(describe(old[name]), describe(new[name]))
            if fields:
                found.append(DeclarationChange(kind, name, "changed", fields))
    return found


def declaration_changes(base: Side, head: Side) -> list[DeclarationChange]:
    """Every declaration other than rules that differs, grouped by kind."""
    old, new = base.result.symbols, head.result.symbols

    def names(roles: tuple[ast.Name, ...]) -> str:
        return ", ".join(r.value for r in roles) or "nothing"

    found: list[DeclarationChange] = []
    found += _table_changes(
        "unit", old.units.items, new.units.items, lambda u: {"title": u.title or ""}
    )
    found += _table_changes(
        "role",
        old.roles.items,
        new.roles.items,
        lambda r: {"extends": names(r.extends), "unit": r.unit.value if r.unit else "none"},
    )
    found += _table_changes(
        "person", old.people.items, new.people.items, lambda p: {"roles": names(p.roles)}
    )
    found += _table_changes(
        "group", old.groups.items, new.groups.items, lambda g: {"roles": names(g.roles)}
    )
    found += _table_changes("channel", old.channels.items, new.channels.items, lambda c: {})
    found += _table_changes("account", old.accounts.items, new.accounts.items, lambda a: {})
    found += _table_changes(
        "calendar",
        old.calendars(),
        new.calendars(),
        lambda c: {
            "zone": _zone(c.zone),
            "hours": hours_text(c),
            "closed": _dates_text(c.closed),
            # `closed every 12-31` and `holidays AT` close days as much as a dated `closed`.
            "closed every": ", ".join(f"{m:02d}-{d:02d}" for m, d in sorted(c.closed_every))
            or "none",
            "holidays": ", ".join(sorted(h.value for h in c.holidays)) or "none",
        },
    )
    found += _table_changes(
        "period",
        old.periods(),
        new.periods(),
        lambda p: {
            "zone": _zone(p.zone),
            "windows": "; ".join(_window_text(w) for w in p.windows),
        },
    )
    found += _table_changes(
        "response time",
        old.responses.items,
        new.responses.items,
        lambda r: {
            "within": format_duration(r.within),
            "counted on": r.calendar.value if r.calendar else "real time",
        },
    )
    # Response times for some channels or posts only: `responses` holds the plain ones.
    found += _table_changes(
        "response time",
        _scoped_responses(old.response_rules),
        _scoped_responses(new.response_rules),
        lambda r: {
            "within": format_duration(r.within),
            "counted on": r.calendar.value if r.calendar else "real time",
        },
    )
    found += _table_changes(
        "list",
        old.lists.items,
        new.lists.items,
        lambda n: {"kind": n.kind, "values": _list_values(n)},
    )
    # Rosters move `actor on duty` and who can answer in time: compared as written.
    found += _table_changes("roster", old.rosters.items, new.rosters.items, _roster_fields)
    found += _table_changes("category", old.categories.items, new.categories.items, lambda c: {})
    found += _table_changes("label", old.labels.items, new.labels.items, lambda c: {})
    return found


def _list_values(named: ast.NamedList) -> str:
    """The list's values as `fmt` writes them: quoted phrases, or bare symbols."""
    return ", ".join(f'"{v.value}"' if v.kind == "text" else str(v.value) for v in named.values)


# ---- authority -------------------------------------------------------------------------------


def _closed(closure: Mapping[str, frozenset[str]], role: str) -> frozenset[str]:
    return closure.get(role, frozenset({role}))


def _gain_reason(
    role: str,
    direct_now: set[str],
    direct_then: set[str],
    closure_now: Mapping[str, frozenset[str]],
    closure_then: Mapping[str, frozenset[str]],
    gained: bool,
) -> str:
    """How a holder came to hold (or stopped holding) `role`, seen from the side that has it."""
    if role in direct_now and role not in direct_then:
        return "direct assignment" if gained else "direct assignment removed"
    for via in sorted(direct_now):
        if role not in _closed(closure_now, via):
            continue
        if via in direct_then:
            verb = "now inherits" if gained else "no longer inherits"
            return f"extends change: {via} {verb} {role}"
        if gained:
            return f"newly assigned {via}, which inherits {role}"
        return f"{via} no longer assigned"
    return "inheritance change"


def _holder_changes(
    kind: str,
    old: Mapping[str, frozenset[str]],
    new: Mapping[str, frozenset[str]],
    old_direct: Mapping[str, set[str]],
    new_direct: Mapping[str, set[str]],
    base: Side,
    head: Side,
) -> list[HolderChange]:
    changes = []
    old_closure, new_closure = base.result.closure, head.result.closure
    for holder in dict.fromkeys([*old, *new]):
        before, after = old.get(holder, frozenset()), new.get(holder, frozenset())
        if before == after:
            continue
        gained = tuple(
            RoleGrant(
                role,
                f"new {kind}"
                if holder not in old
                else _gain_reason(
                    role,
                    new_direct[holder],
                    old_direct[holder],
                    new_closure,
                    old_closure,
                    gained=True,
                ),
            )
            for role in sorted(after - before)
        )
        lost = tuple(
            RoleGrant(
                role,
                f"{kind} removed"
                if holder not in new
                else _gain_reason(
                    role,
                    old_direct[holder],
                    new_direct[holder],
                    old_closure,
                    new_closure,
                    gained=False,
                ),
            )
            for role in sorted(before - after)
        )
        changes.append(HolderChange(kind, holder, gained, lost))
    return changes


def authority_changes(base: Side, head: Side) -> Authority:
    """People and groups whose effective roles changed, and roles whose inheritance changed."""
    old, new = base.result.symbols, head.result.symbols

    def direct(table: Mapping[str, ast.Person] | Mapping[str, ast.Group]) -> dict[str, set[str]]:
        return {name: {r.value for r in item.roles} for name, item in table.items()}

    holders = _holder_changes(
        "person",
        base.policy.people,
        head.policy.people,
        direct(old.people.items),
        direct(new.people.items),
        base,
        head,
    )
    holders += _holder_changes(
        "group",
        base.policy.groups,
        head.policy.groups,
        direct(old.groups.items),
        direct(new.groups.items),
        base,
        head,
    )
    roles = []
    for name, role in new.roles.items.items():
        if name not in old.roles:
            continue
        before = _closed(base.result.closure, name) - {name}
        after = _closed(head.result.closure, name) - {name}
        if before != after:
            roles.append(
                InheritanceChange(
                    name,
                    tuple(r.value for r in old.roles[name].extends),
                    tuple(r.value for r in role.extends),
                    tuple(sorted(after - before)),
                    tuple(sorted(before - after)),
                )
            )
    return Authority(holders, roles)
