"""The decision API in-process (TestClient): every endpoint and every error a client can meet."""

from __future__ import annotations

import codecs
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from gitrepo import commit_policies, make_repo

from replygate.api.app import create_app
from replygate.api.auth import inline_keys
from replygate.api.settings import Settings
from replygate.decision_log import LogClosed, LogFailed, LogFull
from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.models import CheckRequest

ROOT = Path(__file__).absolute().parent.parent
POLICIES = ROOT / "policies"

KEYS = {
    "checker": ("rg_test_checker", ["check"]),
    "auditor": ("rg_test_auditor", ["check", "audit"]),
    "admin": ("rg_test_admin", ["admin"]),
}

REQUEST: dict[str, Any] = {
    "actor": {"id": "carol"},
    "action": "reply",
    "channel": "twitter",
    "post": {
        "id": "t-1",
        "sentiment": "negative",
        "category": "complaint",
        "author_reach": 25000,
        "received_at": "2026-11-27T21:40:00+01:00",
    },
    "content": {"labels": [], "text": "We are sorry - we will call you today."},
    "at": "2026-11-27T21:50:00+01:00",
}


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name][0]}"}


def api_keys() -> str:
    return inline_keys((client, key, scopes) for client, (key, scopes) in KEYS.items())


def make_settings(tmp_path: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "policy": str(POLICIES),
        "decision_log": f"sqlite:///{tmp_path / 'decisions.db'}",
        "api_keys": api_keys(),
        "max_body_bytes": 64 * 1024,
        "batch_limit": 5,
    }
    values.update(changes)
    return Settings(**values)


def with_changes(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    merged: dict[str, Any] = json.loads(json.dumps(base))
    for dotted, value in changes.items():
        target = merged
        *path, last = dotted.split("__")
        for part in path:
            target = target[part]
        target[last] = value
    return merged


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path))) as test_client:
        yield test_client


def _without_folders(decision: dict[str, Any]) -> dict[str, Any]:
    # The fixture and the app may name the same folder differently (relative, symlinked).
    text = json.dumps(decision)
    for name in decision["policy"]["files"]:
        text = text.replace(name, Path(name).name)
    found: dict[str, Any] = json.loads(text)
    return found


def flush(client: TestClient) -> None:
    client.app.state.service.log.flush(10.0)  # type: ignore[attr-defined]


# ---- POST /v1/check -----------------------------------------------------------------------------


def test_check_answers_the_engines_decision_with_an_id(
    client: TestClient, example_policy: CompiledPolicy
) -> None:
    response = client.post("/v1/check", json=REQUEST, headers=auth("checker"))
    assert response.status_code == 200
    body = response.json()
    decision_id = body.pop("decision_id")
    assert decision_id
    expected = json.loads(
        example_policy.decide(CheckRequest.model_validate(REQUEST)).model_dump_json()
    )
    assert _without_folders(body) == _without_folders(expected)
    assert body["decision"] == "approval_required"
    assert body["approvers"] == ["comms_lead"]


def test_every_check_is_logged_with_client_and_redacted_text(client: TestClient) -> None:
    answered = client.post("/v1/check", json=REQUEST, headers=auth("auditor")).json()
    flush(client)
    entry = client.get(f"/v1/decisions/{answered['decision_id']}", headers=auth("auditor"))
    assert entry.status_code == 200
    logged = entry.json()
    assert logged["id"] == answered["decision_id"]
    assert logged["client"] == "auditor"
    assert logged["decision"]["decision"] == "approval_required"
    assert logged["request"]["actor"]["id"] == "carol"
    # content.text is hashed by default: the words never reach the log.
    assert REQUEST["content"]["text"] not in json.dumps(logged)
    assert logged["request"]["content"]["text"]


def test_a_naive_timestamp_is_a_422_naming_the_field(client: TestClient) -> None:
    bad = with_changes(REQUEST, post__received_at="2026-11-27T21:40:00")
    response = client.post("/v1/check", json=bad, headers=auth("checker"))
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_request"
    assert body["message"] == "post.received_at: timestamp needs a time-zone offset"
    assert body["location"] == "post.received_at"
    assert body["fields"] == [
        {"field": "post.received_at", "message": "timestamp needs a time-zone offset"}
    ]


def test_every_bad_field_is_named(client: TestClient) -> None:
    bad = with_changes(REQUEST, action="shout", post__author_reach=-1)
    del bad["actor"]
    response = client.post("/v1/check", json=bad, headers=auth("checker"))
    assert response.status_code == 422
    named = {item["field"] for item in response.json()["fields"]}
    assert named == {"actor", "action", "post.author_reach"}


def test_malformed_json_is_a_400_that_says_so(client: TestClient) -> None:
    response = client.post(
        "/v1/check", content=b'{"actor": {"id": "carol"', headers=auth("checker")
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "malformed_json"
    assert body["message"].startswith("the request body is not valid JSON")


def test_a_body_over_the_limit_is_refused_by_its_declared_length(client: TestClient) -> None:
    big = with_changes(REQUEST, content__text="x" * 70_000)
    response = client.post("/v1/check", json=big, headers=auth("checker"))
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


def test_a_chunked_body_is_cut_off_at_the_limit(client: TestClient) -> None:
    sent = []

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            sent.append(1)
            yield b" " * 4096

    response = client.post("/v1/check", content=chunks(), headers=auth("checker"))
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


@pytest.mark.parametrize(
    ("refusal", "code"),
    [
        (LogFull, "decision_log_full"),
        (LogClosed, "shutting_down"),
        (LogFailed, "decision_log_unavailable"),
    ],
)
def test_a_check_the_log_cannot_take_fails_closed(
    tmp_path: Path, refusal: type[Exception], code: str
) -> None:
    class RefusingLog:
        queue_depth = 0
        stats: dict[str, int] = {"rejected_full": 1}

        async def log(self, record: object) -> None:
            raise refusal("no room")

        def close(self, timeout: float | None = None) -> None:
            pass

    app = create_app(make_settings(tmp_path), open_log=lambda _settings: RefusingLog())  # type: ignore[arg-type,return-value]
    with TestClient(app) as client:
        response = client.post("/v1/check", json=REQUEST, headers=auth("checker"))
        batch = client.post(
            "/v1/check/batch", json={"requests": [REQUEST]}, headers=auth("checker")
        )
        metrics = client.get("/metrics").text
    assert response.status_code == 503
    assert response.json()["code"] == code
    assert response.headers["retry-after"] == "1"
    assert "decision" not in response.json()
    assert batch.json()["decisions"][0]["error"]["code"] == code
    assert "replygate_decision_log_rejected_full_total 1.0" in metrics


# ---- POST /v1/check/batch ----------------------------------------------------------------------


def test_a_batch_decides_in_order_and_reports_a_bad_item_in_place(client: TestClient) -> None:
    alice = with_changes(REQUEST, actor__id="alice")
    naive = with_changes(REQUEST, at="2026-11-27T21:50:00")
    outsider = with_changes(REQUEST, actor__id="mallory")
    response = client.post(
        "/v1/check/batch",
        json={"requests": [alice, naive, "not an object", outsider]},
        headers=auth("checker"),
    )
    assert response.status_code == 200
    results = response.json()["decisions"]
    assert [item.get("decision") for item in results] == ["escalate", None, None, "deny"]
    assert results[1]["error"]["code"] == "invalid_request"
    assert results[1]["error"]["fields"] == [
        {"field": "at", "message": "timestamp needs a time-zone offset"}
    ]
    assert results[2]["error"]["code"] == "invalid_request"
    assert all(item["decision_id"] for item in (results[0], results[3]))


def test_a_batch_over_the_limit_is_refused(client: TestClient) -> None:
    response = client.post(
        "/v1/check/batch", json={"requests": [REQUEST] * 6}, headers=auth("checker")
    )
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "requests"
    assert "at most 5" in response.json()["message"]


def test_a_batch_without_its_envelope_names_the_field(client: TestClient) -> None:
    response = client.post("/v1/check/batch", json=[REQUEST], headers=auth("checker"))
    assert response.status_code == 422
    assert response.json()["location"] == "request"


# ---- authentication -----------------------------------------------------------------------------


def test_no_key_is_a_401_with_a_bearer_challenge(client: TestClient) -> None:
    response = client.post("/v1/check", json=REQUEST)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == "unauthorized"


def test_an_unknown_key_is_a_401(client: TestClient) -> None:
    response = client.post("/v1/check", json=REQUEST, headers={"Authorization": "Bearer rg_wrong"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_key_without_the_scope_is_a_403(client: TestClient) -> None:
    response = client.get("/v1/decisions", headers=auth("checker"))
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert "audit" in response.json()["message"]


def test_an_audit_check_needs_the_audit_scope(client: TestClient) -> None:
    response = client.post(
        "/v1/check", params={"as_of": "2026-11-01T00:00:00Z"}, json=REQUEST, headers=auth("checker")
    )
    assert response.status_code == 403


# ---- errors for anything else ------------------------------------------------------------------


def test_an_unknown_route_is_a_404_in_the_error_shape(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert set(response.json()) == {"code", "message"}
    assert response.json()["code"] == "not_found"


def test_a_wrong_method_is_a_405_in_the_error_shape(client: TestClient) -> None:
    response = client.get("/v1/check", headers=auth("checker"))
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("path", "who"),
    [
        ("/healthz", None),
        ("/readyz", None),
        ("/metrics", None),
        ("/v1/policy", "checker"),
        ("/v1/decisions", "auditor"),
        ("/v1/decisions", None),  # refused as a GET is: 401
        ("/openapi.json", None),
        ("/", None),
        ("/v1/nothing-here", None),
    ],
)
def test_head_answers_as_get_does_without_the_body(
    client: TestClient, path: str, who: str | None
) -> None:
    """RFC 9110: a server that serves GET serves HEAD. Monitors and proxies probe with it."""
    headers = auth(who) if who else {}
    got = client.get(path, headers=headers)
    head = client.head(path, headers=headers)
    assert head.status_code == got.status_code
    assert head.headers["content-type"] == got.headers["content-type"]
    # The body is the server's to drop (TestClient drops it anyway): test_api_server checks it.


def test_head_on_a_post_endpoint_is_a_405_that_allows_post(client: TestClient) -> None:
    response = client.head("/v1/check", headers=auth("checker"))
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_an_unexpected_failure_is_a_500_in_the_error_shape_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(make_settings(tmp_path))

    def broken() -> None:
        raise RuntimeError("disk on fire")

    app.state.service.source.status = broken
    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR):
        response = client.get("/v1/policy", headers=auth("checker"))
    assert response.status_code == 500
    assert response.json() == {
        "code": "internal_error",
        "message": "the server failed to answer; the error has been logged",
    }
    assert "disk on fire" not in response.text
    assert any("disk on fire" in record.exc_text for record in caplog.records if record.exc_text)


def test_a_bad_query_parameter_names_it(client: TestClient) -> None:
    response = client.get("/v1/decisions", params={"limit": 0}, headers=auth("auditor"))
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "limit"
    naive = client.get(
        "/v1/decisions", params={"since": "2026-11-27T10:00:00"}, headers=auth("auditor")
    )
    assert naive.status_code == 422
    assert naive.json()["message"] == "since: timestamp needs a time-zone offset"


def test_a_mistyped_filter_is_refused_not_ignored(client: TestClient) -> None:
    response = client.get("/v1/decisions", params={"actr": "carol"}, headers=auth("auditor"))
    assert response.status_code == 422
    assert response.json()["fields"] == [
        {"field": "actr", "message": "is not a parameter of this endpoint"}
    ]


# ---- the audit trail ---------------------------------------------------------------------------


def test_decisions_filter_and_paginate(client: TestClient) -> None:
    ids = []
    for actor in ("alice", "carol", "carol", "mallory"):
        answered = client.post(
            "/v1/check", json=with_changes(REQUEST, actor__id=actor), headers=auth("auditor")
        )
        ids.append(answered.json()["decision_id"])
    flush(client)

    carol = client.get("/v1/decisions", params={"actor": "carol"}, headers=auth("auditor")).json()
    assert {entry["id"] for entry in carol["decisions"]} == set(ids[1:3])

    denied = client.get("/v1/decisions", params={"outcome": "deny"}, headers=auth("auditor"))
    assert [entry["id"] for entry in denied.json()["decisions"]] == [ids[3]]

    by_rule = client.get(
        "/v1/decisions",
        params={"rule": "negative-post-goes-to-senior-agent"},
        headers=auth("auditor"),
    ).json()
    assert [entry["id"] for entry in by_rule["decisions"]] == [ids[0]]

    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/decisions", params=params, headers=auth("auditor")).json()
        seen.extend(entry["id"] for entry in page["decisions"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)

    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    later = client.get("/v1/decisions", params={"since": future}, headers=auth("auditor")).json()
    assert later["decisions"] == []


def test_an_unknown_decision_is_a_404(client: TestClient) -> None:
    response = client.get("/v1/decisions/nope", headers=auth("auditor"))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# ---- the serving policy, health and metrics ----------------------------------------------------


def test_policy_status_of_a_folder(client: TestClient) -> None:
    body = client.get("/v1/policy", headers=auth("checker")).json()
    assert body["source"] == "folder"
    assert body["state"] == "ready"
    assert body["commit"] is None
    assert any(name.endswith("care.policy") for name in body["files"])


def test_policy_rules_lists_every_rule_with_its_source(
    client: TestClient, example_policy: CompiledPolicy
) -> None:
    body = client.get("/v1/policy/rules", headers=auth("checker")).json()
    names = [rule["name"] for rule in body["rules"]]
    assert sorted(names) == sorted(rule.name for rule in example_policy.rules)
    viral = next(
        rule for rule in body["rules"] if rule["name"] == "viral-negative-needs-comms-lead"
    )
    assert viral["effect"] == "approval_required"
    assert viral["roles"] == ["comms_lead"]
    assert viral["source"]["file"].endswith("care.policy")
    assert viral["source"]["line"] > 0


def test_a_folder_has_no_history(client: TestClient) -> None:
    response = client.post(
        "/v1/check", params={"commit": "main"}, json=REQUEST, headers=auth("auditor")
    )
    assert response.status_code == 422
    assert response.json()["code"] == "history_unavailable"


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "commit": None}


def test_metrics_count_decisions_by_outcome(client: TestClient) -> None:
    client.post("/v1/check", json=REQUEST, headers=auth("checker"))
    client.post(
        "/v1/check", json=with_changes(REQUEST, actor__id="mallory"), headers=auth("checker")
    )
    flush(client)
    text = client.get("/metrics").text
    assert 'replygate_decisions_total{outcome="approval_required"} 1.0' in text
    assert 'replygate_decisions_total{outcome="deny"} 1.0' in text
    assert "replygate_check_duration_seconds_count 2.0" in text
    assert "replygate_policy_loads_total 1.0" in text
    assert "replygate_decision_log_queue_depth" in text
    assert "replygate_decision_log_written_total 2.0" in text


def test_closed_health_and_metrics_need_a_key(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, open_health=False, open_metrics=False)
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 401
        assert client.get("/metrics").status_code == 401
        assert client.get("/readyz", headers=auth("checker")).status_code == 200
        assert client.get("/metrics", headers=auth("admin")).status_code == 200


def test_the_openapi_document_describes_the_check_body(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    body = document["paths"]["/v1/check"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/CheckRequest"}
    assert body["example"]["actor"]["id"] == "carol"
    assert "Post" in document["components"]["schemas"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


# ---- a followed git repository: history, status, readiness --------------------------------------


def bundled_sources() -> dict[str, str]:
    return {
        f"policies/{path.name}": path.read_text(encoding="utf-8")
        for path in sorted(POLICIES.glob("*.policy"))
    }


def lowered_threshold() -> dict[str, str]:
    files = bundled_sources()
    care = files["policies/care.policy"]
    assert "post.author_reach >= 10000" in care
    files["policies/care.policy"] = care.replace(
        "post.author_reach >= 10000", "post.author_reach >= 5000"
    )
    return files


V1_DATE = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
V2_DATE = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
MID_REACH = with_changes(REQUEST, post__author_reach=7000)


@pytest.fixture
def history(tmp_path: Path) -> dict[str, Any]:
    repo = make_repo(tmp_path)
    v1 = commit_policies(repo, bundled_sources(), "Bundled policy", date=V1_DATE)
    v2 = commit_policies(
        repo,
        lowered_threshold(),
        "Comms lead approves from 5000 followers",
        author=("Erin", "erin@example.com"),
        date=V2_DATE,
    )
    return {"repo": repo, "path": str(repo.working_tree_dir), "v1": v1, "v2": v2}


@pytest.fixture
def repo_client(tmp_path: Path, history: dict[str, Any]) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, policy=None, repo=history["path"], ref="main", poll=60.0)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_decisions_name_the_commit_and_the_rules_author(
    repo_client: TestClient, history: dict[str, Any]
) -> None:
    body = repo_client.post("/v1/check", json=MID_REACH, headers=auth("checker")).json()
    assert body["decision"] == "approval_required"
    assert body["policy"]["commit"] == history["v2"]
    assert body["policy"]["ref"] == "main"
    assert body["reasons"][0]["source"]["commit"] == history["v2"]
    assert body["reasons"][0]["source"]["author"] == "Erin"


def test_an_audit_check_against_an_earlier_commit(
    repo_client: TestClient, history: dict[str, Any]
) -> None:
    then = repo_client.post(
        "/v1/check", params={"commit": history["v1"]}, json=MID_REACH, headers=auth("auditor")
    )
    assert then.status_code == 200
    assert then.json()["decision"] == "allow"
    assert then.json()["policy"]["commit"] == history["v1"]


def test_an_audit_check_as_of_a_time(repo_client: TestClient, history: dict[str, Any]) -> None:
    between = (V1_DATE + timedelta(days=3)).isoformat()
    then = repo_client.post(
        "/v1/check/batch",
        params={"as_of": between},
        json={"requests": [MID_REACH]},
        headers=auth("auditor"),
    )
    assert then.status_code == 200
    (decision,) = then.json()["decisions"]
    assert decision["policy"]["commit"] == history["v1"]
    assert decision["decision"] == "allow"
    before = repo_client.post(
        "/v1/check",
        params={"as_of": "2020-01-01T00:00:00Z"},
        json=MID_REACH,
        headers=auth("auditor"),
    )
    assert before.status_code == 422
    assert before.json()["code"] == "unknown_revision"
    assert before.json()["location"] == "as_of"


def test_commit_and_as_of_together_name_both_fields(
    repo_client: TestClient, history: dict[str, Any]
) -> None:
    answer = repo_client.post(
        "/v1/check",
        params={"commit": history["v1"], "as_of": "2026-11-01T00:00:00Z"},
        json=MID_REACH,
        headers=auth("auditor"),
    )
    assert answer.status_code == 422
    assert [item["field"] for item in answer.json()["fields"]] == ["commit", "as_of"]


@pytest.mark.parametrize(
    ("commit", "code"),
    [
        ("-rf", "invalid_revision"),
        ("a..b", "invalid_revision"),
        ("nosuchbranch", "unknown_revision"),
    ],
)
def test_a_bad_commit_is_a_422(repo_client: TestClient, commit: str, code: str) -> None:
    response = repo_client.post(
        "/v1/check", params={"commit": commit}, json=REQUEST, headers=auth("auditor")
    )
    assert response.status_code == 422
    assert response.json()["code"] == code
    assert response.json()["location"] == "commit"


def test_policy_status_and_rules_from_a_repository(
    repo_client: TestClient, history: dict[str, Any]
) -> None:
    status = repo_client.get("/v1/policy", headers=auth("checker")).json()
    assert status["source"] == "repo"
    assert (status["ref"], status["commit"], status["state"]) == ("main", history["v2"], "ready")
    assert status["loaded_at"] is not None
    assert status["last_error"] is None
    rules = repo_client.get("/v1/policy/rules", headers=auth("checker")).json()
    assert rules["commit"] == history["v2"]
    authors = {rule["name"]: rule["source"]["author"] for rule in rules["rules"]}
    assert authors["viral-negative-needs-comms-lead"] == "Erin"
    assert authors["agents-reply-to-positive-and-neutral"] == "Ada"


def test_a_broken_commit_is_reported_and_the_last_good_one_serves(
    repo_client: TestClient, history: dict[str, Any]
) -> None:
    files = lowered_threshold()
    files["policies/care.policy"] += "\nrule broken {\n"
    bad = commit_policies(history["repo"], files, "Half a rule")
    refreshed = repo_client.post("/v1/policy/refresh", headers=auth("admin"))
    assert refreshed.status_code == 200
    status = refreshed.json()
    assert status["state"] == "degraded"
    assert status["commit"] == history["v2"]
    assert status["last_error_commit"] == bad
    location = status["last_error"][0]["location"]
    assert location["file"] == "policies/care.policy"
    assert location["line"] > 60
    still = repo_client.post("/v1/check", json=MID_REACH, headers=auth("checker")).json()
    assert still["policy"]["commit"] == history["v2"]
    assert repo_client.post("/v1/policy/refresh", headers=auth("checker")).status_code == 403


def test_not_ready_until_a_policy_loads(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    files = bundled_sources()
    files["policies/care.policy"] += "\nrule broken {\n"
    commit_policies(repo, files, "Broken from the start")
    settings = make_settings(tmp_path, policy=None, repo=str(repo.working_tree_dir), poll=60.0)
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["code"] == "not_ready"
        check = client.post("/v1/check", json=REQUEST, headers=auth("checker"))
        assert check.status_code == 503
        status = client.get("/v1/policy", headers=auth("checker")).json()
        assert status["state"] == "error"
        assert status["last_error"][0]["location"]["file"] == "policies/care.policy"
        assert "replygate_policy_load_failures_total 1.0" in client.get("/metrics").text

        commit_policies(repo, bundled_sources(), "Fixed")
        assert client.post("/v1/policy/refresh", headers=auth("admin")).json()["state"] == "ready"
        assert client.get("/readyz").status_code == 200
        assert client.post("/v1/check", json=REQUEST, headers=auth("checker")).status_code == 200


def test_an_audit_check_accepts_the_revision_grammar_of_the_cli(
    repo_client: TestClient, history: dict[str, Any]
) -> None:
    then = repo_client.post(
        "/v1/check", params={"commit": "HEAD~1"}, json=MID_REACH, headers=auth("auditor")
    )
    assert then.status_code == 200
    assert then.json()["policy"]["commit"] == history["v1"]
    assert then.json()["policy"]["ref"] == "HEAD~1"


def test_an_audit_check_on_a_commit_that_does_not_compile_is_a_422_with_its_location(
    repo_client: TestClient, history: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = commit_policies(
        history["repo"], {"policies/care.policy": "rule oops {\n    allow\n    by nobody\n}\n"}, "x"
    )
    answer = repo_client.post(
        "/v1/check", params={"commit": broken}, json=MID_REACH, headers=auth("auditor")
    )
    assert answer.status_code == 422
    assert answer.json()["code"] == "policy_error"
    assert answer.json()["location"].startswith("policies/care.policy:")

    # A crash deep in compiling (a structure nested past the stack) is the policy's error too.
    from replygate.engine import loader

    def too_deep(*args: Any, **kwargs: Any) -> Any:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(loader, "compile_checked", too_deep)
    fresh = commit_policies(history["repo"], bundled_sources(), "never compiled before")
    deep = repo_client.post(
        "/v1/check", params={"commit": fresh}, json=MID_REACH, headers=auth("auditor")
    )
    assert deep.status_code == 422
    assert deep.json()["code"] == "policy_error"
    assert deep.json()["location"].endswith(":1:1")


def test_a_query_parameter_given_twice_is_refused(client: TestClient) -> None:
    # A proxy that reads the first `commit` and a server that reads the last would disagree.
    for path, method in (
        ("/v1/check?commit=HEAD&commit=HEAD~1", "post"),
        ("/v1/decisions?limit=1&limit=2", "get"),
    ):
        headers = auth("auditor")
        response = (
            client.post(path, json=REQUEST, headers=headers)
            if method == "post"
            else client.get(path, headers=headers)
        )
        assert response.status_code == 422, path
        name = path.split("?")[1].split("=")[0]
        assert response.json()["fields"] == [{"field": name, "message": "is given more than once"}]


def test_an_unknown_decision_id_is_echoed_with_its_bidi_characters_escaped(
    client: TestClient,
) -> None:
    """A U+202E in the path came back raw in the message, reordering it where it is shown."""
    response = client.get("/v1/decisions/ab%E2%80%AEcd", headers=auth("auditor"))
    assert response.status_code == 404
    assert response.json()["message"] == "no decision with id 'ab\\u202ecd'"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/v1/policy"])
def test_an_unknown_query_parameter_is_a_documented_422(client: TestClient, path: str) -> None:
    """Each endpoint answered 422 to `?x=1` while its OpenAPI entry listed no 422."""
    answer = client.get(path, params={"x": "1"}, headers=auth("admin"))
    assert answer.status_code == 422
    assert answer.json()["fields"] == [
        {"field": "x", "message": "is not a parameter of this endpoint"}
    ]
    document = client.get("/openapi.json").json()
    assert "422" in document["paths"][path]["get"]["responses"]


def test_a_count_of_many_digits_is_called_too_large(client: TestClient) -> None:
    """It was "is not a whole number: write digits only", although it was all digits."""
    answer = client.get("/v1/decisions", params={"limit": "9" * 23}, headers=auth("auditor"))
    assert answer.status_code == 422
    assert answer.json()["fields"][0]["message"] == "is too large: at most 9 digits"


def test_an_unknown_parameter_name_is_echoed_with_its_control_and_bidi_characters_escaped(
    client: TestClient,
) -> None:
    """`?\u202etimmoc\x1b[2K=1` came back raw: a real U+202E and ESC in the message."""
    for path, method in (("/v1/check", "post"), ("/v1/decisions", "get")):
        response = client.request(
            method,
            path + "?%E2%80%AEtimmoc%1B%5B2K=1",
            json=REQUEST if method == "post" else None,
            headers=auth("auditor"),
        )
        assert response.status_code == 422, path
        body = response.json()
        assert body["fields"] == [
            {"field": "\\u202etimmoc\\u001b[2K", "message": "is not a parameter of this endpoint"}
        ]
        assert "\u202e" not in response.text


@pytest.mark.parametrize("name", ["actor", "rule", "commit", "client", "cursor", "outcome"])
def test_an_empty_filter_is_refused_not_an_empty_audit_trail(client: TestClient, name: str) -> None:
    """`?actor=` (an unset shell variable) answered 200 with no decisions at all."""
    response = client.get("/v1/decisions", params={name: ""}, headers=auth("auditor"))
    assert response.status_code == 422
    assert response.json()["fields"] == [
        {"field": name, "message": "is empty: give a value or leave it out"}
    ]


def test_the_openapi_document_states_the_page_size_bounds(client: TestClient) -> None:
    """It said `ge`/`le`, which JSON Schema validators do not read: 0 and 5000 looked valid."""
    document = client.get("/openapi.json").json()
    (limit,) = [
        p for p in document["paths"]["/v1/decisions"]["get"]["parameters"] if p["name"] == "limit"
    ]
    assert limit["schema"]["minimum"] == 1 and limit["schema"]["maximum"] == 1000
    assert "ge" not in limit["schema"] and "le" not in limit["schema"]


@pytest.mark.parametrize("path", ["/v1/check", "/v1/check/batch", "/v1/route"])
def test_a_body_starting_with_a_byte_order_mark_is_read_as_the_cli_reads_it(
    client: TestClient, path: str
) -> None:
    """The CLI decided a request file that began with a BOM; the API answered 400 to the same
    bytes."""
    body: Any = {"requests": [REQUEST]} if path.endswith("batch") else REQUEST
    if path == "/v1/route":
        body = {key: value for key, value in REQUEST.items() if key in ("channel", "post", "at")}
    raw = codecs.BOM_UTF8 + json.dumps(body).encode()
    response = client.post(
        path, content=raw, headers={**auth("auditor"), "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    plain = client.post(path, json=body, headers=auth("auditor"))
    assert response.json().keys() == plain.json().keys()


@pytest.mark.parametrize(("path", "allowed"), [("/healthz", "GET, HEAD"), ("/v1/check", "POST")])
def test_a_405_lists_head_where_head_is_served(client: TestClient, path: str, allowed: str) -> None:
    """`Allow: GET` on paths that answer HEAD as well."""
    response = client.request("PUT", path, headers=auth("admin"))
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    if "HEAD" in allowed:
        assert client.head(path, headers=auth("admin")).status_code == 200


@pytest.mark.parametrize("path", ["/v1/check", "/v1/check/batch", "/v1/route"])
@pytest.mark.parametrize(
    ("encoding", "compress"), [("gzip", True), ("gzip", False), ("br", False), ("x\u202e", False)]
)
def test_a_content_encoding_is_refused_not_ignored(
    client: TestClient, path: str, encoding: str, compress: bool
) -> None:
    """A gzip body was "not valid JSON"; a plain body labelled gzip or br was decided."""
    import gzip

    body: Any = {"requests": [REQUEST]} if path.endswith("batch") else REQUEST
    if path == "/v1/route":
        body = {key: value for key, value in REQUEST.items() if key in ("channel", "post", "at")}
    raw = json.dumps(body).encode()
    response = client.post(
        path,
        content=gzip.compress(raw) if compress else raw,
        headers={
            **auth("auditor"),
            "Content-Type": "application/json",
            "Content-Encoding": encoding.encode("utf-8"),  # type: ignore[dict-item]
        },
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_encoding"
    assert response.json()["location"] == "Content-Encoding"
    assert "\u202e" not in response.json()["message"]
    identity = client.post(
        path, content=raw, headers={**auth("auditor"), "Content-Encoding": "identity"}
    )
    assert identity.status_code == 200
