"""The review pages, served by `replygate serve` at `/` for compliance staff.

Server-rendered HTML that reads without JavaScript. Every page but the sign-in form needs a
signed-in session with the `review` scope (`audit` for the decision log). Responses carry a
strict Content-Security-Policy (no inline script or style), Jinja2 escapes every value, POST
forms carry a CSRF token, and the playground never writes to the decision log.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from replygate import __version__
from replygate.api.review_page import changes, views
from replygate.api.review_page.ended import EndedSessions
from replygate.api.review_page.session import (
    FORM_COOKIE,
    SESSION_COOKIE,
    Sessions,
    Visitor,
    new_form_nonce,
)
from replygate.api.schemas import read_count
from replygate.engine import authority
from replygate.engine.calendars import strftime
from replygate.engine.errors import PolicyError
from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.explain import explain
from replygate.engine.models import (
    DUTY_MESSAGE,
    EARLIEST_DUTY,
    LATEST_DUTY,
    NEEDS_OFFSET,
    TIMESTAMP_EXAMPLE,
    range_errors,
    read_timestamp,
)
from replygate.policy_dsl.source import shown_text

NAV = (
    ("/", "Overview", "review"),
    ("/team", "Team and authority", "review"),
    ("/rules", "Rules", "review"),
    ("/time", "Time", "review"),
    ("/playground", "Playground", "review"),
    ("/changes", "Changes", "review"),
    ("/decisions", "Decisions", "audit"),
)
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # The playground's address carries a request: never send it to another site.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
FORM_LIMIT = 65_536
# How long a page waits for a background computation before saying it is still under way.
COVERAGE_WAIT_SECONDS = 1.0
# A change report of a usual pull request takes a second or two; a thousand rules take minutes,
# and the page then says it is being computed instead of holding the request.
CHANGES_WAIT_SECONDS = 10.0
DECISION_FILTERS = (
    ("actor", "Actor"),
    ("outcome", "Outcome"),
    ("rule", "Rule"),
    ("commit", "Commit"),
    ("client", "Client"),
    ("since", "Since"),
    ("until", "Until"),
)

LOG = logging.getLogger("replygate.api")


_ERROR_TITLES = {403: "Not allowed", 404: "Not found", 422: "Cannot show this page"}
_DECISION_PARAMETERS = frozenset({name for name, _ in DECISION_FILTERS} | {"cursor"})


class Pages:
    """Renders the pages for one service (its policy source, keys and decision log)."""

    def __init__(self, service: Any, sessions: Sessions) -> None:
        self.service = service
        self.sessions = sessions
        self.cache = views.PolicyCache()
        self.change_reports = views.DaemonJobs()
        self.background = views.Background()
        self.templates = Environment(
            loader=PackageLoader("replygate.api.review_page", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=StrictUndefined,
            finalize=_visible,
        )

    # ---- plumbing ------------------------------------------------------------------------------
    def visitor(self, request: Request) -> Visitor | None:
        return self.sessions.visitor(request.cookies.get(SESSION_COOKIE))

    def render(
        self,
        template: str,
        request: Request,
        visitor: Visitor | None,
        code: int = 200,
        served: CompiledPolicy | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """The page; its footer names `served`, the policy the page was made from (read again
        here, a commit swapped in meanwhile was named under another's decisions)."""
        policy = served if served is not None else self.service.source.current
        version = policy.version if policy is not None else None
        label = "no policy loaded"
        if version is not None:
            label = (
                f"commit {version.commit[:12]}"
                if version.commit
                else "folder " + ", ".join(sorted({f.rsplit("/", 1)[0] for f in version.files}))
            )
        html = self.templates.get_template(template).render(
            visitor=visitor,
            nav=NAV,
            active=request.url.path,
            csrf=self.sessions.csrf_token(visitor.token) if visitor else "",
            version=__version__,
            policy_label=label,
            **context,
        )
        return HTMLResponse(html, status_code=code, headers=SECURITY_HEADERS)

    def refuse(self, request: Request, visitor: Visitor, message: str, code: int) -> HTMLResponse:
        title = _ERROR_TITLES.get(code, "Cannot show this page")
        return self.render("error.html", request, visitor, code, title=title, message=message)

    def gate(
        self,
        request: Request,
        scope: str = "review",
        params: frozenset[str] | None = frozenset(),
    ) -> Visitor | Response:
        """The signed-in visitor holding `scope`, or the response that sends them away.

        A query parameter outside `params` (None: any) is refused, as the API refuses one: a
        mistyped filter in a shared link (`/decisions?actr=carol`) must not quietly show
        everything.
        """
        visitor = self.visitor(request)
        if visitor is None:
            path = request.url.path
            if request.method not in ("GET", "HEAD"):
                # After sign-in the browser GETs `next`: a form's action (`/decisions/verify`)
                # answers POST only, so go back to the page the form sits on, one level up.
                path = path.rsplit("/", 1)[0] or "/"
            target = path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(
                "/sign-in?" + urlencode({"next": target}), 303, headers=SECURITY_HEADERS
            )
        if not visitor.may(scope):
            return self.refuse(
                request,
                visitor,
                f"Your key (client '{visitor.client}') lacks the '{scope}' scope this page needs.",
                403,
            )
        unknown = sorted(set(request.query_params) - params) if params is not None else []
        if unknown:
            takes = f"it takes {', '.join(sorted(params))}" if params else "it takes none"
            names = ", ".join(f"'{shown_text(name)}'" for name in unknown)
            return self.refuse(
                request, visitor, f"{names}: not a parameter of this page ({takes}).", 422
            )
        return visitor

    def visitor_and_policy(
        self, request: Request, params: frozenset[str] | None = frozenset()
    ) -> tuple[Visitor, CompiledPolicy] | Response:
        """The signed-in reviewer and the serving policy, or the page that says why not."""
        visitor = self.gate(request, params=params)
        if isinstance(visitor, Response):
            return visitor
        policy = self.policy_or_error(request, visitor)
        if isinstance(policy, Response):
            return policy
        return visitor, policy

    def policy_or_error(self, request: Request, visitor: Visitor) -> CompiledPolicy | Response:
        policy = self.service.source.current
        if policy is None:
            return self.render(
                "error.html",
                request,
                visitor,
                503,
                title="No policy loaded",
                message="No policy is loaded yet: see the overview for the load state.",
            )
        return policy  # type: ignore[no-any-return]


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form body (bounded), last value wins."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            return {}
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


def safe_next(target: str | None) -> str:
    """Only a path on this server (never `//elsewhere` or `https://…`)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _visible(value: Any) -> Any:
    # Policy text cannot hold bidi or control characters, but file names, commit authors and
    # subjects can (and requests in the log): every value a page prints shows them escaped, as
    # reports show file names, so what a reviewer reads is in the order it is stored.
    if isinstance(value, str) and not isinstance(value, Markup):  # Markup: the pages' own HTML
        return shown_text(value)
    return value


def parse_time(text: str | None, default: datetime | None = None) -> datetime | None:
    """A timestamp from a query, read as the API reads one; `default` when the query has none.

    ValueError, with the reason, for text that is not a timestamp with an offset or whose
    instant lies outside UTC's years 1-9999.
    """
    if not text:
        return default
    try:
        return read_timestamp(views.address_time(text))
    except ValueError as error:
        if str(error) == NEEDS_OFFSET:
            raise ValueError(f"{NEEDS_OFFSET}, e.g. {TIMESTAMP_EXAMPLE}") from None
        raise


class _StaticFiles(StaticFiles):
    """The pages' script and style sheet with the pages' headers (`nosniff` above all); they
    may be cached, unlike the pages."""

    async def get_response(self, path: str, scope: Any) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(
            {k: v for k, v in SECURITY_HEADERS.items() if k.lower() != "cache-control"}
        )
        return response


def mount(app: FastAPI, service: Any, secret: str) -> Pages:
    """Add the review pages and their static files to the API app."""
    ended = EndedSessions(service.settings.session_store)
    sessions = Sessions(secret, service.keys, service.settings.session_hours, ended)
    pages = Pages(service, sessions)
    router = APIRouter(include_in_schema=False)
    static = resources.files("replygate.api.review_page").joinpath("static")
    app.mount("/static", _StaticFiles(directory=str(static)), name="review-static")

    @router.get("/sign-in")
    async def sign_in_form(request: Request, next: str = "/") -> Response:
        nonce = request.cookies.get(FORM_COOKIE) or new_form_nonce()
        response = pages.render(
            "sign_in.html",
            request,
            None,
            title="Sign in",
            form_csrf=sessions.csrf_token(nonce),
            next=safe_next(next),
            hours=f"{service.settings.session_hours:g}",
            problem=None,
        )
        response.set_cookie(FORM_COOKIE, nonce, httponly=True, samesite="strict", path="/sign-in")
        return response

    @router.post("/sign-in")
    async def sign_in(request: Request) -> Response:
        form = await read_form(request)
        nonce = request.cookies.get(FORM_COOKIE)
        target = safe_next(form.get("next"))

        def again(problem: str, code: int) -> Response:
            fresh = nonce or new_form_nonce()
            response = pages.render(
                "sign_in.html",
                request,
                None,
                code,
                title="Sign in",
                form_csrf=sessions.csrf_token(fresh),
                next=target,
                hours=f"{service.settings.session_hours:g}",
                problem=problem,
            )
            response.set_cookie(
                FORM_COOKIE, fresh, httponly=True, samesite="strict", path="/sign-in"
            )
            return response

        if not sessions.csrf_ok(nonce, form.get("csrf")):
            return again("The form expired or came from another site: please sign in again.", 403)
        key, token = sessions.sign_in(form.get("key", ""))
        if key is None or token is None:
            return again("That API key is not valid.", 401)
        if not ({"review", "audit"} & key.scopes):
            return again(f"The key of client '{key.client}' lacks the 'review' scope.", 403)
        if target == "/" and "review" not in key.scopes and "audit" in key.scopes:
            target = "/decisions"  # the one page an audit-only key may read
        response = RedirectResponse(target, 303, headers=SECURITY_HEADERS)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=sessions.max_age,
            httponly=True,
            # Lax, not Strict: a link in a pull-request comment or a chat (a top-level GET from
            # another site) opens the page signed in. Every page a GET reaches only reads; every
            # POST carries a CSRF token, and a cross-site POST gets no cookie at all.
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/",
        )
        response.delete_cookie(FORM_COOKIE, path="/sign-in")
        return response

    @router.post("/sign-out")
    async def sign_out(request: Request) -> Response:
        visitor = pages.visitor(request)
        form = await read_form(request)
        if visitor is not None and not sessions.csrf_ok(visitor.token, form.get("csrf")):
            return pages.refuse(request, visitor, "The sign-out form expired: try again.", 403)
        if visitor is not None:
            try:
                # Off the event loop: a folder of ended sessions is written (and swept).
                await run_in_threadpool(sessions.sign_out, visitor.token)
            except OSError as error:
                LOG.error("cannot record a sign-out in %s: %s", ended.where, error)
                return pages.refuse(
                    request,
                    visitor,
                    "The server could not end this session (its ended-sessions folder refused "
                    "the write): the cookie still works until it expires. Tell the operator.",
                    503,
                )
        response = RedirectResponse("/sign-in", 303, headers=SECURITY_HEADERS)
        if SESSION_COOKIE in request.cookies:
            # Only for a request that carried it (same site): another site's POST, which
            # carries no cookie and no token, must not end a session (a forced sign-out).
            response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
        return response

    @router.get("/")
    async def overview(request: Request) -> Response:
        visitor = pages.gate(request)
        if isinstance(visitor, Response):
            return visitor
        policy = service.source.current
        return pages.render(
            "overview.html",
            request,
            visitor,
            served=policy,
            title="Overview",
            status=service.source.status(),
            counts=views.counts(policy) if policy is not None else [],
            files=list(policy.version.files) if policy is not None else [],
        )

    @router.get("/team")
    async def team(
        request: Request, at: str | None = None, roles: str = "1", people: str = "1"
    ) -> Response:
        found = pages.visitor_and_policy(request, frozenset({"at", "roles", "people"}))
        if isinstance(found, Response):
            return found
        visitor, policy = found
        # Without a time, the start of this hour: the cached matrices serve the whole hour.
        # Read here, not by FastAPI: a bad one gets this page's 422, not the API's JSON.
        wanted: dict[str, int] = {}
        for name, text in (("roles", roles), ("people", people)):
            try:
                wanted[name] = read_count(text)
            except ValueError as error:
                return pages.refuse(request, visitor, f"'{name}': {error}", 422)
        try:
            when = parse_time(at, datetime.now(UTC).replace(minute=0, second=0, microsecond=0))
        except ValueError as error:
            return pages.refuse(request, visitor, f"'at': {error}", 422)
        assert when is not None  # the default
        if not EARLIEST_DUTY <= when <= LATEST_DUTY:
            return pages.refuse(request, visitor, f"'at': {DUTY_MESSAGE}.", 422)
        role_pages = views.page_count(authority.all_rows(policy))
        person_pages = views.page_count(list(policy.people))
        role_page = min(max(wanted["roles"], 1), role_pages)
        person_page = min(max(wanted["people"], 1), person_pages)
        roles_matrix, people_matrix = await run_in_threadpool(
            views.matrices, pages.cache, policy, when, role_page, person_page
        )
        symbols = _assigned(policy)
        return pages.render(
            "team.html",
            request,
            visitor,
            served=policy,
            title="Team and authority",
            at_iso=roles_matrix.at.isoformat(),
            at_text=strftime(roles_matrix.at, "%a %d %b %Y %H:%M UTC"),
            roles_matrix=roles_matrix,
            people_matrix=people_matrix,
            groups=views.column_groups(roles_matrix),
            rule_numbers=views.rule_numbers(policy),
            people=views.people(policy, people_matrix, symbols),
            units=sorted((u, sorted(r)) for u, r in policy.units.items()),
            roles=[(r, sorted(c - {r})) for r, c in policy.closure.items()],
            groups_held=sorted((g, sorted(r)) for g, r in policy.groups.items()),
            left_out=views.left_out(policy),
            pager=views.pager(
                request.query_params, role_page, role_pages, person_page, person_pages
            ),
        )

    @router.get("/rules")
    async def rules(request: Request) -> Response:
        found = pages.visitor_and_policy(request)
        if isinstance(found, Response):
            return found
        visitor, policy = found
        shown = pages.cache.get(policy, "rules", lambda: views.rule_views(policy))
        return pages.render(
            "rules.html",
            request,
            visitor,
            served=policy,
            title="Rules",
            rules=shown,
            history=getattr(service.source, "repo", None) is not None,
        )

    @router.get("/rules/{name}/history")
    async def rule_history(request: Request, name: str) -> Response:
        visitor = pages.gate(request)
        if isinstance(visitor, Response):
            return visitor
        repo = getattr(service.source, "repo", None)
        if repo is None:
            return pages.refuse(
                request, visitor, "Rule history needs a server that follows a git repository.", 404
            )
        try:
            changes = await run_in_threadpool(repo.rule_history, name, service.source.ref)
        except Exception as error:  # a git failure is shown, not raised
            return pages.refuse(request, visitor, f"The history could not be read: {error}", 503)
        current = service.source.current
        known = current is not None and any(rule.name == name for rule in current.rules)
        if not changes and not known:  # no rule of that name now, nor in any commit of the ref
            return pages.refuse(request, visitor, f"There is no rule named '{name}'.", 404)
        return pages.render(
            "history.html", request, visitor, title=f"History of {name}", rule=name, changes=changes
        )

    @router.get("/time")
    async def time_page(request: Request, week: str | None = None) -> Response:
        found = pages.visitor_and_policy(request, frozenset({"week"}))
        if isinstance(found, Response):
            return found
        visitor, policy = found
        # "Today" and "this week" in the policy's zone (the rosters'), for the closed days, the
        # roster grid and the coverage alike: by the UTC date they disagreed near midnight.
        now = datetime.now(UTC)
        today = views.policy_today(policy, now)
        calendars = pages.cache.get(
            policy, f"calendars:{today}", lambda: views.calendar_views(policy, today)
        )
        monday = views.coverage_monday(policy, now)
        if week:
            try:
                chosen = date.fromisoformat(week)
            except ValueError:
                return pages.refuse(request, visitor, "'week' is a date such as 2026-12-21.", 422)
            monday = chosen - timedelta(days=chosen.weekday())
            first, last = _ROSTER_WEEKS
            if not first <= monday <= last:
                return pages.refuse(
                    request,
                    visitor,
                    f"'week': rosters are shown for weeks from {first} to {last}.",
                    422,
                )
        # The roster grid and the playground's route build timelines: off the event loop.
        rosters = await run_in_threadpool(
            pages.cache.get, policy, f"rosters:{monday}", lambda: views.roster_weeks(policy, monday)
        )
        # Coverage over four weeks from this week's Monday, once per policy and week.
        this_monday = views.coverage_monday(policy, now)
        # Coverage can take long for a large policy: it is computed in the background, once per
        # policy and week, and the page says so until it is there (waiting briefly first).
        computed = pages.background.result(
            policy, f"coverage:{this_monday}", lambda: views.coverage_maps(policy, this_monday)
        )
        if computed is None:
            computed = await run_in_threadpool(
                pages.background.wait,
                policy,
                f"coverage:{this_monday}",
                COVERAGE_WAIT_SECONDS,
            )
        zone, maps = computed if computed is not None else ("", None)
        return pages.render(
            "time.html",
            request,
            visitor,
            served=policy,
            title="Time",
            calendars=calendars,
            periods=views.period_views(policy),
            rosters=rosters,
            monday_text=strftime(datetime(monday.year, monday.month, monday.day), "%d %b %Y"),
            # No link to a week the page would refuse (before year 1, after 9999).
            previous=_week_link(monday, -1),
            following=_week_link(monday, 1),
            coverage_zone=zone,
            coverage_start=this_monday,
            maps=maps,
            heat=views.heat,
        )

    @router.get("/changes")
    async def changes_page(
        request: Request, base: str | None = None, head: str | None = None
    ) -> Response:
        visitor = pages.gate(request, params=frozenset({"base", "head"}))
        if isinstance(visitor, Response):
            return visitor
        repo = changes.repository_of(service)
        context: dict[str, Any] = {"repo": repo, "options": [], "report": None, "computing": False}
        if repo is not None:
            try:
                context["options"] = await run_in_threadpool(changes.choices, repo)
            except PolicyError as error:
                context["report"] = {"error": str(error), "details": None}
            if base and head:
                context["base"], context["head"] = base, head
            else:
                default_base, default_head = await run_in_threadpool(changes.default_pair, repo)
                context["base"], context["head"] = base or default_base, head or default_head
            if base and head and context["report"] is None:
                sides = await run_in_threadpool(changes.resolved, repo, base, head)
                if isinstance(sides, dict):
                    context["report"] = sides
                else:
                    # By commit: after a push, `main~1`..`main` is another pair, computed anew.
                    context["report"] = await run_in_threadpool(
                        pages.change_reports.wait,
                        "\0".join(sides),
                        lambda: changes.report(repo, *_revisions(sides, base, head)),
                        CHANGES_WAIT_SECONDS,
                    )
                    context["computing"] = context["report"] is None
        # A revision that does not exist or does not compile is the visitor's input: 422.
        failed = isinstance(context["report"], dict) and "error" in context["report"]
        if failed and "side" in context["report"]:
            # Reports are shared by commit: the side is named here, as this visitor wrote it.
            side = context["report"]["side"]
            context["report"] = {
                **context["report"],
                "error": f"{side} ({context[side]}) {context['report']['error']}",
            }
        code = 422 if failed else 200
        return pages.render("changes.html", request, visitor, code, title="Changes", **context)

    @router.get("/playground")
    async def playground(request: Request) -> Response:
        # Its form's fields (the request's and the mode's): what it reads, it shows back.
        found = pages.visitor_and_policy(request, None)
        if isinstance(found, Response):
            return found
        visitor, policy = found
        query = dict(request.query_params)
        answered = await run_in_threadpool(_playground, policy, query)
        context = {"errors": [], "decision": None, "route": None, **answered}
        return pages.render(
            "playground.html",
            request,
            visitor,
            served=policy,
            title="Playground",
            channels=sorted(policy.channels),
            categories=authority.categories(policy),
            **context,
        )

    @router.get("/decisions")
    async def decisions(request: Request) -> Response:
        visitor = pages.gate(request, "audit", _DECISION_PARAMETERS)
        if isinstance(visitor, Response):
            return visitor
        return await _decisions_page(pages, request, visitor, None)

    @router.post("/decisions/verify")
    async def verify(request: Request) -> Response:
        visitor = pages.gate(request, "audit", _DECISION_PARAMETERS)
        if isinstance(visitor, Response):
            return visitor
        form = await read_form(request)
        if not sessions.csrf_ok(visitor.token, form.get("csrf")):
            return pages.refuse(request, visitor, "The form expired: try again.", 403)
        from replygate.decision_log import verify_log

        try:
            result = await run_in_threadpool(verify_log, service.settings.decision_log)
        except Exception as error:  # an unreadable log is reported on the page
            outcome = {"ok": False, "text": f"The log could not be read: {error}"}
        else:
            if result.ok:
                text = f"Intact: {result.records} records in {result.chains} chains, nothing altered, removed or inserted."
            else:
                text = f"{result.problems} problems; the first: {result.first_problem}"
            outcome = {"ok": result.ok, "text": text}
        return await _decisions_page(pages, request, visitor, outcome)

    @router.get("/decisions/{decision_id}")
    async def decision(request: Request, decision_id: str) -> Response:
        visitor = pages.gate(request, "audit")
        if isinstance(visitor, Response):
            return visitor
        log = service.log
        found = None if log is None else await run_in_threadpool(log.get, decision_id[:100])
        if found is None:
            return pages.refuse(
                request, visitor, f"No decision with id '{decision_id[:100]}'.", 404
            )
        entry = found.as_dict()
        entry["decision_id"] = entry["id"]
        entry["decided_at"] = entry["time"]
        return pages.render(
            "decision.html",
            request,
            visitor,
            title="Decision",
            entry=entry,
            request_json=views.pretty(entry["request"]),
            decision_json=views.pretty(entry["decision"]),
        )

    app.include_router(router)
    _pages_for_missing_pages(app, pages)
    return pages


# Where only programs go: a 404 there stays the API's JSON, whatever the Accept header says.
_API_PATHS = ("/v1/", "/metrics", "/healthz", "/readyz", "/openapi.json", "/docs", "/redoc")


def _pages_for_missing_pages(app: FastAPI, pages: Pages) -> None:
    """A browser that follows a stale link (`/rule/x`, a typo) gets a page, not JSON."""
    api_answer = app.exception_handlers[StarletteHTTPException]

    async def missing(request: Request, error: Exception) -> Response:
        wants_page = (
            isinstance(error, StarletteHTTPException)
            and error.status_code == 404
            and request.method in ("GET", "HEAD")
            and "text/html" in request.headers.get("accept", "")
            and not request.url.path.startswith(_API_PATHS)
        )
        if wants_page:
            message = "There is no page at this address."
            return pages.render(
                "error.html",
                request,
                pages.visitor(request),
                404,
                title="Not found",
                message=message,
            )
        answer = api_answer(request, error)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(StarletteHTTPException, missing)


def _assigned(policy: CompiledPolicy) -> dict[str, set[str]]:
    """The roles each person is assigned in the policy text (not inherited)."""
    found: dict[str, set[str]] = {}
    for person, held in policy.people.items():
        # A role is assigned directly when no other held role inherits it.
        found[person] = {
            role
            for role in held
            if not any(role in policy.closure.get(other, ()) for other in held if other != role)
        }
    return found


def _playground(policy: CompiledPolicy, query: Mapping[str, str]) -> dict[str, Any]:
    """The form's values and, when a request was given, the answer."""
    mode = query.get("mode", "")
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    blank = {
        "actor": "",
        "groups": "",
        "action": "reply",
        "channel": sorted(policy.channels)[0] if policy.channels else "",
        "account": "",
        "at": now,
        "sentiment": "negative",
        "category": "complaint",
        "reach": "0",
        "received_at": now,
        "post_labels": "",
        "text": "",
        "labels": "",
        "approvals": "",
        "context": "",
    }
    if mode == "json":
        text = query.get("json", "")
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as error:
            form = {**blank, "json": text, "mode": "json"}
            return {"form": form, "errors": [{"field": "request", "message": _not_json(error)}]}
        except ValueError:  # an integer too long to read: the validation below names its field
            data = None
        form = {
            **blank,
            **(views.form_from_request(data) if isinstance(data, dict) else {}),
            "json": text,
            "mode": "json",
        }
    elif mode == "form" or query.get("actor"):
        form = {**blank, **{k: v for k, v in query.items() if k in blank}, "mode": "form"}
        # A browser sends a textarea's line breaks as CRLF: the text typed had LF.
        form["text"] = form["text"].replace("\r\n", "\n")
        data = views.request_from_form(form)
        text = json.dumps(data, indent=2, ensure_ascii=False)
        form["json"] = text
    else:
        form = {**blank, "mode": ""}
        form["json"] = json.dumps(views.request_from_form(form), indent=2)
        return {"form": form}
    request, errors = views.validated(text)
    if request is None:
        return {"form": form, "errors": errors}
    undeclared = policy.undeclared_values(request)
    if undeclared:
        return {"form": form, "errors": undeclared}
    decision = policy.decide(request)
    refused = range_errors(decision)
    if refused:
        return {"form": form, "errors": refused}
    # Who can answer is computed for fewer instants than a decision (rosters need weeks
    # around it): a route it cannot give is said next to the decision, not instead of it.
    routed, route_errors = views.route_of(policy, request)
    return {
        "form": form,
        "decision": decision,
        "route": routed,
        "route_errors": route_errors,
        "verdict": views.verdict(decision),
        "trace": explain(policy, request),
        "decision_json": decision.model_dump_json(indent=2),
    }


def _not_json(error: json.JSONDecodeError | RecursionError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
    return "not valid JSON here: nested too deeply"


_OUTCOMES = (None, "allow", "deny", "escalate", "approval_required")


def _time_filters(
    query: Mapping[str, str | None],
) -> tuple[datetime | None, datetime | None, str | None]:
    """`since` and `until`, or what is wrong with the first that is not a timestamp."""
    found: list[datetime | None] = []
    for name in ("since", "until"):
        try:
            found.append(parse_time(query[name]))
        except ValueError as error:
            return None, None, f"{name}: {error}"
    return found[0], found[1], None


# The Mondays whose week the time page shows rosters for.
_ROSTER_WEEKS = (EARLIEST_DUTY.date(), LATEST_DUTY.date() - timedelta(days=7))


def _week_link(monday: date, weeks: int) -> str | None:
    """The `week` of a link `weeks` away, if the time page shows rosters for that week."""
    ordinal = monday.toordinal() + 7 * weeks  # by ordinal: no date before year 1 or after 9999
    first, last = _ROSTER_WEEKS
    if not first.toordinal() <= ordinal <= last.toordinal():
        return None
    return date.fromordinal(ordinal).isoformat()


def _revisions(sides: tuple[str, str], base: str, head: str) -> tuple[str, str]:
    """The revisions to compare: the resolved commits (WORKTREE as itself)."""
    found = [
        spec if key.startswith(f"{changes.WORKTREE}:") else key
        for key, spec in zip(sides, (base, head), strict=True)
    ]
    return found[0], found[1]


async def _decisions_page(
    pages: Pages, request: Request, visitor: Visitor, verification: dict[str, Any] | None
) -> Response:
    query = {name: request.query_params.get(name) or None for name, _ in DECISION_FILTERS}
    records: list[dict[str, Any]] = []
    next_cursor = None
    since, until, problem = _time_filters(query)
    if problem is None and query["outcome"] not in _OUTCOMES:
        problem = "outcome is one of allow, deny, escalate, approval_required"
    code = 422 if problem else 200
    log = pages.service.log
    if problem is None and log is None:
        problem = "The decision log is not open."
    elif problem is None and log is not None:
        try:
            found, next_cursor = await run_in_threadpool(
                lambda: log.query(
                    actor=query["actor"],
                    outcome=query["outcome"],
                    rule=query["rule"],
                    commit=query["commit"],
                    since=since,
                    until=until,
                    client=query["client"],
                    limit=100,
                    cursor=request.query_params.get("cursor") or None,
                )
            )
        except ValueError as error:  # a bad cursor: the visitor's input, as the API says (422)
            problem, code = str(error), 422
        except Exception as error:  # an unreadable log is shown on the page
            problem = f"The decision log could not be read: {error}"
        else:
            records = [_row(record.as_dict()) for record in found]
    next_href = None
    if next_cursor:
        next_href = "/decisions?" + urlencode(
            {**{k: v for k, v in query.items() if v}, "cursor": next_cursor}
        )
    return pages.render(
        "decisions.html",
        request,
        visitor,
        code,
        title="Decisions",
        filters=DECISION_FILTERS,
        query=query,
        problem=problem,
        records=records,
        next_cursor=next_cursor,
        next_href=next_href,
        verification=verification,
    )


def _row(entry: dict[str, Any]) -> dict[str, Any]:
    request = entry.get("request") or {}
    decision = entry.get("decision") or {}
    return {
        "decision_id": entry["id"],
        "decided_at": entry["time"],
        "actor": (request.get("actor") or {}).get("id", ""),
        "action": request.get("action", ""),
        "channel": request.get("channel", ""),
        "outcome": decision.get("decision", ""),
        "rules": [r.get("rule") for r in decision.get("reasons", []) if r.get("rule")],
        "commit": entry.get("commit"),
        "client": entry.get("client", ""),
    }
