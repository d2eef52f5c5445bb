"""Every bad request gets a clear answer over HTTP: 422 naming the field (in place, in a batch),
never a 500; the server's own parse errors in the JSON error shape; large batches decided off
the event loop; the decision log stays verifiable whatever characters a valid request holds."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_api import POLICIES, auth, make_settings
from test_api_server import KEY, Server
from wire_cases import ACCEPTED, CASES, EVERY_FIELD, JSON_VALUES, VALID, names_the_path, with_value

from replygate.api.app import DECIDE_ON_LOOP, create_app
from replygate.api.auth import key_entry
from replygate.decision_log import verify_log
from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.models import CheckRequest, Decision

LATE = with_value(
    with_value(VALID, "post.received_at", "9999-12-31T23:50:00Z"), "at", "9999-12-31T23:55:00Z"
)
DEADLINE_MESSAGE = (
    "the response deadline of a post received at this time lies beyond "
    "9999-12-31T23:59:59.999999Z, the last time a deadline can be computed"
)


def open_vocabulary(tmp_path: Path) -> str:
    """The bundled policy without its declared categories and labels: these tests are about
    the wire (any well-formed word is a category or a label), not about the vocabulary."""
    folder = tmp_path / "policies"
    folder.mkdir()
    for source in sorted(POLICIES.glob("*.policy")):
        lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if not line.startswith(("category ", "label "))]
        (folder / source.name).write_text("".join(kept), encoding="utf-8")
    return str(folder)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path,
        policy=open_vocabulary(tmp_path),
        batch_limit=2000,
        max_body_bytes=8 * 1024 * 1024,
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def post(client: TestClient, path: str, text: str) -> httpx.Response:
    headers = {**auth("auditor"), "Content-Type": "application/json"}
    return client.post(path, content=text.encode(), headers=headers)


def fields_of(body: dict[str, Any]) -> list[str]:
    return [item["field"] for item in body["fields"]]


# ---- the table of bad values --------------------------------------------------------------------


def test_every_bad_value_is_a_422_naming_its_field(client: TestClient) -> None:
    wrong = []
    for case in CASES:
        response = post(client, "/v1/check", case.text())
        body = response.json()
        if (
            response.status_code != 422
            or case.field not in fields_of(body)
            or body["code"] != "invalid_request"
            or body["location"] != fields_of(body)[0]
        ):
            wrong.append((str(case), response.status_code, body))
    assert wrong == []


def test_a_batch_answers_every_bad_item_in_place(client: TestClient) -> None:
    # The valid request between every two bad ones: each is still decided.
    items = [part for case in CASES for part in (case.text(), json.dumps(VALID))]
    response = post(client, "/v1/check/batch", '{"requests": [' + ",".join(items) + "]}")
    assert response.status_code == 200
    answers = response.json()["decisions"]
    assert len(answers) == 2 * len(CASES)
    for case, refused, decided in zip(CASES, answers[::2], answers[1::2], strict=True):
        assert case.field in fields_of(refused["error"]), (str(case), refused)
        assert refused["error"]["code"] == "invalid_request"
        assert "decision_id" in decided


def test_look_alikes_are_decided_and_the_log_still_verifies(
    client: TestClient, tmp_path: Path
) -> None:
    # Characters a valid request may hold (TAB, C1 controls and bidi marks in text, emoji,
    # joiners, huge integers) must not break the hash chain, as a NUL once did.
    base = with_value(VALID, "post.category", "other")  # no deadline: any time will do
    for path, value in ACCEPTED:
        response = post(client, "/v1/check", json.dumps(with_value(base, path, value)))
        assert response.status_code == 200, (path, value, response.text)
    client.app.state.service.log.flush(10.0)  # type: ignore[attr-defined]
    result = verify_log(f"sqlite:///{tmp_path / 'decisions.db'}")
    assert result.ok, result.first_problem
    assert result.records == len(ACCEPTED)


# ---- the issue's findings, one by one -----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("at", "0001-01-01T00:30:00+01:00"),
        ("at", "9999-12-31T23:30:00-01:00"),
        ("post.received_at", "9999-12-31T23:00:00-14:00"),
        ("actor.id", "a\x00b"),
        ("post.author_reach", True),
        ("post.author_reach", "25000"),
        ("at", 1700000000),
        ("at", "1700000000"),
        ("at", 1700000000.0),
    ],
)
def test_the_issues_requests_are_422_naming_the_field(
    client: TestClient, path: str, value: Any
) -> None:
    response = post(client, "/v1/check", json.dumps(with_value(VALID, path, value)))
    assert response.status_code == 422
    assert fields_of(response.json()) == [path]


def test_a_batch_with_one_timestamp_outside_utc_fails_only_that_item(client: TestClient) -> None:
    bad = with_value(VALID, "at", "0001-01-01T00:30:00+01:00")
    response = client.post(
        "/v1/check/batch", json={"requests": [VALID, bad, VALID]}, headers=auth("auditor")
    )
    assert response.status_code == 200
    first, second, third = response.json()["decisions"]
    assert "decision_id" in first and "decision_id" in third
    assert second["error"]["fields"][0]["field"] == "at"


def test_a_deadline_past_9999_is_a_422_naming_the_received_time(client: TestClient) -> None:
    response = client.post("/v1/check", json=LATE, headers=auth("auditor"))
    assert response.status_code == 422
    assert response.json()["fields"] == [{"field": "post.received_at", "message": DEADLINE_MESSAGE}]
    batch = client.post(
        "/v1/check/batch", json={"requests": [LATE, VALID]}, headers=auth("auditor")
    )
    late, decided = batch.json()["decisions"]
    assert late["error"]["fields"] == [{"field": "post.received_at", "message": DEADLINE_MESSAGE}]
    assert "decision_id" in decided


def test_a_lone_surrogate_names_its_field_in_a_check_and_in_a_batch_item(
    client: TestClient,
) -> None:
    text = json.dumps(VALID).replace('"carol"', '"\\udfff"')
    response = post(client, "/v1/check", text)
    assert response.status_code == 422
    assert fields_of(response.json()) == ["actor.id"]
    batch = post(
        client, "/v1/check/batch", '{"requests": [' + text + "," + json.dumps(VALID) + "]}"
    )
    refused, decided = batch.json()["decisions"]
    assert fields_of(refused["error"]) == ["actor.id"]
    assert "decision_id" in decided


def test_an_unknown_key_with_control_characters_is_named_escaped(client: TestClient) -> None:
    response = post(client, "/v1/check", json.dumps({**VALID, "x\u202e\x00": 1}))
    assert response.status_code == 422
    assert fields_of(response.json()) == ["x\\u202e\\u0000"]
    # A key pydantic cannot even read: the object that holds it is named.
    response = post(client, "/v1/check", json.dumps(with_value(VALID, "post", {"\ud800": 1})))
    assert response.json()["fields"] == [
        {"field": "post", "message": "contains a lone surrogate, which is not a character"}
    ]


@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "0001-01-01T00:00:00%2B01:00",
            "is outside the range of timestamps: in UTC it must lie between "
            "0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z",
        ),
        (
            "9999-12-31T23:30:00-01:00",
            "is outside the range of timestamps: in UTC it must lie between "
            "0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z",
        ),
        (
            "2026-01-01T00:00:00+01:00",
            "is not a timestamp: a '+' in a URL stands for a space, so the offset arrived "
            "without its sign; write the '+' as %2B (e.g. 2026-11-27T21:40:00%2B01:00)",
        ),
        ("2026-01-01T00:00:00+0100", "is not a timestamp: a '+' in a URL stands for a space"),
        ("1700000000", "is not a timestamp"),
    ],
)
def test_audit_filters_outside_utc_or_with_a_bare_plus_are_422(
    client: TestClient, name: str, value: str, message: str
) -> None:
    response = client.get(f"/v1/decisions?{name}={value}", headers=auth("auditor"))
    assert response.status_code == 422
    body = response.json()
    assert body["fields"][0]["field"] == name
    assert body["fields"][0]["message"].startswith(message)


def test_as_of_with_a_bare_plus_hints_at_percent_2b(client: TestClient) -> None:
    response = client.post(
        "/v1/check?as_of=2026-01-01T00:00:00+01:00", json=VALID, headers=auth("auditor")
    )
    assert response.status_code == 422
    assert "write the '+' as %2B" in response.json()["fields"][0]["message"]
    outside = client.post(
        "/v1/check?as_of=0001-01-01T00:00:00%2B01:00", json=VALID, headers=auth("auditor")
    )
    assert outside.status_code == 422
    assert outside.json()["fields"][0]["message"].startswith("is outside the range")


# ---- any JSON value in any field --------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(EVERY_FIELD), JSON_VALUES)
def test_any_value_in_any_field_is_200_or_422_naming_it(
    client: TestClient, path: str, value: Any
) -> None:
    text = json.dumps(with_value(VALID, path, value))
    response = post(client, "/v1/check", text)
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        assert names_the_path(fields_of(response.json()), path), response.text
    batch = post(client, "/v1/check/batch", '{"requests": [' + text + "]}")
    assert batch.status_code == 200
    (item,) = batch.json()["decisions"]
    assert ("error" in item) == (response.status_code == 422)


# ---- large batches off the event loop ---------------------------------------------------------


class GatedPolicy:
    """The serving policy, pausing at one decision until the test opens the gate."""

    def __init__(self, policy: CompiledPolicy, pause_at: int) -> None:
        self.policy = policy
        self.version = policy.version
        self.pause_at = pause_at
        self.calls = 0
        self.paused = threading.Event()
        self.gate = threading.Event()
        self.opened_in_time: list[bool] = []

    def undeclared_values(self, request: CheckRequest) -> list[dict[str, str]]:
        return self.policy.undeclared_values(request)

    def decide(self, request: CheckRequest) -> Decision:
        self.calls += 1
        if self.calls == self.pause_at:
            self.paused.set()
            # On the event loop this would block /healthz too: the wait would time out.
            self.opened_in_time.append(self.gate.wait(timeout=30))
        return self.policy.decide(request)


def test_healthz_answers_while_a_large_batch_is_being_decided(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, batch_limit=10_000, max_body_bytes=64 << 20))
    service = app.state.service
    size = 2000
    assert size > DECIDE_ON_LOOP

    async def scenario() -> tuple[int, int, list[bool], int]:
        async with app.router.lifespan_context(app):
            gated = GatedPolicy(service.source.current, pause_at=size // 2)
            service.source.current = gated
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://replygate") as c:
                batch = asyncio.create_task(
                    c.post(
                        "/v1/check/batch",
                        json={"requests": [VALID] * size},
                        headers=auth("auditor"),
                        timeout=120,
                    )
                )
                # The batch is mid-way, its decider thread waiting at the gate: /healthz must
                # still be answered, and only then the gate opens.
                await anyio.to_thread.run_sync(gated.paused.wait, 60.0)
                health = await c.get("/healthz")
                gated.gate.set()
                answered = await batch
            return (
                health.status_code,
                answered.status_code,
                gated.opened_in_time,
                len(answered.json()["decisions"]),
            )

    health, status, opened, decided = asyncio.run(scenario())
    assert health == 200
    assert opened == [True]
    assert status == 200
    assert decided == size


# ---- what the HTTP server answers before the app ---------------------------------------------


RAW_REQUESTS = {
    "Content-Length is not a number": b"POST /v1/check HTTP/1.1\r\nHost: x\r\n"
    b"Content-Length: abc\r\n\r\n{}",
    "a malformed request line": b"GARBAGE\r\n\r\n",
    "an unknown HTTP version": b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
    "a header name with a space": b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
    "a NUL in the request line": b"GET /healthz\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    "a broken chunk": b"POST /v1/check HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"zz\r\n",
    "Content-Length and chunked together": b"POST /v1/check HTTP/1.1\r\nHost: x\r\n"
    b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
}


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(data)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        return answer


def test_requests_the_server_cannot_parse_get_the_json_error_shape(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text(key_entry("publisher", ["check", "audit"], KEY))
    server = Server(
        tmp_path, "--keys", str(keys), "--decision-log", f"sqlite:///{tmp_path / 'd.db'}"
    )
    try:
        server.wait_ready()
        for what, data in RAW_REQUESTS.items():
            head, _, body = exchange(server.port, data).partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 400 "), what
            assert b"content-type: application/json" in head.lower(), what
            error = json.loads(body)
            assert error["code"] == "bad_request", what
            assert "not valid HTTP/1.1" in error["message"], what
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
    finally:
        server.kill()
    assert "Traceback" not in server.log()
