"""Where the served policy comes from: a folder loaded once, or a git ref followed.

Both sit behind one small interface so the endpoints never ask which: `current` (the policy to
decide with, or None before the first load), `status()`, `history(commit, as_of)` for audit
checks against earlier revisions, and load counts for the metrics. Reading `current` is one
attribute read; the follower swaps whole compiled policies, so a request sees the old or the
new one, never a mix.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from replygate.api.errors import ApiError
from replygate.api.schemas import PolicyStatus
from replygate.api.settings import Settings
from replygate.engine.errors import PolicyError, SourceError
from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.follower import FollowerStatus, PolicyFollower
from replygate.engine.source import PolicySource as Origin


class PolicySource(Protocol):
    """What the endpoints need from a policy source."""

    kind: str

    @property
    def current(self) -> CompiledPolicy | None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def status(self) -> PolicyStatus: ...

    def history(self, commit: str | None, as_of: datetime | None) -> CompiledPolicy: ...

    def refresh(self) -> bool: ...

    def load_counts(self) -> tuple[int, int]: ...

    def is_ready(self) -> bool: ...

    def loaded_timestamp(self) -> float | None: ...


class FolderSource:
    """A folder of `.policy` files, compiled once at start-up; no history.

    With a `snapshot` (what `replygate serve` read of the folder at start-up, written for its
    workers) the policy is compiled from it, not from the folder, which may be mid-edit.
    """

    kind = "folder"

    def __init__(self, path: str, snapshot: str | None = None) -> None:
        self.path = path
        self.snapshot = snapshot
        self.current: CompiledPolicy | None = None
        self.loaded_at: datetime | None = None

    def start(self) -> None:
        """Compile the folder; a policy error stops the start-up (the CLI shows it first)."""
        if self.snapshot is None:
            self.current = Origin.folder(self.path).load()
        else:
            self.current = Origin.as_read(self.path, read_snapshot(self.snapshot)).load()
        self.loaded_at = datetime.now(UTC)

    def stop(self) -> None:
        """Nothing runs in the background."""

    def status(self) -> PolicyStatus:
        """Loaded once; the files it holds."""
        policy = self.current
        return PolicyStatus(
            source="folder",
            state="ready" if policy is not None else "loading",
            loaded_at=self.loaded_at,
            files=list(policy.version.files) if policy is not None else [],
            digest=policy.version.digest if policy is not None else None,
            last_checked_at=self.loaded_at,
        )

    def history(self, commit: str | None, as_of: datetime | None) -> CompiledPolicy:
        """Refused: a folder has no history."""
        raise ApiError(
            422,
            "history_unavailable",
            "commit and as_of need a server that follows a git repository (serve --repo)",
            location="commit" if commit is not None else "as_of",
        )

    def refresh(self) -> bool:
        """Refused: a folder is loaded once (restart the server to load changes)."""
        raise ApiError(
            422,
            "not_following",
            "this server serves a folder loaded at start-up; restart it to load changes",
        )

    def load_counts(self) -> tuple[int, int]:
        """One load once started, never a failure (a broken folder stops the start-up)."""
        return (1 if self.current is not None else 0), 0

    def is_ready(self) -> bool:
        """True once the folder compiled."""
        return self.current is not None

    def loaded_timestamp(self) -> float | None:
        """When the folder was compiled."""
        return None if self.loaded_at is None else self.loaded_at.timestamp()


class RepoSource:
    """A git ref followed by `engine.follower.PolicyFollower`; earlier commits on request."""

    kind = "repo"

    def __init__(self, settings: Settings) -> None:
        if settings.repo is None:
            raise ValueError("RepoSource needs settings.repo")
        self.ref = settings.ref
        self.ready_timeout = settings.ready_timeout
        self.origin = Origin.git(settings.repo, settings.ref)
        self.repo = self.origin.open()
        self._lock = threading.Lock()
        self._loads = 0
        self._failures = 0
        self.follower = PolicyFollower(
            self.repo,
            settings.ref,
            interval=settings.poll,
            fetch=settings.fetch,
            remote=settings.remote,
            on_swap=self._swapped,
            on_error=self._failed,
        )

    @property
    def current(self) -> CompiledPolicy | None:
        """The follower's policy (None until the first commit compiled)."""
        return self.follower.current

    def _swapped(self, _policy: CompiledPolicy) -> None:
        with self._lock:
            self._loads += 1

    def _failed(self, _status: FollowerStatus) -> None:
        with self._lock:
            self._failures += 1

    def start(self) -> None:
        """Start following and wait (bounded) until the first poll has an answer."""
        self.follower.start()
        deadline = time.monotonic() + self.ready_timeout
        # A broken first commit never makes the follower ready; stop waiting once it has said so.
        while time.monotonic() < deadline:
            if self.follower.wait_until_ready(0.05):
                return
            if self.follower.status().last_checked_at is not None:
                return

    def stop(self) -> None:
        """Stop the polling thread and git's helper processes."""
        self.follower.stop()
        self.repo.close()

    def status(self) -> PolicyStatus:
        """The follower's status, with the files of the policy it serves."""
        status = self.follower.status()
        policy = self.follower.current
        return PolicyStatus(
            source="repo",
            ref=status.ref,
            commit=status.commit,
            loaded_at=status.loaded_at,
            state=status.state,
            files=list(policy.version.files) if policy is not None else [],
            digest=policy.version.digest if policy is not None else None,
            last_error=status.last_error,
            last_error_commit=status.last_error_commit,
            last_checked_at=status.last_checked_at,
        )

    def history(self, commit: str | None, as_of: datetime | None) -> CompiledPolicy:
        """The policy at `commit`, or at what the followed ref was at `as_of` (blocking: git)."""
        if commit is not None and as_of is not None:
            both = "give commit or as_of, not both"
            raise ApiError(
                422,
                "invalid_request",
                both,
                location="commit",
                fields=[{"field": "commit", "message": both}, {"field": "as_of", "message": both}],
            )
        location = "commit" if commit is not None else "as_of"
        try:
            if commit is not None:
                return Origin.git(self.origin.path, commit).load(self.repo)
            return Origin.git(self.origin.path, self.ref, as_of=as_of).load(self.repo)
        except PolicyError as error:
            raise load_error(error, location) from None
        except ValueError as error:
            raise ApiError(422, "invalid_request", str(error), location=location) from None

    def refresh(self) -> bool:
        """Poll the ref now (this worker only); True when a new commit was swapped in."""
        return self.follower.poll_once()

    def load_counts(self) -> tuple[int, int]:
        """Commits swapped in and commits that failed to load, so far."""
        with self._lock:
            return self._loads, self._failures

    def is_ready(self) -> bool:
        """True once a commit compiled."""
        return self.follower.current is not None

    def loaded_timestamp(self) -> float | None:
        """When the serving commit was swapped in."""
        loaded = self.follower.status().loaded_at
        return None if loaded is None else loaded.timestamp()


# Source errors that are the client's (a revision) answer 422 at the request field that named
# them; the server's (git failing, no repository) 503. Anything else is the policy's own error.
_CLIENT_CODES = {"invalid_revision", "unknown_revision", "ambiguous_revision"}


def load_error(error: PolicyError, location: str) -> ApiError:
    """The API's answer to a policy that cannot be loaded for an audit check."""
    if isinstance(error, SourceError):
        if error.code in _CLIENT_CODES:
            return ApiError(422, error.code, str(error), location=location)
        return ApiError(503, "git_error", f"git failed: {error}")
    first = error.errors[0] if error.errors else None
    where = str(first.span) if first is not None and first.span.line else None
    headline = first.render().splitlines()[0] if first is not None else "no detail"
    return ApiError(
        422,
        "policy_error",
        f"the policy at that revision does not compile: {headline}",
        location=where,
    )


def open_source(settings: Settings) -> FolderSource | RepoSource:
    """The source the settings name: a followed repository, else a folder."""
    if settings.repo:
        return RepoSource(settings)
    return FolderSource(settings.policy_folder, settings.policy_snapshot)


def write_snapshot(sources: dict[str, str], folder: str) -> str:
    """Write `sources` (file name -> text) into `folder` for the workers; returns the path."""
    path = Path(folder) / "policy.json"
    path.write_text(json.dumps(sources), encoding="utf-8")
    return str(path)


def read_snapshot(path: str) -> dict[str, str]:
    """The file names and texts `write_snapshot` wrote."""
    try:
        sources = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        # The server's own temporary file, gone (a cleaner of /tmp) or damaged: fail closed.
        raise SourceError(
            f"the policy read at start-up cannot be read from {path}: {error}"
        ) from None
    return {str(name): str(text) for name, text in sources.items()}
