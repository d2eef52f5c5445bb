"""Following a ref: new commits swap in whole, broken ones never replace a good policy."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from git import Repo
from gitrepo import clone_repo, commit_policies, make_repo

from replygate.engine.errors import AmbiguousRevision
from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.follower import FollowerStatus, PolicyFollower
from replygate.engine.gitrefs import InvalidRef
from replygate.engine.models import CheckRequest
from replygate.engine.store import PolicyRepo

TEAM = """\
role agent
person alice is agent
channel twitter
"""


def rules(limit: int) -> str:
    return f"""\
rule agents-answer-small-accounts {{
    allow
    on reply
    by agent
    when post.author_reach < {limit}
    message "Agents answer accounts with fewer than {limit} followers."
}}
"""


# Line 4 names a role nobody declared: a checker error with a position.
BROKEN = "rule oops {\n    allow\n    on reply\n    by nobody_knows\n}\n"

REQUEST = CheckRequest.model_validate(
    {
        "actor": {"id": "alice"},
        "action": "reply",
        "channel": "twitter",
        "post": {
            "id": "t-1",
            "sentiment": "neutral",
            "category": "question",
            "author_reach": 500,
            "received_at": "2026-10-20T10:00:00+02:00",
        },
        "at": "2026-10-20T10:05:00+02:00",
    }
)


def good(repo: Repo, limit: int = 1000, message: str = "good") -> str:
    return commit_policies(
        repo, {"policies/team.policy": TEAM, "policies/rules.policy": rules(limit)}, message
    )


def broken(repo: Repo) -> str:
    return commit_policies(
        repo, {"policies/rules.policy": BROKEN}, "broken", author=("Bob", "bob@example.com")
    )


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    made = make_repo(tmp_path)
    yield made
    made.close()


@pytest.fixture
def store(repo: Repo) -> Iterator[PolicyRepo]:
    opened = PolicyRepo(str(repo.working_tree_dir))
    yield opened
    opened.close()


def test_the_first_poll_loads_the_policy(repo: Repo, store: PolicyRepo) -> None:
    sha = good(repo)
    follower = PolicyFollower(store, "main")
    assert follower.current is None
    assert follower.status().state == "loading"
    assert follower.wait_until_ready(0) is False

    assert follower.poll_once() is True
    policy = follower.current
    assert policy is not None
    assert (policy.version.commit, policy.version.ref) == (sha, "main")
    status = follower.status()
    assert (status.state, status.commit, status.ready) == ("ready", sha, True)
    assert status.loaded_at is not None and status.last_checked_at is not None
    assert follower.wait_until_ready(0) is True
    assert policy.decide(REQUEST).decision == "allow"

    assert follower.poll_once() is False  # nothing new
    assert follower.current is policy


def test_a_broken_commit_leaves_the_last_good_policy_serving(repo: Repo, store: PolicyRepo) -> None:
    errors: list[FollowerStatus] = []
    first = good(repo)
    follower = PolicyFollower(store, "main", on_error=errors.append)
    follower.poll_once()
    serving = follower.current

    bad = broken(repo)
    assert follower.poll_once() is False
    assert follower.current is serving
    status = follower.status()
    assert (status.state, status.commit, status.last_error_commit) == ("degraded", first, bad)
    assert status.last_error is not None
    location = status.last_error[0]["location"]
    assert (location["file"], location["line"]) == ("policies/rules.policy", 4)
    assert location["column"] >= 1
    assert "nobody_knows" in status.last_error[0]["message"]
    assert len(errors) == 1 and errors[0].last_error_commit == bad

    follower.poll_once()  # the same broken commit again: not reported twice, not recompiled
    assert len(errors) == 1
    assert store.cache_stats().compiles == 2

    fixed = good(repo, limit=2000, message="fixed")
    assert follower.poll_once() is True
    status = follower.status()
    assert (status.state, status.commit) == ("ready", fixed)
    assert follower.current is not None and follower.current.version.commit == fixed
    assert status.last_error_commit == bad  # the last error stays on record


def test_when_the_first_commit_is_broken_there_is_no_policy(repo: Repo, store: PolicyRepo) -> None:
    commit_policies(repo, {"policies/team.policy": TEAM, "policies/rules.policy": BROKEN}, "x")
    follower = PolicyFollower(store, "main")
    assert follower.poll_once() is False
    status = follower.status()
    assert (status.state, status.commit, follower.current) == ("error", None, None)
    assert status.ready is False
    assert follower.wait_until_ready(0) is False
    assert status.as_dict()["last_error"][0]["location"]["file"] == "policies/rules.policy"

    fixed = good(repo)
    assert follower.poll_once() is True
    assert follower.status().commit == fixed
    assert follower.wait_until_ready(0) is True


def test_a_vanished_branch_keeps_the_policy_and_says_why(repo: Repo, store: PolicyRepo) -> None:
    good(repo)
    repo.git.branch("release")
    follower = PolicyFollower(store, "release")
    follower.poll_once()
    serving = follower.current
    repo.git.branch("-D", "release")
    assert follower.poll_once() is False
    assert follower.current is serving
    status = follower.status()
    assert status.state == "degraded"
    assert status.last_error is not None
    assert status.last_error[0]["code"] == "unknown_revision"
    assert status.last_error[0]["location"] is None


def test_a_tag_named_like_the_followed_branch_does_not_replace_its_policy(
    repo: Repo, store: PolicyRepo
) -> None:
    # git reads `release` as refs/tags/release before refs/heads/release: whoever may push a
    # tag must not be able to swap the policy a server follows, nor stop it following.
    old = good(repo, limit=1000, message="old")
    repo.git.branch("release")
    tip = good(repo, limit=5000, message="new")
    repo.git.branch("-f", "release", tip)
    follower = PolicyFollower(store, "release")
    assert follower.poll_once() is True
    assert follower.current is not None and follower.current.version.commit == tip
    repo.git.tag("release", old)
    assert follower.poll_once() is False
    assert follower.current.version.commit == tip  # the branch's policy keeps serving
    assert follower.status().state == "ready"  # pinned at the first poll: refs/heads/release
    newer = good(repo, limit=6000, message="newer")
    repo.git.branch("-f", "release", newer)
    assert follower.poll_once() is True
    assert follower.current.version.commit == newer
    assert follower.current.version.ref == "release"  # decisions name the ref as configured
    # A follower that starts while both exist cannot tell which is meant: it says so.
    starting = PolicyFollower(store, "release")
    assert starting.poll_once() is False
    status = starting.status()
    assert status.state == "error"
    assert status.last_error is not None
    assert status.last_error[0]["code"] == "ambiguous_revision"
    assert "refs/heads/release and refs/tags/release both exist" in status.last_error[0]["message"]
    # The hint names this ref in full (it said "e.g. refs/heads/main" whatever the name).
    with pytest.raises(AmbiguousRevision, match=r"in full, e\.g\. refs/heads/release~1$"):
        store.resolve("release~1")
    # Named in full, the branch is followed; so is the tag.
    assert store.resolve("refs/heads/release") == newer
    assert store.resolve("refs/tags/release") == old


def test_a_branch_named_like_a_sha_prefix_keeps_being_followed(tmp_path: Path) -> None:
    """A commit arriving whose sha starts with the followed branch's name (`cafe12`) made the
    branch ambiguous on every poll: anyone who could push a commit could stop the follower."""
    origin = make_repo(tmp_path, "origin")
    good(origin)
    clone = clone_repo(origin, tmp_path)
    arriving = good(origin, limit=5000, message="not fetched yet")
    name = arriving[:6]
    clone.git.branch(name, "HEAD")
    with PolicyRepo(str(clone.working_tree_dir)) as store:
        follower = PolicyFollower(store, name)
        assert follower.poll_once() is True
        clone.remotes.origin.fetch()  # now a commit starts with the branch's name
        assert follower.poll_once() is False
        assert follower.status().state == "ready"
        assert follower.status().last_error is None
    origin.close()
    clone.close()


def test_a_hostile_ref_is_refused_up_front(store: PolicyRepo) -> None:
    with pytest.raises(InvalidRef):
        PolicyFollower(store, "--upload-pack=x")


def test_listeners_hear_of_swaps_and_their_failures_do_not_stop_it(
    repo: Repo, store: PolicyRepo
) -> None:
    seen: list[CompiledPolicy] = []

    def listener(policy: CompiledPolicy) -> None:
        seen.append(policy)
        raise RuntimeError("a listener with a bug")

    good(repo)
    follower = PolicyFollower(store, "main", on_swap=listener)
    assert follower.poll_once() is True
    newer = good(repo, limit=3000)
    assert follower.poll_once() is True
    assert [p.version.commit for p in seen][-1] == newer
    assert follower.current is seen[-1]


def test_fetching_from_a_remote_picks_up_pushed_commits(tmp_path: Path) -> None:
    origin = make_repo(tmp_path, "origin")
    good(origin)
    clone = clone_repo(origin, tmp_path)
    with PolicyRepo(str(clone.working_tree_dir)) as store:
        follower = PolicyFollower(store, "origin/main", fetch=True)
        assert follower.poll_once() is True
        pushed = good(origin, limit=5000, message="merged upstream")
        assert follower.poll_once() is True
        assert follower.status().commit == pushed
        without_fetch = PolicyFollower(store, "main")
        without_fetch.poll_once()
        assert without_fetch.status().commit != pushed  # the local branch did not move
        broken_remote = PolicyFollower(store, "origin/main", fetch=True, remote="nowhere")
        assert broken_remote.poll_once() is False
        status = broken_remote.status()
        assert status.state == "error"
        assert status.last_error is not None
        assert "no remote named 'nowhere'" in status.last_error[0]["message"]
    origin.close()
    clone.close()


def test_a_branch_deleted_on_the_remote_is_seen_gone_not_served_as_current(
    tmp_path: Path,
) -> None:
    """The fetch did not prune: `origin/feature` stayed, and the follower reported `ready`."""
    origin = make_repo(tmp_path, "origin")
    first = good(origin)
    origin.create_head("feature", first)
    clone = clone_repo(origin, tmp_path)
    with PolicyRepo(str(clone.working_tree_dir)) as store:
        follower = PolicyFollower(store, "origin/feature", fetch=True)
        assert follower.poll_once() is True
        origin.delete_head("feature", force=True)
        assert follower.poll_once() is False
        status = follower.status()
        assert status.state == "degraded" and status.commit == first  # the last good one serves
        assert status.last_error is not None
        assert "origin/feature" in status.last_error[0]["message"]
    origin.close()
    clone.close()


def test_serve_refuses_a_remote_the_repository_does_not_have_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It started, logged `no remote named 'nosuch'` on every poll and was never ready."""
    from replygate.cli.main import main

    origin = make_repo(tmp_path, "origin")
    good(origin)
    clone = clone_repo(origin, tmp_path)
    where = str(clone.working_tree_dir)
    # A port in use: had the remote not been checked first, serve would stop there, not start.
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = str(taken.getsockname()[1])
    for remote, said in (("nosuch", "no remote named 'nosuch'"), ("-x", "'-x' is not valid")):
        code = main(
            [
                "serve",
                "--repo",
                where,
                "--ref",
                "origin/main",
                "--fetch",
                f"--remote={remote}",
                "--decision-log",
                f"sqlite:///{tmp_path / 'log.db'}",
                "--port",
                port,
            ]
        )
        assert code == 2
        err = capsys.readouterr().err
        assert "replygate: error: --remote: " in err and said in err
    taken.close()
    origin.close()
    clone.close()


@pytest.fixture
def quick_thread_switches() -> Iterator[None]:
    # Busy reader threads would hold the GIL for 5 ms slices and starve the threads that run
    # git (a convoy): the test would pass, slowly. Short slices keep it to a fraction of a second.
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.0002)
    yield
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("quick_thread_switches")
def test_readers_never_see_a_gap_while_commits_land(repo: Repo, store: PolicyRepo) -> None:
    swapped = threading.Condition()

    def on_swap(policy: CompiledPolicy) -> None:
        with swapped:
            swapped.notify_all()

    commits = [good(repo, limit=1000)]
    follower = PolicyFollower(store, "main", interval=0.005, on_swap=on_swap)
    follower.start()
    assert follower.wait_until_ready(10)

    done = threading.Event()
    problems: list[str] = []
    seen_commits: set[str | None] = set()
    decided = [0]

    def reader() -> None:
        while not done.is_set():
            policy = follower.current
            if policy is None:
                problems.append("no policy after ready")
                return
            try:
                decision = policy.decide(REQUEST)
            except Exception as error:
                problems.append(repr(error))
                return
            if decision.reasons and decision.reasons[0].code == "evaluation_error":
                problems.append(decision.reasons[0].message)
            seen_commits.add(decision.policy.commit)
            decided[0] += 1

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for thread in readers:
        thread.start()
    try:
        for round_number in range(4):
            if round_number == 2:
                broken(repo)  # lands between good commits; must never be served
            sha = good(repo, limit=2000 + round_number)
            commits.append(sha)
            with swapped:
                assert swapped.wait_for(lambda s=sha: follower.status().commit == s, timeout=10)
    finally:
        done.set()
        for thread in readers:
            thread.join(10)
        follower.stop()
    assert problems == []
    assert decided[0] > 0
    assert seen_commits <= set(commits)
    assert follower.status().commit == commits[-1]


def test_a_commit_that_crashes_the_compiler_is_tried_once_and_reported_in_one_line(
    repo: Repo, store: PolicyRepo, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A failure nobody foresaw (not a policy error, so the store does not cache it): the
    # follower remembers the commit, so it is not compiled again on every poll.
    from replygate.engine import loader

    calls: list[str] = []

    def crash(*args: object, **kwargs: object) -> CompiledPolicy:
        calls.append("compile")
        raise OverflowError("a number too large somewhere deep")

    bad = good(repo)
    monkeypatch.setattr(loader, "compile_checked", crash)
    follower = PolicyFollower(store, "main")
    with caplog.at_level("DEBUG", logger="replygate.follower"):
        for _ in range(3):
            assert follower.poll_once() is False
    assert calls == ["compile"]
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "\n" not in errors[0].getMessage()
    assert all(r.exc_info is None for r in caplog.records if r.levelname != "DEBUG")
    status = follower.status()
    assert status.last_error_commit == bad
    assert status.last_error is not None
    (problem,) = status.last_error
    assert problem["code"] == "internal_error"
    assert "OverflowError: a number too large somewhere deep" in problem["message"]
    assert problem["rendered"].startswith(f"commit {bad[:12]}: error: ")


def test_last_error_is_rendered_with_file_line_column_and_commit(
    repo: Repo, store: PolicyRepo, caplog: pytest.LogCaptureFixture
) -> None:
    good(repo)
    follower = PolicyFollower(store, "main")
    follower.poll_once()
    bad = broken(repo)
    with caplog.at_level("INFO", logger="replygate.follower"):
        follower.poll_once()
        follower.poll_once()
    status = follower.status()
    assert status.last_error is not None
    rendered = status.last_error[0]["rendered"]
    assert rendered.startswith(f"commit {bad[:12]}: policies/rules.policy:4:")
    assert "[" in rendered and "repr" not in rendered
    (logged,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert f"commit {bad[:12]} cannot be used" in logged
    assert "policies/rules.policy:4:" in logged and "\n" not in logged
    assert store.cache_stats().compiles == 2


def test_a_follower_starting_on_a_broken_commit_serves_the_last_one_that_compiles(
    repo: Repo, store: PolicyRepo, caplog: pytest.LogCaptureFixture
) -> None:
    # A worker (re)started after a broken merge had no policy at all (503 not_ready), while
    # the workers that had been running kept serving the last good commit.
    last_good = good(repo)
    broken(repo)
    bad = commit_policies(repo, {"policies/rules.policy": BROKEN + "\n"}, "still broken")
    errors: list[FollowerStatus] = []
    follower = PolicyFollower(store, "main", on_error=errors.append)
    with caplog.at_level("INFO", logger="replygate.follower"):
        assert follower.poll_once() is True
    policy = follower.current
    assert policy is not None
    assert (policy.version.commit, policy.version.ref) == (last_good, "main")
    assert policy.decide(REQUEST).decision == "allow"
    status = follower.status()
    assert (status.state, status.commit, status.last_error_commit) == ("degraded", last_good, bad)
    assert status.last_error is not None and "nobody_knows" in status.last_error[0]["message"]
    assert follower.wait_until_ready(0) is True
    assert len(errors) == 1 and errors[0].commit == last_good
    assert any(
        f"commit {bad[:12]} does not compile; serving {last_good[:12]}" in r.getMessage()
        for r in caplog.records
    )

    compiles = store.cache_stats().compiles
    assert follower.poll_once() is False  # nothing new: no search, no compile, no new report
    assert (follower.current, store.cache_stats().compiles, len(errors)) == (policy, compiles, 1)

    fixed = good(repo, limit=2000, message="fixed")
    assert follower.poll_once() is True
    assert (follower.status().state, follower.status().commit) == ("ready", fixed)


def test_a_tag_or_sha_on_a_broken_commit_is_not_walked_back(repo: Repo, store: PolicyRepo) -> None:
    """A tag names one commit: its parent is a commit the tag never meant (the review)."""
    good(repo)
    bad = broken(repo)
    repo.create_tag("v2.0", bad)
    for name in ("v2.0", bad):
        follower = PolicyFollower(store, name)
        assert follower.poll_once() is False
        assert (follower.current, follower.status().state) == (None, "error")


def test_the_search_for_a_commit_that_compiles_is_bounded_and_done_once(
    repo: Repo, store: PolicyRepo
) -> None:
    from replygate.engine.follower import FALLBACK_DEPTH

    good(repo)  # too far back to be found
    for n in range(FALLBACK_DEPTH + 1):
        commit_policies(repo, {"policies/rules.policy": BROKEN + "\n" * (n + 1)}, f"broken {n}")
    follower = PolicyFollower(store, "main")
    assert follower.poll_once() is False
    assert (follower.status().state, follower.current) == ("error", None)
    compiles = store.cache_stats().compiles
    assert compiles == FALLBACK_DEPTH + 1
    follower.poll_once()
    assert store.cache_stats().compiles == compiles
