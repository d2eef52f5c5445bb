"""Policies straight from a git repository: any revision, its commit in every decision.

    resolve(rev) -> files at sha -> compile_set (blame as annotator) -> cache by sha

`PolicyRepo` is a facade over the parts, one module a question: `revisions` (which commit),
`files` (which files of it are the policy), `blame` (who last changed each rule), `history`
(how a rule came to be), `cache` (compiled commits by sha). Only committed content is read (git
objects, never the work tree), so a decision names exactly the text that made it. Every failure
is a `PolicyError` of the `engine.errors` family.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path

from git.exc import GitCommandError
from git.objects import Tree

from replygate.engine.compiler import Annotate
from replygate.engine.errors import GitError, InvalidRevision
from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.git.blame import Blamer
from replygate.engine.git.cache import CacheStats, CompiledCache
from replygate.engine.git.files import PolicyFiles
from replygate.engine.git.handle import GitFailed, GitHandle, git_words, reading
from replygate.engine.git.history import RuleChange, RuleHistory
from replygate.engine.git.revisions import Revisions, named_revisions
from replygate.engine.gitrefs import is_full_sha, split_ancestry, validate_ref
from replygate.engine.loader import compile_set
from replygate.engine.models import PolicyVersion
from replygate.policy_dsl.checker import CheckResult

log = logging.getLogger("replygate.git")


class PolicyRepo:
    """A policy set kept in a git repository, compiled per commit and cached by sha.

    `policy_dir` is the folder (or single file) that holds the policy inside the repository;
    None means `policies/` when the commit has that folder, else every `*.policy` file.
    `blame=False` leaves `source.commit`/`source.author` empty and saves the blame cost.
    """

    def __init__(
        self,
        path: str | Path,
        policy_dir: str | None = None,
        cache_size: int = 16,
        *,
        blame: bool = True,
    ) -> None:
        self.files = PolicyFiles(policy_dir)
        self._cache = CompiledCache(cache_size)
        self._git = GitHandle(path)
        self.path = self._git.path
        self.blame = blame
        self.cache_size = cache_size
        self.revisions = Revisions(self._git)
        self._blamer = Blamer(self._git)
        self._history = RuleHistory(self._git, self.revisions, self.files, self._blamer)
        self.shallow = self._is_shallow()
        if self.shallow:
            log.warning(
                "%s is a shallow clone: rule authors, `log` and as-of answers stop at its "
                "oldest fetched commit and may name the wrong author or commit "
                "(git fetch --unshallow gives the whole history)",
                self.path,
            )

    def _is_shallow(self) -> bool:
        try:
            answer = self._git.run("rev_parse", "--is-shallow-repository")
        except (GitFailed, GitError):  # an old git without the option: a full clone, as before
            return False
        return answer.strip() == "true"

    @property
    def policy_dir(self) -> str | None:
        """The policy folder inside the repository, as given (None: the default)."""
        return self.files.policy_dir

    # ---- lifetime ------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the git helper processes gitpython keeps open."""
        self._git.close()

    def __enter__(self) -> PolicyRepo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PolicyRepo({str(self.path)!r}, policy_dir={self.policy_dir!r})"

    # ---- revisions -----------------------------------------------------------------------------
    def resolve(self, rev: str) -> str:
        """The full sha of the commit `rev` names (branch, tag, sha, `origin/main`, `HEAD~2`)."""
        base, steps = split_ancestry(rev)
        if steps == 0 and is_full_sha(base) and base in self._cache:
            return base
        return self.revisions.resolve(rev)

    def named_revisions(self, rev: str = "HEAD", recent: int = 20) -> list[tuple[str, str, str]]:
        """Branches, tags and the last `recent` commits of `rev`: (name, sha, subject)."""
        return named_revisions(self._git, self.resolve(rev), recent)

    def full_name(self, rev: str) -> str | None:
        """The full ref name a short one stands for, when it is exactly one ref (else None)."""
        return self.revisions.full_name(rev)

    def resolve_as_of(self, rev: str, when: datetime) -> str:
        """The commit `rev` pointed to at `when` (first-parent history, committer dates)."""
        return self.revisions.resolve_as_of(rev, when)

    # ---- committed sources ---------------------------------------------------------------------
    def sources_at(self, sha: str) -> dict[str, str]:
        """The policy files of a commit, from git objects only, keyed by repo-relative path.

        Raises `PolicyError` when the commit holds no policy file or one is not UTF-8 text.
        """
        commit = self.resolve(sha)
        with self._git.lock, reading(commit):
            return self.files.read(self._git.commit(commit).tree)

    # ---- compiled policies ---------------------------------------------------------------------
    def load(self, rev: str = "HEAD", as_of: datetime | None = None) -> CompiledPolicy:
        """The compiled policy at `rev` (or at what `rev` was at `as_of`), from the cache if there.

        Raises a `PolicyError` of the `engine.errors` family: `InvalidRevision`,
        `UnknownRevision`, `GitError`, or the commit's own errors when it does not compile.
        """
        sha = self.resolve(rev) if as_of is None else self.resolve_as_of(rev, as_of)
        return self.policy_at(sha, ref=rev)

    def policy_at(self, sha: str, ref: str | None = None) -> CompiledPolicy:
        """The compiled policy of one commit, labelled with the ref it was reached by."""
        sha = self.resolve(sha)  # free for a cached sha; otherwise proves the commit exists
        return self._cache.get(sha, self._compile, ref)

    def cache_stats(self) -> CacheStats:
        """Hits, misses, compilations and evictions so far (for tests and metrics)."""
        return self._cache.stats()

    def _compile(self, sha: str) -> CompiledPolicy:
        with self._git.lock, reading(sha):
            tree = self._git.commit(sha).tree
            sources = self.files.read(tree)
        version = PolicyVersion(files=list(sources), commit=sha)
        return compile_set(sources, version, self._annotator(sha, tree)).policy

    def _annotator(self, sha: str, tree: Tree) -> Callable[[CheckResult], Annotate] | None:
        """Blame as the compile path's annotator: called once the commit checked clean."""
        if not self.blame:
            return None
        return partial(self._blamer.annotator, sha, tree)

    # ---- rule history --------------------------------------------------------------------------
    def rule_history(self, rule: str, rev: str = "HEAD") -> list[RuleChange]:
        """The first-parent commits, newest first, that added, changed or removed `rule`."""
        return self._history.of(rule, rev)

    # ---- remotes -------------------------------------------------------------------------------
    def check_remote(self, remote: str) -> None:
        """GitError when `remote` is not a valid remote name or the repository has no such
        remote: what a server that fetches checks before it starts."""
        try:
            validate_ref(remote)
        except InvalidRevision as error:
            raise GitError(f"remote name {remote!r} is not valid") from error
        with self._git.lock:
            names = {remote.name for remote in self._git.repo.remotes}
        if remote not in names:
            raise GitError(f"the repository has no remote named '{remote}'")

    def fetch(self, remote: str = "origin") -> None:
        """Update the remote-tracking branches (`origin/main`) from `remote`, pruning those whose
        branch the remote no longer has: a follower of a deleted branch must see it gone, not
        serve the stale tracking ref as current."""
        self.check_remote(remote)
        try:
            with self._git.lock:
                self._git.repo.remote(remote).fetch(prune=True)
        except ValueError as error:
            raise GitError(f"the repository has no remote named '{remote}'") from error
        except GitCommandError as error:
            raise GitError(f"fetching from '{remote}' failed: {git_words(error)}") from error
