"""The one canonical layout of a policy file, so that a policy diff shows only changes of meaning.

`format_source(text, path)` parses and reprints a file; `format_policy(file)` prints a tree.
Both keep the tree equal (`parse_policy(format_policy(f)) == f`) and keep every comment.

The layout, decided by the tree alone:

- Declarations stay in source order (for rules, order is meaning). One-line declarations of one
  kind (unit, role, person, group, channel, account, respond) form a group without blank lines;
  a blank line separates groups of different kinds and surrounds every block (calendar, period,
  rule). An empty block prints as `{}`.
- Inside `{}`: 4 spaces and no blank lines. A rule's clauses come in a fixed order: effect, `on`,
  `via`, `by`, each `when`, each `unless` (in source order), `message`. A calendar prints `zone`,
  `open always`, each `open` line, then one `closed` line; a period its `zone`, then its windows.
- Conditions take the fewest parentheses: `not` binds tightest, then `and`, then `or`; a nested
  `and`/`or` of the same kind keeps its parentheses, since it is a different tree. A `when` or
  `unless` line longer than 100 columns breaks before each top-level `and`/`or`, continuation
  lines indented 8 spaces; its operands are never broken. A `closed` list longer than 100 columns
  fills lines the same way.
- Literals: text re-escaped (`\\`, `\"`, `\n`, `\t`), numbers without `_`, durations by
  `format_duration`, patterns `/…/` with `\\/` for a slash, symbols bare. Days in list order with
  runs of three or more days as ranges (`mon-fri`, `sat, sun`); times `HH:MM`, the end of day
  `24:00`; dates ISO; windows always with their time (`from 2026-12-24 00:00 until …`).
- Person and group ids are quoted only when they are not a plain name or are a keyword.
- The file ends in exactly one newline; a file with no declarations and no comments is empty.

Comments are the author's and are placed by where they stood: a comment on a line of its own
goes before the declaration or clause that follows it (which it then travels with when clauses
are reordered), or before the `}` when nothing follows it in the block; a comment after code
stays at the end of that line, two spaces after the code (the 100-column limit counts only the
code). A clause or declaration keeps one trailing comment; comments from inside a multi-line
clause, and all but the last of several trailing ones, move above it. A list, category or label
declaration with comments among its items (before its last line) is printed one item a line,
each comment where it stood: after its item, above the next one, or before the closing `]`. At the top level a blank
line written before a comment, or between a comment and its declaration, is kept (at most one),
so comment paragraphs survive; inside blocks there are no blank lines.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeAlias

from replygate.policy_dsl import ast
from replygate.policy_dsl.durations import format_duration
from replygate.policy_dsl.parser import DAY_NAMES, keywords, parse_policy
from replygate.policy_dsl.source import UNKNOWN_SPAN, Span

INDENT = "    "
CONTINUATION = "    "  # added to the block indent: continuation lines start at column 9
MAX_WIDTH = 100

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*")
_BLOCKS = (ast.Calendar, ast.Period, ast.Rule, ast.Roster)

# A printed element: (index of its declaration, what it is inside it). "" is the declaration
# itself, "{" its header line, "}" its closing line, "end" the comments before the "}", and the
# other names are clauses ("effect", "when 0", "hours 1", ...). (len(declarations), "") is the
# end of the file.
Key: TypeAlias = tuple[int, str]
Pos: TypeAlias = tuple[int, int]


def format_source(text: str, path: str = "<policy>") -> str:
    """Parse `text` and print it in the canonical layout; raises `PolicyError` if it does not parse."""
    return format_policy(parse_policy(text, path))


def format_policy(file: ast.PolicyFile) -> str:
    """Print a policy tree in the canonical layout, ending in exactly one newline.

    Comments (`file.comments`, kept by the parser) are placed by the spans in the tree: every
    declaration and clause carries one. A tree built by hand has no clause spans, and a comment
    next to such a clause may move to a neighbouring one.
    """
    return _render(file, _attach(file.comments, _places_from_spans(file)))


# ---- literals and names ----------------------------------------------------------------------


def _quote(text: str) -> str:
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    )
    return f'"{escaped}"'


def _subject(name: ast.Name) -> str:
    plain = _PLAIN_NAME.fullmatch(name.value) and name.value not in keywords()
    return name.value if plain else _quote(name.value)


def _names(names: Iterable[ast.Name]) -> str:
    return ", ".join(n.value for n in names)


def _number(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    # repr is the shortest text that reads back as the same float; Decimal turns 1e+16 into digits.
    text = format(Decimal(repr(value)), "f")
    return text if "." in text else f"{text}.0"


def _literal(literal: ast.Literal) -> str:
    value = literal.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, int | float):
        return _number(value)
    return _quote(value) if literal.kind == "text" else value


def _pattern(matches: ast.Matches) -> str:
    return "/" + matches.pattern.replace("/", "\\/") + "/" + ("i" if matches.ignore_case else "")


def _days(days: Sequence[int]) -> str:
    """Days in the order written (the tree keeps it), runs of three or more as ranges."""
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts: list[str] = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{DAY_NAMES[run[0]]}-{DAY_NAMES[run[-1]]}")
        else:
            parts.extend(DAY_NAMES[day] for day in run)
    return ", ".join(parts)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _moment(point: tuple[date, int]) -> str:
    return f"{point[0].isoformat()} {_clock(point[1])}"


# ---- conditions ------------------------------------------------------------------------------


def _precedence(expr: ast.Expr) -> int:
    if isinstance(expr, ast.Or):
        return 1
    if isinstance(expr, ast.And):
        return 2
    if isinstance(expr, ast.Not):
        return 3
    return 4


def _operand(expr: ast.Expr, minimum: int) -> str:
    text = _expr(expr)
    return f"({text})" if _precedence(expr) < minimum else text


def _expr(expr: ast.Expr) -> str:
    """One condition on one line with the fewest parentheses that keep its tree."""
    match expr:
        case ast.Or(operands):
            return " or ".join(_operand(o, 2) for o in operands)
        case ast.And(operands):
            return " and ".join(_operand(o, 3) for o in operands)
        case ast.Not(operand):
            return "not " + _operand(operand, 3)
        case ast.Compare(path, op, value):
            return f"{path.dotted} {op} {_literal(value)}"
        case ast.Member(path, values, negated):
            return f"{path.dotted} {'not in' if negated else 'in'} [{', '.join(map(_literal, values))}]"
        case ast.HasLabel(path, label):
            return f"{path.dotted} has label {_literal(label)}"
        case ast.Matches(path):
            return f"{path.dotted} matches {_pattern(expr)}"
        case ast.ActorIs(role, negated):
            return f"actor is {'not ' if negated else ''}{role.value}"
        case ast.ActorHasNoRole():
            return "actor has no role"
        case ast.ActorInUnit(unit):
            return f"actor in unit {unit.value}"
        case ast.NowIn(name):
            return f"now in {name.value}"
        case ast.DeadlinePassed():
            return "deadline has passed"
        case ast.ActorOnDuty(roster):
            return "actor on duty" + ("" if roster is None else f" in {roster.value}")
        case ast.Truthy(path):
            return path.dotted
        case ast.InList(path, named, negated):
            return f"{path.dotted} {'not in' if negated else 'in'} {named.value}"
        case ast.Mentions(path, named):
            return f"{path.dotted} mentions any of {named.value}"


def _condition(keyword: str, expr: ast.Expr) -> list[str]:
    """`when`/`unless` lines: one line if it fits, else broken before each top-level and/or."""
    line = f"{keyword} {_expr(expr)}"
    if len(INDENT) + len(line) <= MAX_WIDTH or not isinstance(expr, ast.And | ast.Or):
        return [line]
    joiner, minimum = ("and", 3) if isinstance(expr, ast.And) else ("or", 2)
    first, *rest = (_operand(o, minimum) for o in expr.operands)
    return [f"{keyword} {first}", *(f"{CONTINUATION}{joiner} {text}" for text in rest)]


def _filled(head: str, words: Sequence[str]) -> list[str]:
    """`head w1, w2, …` on as few lines of at most 100 columns as it takes."""
    lines = [head]
    for index, word in enumerate(words):
        piece = word if index == len(words) - 1 else f"{word},"
        if lines[-1] != head and len(INDENT) + len(lines[-1]) + 1 + len(piece) > MAX_WIDTH:
            lines.append(CONTINUATION + piece)
        else:
            lines[-1] = f"{lines[-1]} {piece}"
    return lines


# ---- declarations ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Item:
    """One clause of a block as printed: its key and its lines, relative to the block indent."""

    key: str
    lines: list[str]


def _one_line(decl: ast.Declaration) -> str:
    match decl:
        case ast.Unit(name, title):
            return f"unit {name.value}" + ("" if title is None else f" {_quote(title)}")
        case ast.Role(name, extends, unit):
            text = f"role {name.value}"
            text += f" extends {_names(extends)}" if extends else ""
            return text + ("" if unit is None else f" in {unit.value}")
        case ast.Person(subject, roles):
            return f"person {_subject(subject)} is {_names(roles)}"
        case ast.Group(subject, roles):
            return f"group {_subject(subject)} is {_names(roles)}"
        case ast.Channel(names):
            return f"channel {_names(names)}"
        case ast.Account(handle, channel):
            return f"account {_quote(handle.value)} on {channel.value}"
        case ast.ResponseTime(category, within, calendar):
            text = f"respond to {category.value} within {format_duration(within)}"
            text += "" if calendar is None else f" during {calendar.value}"
            text += "" if decl.channels is None else f" via {_names(decl.channels)}"
            return text + "".join(f" when {_expr(e)}" for e in decl.when)
        case ast.Share(categories, units, when):
            text = f"share {_names(categories)} with {_names(units)}"
            return text + ("" if when is None else f" when {_expr(when)}")
    raise TypeError(f"not a one-line declaration: {type(decl).__name__}")


def _lines(decl: ast.Declaration) -> list[str]:
    """A one-line declaration; lists, categories and labels fill lines of 100 columns."""
    match decl:
        case ast.NamedList(name, "symbol", values):
            words = [_literal(v) for v in values]
            words[0] = "[" + words[0]
            words[-1] += "]"
            return _filled(f"list {name.value}", words)
        case ast.NamedList(name, _, values):
            return _filled(f"list {name.value}", [_literal(v) for v in values])
        case ast.Categories(names):
            return _filled("category", [n.value for n in names])
        case ast.Labels(names):
            return _filled("label", [n.value for n in names])
    return [_one_line(decl)]


def _list_parts(decl: ast.Declaration) -> tuple[str, list[str], bool]:
    """A list declaration's header, its items as printed, and whether they are in brackets."""
    match decl:
        case ast.NamedList(name, kind, values):
            return f"list {name.value}", [_literal(v) for v in values], kind == "symbol"
        case ast.Categories(names):
            return "category", [n.value for n in names], False
        case ast.Labels(names):
            return "label", [n.value for n in names], False
    raise TypeError(f"not a list declaration: {type(decl).__name__}")


def _calendar_items(calendar: ast.Calendar) -> Iterator[_Item]:
    if calendar.zone is not None:
        yield _Item("zone", [f"zone {_quote(calendar.zone.value)}"])
    if calendar.always:
        yield _Item("always", ["open always"])
    for index, hours in enumerate(calendar.hours):
        ranges = ", ".join(f"{_clock(start)}-{_clock(end)}" for start, end in hours.ranges)
        yield _Item(f"hours {index}", [f"open {_days(hours.days)} {ranges}"])
    if calendar.closed:
        yield _Item("closed", _filled("closed", [d.isoformat() for d in calendar.closed]))
    for index, country in enumerate(calendar.holidays):
        yield _Item(f"holidays {index}", [f"holidays {country.value}"])
    if calendar.closed_every:
        days = [f"{month:02d}-{day:02d}" for month, day in calendar.closed_every]
        yield _Item("closed_every", _filled("closed every", days))


def _roster_items(roster: ast.Roster) -> Iterator[_Item]:
    if roster.members:
        yield _Item("members", _filled("members", [_subject(m) for m in roster.members]))
    if roster.zone is not None:
        yield _Item("zone", [f"zone {_quote(roster.zone.value)}"])
    if roster.calendar is not None:
        yield _Item("roster_during", [f"during {roster.calendar.value}"])
    for index, hours in enumerate(roster.hours):
        ranges = ", ".join(f"{_clock(start)}-{_clock(end)}" for start, end in hours.ranges)
        yield _Item(f"hours {index}", [f"open {_days(hours.days)} {ranges}"])
    for index, rotation in enumerate(roster.rotations):
        length = _rotation_length(rotation.days, rotation.seconds)
        yield _Item(f"rotation {index}", [f"rotate every {length} from {_moment(rotation.anchor)}"])
    for index, override in enumerate(roster.overrides):
        window = f"from {_moment(override.window.start)} until {_moment(override.window.end)}"
        yield _Item(f"override {index}", [f"override {_subject(override.person)} {window}"])


def _rotation_length(days: int, seconds: int) -> str:
    """`1w`, `3d`, `12h`, `1d12h`: weeks when the days are whole weeks."""
    text = f"{days // 7}w" if days and days % 7 == 0 else (f"{days}d" if days else "")
    return text + (format_duration(timedelta(seconds=seconds)) if seconds or not days else "")


def _period_items(period: ast.Period) -> Iterator[_Item]:
    if period.zone is not None:
        yield _Item("zone", [f"zone {_quote(period.zone.value)}"])
    for index, window in enumerate(period.windows):
        text = f"from {_moment(window.start)} until {_moment(window.end)}"
        yield _Item(f"window {index}", [text])


def _effect(effect: ast.Effect) -> str:
    if effect.kind == "escalate":
        return f"escalate to {_names(effect.roles)}"
    if effect.kind == "approval_required" and effect.count > 1:
        return f"require {effect.count} approvals from {_names(effect.roles)}"
    if effect.kind == "approval_required":
        return f"require approval from {_names(effect.roles)}"
    return effect.kind


def _rule_items(rule: ast.Rule) -> Iterator[_Item]:
    yield _Item("effect", [_effect(rule.effect)])
    yield _Item("on", ["on " + ("any" if rule.actions is None else _names(rule.actions))])
    if rule.channels is not None:
        yield _Item("via", [f"via {_names(rule.channels)}"])
    yield _Item("by", ["by " + ("anyone" if rule.roles is None else _names(rule.roles))])
    for index, expr in enumerate(rule.when):
        yield _Item(f"when {index}", _condition("when", expr))
    for index, expr in enumerate(rule.unless):
        yield _Item(f"unless {index}", _condition("unless", expr))
    if rule.message is not None:
        yield _Item("message", [f"message {_quote(rule.message)}"])


def _block(decl: ast.Calendar | ast.Period | ast.Rule | ast.Roster) -> tuple[str, list[_Item]]:
    if isinstance(decl, ast.Calendar):
        return f"calendar {decl.name.value}", list(_calendar_items(decl))
    if isinstance(decl, ast.Period):
        return f"period {decl.name.value}", list(_period_items(decl))
    if isinstance(decl, ast.Roster):
        return f"roster {decl.name.value}", list(_roster_items(decl))
    return f"rule {decl.name.value}", list(_rule_items(decl))


# ---- where things stood in the source --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Place:
    """Where one printed element stood: its first character and its last line."""

    key: Key
    start: Pos
    end_line: int


@dataclass(frozen=True, slots=True)
class _DeclPlace:
    """Where a declaration stood; for a block also its header, clauses and `}` in source order,
    for a list declaration where each item starts."""

    start: Pos
    end_line: int
    inner: tuple[_Place, ...] | None
    items: tuple[Pos, ...] = ()


def _block_place(
    index: int, span: Span, header_end_line: int, clauses: Iterable[_Place]
) -> _DeclPlace:
    header = _Place((index, "{"), (span.line, span.column), header_end_line)
    closing = _Place((index, "}"), (span.end_line, max(1, span.end_column - 1)), span.end_line)
    inner = sorted([header, *clauses], key=lambda p: p.start)
    return _DeclPlace((span.line, span.column), span.end_line, (*inner, closing))


def _places_from_spans(file: ast.PolicyFile) -> list[_DeclPlace]:
    """Positions from the tree's spans, for trees printed without their text."""
    places = []
    for index, decl in enumerate(file.declarations):
        span = decl.span
        if not isinstance(decl, _BLOCKS):
            items = tuple((item.span.line, item.span.column) for item in _list_items(decl))
            known = all(_known(item.span) for item in _list_items(decl))
            places.append(
                _DeclPlace((span.line, span.column), span.end_line, None, items if known else ())
            )
            continue
        clauses = (
            _Place((index, key), (s.line, s.column), s.end_line) for key, s in _clause_spans(decl)
        )
        places.append(_block_place(index, span, decl.name.span.end_line, clauses))
    return places


def _list_items(decl: ast.Declaration) -> Sequence[ast.Literal | ast.Name]:
    """The items of a list declaration, the kind of declaration whose comments follow its items."""
    if isinstance(decl, ast.NamedList):
        return decl.values
    if isinstance(decl, ast.Categories | ast.Labels):
        return decl.names
    return ()


def _known(span: Span) -> bool:
    return span != UNKNOWN_SPAN


def _clause_spans(
    decl: ast.Calendar | ast.Period | ast.Rule | ast.Roster,
) -> Iterator[tuple[str, Span]]:
    """Each printed clause's key and where it was written (keyword included).

    The parser records every clause's span; a tree built by hand has none, and then the spans of
    the clause's contents stand in for it.
    """
    if isinstance(decl, ast.Rule):
        yield "effect", decl.effect.span
        for key, names, clause in (
            ("on", decl.actions, decl.on_span),
            ("via", decl.channels, decl.via_span),
            ("by", decl.roles, decl.by_span),
        ):
            if _known(clause):
                yield key, clause
            elif names:
                first, last = names[0].span, names[-1].span
                yield (
                    key,
                    Span(first.file, first.line, first.column, last.end_line, last.end_column),
                )
        for keyword, exprs, spans in (
            ("when", decl.when, decl.when_spans),
            ("unless", decl.unless, decl.unless_spans),
        ):
            for n, expr in enumerate(exprs):
                yield f"{keyword} {n}", spans[n] if n < len(spans) else expr.span
        if _known(decl.message_span):
            yield "message", decl.message_span
        return
    if isinstance(decl, ast.Roster):
        yield from _roster_spans(decl)
        return
    if _known(decl.zone_span):
        yield "zone", decl.zone_span
    elif decl.zone is not None:
        yield "zone", decl.zone.span
    if isinstance(decl, ast.Calendar):
        if _known(decl.always_span):
            yield "always", decl.always_span
        yield from ((f"hours {n}", h.span) for n, h in enumerate(decl.hours))
        yield from (("closed", s) for s in decl.closed_spans)
    else:
        yield from ((f"window {n}", w.span) for n, w in enumerate(decl.windows))


def _roster_spans(roster: ast.Roster) -> Iterator[tuple[str, Span]]:
    if roster.members:
        first, last = roster.members[0].span, roster.members[-1].span
        yield "members", Span(first.file, first.line, first.column, last.end_line, last.end_column)
    if roster.zone is not None:
        yield "zone", roster.zone.span
    if roster.calendar is not None:
        yield "roster_during", roster.calendar.span
    yield from ((f"hours {n}", h.span) for n, h in enumerate(roster.hours))
    yield from ((f"rotation {n}", r.span) for n, r in enumerate(roster.rotations))
    yield from ((f"override {n}", o.span) for n, o in enumerate(roster.overrides))


# ---- attaching comments ----------------------------------------------------------------------


@dataclass(slots=True)
class _Found:
    """The comments that belong to one printed element, as found in the source."""

    above: list[tuple[int, str]] = field(default_factory=list)  # (line, text), own lines before it
    later: list[tuple[Pos, str, bool]] = field(default_factory=list)  # (pos, text, on last line)


@dataclass(frozen=True, slots=True)
class _Notes:
    """The comments printed with one element: above it (text, blank line before), and after it."""

    above: tuple[tuple[str, bool], ...] = ()
    detached: bool = False  # a blank line between the comments above and the element
    trailing: str | None = None


def _covering(places: Iterable[_Place | _DeclPlace], pos: Pos) -> _Place | _DeclPlace | None:
    """The last-starting element that started before `pos` and runs onto its line."""
    found = [p for p in places if p.start <= pos and pos[0] <= p.end_line]
    return max(found, key=lambda p: p.start) if found else None


def _locate(pos: Pos, decls: Sequence[_DeclPlace], starts: Sequence[Pos]) -> tuple[Key, str]:
    """Which element a comment at `pos` goes with, and how: "above", "inside" or "trailing".

    `starts` are the declarations' starts, in order: a binary search finds the declaration, so
    placing the comments of a large file is not comments x declarations.
    """
    following = bisect_right(starts, pos)  # the first declaration starting after the comment
    index = bisect_left(starts, starts[following - 1]) if following else -1
    if index < 0 or pos[0] > decls[index].end_line:
        return (following, ""), "above"
    decl = decls[index]
    if decl.inner is None and decl.items and pos[0] != decl.end_line:
        return _locate_in_list(index, decl, pos)
    if decl.inner is None:
        return (index, ""), "trailing" if pos[0] == decl.end_line else "inside"
    element = _covering(decl.inner, pos)
    if isinstance(element, _Place):
        how = "trailing" if pos[0] == element.end_line else "inside"
        # A comment inside a header that spans lines goes above the whole declaration.
        moved = element.key == (index, "{") and how == "inside"
        return ((index, "") if moved else element.key), how
    later = [p.key for p in decl.inner if p.start > pos]
    key = later[0] if later else (index, "}")
    return ((index, "end") if key == (index, "}") else key), "above"


def _locate_in_list(index: int, decl: _DeclPlace, pos: Pos) -> tuple[Key, str]:
    """A comment among a list's items (not on its last line) goes with them: after an item on
    its line, it stays there ("trailing"); on a line of its own, above the next item; after the
    last item, before the closing `]` ("end"); on the first line before any item, after the
    header."""
    before = bisect_right(decl.items, pos)  # the items that start before the comment
    if before and decl.items[before - 1][0] == pos[0]:
        return (index, f"item {before - 1}"), "trailing"
    if before == 0 and pos[0] == decl.start[0]:
        return (index, "item header"), "trailing"
    if before < len(decl.items):
        return (index, f"item {before}"), "above"
    return (index, "item end"), "above"


def _attach(
    comments: Iterable[tuple[int, int, str]], decls: Sequence[_DeclPlace]
) -> dict[Key, _Notes]:
    found: dict[Key, _Found] = {}
    starts = [d.start for d in decls]
    for line, column, text in comments:
        key, how = _locate((line, column), decls, starts)
        entry = found.setdefault(key, _Found())
        if how == "above":
            entry.above.append((line, text))
        else:
            entry.later.append(((line, column), text, how == "trailing"))
    return {key: _settle(key, entry, decls) for key, entry in found.items()}


def _settle(key: Key, found: _Found, decls: Sequence[_DeclPlace]) -> _Notes:
    """Turn source positions into blank lines and one trailing comment."""
    index, part = key
    top_level = part == ""
    previous_end = decls[index - 1].end_line if top_level and 0 < index <= len(decls) else None
    start_line = decls[index].start[0] if top_level and index < len(decls) else None
    above: list[tuple[str, bool]] = []
    last_line = previous_end
    for line, text in found.above:
        above.append((text, top_level and last_line is not None and line - last_line > 1))
        last_line = line
    detached = bool(found.above) and start_line is not None and start_line - found.above[-1][0] > 1
    later = sorted(found.later)
    trailing = later.pop()[1] if later and later[-1][2] else None
    for position, (_, text, _) in enumerate(later):
        above.append((text, detached and position == 0))
    if later:
        detached = False
    return _Notes(tuple(above), detached and top_level, trailing)


# ---- printing --------------------------------------------------------------------------------


class _Printer:
    """Collects output lines; blank lines are requested, never doubled and never first."""

    def __init__(self, notes: dict[Key, _Notes]) -> None:
        self.lines: list[str] = []
        self.notes = notes
        self._listed = {index for index, part in notes if part.startswith("item ")}

    def blank(self) -> None:
        if self.lines and self.lines[-1]:
            self.lines.append("")

    def comments_above(self, key: Key, indent: str) -> None:
        notes = self.notes.get(key, _Notes())
        for text, blank in notes.above:
            if blank:
                self.blank()
            self.lines.append(indent + text)
        if notes.detached:
            self.blank()

    def element(self, key: Key, lines: Sequence[str], indent: str) -> None:
        """Comments above, then the lines, the trailing comment on the last one."""
        self.comments_above(key, indent)
        self.lines.extend(indent + line for line in lines[:-1])
        self.lines.append(indent + lines[-1] + self.trailing(key))

    def trailing(self, key: Key) -> str:
        text = self.notes.get(key, _Notes()).trailing
        return "" if text is None else f"  {text}"

    def block(self, index: int, header: str, items: Sequence[_Item]) -> None:
        self.comments_above((index, ""), "")
        self.comments_above((index, "{"), "")
        loose = self._loose_keys(index, items)
        if not items and not loose and self.notes.get((index, "{"), _Notes()).trailing is None:
            self.lines.append(f"{header} {{}}" + self.trailing((index, "}")))
            return
        self.lines.append(f"{header} {{" + self.trailing((index, "{")))
        for item in items:
            self.element((index, item.key), item.lines, INDENT)
        for key in loose:
            self.comments_above(key, INDENT)
            if (text := self.notes[key].trailing) is not None:
                self.lines.append(INDENT + text)
        self.comments_above((index, "}"), INDENT)
        self.lines.append("}" + self.trailing((index, "}")))

    def has_item_notes(self, index: int) -> bool:
        """Whether comments stood among the items of this list declaration."""
        return index in self._listed

    def list_by_item(self, index: int, header: str, words: Sequence[str], bracketed: bool) -> None:
        """A list with comments among its items: one item a line, each with its comments."""
        self.comments_above((index, ""), "")
        self.lines.append(
            header + (" [" if bracketed else "") + self.trailing((index, "item header"))
        )
        for position, word in enumerate(words):
            key = (index, f"item {position}")
            self.comments_above(key, CONTINUATION)
            comma = "," if position < len(words) - 1 else ""
            self.lines.append(CONTINUATION + word + comma + self.trailing(key))
        self.comments_above((index, "item end"), CONTINUATION)
        if bracketed:
            self.lines.append("]")
        self.lines[-1] += self.trailing((index, ""))

    def _loose_keys(self, index: int, items: Sequence[_Item]) -> list[Key]:
        """The comments before the `}`, after those of clauses not printed (never dropped)."""
        printed = {item.key for item in items} | {"", "{", "}", "end"}
        strays = [k for k in self.notes if k[0] == index and k[1] not in printed]
        return [*strays, (index, "end")] if (index, "end") in self.notes else strays


def _separated(previous: ast.Declaration, decl: ast.Declaration) -> bool:
    """A blank line between two declarations unless both are one-liners of the same kind."""
    blocks = isinstance(previous, _BLOCKS) or isinstance(decl, _BLOCKS)
    return blocks or type(previous) is not type(decl)


def _render(file: ast.PolicyFile, notes: dict[Key, _Notes]) -> str:
    printer = _Printer(notes)
    previous: ast.Declaration | None = None
    for index, decl in enumerate(file.declarations):
        if previous is not None and _separated(previous, decl):
            printer.blank()
        if isinstance(decl, _BLOCKS):
            printer.block(index, *_block(decl))
        elif printer.has_item_notes(index):
            printer.list_by_item(index, *_list_parts(decl))
        else:
            printer.element((index, ""), _lines(decl), "")
        previous = decl
    printer.comments_above((len(file.declarations), ""), "")
    return "\n".join(printer.lines) + "\n" if printer.lines else ""
