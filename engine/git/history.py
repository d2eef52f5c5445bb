"""How a rule came to be: the first-parent commits that added, changed or removed it.

Rules are compared as syntax trees, so a layout-only change is not a change; a commit in which
the file holding the rule does not parse is skipped (the rule's state carries over it). On a
merge, blame names the branch commit that wrote the rule's new text, and its author.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from git.objects import Blob, Commit

from replygate.engine.errors import InvalidPolicyDir
from replygate.engine.git.blame import Blamer
from replygate.engine.git.files import PolicyFiles
from replygate.engine.git.handle import GitHandle, reading
from replygate.engine.git.revisions import Revisions
from replygate.engine.git.times import commit_date
from replygate.policy_dsl import ast
from replygate.policy_dsl.parser import parse_policy
from replygate.policy_dsl.source import PolicyError

Change = Literal["added", "changed", "removed"]
_Seen = dict[str, "ast.Rule | Literal[False] | None"]


@dataclass(frozen=True, slots=True)
class RuleChange:
    """One commit of a rule's history: who changed it, when, and how (added, changed, removed)."""

    commit: str
    author: str
    date: datetime
    summary: str
    change: Change
    # When `commit` is a merge, the branch commit that wrote the rule's new text, and its author
    # (from blame): on a branch that merges pull requests, the merger is rarely the writer.
    written_in: str | None = None
    written_by: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """The JSON form `replygate log --format json` prints."""
        return {
            "commit": self.commit,
            "author": self.author,
            "date": self.date.isoformat(),
            "summary": self.summary,
            "change": self.change,
            "written_in": self.written_in,
            "written_by": self.written_by,
        }


class RuleHistory:
    """Walks a ref's first-parent history for one rule (see the module docstring)."""

    def __init__(
        self, handle: GitHandle, revisions: Revisions, files: PolicyFiles, blamer: Blamer
    ) -> None:
        self.handle = handle
        self.revisions = revisions
        self.files = files
        self.blamer = blamer

    def of(self, rule: str, rev: str = "HEAD") -> list[RuleChange]:
        """The commits, newest first, that added, changed or removed `rule` along `rev`.

        `InvalidPolicyDir` when the policy folder named is in no commit of that history: a typo
        in the folder is not an empty history (no rule of that name).
        """
        tip = self.revisions.resolve(rev)
        history = self.revisions.first_parent(tip)
        seen: _Seen = {}
        previous: ast.Rule | None = None
        last_root: str | None = None
        changes: list[RuleChange] = []
        folder_seen = False
        for sha, _ in reversed(history):
            with self.handle.lock, reading(sha):
                commit = self.handle.commit(sha)
                root = self.files.root(commit.tree)
                root_sha = root.hexsha if root is not None else None
                folder_seen = folder_seen or root is not None
                if root_sha is not None and root_sha == last_root:
                    continue
                blobs = self.files.blobs(commit.tree) if root is not None else []
            last_root = root_sha
            current = self._rule_in(rule, blobs, seen, sha)
            if current is False:
                continue
            change = _classify(previous, current)
            previous = current
            if change is not None:
                changes.append(self._change(commit, change, current))
        if not folder_seen and self.files.policy_dir is not None:
            raise InvalidPolicyDir(
                f"policy folder '{self.files.policy_dir}' is in no commit of the history of '{rev}'"
            )
        return changes[::-1]

    def _rule_in(
        self, rule: str, blobs: list[tuple[str, Blob]], seen: _Seen, sha: str
    ) -> ast.Rule | Literal[False] | None:
        """The rule's tree in these files (of commit `sha`): None when absent, False when its
        file does not parse."""
        for path, blob in blobs:
            if blob.hexsha not in seen:
                seen[blob.hexsha] = self._find_rule(rule, path, blob, sha)
            found = seen[blob.hexsha]
            if found is not None:
                return found
        return None

    def _find_rule(
        self, rule: str, path: str, blob: Blob, sha: str
    ) -> ast.Rule | Literal[False] | None:
        """One file's version of the rule; only a file that names the rule is parsed at all.

        The rule's own declaration is parsed first (a 10,000-rule file need not be parsed whole
        for one rule); if that cut does not parse on its own, the whole file is parsed.
        """
        with self.handle.lock, reading(sha):
            data = blob.data_stream.read()
        if rule.encode("utf-8") not in data:
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return False
        cut = declaration_text(text, rule)
        if cut is not None:
            try:
                found = _rule_named(cut, path, rule)
            except PolicyError:
                found = None  # the cut was wrong (a brace in an odd place): parse it all
            if found is not None:
                return found
        try:
            return _rule_named(text, path, rule)
        except PolicyError:
            return False

    def _change(self, commit: Commit, change: Change, rule: ast.Rule | None) -> RuleChange:
        with self.handle.lock:
            author, summary = authorship(commit.data_stream.read())
            found = RuleChange(
                commit=commit.hexsha,
                author=author,
                date=commit_date(commit.committed_date, commit.committer_tz_offset),
                summary=summary,
                change=change,
            )
            merged = len(commit.parents) > 1
            tree = commit.tree
        if not merged or rule is None:
            return found
        span = rule.span
        blame = self.blamer.blame(found.commit, span.file, self.blamer.ignored_revs(tree))
        writer = self.blamer.newest(blame, span.line, span.end_line)
        if writer is None or writer == found.commit:
            return found
        return replace(found, written_in=writer, written_by=blame.commits[writer].author)


_NOT_CODE = re.compile(r'"(?:[^"\\\n]|\\.)*"|/(?:[^/\\\n]|\\.)+/i?|#.*')


def declaration_text(text: str, rule: str) -> str | None:
    """The lines from `rule NAME` to the brace that closes it (quotes, patterns, comments aside).

    Blank lines stand in for everything before, so positions parsed from the cut are the file's.
    """
    start = re.search(rf"(?m)^[ \t]*rule\s+{re.escape(rule)}(?=[\s{{])", text)
    if start is None:
        return None
    padding = "\n" * text.count("\n", 0, start.start())
    lines: list[str] = []
    depth = 0
    opened = False
    for line in text[start.start() :].splitlines():
        lines.append(line)
        code = _NOT_CODE.sub("", line)
        depth += code.count("{") - code.count("}")
        opened = opened or "{" in code
        if opened and depth <= 0:
            break
    return padding + "\n".join(lines)


def _rule_named(text: str, path: str, rule: str) -> ast.Rule | None:
    """The rule called `rule` in `text`, or None; raises `PolicyError` when `text` does not parse."""
    for declaration in parse_policy(text, path).declarations:
        if isinstance(declaration, ast.Rule) and declaration.name.value == rule:
            return declaration
    return None


def _classify(before: ast.Rule | None, after: ast.Rule | None) -> Change | None:
    if before is None:
        return None if after is None else "added"
    if after is None:
        return "removed"
    return None if before == after else "changed"


def authorship(raw: bytes) -> tuple[str, str]:
    """The author's name and the summary line of a raw commit object, decoded as git does.

    A commit may say which encoding its text is in (`encoding ISO-8859-1`); git log and git
    blame decode with it, and gitpython does not (it never matches the header), so the name is
    read here from the object itself: `log` and the reasons then name the same person.
    """
    head, _, message = raw.partition(b"\n\n")
    author = b""
    encoding = "utf-8"
    for line in reversed(head.split(b"\n")):  # reversed: the first of a repeated header wins
        if line.startswith(b"author "):
            author = line.removeprefix(b"author ")
        elif line.startswith(b"encoding "):
            encoding = line.removeprefix(b"encoding ").decode("ascii", errors="replace").strip()
    # git splits an identity at its first '<': the name is what comes before, trimmed.
    name = _decode(author.split(b"<", 1)[0], encoding).strip()
    return name, _summary(_decode(message, encoding))


def _decode(data: bytes, encoding: str) -> str:
    """Text in the commit's encoding; UTF-8 when git would not know the name either."""
    try:
        return data.decode(encoding, errors="replace")
    except (LookupError, ValueError):
        # An unknown name, a codec that is not for text (base64, rot13) or one that refuses
        # the bytes whatever `errors` says (idna): read it as git's default, UTF-8.
        return data.decode("utf-8", errors="replace")


def _summary(text: str) -> str:
    # The first line as git cuts it: at "\n" only, not at U+2028 and the other breaks Python knows.
    return text.strip().split("\n", 1)[0].strip()
