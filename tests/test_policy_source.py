"""The policy-source boundary: one type says where a policy comes from, one compile path builds
it, and one family of errors (code, message, location) says why it could not."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from git import Repo
from gitrepo import commit_policies, make_repo

from replygate.engine import loader
from replygate.engine.errors import (
    GitError,
    InvalidPolicyDir,
    InvalidRevision,
    NotARepository,
    PolicyError,
    SourceError,
    UnknownRevision,
)
from replygate.engine.git import PolicyRepo
from replygate.engine.review import SideError, load_side
from replygate.engine.source import PolicySource

TEAM = "role agent\nperson alice is agent\nchannel twitter\n"
RULE = "rule agents-reply {\n    allow\n    on reply\n    by agent\n}\n"
# Line 4 names a role nobody declared: a checker error with a position.
BROKEN = "rule oops {\n    allow\n    on reply\n    by nobody_knows\n}\n"
FIRST = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
SECOND = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    made = make_repo(tmp_path)
    commit_policies(made, {"policies/team.policy": TEAM}, "team", date=FIRST)
    commit_policies(made, {"policies/rules.policy": RULE}, "rule", date=SECOND)
    commit_policies(made, {"governance/all.policy": TEAM + RULE}, "governance", date=SECOND)
    yield made
    made.close()


def rules_of(source: PolicySource, repo: PolicyRepo | None = None) -> list[str]:
    return sorted(rule.name for rule in source.load(repo).rules)


class TestFolders:
    def test_a_folder_and_a_file_load(self, tmp_path: Path) -> None:
        (tmp_path / "team.policy").write_text(TEAM, encoding="utf-8")
        (tmp_path / "rules.policy").write_text(RULE, encoding="utf-8")
        assert rules_of(PolicySource.folder(tmp_path)) == ["agents-reply"]
        single = PolicySource.folder(tmp_path / "team.policy").load()
        assert single.version.files == [str(tmp_path / "team.policy")]

    def test_files_are_named_relative_to_the_root(self, tmp_path: Path) -> None:
        folder = tmp_path / "policies"
        folder.mkdir()
        (folder / "all.policy").write_text(TEAM + RULE, encoding="utf-8")
        policy = PolicySource.folder(folder, root=tmp_path).load()
        assert policy.version.files == ["policies/all.policy"]

    def test_the_worktree_of_a_repository_reads_its_policy_folder(self, repo: Repo) -> None:
        root = Path(str(repo.working_tree_dir))
        _, sources = PolicySource.worktree(root).read()
        assert sorted(sources) == ["policies/rules.policy", "policies/team.policy"]
        _, sources = PolicySource.worktree(root, "governance").read()
        assert sorted(sources) == ["governance/all.policy"]

    def test_a_missing_folder_is_a_policy_error(self, tmp_path: Path) -> None:
        with pytest.raises(PolicyError) as raised:
            PolicySource.folder(tmp_path / "nowhere").load()
        assert raised.value.diagnostics[0].code == "no-policy"


class TestRepositories:
    def test_a_revision_loads_with_its_commit(self, repo: Repo) -> None:
        path = str(repo.working_tree_dir)
        head = PolicySource.git(path, "main").load()
        assert head.version.commit == repo.head.commit.hexsha
        assert head.version.ref == "main"
        assert rules_of(PolicySource.git(path, "HEAD~1")) == ["agents-reply"]
        assert rules_of(PolicySource.git(path, "HEAD~2")) == []

    def test_as_of_picks_the_commit_of_that_time(self, repo: Repo) -> None:
        path = str(repo.working_tree_dir)
        between = datetime(2026, 10, 15, tzinfo=UTC)
        commit, sources = PolicySource.git(path, "main", as_of=between).read()
        assert sorted(sources) == ["policies/team.policy"]
        assert commit == repo.commit("HEAD~2").hexsha

    def test_a_policy_folder_inside_the_repository(self, repo: Repo) -> None:
        path = str(repo.working_tree_dir)
        source = PolicySource.git(path, "main", policy_dir="governance")
        assert source.load().version.files == ["governance/all.policy"]
        assert source.label() == f"main in {path} (governance)"

    def test_an_opened_repository_keeps_its_cache_across_loads(self, repo: Repo) -> None:
        source = PolicySource.git(str(repo.working_tree_dir), "main")
        with source.open() as opened:
            first = source.load(opened)
            assert source.load(opened) is first
            assert opened.cache_stats().compiles == 1


class TestErrorFamily:
    """Every failure is a `PolicyError` with a code, a message and a location (or none)."""

    @pytest.mark.parametrize("ref", ["a..b", "-rf", "HEAD^", "HEAD~1~2", "main@{1}", ""])
    def test_a_revision_outside_the_grammar_is_refused_up_front(self, ref: str) -> None:
        with pytest.raises(InvalidRevision) as raised:
            PolicySource.git(".", ref)
        assert raised.value.code == "invalid_revision"
        assert raised.value.diagnostics[0].code == "invalid_revision"

    def test_each_code(self, repo: Repo, tmp_path: Path) -> None:
        path = str(repo.working_tree_dir)
        cases: list[tuple[type[SourceError], str, Any]] = [
            (UnknownRevision, "unknown_revision", lambda: PolicySource.git(path, "nope").load()),
            (UnknownRevision, "unknown_revision", lambda: PolicySource.git(path, "HEAD~9").load()),
            (
                UnknownRevision,
                "unknown_revision",
                lambda: PolicySource.git(path, as_of=datetime(2020, 1, 1, tzinfo=UTC)).load(),
            ),
            (NotARepository, "not_a_repository", lambda: PolicySource.git(tmp_path).load()),
            (
                InvalidPolicyDir,
                "invalid_policy_dir",
                lambda: PolicySource.git(path, policy_dir="../elsewhere"),
            ),
            (GitError, "git_error", lambda: PolicySource.git(path).open().fetch("origin")),
        ]
        for kind, code, action in cases:
            with pytest.raises(PolicyError) as raised:
                action()
            error = raised.value
            assert isinstance(error, kind), (code, error)
            (diagnostic,) = error.diagnostics
            assert diagnostic.code == code
            assert diagnostic.as_dict()["location"] is None  # not in a file
            assert error.render() == f"error: {error} [{code}]"

    def test_the_revision_errors_are_still_value_errors(self) -> None:
        # Code written before the family existed catches them as it did.
        assert issubclass(InvalidRevision, ValueError)
        assert issubclass(UnknownRevision, ValueError)
        assert issubclass(GitError, RuntimeError)

    def test_a_commit_that_does_not_compile_names_file_line_and_column(self, repo: Repo) -> None:
        commit_policies(repo, {"policies/rules.policy": BROKEN}, "broken")
        with pytest.raises(PolicyError) as raised:
            PolicySource.git(str(repo.working_tree_dir)).load()
        first = raised.value.errors[0]
        assert (first.span.file, first.span.line) == ("policies/rules.policy", 4)
        assert not isinstance(raised.value, SourceError)


class TestOneCompilePath:
    """Whoever compiles — a folder, the git store, the review — goes through `compile_set`,
    with the collector paused, and a crash deep in compiling fails closed as a policy error."""

    @pytest.fixture
    def spy(self, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
        seen: list[bool] = []
        real = loader.compile_checked

        def watched(*args: Any, **kwargs: Any) -> Any:
            seen.append(gc.isenabled())
            return real(*args, **kwargs)

        monkeypatch.setattr(loader, "compile_checked", watched)
        return seen

    def test_every_caller_compiles_with_the_collector_paused(
        self, spy: list[bool], repo: Repo, tmp_path: Path
    ) -> None:
        assert gc.isenabled()
        folder = tmp_path / "on-disk"
        folder.mkdir()
        (folder / "all.policy").write_text(TEAM + RULE, encoding="utf-8")
        PolicySource.folder(folder).load()
        PolicySource.git(str(repo.working_tree_dir), "main").load()
        with PolicyRepo(str(repo.working_tree_dir), blame=False) as store:
            store.load("HEAD~1")
        load_side("base", "x", {"all.policy": TEAM + RULE})
        assert spy == [False, False, False, False]
        assert gc.isenabled()

    def test_a_recursion_error_fails_closed_as_a_policy_error(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        def too_deep(*args: Any, **kwargs: Any) -> Any:
            raise RecursionError("maximum recursion depth exceeded")

        monkeypatch.setattr(loader, "compile_checked", too_deep)
        (tmp_path / "all.policy").write_text(TEAM + RULE, encoding="utf-8")
        with pytest.raises(PolicyError) as raised:
            PolicySource.folder(tmp_path).load()
        (diagnostic,) = raised.value.diagnostics
        assert diagnostic.code == "too-deep"
        assert diagnostic.span.file == str(tmp_path / "all.policy")
        assert gc.isenabled()

    def test_the_review_reports_a_broken_side_with_every_error(self) -> None:
        with pytest.raises(SideError) as raised:
            load_side("head", "broken", {"r.policy": TEAM + BROKEN})
        assert raised.value.error.errors[0].span.line == 7


def test_a_zone_name_too_long_for_a_file_name_is_a_diagnostic_not_a_crash(tmp_path: Path) -> None:
    calendar = 'calendar office {\n    zone "' + "a" * 100_000 + '"\n    open always\n}\n'
    (tmp_path / "all.policy").write_text(TEAM + calendar, encoding="utf-8")
    with pytest.raises(PolicyError) as raised:
        PolicySource.folder(tmp_path).load()
    (error,) = raised.value.errors
    assert (error.code, error.span.line) == ("unknown-zone", 5)


class TestAdapters:
    """Every command reports a source error the same way: one line, the message and its code."""

    @pytest.mark.parametrize(
        ("args", "code"),
        [
            (
                ["check", "--repo", "{repo}", "--ref", "HEAD~1~2", "--request", "-"],
                "invalid_revision",
            ),
            (["check", "--repo", "{repo}", "--ref", "nope", "--request", "-"], "unknown_revision"),
            (["check", "--repo", "{elsewhere}", "--request", "-"], "not_a_repository"),
            (["log", "x", "--repo", "{repo}", "--ref", "a..b"], "invalid_revision"),
            (["log", "x", "--repo", "{repo}", "--policy-dir", "../up"], "invalid_policy_dir"),
            (["replay", "--repo", "{repo}", "--ref", "nope"], "unknown_revision"),
            (["diff", "--repo", "{repo}", "nope", "HEAD"], "unknown_revision"),
            (["diff", "--repo", "{elsewhere}", "HEAD~1", "HEAD"], "not_a_repository"),
        ],
    )
    def test_a_source_error_is_one_line_with_its_code(
        self,
        args: list[str],
        code: str,
        repo: Repo,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        from replygate.cli.main import main

        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        filled = [a.format(repo=repo.working_tree_dir, elsewhere=elsewhere) for a in args]
        assert main(filled) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert err.startswith("replygate: error: ") and err.endswith(f" [{code}]\n")
        assert err.count("\n") == 1


def test_two_threads_compiling_at_once_keep_the_collector_paused_until_both_are_done(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    inside = threading.Barrier(2)
    seen: list[bool] = []
    real = loader.compile_checked

    def meet(*args: Any, **kwargs: Any) -> Any:
        inside.wait(timeout=30)  # both threads are compiling now
        policy = real(*args, **kwargs)
        seen.append(gc.isenabled())
        return policy

    monkeypatch.setattr(loader, "compile_checked", meet)
    sources = [{"a.policy": TEAM + RULE}, {"b.policy": TEAM + RULE}]
    threads = [threading.Thread(target=loader.compile_set, args=(s,)) for s in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert seen == [False, False]
    assert gc.isenabled()
