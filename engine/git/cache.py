"""Compiled commits by sha: bounded, thread-safe, and each commit compiled once.

A commit never changes, so neither does its compiled policy or its compile error: both are
cached for ever (within the bound). Two threads asking for the same new commit compile it once;
the second waits for the first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from replygate.engine.errors import GitError, SourceError
from replygate.engine.evaluator import CompiledPolicy
from replygate.policy_dsl.source import PolicyError


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
    views: OrderedDict[str, CompiledPolicy] = field(default_factory=OrderedDict)


# Names a commit is asked for by and whose labelled views are kept: `main`, `v1.4`, a few shas.
# Each costs about 1.3 KB; without a bound, spellings of one sha (`?commit=AB12…`, `ab12…`,
# `HEAD~0`, `HEAD~00`, …) grew one commit's entry without end.
VIEWS_PER_COMMIT = 32


@dataclass(slots=True)
class _Pending:
    """A compilation in progress that other threads wait for instead of compiling again."""

    done: threading.Event = field(default_factory=threading.Event)
    entry: _Entry | None = None
    failure: BaseException | None = None


class CompiledCache:
    """An LRU of compiled commits (see the module docstring)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("cache_size must be at least 1")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._pending: dict[str, _Pending] = {}
        self._hits = self._misses = self._compiles = self._evictions = 0

    def __contains__(self, sha: str) -> bool:
        with self._lock:
            return sha in self._entries

    def get(
        self, sha: str, compile: Callable[[str], CompiledPolicy], ref: str | None = None
    ) -> CompiledPolicy:
        """The policy of `sha` (compiled by `compile` on a miss), labelled with `ref`.

        Raises the commit's `PolicyError` when it does not compile (cached like a success).
        """
        entry = self._entry(sha, compile)
        if entry.error is not None:
            raise entry.error
        if entry.policy is None:  # an entry holds a policy or an error
            raise GitError(f"commit {sha[:12]} has neither a policy nor an error")
        if ref is None:
            return entry.policy
        with self._lock:
            view = entry.views.get(ref)
            if view is None:
                # Same compiled rules, another label: decisions must name the ref asked for.
                version = entry.policy.version.model_copy(update={"ref": ref})
                view = replace(entry.policy, version=version)
                entry.views[ref] = view
                if len(entry.views) > VIEWS_PER_COMMIT:
                    entry.views.popitem(last=False)
            else:
                entry.views.move_to_end(ref)
        return view

    def stats(self) -> CacheStats:
        """Hits, misses, compilations and evictions so far (for tests and metrics)."""
        with self._lock:
            return CacheStats(
                self._hits,
                self._misses,
                self._compiles,
                self._evictions,
                len(self._entries),
                self.capacity,
            )

    def _entry(self, sha: str, compile: Callable[[str], CompiledPolicy]) -> _Entry:
        with self._lock:
            entry = self._entries.get(sha)
            if entry is not None:
                self._entries.move_to_end(sha)
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
                entry = _Entry(compile(sha), None)
            except SourceError:
                raise  # git failing may pass: not cached, tried again next time
            except PolicyError as error:
                # A commit never changes, so neither does its compile error: cache it too.
                entry = _Entry(None, error)
            pending.entry = entry
            with self._lock:
                self._entries[sha] = entry
                while len(self._entries) > self.capacity:
                    self._entries.popitem(last=False)
                    self._evictions += 1
            return entry
        except BaseException as error:
            pending.failure = error
            raise
        finally:
            with self._lock:
                self._pending.pop(sha, None)
            pending.done.set()
