"""The review pages in a real browser: Debian's chromium driven by Playwright.

One `replygate serve` process follows a git repository whose `main` holds the bundled policy;
an earlier commit required the comms lead's approval from 5,000 followers, so the change to
`main` widens. Every page is checked for console errors (with the Content-Security-Policy in
force) and for accessibility violations (axe-core, injected in a context that bypasses the CSP),
and a screenshot of each is saved to `REPLYGATE_ARTIFACTS` (default `build/screenshots`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from replygate.api.auth import inline_keys
from replygate.api.schemas import EXAMPLE_REQUEST
from tests.gitrepo import commit_policies, example_sources, make_repo
from tests.test_api_server import Server

ROOT = Path(__file__).resolve().parent.parent.parent
AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("REPLYGATE_ARTIFACTS", ROOT / "build" / "screenshots"))
REVIEWER = "rg_browser_reviewer_key_0123456789"
AUDITOR = "rg_browser_auditor_key_0123456789"
PUBLISHER = "rg_browser_publisher_key_0123456789"
README_REQUEST: dict[str, Any] = EXAMPLE_REQUEST  # the README's example


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Debian's chromium package is needed: apt-get install chromium (.ci/run does)"
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("review-browser")
    repo = make_repo(tmp)
    sources = example_sources()
    stricter = {
        path: text.replace("post.author_reach >= 10000", "post.author_reach >= 5000")
        for path, text in sources.items()
    }
    assert stricter != sources
    commit_policies(repo, stricter, "Comms lead approves from 5,000 followers")
    commit_policies(repo, sources, "Comms lead approves from 10,000 followers")
    keys = inline_keys(
        [
            ("reviewer", REVIEWER, ["review"]),
            ("auditor", AUDITOR, ["review", "audit"]),
            ("publisher", PUBLISHER, ["check"]),
        ]
    )
    server = Server(
        tmp,
        "--repo",
        str(repo.working_tree_dir),
        "--ref",
        "main",
        "--decision-log",
        f"sqlite:///{tmp / 'decisions.db'}",
        env={"REPLYGATE_API_KEYS": keys, "REPLYGATE_SESSION_SECRET": "s" * 64},
    )
    try:
        server.wait_ready()
        for actor in ("carol", "alice", "carol"):
            request = {**README_REQUEST, "actor": {"id": actor}}
            answer = httpx.post(
                f"{server.url}/v1/check",
                json=request,
                headers={"Authorization": f"Bearer {PUBLISHER}"},
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="module")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    launched = playwright_instance.chromium.launch(
        executable_path=chromium(), args=["--no-sandbox", "--disable-dev-shm-usage"]
    )
    yield launched
    launched.close()


def signed_in(browser: Browser, server: Server, key: str, **options: Any) -> BrowserContext:
    context = browser.new_context(base_url=server.url, **options)
    page = context.new_page()
    page.goto("/sign-in")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/")
    page.close()
    return context


@pytest.fixture
def reviewer(browser: Browser, server: Server) -> Iterator[BrowserContext]:
    context = signed_in(browser, server, REVIEWER)
    yield context
    context.close()


@pytest.fixture
def auditor(browser: Browser, server: Server) -> Iterator[BrowserContext]:
    context = signed_in(browser, server, AUDITOR)
    yield context
    context.close()


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


class TestAccess:
    def test_a_page_without_a_session_sends_to_the_sign_in_form(
        self, browser: Browser, server: Server
    ) -> None:
        context = browser.new_context(base_url=server.url)
        page = context.new_page()
        page.goto("/team")
        assert page.url.startswith(f"{server.url}/sign-in")
        assert page.get_by_label("API key").is_visible()
        context.close()

    def test_a_wrong_key_is_refused_and_a_check_key_lacks_the_scope(
        self, browser: Browser, server: Server
    ) -> None:
        context = browser.new_context(base_url=server.url)
        page = context.new_page()
        for key, words in (("rg_not_a_key", "not valid"), (PUBLISHER, "lacks the 'review'")):
            page.goto("/sign-in")
            page.get_by_label("API key").fill(key)
            page.get_by_role("button", name="Sign in").click()
            assert words in page.get_by_role("alert").inner_text()
        context.close()

    def test_sign_in_then_sign_out(self, browser: Browser, server: Server) -> None:
        context = signed_in(browser, server, REVIEWER)
        page = context.new_page()
        page.goto("/")
        cookies = {c["name"]: c for c in context.cookies()}
        session = cookies["replygate_session"]
        assert session["httpOnly"] and session["sameSite"] == "Lax"
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{server.url}/sign-in")
        page.goto("/rules")
        assert page.url.startswith(f"{server.url}/sign-in")
        context.close()

    def test_the_decisions_page_needs_the_audit_scope(self, reviewer: BrowserContext) -> None:
        page = reviewer.new_page()
        response = page.goto("/decisions")
        assert response is not None and response.status == 403
        assert "audit" in page.get_by_role("alert").inner_text()


class TestPages:
    def test_the_authority_matrix(self, reviewer: BrowserContext) -> None:
        page = reviewer.new_page()
        page.goto("/team")
        cell = page.locator('#people td[data-row="carol"][data-kind="reply:negative:complaint:0"]')
        assert cell.locator(".answer").inner_text() == "allow"
        viral = page.locator(
            '#people td[data-row="carol"][data-kind="reply:negative:complaint:10000"]'
        )
        assert viral.locator(".answer").inner_text() == "approval from comms_lead"
        role = page.locator('#roles td[data-row="agent"][data-kind="reply:negative:complaint:0"]')
        assert role.locator(".answer").inner_text() == "escalate to senior_agent"
        screenshot(page, "team")

    def test_the_playground_decides_the_readme_example(self, reviewer: BrowserContext) -> None:
        page = reviewer.new_page()
        page.goto("/playground")
        page.get_by_text("Raw JSON request").click()
        import json

        page.get_by_label("Request as JSON").fill(json.dumps(README_REQUEST))
        page.get_by_role("button", name="Decide the JSON").click()
        verdict = page.locator(".verdict")
        assert verdict.get_attribute("data-decision") == "approval_required"
        assert "comms_lead" in verdict.inner_text()
        assert page.get_by_role("link", name="policies/care.policy:28").is_visible()
        # The address carries the request: opening it again gives the same answer.
        again = reviewer.new_page()
        again.goto(page.url)
        assert again.locator(".verdict").get_attribute("data-decision") == "approval_required"
        screenshot(page, "playground")

    def test_the_changes_page_shows_the_widening(self, reviewer: BrowserContext) -> None:
        page = reviewer.new_page()
        page.goto("/changes")
        page.get_by_label("Before (base)").fill("main~1")
        page.get_by_label("After (head)").fill("main")
        page.get_by_role("button", name="Compare").click()
        alert = page.locator(".widening")
        assert "Widening" in alert.inner_text()
        assert "comms_lead" in page.locator("#what-h + article").inner_text()
        assert page.get_by_text("viral-negative-needs-comms-lead").first.is_visible()
        screenshot(page, "changes")

    def test_the_time_page_shows_the_uncovered_night(self, reviewer: BrowserContext) -> None:
        page = reviewer.new_page()
        page.goto("/time")
        # Coverage is computed in the background; the page says so until it is there.
        for _ in range(20):
            if page.locator("article.coverage").count():
                break
            page.reload()
        complaints = page.locator("article.coverage.has-gap").filter(has_text="complaint").first
        assert "Not covered" in complaints.inner_text()
        night = complaints.locator("tbody tr").nth(1).locator("td").nth(2)  # Tuesday 02:00
        assert night.get_attribute("class") == "heat-4"
        day = complaints.locator("tbody tr").nth(1).locator("td").nth(12)  # Tuesday 12:00
        assert day.get_attribute("class") == "heat-0"
        evenings = page.locator("#roster-care-evenings")
        assert "carol" in evenings.inner_text() or "ivan" in evenings.inner_text()
        screenshot(page, "time")

    def test_the_playground_shows_who_can_answer(self, reviewer: BrowserContext) -> None:
        page = reviewer.new_page()
        import json

        late = {**README_REQUEST, "at": "2026-12-05T22:15:00+01:00"}
        late["post"] = {**README_REQUEST["post"], "received_at": "2026-12-05T22:10:00+01:00"}
        page.goto("/playground?" + urlencode({"mode": "json", "json": json.dumps(late)}))
        dave = page.locator('table.route tr[data-person="dave"]')
        assert "yes" in dave.inner_text()

    def test_the_decisions_page_filters_by_actor(self, auditor: BrowserContext) -> None:
        page = auditor.new_page()
        page.goto("/decisions")
        assert page.locator("tr[data-actor]").count() == 3
        page.get_by_label("Actor").fill("carol")
        page.get_by_role("button", name="Filter").click()
        actors = page.locator("tr[data-actor]")
        assert actors.count() == 2
        assert {actors.nth(i).get_attribute("data-actor") for i in range(2)} == {"carol"}
        page.get_by_role("button", name="Verify the log now").click()
        assert "Intact" in page.get_by_role("status").inner_text()
        screenshot(page, "decisions")


PAGES = (
    "/",
    "/team",
    "/rules",
    "/time",
    "/playground",
    "/changes?base=main~1&head=main",
    "/decisions",
)


@pytest.mark.parametrize("path", PAGES)
def test_no_console_errors(browser: Browser, server: Server, path: str) -> None:
    context = signed_in(browser, server, AUDITOR)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    response = page.goto(path)
    assert response is not None and response.status == 200
    page.wait_for_load_state("load")
    assert problems == []
    name = path.strip("/").split("?")[0].replace("/", "-") or "overview"
    screenshot(page, name)
    context.close()


@pytest.mark.parametrize("width", [360, 1280])
@pytest.mark.parametrize("path", PAGES)
def test_no_accessibility_violations(
    browser: Browser, server: Server, path: str, width: int
) -> None:
    context = signed_in(
        browser, server, AUDITOR, bypass_csp=True, viewport={"width": width, "height": 800}
    )
    page = context.new_page()
    page.goto(path)
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    violations = [
        f"{v['id']}: {v['help']} ({len(v['nodes'])}x, e.g. {v['nodes'][0]['target']})"
        for v in result["violations"]
    ]
    assert violations == []
    context.close()


def test_the_api_docs_run_no_script_but_the_pinned_swagger_ui(
    browser: Browser, server: Server
) -> None:
    """/docs loaded `swagger-ui-dist@5` from a CDN unchecked, on the review pages' origin:
    whatever the CDN served ran there. Bytes other than the pinned file's are refused."""
    context = browser.new_context(base_url=server.url)
    page = context.new_page()
    ran: list[str] = []

    def forged(route: Any) -> None:
        script = route.request.url.endswith(".js")
        route.fulfill(
            status=200,
            content_type="application/javascript" if script else "text/css",
            body="window.__forged = true;" if script else "body { display: none }",
        )

    page.route("https://cdn.jsdelivr.net/**", forged)
    page.on("console", lambda m: ran.append(m.text))
    response = page.goto("/docs")
    assert response is not None and response.status == 200
    page.wait_for_load_state("load")
    assert page.evaluate("window.__forged") is None
    assert any("integrity" in text for text in ran), ran
    context.close()
