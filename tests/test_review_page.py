"""The review pages over HTTP: access, sessions, CSRF, security headers, escaping, answers.

The browser tests (tests/browser/) drive the same pages in chromium; these run in-process.
"""

from __future__ import annotations

import copy
import html
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from replygate.api.app import create_app
from replygate.api.auth import KeyRing, inline_keys, parse_inline_keys
from replygate.api.review_page.ended import EndedSessions, _name
from replygate.api.review_page.session import SESSION_COOKIE, Sessions
from replygate.api.review_page.views import highlight_css
from replygate.api.schemas import EXAMPLE_REQUEST
from replygate.api.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
REVIEW, AUDIT, CHECK = "rg_review_key_000000000000", "rg_audit_key_0000000000000", "rg_check_key_0"
KEYS = [("reviewer", REVIEW, ["review"]), ("auditor", AUDIT, ["review", "audit", "check"])]
KEYS.append(("publisher", CHECK, ["check"]))
AUDIT_ONLY = "rg_audit_only_key_00000000"
KEYS.append(("examiner", AUDIT_ONLY, ["audit"]))
PAGES = ("/", "/team", "/rules", "/time", "/playground", "/changes")
CHECK_REQUEST = EXAMPLE_REQUEST  # the README's example


def keyring(entries: list[tuple[str, str, list[str]]]) -> KeyRing:
    return KeyRing(parse_inline_keys(inline_keys(entries)))


def app_for(tmp_path: Path, policy: str = "policies", **settings: object) -> TestClient:
    options = Settings(
        policy=str(ROOT / policy) if policy == "policies" else policy,
        decision_log=f"sqlite:///{tmp_path / 'log.db'}",
        session_secret="x" * 40,
        **settings,  # type: ignore[arg-type]
    )
    return TestClient(create_app(options, keys=keyring(KEYS)), raise_server_exceptions=True)


def repo_client(tmp_path: Path, repo: Any, keys: KeyRing | None = None) -> TestClient:
    """The pages of a server following `main` of a git repository."""
    options = Settings(
        repo=str(repo.working_tree_dir),
        ref="main",
        decision_log=f"sqlite:///{tmp_path / 'log.db'}",
        session_secret="x" * 40,
    )
    return TestClient(create_app(options, keys=keys or keyring(KEYS)))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with app_for(tmp_path) as test_client:
        yield test_client


def form_token(client: TestClient) -> str:
    page = client.get("/sign-in")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def sign_in(client: TestClient, key: str = AUDIT, next_page: str = "/"):  # type: ignore[no-untyped-def]
    return client.post(
        "/sign-in",
        data={"key": key, "csrf": form_token(client), "next": next_page},
        follow_redirects=False,
    )


def page_token(client: TestClient, path: str = "/") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


class TestAccess:
    @pytest.mark.parametrize("path", [*PAGES, "/decisions", "/decisions/abc", "/time"])
    def test_every_page_needs_a_session(self, client: TestClient, path: str) -> None:
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/sign-in?next=")

    def test_a_form_posted_after_the_session_ended_comes_back_to_its_page(
        self, client: TestClient
    ) -> None:
        """next= named `/decisions/verify`, which answers POST only: "Not found" after sign-in."""
        answer = client.post("/decisions/verify?actor=carol", follow_redirects=False)
        assert answer.headers["location"] == "/sign-in?next=%2Fdecisions%3Factor%3Dcarol"
        landed = sign_in(client, next_page="/decisions?actor=carol")
        assert client.get(landed.headers["location"]).status_code == 200

    def test_the_sign_in_form_and_static_files_need_none(self, client: TestClient) -> None:
        assert client.get("/sign-in").status_code == 200
        assert client.get("/static/review.css").status_code == 200

    def test_signing_in_sets_a_strict_http_only_cookie_and_goes_where_asked(
        self, client: TestClient
    ) -> None:
        answer = sign_in(client, next_page="/rules")
        assert answer.status_code == 303 and answer.headers["location"] == "/rules"
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=28800" in cookie
        assert client.get("/rules").status_code == 200

    @pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "\\\\x"])
    def test_sign_in_never_redirects_off_the_server(self, client: TestClient, target: str) -> None:
        assert sign_in(client, next_page=target).headers["location"] == "/"

    def test_a_form_without_its_token_is_refused(self, client: TestClient) -> None:
        client.get("/sign-in")
        answer = client.post("/sign-in", data={"key": AUDIT, "csrf": "forged"})
        assert answer.status_code == 403
        assert SESSION_COOKIE not in answer.cookies

    @pytest.mark.parametrize(
        ("key", "status", "words"),
        [("rg_wrong", 401, "not valid"), (CHECK, 403, "lacks the &#39;review&#39; scope")],
    )
    def test_bad_keys_are_told_why(
        self, client: TestClient, key: str, status: int, words: str
    ) -> None:
        answer = client.post(
            "/sign-in", data={"key": key, "csrf": form_token(client)}, follow_redirects=False
        )
        assert answer.status_code == status and words in answer.text

    def test_a_tampered_cookie_is_no_session(self, client: TestClient) -> None:
        sign_in(client)
        token = client.cookies[SESSION_COOKIE]
        client.cookies.clear()
        client.cookies.set(SESSION_COOKIE, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
        assert client.get("/", follow_redirects=False).status_code == 303

    def test_sign_out_needs_the_token_and_ends_the_session(self, client: TestClient) -> None:
        sign_in(client)
        assert client.post("/sign-out", data={"csrf": "forged"}).status_code == 403
        answer = client.post("/sign-out", data={"csrf": page_token(client)}, follow_redirects=False)
        assert answer.status_code == 303
        client.cookies.clear()
        assert client.get("/", follow_redirects=False).status_code == 303

    def test_a_copy_of_the_cookie_stops_working_at_sign_out(self, client: TestClient) -> None:
        """Sign-out deleted the cookie in the browser only: a copy kept working for hours."""
        sign_in(client)
        copied = client.cookies[SESSION_COOKIE]
        client.post("/sign-out", data={"csrf": page_token(client)}, follow_redirects=False)
        client.cookies.clear()
        client.cookies.set(SESSION_COOKIE, copied)
        assert client.get("/", follow_redirects=False).status_code == 303
        sign_in(client)  # a new session is a new id
        assert client.get("/", follow_redirects=False).status_code == 200

    def test_a_sign_out_that_cannot_be_recorded_says_so(
        self, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def refuse(*_: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(EndedSessions, "end", refuse)
        sign_in(client)
        answer = client.post("/sign-out", data={"csrf": page_token(client)})
        assert answer.status_code == 503 and "could not end this session" in answer.text

    @pytest.mark.parametrize("scopes", [["admin"], ["admin", "check"]])
    def test_admin_opens_no_page(self, tmp_path: Path, scopes: list[str]) -> None:
        """The pages read `admin` as review and audit; the API gives it policy refreshes only,
        so a deploy bot's key read the decision log through the pages."""
        admin = "rg_admin_key_0000000000000"
        options = Settings(
            policy=str(ROOT / "policies"),
            decision_log=f"sqlite:///{tmp_path / 'log.db'}",
            session_secret="x" * 40,
        )
        keys = keyring([*KEYS, ("deployer", admin, scopes)])
        with TestClient(create_app(options, keys=keys)) as client:
            assert sign_in(client, admin).status_code == 403
            assert client.get("/decisions", follow_redirects=False).status_code == 303
            listed = client.get("/v1/decisions", headers={"Authorization": f"Bearer {admin}"})
            assert listed.status_code == 403

    def test_another_sites_post_without_cookie_or_token_ends_no_session(
        self, client: TestClient
    ) -> None:
        """A cross-site form carries neither the Lax cookie nor a token: a forced sign-out."""
        answer = client.post("/sign-out", follow_redirects=False)
        assert answer.status_code == 303
        assert "set-cookie" not in answer.headers

    def test_an_audit_only_key_lands_on_the_decisions(self, client: TestClient) -> None:
        answer = sign_in(client, AUDIT_ONLY)
        assert answer.headers["location"] == "/decisions"
        assert client.get("/decisions").status_code == 200

    def test_the_decisions_page_needs_the_audit_scope(self, client: TestClient) -> None:
        sign_in(client, REVIEW)
        answer = client.get("/decisions")
        assert answer.status_code == 403 and "audit" in answer.text


class TestSessions:
    def test_an_expired_or_revoked_session_is_none(self) -> None:
        sessions = Sessions("y" * 40, keyring(KEYS), hours=1)
        key, token = sessions.sign_in(REVIEW)
        assert key is not None and token is not None
        assert sessions.visitor(token) is not None
        sessions.max_age = -1
        assert sessions.visitor(token) is None
        without = Sessions("y" * 40, keyring(KEYS[1:]), hours=1)
        assert without.visitor(token) is None

    def test_workers_sharing_a_folder_share_sign_outs(self, tmp_path: Path) -> None:
        first = Sessions("y" * 40, keyring(KEYS), 1, EndedSessions(str(tmp_path)))
        second = Sessions("y" * 40, keyring(KEYS), 1, EndedSessions(str(tmp_path)))
        _, token = first.sign_in(REVIEW)
        _, other = first.sign_in(REVIEW)
        assert second.visitor(token) is not None
        first.sign_out(token)
        assert second.visitor(token) is None and first.visitor(token) is None
        assert second.visitor(other) is not None  # one session ends, not the key's others

    def test_a_sign_out_is_forgotten_once_its_cookie_has_expired(self, tmp_path: Path) -> None:
        ended = EndedSessions(str(tmp_path), sweep_every=0)
        ended.end("gone", until=1.0)  # long past
        assert ended.ended("gone")
        ended.end("current", until=4e9)  # a sign-out sweeps the expired ones
        assert [path.name for path in tmp_path.iterdir()] == [_name("current")]
        ended.end("later", until=4e9)
        assert len(list(tmp_path.iterdir())) == 2
        assert ended.ended("current") and ended.ended("later") and not ended.ended("gone")

    def test_the_sweep_reads_only_files_whose_expiry_has_come(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Found by a resource probe: every sign-out read every kept file, on the event loop
        (20,000 kept: 0.4-0.7 s a sign-out, the worker's other requests stalled meanwhile)."""
        ended = EndedSessions(str(tmp_path), sweep_every=0)
        for number in range(50):
            ended.end(f"open-{number}", until=4e9)
        ended.end("expired", until=1.0)
        # A file written before its time was its expiry: dated now, its text says 1.0.
        (tmp_path / _name("old-style")).write_text("1.000\n", encoding="ascii")
        (tmp_path / _name("old-but-open")).write_text("4000000000.000\n", encoding="ascii")
        read: list[str] = []
        real = Path.read_text

        def counting(path: Path, *args: Any, **kwargs: Any) -> str:
            read.append(path.name)
            return real(path, *args, **kwargs)

        monkeypatch.setattr(Path, "read_text", counting)
        ended.end("last", until=4e9)
        assert sorted(read) == sorted(_name(s) for s in ("expired", "old-style", "old-but-open"))
        assert not ended.ended("expired") and not ended.ended("old-style")
        assert ended.ended("old-but-open") and ended.ended("open-7") and ended.ended("last")

    def test_sign_outs_sweep_at_most_once_a_minute(self, tmp_path: Path) -> None:
        ended = EndedSessions(str(tmp_path))
        ended.end("first", until=4e9)  # sweeps (nothing to forget), then not for a minute
        ended.end("expired", until=1.0)
        ended.end("second", until=4e9)
        assert ended.ended("expired")  # kept until the next sweep; its cookie is expired anyway

    def test_an_unreadable_folder_ends_every_session(self, tmp_path: Path) -> None:
        """Fail closed: a session the server cannot check is no session."""
        ended = EndedSessions(str(tmp_path / "missing" / "x"))
        (tmp_path / "missing").write_text("a file, not a folder")
        assert ended.ended("any")

    def test_a_session_of_a_few_seconds_still_signs_in(self) -> None:
        """--session-hours 0.0001 made Max-Age 0: no sign-in ever held."""
        assert Sessions("y" * 40, keyring(KEYS), 0.0001).max_age >= 1

    def test_another_secret_does_not_accept_the_cookie(self) -> None:
        _, token = Sessions("y" * 40, keyring(KEYS), 1).sign_in(REVIEW)
        assert Sessions("z" * 40, keyring(KEYS), 1).visitor(token) is None


class TestPages:
    @pytest.mark.parametrize("path", PAGES)
    def test_pages_carry_a_strict_policy_and_no_inline_code(
        self, client: TestClient, path: str
    ) -> None:
        sign_in(client)
        answer = client.get(path)
        assert answer.status_code == 200
        policy = answer.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert not re.search(r"<script(?![^>]*\bsrc=)", answer.text)
        assert not re.search(r"\sstyle=|<style", answer.text)
        assert answer.headers["referrer-policy"] == "no-referrer"

    def test_the_authority_matrix_decides_like_the_engine(self, client: TestClient) -> None:
        sign_in(client)
        page = client.get("/team?at=2026-11-27T10:00:00%2B01:00").text

        def cell(table: str, row: str, kind: str) -> str:
            found = re.search(
                rf'<td class="outcome [^"]*" data-row="{row}" data-kind="{kind}">\s*'
                r'<span class="answer">([^<]+)</span>',
                page.split(f'id="{table}"', 1)[1],
            )
            assert found is not None, (table, row, kind)
            return found.group(1)

        assert cell("people", "carol", "reply:negative:complaint:0") == "allow"
        assert cell("people", "carol", "reply:negative:complaint:10000") == (
            "approval from comms_lead"
        )
        assert cell("roles", "agent", "reply:negative:complaint:0") == "escalate to senior_agent"
        assert cell("roles", "marketing", "post:linkedin") == "allow"  # office open at 10:00
        assert cell("roles", "", "reply:positive:praise:0") == "deny"

    def test_policy_text_is_escaped(self, tmp_path: Path) -> None:
        folder = tmp_path / "policies"
        folder.mkdir()
        text = (ROOT / "policies" / "care.policy").read_text(encoding="utf-8")
        hostile = text.replace(
            '"Senior agents may answer negative posts."', '"<script>alert(1)</script> & more"'
        )
        assert hostile != text
        (folder / "care.policy").write_text(hostile, encoding="utf-8")
        for other in (ROOT / "policies").glob("*.policy"):
            if other.name != "care.policy":
                (folder / other.name).write_text(other.read_text(encoding="utf-8"))
        with app_for(tmp_path, str(folder)) as client:
            sign_in(client)
            page = client.get("/rules").text
        assert "<script>alert(1)" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page

    def test_the_playground_answers_and_never_writes_the_log(self, client: TestClient) -> None:
        sign_in(client)
        import json

        answer = client.get(
            "/playground", params={"mode": "json", "json": json.dumps(CHECK_REQUEST)}
        )
        assert 'data-decision="approval_required"' in answer.text
        assert "policies/care.policy:28" in answer.text
        assert "Trace" in answer.text
        assert client.get("/decisions").text.count("data-actor=") == 0

    def test_the_playground_names_a_bad_field(self, client: TestClient) -> None:
        sign_in(client)
        answer = client.get(
            "/playground",
            params={"mode": "form", "actor": "carol", "channel": "twitter", "reach": "many"},
        )
        assert "post.author_reach" in answer.text and 'role="alert"' in answer.text

    def test_the_decisions_page_lists_and_filters_checks(self, client: TestClient) -> None:
        for actor in ("carol", "alice"):
            answer = client.post(
                "/v1/check",
                json={**CHECK_REQUEST, "actor": {"id": actor}},
                headers={"Authorization": f"Bearer {CHECK}"},
            )
            assert answer.status_code == 200
        sign_in(client)
        everything = client.get("/decisions").text
        carol = client.get("/decisions", params={"actor": "carol"}).text
        assert everything.count("data-actor=") == 2
        assert carol.count('data-actor="carol"') == 1 and 'data-actor="alice"' not in carol
        bad = client.get("/decisions", params={"since": "yesterday"})
        assert bad.status_code == 422
        assert "since: is not a timestamp" in bad.text


def test_the_highlight_stylesheet_is_in_step_with_pygments() -> None:
    shipped = (ROOT / "api" / "review_page" / "static" / "highlight.css").read_text()
    assert highlight_css() in shipped


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "No such file or directory"),
        ("too short", "fewer than 32 characters"),
        # Read whole: `/dev/zero` ate memory until killed; bytes not UTF-8 were a traceback.
        ("x" * 5000, "larger than 4 KiB, the most it may hold"),
        (b"\xff" * 40, "not UTF-8 text"),
    ],
)
def test_serve_refuses_a_bad_session_secret_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes | None, words: str
) -> None:
    from replygate.cli.main import main

    secret = tmp_path / "session-secret"
    if isinstance(content, bytes):
        secret.write_bytes(content)
    elif content is not None:
        secret.write_text(content, encoding="utf-8")
    code = main(["serve", "--session-secret-file", str(secret), "--policy", str(ROOT / "policies")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"replygate: error: --session-secret-file: {secret}: ") and words in err
    if content is None:
        return  # with no secret beside the keys, serve would start
    # The same file beside --keys is read with the same bounds.
    keys = tmp_path / "keys.toml"
    keys.write_text('[[keys]]\nclient = "c"\nsha256 = "' + "0" * 64 + '"\nscopes = ["review"]\n')
    code = main(["serve", "--keys", str(keys), "--policy", str(ROOT / "policies")])
    err = capsys.readouterr().err
    assert code == 2 and f"session secret file {secret}: " in err and words in err


# ---- found by probing the pages as an attacker and a careless reviewer (2026-12-02) ----------


def test_a_rule_s_source_is_shown_whole_in_a_file_that_starts_with_blank_lines(
    tmp_path: Path,
) -> None:
    """Pygments dropped the leading newlines: every rule showed another's lines."""
    folder = tmp_path / "policy"
    shutil.copytree(ROOT / "policies", folder)
    (folder / "x.policy").write_text(
        "\n\n\n# blank lines first\nrule late-rule {\n    deny\n    on post\n    by legal\n}\n",
        encoding="utf-8",
    )
    with app_for(tmp_path, str(folder)) as client:
        sign_in(client)
        page = client.get("/rules").text
        article = page[page.index('id="rule-late-rule"') :]
        code = article[: article.index("</article>")]
        assert ">late-rule<" in code and ">deny<" in code and ">post<" in code


def test_pages_show_bidi_and_control_characters_escaped(client: TestClient) -> None:
    """A request field (or a commit's author) with U+202E reordered what a reviewer reads."""
    body = {**CHECK_REQUEST, "content": {"text": "refund \u202eevil\u202c now\x1b[31m"}}
    client.post("/v1/check", json=body, headers={"Authorization": f"Bearer {CHECK}"})
    sign_in(client)
    page = client.get("/playground", params={"mode": "json", "json": json.dumps(body)}).text
    assert "\u202e" not in page and "\x1b" not in page
    assert "\\u202e" in page


@pytest.mark.parametrize(
    ("address", "status"),
    [
        ("/decisions?cursor=garbage", 422),
        ("/team?roles=abc", 422),
        ("/team?people=1.0", 422),
    ],
)
def test_bad_parameters_get_the_pages_422(client: TestClient, address: str, status: int) -> None:
    sign_in(client)
    page = client.get(address)
    assert page.status_code == status
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    ("address", "message"),
    [
        (
            "/decisions?actr=carol",
            "'actr': not a parameter of this page (it takes actor, client, "
            "commit, cursor, outcome, rule, since, until).",
        ),
        ("/team?rolez=2", "'rolez': not a parameter of this page (it takes at, people, roles)."),
        ("/time?weeks=2", "'weeks': not a parameter of this page (it takes week)."),
        ("/rules?q=x", "'q': not a parameter of this page (it takes none)."),
        ("/?b=1&a=2", "'a', 'b': not a parameter of this page (it takes none)."),
    ],
)
def test_a_mistyped_parameter_is_refused_not_ignored(
    client: TestClient, address: str, message: str
) -> None:
    """/decisions?actr=carol showed the whole log, as if the filter had matched (the API's
    GET /v1/decisions refuses it): a shared link must not quietly mean something else."""
    sign_in(client)
    page = client.get(address)
    assert page.status_code == 422
    assert "<title>Cannot show this page" in page.text
    assert message in html.unescape(page.text)


def test_a_missing_thing_is_titled_not_found(client: TestClient) -> None:
    sign_in(client)
    page = client.get("/decisions/no-such-decision")
    assert page.status_code == 404
    assert "<title>Not found" in page.text


def test_static_files_carry_the_pages_headers(client: TestClient) -> None:
    for name in ("review.js", "review.css"):
        answer = client.get(f"/static/{name}")
        assert answer.status_code == 200
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'none'" in answer.headers["content-security-policy"]


def test_a_reason_without_a_rule_links_nowhere(client: TestClient) -> None:
    sign_in(client)
    page = client.get("/playground", params={"mode": "json", "json": json.dumps(CHECK_REQUEST)})
    assert "#rule-None" not in page.text


def test_the_changes_form_of_a_repository_of_one_commit_compares_what_exists(
    tmp_path: Path,
) -> None:
    """Pre-filled `main~1`, its Compare answered 422 "'main' has fewer than 1 commits"."""
    from gitrepo import commit_policies, example_sources, make_repo

    repo = make_repo(tmp_path)
    commit_policies(repo, example_sources(), "first")
    with repo_client(tmp_path, repo) as client:
        sign_in(client)
        form = client.get("/changes").text
        assert 'name="base" value="main"' in form and 'name="head" value="main"' in form
        assert client.get("/changes", params={"base": "main", "head": "main"}).status_code == 200
        commit_policies(repo, example_sources(), "second")
        assert 'name="base" value="main~1"' in client.get("/changes").text


def test_changes_and_history_of_a_repository(tmp_path: Path) -> None:
    from gitrepo import commit_policies, example_sources, make_repo

    repo = make_repo(tmp_path)
    commit_policies(repo, example_sources(), "first")
    second = example_sources()
    care = second["policies/care.policy"]
    second["policies/care.policy"] = care.replace("author_reach >= 10000", "author_reach >= 5000")
    commit_policies(repo, second, "second")
    with repo_client(tmp_path, repo) as client:
        sign_in(client)
        report = client.get("/changes", params={"base": "main~1", "head": "main"})
        assert report.status_code == 200
        assert "viral-negative-needs-comms-lead" in report.text
        # Keyed by commit, not by name: after a push, `main~1`..`main` is the new pair at once.
        second["policies/care.policy"] = care.replace(
            "author_reach >= 10000", "author_reach >= 7000"
        )
        third = commit_policies(repo, second, "third")
        again = client.get("/changes", params={"base": "main~1", "head": "main"})
        assert third[:12] in again.text
        unknown = client.get("/changes", params={"base": "main", "head": "no-such-branch"})
        assert unknown.status_code == 422
        assert "Comparing <code>main~1</code> (" in again.text  # the name asked for, not a sha
        repo.git.checkout("-q", "-b", "broken")
        commit_policies(repo, {"policies/zz.policy": "rule {\n"}, "broken")
        repo.git.checkout("-q", "main")
        broken = client.get("/changes", params={"base": "main", "head": "broken"})
        assert broken.status_code == 422
        assert "head (broken) does not compile" in broken.text
        assert client.get("/rules/viral-negative-needs-comms-lead/history").status_code == 200
        assert client.get("/rules/no-such-rule/history").status_code == 404


def test_the_overview_shows_the_last_error_as_a_reviewer_reads_it(tmp_path: Path) -> None:
    """It showed the follower's list of dicts as a Python repr, the location buried inside."""
    from gitrepo import commit_policies, example_sources, make_repo

    repo = make_repo(tmp_path)
    commit_policies(repo, example_sources(), "first")
    admin = "rg_admin_key_0000000000000"
    keys = keyring([*KEYS, ("operator", admin, ["admin"])])
    with repo_client(tmp_path, repo, keys) as client:
        broken = commit_policies(repo, {"policies/zz.policy": "role a\nrule {\n"}, "broken")
        refreshed = client.post("/v1/policy/refresh", headers={"Authorization": f"Bearer {admin}"})
        assert refreshed.status_code == 200, refreshed.text
        sign_in(client)
        page = html.unescape(client.get("/").text)
    assert f"commit {broken[:12]}: policies/zz.policy:2:6: error:" in page
    assert "{'code'" not in page


@pytest.mark.parametrize(
    ("address", "message"),
    [
        (
            "/team?at=tomorrow",
            "'at': is not a timestamp: write one such as 2026-11-27T21:40:00+01:00",
        ),
        (
            "/decisions?since=2026-11-27T10:00",
            "timestamp needs a time-zone offset, e.g. 2026-11-27T21:40:00+01:00",
        ),
    ],
)
def test_a_bad_time_in_an_address_is_explained_for_an_address(
    client: TestClient, address: str, message: str
) -> None:
    """It said "write a JSON string such as …, e.g. …": an address holds no JSON."""
    sign_in(client)
    page = client.get(address)
    assert page.status_code == 422
    text = html.unescape(page.text)
    assert message in text and "JSON" not in text


@pytest.mark.parametrize(
    ("path", "accept", "page"),
    [
        ("/rule/no-such", "text/html,application/xhtml+xml,*/*;q=0.8", True),  # a browser
        ("/rule/no-such", "application/json", False),
        ("/rule/no-such", "*/*", False),  # curl
        ("/v1/nothing-here", "text/html", False),  # the API stays JSON
    ],
)
def test_a_browser_on_a_missing_page_gets_a_page(
    client: TestClient, path: str, accept: str, page: bool
) -> None:
    answer = client.get(path, headers={"Accept": accept})
    assert answer.status_code == 404
    if page:
        assert answer.headers["content-type"].startswith("text/html")
        assert "<title>Not found" in answer.text
        assert answer.headers["x-frame-options"] == "DENY"
    else:
        assert answer.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("reach", "said"),
    [
        ("-1", "<code>post.author_reach</code>: must be at least 0"),
        ("12x", "<code>post.author_reach</code>: is not an integer"),
    ],
)
def test_the_playground_form_reads_a_reach_as_the_json_mode_does(
    client: TestClient, reach: str, said: str
) -> None:
    """The form called -1 and a 31-digit count "not an integer"; JSON said "at least 0"."""
    sign_in(client)
    form = {"mode": "form", "actor": "carol", "action": "reply", "channel": "twitter"}
    form |= {"sentiment": "negative", "category": "complaint", "reach": reach}
    page = html.unescape(client.get("/playground", params=form).text)
    assert said in page
    huge = html.unescape(client.get("/playground", params=form | {"reach": "1" * 31}).text)
    assert "is not an integer" not in huge


def test_the_time_page_links_only_weeks_it_shows(client: TestClient) -> None:
    """At year 1 "Previous week" led to a 422, and the heading read "week of 15 Jan 1"."""
    sign_in(client)
    first = html.unescape(client.get("/time", params={"week": "0001-01-15"}).text)
    assert "week of 15 Jan 0001" in first
    assert "Previous week" not in first and "week=0001-01-22" in first
    assert client.get("/time", params={"week": "0001-01-22"}).status_code == 200


# ---- the Time page's calendars, periods and coverage grid ------------------------------------

TIME_POLICY = """
channel twitter
role agent
person a is agent
category complaint
rule r { allow on reply by agent }
calendar office_at {
    zone "Europe/Vienna"
    open mon-fri 08:00-18:00
    holidays AT-9
    closed 2027-02-03
    closed every 12-31
}
period year-end-freeze { zone "Europe/Vienna" from 2026-12-31 18:00 until 2027-01-01 06:00 }
respond to complaint within 15m
roster nights { members a zone "Europe/Vienna" open mon-sun 07:00-23:00 }
"""


def time_policy():  # type: ignore[no-untyped-def]
    from replygate.engine.loader import compile_sources

    return compile_sources({"t.policy": TIME_POLICY})


def test_the_time_page_lists_public_holidays_and_yearly_closed_days() -> None:
    """Only the dated `closed` days were listed: Christmas and New Year's Eve showed "None."."""
    from datetime import date

    from replygate.api.review_page.views import calendar_views

    (office,) = calendar_views(time_policy(), date(2026, 12, 2))
    assert office.zone == "Europe/Vienna"
    assert "Tue 08 Dec 2026" in office.holidays  # a public holiday (AT)
    assert "Fri 25 Dec 2026" in office.holidays and "Thu 31 Dec 2026" in office.holidays
    assert "Wed 03 Feb 2027" in office.holidays  # dated
    assert "Wed 06 Jan 2027" in office.holidays
    assert all("2026-12-01" not in day for day in office.holidays)
    assert "Fri 31 Dec 2027" not in office.holidays  # past the next 12 months


def test_a_period_is_shown_as_its_windows_in_its_zone(tmp_path: Path) -> None:
    """A period was listed among the calendars as "(UTC) never open", with an empty week."""
    folder = tmp_path / "policy"
    folder.mkdir()
    (folder / "t.policy").write_text(TIME_POLICY, encoding="utf-8")
    with app_for(tmp_path, policy=str(folder)) as client:
        sign_in(client)
        page = html.unescape(client.get("/time").text)
    calendars = page[page.index('id="calendars-h"') : page.index('id="periods-h"')]
    assert "year-end-freeze" not in calendars
    periods = page[page.index('id="periods-h"') : page.index('id="rosters-h"')]
    assert "year-end-freeze" in periods and "(Europe/Vienna)" in periods
    assert "Thu 31 Dec 2026 18:00 to Fri 01 Jan 2027 06:00" in periods


@pytest.mark.parametrize(
    ("monday", "sunday_two"),
    [
        # 29 Mar 2026 02:00 did not happen in Vienna: three weeks of it, not four.
        ("2026-03-09", 180),
        # 25 Oct 2026 02:00-03:00 happened twice: five hours of it in four weeks.
        ("2026-10-05", 300),
    ],
)
def test_the_coverage_grid_counts_real_minutes_across_daylight_saving(
    monday: str, sunday_two: int
) -> None:
    """Each local hour got 60 minutes whatever the clock did: 240 in both weeks."""
    from datetime import date

    from replygate.api.review_page.views import coverage_maps

    zone, (only,) = coverage_maps(time_policy(), date.fromisoformat(monday))
    assert zone == "Europe/Vienna"
    grid = dict(only.grid)
    assert grid["Sun"][2] == sunday_two
    assert grid["Sun"][12] == 0  # on duty
    total = sum(sum(hours) for hours in grid.values()) / 60
    assert total == pytest.approx(only.gap_hours, abs=0.1)


def test_the_coverage_weeks_start_at_local_monday_midnight() -> None:
    """They started at Monday 00:00 UTC: the first night's 00:00-01:00 in Vienna was left out."""
    from datetime import UTC, date, datetime

    from replygate.api.review_page.views import coverage_maps, coverage_monday

    policy = time_policy()
    # Sunday 23:30 UTC is already Monday in Vienna.
    assert coverage_monday(policy, datetime(2026, 11, 29, 23, 30, tzinfo=UTC)) == date(2026, 11, 30)
    _, (only,) = coverage_maps(policy, date(2026, 11, 30))
    assert only.windows[0].startswith("Mon 30 Nov 00:00 to Mon 30 Nov 06:45")


def test_the_api_docs_page_pins_its_scripts_and_allows_no_other(client: TestClient) -> None:
    """FastAPI's /docs loaded swagger-ui-dist@5 from a CDN with no integrity check and no
    Content-Security-Policy, on the origin of the signed-in review pages."""
    import base64
    import hashlib

    answer = client.get("/docs")
    assert answer.status_code == 200
    policy = answer.headers["content-security-policy"]
    scripts = re.findall(r"<script[^>]*>", answer.text)
    assert all('integrity="sha384-' in tag for tag in scripts if "src=" in tag)
    assert re.search(r'<link[^>]*swagger-ui\.css"[^>]*integrity="sha384-', answer.text)
    (inline,) = re.findall(r"<script>(.*?)</script>", answer.text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy
    assert "default-src 'none'" in policy and "'unsafe-inline'" not in policy.split("style-src")[0]
    assert answer.headers["x-frame-options"] == "DENY"
    assert client.get("/redoc").status_code == 404


class _Swapping:
    """A source whose policy is swapped for `after` once the page has read it (as a follower
    swaps a new commit in while a page is being made)."""

    def __init__(self, source: Any, after: Any) -> None:
        self._source, self._after, self._reads = source, after, 0

    @property
    def current(self) -> Any:
        self._reads += 1
        return self._source.current if self._reads == 1 else self._after

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)


@pytest.mark.parametrize("path", ["/team", "/rules", "/time", "/playground"])
def test_the_footer_names_the_policy_the_page_was_made_from(client: TestClient, path: str) -> None:
    """Found by a consistency probe: the footer read the serving policy again, and named a
    commit swapped in meanwhile under the previous commit's decisions (19 of 1,934 pages)."""
    sign_in(client)
    service = client.app.state.service  # type: ignore[attr-defined]
    served = service.source.current
    newer = copy.copy(served)
    newer.version = served.version.model_copy(update={"commit": "b" * 40})
    service.source = _Swapping(service.source, newer)
    page = client.get(path)
    assert page.status_code == 200
    assert "folder " in page.text and "commit bbbbbbbbbbbb" not in page.text
