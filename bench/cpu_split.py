"""Where a server's CPU goes during a run: per process role, read from /proc (Linux).

A server under test is a process tree: uvicorn's supervisor, its workers (started by
multiprocessing's spawn) and, for the API with a SQLite decision log, one committer process per
worker. Two snapshots of the tree, taken around a load run, say how much CPU each role used and
how evenly the workers shared the work; with the run's request count that is CPU per request,
the figure that explains a throughput ratio on a machine whose cores are all busy.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Snapshot", "cpu_by_role", "snapshot", "worker_shares"]

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


@dataclass(frozen=True)
class Process:
    role: str  # "supervisor", "worker" (the supervisor itself when it spawned none), "committer", "other"
    ticks: int  # user + system CPU time so far, in clock ticks


Snapshot = dict[int, Process]


def _role(command: bytes) -> str:
    if b"sqlite_committer" in command:
        return "committer"
    if b"spawn_main" in command:
        return "worker"
    return "other"


def snapshot(supervisor: int) -> Snapshot:
    """Every live process in `supervisor`'s tree, itself included: its role and CPU so far."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    if not PROC.is_dir():  # not Linux: nothing to read, and the bench reports no CPU split
        return {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):  # a process that just ended
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            pid = int(entry.name)
            parents[pid] = int(fields[1])
            ticks[pid] = int(fields[11]) + int(fields[12])
    tree = {supervisor}
    grew = True
    while grew:  # a handful of processes: repeat until no new child is found
        found = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= found
        grew = bool(found)
    taken: Snapshot = {}
    for pid in tree & ticks.keys():
        role = "supervisor" if pid == supervisor else "other"
        if role == "other":
            with contextlib.suppress(OSError):
                role = _role((PROC / str(pid) / "cmdline").read_bytes())
        taken[pid] = Process(role, ticks[pid])
    if all(process.role != "worker" for process in taken.values()) and supervisor in taken:
        # uvicorn with one worker serves in its main process: that process is the worker.
        taken[supervisor] = Process("worker", taken[supervisor].ticks)
    return taken


def _used(before: Snapshot, after: Snapshot) -> dict[int, tuple[str, int]]:
    # A process started during the run (a replaced committer) used all it has; one that ended
    # during it is lost to the count, which the caller can see as a missing worker share.
    return {
        pid: (now.role, max(0, now.ticks - (before[pid].ticks if pid in before else 0)))
        for pid, now in after.items()
    }


def cpu_by_role(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """CPU seconds each role used between two snapshots of the same tree."""
    seconds: dict[str, float] = {}
    for role, used in _used(before, after).values():
        seconds[role] = seconds.get(role, 0.0) + used / TICKS_PER_SECOND
    return seconds


def worker_shares(before: Snapshot, after: Snapshot) -> list[float]:
    """Each worker's share of the CPU all workers used, in pid order.

    With several workers on one listening socket the kernel may hand most of wrk's keep-alive
    connections to one of them; that run then measures one worker, not the server. A worker
    that ended during the run counts as having done nothing.
    """
    workers = sorted(pid for pid, process in before.items() if process.role == "worker")
    used = _used(before, after)
    parts = [used[pid][1] if pid in used else 0 for pid in workers]
    total = sum(parts)
    return [round(part / total, 2) for part in parts] if total else []
