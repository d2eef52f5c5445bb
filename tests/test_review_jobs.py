"""The review pages' background jobs: shared, bounded, and never holding a stopping server."""

from __future__ import annotations

import subprocess
import sys
import threading

from replygate.api.review_page.views import Background, DaemonJobs
from replygate.engine.loader import load_policy


def test_a_computation_in_progress_does_not_keep_the_process_from_exiting() -> None:
    """Coverage ran on an executor's thread, which Python joins at exit: after someone opened
    /time on a large policy, SIGTERM left the server running for minutes."""
    program = (
        "import threading, time\n"
        "from replygate.api.review_page.views import Background, DaemonJobs\n"
        "from replygate.engine.loader import load_policy\n"
        "started = threading.Event()\n"
        "def forever():\n"
        "    started.set()\n"
        "    time.sleep(3600)\n"
        "Background().result(load_policy('policies'), 'coverage', forever)\n"
        "DaemonJobs().wait('report', forever, 0)\n"
        "assert started.wait(30)\n"
        "print('main done', flush=True)\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout == "main done\n"


def test_equal_requests_share_one_computation_and_its_result() -> None:
    jobs = DaemonJobs(size=4)
    runs: list[str] = []

    def compute() -> str:
        runs.append("ran")
        return "report"

    assert jobs.wait("main..head", compute, 30) == "report"
    assert jobs.wait("main..head", compute, 30) == "report"
    assert runs == ["ran"]


def test_a_job_pushed_out_before_it_ran_is_not_computed() -> None:
    """Many distinct links must not queue work without bound."""
    jobs = DaemonJobs(size=2)
    started, release = threading.Event(), threading.Event()
    ran: list[int] = []

    def blocking() -> None:
        started.set()
        release.wait(30)

    def numbered(number: int) -> int:
        ran.append(number)
        return number

    assert jobs.wait("busy", blocking, 0) is None
    assert started.wait(30)  # the worker is held: what follows only queues
    for number in range(10):
        assert jobs.wait(f"link {number}", lambda n=number: numbered(n), 0) is None
    release.set()
    # The two links still cached run; the eight pushed out never do.
    assert jobs.wait("link 9", lambda: numbered(99), 30) == 9
    assert jobs.wait("link 8", lambda: numbered(98), 30) == 8
    assert sorted(ran) == [8, 9]
    # Asked again, a pushed-out link is computed afresh.
    assert jobs.wait("link 0", lambda: numbered(0), 30) == 0


def test_background_results_are_per_policy() -> None:
    background = Background()
    first, second = load_policy("policies"), load_policy("policies")
    go = threading.Event()

    def computed() -> str:
        go.wait(30)
        return "first"

    assert background.result(first, "coverage", computed) is None  # started, not done
    go.set()
    assert background.wait(first, "coverage", 30) == "first"
    assert background.result(first, "coverage", lambda: "again") == "first"  # computed once
    assert background.wait(second, "coverage", 0) is None  # another policy: nothing started
