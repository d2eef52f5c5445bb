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
from wire_cases import (
    ACCEPTED,
    CASES,
    EVERY_FIELD,
    JSON_VALUES,
    TIMESTAMP_ACCEPTED,
    TIMESTAMP_REFUSED,
    VALID,
    names_the_path,
    with_value,
)

from replygate.api.app import DECIDE_ON_LOOP, create_app
from replygate.api.auth import key_entry
from replygate.decision_log import verify_log
from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.models import (
    LARGE_BODY,
    MAX_LISTED_ERRORS,
    TOO_MANY_MEMBERS,
    CheckRequest,
    Decision,
)

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


def test_healthz_answers_while_a_post_is_being_routed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by probing rosters: a route of a 500-roster policy took 33 s on the event loop,
    and /healthz (a liveness probe) waited as long."""
    from replygate.engine import routing

    paused, gate = threading.Event(), threading.Event()
    opened_in_time: list[bool] = []
    real = routing.route_or_refusal

    def gated(policy: Any, request: Any) -> Any:
        paused.set()
        opened_in_time.append(gate.wait(timeout=10))  # on the loop, /healthz cannot open it
        return real(policy, request)

    monkeypatch.setattr(routing, "route_or_refusal", gated)
    app = create_app(make_settings(tmp_path))
    body = {key: value for key, value in VALID.items() if key in ("channel", "post", "at")}

    async def scenario() -> tuple[int, int]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://replygate") as c:
                route = asyncio.create_task(
                    c.post("/v1/route", json=body, headers=auth("auditor"), timeout=60)
                )
                await anyio.to_thread.run_sync(paused.wait, 60.0)
                health = await c.get("/healthz")
                gate.set()
                answered = await route
            return health.status_code, answered.status_code

    assert asyncio.run(scenario()) == (200, 200)
    assert opened_in_time == [True]


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


_AUTH = b"Authorization: Bearer " + KEY.encode() + b"\r\n"
_BODY = json.dumps(VALID).encode()
# Requests the server parses but the app must refuse, in JSON: (request, status, code).
REFUSED_REQUESTS = {
    # The server removes `chunked` only: the body would be decided still compressed.
    "a gzip transfer coding": (
        b"POST /v1/check HTTP/1.1\r\nHost: x\r\n" + _AUTH + b"Transfer-Encoding: gzip, chunked"
        b"\r\n\r\n" + f"{len(_BODY):x}".encode() + b"\r\n" + _BODY + b"\r\n0\r\n\r\n",
        501,
        "unsupported_transfer_coding",
    ),
    # `curl --http2` on http://: the parser hands the body to an upgrade never made.
    "an h2c upgrade with a body": (
        b"POST /v1/check HTTP/1.1\r\nHost: x\r\n" + _AUTH + b"Connection: Upgrade, HTTP2-Settings"
        b"\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"
        b"Content-Length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY,
        400,
        "bad_request",
    ),
    # The websockets library answered handshakes itself, in plain text.
    "a WebSocket handshake": (
        b"GET /v1/check HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: x\r\n\r\n",
        405,
        "method_not_allowed",
    ),
}


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(data)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        return answer


def answer(port: int, data: bytes) -> tuple[bytes, bytes]:
    """The head and body of the one response to `data`, read by its Content-Length (the
    connection may stay open)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            received += connection.recv(65536)
        head, _, body = received.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += connection.recv(65536)
        return head, body


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
        for what, (data, status, code) in REFUSED_REQUESTS.items():
            head, body = answer(server.port, data)
            assert head.startswith(f"HTTP/1.1 {status} ".encode()), (what, head)
            assert b"content-type: application/json" in head.lower(), what
            assert json.loads(body)["code"] == code, (what, body)
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
    finally:
        server.kill()
    assert "Traceback" not in server.log()


# ---- timestamps in queries: the body's grammar -------------------------------------------------

# As a client library sends them: a '+' percent-encoded (a bare one is the next test's hint).
QUERY_REFUSED = [value for value in TIMESTAMP_REFUSED if isinstance(value, str) and value]


@pytest.mark.parametrize("value", QUERY_REFUSED)
def test_a_query_timestamp_is_refused_where_a_body_timestamp_is(
    client: TestClient, value: str
) -> None:
    """`since`, `until` and `as_of` read pydantic's lax forms: a 7th fraction digit was cut off,
    `_` passed as the separator. One reader, the wire contract's, for bodies and queries."""
    for name in ("since", "until"):
        response = client.get("/v1/decisions", params={name: value}, headers=auth("auditor"))
        assert response.status_code == 422, (name, value)
        assert fields_of(response.json()) == [name]
    response = client.post(
        "/v1/check", params={"as_of": value}, json=VALID, headers=auth("auditor")
    )
    assert response.status_code == 422, value
    assert fields_of(response.json()) == ["as_of"]


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-03T00:00:00.000000999Z",  # was cut to the microsecond
        "2026-12-01_00:00:00Z",  # was read as a separator
        "2026-11-27T21:40:00+00:99",
        "2026-11-27T21:40:00+01:60",
    ],
)
def test_query_timestamps_refused_by_the_body_grammar(client: TestClient, value: str) -> None:
    response = client.get("/v1/decisions", params={"since": value}, headers=auth("auditor"))
    assert response.status_code == 422
    assert fields_of(response.json()) == ["since"]


@pytest.mark.parametrize("value", TIMESTAMP_ACCEPTED)
def test_a_query_timestamp_is_accepted_where_a_body_timestamp_is(
    client: TestClient, value: str
) -> None:
    response = client.get("/v1/decisions", params={"since": value}, headers=auth("auditor"))
    assert response.status_code == 200, response.text


# ---- error lists are bounded --------------------------------------------------------------------


def test_thousands_of_unknown_keys_get_one_bounded_answer(client: TestClient) -> None:
    """90,000 unknown keys in a 1 MB body took 2-4 s on the event loop and a 7 MB answer. A
    long body with more keys and items than any valid request is refused before validation;
    a shorter one lists 100 errors and counts the rest."""
    many = {**VALID, **{f"k{i}": 1 for i in range(20_000)}}
    response = post(client, "/v1/check", json.dumps(many))
    assert response.status_code == 422
    assert response.json()["fields"] == [{"field": "request", "message": TOO_MANY_MEMBERS}]
    batch = post(client, "/v1/check/batch", json.dumps({"requests": [VALID, many]}))
    first, second = batch.json()["decisions"]
    assert "decision" in first
    assert second["error"]["fields"] == [{"field": "request", "message": TOO_MANY_MEMBERS}]
    route = post(client, "/v1/route", json.dumps({"channel": "twitter", **many}))
    assert route.json()["fields"] == [{"field": "request", "message": TOO_MANY_MEMBERS}]
    # Under the length that is counted: every error found, 100 listed.
    some = {**VALID, **{f"k{i}": 1 for i in range(3_000)}}
    assert len(json.dumps(some)) < LARGE_BODY
    fields = post(client, "/v1/check", json.dumps(some)).json()["fields"]
    assert len(fields) == MAX_LISTED_ERRORS + 1
    assert fields[-1] == {"field": "request", "message": "and 2,900 more errors, not listed"}


def test_the_largest_valid_request_is_not_refused_as_too_many(client: TestClient) -> None:
    """Every list at its limit (docs/limits.md): far below MAX_MEMBERS keys and items."""
    groups = [f"g{i}" for i in range(100)]
    largest = {
        **VALID,
        "actor": {"id": "carol", "groups": groups},
        "content": {"labels": [f"l{i}" for i in range(100)], "text": "x" * 100_000},
        "context": {f"c{i}": i for i in range(100)},
        "approvals": [{"by": f"p{i}", "groups": groups} for i in range(50)],
    }
    largest["post"] = {**VALID["post"], "labels": [f"m{i}" for i in range(100)]}
    text = json.dumps(largest)
    assert len(text) > LARGE_BODY
    assert post(client, "/v1/check", text).status_code == 200


# ---- a query parameter's name is escaped -------------------------------------------------------


def test_an_unknown_query_parameter_is_named_escaped(client: TestClient) -> None:
    response = client.get("/v1/decisions?a%0Ab%1B=1", headers=auth("auditor"))
    assert response.status_code == 422
    assert fields_of(response.json()) == ["a\\u000ab\\u001b"]


def test_a_second_content_encoding_header_is_read_too(client: TestClient) -> None:
    """Only the first was read: `identity` then `gzip` decided a body labelled compressed."""
    headers = [
        ("Authorization", auth("auditor")["Authorization"]),
        ("Content-Type", "application/json"),
        ("Content-Encoding", "identity"),
        ("Content-Encoding", "gzip"),
    ]
    response = client.post("/v1/check", content=json.dumps(VALID).encode(), headers=headers)
    assert response.status_code == 415
    assert response.json()["location"] == "Content-Encoding"
    assert "identity, gzip" in response.json()["message"]
