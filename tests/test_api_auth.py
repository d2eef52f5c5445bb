"""API keys: the keys file, constant-time matching, 401 versus 403 on every endpoint, key helpers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from replygate.api.app import create_app
from replygate.api.auth import (
    KeyRing,
    hash_key,
    inline_keys,
    key_entry,
    load_keys_file,
    parse_inline_keys,
)
from replygate.api.settings import Settings, SettingsError

ROOT = Path(__file__).absolute().parent.parent

REQUEST = {
    "actor": {"id": "alice"},
    "action": "reply",
    "channel": "twitter",
    "post": {
        "id": "t-1",
        "sentiment": "positive",
        "category": "question",
        "author_reach": 10,
        "received_at": "2026-11-27T10:00:00+01:00",
    },
    "at": "2026-11-27T10:05:00+01:00",
}

KEYS = {
    "check": "rg_only_check",
    "audit": "rg_only_audit",
    "admin": "rg_only_admin",
}


def bearer(scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[scope]}"}


# ---- the keys file ------------------------------------------------------------------------------


def test_a_toml_keys_file_admits_its_keys_by_hash(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(key_entry("publisher", ["check"], "rg_secret") + "\n")
    ring = KeyRing(load_keys_file(path))
    key = ring.identify("Bearer rg_secret")
    assert key is not None
    assert key.client == "publisher"
    assert key.scopes == frozenset({"check"})
    assert ring.identify("Bearer rg_secret2") is None
    assert ring.identify("Basic rg_secret") is None
    assert ring.identify("bearer   rg_secret") is not None
    # Only the hash is in the file, never the key.
    assert "rg_secret" not in path.read_text()


def test_a_json_keys_file_and_the_environment_form_agree(tmp_path: Path) -> None:
    text = inline_keys([("auditor", "rg_audit", ["check", "audit"])])
    path = tmp_path / "keys.json"
    path.write_text(text)
    from_file = load_keys_file(path)
    from_env = parse_inline_keys(text)
    assert from_file == from_env
    assert from_file[0].digest.hex() == hash_key("rg_audit")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"sha256": "0" * 64, "scopes": ["check"]}, "keys[0].client: a client name is required"),
        ({"client": "a", "sha256": "abc", "scopes": ["check"]}, "keys[0].sha256: expected"),
        ({"client": "a", "sha256": "z" * 64, "scopes": ["check"]}, "keys[0].sha256: not hex"),
        ({"client": "a", "sha256": "0" * 64, "scopes": ["root"]}, "unknown scope 'root'"),
        ({"client": "a", "sha256": "0" * 64, "scopes": []}, "keys[0].scopes: list one"),
        ({"client": "a", "sha256": "0" * 64, "scopes": ["check"], "key": "x"}, "unknown field"),
    ],
)
def test_a_bad_entry_is_named(tmp_path: Path, entry: dict[str, object], message: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [entry]}))
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_keys_file(path)


def test_a_missing_or_broken_keys_file_says_which(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"absent\.toml: No such file"):
        load_keys_file(tmp_path / "absent.toml")
    broken = tmp_path / "keys.toml"
    broken.write_text("[[keys]\n")
    with pytest.raises(SettingsError, match=r"keys\.toml"):
        load_keys_file(broken)


def test_settings_read_the_environment_and_flags_win() -> None:
    environ = {
        "REPLYGATE_PORT": "9000",
        "REPLYGATE_WORKERS": "2",
        "REPLYGATE_FETCH": "yes",
        "REPLYGATE_REDACT": "content.text=drop,post.text=hash",
        "REPLYGATE_OPEN_METRICS": "false",
    }
    settings = Settings.from_env(environ, port=9100)
    assert settings.port == 9100
    assert settings.workers == 2
    assert settings.fetch is True
    assert settings.open_metrics is False
    assert settings.redact == {"content.text": "drop", "post.text": "hash"}
    assert Settings.from_env(settings.to_env()) == settings
    with pytest.raises(SettingsError, match="REPLYGATE_PORT: 'http' is not a number"):
        Settings.from_env({"REPLYGATE_PORT": "http"})
    with pytest.raises(SettingsError, match="neither sqlite"):
        Settings.from_env({"REPLYGATE_DECISION_LOG": "mysql://x"})


# ---- 401 versus 403, endpoint by endpoint -------------------------------------------------------


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("auth")
    settings = Settings(
        policy=str(ROOT / "policies"),
        decision_log=f"sqlite:///{folder / 'decisions.db'}",
        api_keys=inline_keys([(f"{scope}-client", key, [scope]) for scope, key in KEYS.items()]),
        open_health=True,
        open_metrics=False,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


ENDPOINTS = [
    # method, path, scope needed (None: any valid key), body
    ("POST", "/v1/check", "check", REQUEST),
    ("POST", "/v1/check/batch", "check", {"requests": [REQUEST]}),
    ("GET", "/v1/policy", None, None),
    ("GET", "/v1/policy/rules", None, None),
    ("GET", "/v1/decisions", "audit", None),
    ("GET", "/v1/decisions/some-id", "audit", None),
    ("POST", "/v1/policy/refresh", "admin", None),
    ("GET", "/metrics", None, None),
]


@pytest.mark.parametrize(("method", "path", "scope", "body"), ENDPOINTS)
def test_no_key_and_a_wrong_key_are_401(
    client: TestClient, method: str, path: str, scope: str | None, body: object
) -> None:
    for headers in ({}, {"Authorization": "Bearer rg_nobody"}, {"Authorization": "Token x"}):
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (path, headers)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["code"] == "unauthorized"


@pytest.mark.parametrize(("method", "path", "scope", "body"), ENDPOINTS)
def test_each_scope_opens_exactly_its_endpoints(
    client: TestClient, method: str, path: str, scope: str | None, body: object
) -> None:
    for held in KEYS:
        response = client.request(method, path, json=body, headers=bearer(held))
        if scope is None or scope == held:
            assert response.status_code not in (401, 403), (path, held, response.text)
        else:
            assert response.status_code == 403, (path, held)
            assert response.json()["code"] == "forbidden"
            assert f'scope="{scope}"' in response.headers["www-authenticate"]


def test_open_health_needs_no_key(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_an_audit_check_with_a_check_key_is_403_not_a_decision(client: TestClient) -> None:
    response = client.post(
        "/v1/check", params={"commit": "main"}, json=REQUEST, headers=bearer("check")
    )
    assert response.status_code == 403
    assert "audit" in response.json()["message"]


# ---- making keys --------------------------------------------------------------------------------


def _entry_of(output: str) -> tuple[str, str]:
    key_line, *entry = output.splitlines()
    return key_line.rsplit(": ", 1)[1], "\n".join(entry)


def test_python_m_api_auth_prints_a_working_entry(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "replygate.api.auth", "publisher", "--scopes", "check,audit"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    key, entry = _entry_of(done.stdout)
    path = tmp_path / "keys.toml"
    path.write_text(entry)
    found = KeyRing(load_keys_file(path)).identify(f"Bearer {key}")
    assert found is not None
    assert (found.client, found.scopes) == ("publisher", frozenset({"check", "audit"}))


def test_serve_hash_key_hashes_a_key_and_refuses_unknown_scopes(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "replygate.cli.main",
            "serve",
            "--hash-key",
            "ops",
            "--scopes",
            "admin",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    key, entry = _entry_of(done.stdout)
    path = tmp_path / "keys.toml"
    path.write_text(entry)
    assert KeyRing(load_keys_file(path)).require(f"Bearer {key}", "admin").client == "ops"
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "replygate.cli.main",
            "serve",
            "--hash-key",
            "ops",
            "--scopes",
            "root",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert refused.returncode == 2
    assert refused.stderr.startswith("replygate: error: scopes:")


def test_serve_hash_key_needs_a_client_name(capsys: pytest.CaptureFixture[str]) -> None:
    from replygate.cli.main import main

    with pytest.raises(SystemExit) as exited:  # not a server started by accident
        main(["serve", "--hash-key", " "])
    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith("replygate: error: --hash-key: is empty")


def test_an_existing_key_can_be_hashed_from_stdin() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "replygate.api.auth", "legacy", "--stdin"],
        input="rg_existing\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert hash_key("rg_existing") in done.stdout


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("REPLYGATE_POLL", "inf", "poll: must be at least 0.1 and at most 86400 seconds"),
        ("REPLYGATE_POLL", "nan", "poll: must be at least 0.1 and at most 86400 seconds"),
        ("REPLYGATE_POLL", "1e308", "poll: must be at least 0.1 and at most 86400 seconds"),
        (
            "REPLYGATE_SESSION_HOURS",
            "nan",
            "session_hours: must be at least 0.01 (36 seconds) and at most",
        ),
        ("REPLYGATE_READY_TIMEOUT", "inf", "ready_timeout: must be a finite number"),
    ],
)
def test_durations_that_no_timer_can_hold_are_refused(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env({variable: value})
    assert Settings.from_env({"REPLYGATE_POLL": "0.5"}).poll == 0.5


# ---- the key before anything else the request says ----------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v1/decisions?limit=0",
        "/v1/decisions?since=x",
        "/v1/decisions?outcome=x",
        "/v1/decisions/" + "a" * 101,
    ],
)
def test_audit_parameters_are_not_validated_for_a_caller_without_the_audit_key(
    client: TestClient, path: str
) -> None:
    """FastAPI validated declared parameters first: 422 to anyone, key or not."""
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer rg_nobody"}).status_code == 401
    assert client.get(path, headers=bearer("check")).status_code == 403
    assert client.get(path, headers=bearer("audit")).status_code == 422


@pytest.mark.parametrize(("method", "path", "scope", "body"), ENDPOINTS)
def test_two_authorization_headers_are_refused_whichever_comes_first(
    client: TestClient, method: str, path: str, scope: str | None, body: object
) -> None:
    """The first header won: an audit key then a check key was let in, the other order not."""
    first, second = bearer("audit")["Authorization"], bearer("check")["Authorization"]
    for pair in ((first, second), (second, first)):
        response = client.request(
            method,
            path,
            json=body,
            headers=[("Authorization", pair[0]), ("Authorization", pair[1])],
        )
        assert response.status_code == 400, (path, pair)
        assert response.json()["code"] == "bad_request"
        assert "more than one Authorization header" in response.json()["message"]
