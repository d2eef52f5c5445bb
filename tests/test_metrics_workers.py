"""Multiprocess metrics: a worker that died uncleanly leaves no stale live gauges behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

# A worker: its metrics in the folder, as `serve --workers N` sets them up.
WORKER = """\
import os, sys
from replygate.api.metrics import Metrics
metrics = Metrics()
assert metrics.multiprocess
what = sys.argv[1]
if what == "scrape":  # a worker with a policy and an empty queue answers the scrape
    metrics.policy_ready.set(1)
    sys.stdout.write(metrics.exposition().decode())
    raise SystemExit(0)
ready, depth = (int(n) for n in what.split(","))
metrics.policy_ready.set(ready)
metrics.queue_depth.set(depth)
metrics.policy_loads.inc()
print("written", flush=True)
if sys.argv[2] == "die":
    os._exit(137)  # as after SIGKILL: no clean exit, no mark_process_dead
sys.stdin.readline()
"""


def worker(folder: Path, *args: str, stdin: int | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, *args],
        env=env,
        stdin=stdin,
        stdout=subprocess.PIPE,
        text=True,
    )


def sample(text: str, name: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(line.rsplit(" ", 1)[1])


def test_a_scrape_forgets_the_live_gauges_of_workers_that_are_gone(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    dead = worker(folder, "0,7", "die")
    assert dead.communicate(timeout=60)[0].strip() == "written"
    alive = worker(folder, "1,2", "wait", stdin=subprocess.PIPE)
    try:
        assert alive.stdout is not None and alive.stdout.readline().strip() == "written"
        # A dead worker's pid that the kernel has since given to another process (not a worker
        # of this supervisor): its gauges are stale too.
        for path in folder.glob(f"gauge_live*_{dead.pid}.db"):
            shutil.copy(path, folder / path.name.replace(str(dead.pid), str(os.getpid())))

        scrape = worker(folder, "scrape")
        text = scrape.communicate(timeout=60)[0]

        assert sample(text, "replygate_decision_log_queue_depth") == 2
        assert sample(text, "replygate_policy_ready") == 1
        assert sample(text, "replygate_policy_loads_total") == 2  # the dead one's still counts
        left = {path.stem.rsplit("_", 1)[1] for path in folder.glob("gauge_live*")}
        assert left == {str(alive.pid), str(scrape.pid)}
    finally:
        alive.communicate("\n", timeout=60)
