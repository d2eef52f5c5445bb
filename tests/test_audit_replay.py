"""`replygate audit verify` and `replygate replay` (and `diff --decision-log`) as a user runs them.

The log is filled with real decisions of the example policy; the "pull request" moves the
comms-lead threshold from 10,000 to 5,000 followers, so exactly the senior agents' replies to
negative posts by authors with 5,000 to 9,999 followers change.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from gitrepo import commit_policies, example_sources, make_repo

from replygate.cli.main import main
from replygate.decision_log import DecisionRecord, iter_requests, open_decision_log
from replygate.decision_log.replay import replay
from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.loader import load_policy
from replygate.engine.models import CheckRequest

ROOT = Path(__file__).resolve().parent.parent
THRESHOLD = "post.author_reach >= 10000"
REACHES = (4000, 7000, 9999, 12000)


def reply(actor: str, reach: int, text: str = "We are sorry.", at: str = "21:50") -> CheckRequest:
    return CheckRequest.model_validate(
        {
            "actor": {"id": actor},
            "action": "reply",
            "channel": "twitter",
            "post": {
                "id": f"t-{reach}",
                "sentiment": "negative",
                "category": "question",
                "author_reach": reach,
                "received_at": "2026-11-27T21:40:00+01:00",
            },
            "content": {"text": text},
            "at": f"2026-11-27T{at}:00+01:00",
        }
    )


def log_decisions(
    url: str, policy: CompiledPolicy, requests: list[CheckRequest], **options: Any
) -> list[str]:
    """Decide and log each request as the API does; the decision ids, in order."""
    ids = []
    with open_decision_log(url, **options) as log:
        for request in requests:
            record = DecisionRecord.new(
                request=request.model_dump(mode="json"),
                decision=policy.decide(request).model_dump(mode="json"),
                client="publisher",
                commit=None,
                ref=None,
                latency_ms=0.1,
            )
            log.submit(record)
            ids.append(record.decision_id)
    return ids


def moved_threshold(folder: Path) -> Path:
    """A copy of the example policy whose comms-lead threshold is 5,000 followers."""
    shutil.copytree(ROOT / "policies", folder)
    care = folder / "care.policy"
    text = care.read_text(encoding="utf-8")
    assert THRESHOLD in text
    care.write_text(text.replace(THRESHOLD, "post.author_reach >= 5000"), encoding="utf-8")
    return folder


@pytest.fixture
def logged(tmp_path: Path, example_policy: CompiledPolicy) -> tuple[str, dict[int, str]]:
    """A log of carol's (senior agent) and alice's (agent) replies at each reach."""
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    requests = [reply("carol", reach) for reach in REACHES] + [reply("alice", 7000)]
    ids = log_decisions(url, example_policy, requests)
    return url, dict(zip(REACHES, ids, strict=False))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---- replay ---------------------------------------------------------------------------------


def test_replay_lists_the_decisions_a_moved_threshold_changes(
    tmp_path: Path, logged: tuple[str, dict[int, str]]
) -> None:
    url, ids = logged
    result = replay(url, load_policy(moved_threshold(tmp_path / "head")))
    assert result.replayed == 5
    assert [change.decision_id for change in result.changes] == [ids[7000], ids[9999]]
    change = result.changes[0]
    assert (change.actor, change.before, change.after) == (
        "carol",
        "allow",
        "approval_required[comms_lead]",
    )
    assert (change.klass, change.rule_after) == ("narrowing", "viral-negative-needs-comms-lead")
    assert change.rule_before == "senior-agents-reply-to-negative"
    assert result.notes == []


def test_replay_command_prints_each_changed_decision(
    tmp_path: Path, logged: tuple[str, dict[int, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, ids = logged
    head = moved_threshold(tmp_path / "head")
    code, out, err = run(capsys, "replay", "--decision-log", url, "--policy", str(head))
    assert (code, err) == (0, "")
    assert f"Replayed 5 logged decisions under {head}." in out
    assert "2 would change (2 narrowing):" in out
    for reach in (7000, 9999):
        assert f"{ids[reach]}" in out
    assert (
        out.count("carol reply on twitter: allow → approval_required[comms_lead]  [narrowing]") == 2
    )
    assert "deciding rule: senior-agents-reply-to-negative → viral-negative-needs-comms-lead" in out
    assert ids[4000] not in out and ids[12000] not in out


def test_replay_against_git_revisions_and_the_change_gate(
    tmp_path: Path, logged: tuple[str, dict[int, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, ids = logged
    repo = make_repo(tmp_path)
    commit_policies(
        repo, example_sources(), "Example policy", date=datetime(2026, 11, 1, tzinfo=UTC)
    )
    moved = {
        name: text.replace(THRESHOLD, "post.author_reach >= 5000")
        for name, text in example_sources().items()
    }
    head = commit_policies(repo, moved, "Lower the comms-lead threshold")
    common = ("replay", "--decision-log", url, "--repo", str(repo.working_tree_dir))

    code, out, _ = run(capsys, *common, "--ref", "main", "--format", "json")
    report = json.loads(out)
    assert code == 0
    assert report["policy"]["commit"] == head
    assert [c["decision_id"] for c in report["changes"]] == [ids[7000], ids[9999]]
    assert report["narrowing"] == 2

    assert run(capsys, *common, "--ref", "main", "--fail-on", "change")[0] == 1
    assert run(capsys, *common, "--ref", "main", "--fail-on", "widening")[0] == 0
    code, out, _ = run(capsys, *common, "--ref", "main~1", "--fail-on", "change")
    assert code == 0
    assert "No decision would change." in out


def test_replay_only_since_a_time(
    tmp_path: Path, example_policy: CompiledPolicy, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    log_decisions(url, example_policy, [reply("carol", 7000)])
    replay = ("replay", "--decision-log", url, "--policy", str(moved_threshold(tmp_path / "head")))
    code, out, _ = run(capsys, *replay, "--since", "2999-01-01T00:00:00+00:00")
    assert code == 0
    assert "Replayed 0 logged decisions since 2999-01-01T00:00:00+00:00" in out
    code, out, _ = run(capsys, *replay)
    assert "Replayed 1 logged decision under" in out  # "1 logged decisions"


def competitor_rule(folder: Path) -> Path:
    """A copy of the example policy that also denies replies naming a competitor."""
    shutil.copytree(ROOT / "policies", folder)
    (folder / "competitors.policy").write_text(
        "rule no-competitor-names {\n    deny\n    on any\n    by anyone\n"
        "    when content.text matches /\\bacme\\b/i\n"
        '    message "Do not name competitors."\n}\n',
        encoding="utf-8",
    )
    return folder


@pytest.mark.parametrize("mode", ["hash", "drop"])
def test_a_change_a_redacted_field_explains_is_not_replayable_never_a_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    # Issue 11 item 8: with the default redaction the competitor rule sees a hash on replay, so
    # the denial it gave became a "widening" that was not real.
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    policy = load_policy(competitor_rule(tmp_path / "policy"))
    named = reply("carol", 4000, text="Try ACME instead.")
    plain, moved = reply("carol", 4000), reply("carol", 7000)
    denied, _, narrowed = log_decisions(
        url, policy, [named, plain, moved], redact={"content.text": mode}
    )
    head = tmp_path / "head"
    shutil.copytree(tmp_path / "policy", head)
    care = head / "care.policy"
    care.write_text(care.read_text().replace(THRESHOLD, "post.author_reach >= 5000"))

    result = replay(url, load_policy(head))
    assert [change.decision_id for change in result.changes] == [narrowed]  # a real change
    assert [item.decision_id for item in result.not_replayable] == [denied]
    assert result.not_replayable_by_rule() == {"no-competitor-names": 1}
    assert result.count("widening") == 0

    argv = ["replay", "--decision-log", url, "--policy", str(head), "--fail-on", "widening"]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert (
        "1 logged decision is not replayable and not counted as changes: it depends on a "
        "redacted field read by no-competitor-names (1)."
    ) in out
    assert "1 would change (1 narrowing)" in out
    assert f"{denied}" not in out.split("would change")[1]
    code, out, _ = run(capsys, *argv[:-2], "--format", "json")
    data = json.loads(out)
    assert (data["widening"], data["not_replayable"]) == (0, 1)
    assert data["not_replayable_decisions"][0]["rules"] == ["no-competitor-names"]


def test_diff_counts_a_logged_request_a_redaction_hides_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Head rewrites the competitor rule's pattern. Unredacted, a request it denied in base and
    # allows in head is a real widening; with the text hashed, the difference is the hash's doing.
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    hashed = f"sqlite:///{tmp_path / 'hashed.db'}"
    policy = load_policy(competitor_rule(tmp_path / "base"))
    (denied,) = log_decisions(url, policy, [reply("carol", 4000, text="Try ACME instead.")])
    log_decisions(hashed, policy, [reply("carol", 4000, text="Try ACME instead.")],
                  redact={"content.text": "hash"})  # fmt: skip
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tmp_path / "base", tmp_path / "head")
    rule = tmp_path / "head" / "competitors.policy"
    rule.write_text(rule.read_text().replace("matches /\\bacme\\b/i", "matches /sha256/"))
    argv = ["diff", "./base", "./head", "--decision-log", hashed]
    # (No --fail-on here: the generated requests do widen, texts naming ACME become allowed.)
    code, out, _ = run(capsys, *argv, "--format", "json")
    assert code == 0
    scenarios = json.loads(out)["scenarios"]
    assert scenarios["changed"] == []
    assert [item["rules"] for item in scenarios["not_replayable"]] == [["no-competitor-names"]]
    code, out, _ = run(capsys, *argv)
    assert "1 logged request not replayable, not counted as changes" in out
    code, out, _ = run(capsys, "diff", "./base", "./head", "--decision-log", url, "--format",
                       "json")  # fmt: skip
    changed = json.loads(out)["scenarios"]["changed"]
    assert [item["name"] for item in changed] == [denied]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--policy", "policies", "--decision-log", "mysql://x/y"], "unknown kind 'mysql'"),
        (
            ["--policy", "policies", "--decision-log", "sqlite:///nowhere/d.db"],
            "no decision log at",
        ),
        (["--ref=-bad", "--decision-log", "sqlite:///d.db"], "-bad"),
        # Found by probing: ignored beside a folder, which was replayed instead.
        (["--policy", "policies", "--repo", "."], "--repo: only with --ref"),
        (["--policy", "policies", "--policy-dir", "p"], "--policy-dir: only with --ref"),
    ],
)
def test_replay_reports_bad_input_without_a_traceback(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    make_repo(tmp_path, name=".")
    code, _, err = run(capsys, "replay", *argv)
    assert code == 2
    assert err.startswith("replygate: error: ")
    assert message in err
    assert "Traceback" not in err


def test_iter_requests_gives_the_stored_requests_oldest_first(
    logged: tuple[str, dict[int, str]],
) -> None:
    url, ids = logged
    found = list(iter_requests(url))
    assert [decision_id for decision_id, _, _ in found][:4] == [ids[reach] for reach in REACHES]
    assert found[0][2] == ()  # nothing was redacted
    first = found[0][1]
    assert isinstance(first, CheckRequest)
    assert first.at == datetime(2026, 11, 27, 20, 50, tzinfo=UTC)
    assert list(iter_requests(url, since=datetime(2999, 1, 1, tzinfo=UTC))) == []


def test_diff_decides_the_logged_requests_on_both_sides(
    tmp_path: Path,
    logged: tuple[str, dict[int, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, ids = logged
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "policies", tmp_path / "base")
    moved_threshold(tmp_path / "head")
    code, out, _ = run(
        capsys, "diff", "./base", "./head", "--decision-log", url, "--format", "json"
    )
    assert code == 0
    scenarios = json.loads(out)["scenarios"]
    assert scenarios["sources"] == [
        {"source": "decision-log", "location": url, "status": "used", "requests": 5, "note": None}
    ]
    assert sorted(item["name"] for item in scenarios["changed"]) == sorted([ids[7000], ids[9999]])


# ---- audit verify ---------------------------------------------------------------------------


def test_audit_verify_passes_an_intact_log(
    logged: tuple[str, dict[int, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = logged
    code, out, _ = run(capsys, "audit", "verify", "--decision-log", url)
    assert (code, out) == (0, "OK: 5 records in 1 chain verified (unkeyed)\n")


def test_audit_verify_fails_on_an_altered_record(
    tmp_path: Path, logged: tuple[str, dict[int, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, ids = logged
    with closing(sqlite3.connect(tmp_path / "decisions.db")) as conn, conn:
        conn.execute(
            "UPDATE decisions SET request = json_set(request, '$.post.author_reach', 100) "
            "WHERE decision_id = ?",
            (ids[12000],),
        )
    code, out, _ = run(capsys, "audit", "verify", "--decision-log", url)
    assert code == 1
    assert out.startswith(f"FAILED: altered: record {ids[12000]} (chain ")
    code, out, _ = run(capsys, "audit", "verify", "--decision-log", url, "--format", "json")
    report = json.loads(out)
    assert (code, report["ok"], report["problem_record"]) == (1, False, ids[12000])


def test_audit_verify_with_anchors_finds_a_cut_off_tail(
    tmp_path: Path, logged: tuple[str, dict[int, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = logged
    heads = tmp_path / "heads.json"
    assert run(capsys, "audit", "verify", "--decision-log", url, "--save-heads", str(heads))[0] == 0
    with closing(sqlite3.connect(tmp_path / "decisions.db")) as conn, conn:
        (last,) = conn.execute("SELECT decision_id FROM decisions WHERE seq = 5").fetchone()
        conn.execute("DELETE FROM decisions WHERE decision_id = ?", (last,))
        conn.execute("DELETE FROM decision_rules WHERE decision_id = ?", (last,))
    assert run(capsys, "audit", "verify", "--decision-log", url)[0] == 0
    code, out, _ = run(capsys, "audit", "verify", "--decision-log", url, "--anchors", str(heads))
    assert code == 1
    assert "was anchored at seq 5 but it ends at seq 4" in out


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "sqlite:///no/such/decisions.db",
            "replygate: error: no decision log at no/such/decisions.db",
        ),
        ("redis://localhost/0", "replygate: error: decision log URL: unknown kind 'redis'"),
    ],
)
def test_audit_verify_reports_an_unreadable_log_with_exit_2(
    capsys: pytest.CaptureFixture[str], url: str, message: str
) -> None:
    code, out, err = run(capsys, "audit", "verify", "--decision-log", url)
    assert (code, out) == (2, "")
    assert err.startswith(message)


def test_audit_verify_uses_the_servers_log_by_default(
    tmp_path: Path,
    example_policy: CompiledPolicy,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REPLYGATE_DECISION_LOG", raising=False)
    log_decisions("sqlite:///replygate-decisions.db", example_policy, [reply("carol", 1)])
    assert run(capsys, "audit", "verify")[1] == "OK: 1 records in 1 chain verified (unkeyed)\n"


def test_a_message_edit_does_not_hide_a_logged_widening_behind_a_redaction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rewording the competitor rule's message (it reads content.text) made every logged
    request "not replayable", and the gate passed a real widening elsewhere in the change."""
    hashed = f"sqlite:///{tmp_path / 'hashed.db'}"
    policy = load_policy(competitor_rule(tmp_path / "base"))
    (widened,) = log_decisions(hashed, policy, [reply("carol", 20000)],
                               redact={"content.text": "hash"})  # fmt: skip
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tmp_path / "base", tmp_path / "head")
    care = tmp_path / "head" / "care.policy"
    care.write_text(care.read_text().replace(THRESHOLD, "post.author_reach >= 50000"))
    rule = tmp_path / "head" / "competitors.policy"
    rule.write_text(rule.read_text().replace("Do not name competitors.", "Never name them."))
    argv = ["diff", "./base", "./head", "--decision-log", hashed, "--format", "json"]
    code, out, _ = run(capsys, *argv, "--fail-on", "widening")
    scenarios = json.loads(out)["scenarios"]
    assert code == 1
    assert scenarios["not_replayable"] == []
    assert [(item["name"], item["class"]) for item in scenarios["changed"]] == [
        (widened, "widening")
    ]
