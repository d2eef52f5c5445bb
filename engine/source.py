"""Where a policy comes from: a folder (or file) on disk, or a git repository at a revision.

    PolicySource.folder("policies")                               the files on disk
    PolicySource.git(".", "main", as_of=when, policy_dir="gov")   a commit of a repository
    PolicySource.worktree(".", policy_dir=None)                   a repository's files on disk

`source.load()` compiles it through the one compile path (`engine.loader.compile_set`, the
collector paused); `source.read()` returns its files without compiling (the review compiles
each side itself, through the same path). Every failure is a `PolicyError` of the
`engine.errors` family, so the API, the CLI, scenarios and the review catch one thing.

A revision is validated when the source is made (`engine.gitrefs.split_ancestry`, the one
grammar: a ref name or sha, optionally followed by one `~N`), before git sees anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from replygate.engine.errors import InvalidPolicyDir
from replygate.engine.gitrefs import split_ancestry
from replygate.engine.loader import compile_set, read_folder

if TYPE_CHECKING:  # git (and gitpython) is imported only by a source that reads git
    from replygate.engine.evaluator import CompiledPolicy
    from replygate.engine.git.repo import PolicyRepo

__all__ = ["DEFAULT_POLICY_DIR", "PolicySource", "clean_policy_dir"]

DEFAULT_POLICY_DIR = "policies"


def clean_policy_dir(policy_dir: str | None) -> str | None:
    """A repository-relative folder (or file), `/`-separated; None for the default."""
    if policy_dir is None:
        return None
    cleaned = PurePosixPath(policy_dir.replace("\\", "/"))
    if cleaned.is_absolute() or ".." in cleaned.parts:
        raise InvalidPolicyDir(f"policy folder '{policy_dir}' must be a path inside the repository")
    text = str(cleaned)
    return None if text in ("", ".") else text


@dataclass(frozen=True, slots=True)
class PolicySource:
    """A policy's origin; build one with `folder`, `git` or `worktree` (they validate)."""

    path: Path
    ref: str | None = None
    as_of: datetime | None = None
    policy_dir: str | None = None
    # For files on disk: file names are made relative to `root` (so reasons read
    # `policies/care.policy:28` wherever the process runs); None keeps them as found.
    root: Path | None = None
    # The files of a folder as they were read once (a server's start-up): they are what the
    # source reads and compiles, whatever the folder holds by then.
    texts: tuple[tuple[str, str], ...] | None = None

    # ---- making one ----------------------------------------------------------------------------
    @classmethod
    def folder(cls, path: str | Path, *, root: str | Path | None = None) -> PolicySource:
        """Every `.policy` file under `path` on disk (or the one file `path`)."""
        return cls(Path(path), root=None if root is None else Path(root))

    @classmethod
    def as_read(cls, path: str | Path, sources: Mapping[str, str]) -> PolicySource:
        """The folder `path` as `sources` (file name -> text, from `read()` of its folder
        source): every load compiles exactly these, so processes that load it at different
        times (a server's workers, one restarted) serve one policy, never a folder mid-edit."""
        return cls(Path(path), texts=tuple(sorted(sources.items())))

    @classmethod
    def git(
        cls,
        repo: str | Path,
        ref: str = "HEAD",
        *,
        as_of: datetime | None = None,
        policy_dir: str | None = None,
    ) -> PolicySource:
        """The policy at `ref` (or what `ref` pointed to at `as_of`) of the repository `repo`.

        Raises `InvalidRevision` for a name outside the grammar, `InvalidPolicyDir` for a policy
        folder outside the repository, `ValueError` for an `as_of` without a time-zone offset.
        """
        split_ancestry(ref)
        if as_of is not None and (as_of.tzinfo is None or as_of.utcoffset() is None):
            raise ValueError("the as-of time needs a time-zone offset")
        return cls(Path(repo), ref, as_of, clean_policy_dir(policy_dir))

    @classmethod
    def worktree(cls, repo: str | Path, policy_dir: str | None = None) -> PolicySource:
        """A repository's policy files as they are on disk, named as git names them."""
        root = Path(repo)
        cleaned = clean_policy_dir(policy_dir)
        if cleaned is not None:
            folder = root / cleaned
        elif (root / DEFAULT_POLICY_DIR).is_dir():
            folder = root / DEFAULT_POLICY_DIR
        else:
            folder = root
        return cls(folder, root=root)

    # ---- what it is ----------------------------------------------------------------------------
    @property
    def is_git(self) -> bool:
        """True for a revision of a repository, False for files on disk."""
        return self.ref is not None

    def label(self, root: Path | None = None) -> str:
        """How reports name this source: a path, or `REF in REPO (DIR)`."""
        shown = _relative(self.path, root)
        if self.ref is None:
            return shown
        when = f" as of {self.as_of.isoformat()}" if self.as_of is not None else ""
        inside = f" ({self.policy_dir})" if self.policy_dir else ""
        return f"{self.ref}{when} in {shown}{inside}"

    def open(self, *, blame: bool = True) -> PolicyRepo:
        """The repository of a git source (close it, or use it in a `with`)."""
        from replygate.engine.git.repo import PolicyRepo

        if self.ref is None:
            raise ValueError(f"'{self.path}' is a folder, not a git source")
        return PolicyRepo(self.path, self.policy_dir, blame=blame)

    # ---- reading and compiling -----------------------------------------------------------------
    def read(self, repo: PolicyRepo | None = None) -> tuple[str | None, dict[str, str]]:
        """(commit or None, file name -> text), uncompiled; `repo` is an opened `self.open()`."""
        if self.ref is None:
            return None, self._read_folder()
        if repo is None:
            with self.open(blame=False) as opened:
                return self.read(opened)
        if self.as_of is None:
            sha = repo.resolve(self.ref)
        else:
            sha = repo.resolve_as_of(self.ref, self.as_of)
        return sha, repo.sources_at(sha)

    def load(self, repo: PolicyRepo | None = None) -> CompiledPolicy:
        """The compiled policy; `repo` (an opened `self.open()`) keeps its cache across loads."""
        if self.ref is None:
            return compile_set(self._read_folder()).policy
        if repo is None:
            with self.open() as opened:
                return self.load(opened)
        return repo.load(self.ref, as_of=self.as_of)

    def _read_folder(self) -> dict[str, str]:
        if self.texts is not None:
            return dict(self.texts)
        sources = read_folder(self.path)
        if self.root is None:
            return sources
        return {_relative(Path(name), self.root): text for name, text in sources.items()}


def _relative(path: Path, root: Path | None) -> str:
    """`path` relative to `root` when it lies inside it (`/`-separated), else as it is."""
    if root is not None:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix() or "."
        except ValueError:
            pass
    return str(path)
