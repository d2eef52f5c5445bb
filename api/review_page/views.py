"""What each review page shows, computed from the serving policy (no HTML here).

The authority matrices cost hundreds of decisions, so they are computed once per loaded policy
and decision time and cached; a new policy (a follower swap) gets new entries.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter

from replygate.engine.authority import (
    MAX_ACCOUNT_GROUPS,
    Matrix,
    accounts_left_out,
    all_categories,
    all_rows,
    authority_matrix,
    categories,
    person_rows,
    reach_cuts,
)
from replygate.engine.calendars import Calendar, Period, strftime
from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.models import CheckRequest, Decision
from replygate.policy_dsl.highlight import ReplygateLexer

T = TypeVar("T")
_CACHE_SIZE = 32


class PolicyCache:
    """Results computed once per (policy object, key): the policy is immutable once loaded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[int, str], tuple[CompiledPolicy, Any]] = OrderedDict()

    def get(self, policy: CompiledPolicy, key: str, compute: Callable[[], T]) -> T:
        slot = (id(policy), key)
        with self._lock:
            found = self._items.get(slot)
            # The policy is kept in the entry, so its id cannot be reused while it is cached.
            if found is not None and found[0] is policy:
                self._items.move_to_end(slot)
                return found[1]  # type: ignore[no-any-return]
        value = compute()
        with self._lock:
            self._items[slot] = (policy, value)
            while len(self._items) > _CACHE_SIZE:
                self._items.popitem(last=False)
        return value


class DaemonJobs:
    """Long computations by key on one daemon thread, each started once; results kept (LRU).

    For work a visitor can start with a link (a change report of a thousand rules, a large
    policy's coverage, both minutes): the page asks and waits briefly instead of holding a
    request for minutes, equal requests share one computation, and a daemon thread never keeps a
    stopping server alive (an executor's threads are joined at exit: SIGTERM hung until SIGKILL).
    A job pushed out of the cache before it ran is cancelled: nobody can ask for it any more,
    and many distinct links must not queue work without bound.
    """

    def __init__(self, size: int = 16, name: str = "review-reports") -> None:
        import queue

        self._lock = threading.Lock()
        self._jobs: OrderedDict[Hashable, tuple[object, Future[Any]]] = OrderedDict()
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()
        self.size = size
        threading.Thread(target=self._work, name=name, daemon=True).start()

    def _work(self) -> None:
        while True:
            future, compute = self._queue.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(compute())
            except BaseException as error:  # shown on the page, never lost in the thread
                future.set_exception(error)

    def job(
        self, key: Hashable, compute: Callable[[], Any] | None, owner: object = None
    ) -> Future[Any] | None:
        """The job of `key` (made for `owner`); without one, queues `compute` (None: nothing).

        `owner` is kept with the job: a key made of `id(owner)` cannot then be reused by
        another object while the job is cached.
        """
        with self._lock:
            found = self._jobs.get(key)
            if found is not None and found[0] is owner:
                self._jobs.move_to_end(key)
                return found[1]
            if compute is None:
                return None
            future: Future[Any] = Future()
            self._jobs[key] = (owner, future)
            self._queue.put((future, compute))
            while len(self._jobs) > self.size:
                _, (_, evicted) = self._jobs.popitem(last=False)
                evicted.cancel()  # only if it has not started
            return future

    def wait(self, key: Hashable, compute: Callable[[], T], seconds: float) -> T | None:
        """The result of `key` if it is ready within `seconds`; else None (computing on)."""
        value: T | None = _within(self.job(key, compute), seconds)
        return value


def _within(future: Future[Any] | None, seconds: float) -> Any:
    """The future's result if it comes within `seconds`; None if not, or if it was cancelled."""
    from concurrent.futures import CancelledError
    from concurrent.futures import TimeoutError as NotYet

    if future is None:
        return None
    try:
        return future.result(timeout=seconds)
    except (NotYet, CancelledError):
        return None


class Background:
    """Long computations (coverage) run once per (policy, key) in the background: a page gets
    the result when ready, else None (and may wait briefly), never minutes of rendering."""

    def __init__(self) -> None:
        self._jobs = DaemonJobs(_CACHE_SIZE, name="review-background")

    def result(self, policy: CompiledPolicy, key: str, compute: Callable[[], T]) -> T | None:
        """The result when computed; else starts the computation (once) and returns None."""
        future = self._jobs.job((id(policy), key), compute, owner=policy)
        if future is None or not future.done():
            return None
        value: T | None = _within(future, 0)
        return value

    def wait(self, policy: CompiledPolicy, key: str, seconds: float) -> Any:
        """The result if it is ready within `seconds`, else None."""
        return _within(self._jobs.job((id(policy), key), None, owner=policy), seconds)


def counts(policy: CompiledPolicy) -> list[tuple[str, int, str]]:
    """What the overview counts, with the page that shows each."""
    return [
        ("rules", len(policy.rules), "/rules"),
        ("roles", len(policy.closure), "/team"),
        ("persons", len(policy.people), "/team#people-h"),
        ("units", len(policy.units), "/team#org-h"),
        ("channels", len(policy.channels), "/playground"),
        ("response-time rules", len(policy.deadlines), "/time"),
    ]


ROWS_PER_PAGE = 25


def page_of(items: list[str], number: int) -> list[str]:
    start = (number - 1) * ROWS_PER_PAGE
    return items[start : start + ROWS_PER_PAGE]


def page_count(items: list[str]) -> int:
    return max(1, -(-len(items) // ROWS_PER_PAGE))


def matrices(
    cache: PolicyCache, policy: CompiledPolicy, at: datetime, role_page: int, person_page: int
) -> tuple[Matrix, Matrix]:
    """A page of the role matrix and of the person matrix at `at` (cached per policy)."""
    minute = at.astimezone(UTC).replace(second=0, microsecond=0)
    roles = page_of(all_rows(policy), role_page)
    persons = page_of(list(policy.people), person_page)
    return (
        cache.get(
            policy,
            f"roles:{minute.isoformat()}:{role_page}",
            lambda: authority_matrix(policy, minute, roles),
        ),
        cache.get(
            policy,
            f"persons:{minute.isoformat()}:{person_page}",
            lambda: person_rows(policy, minute, persons),
        ),
    )


def column_groups(matrix: Matrix) -> list[tuple[str, int]]:
    """Header cells over the columns: one per kind of post (its reach bands below it)."""
    groups: list[tuple[str, int]] = []
    for kind in matrix.kinds:
        label = "new post" if kind.action == "post" else kind.label
        if groups and groups[-1][0] == label:
            groups[-1] = (label, groups[-1][1] + 1)
        else:
            groups.append((label, 1))
    return groups


def rule_numbers(policy: CompiledPolicy) -> dict[str, int]:
    """A short number per rule for matrix cells (the key lists them)."""
    return {rule.name: number for number, rule in enumerate(policy.rules, start=1)}


@dataclass(frozen=True)
class HeldRole:
    name: str
    via: tuple[str, ...]  # the held roles it is inherited from (empty: assigned directly)


@dataclass(frozen=True)
class PersonView:
    name: str
    roles: tuple[HeldRole, ...]
    may: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]  # (answer, roles, kinds)


def people(
    policy: CompiledPolicy, matrix: Matrix, assigned: Mapping[str, set[str]]
) -> list[PersonView]:
    """Per person: roles (and where inherited ones come from) and what they may do, grouped."""
    views = []
    for row in matrix.rows:
        direct = assigned.get(row.name, set())
        held = []
        for role in row.roles:
            if role in direct:
                held.append(HeldRole(role, ()))
            else:
                sources = sorted(d for d in direct if role in policy.closure.get(d, ()))
                held.append(HeldRole(role, tuple(sources)))
        grouped: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        for kind, cell in zip(matrix.kinds, row.cells, strict=True):
            if cell.outcome not in ("allow", "approval_required"):
                continue
            where = kind.label + ("" if kind.action == "post" else f", {kind.reach_label}")
            grouped.setdefault((cell.text, cell.granted_by), []).append(where)
        may = tuple((text, granted, tuple(kinds)) for (text, granted), kinds in grouped.items())
        views.append(PersonView(row.name, tuple(held), may))
    return views


_FORMATTER = HtmlFormatter(nowrap=False, cssclass="highlight")


def highlight_css() -> str:
    # types-Pygments leaves HtmlFormatter.get_style_defs unannotated.
    return str(_FORMATTER.get_style_defs(".highlight"))  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class RuleView:
    name: str
    effect: str
    effect_text: str
    message: str | None
    file: str
    line: int
    commit: str | None
    author: str | None
    html: Markup


def _highlighted_lines(text: str) -> list[str]:
    """A whole file highlighted once, as one HTML line per source line."""
    # stripnl=False: Pygments drops a file's leading newlines by default, which showed every
    # rule of a file starting with blank lines that many lines too low (another rule's text
    # under its heading). The BOM the parser reads as a space is kept in place the same way.
    html = highlight(text, ReplygateLexer(stripnl=False, ensurenl=True), _LINES)
    return html.split("\n")


_LINES = HtmlFormatter(nowrap=True)


def rule_views(policy: CompiledPolicy) -> list[RuleView]:
    """Every rule with its highlighted text, message and where it was written and changed."""
    views = []
    files = {name: _highlighted_lines(text) for name, text in policy.sources.items()}
    for rule in policy.rules:
        span = rule.source.span
        lines = files.get(span.file, [])[span.line - 1 : span.end_line]
        source = rule.reason.source
        effect_text = {
            "approval_required": "approval from " + ", ".join(rule.roles),
            "escalate": "escalate to " + ", ".join(rule.roles),
        }.get(rule.effect, rule.effect)
        views.append(
            RuleView(
                name=rule.name,
                effect=rule.effect,
                effect_text=effect_text,
                message=rule.source.message,
                file=span.file,
                line=span.line,
                commit=source.commit if source else None,
                author=source.author if source else None,
                html=Markup('<div class="highlight"><pre>' + "\n".join(lines) + "</pre></div>"),
            )
        )
    return views


def verdict(decision: Decision) -> str:
    """The decision in one sentence."""
    if decision.decision == "allow":
        return "Allowed: this person may publish this now."
    if decision.decision == "approval_required":
        return "Approval needed from " + ", ".join(decision.approvers) + "."
    if decision.decision == "escalate":
        return f"Escalate: hand it to {decision.escalate_to}."
    return "Denied."


def split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def request_from_form(form: Mapping[str, str]) -> dict[str, Any]:
    """The API request the playground's fields describe (empty fields are left out)."""
    data: dict[str, Any] = {
        "actor": {"id": form.get("actor", "")},
        "action": form.get("action", "reply"),
        "channel": form.get("channel", ""),
    }
    groups = split_list(form.get("groups", ""))
    if groups:
        data["actor"]["groups"] = groups
    if form.get("account"):
        data["account"] = form["account"]
    if form.get("at"):
        data["at"] = address_time(form["at"])
    if data["action"] == "reply":
        reach_text = form.get("reach", "").replace(",", "").replace("_", "").strip()
        # Any whole number is one (its bounds are then named as the API names them: "must be at
        # least 0"); anything else stays text and is reported as not an integer.
        is_number = re.fullmatch(r"-?[0-9]{1,4000}", reach_text) is not None
        post: dict[str, Any] = {
            "id": "playground",
            "sentiment": form.get("sentiment", "neutral"),
            "category": form.get("category", ""),
            "author_reach": int(reach_text) if is_number else reach_text,
            "received_at": address_time(form.get("received_at") or form.get("at", "")),
        }
        labels = split_list(form.get("post_labels", ""))
        if labels:
            post["labels"] = labels
        data["post"] = post
    content: dict[str, Any] = {}
    if form.get("text"):
        content["text"] = form["text"]
    labels = split_list(form.get("labels", ""))
    if labels:
        content["labels"] = labels
    if content:
        data["content"] = content
    approvals = split_list(form.get("approvals", ""))
    if approvals:
        data["approvals"] = [{"by": person} for person in approvals]
    if form.get("context", "").strip():
        try:
            data["context"] = json.loads(form["context"])
        except ValueError:  # the validation names the field: "context: …"
            data["context"] = form["context"]
    return data


def address_time(text: str) -> str:
    """A timestamp as typed into an address: an unencoded `+01:00` offset arrives as ` 01:00`
    (a `+` in a query is a space); read it as meant, as every page does."""
    return re.sub(r" (\d{2}:?\d{2})$", r"+\1", text.strip())


def form_from_request(data: Mapping[str, Any]) -> dict[str, str]:
    """The playground's fields for a request given as JSON (so both views agree).

    Any JSON can arrive here, valid or not: a value of the wrong type shows as empty (the
    errors below the form name it), and nothing here may fail.
    """
    actor, post, content = (_object(data.get(key)) for key in ("actor", "post", "content"))
    return {
        "actor": _shown(actor.get("id", "")),
        "groups": _shown_list(actor.get("groups")),
        "action": _shown(data.get("action", "reply")),
        "channel": _shown(data.get("channel", "")),
        "account": _shown(data.get("account") or ""),
        "at": _shown(data.get("at", "")),
        "sentiment": _shown(post.get("sentiment", "neutral")),
        "category": _shown(post.get("category", "")),
        "reach": _shown(post.get("author_reach", "")),
        "received_at": _shown(post.get("received_at", "")),
        "post_labels": _shown_list(post.get("labels")),
        "text": _shown(content.get("text") or ""),  # null: no text, not the word "null"
        "labels": _shown_list(content.get("labels")),
        "approvals": ", ".join(
            _shown(_object(item).get("by", "")) for item in _list(data.get("approvals"))
        ),
        # Kept as JSON: the form has no field per key, and a resubmitted form must keep it.
        "context": _shown_json(data.get("context")),
    }


def _shown_json(value: Any) -> str:
    if value is None or value == {}:
        return ""
    try:
        return json.dumps(value, ensure_ascii=False)
    except ValueError:
        return ""


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _shown(value: Any) -> str:
    """A JSON value as a form field: text as it is (lone surrogates escaped), a scalar as JSON."""
    if isinstance(value, dict | list):
        return ""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value)
        except ValueError:  # an integer longer than Python converts to text
            return ""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _shown_list(value: Any) -> str:
    return ", ".join(_shown(item) for item in _list(value))


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


def validated(text: str) -> tuple[CheckRequest | None, list[dict[str, str]]]:
    """The request of a JSON text, or the errors naming each bad field (as the API says them)."""
    from pydantic import ValidationError

    from replygate.engine.models import field_errors, parse_request

    try:
        return parse_request(text), []
    except ValidationError as error:
        return None, field_errors(error)


@dataclass(frozen=True)
class CalendarView:
    name: str
    zone: str
    always: bool
    week: tuple[tuple[str, tuple[int, ...]], ...]  # (day, minutes open in each hour 0..23)
    hours_text: str
    holidays: tuple[str, ...]


DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _week_minutes(hours: Any) -> list[list[tuple[int, int]]]:
    """Open minutes per weekday; an overnight range continues on the next day."""
    week: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    for item in hours:
        if item.end > item.start:
            week[item.weekday].append((item.start, item.end))
        else:
            week[item.weekday].append((item.start, 1440))
            week[(item.weekday + 1) % 7].append((0, item.end))
    return week


def calendar_views(policy: CompiledPolicy, today: Any) -> list[CalendarView]:
    """Each calendar's week (minutes open per hour) and its closed days of the next 12 months:
    dated closures, `closed every` dates and public holidays alike."""
    views = []
    until = today + timedelta(days=366)
    for name, clock in sorted(policy.clocks.items()):
        if not isinstance(clock, Calendar):
            continue  # a period is a list of dated windows: `period_views`
        week = _week_minutes(clock.hours)
        grid = []
        for day, ranges in zip(DAY_NAMES, week, strict=True):
            per_hour = tuple(
                sum(max(0, min(end, h * 60 + 60) - max(start, h * 60)) for start, end in ranges)
                if not clock.always
                else 60
                for h in range(24)
            )
            grid.append((day, per_hour))
        closed = clock.closed_days(range(today.year, until.year + 1))
        holidays = tuple(strftime(d, "%a %d %b %Y") for d in sorted(closed) if today <= d < until)
        text = "open always" if clock.always else _hours_text(week)
        views.append(CalendarView(name, clock.zone.key, clock.always, tuple(grid), text, holidays))
    return views


@dataclass(frozen=True)
class PeriodView:
    name: str
    zone: str
    windows: tuple[str, ...]  # "Thu 31 Dec 2026 18:00 to Fri 01 Jan 2027 06:00", local time


def period_views(policy: CompiledPolicy) -> list[PeriodView]:
    """Each period's windows in the zone they were written in."""
    views = []
    for name, clock in sorted(policy.clocks.items()):
        period = getattr(clock, "period", None)
        if not isinstance(period, Period):
            continue
        zone = period.zone
        windows = tuple(
            f"{strftime(start.astimezone(zone), '%a %d %b %Y %H:%M')} to "
            f"{strftime(end.astimezone(zone), '%a %d %b %Y %H:%M')}"
            for start, end in period.windows
        )
        views.append(PeriodView(name, zone.key, windows))
    return views


def _hours_text(week: list[list[tuple[int, int]]]) -> str:
    parts = []
    for day, ranges in zip(DAY_NAMES, week, strict=True):
        if ranges:
            spans = ", ".join(
                f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}" for s, e in sorted(ranges)
            )
            parts.append(f"{day} {spans}")
    return "; ".join(parts) or "never open"


def left_out(policy: CompiledPolicy) -> str | None:
    """What the matrix does not show (categories and reach thresholds beyond its limits)."""
    hidden = all_categories(policy)[len(categories(policy)) :]
    notes = []
    if hidden:
        notes.append(
            f"{len(hidden)} more categories ({', '.join(hidden[:10])}{'…' if len(hidden) > 10 else ''})"
        )
    kept, dropped = reach_cuts(policy)
    if kept:
        notes.append("reach split at " + ", ".join(f"{cut:,}" for cut in kept))
    if dropped:
        # Answers change at these too: a reader must not take a band for one answer.
        shown = ", ".join(f"{cut:,}" for cut in dropped[:10]) + ("…" if len(dropped) > 10 else "")
        notes.append(
            f"{len(dropped)} more reach {'threshold' if len(dropped) == 1 else 'thresholds'} "
            f"left out, where answers may change too ({shown}); the playground decides any reach"
        )
    crowded = accounts_left_out(policy)
    if crowded:
        notes.append(
            f"the accounts of {', '.join(crowded)} are decided once, for the first: rules tell "
            f"apart more than {MAX_ACCOUNT_GROUPS} of them; the playground decides any account"
        )
    return "; ".join(notes) or None


def pager(
    query: Mapping[str, str], roles: int, role_pages: int, people: int, person_pages: int
) -> dict[str, list[tuple[int, str, bool]]]:
    """Links to the other pages of role rows and person rows (the query kept)."""
    from urllib.parse import urlencode

    def links(name: str, current: int, total: int) -> list[tuple[int, str, bool]]:
        if total <= 1:
            return []
        return [
            (n, "/team?" + urlencode({**query, name: n}), n == current) for n in range(1, total + 1)
        ]

    return {
        "roles": links("roles", roles, role_pages),
        "people": links("people", people, person_pages),
    }


# ---- the Time page: rosters by week, coverage as a heat map ------------------------------------


@dataclass(frozen=True)
class RosterWeek:
    name: str
    zone: str
    members: tuple[str, ...]
    # (day, per local hour: (persons on duty, an override touches it, the hour does not exist))
    days: tuple[tuple[str, tuple[tuple[tuple[str, ...], bool, bool], ...]], ...]
    overrides: tuple[str, ...]


def roster_weeks(policy: CompiledPolicy, monday: Any) -> list[RosterWeek]:
    """Who is on duty in each local hour of the week starting `monday`, per roster.

    An hour lists everyone on duty at any moment of it; hours an override touches are marked.
    """
    from datetime import datetime as moment
    from datetime import timedelta

    weeks = []
    for roster in policy.duty.rosters.values():
        zone = roster.zone
        days = []
        for offset in range(7):
            local_day = monday + timedelta(days=offset)
            hours: list[tuple[tuple[str, ...], bool, bool]] = []
            for hour in range(24):
                start = moment(local_day.year, local_day.month, local_day.day, hour, tzinfo=zone)
                if start.astimezone(UTC).astimezone(zone).hour != hour:
                    # The hour a daylight-saving change skips: nobody is on duty in it.
                    hours.append(((), False, True))
                    continue
                start_utc = start.astimezone(UTC)
                # The next local hour's instant (an hour repeated at the change counts twice).
                end_utc = _next_hour_utc(local_day, hour, zone)
                persons: set[str] = set()
                for ordinal in {
                    start_utc.toordinal(),
                    (end_utc - timedelta(microseconds=1)).toordinal(),
                }:
                    for segment in roster.segments(ordinal):
                        if segment.start < end_utc and start_utc < segment.end:
                            persons |= segment.persons
                overridden = any(o.start < end_utc and start_utc < o.end for o in roster.overrides)
                hours.append((tuple(sorted(persons)), overridden, False))
            days.append((local_day.strftime("%a %d %b"), tuple(hours)))
        overrides = tuple(
            f"{o.person}: {o.start.astimezone(zone):%a %d %b %H:%M} to {o.end.astimezone(zone):%a %d %b %H:%M}"
            for o in roster.overrides
        )
        weeks.append(RosterWeek(roster.name, zone.key, roster.members, tuple(days), overrides))
    return weeks


def _next_hour_utc(day: Any, hour: int, zone: Any) -> datetime:
    """The instant the local hour after `hour` of `day` first starts (past a skipped hour: the
    one after it), so an hour the clocks repeat spans both its occurrences."""
    following = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(hours=hour + 1)
    found = following.astimezone(UTC)
    if found.astimezone(zone).replace(tzinfo=None) != following.replace(tzinfo=None):
        return _next_hour_utc(day, hour + 1, zone)
    return found


@dataclass(frozen=True)
class CoverageMap:
    title: str
    response: str
    gap_hours: float
    single_hours: float
    grid: tuple[tuple[str, tuple[int, ...]], ...]  # (weekday, uncovered minutes per hour)
    windows: tuple[str, ...]


def policy_today(policy: CompiledPolicy, now: datetime) -> Any:
    """Today's date in the policy's zone (the rosters'): what the Time page calls today."""
    from zoneinfo import ZoneInfo

    from replygate.engine.coverage import policy_zone

    return now.astimezone(ZoneInfo(policy_zone(policy))).date()


def coverage_monday(policy: CompiledPolicy, now: datetime) -> Any:
    """This week's Monday in the zone the coverage is shown in (the rosters')."""
    today = policy_today(policy, now)
    return today - timedelta(days=today.weekday())


def coverage_maps(
    policy: CompiledPolicy, monday: Any, weeks: int = 4
) -> tuple[str, list[CoverageMap]]:
    """Per group of post classes with a response time: where arrivals are not covered, over the
    weeks from local Monday 00:00 of `monday` (in the rosters' zone, as the report shows)."""
    from zoneinfo import ZoneInfo

    from replygate.engine.coverage import coverage, policy_zone

    local = ZoneInfo(policy_zone(policy))
    start = datetime(monday.year, monday.month, monday.day, tzinfo=local)
    end = datetime.combine(monday + timedelta(weeks=weeks), start.timetz())
    report = coverage(policy, start, end)
    zone = report.zone
    maps = []
    for group in report.classes:
        seconds = [[0.0] * 24 for _ in range(7)]
        windows = []
        for gap_start, gap_end in group.gaps:
            windows.append(
                f"{gap_start.astimezone(zone):%a %d %b %H:%M} to {gap_end.astimezone(zone):%a %d %b %H:%M}"
            )
            _add_local_hours(seconds, gap_start, gap_end, zone)
        minutes = [[round(value / 60) for value in day] for day in seconds]
        title = (
            f"{', '.join(group.sentiments)} {group.category.replace('_', ' ')} on "
            f"{', '.join(group.channels)}, {group.reach}"
            + (f" ({' or '.join(group.traits)})" if group.traits else "")
            + group.rest_phrase
        )
        sources = [r.reason.source for r in group.response_times or (group.response_time,)]
        where = ", ".join(f"{s.file}:{s.line}" for s in sources if s is not None)
        response = group.promise + (f" ({where})" if where else "")
        maps.append(
            CoverageMap(
                title,
                response,
                round(group.gap_hours, 1),
                round(group.single_hours, 1),
                tuple((DAY_NAMES[d], tuple(minutes[d])) for d in range(7)),
                tuple(windows[:50]),
            )
        )
    return zone.key, maps


_QUARTER = timedelta(minutes=15)


def _add_local_hours(seconds: list[list[float]], start: datetime, end: datetime, zone: Any) -> None:
    """Add the real seconds of [start, end) to the local (weekday, hour) cells they fall in.

    Stepped in UTC quarter hours (every zone's offset is a whole number of them), so the hour
    a daylight-saving change skips gets nothing and the hour it repeats gets both."""
    cursor = start.astimezone(UTC)
    finish = end.astimezone(UTC)
    while cursor < finish:
        boundary = cursor.replace(
            minute=cursor.minute - cursor.minute % 15, second=0, microsecond=0
        )
        step_end = min(boundary + _QUARTER, finish)
        local = cursor.astimezone(zone)
        seconds[local.weekday()][local.hour] += (step_end - cursor).total_seconds()
        cursor = step_end


def heat(minutes: int, weeks: int = 4) -> int:
    """0 (always covered) to 4 (uncovered every week, the whole hour)."""
    share = minutes / (60 * weeks)
    return 0 if minutes == 0 else min(4, 1 + int(share * 4))


def route_of(policy: CompiledPolicy, request: CheckRequest) -> tuple[Any, list[dict[str, str]]]:
    """Who can answer the post of a reply request, and by when (None for a new post), or the
    fields that keep it from being routed."""
    from replygate.engine.models import RouteRequest
    from replygate.engine.routing import route_or_refusal

    if request.action != "reply" or request.post is None:
        return None, []
    data = request.model_dump(exclude={"actor", "approvals"})
    return route_or_refusal(policy, RouteRequest.model_validate(data))
