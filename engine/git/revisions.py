"""Which commit a revision names: now, or as of a time along its first-parent history."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from datetime import datetime

from replygate.engine.errors import AmbiguousRevision, GitError, UnknownRevision
from replygate.engine.git.handle import GitFailed, GitHandle, shown_git_text
from replygate.engine.git.times import describe
from replygate.engine.gitrefs import InvalidRef, is_full_sha, split_ancestry, validate_ref

_HISTORY_CACHE = 8
_SHORT_NAME_KINDS = ("tags", "heads", "remotes")  # where git looks for a short name, in order
_SHORT_SHA = re.compile(r"[0-9a-fA-F]{4,39}")  # git takes 4 digits and more as a short sha
_SHA256 = re.compile(r"[0-9a-f]{64}")  # what git answers in a repository of that format
_AMBIGUITY_LOOK = 32  # objects looked at to tell an ambiguous short sha from an unknown one


class Revisions:
    """Resolves revision names (validated by `engine.gitrefs` first) to full commit shas."""

    def __init__(self, handle: GitHandle) -> None:
        self.handle = handle
        self._lock = threading.Lock()
        self._histories: OrderedDict[str, list[tuple[str, int]]] = OrderedDict()

    def resolve(self, rev: str) -> str:
        """The full sha of the commit `rev` names (branch, tag, sha, `origin/main`, `HEAD~2`)."""
        base, steps = split_ancestry(rev)
        self._refuse_ambiguous(rev, base)
        target = f"{base}~{steps}^{{commit}}" if steps else f"{base}^{{commit}}"
        try:
            sha = self._rev_parse(target)
        except GitFailed as error:
            if error.status != 1:  # 1 is "no such revision"; anything else is git failing
                raise
            # Also what git says when the repository goes away under it (moved, replaced) in
            # mid-command: an existing commit was refused 422 as unknown. A repository still
            # there answers again (else git fails: 503), and the name is asked once more.
            self.handle.run("rev_parse", "--git-dir")
            try:
                sha = self._rev_parse(target)
            except GitFailed as again:
                if again.status != 1:
                    raise
                raise self._not_found(rev, base, steps) from None
        sha = sha.strip()
        if _SHA256.fullmatch(sha):
            raise GitError(
                f"{self.handle.path} names its objects with SHA-256, which replygate does not "
                "read yet: keep the policy in a SHA-1 repository (git's default)"
            )
        if not is_full_sha(sha):
            raise UnknownRevision(f"revision '{rev}' does not name a commit")
        return sha

    def _rev_parse(self, target: str) -> str:
        return self.handle.run("rev_parse", "--verify", "--quiet", "--end-of-options", target)

    def _refuse_ambiguous(self, rev: str, base: str) -> None:
        """AmbiguousRevision when a short name matches more than one ref, or a ref and a commit.

        git resolves `main` to `refs/tags/main` before `refs/heads/main`, and a branch named
        `eafbc82` before the commit `eafbc82…`: anyone who may push a tag or a branch could
        otherwise replace the policy a server follows, or the one an auditor's short sha means.
        A full name (`refs/heads/main`) must name that very ref: git would go on to look for
        `refs/tags/refs/heads/main` once the branch is gone.
        """
        if base == "HEAD" or is_full_sha(base):
            return
        if base.startswith("refs/"):
            listed = self.handle.run("for_each_ref", "--format=%(refname)", base).split("\n")
            if base not in listed:
                raise UnknownRevision(
                    f"unknown revision '{rev}' in {self.handle.path}: there is no ref {base}"
                )
            return
        names = [f"refs/{base}", *(f"refs/{kind}/{base}" for kind in _SHORT_NAME_KINDS)]
        names.append(f"refs/remotes/{base}/HEAD")
        listed = self.handle.run("for_each_ref", "--format=%(refname)", *names).split("\n")
        found = sorted(set(listed) & set(names))
        if len(found) > 1:
            raise AmbiguousRevision(
                f"revision '{rev}' is ambiguous: {' and '.join(found)} both exist; "
                f"name the one meant in full, e.g. {found[0]}{rev[len(base) :]}"
            )
        if found and _SHORT_SHA.fullmatch(base) and self._commits_starting(base):
            raise AmbiguousRevision(
                f"revision '{rev}' is ambiguous: the ref {found[0]} and a commit whose sha starts "
                f"with {base} both exist; name the ref in full or give the whole sha"
            )

    def full_name(self, rev: str) -> str | None:
        """`refs/heads/main` for `main` (with its `~N`) when the short name is exactly one ref;
        None when it is no ref, several, or not a name (a sha, HEAD, a full name already)."""
        base, steps = split_ancestry(rev)
        if base == "HEAD" or base.startswith("refs/") or is_full_sha(base):
            return None
        names = [f"refs/{base}", *(f"refs/{kind}/{base}" for kind in _SHORT_NAME_KINDS)]
        listed = self.handle.run("for_each_ref", "--format=%(refname)", *names).split("\n")
        found = sorted(set(listed) & set(names))
        if len(found) != 1:
            return None
        return f"{found[0]}~{steps}" if steps else found[0]

    def _not_found(self, rev: str, base: str, steps: int) -> UnknownRevision:
        if steps:
            try:
                self.resolve(base)
            except UnknownRevision as error:
                return error
            return UnknownRevision(
                f"revision '{rev}': '{base}' has fewer than {steps} commits before it"
            )
        commits = self._commits_starting(base) if _SHORT_SHA.fullmatch(base) else []
        if len(commits) > 1:
            return AmbiguousRevision(
                f"revision '{rev}' is ambiguous: several commits start with it, among them "
                f"{' and '.join(sha[:12] for sha in commits)}; give more of the sha"
            )
        where = self.handle.path
        return UnknownRevision(
            f"unknown revision '{rev}' in {where}: no branch, tag or commit of that name"
        )

    def _commits_starting(self, prefix: str) -> list[str]:
        """Commits whose sha starts with `prefix`, two at most (git then refuses to pick).

        Trees and blobs share the prefix space: a bounded look, on the error path and for a
        ref whose name looks like a short sha (rare; a follower pins its ref's full name).
        """
        objects = self.handle.run("rev_parse", f"--disambiguate={prefix.lower()}").split()
        commits: list[str] = []
        for sha in objects[:_AMBIGUITY_LOOK]:
            with self.handle.lock:  # gitpython's one `cat-file --batch-check` process
                kind = self.handle.repo.odb.info(bytes.fromhex(sha)).type
            if kind == b"commit":
                commits.append(sha)
                if len(commits) == 2:
                    break
        return commits

    def resolve_as_of(self, rev: str, when: datetime) -> str:
        """The commit `rev` pointed to at `when`: along its first-parent history, the newest
        commit whose committer date is at or before `when`."""
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValueError("the as-of time needs a time-zone offset")
        tip = self.resolve(rev)
        limit = when.timestamp()
        history = self.first_parent(tip)
        for sha, committed in history:
            if committed <= limit:
                return sha
        # Committer dates can go backwards along the history (rebases, skewed clocks): name the
        # earliest date that would be answered, not the first commit's.
        earliest = min((committed for _, committed in history), default=None)
        shown = "?" if earliest is None else describe(earliest)
        raise UnknownRevision(
            f"'{rev}' has no commit at or before {when.isoformat()} (the earliest commit date "
            f"along its first-parent history is {shown})"
        )

    def first_parent(self, tip: str) -> list[tuple[str, int]]:
        """(sha, committer time) along the first-parent history of `tip`, newest first."""
        with self._lock:
            known = self._histories.get(tip)
            if known is not None:
                self._histories.move_to_end(tip)
                return known
        out = self.handle.run("rev_list", "--first-parent", "--timestamp", tip, "--")
        history = []
        for line in out.splitlines():
            stamp, sha = line.split()
            history.append((sha, int(stamp)))
        with self._lock:
            self._histories[tip] = history
            while len(self._histories) > _HISTORY_CACHE:
                self._histories.popitem(last=False)
        return history


def named_revisions(handle: GitHandle, tip: str, recent: int = 20) -> list[tuple[str, str, str]]:
    """(name, sha, subject) of every branch and tag, then the last `recent` commits of `tip`
    along its first-parent history (named by their short sha): the choices a reviewer picks."""
    found: list[tuple[str, str, str]] = []
    refs = handle.run(
        "for_each_ref",
        "--sort=-committerdate",
        "--format=%(refname:short)%09%(objectname)%09%(subject)",
        "refs/heads",
        "refs/tags",
        "refs/remotes",
    )
    # Split at "\n" only: a subject may hold U+2028 and the other breaks `splitlines` knows, and
    # must not add a revision of its own making to the list.
    for line in refs.split("\n"):
        name, sha, subject = [*line.split("\t", 2), "", ""][:3]
        # A name not in UTF-8, or outside the revision grammar (`x"'><img`, which git allows),
        # could not be asked for again: not offered.
        if name and not name.endswith("/HEAD") and shown_git_text(name) == name and _askable(name):
            found.append((name, sha, shown_git_text(subject)))
    log = handle.run("log", "--first-parent", f"-n{recent}", "--format=%H%x09%s", tip, "--")
    for line in log.split("\n"):
        sha, _, subject = line.partition("\t")
        if sha:
            found.append((sha[:12], sha, shown_git_text(subject)))
    return found


def _askable(name: str) -> bool:
    try:
        validate_ref(name)
    except InvalidRef:
        return False
    return True
