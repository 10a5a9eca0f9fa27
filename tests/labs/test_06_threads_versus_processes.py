"""Exercise 6 (docs/labs/06-threads-versus-processes.md): who answers parallel requests."""

from __future__ import annotations

import re
import time

import pytest

from tests.support.running_lab import RunningLab

pytestmark = pytest.mark.labs

PARALLEL_DELAYS = (
    "time (for i in 1 2 3; do curl -s -o /dev/null -D - "
    "http://multiprocess-web:8888/delay/1 | grep -i x-worker-pid & done; wait)"
)


def test_one_process_with_threads_versus_a_parent_with_workers(lab: RunningLab) -> None:
    threads = lab.exec("threaded-web", "ps", "-T", "-p", "1").stdout.splitlines()
    assert threads[0].split()[:2] == ["PID", "SPID"], threads
    rows = [line.split() for line in threads[1:]]
    assert {row[0] for row in rows} == {"1"}
    assert len(rows) >= 2, "the main thread and at least one worker thread"

    procs = lab.exec("multiprocess-web", "ps", "-o", "pid,ppid,args", "-e").stdout.splitlines()
    servers = [line.split(None, 2) for line in procs[1:] if "socketlab.multiprocess_web" in line]
    parent = [row for row in servers if row[0] == "1"]
    workers = [row for row in servers if row[1] == "1"]
    assert len(parent) == 1, procs
    assert len(workers) == 4, procs


def test_threaded_web_answers_in_threads_of_one_pid(lab: RunningLab) -> None:
    out = lab.script("browser", "held_requests.py").splitlines()
    pattern = re.compile(r"connection (\d): client port (\d+), pid (\d+), thread (\S+)")
    rows = [m.groups() for line in out if (m := pattern.fullmatch(line))]
    assert len(rows) == len(out) == 3, out
    assert {pid for _, _, pid, _ in rows} == {"1"}
    threads = {thread for _, _, _, thread in rows}
    assert len(threads) == 3, out
    assert all(thread.startswith("worker-") for thread in threads)


def test_multiprocess_web_answers_in_different_pids(lab: RunningLab) -> None:
    started = time.monotonic()
    result = lab.exec("browser", "bash", "-c", PARALLEL_DELAYS)
    elapsed = time.monotonic() - started
    pids = re.findall(r"(?im)^x-worker-pid: (\d+)", result.stdout)
    assert len(pids) == 3, result
    assert len(set(pids)) == 3, pids
    real = re.search(r"real\s+(\d+)m([\d.]+)s", result.stderr)
    assert real, result.stderr
    seconds = 60 * int(real.group(1)) + float(real.group(2))
    assert 1.0 <= seconds < 2.0, f"real {seconds:.2f} s: about one second, not three"
    assert elapsed < 5.0
