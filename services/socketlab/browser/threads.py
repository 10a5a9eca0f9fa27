"""The browser's two needs of :mod:`threading` -- a flag to stop on, a daemon thread -- on
:mod:`_thread`, which threading itself is made of.

``import threading`` costs some 3.5 million instructions (its classes, weakref sets, the main
thread's object), more than a tenth of what the browser's start-up may spend beyond the
interpreter's own (issue 17), for an Event and two threads. The servers import threading;
nothing in a page load's process does.
"""

from __future__ import annotations

import _thread
import contextlib

TYPE_CHECKING = False  # typing is for the type checker only: see socketlab.structs
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol

    class StopFlag(Protocol):
        """What the browser asks of a flag to stop on: a :class:`Flag`, a threading.Event."""

        def is_set(self) -> bool: ...

        def set(self) -> None: ...


class Flag:
    """A flag that is set once and stays set: :class:`threading.Event`'s ``set``, ``is_set``
    and ``wait``, without ``clear``.

    A lock held while the flag is down is the gate ``wait`` blocks on; ``set`` raises the flag,
    then opens the gate. ``set`` takes no lock that anyone holds, so a signal handler may call
    it on a thread that is inside ``set`` or ``wait`` (``threading.Event.set`` takes its
    condition's lock, and would deadlock there).
    """

    __slots__ = ("_gate", "_up")

    def __init__(self) -> None:
        self._up = False
        self._gate = _thread.allocate_lock()
        self._gate.acquire()

    def is_set(self) -> bool:
        return self._up

    def set(self) -> None:
        self._up = True
        self._open()

    def wait(self, timeout: float | None = None) -> bool:
        """Until the flag is set, or ``timeout`` seconds (None: no limit); whether it is."""
        if self._up:
            return True
        if self._gate.acquire(True, -1 if timeout is None else max(timeout, 0.0)):
            self._open()  # for the next waiter
        return self._up

    def _open(self) -> None:
        with contextlib.suppress(RuntimeError):  # open already: set twice, or a waiter came by
            self._gate.release()


def start(target: Callable[[], object]) -> None:
    """Run ``target`` on a new daemon thread: the process does not wait for it at exit."""
    _thread.start_new_thread(target, ())
