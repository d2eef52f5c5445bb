"""The check endpoints served before FastAPI's middleware (api/hot_path.py) answer exactly as the
router would: the same statuses, bodies and headers for good and bad requests, the same 500 for
a failure, nothing at all for a client that hung up."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from test_api import REQUEST, auth, make_settings, with_changes

from replygate.api.app import create_app
from replygate.api.errors import ApiError
from replygate.api.hot_path import HotPathApp

GOOD = json.dumps(REQUEST).encode()

# (name, path, headers, body): every answer a check can get short of the decision log failing.
CASES: list[tuple[str, str, dict[str, str], bytes]] = [
    ("allowed or not, decided", "/v1/check", auth("checker"), GOOD),
    ("no key", "/v1/check", {}, GOOD),
    ("a wrong key", "/v1/check", {"Authorization": "Bearer nope"}, GOOD),
    ("a key without the scope", "/v1/check", auth("admin"), GOOD),
    ("audit parameter without audit scope", "/v1/check?commit=HEAD", auth("checker"), GOOD),
    ("unknown parameter", "/v1/check?actr=carol", auth("checker"), GOOD),
    ("not JSON", "/v1/check", auth("checker"), b"{not json"),
    ("a bad field", "/v1/check", auth("checker"), json.dumps({**REQUEST, "action": 1}).encode()),
    (
        "an undeclared channel",
        "/v1/check",
        auth("checker"),
        json.dumps(with_changes(REQUEST, channel="fax")).encode(),
    ),
    ("too large", "/v1/check", auth("checker"), b" " * (64 * 1024 + 1)),
    ("a batch", "/v1/check/batch", auth("checker"), json.dumps({"requests": [REQUEST]}).encode()),
    ("a bad batch", "/v1/check/batch", auth("checker"), b'{"requests": 3}'),
]


def _answer(client: TestClient, path: str, headers: dict[str, str], body: bytes) -> Any:
    response = client.post(
        path, content=body, headers={"Content-Type": "application/json", **headers}
    )
    text = response.text
    if response.status_code == 200:  # the decision id differs from one answer to the next
        text = json.dumps(_without_ids(response.json()), sort_keys=True)
    kept = {"content-type", "www-authenticate", "retry-after", "content-length"}
    shown = {k: v for k, v in response.headers.items() if k in kept and response.status_code != 200}
    return response.status_code, text, shown


def _without_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k != "decision_id"}
    if isinstance(value, list):
        return [_without_ids(item) for item in value]
    return value


@pytest.fixture
def clients(tmp_path: Path) -> Iterator[tuple[TestClient, TestClient]]:
    """The API as served, and the same API with every request going through the router."""
    fast = create_app(make_settings(tmp_path / "fast"))
    routed = create_app(make_settings(tmp_path / "routed"))
    assert isinstance(routed, HotPathApp)
    routed.hot_routes.clear()
    with TestClient(fast) as one, TestClient(routed) as other:
        yield one, other


@pytest.mark.parametrize(("name", "path", "headers", "body"), CASES, ids=[c[0] for c in CASES])
def test_the_hot_path_answers_as_the_router_does(
    clients: tuple[TestClient, TestClient],
    name: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
) -> None:
    fast, routed = clients
    assert _answer(fast, path, headers, body) == _answer(routed, path, headers, body), name


def test_checks_are_served_before_the_middleware(tmp_path: Path) -> None:
    # A middleware sees every request the router serves: a check must not pass through it.
    app = create_app(make_settings(tmp_path))
    seen: list[str] = []

    @app.middleware("http")
    async def spy(request: Any, call_next: Any) -> Any:
        seen.append(request.url.path)
        return await call_next(request)

    with TestClient(app) as client:
        assert client.post("/v1/check", json=REQUEST, headers=auth("checker")).status_code == 200
        assert client.get("/v1/check", headers=auth("checker")).status_code == 405
    assert seen == ["/v1/check"]  # only the GET, which the router answers


def test_exception_handlers_a_deployment_adds_apply_to_checks_too(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))

    async def in_house(request: Any, error: Any) -> JSONResponse:
        return JSONResponse({"in_house": error.code}, status_code=error.status)

    def plain(request: Any, error: Any) -> JSONResponse:  # Starlette runs sync ones too
        return JSONResponse({"plain": type(error).__name__}, status_code=500)

    app.add_exception_handler(ApiError, in_house)
    app.add_exception_handler(Exception, plain)

    def broken() -> None:
        raise RuntimeError("policy on fire")

    with TestClient(app, raise_server_exceptions=False) as client:
        refused = client.post("/v1/check", json=REQUEST)
        app.state.service.policy = broken
        failed = client.post("/v1/check", json=REQUEST, headers=auth("checker"))
    assert (refused.status_code, refused.json()) == (401, {"in_house": "unauthorized"})
    assert (failed.status_code, failed.json()) == (500, {"plain": "RuntimeError"})


def test_a_check_under_a_proxy_prefix_is_served_on_the_hot_path(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    routed: list[str] = []

    @app.middleware("http")
    async def spy(request: Any, call_next: Any) -> Any:  # the router would answer 200 as well
        routed.append(request.url.path)
        return await call_next(request)

    with TestClient(app, root_path="/replygate") as client:
        response = client.post("/replygate/v1/check", json=REQUEST, headers=auth("checker"))
    assert response.status_code == 200
    assert "decision_id" in response.json()
    assert routed == []


def test_an_unexpected_failure_in_a_check_is_a_500_in_the_error_shape_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(make_settings(tmp_path))

    def broken() -> None:
        raise RuntimeError("policy on fire")

    app.state.service.policy = broken
    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR):
        single = client.post("/v1/check", json=REQUEST, headers=auth("checker"))
        batch = client.post(
            "/v1/check/batch", json={"requests": [REQUEST]}, headers=auth("checker")
        )
    for response in (single, batch):
        assert response.status_code == 500
        assert response.json() == {
            "code": "internal_error",
            "message": "the server failed to answer; the error has been logged",
        }
        assert response.headers["connection"] == "close"  # a keep-alive client knows to reconnect
    logged = [r for r in caplog.records if r.exc_text and "policy on fire" in r.exc_text]
    assert len(logged) == 2
    assert "POST /v1/check" in logged[0].getMessage()


def test_a_client_that_hangs_up_mid_body_gets_nothing_and_nothing_is_decided(
    tmp_path: Path,
) -> None:
    app = create_app(make_settings(tmp_path))
    sent: list[dict[str, Any]] = []
    messages = [
        {"type": "http.request", "body": GOOD[:20], "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/check",
        "raw_path": b"/v1/check",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"authorization", f"Bearer {auth('checker')['Authorization'][7:]}".encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    with TestClient(app) as client:  # runs the lifespan: the decision log is open
        asyncio.run(app(scope, receive, send))
        assert sent == []
        audit = client.get("/v1/decisions", headers=auth("auditor"))
    assert audit.json()["decisions"] == []


def test_other_paths_and_methods_go_through_fastapi(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    assert isinstance(app, FastAPI)
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/v1/check", headers=auth("checker")).status_code == 405
        # The router redirects a trailing slash to the check, as it did before the hot path.
        slash = client.post("/v1/check/", json=REQUEST, headers=auth("checker"))
        assert (slash.status_code, slash.headers["location"]) == (307, "http://testserver/v1/check")
        assert client.get("/healthz").status_code == 200
