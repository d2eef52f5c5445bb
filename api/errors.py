"""The one error shape of the API: `{"code", "message", "location"?, "fields"?}`.

Every failure a client can cause — a bad key, a malformed body, an unknown route, a field that
does not validate — answers in this shape, so a publishing tool needs one error parser. Anything
unexpected is logged with its traceback here and answered as a 500 in the same shape; a client
never sees a traceback.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from replygate.api.schemas import ErrorBody, FieldError
from replygate.engine.models import field_errors

log = logging.getLogger("replygate.api")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    503: "unavailable",
}


class ApiError(Exception):
    """An error a handler raises on purpose: it becomes the one JSON error shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        location: str | None = None,
        fields: Sequence[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.location = location
        self.fields = list(fields) if fields is not None else None
        self.headers = headers

    def body(self) -> ErrorBody:
        """The error as the response model."""
        return error_body(self.code, self.message, self.location, self.fields)

    def response(self) -> Response:
        """The error as a JSON response with its status and headers."""
        return json_error(self.status, self.body(), self.headers)


def error_body(
    code: str,
    message: str,
    location: str | None = None,
    fields: Sequence[dict[str, Any]] | None = None,
) -> ErrorBody:
    """Build the error model; `fields` are `{field, message}` pairs."""
    return ErrorBody(
        code=code,
        message=message,
        location=location,
        fields=[FieldError(**item) for item in fields] if fields is not None else None,
    )


def json_error(status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> Response:
    """A response carrying `body`, without the keys that are absent."""
    return Response(
        content=body.model_dump_json(exclude_none=True),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def invalid_fields(fields: list[dict[str, Any]], code: str = "invalid_request") -> ApiError:
    """A 422 that names every bad field: `post.received_at: timestamp needs a time-zone offset`."""
    message = "; ".join(f"{item['field']}: {item['message']}" for item in fields)
    return ApiError(
        422, code, message, location=fields[0]["field"] if fields else None, fields=fields
    )


def request_errors(error: ValidationError) -> ApiError:
    """A pydantic failure on a request body: malformed JSON is a 400, a bad field a 422."""
    details = error.errors(include_url=False)
    if details and details[0]["type"] == "json_invalid":
        reason = str(details[0].get("ctx", {}).get("error", "invalid JSON"))
        return ApiError(
            400, "malformed_json", f"the request body is not valid JSON: {reason}", location="body"
        )
    return invalid_fields(field_errors(error))


def _parameter_fields(error: RequestValidationError) -> list[dict[str, Any]]:
    """Query and path parameter errors named by the parameter alone (`as_of`, `limit`)."""
    found = []
    for item in error.errors():
        location = [str(part) for part in item.get("loc", ()) if part not in ("query", "path")]
        message = item.get("msg", "is not valid")
        if item.get("type") == "timezone_aware":
            message = "timestamp needs a time-zone offset"
        elif item.get("type") == "value_error":
            message = str(item.get("ctx", {}).get("error", message))
        found.append({"field": ".".join(location) or "request", "message": message})
    return found


async def _api_error(_request: Request, exc: ApiError) -> Response:
    return exc.response()


async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
    code = _STATUS_CODES.get(exc.status_code, "error")
    if exc.status_code == 404:
        message = "no such endpoint; the API is described at /docs and /openapi.json"
    elif exc.status_code == 405:
        message = "this endpoint does not accept that method"
    else:
        message = str(exc.detail)
    headers = dict(exc.headers) if exc.headers else None
    if headers and "Allow" in headers:
        # Every GET path answers HEAD too (hot_path.py), which the router does not know.
        methods = [method.strip() for method in headers["Allow"].split(",")]
        if "GET" in methods and "HEAD" not in methods:
            methods.insert(methods.index("GET") + 1, "HEAD")
        headers["Allow"] = ", ".join(methods)
    return json_error(exc.status_code, error_body(code, message), headers)


async def _validation_error(_request: Request, exc: RequestValidationError) -> Response:
    return invalid_fields(_parameter_fields(exc)).response()


async def _unexpected(request: Request, exc: Exception) -> Response:
    # The traceback stays in the server's log; the client learns only that it was our fault.
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return json_error(
        500,
        error_body("internal_error", "the server failed to answer; the error has been logged"),
        # Outside the check endpoints Starlette re-raises after answering and the server then
        # drops the connection: say so, so a keep-alive client does not send into a closed one.
        # The check endpoints close it too: after a failure we do not know, a fresh one is safer.
        headers={"Connection": "close"},
    )


# Starlette types handlers as taking any Exception; it calls each with its own class only.
_HANDLERS: list[tuple[type[Exception], Callable[..., Awaitable[Response]]]] = [
    (ApiError, _api_error),
    (StarletteHTTPException, _http_error),
    (RequestValidationError, _validation_error),
    (Exception, _unexpected),
]


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the one error shape."""
    for kind, handler in _HANDLERS:
        app.add_exception_handler(kind, handler)


def _is_async(handler: Callable[..., Any]) -> bool:
    """Whether calling `handler` gives a coroutine, as Starlette decides (partials unwrapped)."""
    while isinstance(handler, functools.partial):
        handler = handler.func
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - an object whose __call__ is async
    )


async def answer(request: Request, error: Exception) -> Response:
    """The response the app's exception handlers give `error`, for code that runs outside them.

    Looked up as Starlette does (a status code's handler first for an HTTP error, then the
    error's classes in method-resolution order, then the 500 handler), so a handler a deployment
    registers after `install` applies here too.
    """
    handlers: dict[Any, Callable[..., Any]] = getattr(request.app, "exception_handlers", {})
    handler: Callable[..., Any] | None = None
    if isinstance(error, StarletteHTTPException):
        handler = handlers.get(error.status_code)
    if handler is None:
        handler = next((handlers[k] for k in type(error).__mro__ if k in handlers), None)
    if handler is None:
        handler = handlers.get(500)
    if handler is None:
        return await _unexpected(request, error)
    if _is_async(handler):
        response: Response = await handler(request, error)
    else:
        response = await run_in_threadpool(handler, request, error)
    return response
