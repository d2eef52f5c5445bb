"""Valid requests near 0001-01-01 and 9999-12-31, and values JSON has no word for, get a clear
answer on every path that asks who is on duty or when a reply is due: a decision, or a 422 that
names the field, never a 500 (the check and route APIs, the CLI, the review pages)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_api import POLICIES, REQUEST, auth, make_settings
from test_review_page import app_for, sign_in

from replygate.api.app import create_app
from replygate.cli.main import main
from replygate.engine.models import DUTY_MESSAGE

# A roster in the zone furthest ahead of UTC, asked about by a rule: the roster's weeks around
# an instant late on 9999-12-31 UTC would lie in year 10000 locally.
EDGE_POLICY = """\
unit care "Care"
role agent in care
person alice is agent
channel twitter

roster r1 {
    members alice
    zone "Pacific/Kiritimati"
    open mon-sun 07:00-23:00
}

rule on-duty {
    allow
    on reply
    by agent
    when actor on duty in r1
}
"""

POST = {
    "id": "t-1",
    "sentiment": "negative",
    "category": "complaint",
    "author_reach": 25000,
    "received_at": "2026-11-27T21:40:00+01:00",
}
ROUTE = {"channel": "twitter", "post": POST, "at": "2026-11-27T21:50:00+01:00"}
REQUEST_ACTOR = {"actor": {"id": "carol"}, "action": "reply"}


def at_time(body: dict[str, Any], at: str, received_at: str | None = None) -> dict[str, Any]:
    post = {**body["post"], "received_at": received_at or at}
    return {**body, "post": post, "at": at}


@pytest.fixture
def edge_policy(tmp_path: Path) -> Path:
    folder = tmp_path / "edge"
    folder.mkdir()
    (folder / "edge.policy").write_text(EDGE_POLICY, encoding="utf-8")
    return folder


@pytest.fixture
def api(tmp_path: Path, edge_policy: Path) -> Iterator[tuple[TestClient, TestClient]]:
    """The bundled policy's API, and the edge policy's."""
    bundled = create_app(make_settings(tmp_path / "bundled"))
    edge = create_app(make_settings(tmp_path / "edge-api", policy=str(edge_policy)))
    with TestClient(bundled) as one, TestClient(edge) as other:
        yield one, other


def named(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    return [item["field"] for item in response.json()["fields"]]


@pytest.mark.parametrize(
    ("at", "received_at", "field"),
    [
        ("9999-12-01T00:00:00Z", None, "at"),  # rosters' weeks past the end
        ("9999-12-31T23:59:59.999999Z", "2026-11-27T21:40:00+01:00", "at"),  # an old post
        ("0001-01-01T00:00:00Z", None, "at"),  # rosters' weeks before the start
        ("0001-01-07T12:00:00+01:00", None, "at"),
        # A question's deadline (4 h of office time) would fall after 9999-12-31.
        ("2026-11-27T21:50:00+01:00", "9999-12-31T23:00:00Z", "post.received_at"),
    ],
)
def test_a_route_near_the_ends_of_time_names_the_field(
    api: tuple[TestClient, TestClient], at: str, received_at: str | None, field: str
) -> None:
    bundled, _ = api
    body = at_time(ROUTE, at, received_at)
    body["post"]["category"] = "question"
    response = bundled.post("/v1/route", json=body, headers=auth("checker"))
    assert named(response) == [field]
    # A check of the same post by an agent names the same field where it is the deadline's.
    if field == "post.received_at":
        check = bundled.post("/v1/check", json={**body, **REQUEST_ACTOR}, headers=auth("checker"))
        assert named(check) == [field]
    if field == "at":
        assert response.json()["fields"][0]["message"] == DUTY_MESSAGE
    # The connection and the server carry on: the same post at an ordinary time is routed.
    fine = bundled.post("/v1/route", json=ROUTE, headers=auth("checker"))
    assert fine.status_code == 200
    assert fine.json()["candidates"]


def test_a_route_with_a_lone_surrogate_names_its_field_as_a_check_does(
    api: tuple[TestClient, TestClient],
) -> None:
    bundled, _ = api
    text = json.dumps(ROUTE).replace('"t-1"', '"\\ud800"')
    for path, body in (
        ("/v1/route", text),
        ("/v1/check", json.dumps({**json.loads(text), **REQUEST_ACTOR})),
    ):
        response = bundled.post(
            path,
            content=body.encode(),
            headers={**auth("checker"), "Content-Type": "application/json"},
        )
        assert named(response) == ["post.id"], path


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
def test_numbers_json_cannot_hold_are_refused_naming_the_field(
    api: tuple[TestClient, TestClient], number: str
) -> None:
    bundled, _ = api
    body = json.dumps({**REQUEST, "context": {"ratio": 0}}).replace(
        '"ratio": 0', f'"ratio": {number}'
    )
    for path, text in (
        ("/v1/check", body),
        ("/v1/check/batch", '{"requests": [' + body + "]}"),
    ):
        response = bundled.post(
            path,
            content=text.encode(),
            headers={**auth("checker"), "Content-Type": "application/json"},
        )
        if path == "/v1/check":
            assert named(response) == ["context.ratio"]
        else:
            assert response.status_code == 200
            assert response.json()["decisions"][0]["error"]["fields"][0]["field"] == (
                "context.ratio"
            )
    finite = body.replace(f'"ratio": {number}', '"ratio": 1e300')
    headers = {**auth("checker"), "Content-Type": "application/json"}
    assert bundled.post("/v1/check", content=finite.encode(), headers=headers).status_code == 200


@pytest.mark.parametrize(
    "at", ["9999-12-31T00:00:00Z", "9999-12-31T23:59:59Z", "0001-01-02T00:00:00+01:00"]
)
def test_a_check_that_asks_who_is_on_duty_near_the_ends_names_at(
    api: tuple[TestClient, TestClient], edge_policy: Path, tmp_path: Path, at: str
) -> None:
    _, edge = api
    body = at_time({**REQUEST, "actor": {"id": "alice"}}, at)
    response = edge.post("/v1/check", json=body, headers=auth("checker"))
    assert named(response) == ["at"]
    assert response.json()["fields"][0]["message"] == DUTY_MESSAGE
    # The same from the CLI: exit 2, the field and the reason, no traceback.
    request = tmp_path / "request.json"
    request.write_text(json.dumps(body), encoding="utf-8")
    assert main(["check", "--policy", str(edge_policy), "--request", str(request)]) == 2
    # On an ordinary day the rule is decided: alice is on duty at 10:00 in Kiritimati.
    ordinary = at_time(body, "2026-12-01T10:00:00+14:00")
    decided = edge.post("/v1/check", json=ordinary, headers=auth("checker"))
    assert decided.status_code == 200
    assert decided.json()["decision"] == "allow"


def test_the_cli_routes_near_the_ends_of_time_with_the_field_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request = tmp_path / "route.json"
    request.write_text(json.dumps(at_time(ROUTE, "9999-12-01T00:00:00Z")), encoding="utf-8")
    assert main(["route", "--policy", str(POLICIES), "--request", str(request)]) == 2
    assert capsys.readouterr().err.strip() == f"at: {DUTY_MESSAGE}"


@pytest.fixture
def reviewer(tmp_path: Path) -> Iterator[TestClient]:
    with app_for(tmp_path) as client:
        assert sign_in(client).status_code == 303
        yield client


@pytest.mark.parametrize(
    "address",
    [
        "/team?at=0001-01-01T00:00:00%2B01:00",
        "/team?at=9999-12-31T23:00:00-01:00",
        "/time?week=0001-01-01",
        "/time?week=9999-12-31",
        "/time?week=9999-12-27",
    ],
)
def test_review_pages_refuse_times_rosters_cannot_show(reviewer: TestClient, address: str) -> None:
    page = reviewer.get(address)
    assert page.status_code == 422
    assert "Traceback" not in page.text


@pytest.mark.parametrize(
    ("request_text", "shown"),
    [
        ('{"actor": "x"}', "actor"),
        ('{"actor": [1], "post": "x"}', "actor"),
        ('{"actor": {"id": "x", "groups": 5}}', "actor.groups"),
        ('{"actor": {"id": "\\ud800"}}', "lone surrogate"),
        ("[" * 1000 + "]" * 1000, "request"),
        ('{"post": {"author_reach": ' + "9" * 5000 + "}}", "is an integer of 5,000 digits"),
    ],
)
def test_the_playground_shows_errors_for_any_json(
    reviewer: TestClient, request_text: str, shown: str
) -> None:
    page = reviewer.get("/playground", params={"mode": "json", "json": request_text})
    assert page.status_code == 200
    assert shown in page.text


def test_the_playground_names_the_field_at_the_ends_of_time(reviewer: TestClient) -> None:
    form = {"mode": "form", "actor": "carol", "channel": "twitter", "reach": "9" * 5000}
    page = reviewer.get("/playground", params={**form, "at": "2026-11-27T21:50:00+01:00"})
    assert page.status_code == 200
    assert "author_reach" in page.text
    late = {**form, "reach": "10", "at": "9999-12-31T23:59:59+00:00"}
    page = reviewer.get("/playground", params={**late, "received_at": "2026-11-27T21:40:00Z"})
    assert page.status_code == 200
    assert "who is on duty can be computed between" in page.text
    # The decision itself is shown: only who can answer cannot be said then.
    assert 'data-decision="allow"' in page.text


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("0001-01-01T00:00:00Z", "0001-01-08T00:00:00Z"),
        ("9999-12-01T00:00:00Z", "9999-12-08T00:00:00Z"),
        ("9999-12-30T00:00:00Z", "9999-12-31T23:00:00Z"),
    ],
)
def test_coverage_near_the_ends_of_time_says_which_window_it_computes(
    capsys: pytest.CaptureFixture[str], start: str, end: str
) -> None:
    args = ["coverage", "--policy", str(POLICIES), "--from", start, "--until", end]
    assert main(args) == 2
    assert "--from … --until must lie between 0001-01-15 and 9999-10-18" in capsys.readouterr().err
    # Inside the window, a week in year 1 is computed.
    assert (
        main([*args[:3], "--from", "0001-01-20T00:00:00Z", "--until", "0001-01-27T00:00:00Z"]) == 0
    )


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ("9999-11-01T00:00:00Z", "--coverage-from must lie between 0001-01-15 and 9999-10-18"),
        ("0001-01-01T00:00:00+01:00", "--coverage-from must lie between 0001-01-15"),
        ("garbage", "--coverage-from: 'garbage' is not a timestamp"),
        # Read as +01:39 before the one reader: another instant.
        ("2026-11-30T00:00:00+00:99", "'2026-11-30T00:00:00+00:99' is not a timestamp"),
        ("2026-11-30T00:00:00.0000001Z", "finer than a microsecond"),
        ("2026-11-30T00:00:00", "--coverage-from: timestamp needs a time-zone offset"),
    ],
)
def test_diff_coverage_near_the_ends_of_time_says_why(
    capsys: pytest.CaptureFixture[str], start: str, message: str
) -> None:
    args = ["diff", str(POLICIES), str(POLICIES), "--coverage-from", start]
    assert main(args) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("value", ['"true"', "1", '"yes"', "0", '""'])
def test_a_flag_the_policy_tests_must_be_true_or_false(
    api: tuple[TestClient, TestClient],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    value: str,
) -> None:
    # `when context.crisis` (policies/safety.policy) holds for JSON true only: "true" from a
    # careless tool would silently switch the crisis deny off. It is refused, naming the field.
    bundled, _ = api
    body = json.dumps({**REQUEST, "context": {"crisis": False}}).replace(
        '"crisis": false', f'"crisis": {value}'
    )
    headers = {**auth("checker"), "Content-Type": "application/json"}
    refused = bundled.post("/v1/check", content=body.encode(), headers=headers)
    assert named(refused) == ["context.crisis"]
    assert "it must be true or false" in refused.json()["fields"][0]["message"]
    request = tmp_path / "request.json"
    request.write_text(body, encoding="utf-8")
    assert main(["check", "--policy", str(POLICIES), "--request", str(request)]) == 2
    assert "context.crisis: the policy tests this flag" in capsys.readouterr().err
    for flag in ("true", "false", "null"):
        fine = body.replace(f'"crisis": {value}', f'"crisis": {flag}')
        assert bundled.post("/v1/check", content=fine.encode(), headers=headers).status_code == 200
    routed = json.loads(body)
    for key in ("actor", "action", "approvals"):
        routed.pop(key, None)
    assert named(bundled.post("/v1/route", json=routed, headers=auth("checker"))) == [
        "context.crisis"
    ]
    # A context key no rule tests as a flag may hold any value.
    other = json.dumps({**REQUEST, "context": {"campaign": "spring"}})
    assert bundled.post("/v1/check", content=other.encode(), headers=headers).status_code == 200


# ---- found by probing the API (2026-12-02) ---------------------------------------------------


@pytest.mark.parametrize(
    "window",
    [
        'period p { zone "Europe/Vienna" from 0001-01-01 00:00 until 0001-01-02 00:00 }',
        'period p { zone "America/New_York" from 9999-12-31 20:00 until 9999-12-31 23:59 }',
        'roster r2 { members alice zone "America/New_York" open mon-sun 00:00-24:00\n'
        "    override alice from 9999-12-31 20:00 until 9999-12-31 23:59 }",
    ],
    ids=["period-before-year-1", "period-after-9999", "override-after-9999"],
)
def test_a_window_outside_utc_is_a_lint_error_not_a_traceback(
    tmp_path: Path, window: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "windows"
    folder.mkdir()
    (folder / "p.policy").write_text(EDGE_POLICY + window + "\n", encoding="utf-8")
    assert main(["lint", str(folder)]) == 1
    assert "[window-out-of-range]" in capsys.readouterr().out
    request = tmp_path / "request.json"
    request.write_text(json.dumps({**REQUEST, "actor": {"id": "alice"}}), encoding="utf-8")
    assert main(["check", "--policy", str(folder), "--request", str(request)]) == 2
    err = capsys.readouterr().err
    assert "p.policy:" in err and "Traceback" not in err


def test_calendars_answer_on_the_first_and_last_days(tmp_path: Path) -> None:
    """`now in office` held nowhere on 0001-01-01/02 and 9999-12-30/31: a deny did not fire."""
    folder = tmp_path / "quiet"
    folder.mkdir()
    (folder / "p.policy").write_text(
        EDGE_POLICY.replace("when actor on duty in r1", "")
        + 'calendar office { zone "Europe/Vienna" open mon-fri 08:00-18:00 }\n'
        + "rule quiet { deny on reply by agent when now in office }\n",
        encoding="utf-8",
    )
    with TestClient(create_app(make_settings(tmp_path / "q", policy=str(folder)))) as client:
        for at, outcome in [
            ("0001-01-01T11:00:00Z", "deny"),
            ("0001-01-02T11:00:00Z", "deny"),
            ("0001-01-06T11:00:00Z", "allow"),  # a Saturday
            ("9999-12-30T11:00:00Z", "deny"),
            ("9999-12-31T11:00:00Z", "deny"),
            ("9999-12-31T20:00:00Z", "allow"),  # after 18:00 in Vienna
        ]:
            body = at_time({**REQUEST, "actor": {"id": "alice"}}, at)
            answer = client.post("/v1/check", json=body, headers=auth("checker"))
            assert answer.status_code == 200, answer.text
            assert answer.json()["decision"] == outcome, at


@pytest.mark.parametrize("path", ["/v1/check", "/v1/route"])
def test_a_deadline_does_not_depend_on_how_the_offset_is_written(
    api: tuple[TestClient, TestClient], path: str
) -> None:
    """The same instant, 9999-12-30T23:31Z, written with two offsets: one answer."""
    bundled, _ = api
    answers = []
    for received_at in ("9999-12-30T23:31:00Z", "9999-12-31T23:30:00+23:59"):
        body = at_time(REQUEST if path == "/v1/check" else ROUTE, "9999-11-01T00:00:00Z")
        body["post"] = {**body["post"], "received_at": received_at}
        answer = bundled.post(path, json=body, headers=auth("checker"))
        assert answer.status_code == 200, answer.text
        answers.append(answer.json()["respond_by"])
    assert answers == ["9999-12-31T00:01:00Z"] * 2


BIG = "9" * 4301


def test_an_integer_too_long_to_read_names_its_field(
    api: tuple[TestClient, TestClient], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a 400 "not valid JSON" for the whole body, nor for the whole batch."""
    bundled, _ = api
    good = json.dumps(REQUEST)
    long_reach = good.replace('"author_reach": 25000', f'"author_reach": {BIG}')
    assert long_reach != good
    message = "is an integer of 4,301 digits; at most 4,300 are read"
    answer = bundled.post("/v1/check", content=long_reach, headers=auth("checker"))
    assert named(answer) == ["post.author_reach"]
    assert answer.json()["fields"][0]["message"] == message
    context = good[:-1] + f', "context": {{"x": -{BIG}}}}}'
    assert named(bundled.post("/v1/check", content=context, headers=auth("checker"))) == [
        "context.x"
    ]
    batch = '{"requests": [' + good + "," + long_reach + "]}"
    answer = bundled.post("/v1/check/batch", content=batch, headers=auth("checker"))
    assert answer.status_code == 200, answer.text
    first, second = answer.json()["decisions"]
    assert first["decision"] == "approval_required"
    assert second["error"]["fields"] == [{"field": "post.author_reach", "message": message}]
    route = json.dumps(ROUTE).replace('"author_reach": 25000', f'"author_reach": {BIG}')
    assert named(bundled.post("/v1/route", content=route, headers=auth("checker"))) == [
        "post.author_reach"
    ]
    request = tmp_path / "long.json"
    request.write_text(long_reach, encoding="utf-8")
    assert main(["check", "--policy", str(POLICIES), "--request", str(request)]) == 2
    assert capsys.readouterr().err.strip() == f"post.author_reach: {message}"


@pytest.mark.parametrize("account", ["@acme\u0000_help", "@acme\u202e_help", "a" * 257])
def test_a_route_account_follows_the_name_rules(
    api: tuple[TestClient, TestClient], account: str
) -> None:
    bundled, _ = api
    body = {**ROUTE, "account": account.encode().decode("unicode_escape")}
    assert named(bundled.post("/v1/route", json=body, headers=auth("checker"))) == ["account"]


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("/decisions?since=0001-01-01T00:30:00%2B01:00", "since: "),
        ("/decisions?until=9999-12-31T23:30:00-01:00", "until: "),
        ("/decisions?since=2026-W48-1T00:00:00Z", "since: is not a timestamp"),
        ("/decisions?until=20261127T215000Z", "until: is not a timestamp"),
        ("/team?at=2026-11-27T21:50:00%2B01:00:30", "&#39;at&#39;: is not a timestamp"),
        ("/team?at=2026-11-27%C3%A921:50:00Z", "&#39;at&#39;: is not a timestamp"),
        ("/team?roles=1.0", "roles"),
        ("/team?people=1_0", "people"),
    ],
)
def test_review_pages_read_times_and_counts_as_the_api_does(
    reviewer: TestClient, address: str, shown: str
) -> None:
    page = reviewer.get(address)
    assert page.status_code == 422, page.text[:300]
    assert shown in page.text
    assert "could not be read" not in page.text


def test_review_pages_accept_what_the_api_accepts(reviewer: TestClient) -> None:
    assert reviewer.get("/team?at=2026-11-27t21:50:00z").status_code == 200
    assert reviewer.get("/team?at=2026-11-27T21:50:00+01:00").status_code == 200  # `+` as space
    assert reviewer.get("/decisions?since=2026-11-27T00:00:00%2B01:00").status_code == 200


@pytest.mark.parametrize("limit", ["1.0", "1_0", "+1", " 1", "1e2"])
def test_a_query_count_is_digits_only(tmp_path: Path, limit: str) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        answer = client.get("/v1/decisions", params={"limit": limit}, headers=auth("auditor"))
        assert named(answer) == ["limit"]
        assert client.get("/v1/decisions?limit=10", headers=auth("auditor")).status_code == 200
