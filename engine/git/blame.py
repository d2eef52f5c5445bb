"""Who last changed each rule: `git blame` of the rule's lines, newest commit wins.

Each rule's reason carries the last commit that changed the rule's lines and that commit's
author. Commits listed in the commit's own `.git-blame-ignore-revs` (a reformat, say) are
skipped, as GitHub does.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from git.exc import GitCommandError
from git.objects import Blob, Tree

from replygate.engine.compiler import Annotate
from replygate.engine.errors import GitError
from replygate.engine.git.handle import GitHandle, shown_git_text
from replygate.engine.gitrefs import is_full_sha
from replygate.engine.models import Source
from replygate.policy_dsl.checker import CheckResult
from replygate.policy_dsl.source import Span

BLAME_IGNORE_FILE = ".git-blame-ignore-revs"
_HEAD_SETS = 4096  # sets of commits whose heads are kept
# ASCII only: `\d` and `int` would also take other scripts' digits.
_BLAME_HEADER = re.compile(r"([0-9a-f]{40}) [0-9]+ ([0-9]+)(?: [0-9]+)?")
_BLAME_KEY = re.compile(r"[a-z][a-z-]*")
_BLAME_TIME = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class BlameCommit:
    """A commit as blame reports it: its author and committer time."""

    author: str
    committed: int


@dataclass(frozen=True, slots=True)
class Blame:
    """Which commit last touched each line of one file (index 0 is line 1)."""

    lines: list[str]
    commits: dict[str, BlameCommit]


class Blamer:
    """Blame for the store: per-file blames, the newest commit of a line range, the annotator."""

    def __init__(self, handle: GitHandle) -> None:
        self.handle = handle
        # Which of a set of commits no other of them descends from: the sets a policy's rules
        # are blamed to repeat (a rule written in one commit and edited in another), so each is
        # asked of git once.
        self._heads: dict[frozenset[str], frozenset[str]] = {}
        self._heads_lock = threading.Lock()

    def annotator(self, sha: str, tree: Tree, result: CheckResult) -> Annotate:
        """`annotate(span, source)` adding the commit and author that last changed the lines of
        `span` (a rule, a response time); each file is blamed once, when first asked."""
        ignore = self.ignored_revs(tree)
        blames: dict[str, Blame] = {}

        def annotate(span: Span, source: Source) -> Source:
            blame = blames.get(span.file)
            if blame is None:
                blame = blames[span.file] = self.blame(sha, span.file, ignore)
            found = self.newest(blame, span.line, span.end_line)
            if found is None:
                return source
            return source.model_copy(
                update={"commit": found, "author": blame.commits[found].author}
            )

        return annotate

    def blame(self, sha: str, path: str, ignore: list[str]) -> Blame:
        """`git blame` of one file at one commit, ignoring the commits in `ignore`."""
        # -M and -C follow a rule moved within its file, or to another file in the same commit:
        # an auditor asks who wrote it, and a move is not a change (`replygate log` agrees).
        args = ["--porcelain", "-M", "-C", "--ignore-revs-file", ""]
        for rev in ignore:
            args += ["--ignore-rev", rev]
        out = self.handle.run("blame", *args, sha, "--", path)
        return parse_blame(out, f"git blame of {path} at {sha[:12]}")

    def newest(self, blame: Blame, first: int, last: int) -> str | None:
        """The newest commit among lines first..last: the one no other descends from (then the
        latest committed). Committer time alone would name an ancestor whose clock ran ahead."""
        shas = {blame.lines[n - 1] for n in range(first, last + 1) if 0 < n <= len(blame.lines)}
        if len(shas) < 2:
            return next(iter(shas), None)
        heads = self.heads(frozenset(shas))
        return max(sorted(heads), key=lambda sha: blame.commits[sha].committed)

    def heads(self, shas: frozenset[str]) -> frozenset[str]:
        """The commits of `shas` that no other of them descends from (`git merge-base
        --independent`: one call, bounded by the commits asked about, not the history)."""
        with self._heads_lock:
            found = self._heads.get(shas)
        if found is None:
            out = self.handle.run("merge_base", "--independent", *sorted(shas))
            found = frozenset(line for line in out.split("\n") if line in shas) or shas
            with self._heads_lock:
                if len(self._heads) >= _HEAD_SETS:
                    self._heads.clear()  # a bound, not a policy: sets are cheap to ask again
                self._heads[shas] = found
        return found

    def ignored_revs(self, tree: Tree) -> list[str]:
        """Commits listed in the commit's own `.git-blame-ignore-revs` that exist here."""
        try:
            item = tree / BLAME_IGNORE_FILE
        except KeyError:
            return []
        if not isinstance(item, Blob):
            return []
        text = item.data_stream.read().decode("utf-8", errors="replace")
        wanted = []
        for line in text.split("\n"):  # as git reads the file: U+2028 does not end a line
            entry = line.split("#", 1)[0].strip(" \t\r")
            if is_full_sha(entry) and self._is_commit(entry):
                wanted.append(entry)
        return wanted

    def _is_commit(self, sha: str) -> bool:
        try:
            with self.handle.lock:
                return bool(self.handle.repo.odb.info(bytes.fromhex(sha)).type == b"commit")
        except (ValueError, GitCommandError):
            return False


def parse_blame(out: str, what: str = "git blame") -> Blame:
    """`git blame --porcelain` to line -> commit, plus author and committer time per commit.

    The output is entries of a header line (`<sha> <line> <line> [<count>]`), the commit's
    `key value` lines the first time it appears, and the file's line after a TAB. Only "\n"
    ends a line: `str.splitlines` would also split at U+2028, \x1c and the like, so a policy's
    comment or an author's name could write header lines of its own and name any commit and
    author. A line out of that shape is a `GitError` (the policy is not loaded), never a guess.
    """
    lines: dict[int, str] = {}
    fields: dict[str, dict[str, str]] = {}
    current: str | None = None  # the entry being read, until its TAB line
    rows = out.split("\n")
    if rows[-1] == "":
        rows.pop()
    for number, row in enumerate(rows, 1):
        if current is None:
            header = _BLAME_HEADER.fullmatch(row)
            if header is None or int(header[2]) in lines:
                raise _unreadable(what, f"line {number} is not an entry's first line: {row!r}")
            current = header[1]
            lines[int(header[2])] = current
            fields.setdefault(current, {})
        elif row.startswith("\t"):
            current = None  # the file's own text: never read, so it cannot set anything
        else:
            key, _, value = row.partition(" ")
            if _BLAME_KEY.fullmatch(key) is None:
                raise _unreadable(what, f"line {number} is not a header line: {row!r}")
            fields[current].setdefault(key, value)
    if current is not None:
        raise _unreadable(what, "the output ends inside an entry")
    if sorted(lines) != list(range(1, len(lines) + 1)):
        raise _unreadable(what, "it does not name every line of the file once")
    return Blame([lines[n] for n in sorted(lines)], _commits(fields, what))


def _commits(fields: dict[str, dict[str, str]], what: str) -> dict[str, BlameCommit]:
    """Each commit's author and committer time; a commit without them is a `GitError`."""
    commits = {}
    for sha, found in fields.items():
        author = found.get("author")
        committed = found.get("committer-time", "")
        if author is None or _BLAME_TIME.fullmatch(committed) is None:
            raise _unreadable(what, f"commit {sha[:12]} has no author or committer time")
        commits[sha] = BlameCommit(shown_git_text(author), int(committed))
    return commits


def _unreadable(what: str, problem: str) -> GitError:
    return GitError(f"cannot read the output of {what}: {problem}")
