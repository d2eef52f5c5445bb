"""The check endpoints served straight from the ASGI call, past FastAPI's middleware and router.

Measured (bench/README.md, "The stack's share"): on this stack a bare ASGI app that validates a
check body answers about 2.3 times as many requests a second as the same work behind FastAPI's
middleware stack, router and request/response wrappers; for `/v1/check` those layers cost more
CPU than the policy engine. A check needs none of them: it is a POST to a fixed path, its
handler takes a `Request`, returns a whole `Response` and turns its own failures into
`ApiError`. So `HotPathApp` hands such a request to its handler directly and answers failures
with the app's exception handlers, found as Starlette finds them (`errors.answer`). Everything else (other methods
on these paths, every other path, lifespan) goes through FastAPI unchanged, and the router
still knows the paths (405 for GET, no OpenAPI entry of its own: see `check_operations`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from replygate.api import errors

__all__ = ["Endpoint", "HotPathApp"]

Endpoint = Callable[[Request], Awaitable[Response]]


class HotPathApp(FastAPI):
    """FastAPI, with some POST endpoints dispatched before the middleware stack."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hot_routes: dict[str, Endpoint] = {}

    def add_hot_route(self, path: str, endpoint: Endpoint) -> None:
        """Serve POST `path` with `endpoint` directly; the router learns the path too."""
        self.hot_routes[path] = endpoint
        self.add_route(path, endpoint, methods=["POST"], include_in_schema=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            # HEAD is GET without the body (RFC 9110, 9.3.2), which FastAPI's routes do not
            # serve: the app answers a GET; the server, whose scope still says HEAD, sends the
            # status and headers (Content-Length included) and drops the body.
            scope = {**scope, "method": "GET"}
        if scope["type"] == "http" and scope["method"] == "POST":
            if self.root_path:
                scope["root_path"] = self.root_path
            endpoint = self.hot_routes.get(_route_path(scope))
            if endpoint is not None:
                await self._serve(endpoint, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _serve(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except ClientDisconnect:
            return  # nobody to answer; the body was not read whole, so nothing was decided
        except Exception as error:  # the same answers as through the middleware stack
            response = await errors.answer(request, error)
        await response(scope, receive, send)


def _route_path(scope: Scope) -> str:
    # The path the router matches: without the prefix a proxy mounts the app under.
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :]
    return path
