"""The worker board: each child says, in shared memory, what its connections are doing.

``/server-status`` is answered by whichever child takes the request, and a child cannot see
inside its siblings. So every child publishes one row of a small table in an anonymous shared
``mmap`` (made by the parent before the first fork, inherited by every child, like
:mod:`.deadlines`): its pid, how many of its connections are in each scoreboard state, the
requests it has served, and -- in fork mode, where a child is one connection -- that
connection's peer and age. The child that answers ``/server-status`` reads every row.

What this shows, honestly: in fork mode, one row per open connection (each child is one), the
same as a scoreboard; in prefork mode, the answering worker's own connections in full, and for
every worker its counts per state. A row is published at most :data:`PUBLISH_INTERVAL` late, and
a row left by a killed child is cleared by the parent when it reaps it.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from typing import Final

from .. import status

_ROW: Final = struct.Struct("=I4IId64s")
"""pid (0: free), the count per state (status.STATES order), requests served, when the
connection opened (fork mode; time.monotonic()), the connection's peer (fork mode)."""

ROW_SIZE: Final = 128
"""Bytes per row: the struct above padded so that no two rows share a cache line."""

PUBLISH_INTERVAL: Final = 0.25
"""Seconds a prefork worker waits at most before it publishes its counts again."""


@dataclass(frozen=True)
class WorkerRow:
    slot: int
    pid: int
    counts: dict[str, int]
    requests: int
    opened: float
    peer: str


class WorkerBoard:
    """``slots`` rows in shared memory; create it in the parent before forking."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._mem = mmap.mmap(-1, ROW_SIZE * slots)

    def publish(
        self,
        slot: int,
        pid: int,
        counts: dict[str, int],
        requests: int,
        opened: float = 0.0,
        peer: str = "",
    ) -> None:
        packed = _ROW.pack(
            pid,
            *(counts.get(state, 0) for state in status.STATES),
            requests,
            opened,
            peer.encode("ascii", "replace")[:64],
        )
        start = slot * ROW_SIZE
        self._mem[start : start + _ROW.size] = packed  # one copy: a reader never sees zeros

    def vacate(self, slot: int) -> None:
        start = slot * ROW_SIZE
        self._mem[start : start + _ROW.size] = bytes(_ROW.size)

    def rows(self) -> list[WorkerRow]:
        out = []
        for slot in range(self.slots):
            pid, *rest = _ROW.unpack_from(self._mem, slot * ROW_SIZE)
            if not pid:
                continue
            counts = dict(zip(status.STATES, rest[:4], strict=True))
            requests, opened, peer = rest[4], rest[5], rest[6]
            out.append(
                WorkerRow(
                    slot,
                    pid,
                    counts,
                    requests,
                    opened,
                    peer.rstrip(b"\0").decode("ascii", "replace"),
                )
            )
        return out

    def close(self) -> None:
        self._mem.close()
