"""What a run ran on: CPU, cores, kernel, Python and the tools' versions, and how busy it was."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import time
from importlib import metadata
from typing import Any


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


def wait_until_quiet(threshold: float, max_wait: float) -> tuple[float, float]:
    """Wait (at most ``max_wait`` seconds) until less than ``threshold`` of the CPU is busy with
    work that is not ours (we are idle while this runs); return (seconds waited, last busy)."""
    busy = cpu_busy()
    started = time.monotonic()  # the first look is not a wait
    while busy >= threshold and time.monotonic() - started < max_wait:
        busy = cpu_busy()
    return time.monotonic() - started, busy


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
        "python_implementation": platform.python_implementation(),
        "tools": {
            "wrk": version_in(_first_line(["wrk", "-v"])),
            "ab": version_in(_first_line(["ab", "-V"])),
            "nginx": version_in(_first_line(["nginx", "-v"])),
            "wget": version_in(_first_line(["wget", "--version"])),
            "gunicorn": _package("gunicorn"),
            "waitress": _package("waitress"),
        },
    }
