"""The policy set's namespace: every declaration of every file, by kind and name.

A policy set is a folder of files sharing one namespace. Collecting it is the first checker
pass; it reports each duplicate definition with both places.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from replygate.policy_dsl import ast
from replygate.policy_dsl.source import Diagnostic, Span

T = TypeVar("T")


@dataclass
class Table(Generic[T]):
    """Named declarations of one kind, in source order, with the span that defined each name."""

    kind: str
    items: dict[str, T] = field(default_factory=dict)
    spans: dict[str, Span] = field(default_factory=dict)
    # Second definitions of a name: not in effect. A rule's is still checked (`definitions`),
    # so that renaming it does not bring a new round of errors.
    duplicates: list[T] = field(default_factory=list)

    def add(self, name: ast.Name, item: T, problems: list[Diagnostic]) -> None:
        if name.value in self.items:
            first = self.spans[name.value]
            problems.append(
                Diagnostic(
                    "duplicate",
                    f"{self.kind} '{name.value}' is defined twice; first at {first}",
                    name.span,
                    help=f"rename one of them or remove the definition at {first}",
                )
            )
            self.duplicates.append(item)
            return
        self.items[name.value] = item
        self.spans[name.value] = name.span

    def __contains__(self, name: object) -> bool:
        return name in self.items

    def __getitem__(self, name: str) -> T:
        return self.items[name]

    def names(self) -> list[str]:
        return list(self.items)

    def definitions(self) -> list[T]:
        """Every definition, those of a name defined twice included."""
        return [*self.items.values(), *self.duplicates]


@dataclass
class Symbols:
    """Everything a policy set declares. Rules keep their source order across files."""

    units: Table[ast.Unit] = field(default_factory=lambda: Table("unit"))
    roles: Table[ast.Role] = field(default_factory=lambda: Table("role"))
    people: Table[ast.Person] = field(default_factory=lambda: Table("person"))
    groups: Table[ast.Group] = field(default_factory=lambda: Table("group"))
    channels: Table[ast.Name] = field(default_factory=lambda: Table("channel"))
    accounts: Table[ast.Account] = field(default_factory=lambda: Table("account"))
    times: Table[ast.Calendar | ast.Period] = field(
        default_factory=lambda: Table("calendar or period")
    )
    responses: Table[ast.ResponseTime] = field(
        default_factory=lambda: Table("response time for category")
    )
    rules: Table[ast.Rule] = field(default_factory=lambda: Table("rule"))
    lists: Table[ast.NamedList] = field(default_factory=lambda: Table("list"))
    categories: Table[ast.Name] = field(default_factory=lambda: Table("category"))
    labels: Table[ast.Name] = field(default_factory=lambda: Table("label"))
    rosters: Table[ast.Roster] = field(default_factory=lambda: Table("roster"))
    shares: list[ast.Share] = field(default_factory=list)
    # Every response-time rule in source order; `responses` holds the plain ones by category
    # (two of those for one category are a duplicate), those with `via`/`when` sit only here.
    response_rules: list[ast.ResponseTime] = field(default_factory=list)

    def calendars(self) -> dict[str, ast.Calendar]:
        return {n: c for n, c in self.times.items.items() if isinstance(c, ast.Calendar)}

    def periods(self) -> dict[str, ast.Period]:
        return {n: p for n, p in self.times.items.items() if isinstance(p, ast.Period)}

    def accounts_by_channel(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for account in self.accounts.items.values():
            found.setdefault(account.channel.value, set()).add(account.handle.value)
        return found


def collect(files: Iterable[ast.PolicyFile], problems: list[Diagnostic]) -> Symbols:
    """Put every declaration into its table; duplicates become diagnostics naming both places."""
    symbols = Symbols()
    for policy_file in files:
        for declaration in policy_file.declarations:
            _add(symbols, declaration, problems)
    return symbols


def _add(symbols: Symbols, declaration: ast.Declaration, problems: list[Diagnostic]) -> None:
    match declaration:
        case ast.Unit(name=name):
            symbols.units.add(name, declaration, problems)
        case ast.Role(name=name):
            _not_everyone(name, "role", problems)
            symbols.roles.add(name, declaration, problems)
        case ast.Person(id=name):
            _not_everyone(name, "person", problems)
            symbols.people.add(name, declaration, problems)
        case ast.Group(id=name):
            _not_everyone(name, "group", problems)
            symbols.groups.add(name, declaration, problems)
        case ast.Channel(names=names):
            for channel in names:
                symbols.channels.add(channel, channel, problems)
        case ast.Account(handle=handle, channel=channel):
            key = ast.Name(f"{handle.value} on {channel.value}", handle.span)
            symbols.accounts.add(key, declaration, problems)
        case ast.Calendar(name=name) | ast.Period(name=name):
            symbols.times.add(name, declaration, problems)
        case ast.ResponseTime(category=category):
            if declaration.channels is None and not declaration.when:
                symbols.responses.add(category, declaration, problems)
            symbols.response_rules.append(declaration)
        case ast.Rule(name=name):
            symbols.rules.add(name, declaration, problems)
        case ast.NamedList(name=name):
            symbols.lists.add(name, declaration, problems)
        case ast.Categories(names=names):
            for category in names:
                symbols.categories.add(category, category, problems)
        case ast.Labels(names=names):
            for label in names:
                symbols.labels.add(label, label, problems)
        case ast.Roster(name=name):
            symbols.rosters.add(name, declaration, problems)
        case ast.Share():
            symbols.shares.append(declaration)


def _not_everyone(name: ast.Name, kind: str, problems: list[Diagnostic]) -> None:
    """`by anyone` means every actor: a role, person or group of that name could never be
    told apart from it there, and a rule meant for a few would allow everyone."""
    if name.value == "anyone":
        problems.append(
            Diagnostic(
                "reserved-name",
                f"a {kind} may not be named 'anyone': `by anyone` means every actor",
                name.span,
                help="choose another name",
            )
        )
