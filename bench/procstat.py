"""CPU time of a server and all its processes, from ``/proc/<pid>/stat``.

Requests per second move with whatever else the machine is doing; the CPU time the server itself
spent per request moves far less, which is why every result carries it. ``utime`` and ``stime``
of a process cover all its threads; a prefork server's workers are its descendants, and the
times of children that already exited and were reaped are in their parent's ``cutime`` and
``cstime``. :func:`tree_ticks` adds all of that up for one process tree.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

CLK_TCK: Final = os.sysconf("SC_CLK_TCK")
"""Clock ticks per second, the unit of the times in /proc/<pid>/stat (100 on Linux)."""


@dataclass(frozen=True)
class ProcStat:
    """The fields of one /proc/<pid>/stat line that the benchmarks use (times in ticks)."""

    pid: int
    comm: str
    state: str
    ppid: int
    utime: int
    stime: int
    cutime: int
    cstime: int

    @property
    def own_ticks(self) -> int:
        return self.utime + self.stime

    @property
    def reaped_children_ticks(self) -> int:
        return self.cutime + self.cstime


def parse_stat(text: str) -> ProcStat:
    """Parse one /proc/<pid>/stat line (proc(5)).

    The command name (field 2) is in parentheses and may itself contain spaces and parentheses,
    so the fields after it are found from the *last* closing parenthesis.
    """
    open_paren = text.index("(")
    close_paren = text.rindex(")")
    pid = int(text[:open_paren])
    comm = text[open_paren + 1 : close_paren]
    rest = text[close_paren + 1 :].split()
    # rest[0] is field 3 (state); field N is rest[N - 3].
    return ProcStat(
        pid=pid,
        comm=comm,
        state=rest[0],
        ppid=int(rest[1]),
        utime=int(rest[11]),
        stime=int(rest[12]),
        cutime=int(rest[13]),
        cstime=int(rest[14]),
    )


def tree_ticks(stats: Mapping[int, ProcStat], root: int) -> int:
    """Ticks used by ``root`` and every descendant, including reaped children's times.

    A child reaped between two samples moves its time from its own line into its parent's
    ``cutime``/``cstime``, so the sum is continuous across worker restarts.
    """
    children: dict[int, list[int]] = {}
    for st in stats.values():
        children.setdefault(st.ppid, []).append(st.pid)
    total = 0
    todo = [root]
    seen: set[int] = set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        st = stats[pid]
        total += st.own_ticks + st.reaped_children_ticks
        todo.extend(children.get(pid, ()))
    return total


def tree_pids(stats: Mapping[int, ProcStat], root: int) -> list[int]:
    """``root`` and its descendants, for the report (how many processes a server ran)."""
    children: dict[int, list[int]] = {}
    for st in stats.values():
        children.setdefault(st.ppid, []).append(st.pid)
    out: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in stats and pid not in out:
            out.append(pid)
            todo.extend(children.get(pid, ()))
    return out


def read_all(proc: str = "/proc") -> dict[int, ProcStat]:
    """Every process's stat line now (processes that vanish while being read are skipped)."""
    out: dict[int, ProcStat] = {}
    for name in _pid_names(os.listdir(proc)):
        try:
            with open(f"{proc}/{name}/stat") as handle:
                st = parse_stat(handle.read())
        except (OSError, ValueError, IndexError):
            continue
        out[st.pid] = st
    return out


def _pid_names(names: Iterable[str]) -> list[str]:
    return [n for n in names if n.isdigit()]


def cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) used so far by ``root``'s whole process tree."""
    return tree_ticks(read_all(), root) / CLK_TCK
