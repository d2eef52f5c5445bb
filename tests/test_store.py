"""Policies read from real git repositories: commits in decisions, as-of, blame, history, cache."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from git import Repo
from gitrepo import commit_policies, example_sources, make_repo

from replygate.cli.main import main
from replygate.engine.errors import AmbiguousRevision, GitError
from replygate.engine.gitrefs import InvalidRef
from replygate.engine.models import CheckRequest, Decision
from replygate.engine.store import NotARepository, PolicyRepo, UnknownRevision
from replygate.policy_dsl.source import PolicyError

VIENNA_SUMMER = timezone(timedelta(hours=2))
ADA = ("Ada", "ada@example.com")
BOB = ("Bob", "bob@example.com")
CAROL = ("Carol", "carol@example.com")

TEAM = """\
role agent
role senior_agent extends agent

person alice is agent
person carol is senior_agent

channel twitter, facebook
"""

RULE_A = """\
rule agents-reply-to-positive {
    allow
    on reply
    by agent
    when post.sentiment in [positive, neutral]
    message "Agents may reply to positive and neutral posts."
}
"""

RULE_A_REFORMATTED = """\
rule agents-reply-to-positive {
  allow
  on reply
  by agent
  when post.sentiment in [positive, neutral]
  message "Agents may reply to positive and neutral posts."
}
"""


def rule_b(limit: int) -> str:
    return f"""\
rule senior-agents-reply-to-negative {{
    allow
    on reply
    by senior_agent
    when post.sentiment == negative and post.author_reach < {limit}
    message "Senior agents may answer negative posts from small accounts."
}}
"""


BROKEN = "rule oops {\n    allow\n    on reply\n    by nobody_knows\n}\n"
UNPARSABLE = "rule oops {\n    allow\n    on reply\n"


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 10, day, hour, 0, tzinfo=VIENNA_SUMMER)


def request(actor: str = "carol", reach: int = 15000, sentiment: str = "negative") -> CheckRequest:
    return CheckRequest.model_validate(
        {
            "actor": {"id": actor},
            "action": "reply",
            "channel": "twitter",
            "post": {
                "id": "t-1",
                "sentiment": sentiment,
                "category": "question",
                "author_reach": reach,
                "received_at": "2026-10-20T10:00:00+02:00",
            },
            "at": "2026-10-20T10:05:00+02:00",
        }
    )


def rule_reason(decision: Decision, rule: str) -> Any:
    return next(r for r in decision.reasons if r.rule == rule)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    made = make_repo(tmp_path)
    yield made
    made.close()


@pytest.fixture
def history(repo: Repo) -> dict[str, str]:
    """Ada writes both rules on Oct 1; Bob raises B's threshold on Oct 5; Carol adds a person Oct 10."""
    return {
        "ada": commit_policies(
            repo,
            {"policies/team.policy": TEAM, "policies/rules.policy": RULE_A + "\n" + rule_b(10000)},
            "Agents answer positive posts; seniors answer small negative ones",
            author=ADA,
            date=at(1),
        ),
        "bob": commit_policies(
            repo,
            {"policies/rules.policy": RULE_A + "\n" + rule_b(20000)},
            "Raise the reach threshold for senior agents",
            author=BOB,
            date=at(5),
        ),
        "carol": commit_policies(
            repo,
            {"policies/team.policy": TEAM + "person bob is agent\n"},
            "Add bob to the team",
            author=CAROL,
            date=at(10),
        ),
    }


@pytest.fixture
def store(repo: Repo) -> Iterator[PolicyRepo]:
    opened = PolicyRepo(str(repo.working_tree_dir))
    yield opened
    opened.close()


# ---- the commit in decisions ---------------------------------------------------------------


def test_decisions_name_the_commit_and_ref(store: PolicyRepo, history: dict[str, str]) -> None:
    decision = store.load("main").decide(request())
    assert decision.decision == "allow"
    assert decision.policy.commit == history["carol"]
    assert decision.policy.ref == "main"
    assert decision.policy.files == ["policies/rules.policy", "policies/team.policy"]
    assert rule_reason(decision, "senior-agents-reply-to-negative").source.file == (
        "policies/rules.policy"
    )


def test_any_revision_can_be_loaded(store: PolicyRepo, history: dict[str, str]) -> None:
    assert store.load(history["ada"]).decide(request()).decision == "deny"  # 15000 >= 10000
    assert store.load(history["ada"][:8]).version.commit == history["ada"]
    assert store.load("HEAD~2").version.commit == history["ada"]
    assert store.load("HEAD~2").version.ref == "HEAD~2"


def test_a_tag_resolves_to_its_commit(
    repo: Repo, store: PolicyRepo, history: dict[str, str]
) -> None:
    repo.create_tag("reviewed-2026-10", ref=history["bob"], message="signed off by compliance")
    assert store.resolve("reviewed-2026-10") == history["bob"]


def test_only_committed_content_is_read(
    repo: Repo, store: PolicyRepo, history: dict[str, str]
) -> None:
    root = Path(str(repo.working_tree_dir))
    (root / "policies" / "rules.policy").write_text(BROKEN, encoding="utf-8")
    (root / "policies" / "untracked.policy").write_text(BROKEN, encoding="utf-8")
    assert sorted(store.sources_at("HEAD")) == ["policies/rules.policy", "policies/team.policy"]
    assert store.load("HEAD").decide(request()).decision == "allow"


def test_unknown_revisions_are_reported(store: PolicyRepo, history: dict[str, str]) -> None:
    with pytest.raises(UnknownRevision, match="unknown revision 'no-such-branch'"):
        store.resolve("no-such-branch")
    with pytest.raises(UnknownRevision, match="fewer than 9 commits"):
        store.resolve("HEAD~9")
    with pytest.raises(UnknownRevision):
        store.resolve("0" * 40)


def _commit_objects_sharing_a_prefix(repo: Repo, digits: int = 4) -> list[str]:
    """Two commit objects (HEAD's tree, messages differing) whose shas share `digits` digits."""
    tree = repo.head.commit.tree.hexsha
    seen: dict[str, bytes] = {}
    number = 0
    while True:
        number += 1
        body = f"tree {tree}\nauthor A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\n\n{number}\n"
        data = body.encode()
        prefix = hashlib.sha1(b"commit %d\0" % len(data) + data).hexdigest()[:digits]
        if prefix in seen:
            break
        seen[prefix] = data
    stored = []
    for content in (seen[prefix], data):
        written = subprocess.run(
            ["git", "hash-object", "-t", "commit", "-w", "--stdin"],
            cwd=repo.git_dir,
            input=content,
            capture_output=True,
            check=True,
        )
        stored.append(written.stdout.decode().strip())
    assert stored[0][:digits] == stored[1][:digits] and stored[0] != stored[1]
    return stored


def test_a_short_sha_that_starts_two_commits_is_ambiguous_not_unknown(
    store: PolicyRepo, repo: Repo, history: dict[str, str]
) -> None:
    first, second = _commit_objects_sharing_a_prefix(repo)
    with pytest.raises(AmbiguousRevision, match="several commits start with it") as refused:
        store.resolve(first[:4])
    assert first[:12] in str(refused.value) and second[:12] in str(refused.value)
    with pytest.raises(AmbiguousRevision, match="several commits start with it"):
        store.resolve(f"{first[:4].upper()}~1")
    assert store.resolve(first[:12]) == first  # more digits tell them apart
    with pytest.raises(UnknownRevision, match="no branch, tag or commit of that name"):
        store.resolve("0000000")


def _commit_in_latin_1(repo: Repo, files: dict[str, str], name: bytes, subject: bytes) -> str:
    """A commit on main written as git allows (`i18n.commitEncoding`): author and subject not
    UTF-8. Returns its sha."""
    root = Path(str(repo.working_tree_dir))
    for path, text in files.items():
        (root / path).write_text(text, encoding="utf-8")
    repo.git.add(A=True)
    tree = repo.git.write_tree()
    parent = repo.head.commit.hexsha
    when = b"1800000000 +0000"  # after every other commit of the history
    body = b"tree %s\nparent %s\nauthor %s <j@x> %s\ncommitter %s <j@x> %s\n\n%s\n" % (
        tree.encode(),
        parent.encode(),
        name,
        when,
        name,
        when,
        subject,
    )
    written = subprocess.run(
        ["git", "hash-object", "-t", "commit", "-w", "--literally", "--stdin"],
        cwd=root,
        input=body,
        capture_output=True,
        check=True,
    )
    sha = written.stdout.decode().strip()
    repo.git.update_ref("refs/heads/main", sha)
    repo.git.reset("--hard")
    return sha


def test_an_author_and_subject_not_in_utf_8_are_shown_with_replacement_characters(
    store: PolicyRepo, repo: Repo, history: dict[str, str]
) -> None:
    """One such commit made every check citing its rule a 500 (the name could not be encoded)."""
    sha = _commit_in_latin_1(
        repo,
        {"policies/rules.policy": RULE_A + "\n" + rule_b(30000)},
        name=b"Jos\xe9",
        subject=b"caf\xe9",
    )
    repo.git.branch("d\u00e9j\u00e0-vu")  # UTF-8, but outside the revision grammar (ASCII)
    decision = store.load("main").decide(request())
    reason = rule_reason(decision, "senior-agents-reply-to-negative")
    assert (reason.source.commit, reason.source.author) == (sha, "Jos\ufffd")
    assert "Jos\ufffd" in decision.model_dump_json()
    subjects = {name: subject for name, _, subject in store.named_revisions("main")}
    assert subjects["main"] == subjects[sha[:12]] == "caf\ufffd"
    # git takes names the revision grammar refuses: offered, they could only be refused (422).
    repo.git.branch("x\"'><img")
    repo.git.tag("v1<b>")
    names = {name for name, _, _ in store.named_revisions("main")}
    assert not {"d\u00e9j\u00e0-vu", "x\"'><img", "v1<b>"} & names and "main" in names


def test_a_folder_that_is_no_repository_is_reported(tmp_path: Path) -> None:
    with pytest.raises(NotARepository, match="not a git repository"):
        PolicyRepo(tmp_path)


@pytest.mark.parametrize(
    "name",
    ["--upload-pack=touch PWN", "-x", "a..b", "a b", "a\nb", "a~", "@{-1}", "refs/heads/x.lock"],
)
def test_hostile_refs_never_reach_git(
    store: PolicyRepo, history: dict[str, str], tmp_path: Path, name: str
) -> None:
    with pytest.raises(InvalidRef):
        store.load(name.replace("PWN", str(tmp_path / "pwn")))
    with pytest.raises(InvalidRef):
        store.load(f"$(touch {tmp_path / 'pwn'})")
    assert not (tmp_path / "pwn").exists()


# ---- as of a time --------------------------------------------------------------------------


def test_as_of_picks_the_commit_in_force_at_that_time(
    store: PolicyRepo, history: dict[str, str]
) -> None:
    assert store.resolve_as_of("main", at(5)) == history["bob"]  # exactly at Bob's commit
    assert store.resolve_as_of("main", at(5) - timedelta(seconds=1)) == history["ada"]
    assert store.resolve_as_of("main", at(1)) == history["ada"]
    assert store.resolve_as_of("main", at(31)) == history["carol"]
    utc_same_instant = at(5).astimezone(UTC)
    assert store.resolve_as_of("main", utc_same_instant) == history["bob"]


def test_as_of_changes_the_decision(store: PolicyRepo, history: dict[str, str]) -> None:
    before = store.load("main", as_of=at(3)).decide(request())
    after = store.load("main", as_of=at(6)).decide(request())
    assert (before.decision, before.policy.commit) == ("deny", history["ada"])
    assert (after.decision, after.policy.commit) == ("allow", history["bob"])


def test_as_of_before_the_first_commit_is_an_error(
    store: PolicyRepo, history: dict[str, str]
) -> None:
    with pytest.raises(UnknownRevision, match="no commit at or before"):
        store.resolve_as_of("main", at(1) - timedelta(seconds=1))


def test_as_of_needs_an_offset(store: PolicyRepo, history: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="offset"):
        store.resolve_as_of("main", datetime(2026, 10, 5, 9, 0))


@pytest.fixture
def merged(repo: Repo) -> dict[str, str]:
    """Ada's base on Oct 1; Bob adds rule B on a branch on Oct 3; Carol merges it on Oct 7."""
    base = commit_policies(
        repo,
        {"policies/team.policy": TEAM, "policies/rules.policy": RULE_A},
        "base",
        author=ADA,
        date=at(1),
    )
    repo.git.checkout("--quiet", "-b", "feature")
    side = commit_policies(
        repo,
        {"policies/rules.policy": RULE_A + "\n" + rule_b(10000)},
        "Add rule B on a branch",
        author=BOB,
        date=at(3),
    )
    repo.git.checkout("--quiet", "main")
    repo.git.merge(
        "--quiet",
        "--no-ff",
        "-m",
        "Merge feature",
        "feature",
        env={
            "GIT_COMMITTER_NAME": "Carol",
            "GIT_COMMITTER_DATE": "2026-10-07T09:00:00+02:00",
            "GIT_AUTHOR_NAME": "Carol",
            "GIT_AUTHOR_DATE": "2026-10-07T09:00:00+02:00",
        },
    )
    return {"base": base, "side": side, "merge": repo.head.commit.hexsha}


def test_as_of_follows_the_first_parent(store: PolicyRepo, merged: dict[str, str]) -> None:
    # On Oct 4 the branch commit existed, but main still pointed at the base commit.
    assert store.resolve_as_of("main", at(4)) == merged["base"]
    assert store.resolve_as_of("main", at(8)) == merged["merge"]
    assert store.resolve_as_of("feature", at(4)) == merged["side"]


def test_rule_history_through_a_merge_names_who_wrote_the_change(
    store: PolicyRepo, merged: dict[str, str]
) -> None:
    [change] = store.rule_history("senior-agents-reply-to-negative", "main")
    assert (change.commit, change.author, change.change) == (merged["merge"], "Carol", "added")
    assert (change.written_in, change.written_by) == (merged["side"], "Bob")
    [plain] = store.rule_history("agents-reply-to-positive", "main")
    assert (plain.commit, plain.written_in, plain.written_by) == (merged["base"], None, None)


# ---- blame in reasons ----------------------------------------------------------------------


def test_each_reason_names_the_commit_and_author_of_its_rule(
    store: PolicyRepo, history: dict[str, str]
) -> None:
    policy = store.load("main")
    sources = {rule.name: rule.reason.source for rule in policy.rules}
    a = sources["agents-reply-to-positive"]
    b = sources["senior-agents-reply-to-negative"]
    assert (a.commit, a.author) == (history["ada"], "Ada")
    assert (b.commit, b.author) == (history["bob"], "Bob")  # Bob's edit of B left A alone
    decision = policy.decide(request())
    reason = rule_reason(decision, "senior-agents-reply-to-negative")
    assert (reason.source.commit, reason.source.author) == (history["bob"], "Bob")
    positive = policy.decide(request(actor="alice", sentiment="positive"))
    reason = rule_reason(positive, "agents-reply-to-positive")
    assert (reason.source.commit, reason.source.author, reason.source.line) == (
        history["ada"],
        "Ada",
        1,
    )


def test_the_last_change_of_a_rule_is_the_descendant_whatever_its_clock_says(
    repo: Repo, store: PolicyRepo, history: dict[str, str]
) -> None:
    """Dave's clock was a month behind: by committer time, Ada's older commit looked newer and
    the rule was hers, while `replygate log` (and git) said Dave changed it last."""
    dave = commit_policies(
        repo,
        {"policies/rules.policy": RULE_A + "\n" + rule_b(40000)},
        "Raise B's threshold again",
        author=("Dave", "dave@example.com"),
        date=datetime(2026, 9, 1, tzinfo=UTC),
    )
    b = next(r for r in store.load(dave).rules if r.name == "senior-agents-reply-to-negative")
    assert (b.reason.source.commit, b.reason.source.author) == (dave, "Dave")
    a = next(r for r in store.load(dave).rules if r.name == "agents-reply-to-positive")
    assert (a.reason.source.commit, a.reason.source.author) == (history["ada"], "Ada")


def test_blame_belongs_to_the_commit_asked_for(store: PolicyRepo, history: dict[str, str]) -> None:
    old = store.load(history["ada"])
    b = next(r for r in old.rules if r.name == "senior-agents-reply-to-negative")
    assert (b.reason.source.commit, b.reason.source.author) == (history["ada"], "Ada")


def test_a_reformat_takes_the_blame_unless_listed_as_ignored(
    repo: Repo, store: PolicyRepo, history: dict[str, str]
) -> None:
    fmt = commit_policies(
        repo,
        {"policies/rules.policy": RULE_A_REFORMATTED + "\n" + rule_b(20000)},
        "Reformat rules",
        author=CAROL,
        date=at(12),
    )
    a = next(r for r in store.load(fmt).rules if r.name == "agents-reply-to-positive")
    assert (a.reason.source.commit, a.reason.source.author) == (fmt, "Carol")
    listed = commit_policies(
        repo,
        {".git-blame-ignore-revs": f"# replygate fmt\n{fmt}\n"},
        "Ignore the reformat in blame",
        author=CAROL,
        date=at(13),
    )
    a = next(r for r in store.load(listed).rules if r.name == "agents-reply-to-positive")
    assert (a.reason.source.commit, a.reason.source.author) == (history["ada"], "Ada")


def test_blame_can_be_switched_off(repo: Repo, history: dict[str, str]) -> None:
    with PolicyRepo(str(repo.working_tree_dir), blame=False) as plain:
        source = plain.load("main").rules[0].reason.source
    assert (source.commit, source.author) == (None, None)


# ---- which files ----------------------------------------------------------------------------


def test_without_a_policies_folder_every_policy_file_counts(repo: Repo, store: PolicyRepo) -> None:
    commit_policies(
        repo,
        {"team.policy": TEAM, "care/rules.policy": RULE_A, "README.md": "# not a policy\n"},
        "flat layout",
    )
    assert sorted(store.sources_at("HEAD")) == ["care/rules.policy", "team.policy"]


def test_an_explicit_policy_folder(repo: Repo) -> None:
    commit_policies(
        repo,
        {
            "governance/team.policy": TEAM,
            "governance/rules.policy": RULE_A,
            "policies/other.policy": BROKEN,
        },
        "two folders",
    )
    with PolicyRepo(str(repo.working_tree_dir), policy_dir="governance") as governance:
        assert sorted(governance.sources_at("HEAD")) == [
            "governance/rules.policy",
            "governance/team.policy",
        ]
        assert governance.load("HEAD").version.files == [
            "governance/rules.policy",
            "governance/team.policy",
        ]


def test_a_commit_without_policy_files_is_an_error(repo: Repo, store: PolicyRepo) -> None:
    commit_policies(repo, {"README.md": "nothing here\n"}, "empty")
    with pytest.raises(PolicyError, match=r"no \.policy files"):
        store.load("HEAD")


def test_a_commit_that_does_not_compile_reports_repo_relative_positions(
    repo: Repo, store: PolicyRepo, history: dict[str, str]
) -> None:
    broken = commit_policies(repo, {"policies/rules.policy": BROKEN}, "oops", author=BOB)
    with pytest.raises(PolicyError) as caught:
        store.load(broken)
    text = caught.value.render()
    assert "policies/rules.policy:4:" in text
    assert "nobody_knows" in text
    with pytest.raises(PolicyError):
        store.load(broken)
    assert store.cache_stats().compiles == 1  # the error is cached like a policy


def test_the_example_policy_compiles_from_git(repo: Repo, store: PolicyRepo) -> None:
    sha = commit_policies(repo, example_sources(), "Import the example policy", author=ADA)
    policy = store.load("main")
    assert policy.version.commit == sha
    assert len(policy.rules) > 10
    assert {r.reason.source.author for r in policy.rules} == {"Ada"}


# ---- the cache -------------------------------------------------------------------------------


def test_a_commit_is_compiled_once_whatever_it_is_called(
    store: PolicyRepo, history: dict[str, str]
) -> None:
    by_branch = store.load("main")
    by_sha = store.load(history["carol"])
    by_head = store.load("HEAD")
    stats = store.cache_stats()
    assert (stats.compiles, stats.misses, stats.hits) == (1, 1, 2)
    assert by_branch.version.ref == "main"
    assert by_sha.version.ref == history["carol"]
    assert by_head.version.ref == "HEAD"
    assert by_branch.rules is by_head.rules  # the same compiled rules, relabelled
    assert store.load("main") is by_branch


def test_the_cache_is_bounded_and_evicts_the_least_recent(
    repo: Repo, history: dict[str, str]
) -> None:
    with PolicyRepo(str(repo.working_tree_dir), cache_size=2) as small:
        small.load(history["ada"])
        small.load(history["bob"])
        small.load(history["ada"])  # now Bob's is the least recently used
        small.load(history["carol"])  # evicts Bob's
        assert small.cache_stats().evictions == 1
        small.load(history["ada"])
        assert small.cache_stats().compiles == 3
        small.load(history["bob"])
        stats = small.cache_stats()
        assert (stats.compiles, stats.size, stats.capacity) == (4, 2, 2)


def test_threads_asking_for_one_new_commit_compile_it_once(
    store: PolicyRepo, history: dict[str, str]
) -> None:
    barrier = threading.Barrier(6)
    found: list[str | None] = []

    def load() -> None:
        barrier.wait()
        found.append(store.load("main").version.commit)

    threads = [threading.Thread(target=load) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert found == [history["carol"]] * 6
    assert store.cache_stats().compiles == 1


# ---- rule history ----------------------------------------------------------------------------


def test_rule_history_lists_additions_changes_and_removals(
    repo: Repo, store: PolicyRepo, history: dict[str, str]
) -> None:
    fmt = commit_policies(
        repo,
        {"policies/rules.policy": RULE_A_REFORMATTED + "\n" + rule_b(20000)},
        "Reformat rules",
        author=CAROL,
        date=at(12),
    )
    elsewhere = RULE_A_REFORMATTED + "\n" + rule_b(20000) + "\n" + UNPARSABLE
    commit_policies(repo, {"policies/rules.policy": elsewhere}, "Half a rule", date=at(13))
    inside = RULE_A_REFORMATTED + "\n" + rule_b(20000).replace("<", "<<")
    commit_policies(repo, {"policies/rules.policy": inside}, "Typo in B", date=at(13, 10))
    removed = commit_policies(
        repo,
        {"policies/rules.policy": RULE_A_REFORMATTED},
        "Drop the senior agent rule",
        author=BOB,
        date=at(14),
    )
    moved = commit_policies(
        repo,
        {"policies/rules.policy": "# moved\n", "policies/care.policy": RULE_A},
        "Move rule A to its own file",
        author=CAROL,
        date=at(15),
    )
    b = store.rule_history("senior-agents-reply-to-negative")
    assert [(c.commit, c.change, c.author) for c in b] == [
        (removed, "removed", "Bob"),
        (history["bob"], "changed", "Bob"),
        (history["ada"], "added", "Ada"),
    ]
    assert b[1].summary == "Raise the reach threshold for senior agents"
    assert b[1].date == at(5)
    a = store.rule_history("agents-reply-to-positive")
    assert [(c.commit, c.change) for c in a] == [(history["ada"], "added")]
    assert fmt not in {c.commit for c in a} and moved not in {c.commit for c in a}
    assert store.rule_history("no-such-rule") == []
    assert [c.change for c in store.rule_history("senior-agents-reply-to-negative", "HEAD~4")] == [
        "changed",
        "added",
    ]


def test_rule_history_reads_braces_in_patterns_and_texts(repo: Repo, store: PolicyRepo) -> None:
    def shouting(limit: int) -> str:
        return (
            "rule no-shouting {\n    deny\n    on any\n    by anyone\n"
            f"    when content.text matches /[A-Z]{{{limit},}}/\n"
            '    message "No shouting (} is not a brace here)"\n}\n'
        )

    first = commit_policies(
        repo, {"policies/team.policy": TEAM, "policies/rules.policy": shouting(5)}, "add"
    )
    second = commit_policies(repo, {"policies/rules.policy": shouting(8)}, "allow more caps")
    history = store.rule_history("no-shouting")
    assert [(c.commit, c.change) for c in history] == [(second, "changed"), (first, "added")]


# ---- the command line ------------------------------------------------------------------------


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_log_prints_the_changes_of_a_rule(
    repo: Repo, history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(repo.working_tree_dir)
    code, out, _ = run(["log", "senior-agents-reply-to-negative", "--repo", path], capsys)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(history["bob"][:10])
    assert "2026-10-05 09:00 +0200" in lines[0]
    assert "Bob" in lines[0] and "changed" in lines[0]
    assert lines[0].endswith("Raise the reach threshold for senior agents")
    assert "Ada" in lines[1] and "added" in lines[1]

    code, out, _ = run(
        ["log", "senior-agents-reply-to-negative", "--repo", path, "--format", "json"], capsys
    )
    data = json.loads(out)
    assert code == 0
    assert [c["change"] for c in data["changes"]] == ["changed", "added"]
    assert data["changes"][0] == {
        "commit": history["bob"],
        "author": "Bob",
        "date": "2026-10-05T09:00:00+02:00",
        "summary": "Raise the reach threshold for senior agents",
        "change": "changed",
        "written_in": None,
        "written_by": None,
    }


def test_log_shows_who_wrote_a_merged_change(
    repo: Repo, merged: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        ["log", "senior-agents-reply-to-negative", "--repo", str(repo.working_tree_dir)], capsys
    )
    assert code == 0
    first, second = out.splitlines()
    assert first.startswith(merged["merge"][:10]) and "Carol" in first
    assert second.split() == ["written", "by", "Bob", "in", merged["side"][:10]]


def test_log_of_an_unknown_rule_exits_1(
    repo: Repo, history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["log", "no-such-rule", "--repo", str(repo.working_tree_dir)], capsys)
    assert code == 1
    assert err.startswith("replygate: error: no rule named 'no-such-rule'")


def test_log_escapes_the_rule_name_it_did_not_find(
    repo: Repo, history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The name was echoed raw: an escape sequence in it repainted the terminal."""
    name = "x\x1b[2J\u202e"
    code, _, err = run(["log", name, "--repo", str(repo.working_tree_dir)], capsys)
    assert code == 1
    assert "no rule named 'x\\x1b[2J\\u202e'" in err
    assert "\x1b" not in err and "\u202e" not in err


@pytest.mark.parametrize("ref", ["--upload-pack=x", "a..b", "a~", "no-such-branch"])
def test_log_with_a_bad_ref_exits_2(
    repo: Repo, history: dict[str, str], capsys: pytest.CaptureFixture[str], ref: str
) -> None:
    code, _, err = run(
        ["log", "agents-reply-to-positive", "--repo", str(repo.working_tree_dir), f"--ref={ref}"],
        capsys,
    )
    assert code == 2
    assert err.startswith("replygate: error: ")
    assert "Traceback" not in err


def test_check_from_a_repository_as_of_a_time(
    repo: Repo, history: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(repo.working_tree_dir)
    file = tmp_path / "request.json"
    file.write_text(request().model_dump_json(), encoding="utf-8")
    args = ["check", "--repo", path, "--ref", "main", "--request", str(file)]
    code, out, _ = run([*args, "--as-of", "2026-10-03T00:00:00+02:00"], capsys)
    decision = json.loads(out)
    assert code == 0
    assert decision["decision"] == "deny"
    assert decision["policy"]["commit"] == history["ada"]
    assert decision["policy"]["ref"] == "main"

    code, out, _ = run(args, capsys)
    decision = json.loads(out)
    assert (decision["decision"], decision["policy"]["commit"]) == ("allow", history["carol"])
    source = decision["reasons"][0]["source"]
    assert source == {
        "file": "policies/rules.policy",
        "line": 9,
        "column": 1,
        "commit": history["bob"],
        "author": "Bob",
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--as-of", "2026-10-03T00:00:00"], "time-zone offset"),
        (["--as-of", "yesterday"], "is not a timestamp"),
        (["--as-of", "2026-09-01T00:00:00+02:00"], "no commit at or before"),
        (["--ref=-x"], "starts with '-'"),
        (["--ref", "no-such-branch"], "unknown revision"),
    ],
)
def test_check_from_a_repository_refuses_bad_input(
    repo: Repo,
    history: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    file = tmp_path / "request.json"
    file.write_text(request().model_dump_json(), encoding="utf-8")
    code, out, err = run(
        ["check", "--repo", str(repo.working_tree_dir), "--request", str(file), *extra], capsys
    )
    assert (code, out) == (2, "")
    assert err.startswith("replygate: error: ")
    assert message in err


def test_check_ref_without_repo_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "request.json"
    file.write_text(request().model_dump_json(), encoding="utf-8")
    code, _, err = run(["check", "--ref", "main", "--request", str(file)], capsys)
    assert code == 2
    assert "give --repo PATH too" in err


def test_check_on_a_broken_commit_shows_the_errors(
    repo: Repo, history: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit_policies(repo, {"policies/rules.policy": BROKEN}, "oops", author=BOB)
    file = tmp_path / "request.json"
    file.write_text(request().model_dump_json(), encoding="utf-8")
    code, out, err = run(
        ["check", "--repo", str(repo.working_tree_dir), "--request", str(file)], capsys
    )
    assert (code, out) == (2, "")
    assert "policies/rules.policy:4:" in err
    assert "replygate: error: the policy at 'HEAD' does not compile" in err


def test_a_shallow_clone_is_said_to_be_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Its oldest commit stands in for the whole history: authors and as-of answers stop there.
    origin = make_repo(tmp_path, "origin")
    commit_policies(origin, example_sources(), "first")
    commit_policies(origin, {"policies/extra.policy": "channel fax\n"}, "second")
    shallow = tmp_path / "shallow"
    origin.git.clone("--quiet", "--depth", "1", f"file://{origin.working_tree_dir}", str(shallow))
    with caplog.at_level("WARNING", logger="replygate.git"), PolicyRepo(shallow) as store:
        assert store.shallow
    assert "is a shallow clone" in caplog.text
    with PolicyRepo(str(origin.working_tree_dir)) as full:
        assert not full.shallow
    origin.close()


def test_as_of_before_every_commit_names_the_earliest_date_not_the_first_commits(
    tmp_path: Path,
) -> None:
    # Committer dates may go backwards (a rebase, a skewed clock): the error names the earliest.
    repo = make_repo(tmp_path)
    for month, text in ((9, "channel a\n"), (10, "channel b\n"), (8, "channel c\n")):
        when = datetime(2026, month, 1, tzinfo=UTC)
        commit_policies(repo, {**example_sources(), "policies/x.policy": text}, "c", date=when)
    with (
        PolicyRepo(str(repo.working_tree_dir)) as store,
        pytest.raises(UnknownRevision, match=r"earliest commit date .* is 2026-08-01T00:00:00"),
    ):
        store.resolve_as_of("HEAD", datetime(2026, 7, 1, tzinfo=UTC))
    repo.close()


def test_a_committed_file_that_is_not_utf_8_is_reported_at_its_byte(
    repo: Repo, store: PolicyRepo, history: dict[str, str]
) -> None:
    root = Path(str(repo.working_tree_dir))
    (root / "policies" / "latin1.policy").write_bytes(b"role agent2\nrole b\xe9 extends agent\n")
    repo.git.add(A=True)
    repo.git.commit(
        "-q",
        "-m",
        "latin-1",
        env={
            "GIT_AUTHOR_NAME": "A",
            "GIT_AUTHOR_EMAIL": "a@x",
            "GIT_COMMITTER_NAME": "A",
            "GIT_COMMITTER_EMAIL": "a@x",
        },
    )
    with pytest.raises(PolicyError) as refused:
        store.load("main")
    (found,) = refused.value.diagnostics
    assert (found.code, found.span.file, found.span.line, found.span.column) == (
        "not-utf8",
        "policies/latin1.policy",
        2,
        7,
    )
    assert "the byte 0xe9 here cannot be decoded" in found.message
    assert "\n  role b\ufffd extends agent\n        ^" in refused.value.render()


def test_a_policy_file_committed_as_a_symbolic_link_is_refused(
    repo: Repo, store: PolicyRepo, history: dict[str, str]
) -> None:
    """Skipped in a commit but followed in a folder, its rules were served while `diff` and its
    gate never saw them."""
    root = Path(str(repo.working_tree_dir))
    (root / "elsewhere").mkdir()
    (root / "elsewhere" / "extra.policy").write_text(RULE_A.replace("agents-", "more-"))
    (root / "policies" / "zz.policy").symlink_to("../elsewhere/extra.policy")
    repo.git.add(A=True)
    commit_policies(repo, {}, "a linked policy file")
    with pytest.raises(PolicyError) as refused:
        store.load("main")
    assert [(d.code, d.span.file) for d in refused.value.diagnostics] == [
        ("symlink", "policies/zz.policy")
    ]


def test_a_committed_file_name_that_is_not_utf8_is_refused(
    repo: Repo, store: PolicyRepo, history: dict[str, str]
) -> None:
    """`check --repo` crashed serializing the rule's file name, and `diff --format json`
    wrote the raw byte 0xff (not JSON)."""
    root = Path(str(repo.working_tree_dir))
    (root / "policies" / os.fsdecode(b"zz\xff.policy")).write_text(RULE_A.replace("agents-", "x-"))
    repo.git.add(A=True)
    commit_policies(repo, {}, "a file name git holds as bytes")
    with pytest.raises(PolicyError) as refused:
        store.load("main")
    assert [(d.code, d.span.file) for d in refused.value.diagnostics] == [
        ("bad-file-name", "policies/zz\\xff.policy")
    ]


def test_a_branch_named_like_a_short_sha_does_not_take_that_sha_over(
    store: PolicyRepo, repo: Repo, history: dict[str, str]
) -> None:
    """git prefers the ref: `ada[:7]` (a branch at carol's commit) decided with carol's policy,
    so anyone who could push a branch redirected an auditor's short sha."""
    short = history["ada"][:7]
    repo.create_head(short, history["carol"])
    with pytest.raises(AmbiguousRevision, match=f"the ref refs/heads/{short} and a commit"):
        store.resolve(short)
    assert store.resolve(f"refs/heads/{short}") == history["carol"]  # named in full: the ref
    assert store.resolve(history["ada"][:12]) == history["ada"]  # more digits: the commit
    # Hex, but no object's sha starts with it: the branch, as git reads it.
    objects = repo.git.rev_list("--all", "--objects").split()
    free = next(
        f"{n:04x}"
        for n in range(0xCAFE, 0x10000)
        if not any(o.startswith(f"{n:04x}") for o in objects)
    )
    repo.create_head(free, history["bob"])
    assert store.resolve(free) == history["bob"]


def test_a_full_ref_name_names_that_ref_and_nothing_else(
    store: PolicyRepo, repo: Repo, history: dict[str, str]
) -> None:
    """Once `refs/heads/feature` was deleted, git found the tag `refs/tags/refs/heads/feature`."""
    repo.create_head("feature", history["carol"])
    repo.create_tag("refs/heads/feature", history["ada"])
    assert store.resolve("refs/heads/feature") == history["carol"]
    repo.delete_head("feature", force=True)
    with pytest.raises(UnknownRevision, match="there is no ref refs/heads/feature"):
        store.resolve("refs/heads/feature")


def test_a_policy_folder_committed_as_a_symbolic_link_is_refused(
    repo: Repo, store: PolicyRepo, history: dict[str, str]
) -> None:
    """git read the link as a file and fell back to the whole repository: every .policy file
    anywhere (drafts included) was served, while a checkout read only the link's target."""
    root = Path(str(repo.working_tree_dir))
    repo.git.mv("policies", "governance")
    (root / "drafts").mkdir()
    (root / "drafts" / "draft.policy").write_text(RULE_A.replace("agents-", "draft-"))
    (root / "policies").symlink_to("governance")
    repo.git.add(A=True)
    commit_policies(repo, {}, "the policy folder as a link")
    with pytest.raises(PolicyError) as refused:
        store.load("main")
    assert [(d.code, d.span.file) for d in refused.value.diagnostics] == [("symlink", "policies")]
    assert "the policy folder policies is a symbolic link" in refused.value.diagnostics[0].message
    assert sorted(PolicyRepo(str(root), policy_dir="governance").load("main").sources) == [
        "governance/rules.policy",
        "governance/team.policy",
    ]


def test_the_names_one_commit_is_asked_for_by_are_bounded(
    store: PolicyRepo, history: dict[str, str]
) -> None:
    """Each spelling of a sha kept a labelled view of the commit, without end."""
    from replygate.engine.git.cache import VIEWS_PER_COMMIT

    sha = history["carol"]
    spellings = [sha[:length] for length in range(12, 41)] + [
        sha[:length].upper() for length in range(12, 41)
    ]
    assert len(spellings) > VIEWS_PER_COMMIT
    for name in spellings:
        assert store.load(name).version.ref == name  # each decision names what was asked
    entry = store._cache._entries[sha]
    assert len(entry.views) == VIEWS_PER_COMMIT
    assert store.load("main").version.commit == sha


def test_a_missing_object_is_named_in_words_not_byte_reprs(
    repo: Repo, store: PolicyRepo, history: dict[str, str]
) -> None:
    blob = repo.git.rev_parse(f"{history['carol']}:policies/team.policy")
    loose = Path(str(repo.git_dir)) / "objects" / blob[:2] / blob[2:]
    assert loose.is_file()
    loose.unlink()
    with pytest.raises(GitError) as failed:
        store.load("main")
    message = str(failed.value)
    assert f"object {blob} is missing from the repository" in message
    assert "b'" not in message


@pytest.mark.parametrize("missing", ["policies/team.policy", "policies"])
def test_every_command_reading_a_commit_reports_a_missing_object_as_a_git_error(
    repo: Repo,
    history: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    missing: str,
) -> None:
    """`log` and `diff` read commits on paths of their own: a missing blob or tree was a
    ValueError traceback (exit 1) there, while `check` named it."""
    from replygate.cli.main import main

    sha = repo.git.rev_parse(f"{history['carol']}:{missing}")
    (Path(str(repo.git_dir)) / "objects" / sha[:2] / sha[2:]).unlink()
    where = str(repo.working_tree_dir)
    for argv in (
        ["log", "reply-rule", "--repo", where],
        ["diff", "HEAD", "HEAD", "--repo", where],
        ["diff", "WORKTREE", "HEAD", "--repo", where],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert f"object {sha} is missing from the repository" in err, argv
        assert "[git_error]" in err and "Traceback" not in err, argv


def test_a_sha256_repository_is_named_as_such_not_as_an_unknown_revision(tmp_path: Path) -> None:
    """Every revision, HEAD too, was "does not name a commit"."""
    import subprocess

    root = tmp_path / "s256"
    root.mkdir()
    git = ["git", "-C", str(root), "-c", "user.name=A", "-c", "user.email=a@x"]
    subprocess.run([*git, "init", "-q", "--object-format=sha256", "-b", "main"], check=True)
    (root / "team.policy").write_text("role agent\n", encoding="utf-8")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    with PolicyRepo(str(root)) as sha256, pytest.raises(GitError, match="SHA-256"):
        sha256.resolve("HEAD")


class _Vanishing:
    """A repository handle whose repository goes away while a revision is resolved: git's
    `rev-parse --quiet` then exits 1, as for a name that does not exist."""

    def __init__(self, handle: Any, back: bool) -> None:
        self._handle, self._back, self.path = handle, back, handle.path
        self._failed = False

    def run(self, command: str, *args: str) -> str:
        from replygate.engine.git.handle import GitFailed

        if command == "rev_parse" and "--verify" in args and not self._failed:
            self._failed = True
            raise GitFailed("", 1)
        if command == "rev_parse" and "--git-dir" in args and not self._back:
            raise GitFailed("fatal: not a git repository (or any of the parent directories)", 128)
        return str(self._handle.run(command, *args))


@pytest.mark.parametrize("back", [False, True])
def test_a_repository_gone_in_mid_resolve_is_a_git_failure_not_an_unknown_commit(
    repo: Repo, history: dict[str, str], back: bool
) -> None:
    """Found by a consistency probe: an audit check of an existing commit got 422
    `unknown_revision` when the repository went away for a moment (moved, replaced), where
    a git failure (503) was due."""
    from replygate.engine.git.handle import GitHandle
    from replygate.engine.git.revisions import Revisions

    real = GitHandle(str(repo.working_tree_dir))
    try:
        revisions = Revisions(_Vanishing(real, back))  # type: ignore[arg-type]
        if back:  # there again: the name is asked once more, and found
            assert revisions.resolve(history["bob"]) == history["bob"]
        else:
            with pytest.raises(GitError, match="not a git repository") as failed:
                revisions.resolve(history["bob"])
            assert not isinstance(failed.value, UnknownRevision)
    finally:
        real.close()
