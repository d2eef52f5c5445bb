"""The decision API: `create_app(settings)` builds the FastAPI application.

The check endpoints are the hot path, written for it: a plain `async def` (deciding takes
microseconds of CPU, so a thread-pool hop would cost more than the work), the body parsed from
bytes by pydantic in one step, the decision serialised once, and the decision-log record handed
to a bounded background writer. Everything else (audit queries, git history) is slow by nature
and runs in the thread pool.

The lifespan opens the decision log and starts the policy source; on shutdown (SIGTERM/SIGINT
through uvicorn) it stops the source and drains the decision log, so no answered check is lost.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from time import perf_counter
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.telemetry import TelemetryConfig
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.json_schema import JsonSchemaMode
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from replygate.api import docs_page, errors, review_page
from replygate.api.auth import ApiKey, KeyRing
from replygate.api.errors import ApiError
from replygate.api.hot_path import HotPathApp
from replygate.api.metrics import Metrics
from replygate.api.policy_source import PolicySource, open_source
from replygate.api.schemas import (
    EXAMPLE_REQUEST,
    BatchEnvelope,
    BatchRequest,
    BatchResponse,
    CheckResponse,
    DecisionEntry,
    DecisionPage,
    ErrorBody,
    Health,
    PageSize,
    PolicyStatus,
    Ready,
    RuleInfo,
    RulesResponse,
    Timestamp,
)
from replygate.api.settings import Settings
from replygate.decision_log import (
    DecisionLog,
    DecisionLogError,
    DecisionRecord,
    LogClosed,
    LogFailed,
    LogFull,
    open_decision_log,
)
from replygate.decision_log.backend import UnreadableRow
from replygate.decision_log.keys import load_key
from replygate.decision_log.records import Checked
from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.models import (
    LARGE_BODY,
    CheckRequest,
    Decision,
    Outcome,
    field_errors,
    members_error,
    parse_json,
    parse_request,
    printable_name,
    range_errors,
    validate_request,
)
from replygate.policy_dsl.limits import MAX_NAME_LENGTH
from replygate.policy_dsl.source import shown_text

log = logging.getLogger("replygate.api")

JSON = "application/json"
REFRESH_SECONDS = 1.0
DRAIN_SECONDS = 30.0

OpenLog = Callable[[Settings], DecisionLog]
TELEMETRY_OFF: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


Responses = dict[int | str, dict[str, Any]]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


UNAUTHORIZED: Responses = {
    401: _error("no API key, or an unknown one (`WWW-Authenticate: Bearer`)"),
    403: _error("the key lacks the scope this endpoint needs"),
}
BODY_ERRORS: Responses = {
    400: _error("the body is not valid JSON"),
    413: _error("the body is larger than the server accepts"),
    415: _error("a Content-Encoding other than identity: send the body uncompressed"),
    422: _error("a field is missing or wrong; `fields` names each one"),
    503: _error("no policy loaded yet, or the decision log is full (fail closed)"),
}
# What `known_query` answers on an endpoint that takes no query parameters.
UNKNOWN_QUERY: Responses = {
    422: _error("a query parameter the endpoint does not take, or one given twice (`fields`)")
}
TEXT_200: Responses = {200: {"content": {"text/plain": {"schema": {"type": "string"}}}}}
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


def default_log(settings: Settings) -> DecisionLog:
    """The decision log the settings name, with the configured redaction, mode and key."""
    return open_decision_log(
        settings.decision_log,
        queue_size=settings.log_queue_size,
        redact=settings.redact,
        ack=settings.log_ack,
        key=load_key(settings.log_key_file, os.environ),
    )


class Service:
    """What the endpoints share: keys, metrics, the policy source and the decision log."""

    def __init__(self, settings: Settings, keys: KeyRing, source: PolicySource) -> None:
        self.settings = settings
        self.keys = keys
        self.source = source
        self.metrics = Metrics()
        self.log: DecisionLog | None = None

    def policy(self) -> CompiledPolicy:
        """The serving policy, or 503 while none is loaded."""
        policy = self.source.current
        if policy is None:
            raise ApiError(
                503,
                "not_ready",
                "no policy is loaded yet; see GET /v1/policy for the load status",
                headers={"Retry-After": "1"},
            )
        return policy

    async def policy_for(
        self, key: ApiKey, commit: str | None, as_of: datetime | None
    ) -> CompiledPolicy:
        """The serving policy, or an earlier one for an audit check (audit scope)."""
        if commit is None and as_of is None:
            return self.policy()
        if "audit" not in key.scopes:
            raise ApiError(
                403,
                "forbidden",
                f"checks against commit or as_of need the 'audit' scope, which the key of "
                f"client '{key.client}' lacks",
                headers={"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="audit"'},
            )
        return await run_in_threadpool(self.source.history, commit, as_of)

    @staticmethod
    def record(
        body: bytes | Any, decision: Decision, decision_json: str, client: str, seconds: float
    ) -> Checked:
        """The decision-log record of one answered check: the request body as sent (a batch
        item as parsed) and the decision; the decision log writes their canonical JSON."""
        version = decision.policy
        return Checked(body, decision_json, client, version.commit, version.ref, seconds * 1e3)

    async def submit(self, record: Checked) -> None:
        """Hand a record to the log: in durable mode this returns once it is committed.

        A queue that stays full, a stopping log or a commit that does not happen fail the
        check with 503: a decision that cannot be logged is not given.
        """
        decisions = self.log
        if decisions is None:
            raise ApiError(503, "unavailable", "the decision log is not open")
        try:
            await decisions.log(record)
        except LogFailed as error:
            raise ApiError(
                503,
                "decision_log_unavailable",
                f"the decision could not be logged ({error}); it was not given (retry shortly)",
                headers={"Retry-After": "1"},
            ) from None
        except LogClosed:
            raise ApiError(
                503,
                "shutting_down",
                "the server is stopping; the check was not decided (retry on another replica)",
                headers={"Retry-After": "1"},
            ) from None
        except LogFull:
            # The writer counts and logs the refusal (throttled); the metrics show it too.
            raise ApiError(
                503,
                "decision_log_full",
                "the decision log cannot keep up; the check was not decided (retry shortly)",
                headers={"Retry-After": "1"},
            ) from None

    async def submit_all(self, records: list[Checked]) -> list[ApiError | None]:
        """`submit` for each record at once (one group commit); the refusal of each, or None."""
        found = await asyncio.gather(*(self.submit(r) for r in records), return_exceptions=True)
        refusals: list[ApiError | None] = []
        for outcome in found:
            if isinstance(outcome, ApiError):
                refusals.append(outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                refusals.append(None)
        return refusals

    def audit_log(self) -> DecisionLog:
        """The decision log for audit reads (503 while it is not open)."""
        if self.log is None:
            raise ApiError(503, "unavailable", "the decision log is not open")
        return self.log

    def refresh_metrics(self) -> None:
        """Carry the decision log's and the policy source's counts into the metrics."""
        self.metrics.refresh(self.log, self.source)


def _refuse_codings(
    values: list[bytes], allowed: str, status: int, code: str, header: str, words: str
) -> None:
    """An ApiError when the codings named by every copy of `header` (comma-separated lists,
    any case) include one other than `allowed`."""
    named = {
        coding
        for value in values
        for coding in value.decode("latin-1").lower().replace(" ", "").split(",")
        if coding
    }
    if named - {allowed}:
        shown = shown_text(", ".join(value.decode("latin-1") for value in values))
        raise ApiError(status, code, f"{header} '{shown}' {words}", location=header)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `limit` bytes; without a
    leading UTF-8 byte-order mark, which the CLI's request files may carry too (RFC 8259 lets a
    reader ignore it), so the same bytes are decided in both places."""
    declared = None
    encodings: list[bytes] = []
    transfers: list[bytes] = []
    # One pass over the raw headers (lower-cased by the server), every copy of each: with two
    # Content-Encoding headers, the second one's gzip went unread and a plain body was decided.
    for name, value in request.scope["headers"]:
        if name == b"content-length":
            declared = value
        elif name == b"content-encoding":
            encodings.append(value)
        elif name == b"transfer-encoding":
            transfers.append(value)
    # Read as plain JSON, a gzip body was "not valid JSON" and a plain body labelled gzip was
    # decided: neither is what the client meant. No content coding is accepted (RFC 9110
    # 15.5.16); of transfer codings the server removes `chunked` only, so a gzip one would
    # reach the parser compressed (RFC 9112 6.1: 501).
    _refuse_codings(
        encodings,
        "identity",
        415,
        "unsupported_encoding",
        "Content-Encoding",
        "is not accepted: send the JSON body uncompressed",
    )
    _refuse_codings(
        transfers,
        "chunked",
        501,
        "unsupported_transfer_coding",
        "Transfer-Encoding",
        "is not implemented: send the body as is or chunked",
    )
    expected = None
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "bad_request", "Content-Length is not a number")
        expected = int(declared)
        if expected > limit:
            raise _too_large(limit)
    chunks = []
    size = 0
    # Straight from `receive`: `request.stream()`, an async generator, costs more than a small
    # body. Content-Length may be absent (chunked) or wrong: count, stop at the limit.
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            if expected is not None and size != expected:
                raise _cut_short(size, expected)
            body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            return body.removeprefix(_BOM)


def _cut_short(size: int, expected: int) -> ApiError:
    # The HTTP parser hands the bytes after the headers of an upgrade request (`curl --http2`
    # sends `Upgrade: h2c`) to the upgrade, which this server does not make: the body is lost.
    return ApiError(
        400,
        "bad_request",
        f"the body ended after {size} of the {expected} bytes its Content-Length declares; "
        "a request with 'Connection: Upgrade' (curl --http2 sends one) loses its body here: "
        "send it over HTTP/1.1 without an Upgrade header",
        location="body",
    )


_BOM = codecs.BOM_UTF8


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413, "body_too_large", f"the request body exceeds {limit} bytes", location="body"
    )


def _with_id(decision_json: str, decision_id: str) -> str:
    # The decision's JSON object with one more key, without parsing it again.
    return f'{decision_json[:-1]},"decision_id":"{decision_id}"}}'


def _item_error(error: ApiError) -> str:
    return '{"error":' + error.body().model_dump_json(exclude_none=True) + "}"


def _bearer(request: Request) -> str | None:
    """The Authorization header; two of them are refused: a gateway that authorises on the
    last and a server that reads the first would disagree about who is calling."""
    values = request.headers.getlist("authorization")
    if len(values) > 1:
        raise ApiError(
            400,
            "bad_request",
            "the request has more than one Authorization header: send one",
            location="Authorization",
            headers={"WWW-Authenticate": 'Bearer error="invalid_request"'},
        )
    return values[0] if values else None


def create_app(
    settings: Settings,
    *,
    open_log: OpenLog = default_log,
    keys: KeyRing | None = None,
) -> FastAPI:
    """The API for these settings. `open_log` and `keys` let tests substitute their own."""
    service = Service(settings, keys or KeyRing.from_settings(settings), open_source(settings))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # No switch-interval tuning: since the SQLite transaction runs in the committer process,
        # the default 5 ms serves durable checks best (bench/README.md, 2026-12-01 afternoon).
        service.log = await run_in_threadpool(open_log, settings)
        try:
            await run_in_threadpool(service.source.start)
            service.refresh_metrics()  # report this worker's state before its first request
            # Everything loaded so far (policy, app, libraries) lives as long as the process:
            # keep it out of the collector's generations so collections stay cheap under load.
            gc.freeze()
            refresher = asyncio.create_task(_refresh_forever(service))
            try:
                yield
            finally:
                refresher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await refresher
                await run_in_threadpool(service.source.stop)
        finally:
            # Drain: every answered check reaches the log before the process exits.
            await run_in_threadpool(service.log.close, DRAIN_SECONDS)
            service.refresh_metrics()
            Metrics.process_exited()

    app = HotPathApp(
        title="replygate decision API",
        version="1",
        summary="May this person publish this reply now?",
        description=(
            "Decisions of the replygate policy engine over HTTP, with the audit trail of every "
            "decision. Authenticate with `Authorization: Bearer <API key>`; every error has the "
            "shape `{code, message, location?, fields?}`."
        ),
        lifespan=lifespan,
        # Prometheus metrics are ours; FastAPI's OpenTelemetry hooks would cost every request.
        telemetry=TELEMETRY_OFF,
        docs_url=None,  # docs_page: pinned and locked down
        redoc_url=None,
    )
    app.state.service = service
    errors.install(app)
    _check_routes(app, service)
    _policy_routes(app, service)
    _audit_routes(app, service)
    _operations_routes(app, service)
    _route_routes(app, service)
    # The review pages for compliance staff (`/`): the same keys, a signed session cookie.
    review_page.mount(
        app, service, review_page.session_secret(settings) or review_page.new_secret()
    )
    docs_page.mount(app)
    app.openapi = lambda: _openapi(app, settings.batch_limit)  # type: ignore[method-assign]
    return app


async def _refresh_forever(service: Service) -> None:
    while True:
        await asyncio.sleep(REFRESH_SECONDS)
        try:
            service.refresh_metrics()
        except Exception:  # metrics must never take the server down
            log.exception("refreshing metrics failed")


# ---- checks: the hot path ---------------------------------------------------------------------

AUDIT_PARAMETERS = [
    {
        "name": "commit",
        "in": "query",
        "required": False,
        "description": "audit: decide with the policy of this commit or ref (needs the `audit` "
        "scope and a server that follows a repository)",
        "schema": {"type": "string", "maxLength": 255},
    },
    {
        "name": "as_of",
        "in": "query",
        "required": False,
        "description": "audit: decide with the policy the followed ref pointed to at this time, "
        "with a time-zone offset (needs the `audit` scope)",
        "schema": {"type": "string", "format": "date-time"},
    },
]
_AWARE = TypeAdapter(Timestamp)


NO_PARAMETERS: frozenset[str] = frozenset()
AUDIT_NAMES = frozenset({"commit", "as_of"})
DECISION_FILTERS = frozenset(
    {"actor", "outcome", "rule", "commit", "client", "since", "until", "limit", "cursor"}
)


def known_query(request: Request, allowed: frozenset[str]) -> None:
    """Refuse query parameters the endpoint does not know: a mistyped audit filter
    (`?actr=carol`) must not quietly return the whole log."""
    if not request.scope["query_string"]:
        return
    query = request.query_params
    unknown = sorted(set(query) - allowed)
    if unknown:
        # A name is the client's text: escaped, so bidi and escape characters cannot reorder or
        # recolour the message where it is shown.
        raise errors.invalid_fields(
            [
                {"field": printable_name(name), "message": "is not a parameter of this endpoint"}
                for name in unknown
            ]
        )
    # `?commit=a&commit=b`: a proxy that reads the first and a server that reads the last
    # would audit different commits. One value each, or a 422.
    repeated = sorted(name for name in set(query) if len(query.getlist(name)) > 1)
    if repeated:
        raise errors.invalid_fields(
            [{"field": name, "message": "is given more than once"} for name in repeated]
        )
    # `?actor=$UNSET`: an empty filter would match nothing and answer an empty audit trail.
    empty = sorted(name for name, value in query.items() if value == "")
    if empty:
        raise errors.invalid_fields(
            [{"field": name, "message": "is empty: give a value or leave it out"} for name in empty]
        )


def audit_parameters(request: Request) -> tuple[str | None, datetime | None]:
    """`commit` and `as_of` from the query string, read by hand: declaring them as FastAPI
    parameters costs a dependency resolution on every check, most of which have no query."""
    if not request.scope["query_string"]:
        return None, None
    known_query(request, AUDIT_NAMES)
    query = request.query_params
    commit = query.get("commit")
    if commit is not None and not 0 < len(commit) <= 255:
        raise errors.invalid_fields(
            [{"field": "commit", "message": "a commit or ref name of 1 to 255 characters"}]
        )
    raw = query.get("as_of")
    if raw is None:
        return commit, None
    try:
        return commit, _AWARE.validate_python(raw)
    except ValidationError as error:
        fields = [{"field": "as_of", "message": e["message"]} for e in field_errors(error)[:1]]
        raise errors.invalid_fields(fields) from None


# Batches up to this size are decided on the event loop: a thread hop costs more than they do.
DECIDE_ON_LOOP = 16


def _envelope(body: bytes) -> BatchEnvelope:
    """The batch's envelope; items keep escaped lone surrogates, which their validation names."""
    try:
        return BatchEnvelope.model_validate_json(body)
    except ValidationError as error:
        return BatchEnvelope.model_validate(parse_json(body, error))


def _decided(policy: CompiledPolicy, request: CheckRequest) -> Decision:
    """The policy's decision; an undeclared category or label, or a deadline beyond the end of
    time, is the request's fault (422)."""
    undeclared = policy.undeclared_values(request)
    if undeclared:
        raise errors.invalid_fields(undeclared)
    decision = policy.decide(request)
    if decision.decision == "deny":
        refused = range_errors(decision)
        if refused:
            raise errors.invalid_fields(refused)
    return decision


def _decide_items(
    service: Service, policy: CompiledPolicy, items: list[Any], client: str, large: bool
) -> list[tuple[Checked, Outcome, float] | str]:
    """Validate and decide every batch item: its log record, or its error JSON in its place.
    Items of a `large` body are counted first (`MAX_MEMBERS`)."""
    decided: list[tuple[Checked, Outcome, float] | str] = []
    for item in items:
        started = perf_counter()
        try:
            refused = members_error(item) if large else None
            if refused is not None:
                raise refused
            parsed = validate_request(item)
            decision = _decided(policy, parsed)
        except ValidationError as error:
            decided.append(_item_error(errors.request_errors(error)))
            continue
        except ApiError as error:
            decided.append(_item_error(error))
            continue
        decision_json = decision.model_dump_json()
        seconds = perf_counter() - started
        decided.append(
            (
                service.record(item, decision, decision_json, client, seconds),
                decision.decision,
                seconds,
            )
        )
    return decided


def _check_routes(app: HotPathApp, service: Service) -> None:
    settings = service.settings
    keys = service.keys
    metrics = service.metrics
    limit = settings.max_body_bytes
    batch_limit = settings.batch_limit

    async def check(request: Request) -> Response:
        """May this actor take this action on this channel now? The body is a CheckRequest."""
        started = perf_counter()
        key = keys.require(_bearer(request), "check")
        commit, as_of = audit_parameters(request)
        policy = await service.policy_for(key, commit, as_of)
        body = await read_body(request, limit)
        try:
            parsed = parse_request(body)
        except ValidationError as error:
            raise errors.request_errors(error) from None
        decision = _decided(policy, parsed)
        decision_json = decision.model_dump_json()
        record = service.record(body, decision, decision_json, key.client, perf_counter() - started)
        await service.submit(record)
        metrics.decided(decision.decision, perf_counter() - started)
        return Response(_with_id(decision_json, record.decision_id), media_type=JSON)

    async def check_batch(request: Request) -> Response:
        """Decide up to the batch limit of requests; a bad item gets an error in its place."""
        key = keys.require(_bearer(request), "check")
        commit, as_of = audit_parameters(request)
        policy = await service.policy_for(key, commit, as_of)
        body = await read_body(request, limit)
        try:
            envelope = _envelope(body)
        except ValidationError as error:
            raise errors.request_errors(error) from None
        if len(envelope.requests) > batch_limit:
            raise errors.invalid_fields(
                [
                    {
                        "field": "requests",
                        "message": f"a batch holds at most {batch_limit} requests "
                        f"(got {len(envelope.requests)})",
                    }
                ]
            )
        items = envelope.requests
        large = len(body) > LARGE_BODY
        if len(items) > DECIDE_ON_LOOP:
            # A large batch takes milliseconds to seconds of CPU: off the event loop, so /healthz
            # and other requests are answered meanwhile (the GIL switches every few ms).
            decided = await run_in_threadpool(
                _decide_items, service, policy, items, key.client, large
            )
        else:
            decided = _decide_items(service, policy, items, key.client, large)
        parts = []
        # Logged together: in durable mode the whole batch shares one commit.
        logged: list[tuple[int, Checked, Outcome, float]] = []
        for entry in decided:
            if isinstance(entry, str):
                parts.append(entry)
                continue
            record, outcome, seconds = entry
            logged.append((len(parts), record, outcome, seconds))
            parts.append(_with_id(record.decision_json, record.decision_id))
        refusals = await service.submit_all([item[1] for item in logged])
        for (index, _record, outcome, seconds), refusal in zip(logged, refusals, strict=True):
            if refusal is not None:
                parts[index] = _item_error(refusal)
            else:
                metrics.decided(outcome, seconds)
        return Response('{"decisions":[' + ",".join(parts) + "]}", media_type=JSON)

    # Served before FastAPI's middleware and router, which cost more than deciding
    # (api/hot_path.py). Their OpenAPI entries are written by hand in `check_operations`.
    app.add_hot_route("/v1/check", check)
    app.add_hot_route("/v1/check/batch", check_batch)


def _responses(success: type[BaseModel], description: str) -> dict[str, Any]:
    found: dict[str, Any] = {
        "200": {
            "description": description,
            "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{success.__name__}"}}},
        }
    }
    for status, entry in sorted(
        (UNAUTHORIZED | BODY_ERRORS).items(), key=lambda item: str(item[0])
    ):
        found[str(status)] = {
            "description": entry["description"],
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }
    return found


def check_operations() -> dict[str, Any]:
    """The OpenAPI path items of the two check endpoints."""
    common = {"tags": ["checks"], "security": BEARER, "parameters": AUDIT_PARAMETERS}
    return {
        "/v1/check": {
            "post": {
                **common,
                "summary": "Decide one request",
                "description": "May this actor take this action on this channel now? The "
                "decision of the engine, plus the `decision_id` it is logged under.",
                "operationId": "check",
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": {"$ref": "#/components/schemas/CheckRequest"},
                            "example": EXAMPLE_REQUEST,
                        }
                    },
                },
                "responses": _responses(CheckResponse, "the decision"),
            }
        },
        "/v1/check/batch": {
            "post": {
                **common,
                "summary": "Decide several requests, in order",
                "description": "Up to the server's batch limit; an item that does not validate "
                'gets `{"error": {...}}` in its place and the others are still decided.',
                "operationId": "check_batch",
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": {"$ref": "#/components/schemas/BatchRequest"},
                            "example": {"requests": [EXAMPLE_REQUEST]},
                        }
                    },
                },
                "responses": _responses(
                    BatchResponse, "one entry per request, in order: its decision or its error"
                ),
            }
        },
    }


# ---- the serving policy ---------------------------------------------------------------------


def _rule_info(policy: CompiledPolicy) -> list[RuleInfo]:
    return [
        RuleInfo(
            name=rule.name,
            effect=rule.effect,
            roles=list(rule.roles),
            message=rule.reason.message,
            source=rule.reason.source,
        )
        for rule in sorted(policy.rules, key=lambda rule: rule.order)
    ]


def _policy_routes(app: FastAPI, service: Service) -> None:
    keys = service.keys

    @app.get(
        "/v1/policy",
        tags=["policy"],
        summary="Which policy is serving and how its last load went",
        response_model=PolicyStatus,
        responses=UNAUTHORIZED | UNKNOWN_QUERY,
        openapi_extra={"security": BEARER},
    )
    async def policy_status(request: Request) -> PolicyStatus:
        """Ref, commit, load time, state and the last load error with its positions."""
        keys.require(_bearer(request), None)
        known_query(request, NO_PARAMETERS)
        return service.source.status()

    @app.get(
        "/v1/policy/rules",
        tags=["policy"],
        summary="Every rule of the serving policy",
        response_model=RulesResponse,
        responses=UNAUTHORIZED | UNKNOWN_QUERY | {503: _error("no policy loaded yet")},
        openapi_extra={"security": BEARER},
    )
    async def policy_rules(request: Request) -> RulesResponse:
        """Each rule with its effect, message, file:line:column, commit and author."""
        keys.require(_bearer(request), None)
        known_query(request, NO_PARAMETERS)
        policy = service.policy()
        return RulesResponse(
            commit=policy.version.commit, ref=policy.version.ref, rules=_rule_info(policy)
        )

    @app.post(
        "/v1/policy/refresh",
        tags=["policy"],
        summary="Poll the followed ref now (admin)",
        response_model=PolicyStatus,
        responses=UNAUTHORIZED
        | {
            422: _error(
                "the server serves a folder, which is loaded once; or a query parameter the "
                "endpoint does not take (`fields`)"
            )
        },
        openapi_extra={"security": BEARER},
    )
    async def policy_refresh(request: Request) -> PolicyStatus:
        """Check the followed ref at once instead of at the next poll (the answering worker)."""
        keys.require(_bearer(request), "admin")
        known_query(request, NO_PARAMETERS)
        await run_in_threadpool(service.source.refresh)
        return service.source.status()


# ---- the audit trail --------------------------------------------------------------------------


async def _read(call: Callable[[], Any]) -> Any:
    """A decision-log read in the thread pool; its failures in the API's error shape."""
    try:
        return await run_in_threadpool(call)
    except UnreadableRow as error:  # not the client's fault: the database was edited
        log.error("decision log: %s", error)
        raise ApiError(
            500,
            "decision_log_altered",
            "a stored decision cannot be read: it was altered in the database "
            "(replygate audit verify reports it)",
        ) from None
    except ValueError as error:
        # The log names the parameter first: "cursor: not a cursor of this decision log".
        name, _, message = str(error).partition(": ")
        raise errors.invalid_fields([{"field": name, "message": message or name}]) from None
    except DecisionLogError as error:
        log.error("%s", error)
        raise ApiError(
            503, "decision_log_unavailable", "the decision log cannot be read right now"
        ) from None


def _entry(record: DecisionRecord) -> DecisionEntry:
    return DecisionEntry.model_validate(record.as_dict())


def _audit_routes(app: FastAPI, service: Service) -> None:
    keys = service.keys

    def gate(allowed: frozenset[str]) -> Any:
        """The key, then the parameters' names, as a dependency: FastAPI validates declared
        parameters before the handler runs, so a check inside it answered `?limit=0` without a
        key with 422 (parameter validation open to anyone) where every endpoint says 401."""

        async def audit_key_and_names(request: Request) -> None:
            keys.require(_bearer(request), "audit")
            known_query(request, allowed)

        return Depends(audit_key_and_names)

    @app.get(
        "/v1/decisions",
        tags=["audit"],
        summary="Search the decision log",
        response_model=DecisionPage,
        responses=UNAUTHORIZED
        | {
            422: _error("a filter or the cursor is not valid"),
            503: _error("the decision log cannot be read right now"),
        },
        openapi_extra={"security": BEARER},
        dependencies=[gate(DECISION_FILTERS)],
    )
    async def decisions(
        request: Request,
        actor: Annotated[
            str | None, Query(description="the actor's id", max_length=MAX_NAME_LENGTH)
        ] = None,
        outcome: Annotated[Outcome | None, Query(description="the decision's outcome")] = None,
        rule: Annotated[
            str | None, Query(description="a rule among the reasons", max_length=MAX_NAME_LENGTH)
        ] = None,
        commit: Annotated[
            str | None, Query(description="the policy commit that decided", max_length=64)
        ] = None,
        client: Annotated[
            str | None, Query(description="the API client that asked", max_length=MAX_NAME_LENGTH)
        ] = None,
        since: Annotated[
            Timestamp | None, Query(description="decided at or after this time")
        ] = None,
        until: Annotated[Timestamp | None, Query(description="decided before this time")] = None,
        limit: Annotated[PageSize, Query(description="page size")] = 100,
        cursor: Annotated[
            str | None, Query(description="`next_cursor` of the previous page", max_length=500)
        ] = None,
    ) -> DecisionPage:
        """Decisions, last committed first, filtered; follow `next_cursor` for more."""
        decision_log = service.audit_log()
        found, next_cursor = await _read(
            lambda: decision_log.query(
                actor=actor,
                outcome=outcome,
                rule=rule,
                commit=commit,
                since=since,
                until=until,
                client=client,
                limit=limit,
                cursor=cursor,
            )
        )
        return DecisionPage(decisions=[_entry(record) for record in found], next_cursor=next_cursor)

    @app.get(
        "/v1/decisions/{decision_id}",
        tags=["audit"],
        summary="One logged decision",
        response_model=DecisionEntry,
        responses=UNAUTHORIZED
        | UNKNOWN_QUERY
        | {
            404: _error("no decision with that id"),
            503: _error("the decision log cannot be read right now"),
        },
        openapi_extra={"security": BEARER},
        dependencies=[gate(NO_PARAMETERS)],
    )
    async def decision(
        request: Request,
        decision_id: Annotated[
            str, Path(description="the `decision_id` of a check", max_length=100)
        ],
    ) -> DecisionEntry:
        """The request (as stored, after redaction) and the decision, with commit and client."""
        decision_log = service.audit_log()
        found = await _read(lambda: decision_log.get(decision_id))
        if found is None:
            raise ApiError(
                404,
                "not_found",
                # Bidi characters in an echoed id would reorder the message where it is shown.
                f"no decision with id '{shown_text(decision_id)}'",
                location="decision_id",
            )
        return _entry(found)


# ---- health and metrics -----------------------------------------------------------------------


def _operations_routes(app: FastAPI, service: Service) -> None:
    keys = service.keys
    settings = service.settings
    health_security = {} if settings.open_health else {"security": BEARER}
    metrics_security = {} if settings.open_metrics else {"security": BEARER}
    health_errors: Responses = {} if settings.open_health else {401: UNAUTHORIZED[401]}
    metrics_errors: Responses = {} if settings.open_metrics else {401: UNAUTHORIZED[401]}

    @app.get(
        "/healthz",
        tags=["operations"],
        summary="The process is alive",
        response_model=Health,
        responses=health_errors | UNKNOWN_QUERY,
        openapi_extra=health_security,
    )
    async def healthz(request: Request) -> Health:
        """Always 200 while the process answers."""
        if not settings.open_health:
            keys.require(_bearer(request), None)
        known_query(request, NO_PARAMETERS)
        return Health()

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="A policy is loaded",
        response_model=Ready,
        responses=health_errors
        | UNKNOWN_QUERY
        | {503: _error("no policy loaded yet, or the decision log takes no decisions")},
        openapi_extra=health_security,
    )
    async def readyz(request: Request) -> Ready:
        """200 once a policy is loaded, 503 before, and 503 while the decision log takes no
        decisions: once it stopped (a failed fsync), or in durable mode while its writes fail
        (a full disk, the database down) until one succeeds. Every check would be refused:
        take no traffic."""
        if not settings.open_health:
            keys.require(_bearer(request), None)
        known_query(request, NO_PARAMETERS)
        policy = service.policy()
        failure = getattr(service.log, "failure", None)
        if failure is not None:
            raise ApiError(
                503, "decision_log_unavailable", f"the decision log takes no decisions: {failure}"
            )
        stats = getattr(service.log, "stats", None) or {}
        failing = stats.get("failing_writes", 0)
        # Only where every check waits for its record: in async mode checks are answered from
        # the queue while the writer retries, and a database blip must not take every replica
        # out of rotation at once.
        if failing and getattr(service.log, "durable", True):
            raise ApiError(
                503,
                "decision_log_unavailable",
                f"the decision log cannot write: its last {failing} attempt"
                f"{'s' if failing > 1 else ''} failed and nothing has been written since "
                "(the server log says why; a full disk, the database down)",
            )
        return Ready(commit=policy.version.commit)

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=Response,
        responses=TEXT_200 | metrics_errors | UNKNOWN_QUERY,
        openapi_extra=metrics_security,
    )
    async def metrics(request: Request) -> Response:
        """Decisions by outcome, latency, policy loads, decision-log queue and rejections."""
        if not settings.open_metrics:
            keys.require(_bearer(request), None)
        known_query(request, NO_PARAMETERS)
        service.refresh_metrics()
        return Response(service.metrics.exposition(), media_type=service.metrics.content_type)


# ---- OpenAPI ----------------------------------------------------------------------------------


def _openapi(app: FastAPI, batch_limit: int) -> dict[str, Any]:
    """FastAPI's document plus the request models the raw-body endpoints read themselves."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
        tags=[
            {"name": "checks", "description": "decide requests"},
            {"name": "policy", "description": "the serving policy"},
            {"name": "audit", "description": "the decision log (`audit` scope)"},
            {"name": "operations", "description": "health, readiness, metrics"},
        ],
    )
    document["paths"] = check_operations() | document["paths"]
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (CheckRequest, "validation"),
        (BatchRequest, "validation"),
        (CheckResponse, "serialization"),
        (BatchResponse, "serialization"),
        (ErrorBody, "serialization"),
    ]
    for model, mode in wanted:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
        for name, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(name, definition)
        schemas[model.__name__] = schema
    schemas["BatchRequest"]["properties"]["requests"]["maxItems"] = batch_limit
    components["securitySchemes"] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "an API key from the keys file (see docs/api.md)",
        }
    }
    app.openapi_schema = document
    return document


def configure_logging() -> None:
    """The server's own messages on stderr as `replygate: LEVEL: message`."""
    logging.basicConfig(level=logging.INFO, format="replygate: %(levelname)s: %(message)s")


def app_from_env() -> FastAPI:
    """The app factory uvicorn imports in each worker (`api.app:app_from_env`, factory=True)."""
    configure_logging()
    return create_app(Settings.from_env())


# ---- routing: who should get this post (issue 9) ---------------------------------------------


def _route_request_schema() -> dict[str, Any]:
    from replygate.engine.models import RouteRequest

    schema = RouteRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)  # Post and Content are in the document through CheckRequest
    return schema


def _route_routes(app: FastAPI, service: Service) -> None:
    from replygate.engine.models import (
        Route,
        field_errors,
        parse_route_request,
        route_field_errors,
    )
    from replygate.engine.routing import route_or_refusal

    keys = service.keys
    limit = service.settings.max_body_bytes

    @app.post(
        "/v1/route",
        tags=["checks"],
        summary="Who can answer this post now, and by when",
        response_model=Route,
        response_model_exclude_unset=False,
        responses=UNAUTHORIZED | BODY_ERRORS | {503: _error("no policy loaded yet")},
        openapi_extra={
            "security": BEARER,
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": _route_request_schema()}},
            },
        },
    )
    async def route_post(request: Request) -> Response:
        """The candidates who may answer the post, on duty first; whether anyone can in time;
        the units to inform. The body is a check request without `actor` and `approvals`."""
        keys.require(_bearer(request), "check")
        known_query(request, NO_PARAMETERS)
        policy = service.policy()
        body = await read_body(request, limit)
        try:
            parsed = parse_route_request(body)
        except ValidationError as error:
            details = error.errors(include_url=False)
            if details and details[0]["type"] == "json_invalid":
                raise errors.request_errors(error) from None
            raise errors.invalid_fields(route_field_errors(field_errors(error))) from None
        # Off the event loop: routing builds roster timelines, in time linear in rosters x turns
        # (500 hourly rosters: a cold route took 33 s, and held /healthz as long).
        answer, refused = await run_in_threadpool(route_or_refusal, policy, parsed)
        if answer is None:
            raise errors.invalid_fields(refused)
        return Response(answer.model_dump_json(), media_type=JSON)
