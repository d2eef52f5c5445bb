"""Sessions signed out before their cookies expire: their cookies are refused until then.

A session cookie is signed, not stored, so signing out in the browser alone leaves a copied
cookie working until it expires (up to a month). Each sign-out is kept here until the moment
the cookie would have expired anyway, then forgotten.

In one process a dictionary is enough. Several workers (or replicas) need one folder that all
of them read: each sign-out is a file named by a hash of the session's id and holding the
expiry, so checking a session costs one `stat`.

Forgetting the expired ones read every file at every sign-out, on the event loop: with 20,000
sign-outs kept (a day's with month-long sessions) each took 0.4 to 0.7 s and stalled every request
of its worker meanwhile. A file's modification time is now its expiry too, so the sweep reads
only the files whose time has come (and the file's own text decides: a file written before
carries the time it was written), and sweeps at most once a minute per process. Expired
sign-outs may so stay a minute longer: their cookies are refused as expired anyway.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path

SWEEP_SECONDS = 60.0


class EndedSessions:
    """The session ids signed out and not yet expired; in `folder` when given, else in memory."""

    def __init__(self, folder: str | None = None, sweep_every: float = SWEEP_SECONDS) -> None:
        self._folder = Path(folder) if folder else None
        self._memory: dict[str, float] = {}
        self._lock = threading.Lock()
        self._sweep_every = sweep_every
        self._next_sweep = 0.0

    @property
    def where(self) -> str:
        return str(self._folder) if self._folder is not None else "this process's memory"

    def end(self, session_id: str, until: float) -> None:
        """Refuse `session_id` until `until` (a Unix time); OSError when the folder refuses."""
        now = time.time()
        with self._lock:
            sweep = now >= self._next_sweep
            if sweep:
                self._next_sweep = now + self._sweep_every
        if self._folder is None:
            with self._lock:
                if sweep:
                    self._memory = {k: v for k, v in self._memory.items() if v > now}
                self._memory[session_id] = until
            return
        if sweep:
            self._forget_expired(now)
        # Written whole, dated its expiry, and renamed: a reader never sees half a file.
        handle, temporary = tempfile.mkstemp(dir=self._folder, prefix=".ending-")
        try:
            with os.fdopen(handle, "w", encoding="ascii") as out:
                out.write(f"{until:.3f}\n")
            os.utime(temporary, (until, until))
            os.replace(temporary, self._folder / _name(session_id))
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def ended(self, session_id: str) -> bool:
        """Whether the session was signed out (fails closed: an unreadable folder says yes)."""
        if self._folder is None:
            with self._lock:
                return session_id in self._memory
        try:
            (self._folder / _name(session_id)).stat()
        except FileNotFoundError:
            return False
        except OSError:
            return True
        return True

    def _forget_expired(self, now: float) -> None:
        assert self._folder is not None
        for entry in os.scandir(self._folder):
            if entry.name.startswith("."):
                continue
            try:
                if entry.stat().st_mtime > now:  # its expiry, not yet come: nothing to read
                    continue
                until = float(Path(entry.path).read_text(encoding="ascii"))
            except (OSError, ValueError):
                continue  # another process's, being replaced or removed: theirs to handle
            if until <= now:
                Path(entry.path).unlink(missing_ok=True)


def _name(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()[:40]
