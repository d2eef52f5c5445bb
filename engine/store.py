"""Policies straight from a git repository: any revision, its commit in every decision.

    resolve(rev) -> sources_at(sha) -> check -> blame -> compile -> LRU cache by sha

Only committed content is read (git objects, never the work tree), so a decision names exactly
the text that made it. Each rule's reason carries the last commit that changed the rule's lines
and that commit's author (`git blame`). A compiled commit is cached by its sha: commits never
change, so a cached policy (or a cached compile error) is valid for ever; the cache is bounded
and thread-safe, and two threads asking for the same new commit compile it once.

Every call into git goes through gitpython with a list of arguments, never a shell, and every
revision name is checked by `engine.gitrefs` before git sees it.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import Literal

import git
from git.exc import (
    GitCommandError,
    GitCommandNotFound,
    InvalidGitRepositoryError,
    NoSuchPathError,
    ODBError,
)
from git.objects import Blob, Commit, Tree

from replygate.engine.compiler import Annotate, compile_checked
from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.gitrefs import InvalidRef, is_full_sha, split_ancestry, validate_ref
from replygate.engine.loader import POLICY_SUFFIX, check_sources
from replygate.engine.models import PolicyVersion, Source
from replygate.policy_dsl import ast
from replygate.policy_dsl.checker import CheckResult
from replygate.policy_dsl.parser import parse_policy
from replygate.policy_dsl.source import Diagnostic, PolicyError, Span

__all__ = [
    "CacheStats",
    "GitError",
    "InvalidRef",
    "NotARepository",
    "PolicyRepo",
    "RuleChange",
    "UnknownRevision",
]

DEFAULT_POLICY_DIR = "policies"
BLAME_IGNORE_FILE = ".git-blame-ignore-revs"
_REGULAR_FILE_MODES = (0o100644, 0o100755)
_BLAME_HEADER = re.compile(r"([0-9a-f]{40}) \d+ (\d+)(?: (\d+))?")
_HISTORY_CACHE = 8


class UnknownRevision(ValueError):
    """A well-formed revision that names no commit (or no commit at the requested time)."""


class NotARepository(ValueError):
    """The path is not a git repository."""


class GitError(RuntimeError):
    """git itself failed (fetch refused, corrupt object, …); the message carries git's words."""


@dataclass(frozen=True, slots=True)
class RuleChange:
    """One commit of a rule's history: who changed it, when, and how (added, changed, removed)."""

    commit: str
    author: str
    date: datetime
    summary: str
    change: Literal["added", "changed", "removed"]
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


@dataclass(frozen=True, slots=True)
class CacheStats:
    """How the compiled-policy cache fared: `compiles` counts real compilations only."""

    hits: int
    misses: int
    compiles: int
    evictions: int
    size: int
    capacity: int


@dataclass(slots=True)
class _Entry:
    """A cached commit: its compiled policy or its compile error, and per-ref views of it."""

    policy: CompiledPolicy | None
    error: PolicyError | None
    views: dict[str, CompiledPolicy] = field(default_factory=dict)


@dataclass(slots=True)
class _Pending:
    """A compilation in progress that other threads wait for instead of compiling again."""

    done: threading.Event = field(default_factory=threading.Event)
    entry: _Entry | None = None
    failure: BaseException | None = None


@dataclass(frozen=True, slots=True)
class _BlameCommit:
    author: str
    committed: int


@dataclass(frozen=True, slots=True)
class _Blame:
    """Which commit last touched each line of one file (index 0 is line 1)."""

    lines: list[str]
    commits: dict[str, _BlameCommit]


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
        if cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        self.path = Path(path)
        self.policy_dir = _clean_policy_dir(policy_dir)
        self.blame = blame
        self.cache_size = cache_size
        try:
            self._repo = git.Repo(self.path)
        except (InvalidGitRepositoryError, NoSuchPathError) as error:
            raise NotARepository(f"'{path}' is not a git repository") from error
        # gitpython keeps `git cat-file` processes per repository that must not be shared by
        # two threads at once; git work is short, compiling (the long part) runs outside it.
        self._git_lock = threading.RLock()
        self._cache_lock = threading.Lock()
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._pending: dict[str, _Pending] = {}
        self._histories: OrderedDict[str, list[tuple[str, int]]] = OrderedDict()
        self._hits = self._misses = self._compiles = self._evictions = 0

    # ---- lifetime ------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the git helper processes gitpython keeps open."""
        with self._git_lock:
            self._repo.close()

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
        if steps == 0 and is_full_sha(base):
            with self._cache_lock:
                if base in self._cache:
                    return base
        target = f"{base}~{steps}^{{commit}}" if steps else f"{base}^{{commit}}"
        try:
            with self._git_lock:
                sha = self._repo.git.rev_parse("--verify", "--quiet", "--end-of-options", target)
        except GitCommandError as error:
            if error.status != 1:  # 1 is "no such revision"; anything else is git failing
                raise GitError(_git_words(error)) from error
            raise UnknownRevision(self._unknown(rev, base, steps)) from error
        except GitCommandNotFound as error:
            raise GitError("the git command is not installed (or not on PATH)") from error
        sha = str(sha).strip()
        if not is_full_sha(sha):
            raise UnknownRevision(f"revision '{rev}' does not name a commit")
        return sha

    def _unknown(self, rev: str, base: str, steps: int) -> str:
        if steps:
            try:
                self.resolve(base)
            except UnknownRevision as error:
                return str(error)
            return f"revision '{rev}': '{base}' has fewer than {steps} commits before it"
        return f"unknown revision '{rev}' in {self.path}: no branch, tag or commit of that name"

    def resolve_as_of(self, rev: str, when: datetime) -> str:
        """The commit `rev` pointed to at `when`: along its first-parent history, the newest
        commit whose committer date is at or before `when`."""
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValueError("the as-of time needs a time-zone offset")
        tip = self.resolve(rev)
        limit = when.timestamp()
        history = self._first_parent(tip)
        for sha, committed in history:
            if committed <= limit:
                return sha
        first = datetime.fromtimestamp(history[-1][1], UTC).isoformat() if history else "?"
        raise UnknownRevision(
            f"'{rev}' has no commit at or before {when.isoformat()} (its first commit is from {first})"
        )

    def _first_parent(self, tip: str) -> list[tuple[str, int]]:
        """(sha, committer time) along the first-parent history of `tip`, newest first."""
        with self._cache_lock:
            known = self._histories.get(tip)
            if known is not None:
                self._histories.move_to_end(tip)
                return known
        try:
            with self._git_lock:
                out = self._repo.git.rev_list("--first-parent", "--timestamp", tip, "--")
        except GitCommandError as error:
            raise GitError(_git_words(error)) from error
        history = []
        for line in str(out).splitlines():
            stamp, sha = line.split()
            history.append((sha, int(stamp)))
        with self._cache_lock:
            self._histories[tip] = history
            while len(self._histories) > _HISTORY_CACHE:
                self._histories.popitem(last=False)
        return history

    # ---- committed sources ---------------------------------------------------------------------
    def sources_at(self, sha: str) -> dict[str, str]:
        """The policy files of a commit, from git objects only, keyed by repo-relative path.

        Raises `PolicyError` when the commit holds no policy file or one is not UTF-8 text.
        """
        commit = self.resolve(sha)
        with self._git_lock:
            return self._read_sources(self._repo.commit(commit).tree)

    def _read_sources(self, tree: Tree) -> dict[str, str]:
        blobs = self._policy_blobs(tree)
        if not blobs:
            where = self.policy_dir or "the repository"
            raise PolicyError(
                [
                    Diagnostic(
                        "no-policy",
                        f"no {POLICY_SUFFIX} files in {where} at this commit",
                        Span(self.policy_dir or ".", 1, 1, 1, 1),
                    )
                ]
            )
        sources: dict[str, str] = {}
        problems: list[Diagnostic] = []
        for path, blob in blobs:
            try:
                sources[path] = blob.data_stream.read().decode("utf-8")
            except UnicodeDecodeError:
                problems.append(
                    Diagnostic("not-utf8", f"'{path}' is not UTF-8 text", Span(path, 1, 1, 1, 1))
                )
        if problems:
            raise PolicyError(problems)
        return sources

    def _policy_blobs(self, tree: Tree) -> list[tuple[str, Blob]]:
        """The policy files under the configured folder, sorted by path; symlinks are skipped."""
        root = self._policy_root(tree)
        if root is None:
            return []
        if isinstance(root, Blob):
            return [(str(root.path), root)] if _is_policy_file(root) else []
        found = [
            (str(item.path), item)
            for item in root.traverse()
            if isinstance(item, Blob) and _is_policy_file(item)
        ]
        return sorted(found, key=lambda pair: pair[0])

    def _policy_root(self, tree: Tree) -> Tree | Blob | None:
        if self.policy_dir is None:
            try:
                folder = tree / DEFAULT_POLICY_DIR
            except KeyError:
                return tree
            return folder if isinstance(folder, Tree) else tree
        try:
            found = tree / self.policy_dir
        except KeyError:
            return None
        return found if isinstance(found, Tree | Blob) else None

    # ---- compiled policies ---------------------------------------------------------------------
    def load(self, rev: str = "HEAD", as_of: datetime | None = None) -> CompiledPolicy:
        """The compiled policy at `rev` (or at what `rev` was at `as_of`), from the cache if there.

        Raises `InvalidRef`, `UnknownRevision`, or `PolicyError` when that commit does not compile.
        """
        sha = self.resolve(rev) if as_of is None else self.resolve_as_of(rev, as_of)
        return self.policy_at(sha, ref=rev)

    def policy_at(self, sha: str, ref: str | None = None) -> CompiledPolicy:
        """The compiled policy of one commit, labelled with the ref it was reached by."""
        sha = self.resolve(sha)  # free for a cached sha; otherwise proves the commit exists
        entry = self._entry(sha)
        if entry.error is not None:
            raise entry.error
        assert entry.policy is not None  # an entry holds a policy or an error
        if ref is None:
            return entry.policy
        with self._cache_lock:
            view = entry.views.get(ref)
            if view is None:
                # Same compiled rules, another label: decisions must name the ref asked for.
                version = entry.policy.version.model_copy(update={"ref": ref})
                view = replace(entry.policy, version=version)
                entry.views[ref] = view
        return view

    def cache_stats(self) -> CacheStats:
        """Hits, misses, compilations and evictions so far (for tests and metrics)."""
        with self._cache_lock:
            return CacheStats(
                self._hits,
                self._misses,
                self._compiles,
                self._evictions,
                len(self._cache),
                self.cache_size,
            )

    def _entry(self, sha: str) -> _Entry:
        with self._cache_lock:
            entry = self._cache.get(sha)
            if entry is not None:
                self._cache.move_to_end(sha)
                self._hits += 1
                return entry
            self._misses += 1
            pending = self._pending.get(sha)
            owner = pending is None
            if pending is None:
                pending = self._pending[sha] = _Pending()
                self._compiles += 1
        if not owner:
            pending.done.wait()
            if pending.entry is None:
                raise GitError(f"compiling commit {sha[:12]} failed: {pending.failure}")
            return pending.entry
        try:
            try:
                entry = _Entry(self._compile(sha), None)
            except PolicyError as error:
                # A commit never changes, so neither does its compile error: cache it too.
                entry = _Entry(None, error)
            pending.entry = entry
            with self._cache_lock:
                self._cache[sha] = entry
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
                    self._evictions += 1
            return entry
        except BaseException as error:
            pending.failure = error
            raise
        finally:
            with self._cache_lock:
                self._pending.pop(sha, None)
            pending.done.set()

    def _compile(self, sha: str) -> CompiledPolicy:
        try:
            with self._git_lock:
                tree = self._repo.commit(sha).tree
                sources = self._read_sources(tree)
        except (GitCommandError, ODBError, ValueError, OSError) as error:
            raise GitError(f"cannot read commit {sha[:12]}: {error}") from error
        result, diagnostics = check_sources(sources)
        if result is None or result.errors:
            raise PolicyError(diagnostics, dict(sources))
        annotate = self._annotator(sha, tree, result) if self.blame else None
        version = PolicyVersion(files=list(sources), commit=sha)
        return compile_checked(result, version, annotate, dict(sources))

    # ---- blame ---------------------------------------------------------------------------------
    def _annotator(self, sha: str, tree: Tree, result: CheckResult) -> Annotate:
        """`annotate(rule, source)` adding the commit and author that last changed the rule."""
        rules = result.symbols.rules.items
        files = sorted({rule.span.file for rule in rules.values()})
        ignore = self._ignored_revs(tree)
        blames = {path: self._blame(sha, path, ignore) for path in files}

        def annotate(name: str, source: Source) -> Source:
            rule = rules.get(name)
            if rule is None:
                return source
            blame = blames[rule.span.file]
            found = self._newest(blame, rule.span.line, rule.span.end_line)
            if found is None:
                return source
            return source.model_copy(
                update={"commit": found, "author": blame.commits[found].author}
            )

        return annotate

    def _blame(self, sha: str, path: str, ignore: list[str]) -> _Blame:
        args = ["--porcelain", "--ignore-revs-file", ""]
        for rev in ignore:
            args += ["--ignore-rev", rev]
        try:
            with self._git_lock:
                out = self._repo.git.blame(*args, sha, "--", path)
        except GitCommandError as error:
            raise GitError(_git_words(error)) from error
        return _parse_blame(str(out))

    def _newest(self, blame: _Blame, first: int, last: int) -> str | None:
        """The newest commit among lines first..last: latest committer time, then descendant."""
        shas = {blame.lines[n - 1] for n in range(first, last + 1) if 0 < n <= len(blame.lines)}
        if not shas:
            return None
        latest = max(blame.commits[s].committed for s in shas)
        tied = sorted(s for s in shas if blame.commits[s].committed == latest)
        for candidate in tied:
            with self._git_lock:
                if not any(
                    self._repo.is_ancestor(self._repo.commit(candidate), self._repo.commit(other))
                    for other in tied
                    if other != candidate
                ):
                    return candidate
        return tied[0]

    def _ignored_revs(self, tree: Tree) -> list[str]:
        """Commits listed in the commit's own `.git-blame-ignore-revs` that exist here."""
        try:
            item = tree / BLAME_IGNORE_FILE
        except KeyError:
            return []
        if not isinstance(item, Blob):
            return []
        text = item.data_stream.read().decode("utf-8", errors="replace")
        wanted = []
        for line in text.splitlines():
            entry = line.split("#", 1)[0].strip()
            if is_full_sha(entry) and self._is_commit(entry):
                wanted.append(entry)
        return wanted

    def _is_commit(self, sha: str) -> bool:
        try:
            with self._git_lock:
                return bool(self._repo.odb.info(bytes.fromhex(sha)).type == b"commit")
        except (ValueError, GitCommandError):
            return False

    # ---- rule history --------------------------------------------------------------------------
    def rule_history(self, rule: str, rev: str = "HEAD") -> list[RuleChange]:
        """The first-parent commits, newest first, that added, changed or removed `rule`.

        Rules are compared as syntax trees, so a layout-only change is not a change; a commit
        in which the file holding the rule does not parse is skipped (the rule's state carries
        over it).
        """
        tip = self.resolve(rev)
        history = self._first_parent(tip)
        seen: dict[str, ast.Rule | Literal[False] | None] = {}
        previous: ast.Rule | None = None
        last_root: str | None = None
        changes: list[RuleChange] = []
        for sha, _ in reversed(history):
            with self._git_lock:
                commit = self._repo.commit(sha)
                root = self._policy_root(commit.tree)
                root_sha = root.hexsha if root is not None else None
                if root_sha is not None and root_sha == last_root:
                    continue
                blobs = self._policy_blobs(commit.tree) if root is not None else []
            last_root = root_sha
            current = self._rule_in(rule, blobs, seen)
            if current is False:
                continue
            change = _classify(previous, current)
            previous = current
            if change is not None:
                changes.append(self._change(commit, change, current))
        return changes[::-1]

    def _rule_in(
        self,
        rule: str,
        blobs: list[tuple[str, Blob]],
        seen: dict[str, ast.Rule | Literal[False] | None],
    ) -> ast.Rule | Literal[False] | None:
        """The rule's tree in these files: None when absent, False when its file does not parse."""
        for path, blob in blobs:
            if blob.hexsha not in seen:
                seen[blob.hexsha] = self._find_rule(rule, path, blob)
            found = seen[blob.hexsha]
            if found is not None:
                return found
        return None

    def _find_rule(self, rule: str, path: str, blob: Blob) -> ast.Rule | Literal[False] | None:
        """One file's version of the rule; only a file that names the rule is parsed at all.

        The rule's own declaration is parsed first (a 10,000-rule file need not be parsed whole
        for one rule); if that cut does not parse on its own, the whole file is parsed.
        """
        with self._git_lock:
            data = blob.data_stream.read()
        if rule.encode("utf-8") not in data:
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return False
        cut = _declaration_text(text, rule)
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

    def _change(
        self,
        commit: Commit,
        change: Literal["added", "changed", "removed"],
        rule: ast.Rule | None,
    ) -> RuleChange:
        with self._git_lock:
            found = RuleChange(
                commit=commit.hexsha,
                author=str(commit.author.name),
                date=_committed_at(commit),
                summary=_summary(commit.message),
                change=change,
            )
            merged = len(commit.parents) > 1
            tree = commit.tree
        if not merged or rule is None:
            return found
        span = rule.span
        blame = self._blame(found.commit, span.file, self._ignored_revs(tree))
        writer = self._newest(blame, span.line, span.end_line)
        if writer is None or writer == found.commit:
            return found
        return replace(found, written_in=writer, written_by=blame.commits[writer].author)

    # ---- remotes -------------------------------------------------------------------------------
    def fetch(self, remote: str = "origin") -> None:
        """Update the remote-tracking branches (`origin/main`) from `remote`."""
        try:
            validate_ref(remote)
        except InvalidRef as error:
            raise GitError(f"remote name {remote!r} is not valid") from error
        try:
            with self._git_lock:
                self._repo.remote(remote).fetch()
        except ValueError as error:
            raise GitError(f"the repository has no remote named '{remote}'") from error
        except GitCommandError as error:
            raise GitError(f"fetching from '{remote}' failed: {_git_words(error)}") from error


# ---- helpers -------------------------------------------------------------------------------------


def _clean_policy_dir(policy_dir: str | None) -> str | None:
    if policy_dir is None:
        return None
    cleaned = PurePosixPath(policy_dir.replace("\\", "/"))
    if cleaned.is_absolute() or ".." in cleaned.parts:
        raise ValueError(f"policy folder '{policy_dir}' must be a path inside the repository")
    text = str(cleaned)
    return None if text in ("", ".") else text


def _is_policy_file(blob: Blob) -> bool:
    return str(blob.path).endswith(POLICY_SUFFIX) and blob.mode in _REGULAR_FILE_MODES


def _parse_blame(out: str) -> _Blame:
    """`git blame --porcelain` to line -> commit, plus author and committer time per commit."""
    lines: dict[int, str] = {}
    commits: dict[str, dict[str, str]] = {}
    current: str | None = None
    for line in out.splitlines():
        if line.startswith("\t"):
            continue
        header = _BLAME_HEADER.fullmatch(line)
        if header is not None:
            current = header[1]
            lines[int(header[2])] = current
            commits.setdefault(current, {})
            continue
        if current is not None:
            key, _, value = line.partition(" ")
            commits[current].setdefault(key, value)
    ordered = [lines[n] for n in sorted(lines)]
    info = {
        sha: _BlameCommit(fields.get("author", ""), int(fields.get("committer-time", "0")))
        for sha, fields in commits.items()
    }
    return _Blame(ordered, info)


_NOT_CODE = re.compile(r'"(?:[^"\\\n]|\\.)*"|/(?:[^/\\\n]|\\.)+/i?|#.*')


def _declaration_text(text: str, rule: str) -> str | None:
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


def _classify(
    before: ast.Rule | None, after: ast.Rule | None
) -> Literal["added", "changed", "removed"] | None:
    if before is None:
        return None if after is None else "added"
    if after is None:
        return "removed"
    return None if before == after else "changed"


def _committed_at(commit: Commit) -> datetime:
    """The commit date in the committer's own offset (gitpython counts offsets west of UTC)."""
    zone = timezone(timedelta(seconds=-commit.committer_tz_offset))
    return datetime.fromtimestamp(commit.committed_date, zone)


def _summary(message: str | bytes) -> str:
    text = message.decode("utf-8", errors="replace") if isinstance(message, bytes) else message
    return text.strip().splitlines()[0] if text.strip() else ""


def _git_words(error: GitCommandError) -> str:
    """git's own message, without gitpython's command dump."""
    stderr = error.stderr if isinstance(error.stderr, str) else str(error.stderr or "")
    text = stderr.strip().removeprefix("stderr:").strip().strip("'").strip()
    return text or f"git exited with status {error.status}"
