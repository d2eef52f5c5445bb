"""Real git repositories for tests: make one in a tmp folder, commit policy versions to it.

    repo = make_repo(tmp_path)
    first = commit_policies(repo, {"policies/care.policy": TEXT}, "Add care rules",
                            author=("Ada", "ada@example.com"), date=at("2026-10-01 09:00"))

Commits go through the `git` command (list arguments, no shell) with the author, committer and
dates set in the environment, so each commit has exactly the identity and time a test gives it
and nothing depends on the machine's git configuration.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from git import Repo

__all__ = ["clone_repo", "commit_policies", "example_sources", "git_date", "make_repo"]

ROOT = Path(__file__).resolve().parent.parent

_ISOLATED = {
    # Neither the user's nor the system's git configuration may change what a test sees.
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def make_repo(tmp_path: Path, name: str = "repo", bare: bool = False) -> Repo:
    """A new repository at `tmp_path/name` on branch `main`, with a local identity set."""
    path = Path(tmp_path) / name
    path.mkdir(parents=True, exist_ok=True)
    repo = Repo.init(path, bare=bare, initial_branch="main")
    _configure(repo)
    return repo


def clone_repo(origin: Repo, tmp_path: Path, name: str = "clone") -> Repo:
    """A clone of `origin` at `tmp_path/name` (its remote `origin` points at the original)."""
    source = origin.git_dir if origin.bare else origin.working_tree_dir
    clone = Repo.clone_from(str(source), Path(tmp_path) / name, env=_ISOLATED)
    _configure(clone)
    return clone


def _configure(repo: Repo) -> None:
    with repo.config_writer() as config:
        config.set_value("user", "name", "Test Runner")
        config.set_value("user", "email", "runner@example.com")
        config.set_value("commit", "gpgsign", "false")
        config.set_value("core", "autocrlf", "false")


def git_date(date: datetime) -> str:
    """git's internal date format (`<unix seconds> <+hhmm>`); `date` must carry an offset."""
    offset = date.utcoffset()
    if offset is None:
        raise ValueError("commit dates need a time-zone offset")
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"{int(date.timestamp())} {sign}{hours:02d}{rest:02d}"


def commit_policies(
    repo: Repo,
    files: Mapping[str, str],
    message: str,
    author: tuple[str, str] = ("Ada", "ada@example.com"),
    date: datetime | None = None,
    *,
    replace: bool = False,
    committer: tuple[str, str] | None = None,
) -> str:
    """Write `files` (repo-relative path -> text), commit them and return the full sha.

    `replace=True` also deletes every tracked file not listed, so `files` becomes the whole
    tree. `date` (default: now) is both the author and the committer date; the committer is
    the author unless `committer` is given.
    """
    root = Path(str(repo.working_tree_dir))
    if replace:
        listed = {Path(name).as_posix() for name in files}
        for tracked in repo.git.ls_files("-z").split("\0"):
            if tracked and tracked not in listed:
                repo.git.rm("--quiet", "--", tracked)
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        repo.git.add("--", name)
    when = git_date(date or datetime.now(UTC))
    who = committer or author
    env = {
        **_ISOLATED,
        "GIT_AUTHOR_NAME": author[0],
        "GIT_AUTHOR_EMAIL": author[1],
        "GIT_AUTHOR_DATE": when,
        "GIT_COMMITTER_NAME": who[0],
        "GIT_COMMITTER_EMAIL": who[1],
        "GIT_COMMITTER_DATE": when,
    }
    repo.git.commit("--quiet", "--allow-empty", "--no-verify", "-m", message, env=env)
    return repo.head.commit.hexsha


def example_sources(folder: str = "policies") -> dict[str, str]:
    """The bundled example policy as `{"policies/care.policy": text, …}`, ready to commit."""
    return {
        f"{folder}/{path.name}": path.read_text(encoding="utf-8")
        for path in sorted((ROOT / "policies").glob("*.policy"))
    }
