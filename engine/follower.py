"""Follow a git ref: poll it, compile each new commit off the hot path, swap it in atomically.

A long-running process (the API server) holds one `PolicyFollower`. Readers take
`follower.current` — one attribute read, so they see either the old or the new compiled policy,
never a half-built one. A commit that does not compile is recorded (commit, every error with
file:line:col) and logged; the last good policy keeps serving. Once a policy is loaded there is
never a moment without one.

States: "loading" (nothing tried yet), "ready" (serving the commit the ref points to),
"degraded" (serving the last good policy; the ref's newest commit is broken, or git failed),
"error" (nothing to serve: no commit compiled yet, or git failed first).
Readiness is `current is not None`.

A follower of a branch that starts while the branch's commit does not compile (a worker
restarted after a broken merge) serves the newest commit before it, along its first-parent
history (at most `FALLBACK_DEPTH` commits back), that does compile, and reports `degraded` with
the broken commit in `last_error`. That is the commit a process running all along serves when
the branch moved one merge at a time; after a push of several commits at once it can be one of
them that no process served before (the branch's own past is not recorded). A tag or a sha is
not walked back: its parent is not what it names.

A commit that fails to compile is remembered by its sha and not compiled again on later polls
(a commit never changes); the failure is logged once, as one line with the first error's
file:line:col, and `last_error` holds every error with its location (`last_error_commit` names
the commit). A git failure is not remembered: git may answer on the next poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from replygate.engine.errors import PolicyError, SourceError
from replygate.engine.evaluator import CompiledPolicy
from replygate.engine.git import PolicyRepo
from replygate.engine.gitrefs import split_ancestry
from replygate.policy_dsl.source import NO_POSITION, Diagnostic

log = logging.getLogger("replygate.follower")

__all__ = ["FALLBACK_DEPTH", "FollowerStatus", "PolicyFollower"]

# How far back along the first-parent history a follower with nothing to serve looks for a
# commit that compiles: enough for a run of broken merges, bounded so a history of broken
# commits costs at most this many compiles (each remembered by the cache, failures too).
FALLBACK_DEPTH = 50


@dataclass(frozen=True, slots=True)
class FollowerStatus:
    """What the follower serves and how its last attempts went (a snapshot)."""

    ref: str
    commit: str | None
    loaded_at: datetime | None
    state: str  # "loading" | "ready" | "degraded" | "error"
    last_error: list[dict[str, Any]] | None
    last_error_commit: str | None
    last_checked_at: datetime | None

    @property
    def ready(self) -> bool:
        """True once a policy is being served."""
        return self.commit is not None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (timestamps as ISO 8601 in UTC) for the API's `/v1/policy`."""

        def stamp(value: datetime | None) -> str | None:
            return None if value is None else value.astimezone(UTC).isoformat()

        return {
            "ref": self.ref,
            "commit": self.commit,
            "loaded_at": stamp(self.loaded_at),
            "state": self.state,
            "last_error": self.last_error,
            "last_error_commit": self.last_error_commit,
            "last_checked_at": stamp(self.last_checked_at),
        }


def _problems(error: PolicyError, sha: str | None) -> list[dict[str, Any]]:
    """Every error as `Diagnostic.as_dict`, plus its one-line rendering naming the commit."""
    where = f"commit {sha[:12]}: " if sha else ""
    found = []
    for diagnostic in error.errors or error.diagnostics:
        item = diagnostic.as_dict()
        item["rendered"] = where + diagnostic.render().splitlines()[0]
        found.append(item)
    return found


def _unexpected(error: Exception) -> PolicyError:
    """A failure nobody foresaw, as a diagnostic (never a Python repr in the status)."""
    message = f"loading failed unexpectedly: {type(error).__name__}: {error}"
    return PolicyError([Diagnostic("internal_error", message, NO_POSITION)])


class PolicyFollower:
    """Keeps the policy at `ref` of `repo` compiled and current; see the module docstring."""

    def __init__(
        self,
        repo: PolicyRepo,
        ref: str,
        interval: float = 10.0,
        fetch: bool = False,
        remote: str = "origin",
        on_swap: Callable[[CompiledPolicy], None] | None = None,
        on_error: Callable[[FollowerStatus], None] | None = None,
    ) -> None:
        split_ancestry(ref)  # refuse a bad ref now, not on every poll
        if interval <= 0:
            raise ValueError("the poll interval must be positive")
        self.repo = repo
        self.ref = ref
        # The ref's full name, pinned at the first poll that finds it is exactly one ref: a tag
        # `main` pushed later cannot take a followed branch `main` over, and a commit whose sha
        # starts like a branch called `2026` cannot make it ambiguous (both were refused or
        # obeyed on every poll). Decisions still name the ref as configured.
        self._full_ref: str | None = None
        self.interval = interval
        self.fetch = fetch
        self.remote = remote
        self.on_swap = on_swap
        self.on_error = on_error
        self._current: CompiledPolicy | None = None
        self._status = FollowerStatus(ref, None, None, "loading", None, None, None)
        self._status_lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # The newest commit that did not compile, and why: never compiled again.
        self._broken: tuple[str, PolicyError] | None = None
        # The broken commit whose history was searched in vain: not searched again.
        self._searched: str | None = None

    # ---- what readers use ------------------------------------------------------------------
    @property
    def current(self) -> CompiledPolicy | None:
        """The policy to decide with: swapped as a whole, None only before the first success."""
        return self._current

    def status(self) -> FollowerStatus:
        """A snapshot of the commit served, the state and the last error."""
        with self._status_lock:
            return self._status

    def wait_until_ready(self, timeout: float) -> bool:
        """Block until a policy is served or `timeout` seconds pass; True when one is."""
        return self._ready.wait(timeout)

    # ---- polling ---------------------------------------------------------------------------
    def poll_once(self) -> bool:
        """Check the ref once (fetching first if asked); compile and swap a new commit.

        Returns True when a new policy was swapped in. Never raises for git or policy errors:
        they are recorded in `status()` and logged, and the last good policy stays.
        """
        with self._poll_lock:
            checked = datetime.now(UTC)
            try:
                return self._poll(checked)
            except Exception as error:  # a follower must outlive any surprise, and say so
                log.debug("policy follower for %s failed", self.ref, exc_info=True)
                self._failed(None, _unexpected(error), checked)
                return False

    def _poll(self, checked: datetime) -> bool:
        try:
            if self.fetch:
                self.repo.fetch(self.remote)
            if self._full_ref is None:
                self._full_ref = self.repo.full_name(self.ref)
            sha = self.repo.resolve(self._full_ref or self.ref)
        except PolicyError as error:
            self._failed(None, error, checked)
            return False
        served = self._current
        if served is not None and served.version.commit == sha:
            self._update(state="ready", last_checked_at=checked)
            return False
        if self._broken is not None and self._broken[0] == sha:
            # Known not to compile, and a commit never changes: report it again (logged only if
            # it is not already the last error), compile nothing.
            if served is None and self._fall_back(sha, self._broken[1], checked):
                return True
            self._failed(sha, self._broken[1], checked)
            return False
        try:
            policy = self.repo.policy_at(sha, ref=self.ref)
        except SourceError as error:  # git failing: try again on the next poll
            self._failed(sha, error, checked)
            return False
        except Exception as error:
            failure = error if isinstance(error, PolicyError) else _unexpected(error)
            self._broken = (sha, failure)
            log.debug("commit %s of %s failed to load", sha[:12], self.ref, exc_info=True)
            if served is None and self._fall_back(sha, failure, checked):
                return True
            self._failed(sha, failure, checked)
            return False
        self._swap(policy, sha, checked)
        return True

    def _fall_back(self, broken: str, failure: PolicyError, checked: datetime) -> bool:
        """With nothing served yet and the ref's commit broken: serve the newest commit before
        it (first-parent, at most `FALLBACK_DEPTH` back) that compiles, reported `degraded`.

        True when one was swapped in. A history searched in vain is not searched again; a git
        failure on the way leaves it to the next poll.
        """
        if self._searched == broken:
            return False
        if not (self._full_ref or "").startswith(("refs/heads/", "refs/remotes/")):
            # A tag or a sha names one commit: its parent is a commit the name never meant.
            return False
        try:
            history = self.repo.revisions.first_parent(broken)[1 : FALLBACK_DEPTH + 1]
        except SourceError:
            log.debug("cannot read the history of %s", broken[:12], exc_info=True)
            return False
        for sha, _ in history:
            try:
                policy = self.repo.policy_at(sha, ref=self.ref)
            except SourceError:  # git failing: try again on the next poll
                log.debug("commit %s of %s cannot be read", sha[:12], self.ref, exc_info=True)
                return False
            except Exception:  # this one does not compile either: look further back
                log.debug("commit %s of %s failed to load", sha[:12], self.ref, exc_info=True)
                continue
            log.warning(
                "policy %s: commit %s does not compile; serving %s, the newest commit before it "
                "that does",
                self.ref,
                broken[:12],
                sha[:12],
            )
            self._swap(policy, sha, checked, state="degraded")
            self._failed(broken, failure, checked)
            return True
        self._searched = broken
        return False

    def _swap(
        self, policy: CompiledPolicy, sha: str, checked: datetime, state: str = "ready"
    ) -> None:
        previous = self._current
        self._current = policy  # one reference assignment: readers see old or new, whole
        self._update(commit=sha, loaded_at=checked, state=state, last_checked_at=checked)
        self._ready.set()
        old = previous.version.commit[:12] if previous and previous.version.commit else "nothing"
        log.info("policy %s now at commit %s (was %s)", self.ref, sha[:12], old)
        if self.on_swap is not None:
            try:
                self.on_swap(policy)
            except Exception:  # a listener's bug must not stop the follower
                log.exception("on_swap listener failed")

    def _failed(self, sha: str | None, error: PolicyError, checked: datetime) -> None:
        problems = _problems(error, sha)
        before = self.status()
        state = "degraded" if self._current is not None else "error"
        status = self._update(
            state=state,
            last_error=problems,
            last_error_commit=sha,
            last_checked_at=checked,
        )
        if (before.last_error, before.last_error_commit, before.state) == (
            problems,
            sha,
            state,
        ):
            return  # the same failure as last poll: reported already
        serving = f"still serving {before.commit[:12]}" if before.commit else "no policy loaded"
        where = f"commit {sha[:12]}" if sha else "the ref"
        more = len(problems) - 1
        detail = str(problems[0]["rendered"]).removeprefix(f"{where}: ") if problems else "?"
        if more > 0:
            detail += f" (and {more} more error{'s' if more > 1 else ''})"
        log.error("policy %s: %s cannot be used (%s): %s", self.ref, where, serving, detail)
        if self.on_error is not None:
            try:
                self.on_error(status)
            except Exception:  # a listener's bug must not stop the follower
                log.exception("on_error listener failed")

    def _update(self, **changes: Any) -> FollowerStatus:
        with self._status_lock:
            self._status = replace(self._status, **changes)
            return self._status

    # ---- the background thread -------------------------------------------------------------
    def start(self) -> None:
        """Poll now and then every `interval` seconds on a daemon thread (no-op if running)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"policy-follower[{self.ref}]", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop and wait up to `timeout` seconds for it."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if not thread.is_alive():
                self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            if self._stop.wait(self.interval):
                break
