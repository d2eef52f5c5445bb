"""One opened repository shared by the store's parts: gitpython's handle and the lock around it.

gitpython keeps `git cat-file` processes per repository that must not be shared by two threads
at once; git work is short, compiling (the long part) runs outside the lock. Every call into git
goes through `run` with a list of arguments, never a shell, and comes back as text or `GitError`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import git
from git.exc import (
    GitCommandError,
    GitCommandNotFound,
    InvalidGitRepositoryError,
    NoSuchPathError,
    ODBError,
)
from git.objects import Commit

from replygate.engine.errors import GitError, NotARepository


def shown_git_text(text: str) -> str:
    """Text from git's output as people read it: bytes that were not UTF-8 as U+FFFD.

    gitpython decodes output with `surrogateescape`, so an author or subject written in another
    encoding (git allows any, `i18n.commitEncoding`) comes as lone surrogates, which no page,
    JSON answer or log line can encode. Names that git is asked about again (refs, paths) keep
    their bytes; this is for what is only shown.
    """
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class GitHandle:
    """An opened repository and the lock every use of it takes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.repo = git.Repo(self.path)
        except (InvalidGitRepositoryError, NoSuchPathError) as error:
            raise NotARepository(f"'{path}' is not a git repository") from error
        self.lock = threading.RLock()

    def run(self, command: str, *args: str) -> str:
        """`git COMMAND ARGS…` as text; `GitError` with git's own words (and its exit status)."""
        try:
            with self.lock:
                out = getattr(self.repo.git, command)(*args)
        except GitCommandError as error:
            status = error.status if isinstance(error.status, int | str) else None
            raise GitFailed(git_words(error), status) from error
        except GitCommandNotFound as error:
            raise GitError("the git command is not installed (or not on PATH)") from error
        return str(out)

    def commit(self, sha: str) -> Commit:
        """The commit object of a full sha (call with the lock held)."""
        return self.repo.commit(sha)

    def close(self) -> None:
        """Stop the git helper processes gitpython keeps open."""
        with self.lock:
            self.repo.close()


class GitFailed(GitError):
    """`GitError` from one git command, with its exit status (1 often means "not found")."""

    def __init__(self, message: str, status: int | str | None = None) -> None:
        super().__init__(message)
        self.status = status

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.message, self.status))


_MISSING_OBJECT = re.compile(r"SHA b'([0-9a-f]{40,64})' could not be resolved")


def object_words(error: BaseException) -> str:
    """A failure to read an object, in words: gitpython says `SHA b'…' could not be resolved,
    git returned: b'… missing'`, Python byte reprs that reached `/v1/policy` and the log."""
    found = _MISSING_OBJECT.search(str(error))
    if found:
        return f"object {found[1]} is missing from the repository (`git fsck` lists what else is)"
    return str(error)


@contextmanager
def reading(sha: str) -> Iterator[None]:
    """The objects of commit `sha` read in the block: a missing or corrupt one is a `GitError`
    naming it (gitpython raises ValueError or ODBError, with Python byte reprs), so every
    command reports it as `check` does (`[git_error]`, exit 2), never with a traceback."""
    try:
        yield
    except (GitCommandError, ODBError, ValueError, OSError) as error:
        raise GitError(f"cannot read commit {sha[:12]}: {object_words(error)}") from error


def git_words(error: GitCommandError) -> str:
    """git's own message, without gitpython's command dump."""
    stderr = error.stderr if isinstance(error.stderr, str) else str(error.stderr or "")
    text = stderr.strip().removeprefix("stderr:").strip().strip("'").strip()
    return text or f"git exited with status {error.status}"
