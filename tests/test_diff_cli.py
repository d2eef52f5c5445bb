"""`replygate diff` on real git repositories: rule changes, decision impact, formats, the gate."""

from __future__ import annotations

import json
import re
import shutil
import sys
import types
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from gitrepo import commit_policies, example_sources, make_repo

from replygate.cli.main import main
from replygate.engine.models import CheckRequest

VIENNA = ZoneInfo("Europe/Vienna")
CARE = "policies/care.policy"
HOURS = "policies/hours.policy"
TEAM = "policies/team.policy"
SAFETY = "policies/safety.policy"

# Each branch of the shared repository: one known change to the example policy on `main`.
BRANCHES: dict[str, list[tuple[str, str, str]]] = {
    "threshold": [(CARE, "author_reach >= 10000", "author_reach >= 5000")],
    "wider-role": [
        (TEAM, "role senior_agent extends agent", "role senior_agent extends agent, legal")
    ],
    "renamed": [(SAFETY, "rule no-promises-of-outcomes", "rule no-guarantees-promised")],
    "early-close": [(HOURS, "08:00-18:00", "08:00-17:00")],
    "broken": [(CARE, "by senior_agent\n", "by senior_agnet\n")],
}


def edited(edits: list[tuple[str, str, str]]) -> dict[str, str]:
    files = example_sources()
    for file, old, new in edits:
        assert old in files[file], old
        files[file] = files[file].replace(old, new, 1)
    return files


def one_line(text: str) -> str:
    """The same policy with every declaration on one line and no comments: a layout change only."""
    return re.sub(r"\s+", " ", re.sub(r"#[^\n]*", "", text)).strip() + "\n"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    git_repo = make_repo(tmp_path_factory.mktemp("diff"))
    commit_policies(git_repo, example_sources(), "The example policy")
    for branch, edits in BRANCHES.items():
        git_repo.git.checkout("--quiet", "-b", branch, "main")
        commit_policies(git_repo, edited(edits), f"Change: {branch}")
    git_repo.git.checkout("--quiet", "-b", "layout", "main")
    commit_policies(git_repo, {k: one_line(v) for k, v in example_sources().items()}, "Layout only")
    git_repo.git.checkout("--quiet", "main")
    yield Path(str(git_repo.working_tree_dir))


def diff(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["diff", *args])
    out, err = capsys.readouterr()
    return code, out, err


def diff_json(capsys: pytest.CaptureFixture[str], repo: Path, *args: str) -> dict[str, Any]:
    code, out, err = diff(capsys, *args, "--repo", str(repo), "--format", "json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


class TestKnownChanges:
    def test_threshold_moved_in_text(self, capsys: pytest.CaptureFixture[str], repo: Path) -> None:
        code, out, err = diff(
            capsys, "main", "threshold", "--repo", str(repo), "--fail-on", "widening"
        )
        assert (code, err) == (0, "")  # a narrowing change passes the gate
        assert "changed  viral-negative-needs-comms-lead  (policies/care.policy:28:1)" in out
        assert "- when post.sentiment == negative and post.author_reach >= 10000" in out
        assert "+ when post.sentiment == negative and post.author_reach >= 5000" in out
        assert "NARROWING  allow → approval_required[comms_lead]" in out
        assert "WIDENING" not in out

    def test_threshold_moved_in_json(self, capsys: pytest.CaptureFixture[str], repo: Path) -> None:
        data = diff_json(capsys, repo, "main", "threshold", "--examples", "10")
        assert data["summary"]["rules"] == {"changed": 1, "renamed": 0, "added": 0, "removed": 0}
        assert data["summary"]["widening"] == 0
        groups = data["impact"]["groups"]
        assert {(g["from"], g["to"], g["class"]) for g in groups} == {
            ("allow", "approval_required[comms_lead]", "narrowing"),
            # labelled legal_threat: legal's approval before, both now
            ("approval_required[legal]", "approval_required[comms_lead, legal]", "narrowing"),
            # naming a competitor: marketing's approval before, comms_lead's too now
            (
                "approval_required[marketing]",
                "approval_required[comms_lead, marketing]",
                "narrowing",
            ),
            # both: approvers add up (each approval rule's trigger added to a changed request)
            (
                "approval_required[legal, marketing]",
                "approval_required[comms_lead, legal, marketing]",
                "narrowing",
            ),
        }
        group = next(g for g in groups if g["from"] == "allow")
        assert sum(g["count"] for g in groups) == data["summary"]["narrowing"]
        assert data["summary"]["narrowing"] == data["summary"]["changed"]
        reaches = set()
        for example in group["examples"]:
            request = CheckRequest.model_validate(example["request"])  # replayable as it is
            assert request.post is not None
            reaches.add(request.post.author_reach)
            assert example["rule_before"] == "senior-agents-reply-to-negative"
            assert example["rule_after"] == "viral-negative-needs-comms-lead"
        assert {5000, 9999} <= reaches <= set(range(5000, 10000))

    def test_a_widened_role_is_an_authority_change_and_widens(
        self, capsys: pytest.CaptureFixture[str], repo: Path
    ) -> None:
        code, out, _ = diff(capsys, "main", "wider-role", "--repo", str(repo))
        assert code == 0
        assert "role senior_agent changed: extends: agent → agent, legal" in out
        assert "person carol gained legal (extends change: senior_agent now inherits legal)" in out
        assert "WIDENING   approval_required[legal] → allow" in out
        code, _, _ = diff(
            capsys, "main", "wider-role", "--repo", str(repo), "--fail-on", "widening"
        )
        assert code == 1

    def test_a_rename_is_reported_once_and_changes_nothing(
        self, capsys: pytest.CaptureFixture[str], repo: Path
    ) -> None:
        code, out, _ = diff(capsys, "main", "renamed", "--repo", str(repo), "--fail-on", "widening")
        assert code == 0
        assert "renamed  no-promises-of-outcomes → no-guarantees-promised  (same content" in out
        assert "Rules: 0 changed, 1 renamed, 0 added, 0 removed." in out
        assert "no generated request changes its decision" in out

    def test_a_layout_change_is_no_change(
        self, capsys: pytest.CaptureFixture[str], repo: Path
    ) -> None:
        data = diff_json(capsys, repo, "main", "layout")
        assert data["rules"] == data["declarations"] == data["impact"]["groups"] == []
        assert data["summary"]["authority"] == 0

    def test_closing_at_17_narrows_posts_from_17_00_to_17_59(
        self, capsys: pytest.CaptureFixture[str], repo: Path
    ) -> None:
        data = diff_json(capsys, repo, "main", "early-close", "--examples", "20")
        group, labelled = data["impact"]["groups"]
        assert (labelled["from"], labelled["to"]) == ("approval_required[legal]", "deny")
        assert (group["from"], group["to"], group["class"]) == ("allow", "deny", "narrowing")
        for example in group["examples"]:
            at = datetime.fromisoformat(example["request"]["at"]).astimezone(VIENNA)
            assert (example["summary"]["actor"], at.hour) == ("frank", 17)
        minutes = {
            datetime.fromisoformat(e["request"]["at"]).astimezone(VIENNA).minute
            for e in group["examples"]
        }
        assert {0, 59} <= minutes

    def test_the_same_change_backwards_widens_and_fails_the_gate(
        self, capsys: pytest.CaptureFixture[str], repo: Path
    ) -> None:
        code, out, _ = diff(
            capsys, "threshold", "main", "--repo", str(repo), "--fail-on", "widening"
        )
        assert code == 1
        assert "WIDENING   approval_required[comms_lead] → allow" in out


class TestFormats:
    def test_json_schema(self, capsys: pytest.CaptureFixture[str], repo: Path) -> None:
        data = diff_json(capsys, repo, "main", "wider-role", "--examples", "1")
        assert data["schema"] == "replygate.diff/1"
        assert set(data) == {
            "schema",
            "base",
            "head",
            "summary",
            "rules",
            "declarations",
            "authority",
            "impact",
            "scenarios",
            "coverage",  # the bundled policy has rosters (docs/review.md, section 6)
        }
        assert set(data["base"]) == {"label", "commit", "files"}
        assert data["base"]["label"] == "main" and len(data["base"]["commit"]) == 40
        assert set(data["summary"]) >= {"requests", "decisions", "widening", "narrowing", "widens"}
        assert data["summary"]["widens"] is True
        assert data["summary"]["decisions"] == 2 * data["summary"]["requests"]
        holders = {h["holder"]: h for h in data["authority"]["holders"]}
        assert holders["carol"]["gained"] == [
            {"role": "legal", "via": "extends change: senior_agent now inherits legal"}
        ]
        group = data["impact"]["groups"][0]
        assert set(group) == {
            "from",
            "to",
            "class",
            "count",
            "before",
            "after",
            "cause",
            "summary",
            "examples",
        }
        assert group["cause"]["kind"] == "authority"
        # carol gained legal: her approval now clears replies and new posts alike (the new
        # posts were found once someone gaining an approver role was tried as approver).
        assert group["summary"] == (
            "Replies and new posts, by 10 people and groups, e.g. frank (also in care-team), alice, "
            "bob, labelled "
            "legal_claim, legal_threat or mentions_price: needed approval from legal, are now "
            "allowed."
        )
        assert len(group["examples"]) == 1
        assert set(group["examples"][0]) == {"summary", "rule_before", "rule_after", "request"}
        assert data["scenarios"] == {
            "sources": [],
            "changed": [],
            "broken": [],
            "not_replayable": [],
        }

    def test_markdown_for_a_pull_request(
        self, capsys: pytest.CaptureFixture[str], repo: Path
    ) -> None:
        code, out, _ = diff(
            capsys, "main", "wider-role", "--repo", str(repo), "--format", "markdown"
        )
        assert code == 0
        assert out.startswith("### replygate diff: `main (")
        assert "> **This change widens decisions**" in out
        assert "| class | before | after | because | requests |" in out
        assert "| widening | `approval_required[legal]` | `allow` |" in out
        assert "<details><summary>widening: approval_required[legal] → allow" in out
        assert "#### Authority" in out
        assert "#### Scenarios whose outcome changes" in out

    def test_markdown_shows_rule_text_as_a_diff(
        self, capsys: pytest.CaptureFixture[str], repo: Path
    ) -> None:
        _, out, _ = diff(capsys, "main", "threshold", "--repo", str(repo), "--format", "markdown")
        assert "| changed | `viral-negative-needs-comms-lead` | conditions |" in out
        assert "```diff" in out
        assert "-     when post.sentiment == negative and post.author_reach >= 10000" in out
        assert "+     when post.sentiment == negative and post.author_reach >= 5000" in out


class TestSides:
    def test_the_work_tree_against_a_commit(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        git_repo = make_repo(tmp_path)
        commit_policies(git_repo, example_sources(), "The example policy")
        team = Path(str(git_repo.working_tree_dir)) / TEAM
        team.write_text(
            team.read_text(encoding="utf-8").replace(
                "person bob is agent", "person bob is agent, legal"
            ),
            encoding="utf-8",
        )
        code, out, _ = diff(capsys, "main", "WORKTREE", "--repo", str(git_repo.working_tree_dir))
        assert code == 0
        assert "BASE main (" in out and "HEAD WORKTREE" in out
        assert "person bob gained legal (direct assignment)" in out
        code, out, _ = diff(capsys, "WORKTREE", "main", "--repo", str(git_repo.working_tree_dir))
        assert "person bob lost legal (direct assignment removed)" in out

    def test_two_folders_need_no_repository(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for name, files in (("old", example_sources()), ("new", edited(BRANCHES["threshold"]))):
            for path, text in files.items():
                target = tmp_path / name / Path(path).name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
        monkeypatch.chdir(tmp_path)
        code, out, err = diff(capsys, "./old", "./new", "--fail-on", "widening")
        assert (code, err) == (0, "")
        assert "changed  viral-negative-needs-comms-lead  (new/care.policy:28:1)" in out


class TestBadInput:
    def test_a_broken_head_is_reported_with_its_position(
        self, capsys: pytest.CaptureFixture[str], repo: Path
    ) -> None:
        code, out, err = diff(capsys, "main", "broken", "--repo", str(repo))
        assert (code, out) == (2, "")
        assert "replygate: error: HEAD (broken) does not compile:" in err
        assert re.search(
            r"^policies/care\.policy:\d+:\d+: error: unknown role 'senior_agnet'", err, re.M
        )
        assert "help: did you mean 'senior_agent'?" in err
        assert "Traceback" not in err

    def test_both_broken_sides_are_reported(
        self, capsys: pytest.CaptureFixture[str], repo: Path
    ) -> None:
        code, _, err = diff(capsys, "broken", "broken", "--repo", str(repo))
        assert code == 2
        assert "BASE (broken) does not compile" in err and "HEAD (broken) does not compile" in err

    @pytest.mark.parametrize(
        ("rev", "message"),
        [
            ("--upload-pack=touch /tmp/x", "starts with '-'"),
            ("main..threshold", "'..'"),
            ("main@{1}", "'@'"),
            ("no-such-branch", "unknown revision 'no-such-branch'"),
        ],
    )
    def test_hostile_and_unknown_revisions_are_refused(
        self, capsys: pytest.CaptureFixture[str], repo: Path, rev: str, message: str
    ) -> None:
        code, out, err = diff(capsys, "--repo", str(repo), "--", rev, "main")
        assert (code, out) == (2, "")
        assert err.startswith("replygate: error: ")
        assert message in err

    def test_a_file_that_is_not_text(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / "bad").mkdir()
        (tmp_path / "bad" / "care.policy").write_bytes(b"\xff\xfe rule")
        monkeypatch.chdir(tmp_path)
        code, _, err = diff(capsys, "./bad", "./bad")
        assert code == 2
        assert (
            "bad/care.policy:1:1: error: not UTF-8 text: the byte 0xff here cannot be decoded "
            "[not-utf8]" in err
        )
        assert "Traceback" not in err

    def test_not_a_repository(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        code, _, err = diff(capsys, "main", "WORKTREE", "--repo", str(tmp_path))
        assert code == 2
        assert "is not a git repository" in err

    def test_a_missing_features_folder(
        self, capsys: pytest.CaptureFixture[str], repo: Path, tmp_path: Path
    ) -> None:
        missing = str(tmp_path / "nowhere")
        code, _, err = diff(capsys, "main", "threshold", "--repo", str(repo), "--features", missing)
        assert code == 2
        assert f"--features {missing}: no such folder" in err


def named_request(actor: str, reach: int) -> CheckRequest:
    return CheckRequest.model_validate(
        {
            "actor": {"id": actor},
            "action": "reply",
            "channel": "twitter",
            "post": {
                "id": "t-1",
                "sentiment": "negative",
                "category": "complaint",
                "author_reach": reach,
                "received_at": "2026-11-27T21:40:00+01:00",
            },
            "at": "2026-11-27T21:45:00+01:00",
        }
    )


class TestNamedRequests:
    def test_scenarios_whose_outcome_changes(
        self,
        capsys: pytest.CaptureFixture[str],
        repo: Path,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        seen: list[str] = []

        def scenario_requests(features: str) -> list[tuple[str, CheckRequest]]:
            seen.append(features)
            return [
                ("carol answers a mid-sized complaint", named_request("carol", 7000)),
                ("carol answers a small complaint", named_request("carol", 100)),
            ]

        fake = types.ModuleType("replygate.scenarios.corpus")
        fake.scenario_requests = scenario_requests  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "replygate.scenarios.corpus", fake)
        data = diff_json(capsys, repo, "main", "threshold", "--features", str(tmp_path))
        assert seen == [str(tmp_path)]
        assert data["scenarios"]["sources"] == [
            {
                "source": "scenario",
                "location": str(tmp_path),
                "status": "used",
                "requests": 2,
                "note": None,
            }
        ]
        (changed,) = data["scenarios"]["changed"]
        assert (changed["name"], changed["from"], changed["to"], changed["class"]) == (
            "carol answers a mid-sized complaint",
            "allow",
            "approval_required[comms_lead]",
            "narrowing",
        )
        _, out, _ = diff(
            capsys,
            "main",
            "threshold",
            "--repo",
            str(repo),
            "--features",
            str(tmp_path),
            "--format",
            "markdown",
        )
        assert "| carol answers a mid-sized complaint | scenario | `allow` |" in out

    def test_scenarios_whose_expectation_the_change_breaks_lead_the_report(
        self,
        capsys: pytest.CaptureFixture[str],
        repo: Path,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        def scenario_checks(features: str) -> list[tuple[str, CheckRequest, dict[str, Any]]]:
            allowed = {"decision": "allow", "roles": [], "negated": False}
            return [
                (
                    "carol answers a mid-sized complaint",
                    named_request("carol", 7000),
                    {**allowed, "where": "features/care.feature:12"},
                ),
                (
                    "carol answers a small complaint",
                    named_request("carol", 100),
                    {**allowed, "where": "features/care.feature:20"},
                ),
                (
                    "a wrong expectation from before",
                    named_request("carol", 100),
                    {**allowed, "decision": "deny", "where": "features/care.feature:30"},
                ),
            ]

        fake = types.ModuleType("replygate.scenarios.corpus")
        fake.scenario_checks = scenario_checks  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "replygate.scenarios.corpus", fake)
        args = ("main", "threshold", "--repo", str(repo), "--features", str(tmp_path))
        _, out, _ = diff(capsys, *args)
        lines = out.splitlines()
        assert lines[2] == "BROKEN SCENARIOS: 1 scenario no longer gets the outcome it expects:"
        assert lines[3] == (
            "  carol answers a mid-sized complaint (features/care.feature:12): expects allow, "
            "HEAD gives approval_required[comms_lead] "
            "(deciding rule: viral-negative-needs-comms-lead)"
        )
        assert out.index("BROKEN SCENARIOS") < out.index("What changes")
        assert "a wrong expectation from before (" not in out
        assert "1 scenario already failed on BASE and still fails" in out
        data = diff_json(capsys, repo, *args)
        assert data["summary"]["scenarios_broken"] == 1
        broken = {b["name"]: b for b in data["scenarios"]["broken"]}
        assert broken["carol answers a mid-sized complaint"]["location"] == (
            "features/care.feature:12"
        )
        assert broken["carol answers a mid-sized complaint"]["held_on_base"] is True
        assert broken["a wrong expectation from before"]["held_on_base"] is False
        _, out, _ = diff(capsys, *args, "--format", "markdown")
        assert "> **1 scenario no longer gets the outcome it expects:**" in out
        assert "> - carol answers a mid-sized complaint (`features/care.feature:12`)" in out

    def test_a_missing_scenario_module_is_skipped_with_a_note(
        self,
        capsys: pytest.CaptureFixture[str],
        repo: Path,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setitem(sys.modules, "replygate.scenarios.corpus", None)
        code, out, _ = diff(
            capsys, "main", "threshold", "--repo", str(repo), "--features", str(tmp_path)
        )
        assert code == 0
        assert f"scenario requests from {tmp_path} skipped: replygate.scenarios.corpus" in out

    def test_logged_requests_that_widen_fail_the_gate(
        self, capsys: pytest.CaptureFixture[str], repo: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def iter_requests(url: str) -> Iterator[tuple[str, CheckRequest]]:
            assert url == "sqlite:///decisions.db"
            yield "decision 7f3a", named_request("carol", 7000)

        fake = types.ModuleType("replygate.decision_log")
        fake.iter_requests = iter_requests  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "replygate.decision_log", fake)
        code, out, _ = diff(
            capsys,
            "threshold",
            "main",
            "--repo",
            str(repo),
            "--decision-log",
            "sqlite:///decisions.db",
            "--fail-on",
            "widening",
        )
        assert code == 1
        assert (
            "WIDENING   decision 7f3a [decision-log]: approval_required[comms_lead] → allow" in out
        )


class TestRealSources:
    """The hooks against the real scenario corpus and a real decision log, not stand-ins."""

    def test_the_bundled_scenarios(self, capsys: pytest.CaptureFixture[str], repo: Path) -> None:
        features = Path(__file__).resolve().parent.parent / "features"
        data = diff_json(capsys, repo, "main", "threshold", "--features", str(features))
        (source,) = data["scenarios"]["sources"]
        assert (source["source"], source["status"]) == ("scenario", "used")
        assert source["requests"] > 0
        moved = {(c["from"], c["to"]) for c in data["scenarios"]["changed"]}
        assert moved == {("allow", "approval_required[comms_lead]")}

    def test_the_bundled_scenarios_the_threshold_breaks(
        self, capsys: pytest.CaptureFixture[str], repo: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        root = Path(__file__).resolve().parent.parent
        monkeypatch.chdir(root)
        data = diff_json(capsys, repo, "main", "threshold", "--features", "features")
        broken = {b["name"]: b for b in data["scenarios"]["broken"] if b["held_on_base"]}
        boundary = broken["care: The reach boundary lies between 9,999 and 10,000 followers"]
        assert boundary["location"] == "features/care.feature:46"
        assert (boundary["expected_text"], boundary["head"]["decision"]) == (
            "allow",
            "approval_required",
        )
        assert data["summary"]["scenarios_broken"] == len(broken) == 2

    def test_a_sqlite_decision_log(
        self, capsys: pytest.CaptureFixture[str], repo: Path, tmp_path: Path
    ) -> None:
        from replygate.decision_log import DecisionRecord, open_decision_log

        url = f"sqlite:///{tmp_path / 'decisions.db'}"
        log = open_decision_log(url)
        ids = []
        for reach in (7000, 100):
            request = named_request("carol", reach)
            record = DecisionRecord.new(
                request.model_dump(mode="json"), {"decision": "allow"}, "tool", None, None, 1.0
            )
            ids.append(record.decision_id)
            log.submit(record)
        log.close()
        code, out, _ = diff(
            capsys,
            "main",
            "threshold",
            "--repo",
            str(repo),
            "--decision-log",
            url,
            "--format",
            "json",
            "--fail-on",
            "widening",
        )
        assert code == 0
        data = json.loads(out)
        assert data["scenarios"]["sources"][0]["requests"] == 2
        (changed,) = data["scenarios"]["changed"]
        assert (changed["name"], changed["source"], changed["class"]) == (
            ids[0],
            "decision-log",
            "narrowing",
        )


# ---- widenings the generated space missed (found by probing the diff, 2026-12-02) ------------

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # 3 lowered to 2: only 3 approvers were ever tried.
        (
            "person kim is legal\nrule three { require 3 approvals from legal on post by marketing }\n",
            "person kim is legal\nrule three { require 2 approvals from legal on post by marketing }\n",
        ),
        # A person gains an approver role: they were never tried as an approver.
        (
            "role brand\nperson yan is brand\n"
            "rule promo { require approval from brand on reply by agent }\n",
            "role brand\nperson yan is brand\nperson zed is brand\n"
            "rule promo { require approval from brand on reply by agent }\n",
        ),
        # Three phrases added and one removed: the removed one was pushed out of the three tried.
        (
            'list rivals "Zeta One", "Omega Two"\n'
            "rule rivals { require approval from marketing on reply by agent "
            "when content.text mentions any of rivals }\n",
            'list rivals "Zeta One", "Beta Co", "Gamma Inc", "Delta Ltd"\n'
            "rule rivals { require approval from marketing on reply by agent "
            "when content.text mentions any of rivals }\n",
        ),
        # A response time for one channel: only the plain one per category was probed.
        (
            "respond to complaint within 10m via twitter\n",
            "respond to complaint within 25m via twitter\n",
        ),
        # Removed, for a channel no rule names: it was merged into another channel's class.
        ("respond to complaint within 10m via facebook\n", "# removed\n"),
        # Longer roster hours, read by `actor on duty`: roster edges were never tried.
        (
            'roster zz-desk { members carol zone "Europe/Vienna" open mon-fri 12:00-18:00 }\n'
            "rule zz-off-duty { deny on reply by senior_agent unless actor on duty in zz-desk "
            'message "off duty" }\n',
            'roster zz-desk { members carol zone "Europe/Vienna" open mon-fri 12:00-20:00 }\n'
            "rule zz-off-duty { deny on reply by senior_agent unless actor on duty in zz-desk "
            'message "off duty" }\n',
        ),
    ],
    ids=[
        "approval-count-lowered",
        "approver-role-gained",
        "phrase-removed",
        "channel-response-time-longer",
        "channel-response-time-removed",
        "roster-hours-longer",
    ],
)
def test_a_widening_the_space_once_missed_fails_the_gate(
    tmp_path: Path, before: str, after: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base, head = tmp_path / "base", tmp_path / "head"
    for folder, extra in ((base, before), (head, after)):
        shutil.copytree(ROOT / "policies", folder)
        (folder / "zz.policy").write_text(extra, encoding="utf-8")
    code = main(["diff", str(base), str(head), "--format", "json", "--fail-on", "widening"])
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["widening"] > 0, summary
    assert code == 1


@pytest.mark.parametrize(
    ("closed", "field"), [("closed every 12-31", "closed every"), ("holidays AT", "holidays")]
)
def test_removing_a_recurring_closed_date_is_a_widening(
    tmp_path: Path, closed: str, field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only `closed` dates were probed: removing `closed every 12-31` let marketing post on
    New Year's Eve, and the gate passed."""
    base, head = tmp_path / "base", tmp_path / "head"
    shutil.copytree(ROOT / "policies", base)
    shutil.copytree(ROOT / "policies", head)
    hours = base / "hours.policy"
    text = hours.read_text(encoding="utf-8")
    opening = "    open mon-fri 08:00-18:00\n"
    assert opening in text
    hours.write_text(text.replace(opening, opening + f"    {closed}\n", 1), encoding="utf-8")
    code = main(["diff", str(base), str(head), "--format", "json", "--fail-on", "widening"])
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["widening"] > 0
    assert code == 1
    (change,) = report["declarations"]  # listed, and named as the cause
    assert (change["kind"], change["name"]) == ("calendar", "office")
    assert [f["field"] for f in change["fields"]] == [field]


def example_sides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """`./base` and `./head`, each a copy of the example policy, the current folder above them."""
    for side in ("base", "head"):
        shutil.copytree(ROOT / "policies", tmp_path / side)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "base", tmp_path / "head"


def appended(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


@pytest.mark.parametrize(
    ("fmt", "headline"),
    [
        ("text", "WIDENING: a coverage gap opens (below)"),
        ("markdown", "> **This change widens decisions**: a coverage gap opens (below)"),
    ],
)
def test_a_gate_failed_by_a_coverage_gap_alone_says_so_at_the_top(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
    headline: str,
) -> None:
    """A shorter response time nobody on duty can meet: the job failed under "NARROWING"."""
    _, head = example_sides(tmp_path, monkeypatch)
    hours = head / "hours.policy"
    hours.write_text(hours.read_text().replace("complaint within 30m", "complaint within 20m"))
    code, out, _ = diff(
        capsys, "./base", "./head", "--format", fmt, "--fail-on", "widening",
        "--coverage-from", "2026-11-30T00:00:00+01:00",
    )  # fmt: skip
    assert code == 1
    assert headline in out.split("\n", 3)[2]  # right under the title


def test_an_age_threshold_moved_by_less_than_the_minute_around_it_widens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`> 2h` to `>= 2h1m` differs only between the two: the points a minute either side of
    each threshold all decide alike, and the gate passed."""
    rule = (
        "\nrule old-posts-go-up {\n escalate to senior_agent\n on reply\n by agent\n"
        ' when post.age > 2h\n unless actor is senior_agent\n message "x"\n}\n'
    )
    base, head = example_sides(tmp_path, monkeypatch)
    appended(base / "care.policy", rule)
    appended(head / "care.policy", rule.replace("post.age > 2h", "post.age >= 2h1m"))
    code, out, _ = diff(capsys, "./base", "./head", "--fail-on", "widening")
    assert code == 1
    assert "were escalated to senior_agent, are now allowed" in out


def test_removing_a_deny_that_only_meets_an_allow_at_its_own_values_widens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Product managers may answer feature requests (another rule); the removed deny stopped
    them above 50,000 followers. Rule by rule, no request had both, and the gate passed."""
    deny = (
        "\nrule pm-not-big {\n deny\n on reply\n by product_manager\n"
        ' when post.author_reach >= 50000\n message "x"\n}\n'
    )
    base, _ = example_sides(tmp_path, monkeypatch)
    appended(base / "care.policy", deny)
    code, out, _ = diff(capsys, "./base", "./head", "--fail-on", "widening")
    assert code == 1
    # grace alone, and grace as a member of care-team (an agent besides) on every category.
    assert (
        "Replies to posts from authors with 50,000 or more followers, by grace (also in "
        "care-team): were denied, "
        "are now allowed" in out
    )


def test_moving_an_escalation_rule_to_another_file_shows_the_target_it_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files are read in path order and, between targets neither of which inherits the other,
    the first escalation rule's is named: the move changed decisions, and diff said nothing."""
    rule = (
        "\nrule legal-threats-go-to-legal {\n escalate to legal\n on reply\n by anyone\n"
        ' when content has label legal_threat\n unless actor is legal\n message "x"\n}\n'
    )
    base, head = example_sides(tmp_path, monkeypatch)
    appended(base / "safety.policy", rule)
    (head / "a.policy").write_text(rule)  # read first
    code, out, _ = diff(capsys, "./base", "./head", "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["summary"]["rules"]["changed"] == 0
    assert any(
        group["from"].startswith("escalate") and group["to"] == "escalate[legal]"
        for group in report["impact"]["groups"]
    ), report["impact"]
