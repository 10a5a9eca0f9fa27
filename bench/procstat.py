"""CPU time of a server and all its processes, read with psutil.

Requests per second move with whatever else the machine is doing; the CPU time the server itself
spent per request moves far less, which is why every result carries it. A process's user and
system times cover all its threads; a prefork server's workers are its descendants, and the
times of children that already exited and were reaped are in their parent's ``children_user``
and ``children_system``. :func:`cpu_seconds` adds all of that up for one process tree, so the sum
is continuous across worker restarts.
"""

from __future__ import annotations

import psutil


def cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) used so far by ``root``'s whole process tree, reaped
    children included; 0.0 when ``root`` is gone."""
    try:
        top = psutil.Process(root)
        tree = [top, *top.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in tree:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:  # exited between the listing and the read
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total
