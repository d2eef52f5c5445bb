"""Text to syntax tree: the LALR parser generated from `grammar.lark` and the one transformer.

`parse_policy(text, path)` returns a `PolicyFile` or raises `PolicyError` carrying every syntax
error of the file. LALR stops at the first bad token, so on failure the file is cut into its
top-level declarations and each is parsed on its own: one mistake per declaration is reported,
and a broken rule does not hide the errors of the next one.
"""

from __future__ import annotations

import math
import re
import threading
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any, TypeVar, cast

from lark import Lark, Token, Transformer_NonRecursive, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)
from lark.tree import Meta

from replygate.policy_dsl import ast, limits
from replygate.policy_dsl.durations import parse_duration, split_duration
from replygate.policy_dsl.source import INVISIBLE, UNKNOWN_SPAN, Diagnostic, PolicyError, Span

# Beyond this, numbers stop being exact as floats; no reach or threshold is that large.
MAX_NUMBER = 2**53
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DECLARATION_KEYWORDS = (
    "unit",
    "role",
    "person",
    "group",
    "channel",
    "account",
    "calendar",
    "period",
    "respond",
    "rule",
    "list",
    "category",
    "label",
    "roster",
    "share",
)


@cache
def _lark() -> Lark:
    grammar = (
        resources.files("replygate.policy_dsl").joinpath("grammar.lark").read_text(encoding="utf-8")
    )
    callbacks = dict.fromkeys([*_LIST_ITEMS, *_GUARDED], _guard.see)
    return Lark(
        grammar,
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=False,
        lexer_callbacks=callbacks,
    )


# ---- limits enforced while lexing ------------------------------------------------------------
# Parsing costs tens of microseconds a token, so a list of 100,000 items or 10,000 nested
# parentheses must be refused while it is read, not after: the lexer hands every list item,
# comma, bracket, parenthesis and brace to `_Guard.see`, which counts and stops the parse early.

_LIST_ITEMS = frozenset(
    {"NAME", "STRING", "NUMBER", "DURATION", "TRUE", "FALSE", "DATE", "DAYS", "TIME_RANGE"}
)
# Not `not`: a keyword that NAME also matches reaches the callbacks only in some parser states,
# so chains of `not` are bounded where the tree is built (`_Builder._nested`).
_GUARDED = frozenset({"COMMA", "LPAR", "RPAR", "LBRACE", "RBRACE", "LSQB", "RSQB"})


class _LimitExceeded(Exception):
    """Raised from the lexer when a list or a nesting goes past its limit."""

    def __init__(self, code: str, message: str, token: Token, help: str) -> None:
        super().__init__(message)
        self.code, self.message, self.token, self.help = code, message, token, help


class _Guard(threading.local):
    """Per-thread counters over the token stream of the parse in progress."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.commas = 0  # commas in the current list
        self.after_item = False  # the last counted token was a list item
        self.parens = 0  # open parentheses

    def see(self, token: Token) -> Token:
        kind = token.type
        if kind in _LIST_ITEMS:
            if self.after_item:  # two items without a comma between: a new list begins
                self.commas = 0
            self.after_item = True
            return token
        self.after_item = False
        if kind in ("LSQB", "RSQB"):  # a bracket starts or ends a list
            self.commas = 0
            return token
        if kind == "COMMA":
            self.commas += 1
            if self.commas >= limits.MAX_LIST_ITEMS:
                raise _LimitExceeded(
                    "too-many-items",
                    f"a list may hold at most {limits.MAX_LIST_ITEMS:,} items",
                    token,
                    "split the rule or the declaration into several",
                )
            return token
        if kind == "LPAR":
            self.parens += 1
        elif kind == "RPAR":
            self.parens = max(0, self.parens - 1)
        else:  # a brace: a block starts or ends, and no list or parenthesis runs on past it
            self.parens = 0
            self.commas = 0  # (10,000 rules `by a, b` were "a list of 10,000 items")
        if self.parens > limits.MAX_NESTING:
            raise _LimitExceeded(
                "too-deep",
                f"conditions may nest at most {limits.MAX_NESTING} levels deep",
                token,
                "split the rule or remove parentheses",
            )
        return token


_guard = _Guard()


@cache
def keywords() -> frozenset[str]:
    """Every word the grammar spells out (`rule`, `is`, `any`, ...): ids spelled so need quotes."""
    words = (t.pattern.value for t in _lark().terminals if t.pattern.type == "str")
    return frozenset(w for w in words if w.isalpha())


class _Problems:
    """Collects the value errors (bad date, bad duration) found while building the tree."""

    def __init__(self) -> None:
        self.found: list[Diagnostic] = []


_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
_ESCAPE = re.compile(r"\\(.)")


_Composite = TypeVar("_Composite", ast.Not, ast.And, ast.Or)


class _Builder(Transformer_NonRecursive[Token, Any]):
    """Turns lark's parse tree into `policy_dsl.ast` nodes with spans.

    Non-recursive, so a condition nested past the limit is reported rather than crashing.
    """

    def __init__(self, path: str, line_offset: int, problems: _Problems) -> None:
        super().__init__()
        self.file = path
        self.line_offset = line_offset
        self.problems = problems
        self.depths: dict[int, int] = {}  # id of a not/and/or node -> its nesting depth

    def _nested(self, node: _Composite, operands: list[Any]) -> _Composite:
        """Record the node's depth; report the first node past `MAX_NESTING` (not recursive)."""
        depth = 1 + max(self.depths.get(id(o), 0) for o in operands)
        self.depths[id(node)] = depth
        if depth == limits.MAX_NESTING + 1:
            self.problems.found.append(
                Diagnostic(
                    "too-deep",
                    f"conditions may nest at most {limits.MAX_NESTING} levels deep",
                    node.span,
                    help="split the rule or remove parentheses",
                )
            )
        return node

    # ---- positions -------------------------------------------------------------------------
    def _span(self, meta: Meta) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.file, 1 + self.line_offset, 1, 1 + self.line_offset, 1)
        return Span(
            self.file,
            meta.line + self.line_offset,
            meta.column,
            meta.end_line + self.line_offset,
            meta.end_column,
        )

    def _tspan(self, token: Token) -> Span:
        line = (token.line or 1) + self.line_offset
        end_line = (token.end_line or token.line or 1) + self.line_offset
        column = token.column or 1
        end_column = token.end_column or column + len(token)
        return Span(self.file, line, column, end_line, end_column)

    def _name(self, token: Token) -> ast.Name:
        value = self._unquote(token) if token.type == "STRING" else str(token)
        self._bounded(token, value, limits.MAX_NAME_LENGTH, "name")
        return ast.Name(value, self._tspan(token))

    def _unquote(self, token: Token) -> str:
        """A quoted text's value; an escape other than \\n \\t \\" \\\\ is reported at its column
        (it would silently lose its backslash: "C:\\Users" read as "C:Users")."""
        for unknown in _ESCAPE.finditer(str(token)):
            if unknown[1] not in _ESCAPES:
                line = (token.line or 1) + self.line_offset
                column = (token.column or 1) + unknown.start()
                self.problems.found.append(
                    Diagnostic(
                        "bad-escape",
                        f"'{unknown[0]}' is not an escape a text knows",
                        Span(self.file, line, column, line, column + 2),
                        help='the escapes are \\n, \\t, \\" and \\\\ (write \\\\ for a backslash)',
                    )
                )
        return _ESCAPE.sub(lambda found: _ESCAPES.get(found[1], found[1]), str(token)[1:-1])

    def _bounded(self, token: Token, value: str, limit: int, what: str) -> None:
        """Report a name, text or pattern longer than its limit (docs/limits.md)."""
        if len(value) > limit:
            self._problem(
                f"{what}-too-long",
                f"a {what} may be at most {limit:,} characters long; this one has {len(value):,}",
                token,
            )

    def _duplicate(self, kind: str, name: ast.Name, clause: str, span: Span) -> None:
        """A second single-valued clause (`zone`, `during`, …): last-wins would hide the first."""
        self.problems.found.append(
            Diagnostic(
                "duplicate-clause",
                f"{kind} '{name}' has two '{clause}' clauses",
                span,
                help=f"a {kind} has one '{clause}'; remove one",
            )
        )

    def _problem(self, code: str, message: str, token: Token, help: str | None = None) -> None:
        self.problems.found.append(Diagnostic(code, message, self._tspan(token), help=help))

    # ---- small pieces ----------------------------------------------------------------------
    def name_list(self, children: list[Token]) -> tuple[ast.Name, ...]:
        return tuple(self._name(t) for t in children)

    def subject(self, children: list[Token]) -> ast.Name:
        return self._name(children[0])

    @v_args(meta=True)
    def path(self, meta: Meta, children: list[Token]) -> ast.Path:
        path = ast.Path(tuple(str(t) for t in children), self._span(meta))
        # The whole dotted path is bounded (`context.` + a 256-character key is too long), which
        # bounds each of its parts as well; one diagnostic at the path.
        length = len(path.dotted)
        if length > limits.MAX_NAME_LENGTH:
            self.problems.found.append(
                Diagnostic(
                    "name-too-long",
                    f"an attribute path may be at most {limits.MAX_NAME_LENGTH:,} characters "
                    f"long; this one has {length:,}",
                    path.span,
                )
            )
        return path

    def _literal(self, token: Token, value: Any, kind: ast.LiteralKind) -> ast.Literal:
        return ast.Literal(value, kind, self._tspan(token))

    def text(self, children: list[Token]) -> ast.Literal:
        value = self._unquote(children[0])
        self._bounded(children[0], value, limits.MAX_TEXT_LENGTH, "text")
        return self._literal(children[0], value, "text")

    def number(self, children: list[Token]) -> ast.Literal:
        raw = str(children[0]).replace("_", "")
        try:
            value: int | float = float(raw) if "." in raw else int(raw)
        except ValueError:  # Python refuses integers of more than 4300 digits
            value = math.inf
        if not math.isfinite(value) or abs(value) > MAX_NUMBER:
            self._problem("bad-number", f"'{children[0]}' is too large a number", children[0])
            value = 0
        elif isinstance(value, float) and Decimal(repr(value)) != Decimal(raw):
            # A double holds about 15 significant digits: `…496.5` was read (and rewritten by
            # fmt) as `…496.0`, moving a threshold without a word.
            self._problem(
                "bad-number",
                f"'{children[0]}' has more digits than a number holds exactly: it would be read "
                f"as {value!r}",
                children[0],
            )
        return self._literal(children[0], value, "number")

    def duration(self, children: list[Token]) -> ast.Literal:
        return self._literal(children[0], self._duration(children[0]), "duration")

    def true(self, children: list[Token]) -> ast.Literal:
        return self._literal(children[0], True, "bool")

    def false(self, children: list[Token]) -> ast.Literal:
        return self._literal(children[0], False, "bool")

    def symbol(self, children: list[Token]) -> ast.Literal:
        self._bounded(children[0], str(children[0]), limits.MAX_NAME_LENGTH, "name")
        return self._literal(children[0], str(children[0]), "symbol")

    def value_list(self, children: list[ast.Literal]) -> tuple[ast.Literal, ...]:
        return tuple(children)

    def _duration(self, token: Token) -> timedelta:
        try:
            return parse_duration(str(token))
        except ValueError as exc:
            self._problem(
                "bad-duration", str(exc), token, help="write durations like 30m, 4h or 1h30m"
            )
            return timedelta(0)

    def _date(self, token: Token) -> date:
        try:
            return date.fromisoformat(str(token))
        except ValueError:
            self._problem(
                "bad-date",
                f"'{token}' is not a calendar date",
                token,
                help="write dates as YYYY-MM-DD",
            )
            return date(1970, 1, 1)

    def _clock(self, token: Token, allow_24: bool) -> int:
        hours, minutes = (int(part) for part in str(token).split(":"))
        total = hours * 60 + minutes
        limit = 24 * 60 if allow_24 else 24 * 60 - 1
        if minutes > 59 or total > limit:
            self._problem(
                "bad-time",
                f"'{token}' is not a time of day",
                token,
                help="times run from 00:00 to 24:00"
                if allow_24
                else "times run from 00:00 to 23:59 here: 24:00 only ends an opening range "
                "(write 00:00 of the next day)",
            )
            return 0
        return total

    # ---- conditions ------------------------------------------------------------------------
    @v_args(meta=True)
    def comparison(self, meta: Meta, children: list[Any]) -> ast.Compare:
        path, op, value = children
        return ast.Compare(path, cast(ast.CompareOp, str(op)), value, self._span(meta))

    @v_args(meta=True)
    def member(self, meta: Meta, children: list[Any]) -> ast.Member:
        return ast.Member(children[0], children[-1], False, self._span(meta))

    @v_args(meta=True)
    def not_member(self, meta: Meta, children: list[Any]) -> ast.Member:
        return ast.Member(children[0], children[-1], True, self._span(meta))

    @v_args(meta=True)
    def has_label(self, meta: Meta, children: list[Any]) -> ast.HasLabel:
        return ast.HasLabel(children[0], children[1], self._span(meta))

    @v_args(meta=True)
    def matches(self, meta: Meta, children: list[Any]) -> ast.Matches:
        path, token = children
        raw = str(token)
        ignore_case = raw.endswith("i")
        body = raw[1:-2] if ignore_case else raw[1:-1]
        self._bounded(token, body, limits.MAX_PATTERN_LENGTH, "pattern")
        return ast.Matches(
            path,
            body.replace("\\/", "/"),
            ignore_case,
            self._span(meta),
            pattern_span=self._tspan(token),
        )

    @v_args(meta=True)
    def actor_is(self, meta: Meta, children: list[Token]) -> ast.ActorIs:
        negated = any(t.type == "NOT" for t in children)
        role = next(t for t in children if t.type == "NAME")
        return ast.ActorIs(self._name(role), negated, self._span(meta))

    @v_args(meta=True)
    def actor_has_no_role(self, meta: Meta, children: list[Token]) -> ast.ActorHasNoRole:
        return ast.ActorHasNoRole(self._span(meta))

    @v_args(meta=True)
    def actor_in_unit(self, meta: Meta, children: list[Token]) -> ast.ActorInUnit:
        unit = next(t for t in children if t.type == "NAME")
        return ast.ActorInUnit(self._name(unit), self._span(meta))

    @v_args(meta=True)
    def now_in(self, meta: Meta, children: list[Token]) -> ast.NowIn:
        return ast.NowIn(self._name(children[-1]), self._span(meta))

    @v_args(meta=True)
    def deadline_passed(self, meta: Meta, children: list[Token]) -> ast.DeadlinePassed:
        return ast.DeadlinePassed(self._span(meta))

    @v_args(meta=True)
    def truthy(self, meta: Meta, children: list[Any]) -> ast.Truthy:
        return ast.Truthy(children[0], self._span(meta))

    @v_args(meta=True)
    def negation(self, meta: Meta, children: list[Any]) -> ast.Not:
        node = ast.Not(children[-1], self._span(meta))
        return self._nested(node, children[-1:])

    @v_args(meta=True)
    def and_expr(self, meta: Meta, children: list[Any]) -> ast.And:
        return self._nested(ast.And(tuple(children), self._span(meta)), children)

    @v_args(meta=True)
    def or_expr(self, meta: Meta, children: list[Any]) -> ast.Or:
        return self._nested(ast.Or(tuple(children), self._span(meta)), children)

    # ---- declarations ----------------------------------------------------------------------
    @v_args(meta=True)
    def unit(self, meta: Meta, children: list[Token]) -> ast.Unit:
        title = self._unquote(children[1]) if len(children) > 1 else None
        if title is not None:
            self._bounded(children[1], title, limits.MAX_TEXT_LENGTH, "text")
        return ast.Unit(self._name(children[0]), title, self._span(meta))

    @v_args(meta=True)
    def role(self, meta: Meta, children: list[Any]) -> ast.Role:
        name = self._name(children[0])
        extends: tuple[ast.Name, ...] = ()
        unit = None
        for child in children[1:]:
            if isinstance(child, tuple):
                extends = child
            else:
                unit = self._name(child)
        return ast.Role(name, extends, unit, self._span(meta))

    @v_args(meta=True)
    def person(self, meta: Meta, children: list[Any]) -> ast.Person:
        return ast.Person(children[0], children[1], self._span(meta))

    @v_args(meta=True)
    def group(self, meta: Meta, children: list[Any]) -> ast.Group:
        return ast.Group(children[0], children[1], self._span(meta))

    @v_args(meta=True)
    def channel(self, meta: Meta, children: list[Any]) -> ast.Channel:
        return ast.Channel(children[0], self._span(meta))

    @v_args(meta=True)
    def account(self, meta: Meta, children: list[Token]) -> ast.Account:
        return ast.Account(self._name(children[0]), self._name(children[1]), self._span(meta))

    @v_args(meta=True)
    def zone(self, meta: Meta, children: list[Token]) -> tuple[str, ast.Name, Span]:
        # No length limit here: a zone name too long for any zone is an unknown zone (checker).
        zone = ast.Name(self._unquote(children[0]), self._tspan(children[0]))
        return ("zone", zone, self._span(meta))

    def day_list(self, children: list[Token]) -> tuple[int, ...]:
        days: list[int] = []
        for token in children:
            first, _, last = str(token).partition("-")
            start = DAY_NAMES.index(first)
            stop = DAY_NAMES.index(last) if last else start
            if stop < start:
                self._problem(
                    "bad-days",
                    f"day range '{token}' runs backwards",
                    token,
                    help="write mon-fri, not fri-mon",
                )
            days.extend(range(start, stop + 1))
        # `open wed, mon` and `open mon, wed` mean the same: one tree, so diffs see no change.
        return tuple(sorted(set(days)))

    def time_range_list(self, children: list[Token]) -> tuple[tuple[int, int], ...]:
        ranges = []
        for token in children:
            first, last = str(token).split("-")
            start = self._clock(
                Token(
                    "CLOCK",
                    first,
                    line=token.line,
                    column=token.column,
                    end_line=token.end_line,
                    end_column=token.end_column,
                ),
                allow_24=False,
            )
            end = self._clock(
                Token(
                    "CLOCK",
                    last,
                    line=token.line,
                    column=token.column,
                    end_line=token.end_line,
                    end_column=token.end_column,
                ),
                allow_24=True,
            )
            if start == end:
                self._problem("bad-hours", f"opening hours '{token}' are empty", token)
            ranges.append((start, end))
        return tuple(ranges)

    @v_args(meta=True)
    def open_hours(self, meta: Meta, children: list[Any]) -> tuple[str, ast.OpenHours, Span]:
        span = self._span(meta)
        return ("hours", ast.OpenHours(children[0], children[1], span), span)

    @v_args(meta=True)
    def open_always(self, meta: Meta, children: list[Any]) -> tuple[str, bool, Span]:
        return ("always", True, self._span(meta))

    @v_args(meta=True)
    def closed(self, meta: Meta, children: list[Token]) -> tuple[str, tuple[date, ...], Span]:
        return ("closed", tuple(self._date(t) for t in children), self._span(meta))

    @v_args(meta=True)
    def calendar(self, meta: Meta, children: list[Any]) -> ast.Calendar:
        zone = None
        hours: list[ast.OpenHours] = []
        closed: list[date] = []
        always = False
        zone_span = always_span = UNKNOWN_SPAN
        closed_spans: list[Span] = []
        holidays: list[ast.Name] = []
        closed_every: list[tuple[int, int]] = []
        name = self._name(children[0])
        for kind, value, clause_span in children[1:]:
            if kind == "zone":
                if zone is not None:
                    self._duplicate("calendar", name, "zone", clause_span)
                zone, zone_span = value, clause_span
            elif kind == "hours":
                hours.append(value)
            elif kind == "always":
                if always:
                    self._duplicate("calendar", name, "open always", clause_span)
                always, always_span = True, clause_span
            elif kind == "holidays":
                holidays.append(value)
            elif kind == "closed_every":
                closed_every.extend(value)
                closed_spans.append(clause_span)
            else:
                closed.extend(value)
                closed_spans.append(clause_span)
        return ast.Calendar(
            name,
            zone,
            tuple(hours),
            always,
            tuple(closed),
            self._span(meta),
            zone_span=zone_span,
            always_span=always_span,
            closed_spans=tuple(closed_spans),
            holidays=tuple(holidays),
            closed_every=tuple(closed_every),
        )

    @v_args(meta=True)
    def window(self, meta: Meta, children: list[Token]) -> ast.Window:
        points: list[tuple[date, int]] = []
        for token in children:
            if token.type == "DATE":
                points.append((self._date(token), 0))
            else:
                points[-1] = (points[-1][0], self._clock(token, allow_24=False))
        return ast.Window(points[0], points[1], self._span(meta))

    @v_args(meta=True)
    def period(self, meta: Meta, children: list[Any]) -> ast.Period:
        zone = None
        zone_span = UNKNOWN_SPAN
        windows = []
        for child in children[1:]:
            if isinstance(child, ast.Window):
                windows.append(child)
            else:
                _, zone, zone_span = child
        return ast.Period(
            self._name(children[0]), zone, tuple(windows), self._span(meta), zone_span=zone_span
        )

    @v_args(meta=True)
    def respond(self, meta: Meta, children: list[Any]) -> ast.ResponseTime:
        tokens = [c for c in children if isinstance(c, Token)]
        conditions = [c for c in children if isinstance(c, tuple)]
        calendar = self._name(tokens[2]) if len(tokens) > 2 else None
        channels = next((value for kind, value, _ in conditions if kind == "via"), None)
        when = tuple(value for kind, value, _ in conditions if kind == "when")
        for kind, _, clause_span in [c for c in conditions if c[0] == "via"][1:]:
            self.problems.found.append(
                Diagnostic(
                    "duplicate-clause",
                    f"a response time has two '{kind}' clauses",
                    clause_span,
                    help="merge them into one list",
                )
            )
        return ast.ResponseTime(
            self._name(tokens[0]),
            self._duration(tokens[1]),
            calendar,
            self._span(meta),
            channels,
            when,
        )

    # ---- rules -----------------------------------------------------------------------------
    @v_args(meta=True)
    def allow(self, meta: Meta, children: list[Any]) -> ast.Effect:
        return ast.Effect("allow", (), self._span(meta))

    @v_args(meta=True)
    def deny(self, meta: Meta, children: list[Any]) -> ast.Effect:
        return ast.Effect("deny", (), self._span(meta))

    @v_args(meta=True)
    def escalate(self, meta: Meta, children: list[Token]) -> ast.Effect:
        return ast.Effect("escalate", (self._name(children[0]),), self._span(meta))

    @v_args(meta=True)
    def require(self, meta: Meta, children: list[Any]) -> ast.Effect:
        return ast.Effect("approval_required", children[0], self._span(meta))

    @v_args(meta=True)
    def on(self, meta: Meta, children: list[Any]) -> tuple[str, Any, Span]:
        value = None if isinstance(children[0], Token) else children[0]
        return ("on", value, self._span(meta))

    @v_args(meta=True)
    def via(self, meta: Meta, children: list[Any]) -> tuple[str, Any, Span]:
        return ("via", children[0], self._span(meta))

    @v_args(meta=True)
    def by(self, meta: Meta, children: list[Any]) -> tuple[str, Any, Span]:
        value = None if isinstance(children[0], Token) else children[0]
        return ("by", value, self._span(meta))

    @v_args(meta=True)
    def when(self, meta: Meta, children: list[Any]) -> tuple[str, Any, Span]:
        return ("when", children[0], self._span(meta))

    @v_args(meta=True)
    def unless(self, meta: Meta, children: list[Any]) -> tuple[str, Any, Span]:
        return ("unless", children[0], self._span(meta))

    @v_args(meta=True)
    def message(self, meta: Meta, children: list[Token]) -> tuple[str, Any, Span]:
        text = self._unquote(children[0])
        self._bounded(children[0], text, limits.MAX_TEXT_LENGTH, "text")
        return ("message", text, self._span(meta))

    @v_args(meta=True)
    def rule(self, meta: Meta, children: list[Any]) -> ast.Rule:
        name = self._name(children[0])
        span = self._span(meta)
        effects = [c for c in children[1:] if isinstance(c, ast.Effect)]
        clauses: dict[str, tuple[Any, Span]] = {}
        when: list[ast.Expr] = []
        unless: list[ast.Expr] = []
        when_spans: list[Span] = []
        unless_spans: list[Span] = []
        for child in children[1:]:
            if isinstance(child, ast.Effect):
                continue
            kind, value, clause_span = child
            if kind == "when":
                when.append(value)
                when_spans.append(clause_span)
            elif kind == "unless":
                unless.append(value)
                unless_spans.append(clause_span)
            elif kind in clauses:
                self.problems.found.append(
                    Diagnostic(
                        "duplicate-clause",
                        f"rule '{name}' has two '{kind}' clauses",
                        clause_span,
                        help="merge them into one list",
                    )
                )
            else:
                clauses[kind] = (value, clause_span)
        if not effects:
            self.problems.found.append(
                Diagnostic(
                    "missing-effect",
                    f"rule '{name}' says neither allow, deny, escalate to nor require approval from",
                    name.span,
                )
            )
        for extra in effects[1:]:
            self.problems.found.append(
                Diagnostic(
                    "duplicate-effect",
                    f"rule '{name}' has more than one effect",
                    extra.span,
                    help="split it into two rules",
                )
            )
        for required in ("on", "by"):
            if required not in clauses:
                example = "on reply" if required == "on" else "by agent"
                self.problems.found.append(
                    Diagnostic(
                        f"missing-{required}",
                        f"rule '{name}' has no '{required}' clause",
                        name.span,
                        help=f"add e.g. '{example}' (or '{required} {'any' if required == 'on' else 'anyone'}')",
                    )
                )
        effect = effects[0] if effects else ast.Effect("deny", (), span)
        missing = (None, UNKNOWN_SPAN)
        return ast.Rule(
            name,
            effect,
            clauses.get("on", missing)[0],
            clauses.get("via", missing)[0],
            clauses.get("by", missing)[0],
            tuple(when),
            tuple(unless),
            clauses.get("message", missing)[0],
            span,
            on_span=clauses.get("on", missing)[1],
            via_span=clauses.get("via", missing)[1],
            by_span=clauses.get("by", missing)[1],
            when_spans=tuple(when_spans),
            unless_spans=tuple(unless_spans),
            message_span=clauses.get("message", missing)[1],
        )

    # ---- lists, declared categories and labels, N approvals (issue 13) ----------------------
    @v_args(meta=True)
    def require_n(self, meta: Meta, children: list[Any]) -> ast.Effect:
        token, roles = children
        raw = str(token).replace("_", "")
        count = int(raw) if raw.isdigit() else 0
        if count < 1 or count > 100:
            self._problem(
                "bad-number",
                f"'{token}' is not a number of approvals",
                token,
                help="write a whole number from 1 to 100, e.g. require 2 approvals from legal",
            )
            count = 1
        return ast.Effect("approval_required", roles, self._span(meta), count)

    @v_args(meta=True)
    def in_list(self, meta: Meta, children: list[Any]) -> ast.InList:
        return ast.InList(children[0], self._name(children[-1]), False, self._span(meta))

    @v_args(meta=True)
    def not_in_list(self, meta: Meta, children: list[Any]) -> ast.InList:
        return ast.InList(children[0], self._name(children[-1]), True, self._span(meta))

    @v_args(meta=True)
    def mentions(self, meta: Meta, children: list[Any]) -> ast.Mentions:
        return ast.Mentions(children[0], self._name(children[-1]), self._span(meta))

    @v_args(meta=True)
    def named_list(self, meta: Meta, children: list[Any]) -> ast.NamedList:
        name = self._name(children[0])
        if isinstance(children[1], tuple):
            return ast.NamedList(name, "symbol", children[1], self._span(meta))
        phrases = tuple(self.text([token]) for token in children[1:])
        for phrase, token in zip(phrases, children[1:], strict=True):
            if not str(phrase.value).strip():
                self._problem("bad-phrase", "a phrase in a list cannot be empty", token)
        return ast.NamedList(name, "text", phrases, self._span(meta))

    @v_args(meta=True)
    def categories(self, meta: Meta, children: list[Any]) -> ast.Categories:
        return ast.Categories(children[0], self._span(meta))

    @v_args(meta=True)
    def labels(self, meta: Meta, children: list[Any]) -> ast.Labels:
        return ast.Labels(children[0], self._span(meta))

    # ---- rosters, holidays, on duty, share ---------------------------------------------------
    @v_args(meta=True)
    def holidays(self, meta: Meta, children: list[Token]) -> tuple[str, ast.Name, Span]:
        return ("holidays", self._name(children[0]), self._span(meta))

    @v_args(meta=True)
    def closed_every(
        self, meta: Meta, children: list[Token]
    ) -> tuple[str, tuple[tuple[int, int], ...], Span]:
        found = []
        for token in children:
            month, day = (int(part) for part in str(token).split("-"))
            try:
                date(2024, month, day)  # a leap year: 02-29 is a date that recurs
            except ValueError:
                self._problem(
                    "bad-date",
                    f"'{token}' is not a day of the year",
                    token,
                    help="write recurring dates as MM-DD, e.g. 12-24",
                )
                continue
            found.append((month, day))
        return ("closed_every", tuple(found), self._span(meta))

    def members(self, children: list[ast.Name]) -> tuple[str, tuple[ast.Name, ...]]:
        return ("members", tuple(children))

    @v_args(meta=True)
    def roster_during(self, meta: Meta, children: list[Token]) -> tuple[str, ast.Name, Span]:
        return ("during", self._name(children[0]), self._span(meta))

    @v_args(meta=True)
    def rotation(self, meta: Meta, children: list[Token]) -> tuple[str, ast.Rotation]:
        length, day = children[0], children[1]
        try:
            # `0d` is well-formed; the checker says why a rotation cannot be 0 long.
            zero = not re.sub(r"[^1-9]", "", str(length))
            days, seconds = (0, 0) if zero else split_duration(str(length))
        except ValueError as exc:
            self._problem(
                "bad-duration",
                str(exc),
                length,
                help="a rotation takes turns of e.g. 1w, 1d or 12h",
            )
            days, seconds = 0, 0
        minutes = self._clock(children[2], allow_24=False) if len(children) > 2 else 0
        anchor = (self._date(day), minutes)
        return ("rotation", ast.Rotation(days, seconds, anchor, self._span(meta)))

    @v_args(meta=True)
    def override(self, meta: Meta, children: list[Any]) -> tuple[str, ast.Override]:
        return ("override", ast.Override(children[0], children[1], self._span(meta)))

    @v_args(meta=True)
    def roster(self, meta: Meta, children: list[Any]) -> ast.Roster:
        members: list[ast.Name] = []
        calendar = zone = None
        hours: list[ast.OpenHours] = []
        rotations: list[ast.Rotation] = []
        overrides: list[ast.Override] = []
        name = self._name(children[0])
        for kind, value, *rest in children[1:]:
            if kind == "members":
                members.extend(value)
            elif kind == "during":
                if calendar is not None:
                    self._duplicate("roster", name, "during", rest[0])
                calendar = value
            elif kind == "zone":
                if zone is not None:
                    self._duplicate("roster", name, "zone", rest[0])
                zone = value
            elif kind == "hours":
                hours.append(value)
            elif kind == "rotation":
                rotations.append(value)
            else:
                overrides.append(value)
        return ast.Roster(
            name,
            tuple(members),
            calendar,
            zone,
            tuple(hours),
            tuple(rotations),
            tuple(overrides),
            self._span(meta),
        )

    @v_args(meta=True)
    def share(self, meta: Meta, children: list[Any]) -> ast.Share:
        when = children[2][1] if len(children) > 2 else None
        return ast.Share(children[0], children[1], when, self._span(meta))

    @v_args(meta=True)
    def actor_on_duty(self, meta: Meta, children: list[Token]) -> ast.ActorOnDuty:
        roster = next((t for t in children if t.type == "NAME"), None)
        return ast.ActorOnDuty(None if roster is None else self._name(roster), self._span(meta))

    def start(self, children: list[ast.Declaration]) -> tuple[ast.Declaration, ...]:
        return tuple(children)


# ---- errors ----------------------------------------------------------------------------------

_TERMINAL_WORDS = {
    "NAME": "a name",
    "STRING": 'a quoted text ("…")',
    "NUMBER": "a number",
    "DURATION": "a duration such as 30m",
    "DATE": "a date (YYYY-MM-DD)",
    "CLOCK": "a time (HH:MM)",
    "TIME_RANGE": "opening hours (HH:MM-HH:MM)",
    "MONTH_DAY": "a day of the year (MM-DD)",
    "DAYS": "days such as mon-fri",
    "REGEX": "a pattern between slashes, /…/",
    "COMPARE": "a comparison (==, !=, <, <=, >, >=)",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LSQB": "'['",
    "RSQB": "']'",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "DOT": "'.'",
    "ANY": "'any'",
    "ANYONE": "'anyone'",
    "ACTOR": "'actor'",
    "NOT": "'not'",
    "TRUE": "'true'",
    "FALSE": "'false'",
    "$END": "the end of the file",
}


def _describe(terminal: str) -> str:
    if terminal in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[terminal]
    pattern = _lark().get_terminal(terminal).pattern if terminal in _terminal_names() else None
    if pattern is not None and pattern.type == "str":
        return f"'{pattern.value}'"
    return terminal.lower()


@cache
def _terminal_names() -> frozenset[str]:
    return frozenset(t.name for t in _lark().terminals)


def _expected_words(expected: set[str]) -> str:
    words = sorted({_describe(t) for t in expected})
    if len(words) > 6:
        words = [*words[:6], "…"]
    return ", ".join(words)


def _hint(error: UnexpectedInput, text: str, *, last: bool = True) -> tuple[str, str | None]:
    """A sentence for the common mistakes, in the spirit of lark's match_examples."""
    expected: set[str] = set(
        getattr(error, "expected", None) or getattr(error, "allowed", None) or ()
    )
    if isinstance(error, UnexpectedToken) and error.interactive_parser is not None:
        # LALR merges states: the table's lookaheads after `person nr` include a roster's
        # `members`, `}`, … Trying each terminal leaves what can really follow (`is`).
        accepted = set(error.interactive_parser.accepts()) - {"$END"}  # type: ignore[no-untyped-call]
        if accepted:
            expected = accepted
    if isinstance(error, UnexpectedCharacters):
        position = error.pos_in_stream or 0
        char = text[position] if position < len(text) else ""
        if char == "=":
            return "unexpected '='", "compare with '==' (or '!=')"
        if char == "'":
            return 'unexpected "\'"', 'quote text with double quotes: "like this"'
        values = expected & _VALUE_KINDS
        if values == {"TIME_RANGE"}:
            return "opening hours must read like 08:00-18:00", "write hours as HH:MM-HH:MM"
        if values == {"DURATION"}:
            return "expected a duration", "write durations like 30m, 4h or 1h30m"
        if values == {"DAYS"}:
            return "expected days such as mon-fri or sat", "days are mon tue wed thu fri sat sun"
        if char == "-" and "NUMBER" in values:
            return (
                "unexpected '-'",
                "numbers are written without a sign (counts are never negative)",
            )
        if values and values == expected:
            return f"unexpected character {char!r}: expected {_expected_words(values)}", None
        return f"unexpected character {char!r}", None
    token = error.token if isinstance(error, UnexpectedToken) else None
    if isinstance(error, UnexpectedEOF) or (token is not None and token.type == "$END"):
        if not last:  # the text is one declaration, and another follows it
            return f"the declaration is incomplete: expected {_expected_words(expected)}", None
        if "RBRACE" in expected:
            return "the file ends inside a block", "a '}' is missing"
        return f"the file ends too early: expected {_expected_words(expected)}", None
    assert token is not None
    if expected == {"LSQB", "STRING"} and token.type == "NAME":
        return (
            f"a list holds quoted phrases or bracketed values, found '{token}'",
            f'write [{token}, …] for values (used with in), or "…", "…" for phrases',
        )
    if "STRING" in expected and token.type == "NAME" and len(expected) <= 2:
        return f"expected a quoted text, found '{token}'", 'put the text in double quotes: "…"'
    if "RBRACE" in expected and token.type in DECLARATION_KEYWORDS_UPPER:
        return f"unexpected '{token}' inside a block", "a '}' is missing before it"
    values = expected & _VALUE_KINDS
    if values == {"DURATION"}:
        return f"expected a duration, found '{token}'", "write durations like 30m, 4h or 1h30m"
    if values == {"TIME_RANGE"}:
        return (
            f"opening hours must read like 08:00-18:00, found '{token}'",
            "write hours as HH:MM-HH:MM",
        )
    if values == {"DAYS"}:
        return (
            f"expected days such as mon-fri, found '{token}'",
            "days are mon tue wed thu fri sat sun",
        )
    if values and values == expected:  # nothing but a value fits here (no keyword)
        if token.type == "RSQB":
            return (
                "a list needs at least one value",
                "put the values between the brackets: [a, b, …]",
            )
        if len(values) > 1:  # one kind alone is named below, as any expected terminal is
            return (
                f"expected a value, found '{token}'",
                f"a value here is {_expected_words(values)}",
            )
    return f"unexpected '{token}': expected {_expected_words(expected)}", None


# What a condition's or clause's value may be: a hint for one kind fits only where it is the one.
_VALUE_KINDS = frozenset(
    {
        "NAME",
        "STRING",
        "NUMBER",
        "DURATION",
        "DATE",
        "CLOCK",
        "TIME_RANGE",
        "MONTH_DAY",
        "DAYS",
        "REGEX",
        "TRUE",
        "FALSE",
    }
)


DECLARATION_KEYWORDS_UPPER = frozenset(k.upper() for k in DECLARATION_KEYWORDS)


def _diagnostic(
    error: UnexpectedInput, text: str, path: str, line_offset: int, *, last: bool
) -> Diagnostic:
    """The diagnostic of a declaration's text (`last`: the file's last declaration)."""
    message, help = _hint(error, text, last=last)
    line = getattr(error, "line", None) or 1
    column = getattr(error, "column", None) or 1
    token = getattr(error, "token", None)
    ended = isinstance(token, Token) and token.type == "$END"
    if isinstance(error, UnexpectedEOF) or ended or line < 1:
        # Right after the last token (lark places `$END` at its start, under a word that is
        # fine); comments and blank lines after it are not where anything is missing.
        line, column = _after_last_token(text)
    width = 1
    if (
        isinstance(token, Token)
        and token.type != "$END"
        and token.end_column
        and token.line == token.end_line
    ):
        width = max(1, token.end_column - column)
    span = Span(path, line + line_offset, column, line + line_offset, column + width)
    return Diagnostic("syntax", message, span, help=help)


def _after_last_token(text: str) -> tuple[int, int]:
    last: Token | None = None
    _guard.reset()  # the lexer counts again what the parse counted
    try:
        for last in _lark().lex(text):  # noqa: B007 (the loop finds the last)
            pass
    except (UnexpectedInput, _LimitExceeded):  # fall back to the text's end
        last = None
    if last is not None and last.end_line and last.end_column:
        return last.end_line, last.end_column
    lines = text.rstrip().split("\n")
    return len(lines), len(lines[-1]) + 1


# ---- entry points ----------------------------------------------------------------------------


def _build(
    tree: Any, path: str, line_offset: int, problems: _Problems
) -> tuple[ast.Declaration, ...]:
    result: tuple[ast.Declaration, ...] = _Builder(path, line_offset, problems).transform(tree)
    return result


# What is not code on a line: quoted text, a pattern, a comment. An unterminated text or
# pattern runs to the line's end, so each is one match: retrying from every quote of a broken
# line was quadratic (an 80 KB line of `\"` took 38 s to report).
_NOT_CODE = re.compile(r'"(?:[^"\\]|\\.?)*"?|/(?:[^/\\]|\\.?)*/?|#.*')
# A line ending in one of these goes on in the next, whatever that one starts with.
_CONTINUED = frozenset({"when", "unless", "and", "or", "not", "by", "on", "via", "is", "with", ","})


def _chunks(text: str) -> list[tuple[int, str]]:
    """Split a file into declarations for error recovery: (0-based first line, text) pairs.

    A declaration starts at a line that begins, unindented and outside any block, with a
    declaration keyword, unless the line before asks for more (`when`, `and`, a comma): then
    `channel in [twitter]` on its own line is a condition, not a new declaration.
    """
    chunks: list[tuple[int, list[str]]] = []
    depth = 0
    continued = False
    for number, line in enumerate(text.split("\n")):
        code = _NOT_CODE.sub(" ", line)
        words = code.split()
        starts = bool(words) and words[0] in DECLARATION_KEYWORDS and not line[:1].isspace()
        if (depth <= 0 and starts and not continued) or not chunks:
            chunks.append((number, []))
            depth = 0
        chunks[-1][1].append(line)
        depth += code.count("{") - code.count("}")
        if words:
            last = words[-1]
            continued = last in _CONTINUED or last.endswith(",")
    return [(start, "\n".join(lines)) for start, lines in chunks]


def _comments(text: str) -> tuple[tuple[int, int, str], ...]:
    """Every `# comment` with its line and column, skipping '#' inside quoted text and patterns."""
    found = []
    for number, line in enumerate(text.split("\n"), start=1):
        for match in re.finditer(r'"(?:[^"\\\n]|\\.)*"|/(?:[^/\\\n]|\\.)+/|(#.*)', line):
            if match.group(1) is not None:
                found.append((number, match.start() + 1, match.group(1).rstrip()))
                break
    return tuple(found)


def _too_deep(path: str, line_offset: int) -> Diagnostic:
    span = Span(path, line_offset + 1, 1, line_offset + 1, 2)
    return Diagnostic(
        "too-deep",
        "conditions are nested too deeply to read",
        span,
        help="split the rule or remove parentheses",
    )


def _limit_diagnostic(error: _LimitExceeded, path: str, line_offset: int) -> Diagnostic:
    token = error.token
    line = (token.line or 1) + line_offset
    column = token.column or 1
    span = Span(path, line, column, line, column + max(1, len(token)))
    return Diagnostic(error.code, error.message, span, help=error.help)


def _parse_tree(text: str) -> Any:
    _guard.reset()
    return _lark().parse(text)


BOM = "\ufeff"

# Characters a reviewer cannot see as the parser reads them. A CR without LF is a line break to
# editors and terminals but not to the grammar: a `# comment` ran on over it and swallowed the
# rules after it, silently. Bidirectional formatting characters reorder what a pull request
# shows ("Trojan Source"); U+2028 and U+2029 are line breaks to some editors only; other
# control characters can rewrite a terminal's lines when a message or a source line is printed.
_UNWANTED = re.compile(f"[{INVISIBLE}]|\r(?!\n)")
_UNWANTED_SHOWN = 20  # the first ones, each with its position: enough to find the rest


def _unwanted_characters(text: str, path: str) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for match in _UNWANTED.finditer(text):
        if len(found) == _UNWANTED_SHOWN:
            break
        start = match.start()
        line = text.count("\n", 0, start) + 1
        column = start - text.rfind("\n", 0, start)
        span = Span(path, line, column, line, column + 1)
        message, hint = _unwanted(match.group()[0])
        found.append(Diagnostic("unwanted-character", message, span, help=hint))
    return found


def _unwanted(char: str) -> tuple[str, str]:
    """The message and help for one character `_UNWANTED` found."""
    code = f"U+{ord(char):04X}"
    if char == "\r":
        return (
            "a carriage return (CR) that does not end a line",
            "save the file with LF or CRLF line endings: editors show a line break here, the "
            "policy language does not, so a comment before it would hide what follows",
        )
    if "\u202a" <= char <= "\u202e" or "\u2066" <= char <= "\u2069":
        return (
            f"the bidirectional formatting character {code}",
            "it makes text display in another order than it is read (Trojan Source); remove it",
        )
    if char in "\u2028\u2029":
        return (
            f"the line separator {code}",
            "some editors show a line break here, the policy language does not; use a newline",
        )
    return (
        f"the control character {code}",
        "policy text takes no control characters but TAB and line ends; remove it",
    )


def parse_policy(text: str, path: str = "<policy>") -> ast.PolicyFile:
    """Parse one policy file; raise `PolicyError` listing every syntax and value error in it."""
    too_large = limits.file_too_large(path, limits.utf8_size(text))
    if too_large is not None:  # refused before any parsing: a huge file must not cost minutes
        raise PolicyError([too_large], {})
    if text.startswith(BOM):
        # Editors on Windows may start a UTF-8 file with a byte-order mark. A space in its place
        # keeps the text's length, so columns count it as the file holds it (one more than an
        # editor shows on line 1).
        text = " " + text[1:]
    unwanted = _unwanted_characters(text, path)
    if unwanted:
        raise PolicyError(unwanted, {path: text})
    problems = _Problems()
    try:
        declarations = _build(_parse_tree(text), path, 0, problems)
    except (UnexpectedInput, _LimitExceeded) as failure:
        declarations = ()
        # A limit found by the whole parse is reported once; its declaration is not read again.
        over = _limit_diagnostic(failure, path, 0) if isinstance(failure, _LimitExceeded) else None
        if over is not None:
            problems.found.append(over)
        chunks = _chunks(text)
        for index, (start, chunk) in enumerate(chunks):
            if over is not None and start < over.span.line <= start + chunk.count("\n") + 1:
                continue
            try:
                _build(_parse_tree(chunk), path, start, problems)
            except UnexpectedInput as error:
                last = index == len(chunks) - 1
                problems.found.append(_diagnostic(error, chunk, path, start, last=last))
            except _LimitExceeded as error:
                problems.found.append(_limit_diagnostic(error, path, start))
            except (RecursionError, VisitError):
                problems.found.append(_too_deep(path, start))
    except (RecursionError, VisitError) as error:
        if isinstance(error, VisitError) and not isinstance(error.orig_exc, RecursionError):
            raise
        problems.found.append(_too_deep(path, 0))
    if problems.found:
        problems.found.sort(key=lambda d: (d.span.line, d.span.column))
        raise PolicyError(problems.found, {path: text})
    return ast.PolicyFile(path, declarations, _comments(text))
