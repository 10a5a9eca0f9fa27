"""What a run ran on: CPU, cores, kernel, Python and the tools' versions, and how busy it was."""

from __future__ import annotations

import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from importlib import metadata
from typing import Any, Final


def cpu_model(cpuinfo: str) -> str:
    """The ``model name`` of /proc/cpuinfo's first processor."""
    match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    return match.group(1).strip() if match else platform.processor() or "unknown"


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (runnable tasks, whoever they belong to)."""
    return [round(x, 2) for x in os.getloadavg()]


def cpu_times(stat: str) -> tuple[int, int]:
    """(busy, total) jiffies from the ``cpu`` line of /proc/stat (idle and iowait are idle)."""
    fields = [int(x) for x in stat.split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])  # guest times are already counted in user
    return total - idle, total


def cpu_busy(seconds: float = 0.3) -> float:
    """The fraction of the machine's CPU time that was busy over the next ``seconds``."""
    with open("/proc/stat") as handle:
        busy0, total0 = cpu_times(handle.read())
    time.sleep(seconds)
    with open("/proc/stat") as handle:
        busy1, total1 = cpu_times(handle.read())
    return (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0


PROBE_ROUND_TRIPS: Final = 1000
"""Round trips of the speed probe: some 30 ms on the lab's machines when they are quiet."""


def probe() -> float:
    """Seconds per round trip of one byte between two processes over a socketpair (best of
    three bursts): each trip wakes the other process, on the other core.

    The machine is a virtual one: other guests on the same host slow it down without showing
    in /proc/stat (the same build of threaded-web measured 43 and then 97 us per request with
    the CPU otherwise idle). Pure computation hardly notices; waking a thread or a process,
    which every server here does per request, does, and so does this probe.
    """
    best = float("inf")
    for _ in range(3):
        left, right = socket.socketpair()
        pid = os.fork()
        if pid == 0:  # the echoing child: nothing but this loop, then out
            code = 0
            try:
                left.close()
                for _ in range(PROBE_ROUND_TRIPS):
                    right.sendall(right.recv(16))
            except BaseException:  # noqa: BLE001 -- any failure becomes the exit status
                code = 1
            os._exit(code)
        right.close()
        try:
            start = time.perf_counter()
            for _ in range(PROBE_ROUND_TRIPS):
                left.sendall(b"x")
                left.recv(16)
            best = min(best, (time.perf_counter() - start) / PROBE_ROUND_TRIPS)
        finally:
            left.close()
            os.waitpid(pid, 0)
    return best


class Quiet:
    """Waits before each run until the machine looks as quiet as it has been: less than
    ``busy`` of its CPU in use, and the probe within ``slack`` of the fastest seen."""

    def __init__(self, busy: float, slack: float, max_wait: float, budget: float) -> None:
        self.busy = busy
        self.slack = slack
        self.max_wait = max_wait
        self.budget = budget  # seconds of waiting left for the whole run
        self.fastest = probe()

    def wait(self) -> dict[str, float]:
        """Wait (at most max_wait seconds, within the budget); return what it saw."""
        started = time.monotonic()
        while True:
            busy = cpu_busy()
            speed = probe()
            self.fastest = min(self.fastest, speed)
            waited = time.monotonic() - started
            quiet = busy < self.busy and speed <= self.fastest * (1 + self.slack)
            if quiet or waited >= min(self.max_wait, self.budget):
                self.budget = max(0.0, self.budget - waited)
                return {
                    "waited_s": round(waited, 1) if not quiet or waited > 1 else 0.0,
                    "busy_before": round(busy, 3),
                    "probe_us": round(speed * 1e6, 1),
                    "slowdown": round(speed / self.fastest, 3),
                    "load_1min": load_average()[0],
                }
            time.sleep(0.5)


CONNTRACK: Final = "/proc/sys/net/netfilter/nf_conntrack_"


def conntrack() -> tuple[int, int] | None:
    """(entries, limit) of the kernel's connection-tracking table, or None when the kernel
    tracks no connections here.

    Where netfilter is in use (Docker's rules load it) every TCP connection, loopback included,
    takes an entry that lives on for nf_conntrack_tcp_timeout_time_wait (120 s) after it
    closes. A full table drops new SYNs ("nf_conntrack: table full, dropping packet" in the
    kernel log), and each dropped SYN costs its client a 1 s retransmission: a run of
    ``ab -c50`` then falls from ~11,000 to ~130 requests/s with a p99 of a second, which is
    what the benchmark's no-keep-alive workloads did to themselves before they waited for room
    (some 25,000 connections per run, 262,144 entries on the lab's machine).
    """
    try:
        with open(CONNTRACK + "count") as count, open(CONNTRACK + "max") as limit:
            return int(count.read()), int(limit.read())
    except (OSError, ValueError):
        return None


CONNTRACK_HEADROOM: Final = 0.9
"""Fill the connection-tracking table to at most this share: other programs open connections
too, and the table's count is read a moment before the run."""


def wait_for_conntrack_room(needed: int, max_wait: float) -> dict[str, float]:
    """Wait (at most ``max_wait`` seconds) until ``needed`` more connections fit in the
    connection-tracking table; return how long it waited and how full the table was."""
    started = time.monotonic()
    while True:
        seen = conntrack()
        if seen is None:
            return {}
        entries, limit = seen
        waited = time.monotonic() - started
        if entries + needed <= limit * CONNTRACK_HEADROOM or waited >= max_wait:
            return {
                "conntrack_wait_s": round(waited, 1),
                "conntrack_entries": entries,
                "conntrack_max": limit,
            }
        time.sleep(1.0)


def _first_line(argv: list[str]) -> str:
    """A tool's version line; some print it on stderr, some exit non-zero (wrk -v)."""
    if shutil.which(argv[0]) is None:
        return "not installed"
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    for line in (done.stdout + "\n" + done.stderr).splitlines():
        if line.strip():
            return line.strip()
    return "unknown"


def version_in(line: str) -> str:
    """The first version number in a tool's banner (``wrk debian/4.1.0-3+b2 [epoll]`` ->
    ``4.1.0-3+b2``), or the whole line when it has none."""
    match = re.search(r"\d+\.\d+(?:\.\d+)?(?:[-+~][\w.+~-]*)?", line)
    return match.group(0) if match else line


def _package(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe() -> dict[str, Any]:
    """Everything the report says about the machine and the tools."""
    try:
        with open("/proc/cpuinfo") as handle:
            model = cpu_model(handle.read())
    except OSError:
        model = platform.processor() or "unknown"
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "python_executable": os.path.realpath(getattr(sys, "_base_executable", sys.executable)),
        # A shared libpython (pyenv's default build) costs every call across it an indirection
        # that a statically linked one (Debian's python3) does not pay.
        "python_shared": bool(sysconfig.get_config_var("Py_ENABLE_SHARED")),
        "python_implementation": platform.python_implementation(),
        "conntrack_max": (conntrack() or (None, None))[1],
        "tools": {
            "wrk": version_in(_first_line(["wrk", "-v"])),
            "ab": version_in(_first_line(["ab", "-V"])),
            "nginx": version_in(_first_line(["nginx", "-v"])),
            "wget": version_in(_first_line(["wget", "--version"])),
            "gunicorn": _package("gunicorn"),
            "waitress": _package("waitress"),
            "uvicorn": _package("uvicorn"),
            "h11": _package("h11"),
            "httptools": _package("httptools"),
            "uvloop": _package("uvloop"),
            "hypercorn": _package("hypercorn"),
        },
    }
