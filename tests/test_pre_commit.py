"""The pre-commit hooks work from a policy repository, as a team would use them.

`pre-commit try-repo` installs this repository into its own environment (as `pip install .`
would) and runs the hooks in a temporary policy repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gitrepo import commit_policies, make_repo

ROOT = Path(__file__).resolve().parent.parent
PRE_COMMIT = [sys.executable, "-m", "pre_commit"]


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One hook environment for the module: the first run installs it, the others reuse it.
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def policy_repo(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path, "team-policies")
    files = {
        path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
        for folder in ("policies", "features")
        for path in sorted((ROOT / folder).rglob("*"))
        if path.is_file()
    }
    commit_policies(repo, files, "policies and scenarios")
    return Path(str(repo.working_tree_dir))


def commit_all(repo: Path, message: str) -> None:
    subprocess.run(["git", "commit", "--quiet", "-am", message], cwd=repo, check=True)


def try_repo(repo: Path, home: Path, *hook: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        [*PRE_COMMIT, "try-repo", str(ROOT), *hook, "--all-files"],
        cwd=repo,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_every_hook_passes_on_a_clean_policy_repository(
    policy_repo: Path, pre_commit_home: Path
) -> None:
    result = try_repo(policy_repo, pre_commit_home)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    for name in ("replygate fmt", "replygate lint", "replygate test"):
        assert f"{name}" in out
    assert out.count("Passed") >= 3


def test_fmt_rewrites_a_badly_laid_out_policy_and_fails_the_commit(
    policy_repo: Path, pre_commit_home: Path
) -> None:
    policy = policy_repo / "policies" / "care.policy"
    canonical = policy.read_text(encoding="utf-8")
    policy.write_text(canonical.replace("\n    ", "\n  "), encoding="utf-8")
    commit_all(policy_repo, "badly laid out")
    result = try_repo(policy_repo, pre_commit_home, "replygate-fmt")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "files were modified by this hook" in result.stdout
    assert policy.read_text(encoding="utf-8") == canonical


def test_lint_fails_on_an_unknown_name_and_shows_where(
    policy_repo: Path, pre_commit_home: Path
) -> None:
    policy = policy_repo / "policies" / "care.policy"
    text = policy.read_text(encoding="utf-8")
    policy.write_text(text.replace("by senior_agent", "by senior_agnet", 1), encoding="utf-8")
    commit_all(policy_repo, "typo")
    result = try_repo(policy_repo, pre_commit_home, "replygate-lint")
    assert result.returncode != 0
    assert "policies/care.policy:" in result.stdout
    assert "senior_agnet" in result.stdout
