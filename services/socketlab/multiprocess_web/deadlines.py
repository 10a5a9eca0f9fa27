"""The deadline table: each worker process tells its supervisor, in shared memory, when it
must check in again.

A supervising parent cannot see inside its children, so each child publishes, in a slot of a
small table in an anonymous shared ``mmap``, the moment by which it promises to check in again
(its *deadline*), and what it is doing (the request it is serving, since when). The parent reads
the table every tick; a child past its deadline is stuck -- an endless loop in an application,
a request that never ends -- and gets killed (see :mod:`socketlab.multiprocess_web.supervisor`).

This is gunicorn's heartbeat idea (each worker touches a temporary file, the arbiter compares
its mtime with the timeout) without a file descriptor per worker: the table is created once,
before the first fork, and inherited by every child, so the parent's descriptors stay flat
however many children come and go.

Times are ``time.monotonic()`` values. On Linux that is CLOCK_MONOTONIC, one clock for the whole
machine, so a deadline written by a child means the same to its parent. Each slot is written by
one child and read by the parent; a read that races a write at worst sees the previous value,
which only delays a kill by one tick (8-byte aligned stores are not torn on the platforms the lab
runs on).
"""

from __future__ import annotations

import mmap
import struct
import time
from dataclasses import dataclass
from typing import Final

_SLOT: Final = struct.Struct("=dd64s")
"""deadline, busy_since (0.0 when not in a request), and the request line being served: 80 bytes."""

SLOT_SIZE: Final = 128
"""Bytes per slot: the struct above, padded so that no two slots share a 64-byte cache line
(a child writing its slot must not slow its neighbours' writes down)."""

TARGET_BYTES: Final = 64
"""How much of the current request line a slot keeps, for the parent's 'stuck in ...' log line."""


@dataclass(frozen=True)
class SlotState:
    """What one slot says: the child's deadline and the request it is in, if any."""

    deadline: float
    busy_since: float
    request: str

    @property
    def busy(self) -> bool:
        return self.busy_since > 0.0


class DeadlineTable:
    """``slots`` deadline slots in shared memory; create it in the parent before forking."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("a deadline table needs at least one slot")
        self.slots = slots
        # mmap(-1, ...) is anonymous and MAP_SHARED: parent and children see the same pages.
        self._mem = mmap.mmap(-1, SLOT_SIZE * slots)

    def idle(self, slot: int, deadline: float) -> None:
        """Not in a request, due to check in again by ``deadline``.

        The child calls it between requests; the parent calls it before forking a child into
        the slot, so that nothing of the slot's previous occupant is read as the new one's.
        """
        self._write(slot, _SLOT.pack(deadline, 0.0, b""))

    def busy(self, slot: int, deadline: float, request: str) -> None:
        """The child started ``request`` (a request line) and must be done by ``deadline``."""
        now = time.monotonic()
        text = request.encode("utf-8", "replace")[:TARGET_BYTES]
        self._write(slot, _SLOT.pack(deadline, now, text))

    def _write(self, slot: int, packed: bytes) -> None:
        # One copy of the packed slot. Not struct.pack_into(): it zero-fills the slot before it
        # writes the fields, and a parent reading in between saw a deadline of 0.0 and killed a
        # healthy worker ("no heartbeat for 3006.7s past its deadline") under load.
        start = slot * SLOT_SIZE
        self._mem[start : start + _SLOT.size] = packed

    def read(self, slot: int) -> SlotState:
        deadline, since, raw = _SLOT.unpack_from(self._mem, slot * SLOT_SIZE)
        return SlotState(deadline, since, raw.rstrip(b"\0").decode("utf-8", "replace"))

    def close(self) -> None:
        self._mem.close()
