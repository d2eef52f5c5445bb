"""The Changes page: `replygate diff` between two revisions, for a reviewer in a browser.

The sides come from the repository the server follows, or, when it serves a folder inside a git
repository, from that repository with the folder's files on disk as `WORKTREE`. The report is
the same data as `replygate diff --format json`, computed once per pair of commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replygate.engine.errors import PolicyError, SourceError
from replygate.engine.review import SideError, compare, load_side, render
from replygate.engine.review.coverage import (
    coverage_json,
    coverage_text,
    gap_headline,
    review_coverage,
)
from replygate.engine.review.render import example_text
from replygate.engine.source import PolicySource

WORKTREE = "WORKTREE"


@dataclass(frozen=True)
class Repository:
    """Where the sides are read: a repository, its policy folder, and the ref it follows."""

    path: Path
    policy_dir: str | None
    ref: str
    worktree: bool  # the served folder on disk may be a side


def repository_of(service: Any) -> Repository | None:
    """The git repository behind what the server serves, or None (a folder outside git)."""
    settings = service.settings
    if settings.repo:
        return Repository(Path(settings.repo), None, settings.ref, False)
    folder = Path(settings.policy_folder).resolve()
    for parent in (folder, *folder.parents):
        if (parent / ".git").exists():
            inside = folder.relative_to(parent).as_posix()
            return Repository(parent, None if inside in ("", ".") else inside, "HEAD", True)
    return None


def choices(repo: Repository) -> list[tuple[str, str]]:
    """(value, label) for the revision pickers: branches, tags, recent commits, WORKTREE."""
    source = PolicySource.git(repo.path, repo.ref, policy_dir=repo.policy_dir)
    with source.open(blame=False) as opened:
        found = opened.named_revisions(repo.ref)
    options = [(name, f"{name} — {subject[:60]}") for name, _sha, subject in found]
    if repo.worktree:
        options.insert(0, (WORKTREE, "WORKTREE — the files on disk"))
    return options


def default_pair(repo: Repository) -> tuple[str, str]:
    """What the page compares before the visitor picks: the files on disk against the ref, or
    the ref's last commit against its parent (the ref against itself when it has none: a
    repository of one commit answered "'main' has fewer than 1 commits before it")."""
    if repo.worktree:
        return repo.ref, WORKTREE
    source = PolicySource.git(repo.path, repo.ref, policy_dir=repo.policy_dir)
    try:
        with source.open(blame=False) as opened:
            opened.resolve(f"{repo.ref}~1")
    except (SourceError, PolicyError):
        return repo.ref, repo.ref
    return f"{repo.ref}~1", repo.ref


def resolved(repo: Repository, base: str, head: str) -> tuple[str, str] | dict[str, Any]:
    """What the two sides are, as a cache key: commit shas (a branch that moved is another
    pair), WORKTREE by its files' content; or the report's {"error": …} when one is unknown."""
    import hashlib

    keys = []
    side = "base"
    source = PolicySource.git(repo.path, repo.ref, policy_dir=repo.policy_dir)
    try:
        with source.open(blame=False) as opened:
            for name, spec in (("base", base), ("head", head)):
                side = name  # named in the error if this side cannot be read
                if spec == WORKTREE and repo.worktree:
                    _, files = PolicySource.worktree(repo.path, repo.policy_dir).read(None)
                    digest = hashlib.sha256(json.dumps(sorted(files.items())).encode()).hexdigest()
                    keys.append(f"{WORKTREE}:{digest}")
                else:
                    keys.append(opened.resolve(spec))  # the sha alone: no file is read twice
    except SourceError as error:
        return {"error": str(error), "details": None}
    except PolicyError as error:
        return {"error": "could not be read", "side": side, "details": error.render()}
    return keys[0], keys[1]


def report(repo: Repository, base: str, head: str) -> dict[str, Any]:
    """The diff report as `replygate diff --format json` gives it, or {"error": …} (with the
    `side`, base or head, when one side fails: the page names it as the visitor wrote it)."""
    sides = []
    name = "base"
    source = PolicySource.git(repo.path, repo.ref, policy_dir=repo.policy_dir)
    opened = source.open(blame=False)
    try:
        for name, spec in (("base", base), ("head", head)):
            if spec == WORKTREE and repo.worktree:
                side_source = PolicySource.worktree(repo.path, repo.policy_dir)
            else:
                side_source = PolicySource.git(repo.path, spec, policy_dir=repo.policy_dir)
            commit, sources = side_source.read(opened if side_source.is_git else None)
            sides.append(load_side(name, spec, sources, commit))
    except SideError as error:
        return {"error": "does not compile", "side": error.name, "details": error.error.render()}
    except SourceError as error:
        return {"error": str(error), "details": None}
    except PolicyError as error:
        return {"error": "could not be read", "side": name, "details": error.render()}
    finally:
        opened.close()
    review = compare(sides[0], sides[1])
    data: dict[str, Any] = json.loads(render(review, "json"))
    for group in data["impact"]["groups"]:
        for example in group["examples"]:
            # The two lines `replygate diff` prints for it, not the JSON's dict.
            example["text"] = example_text(
                example["summary"], example["rule_before"], example["rule_after"]
            )
    gaps = review_coverage(review.base.policy, review.head.policy)
    if gaps is not None:
        data["coverage"] = coverage_json(gaps)
        data["coverage"]["text"] = coverage_text(gaps)
        if gaps.opened:
            data["summary"]["widens"] = True
    data["widening_text"] = widening_text(data)
    return data


def widening_text(data: dict[str, Any]) -> str | None:
    """What the page's banner says after "Widening:", or None when nothing widens: the number
    of decisions, and an opened coverage gap in the words `replygate diff` heads its report
    with when that is what widens."""
    summary = data["summary"]
    if not summary.get("widens"):
        return None
    opened = bool(data.get("coverage", {}).get("opened"))
    parts = []
    if summary.get("widening") or not opened:
        count = summary.get("widening", 0)
        parts.append(
            f"{count} {'decision becomes' if count == 1 else 'decisions become'} more permissive"
        )
    if opened:
        parts.append(gap_headline("html"))
    return "; and ".join(parts)
