"""The supervising parent of multiprocess-web: fork, watch, reap, stop. It never serves clients.

:class:`Supervisor` holds what both process models share; :mod:`.forking` (a child per
connection) and :mod:`.prefork` (a fixed pool) add how children are made. The shape is
gunicorn's arbiter (``gunicorn/arbiter.py``):

* **Signal handlers only record.** SIGTERM, SIGINT and SIGCHLD append their number to a queue;
  ``signal.set_wakeup_fd`` writes a byte to a pipe the main loop waits on, so the loop wakes up
  at once and acts: ``handle_<signal>`` methods, in the loop, never in the handler.
* **No zombies.** Every pass of the loop reaps with ``waitpid(-1, WNOHANG)`` until nothing is
  left to reap, whether or not a SIGCHLD was seen (signals of the same kind coalesce). As PID 1
  in a container the parent also inherits orphans; they are reaped the same way.
* **Stuck children die.** Each child reports a deadline in the shared deadline table; one past
  it gets SIGABRT (it answers 504 and exits), and SIGKILL :data:`ABORT_GRACE` seconds later if
  it is still there.
* **A failed fork is an event, not a crash.** ``fork()`` failing with EAGAIN or ENOMEM is logged
  and the caller decides what to do (refuse the connection, retry the worker later).
* **Flat descriptors.** The parent owns the listener, one wake-up pipe and nothing per child;
  the deadline table is shared memory, not files. Children close the parent's descriptors.
* **Graceful stop.** SIGTERM or SIGINT: stop accepting, send SIGTERM to every child (each
  finishes its request in flight), wait up to ``graceful_timeout`` while reaping, SIGKILL what
  is left, reap it, return. A second SIGTERM/SIGINT during the wait skips to the SIGKILL.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Final

from .. import logs
from .board import WorkerBoard
from .deadlines import DeadlineTable
from .worker import Worker

log = logging.getLogger("socketlab.supervisor")

TICK: Final = 0.5
"""Seconds the main loop sleeps at most: how often deadlines are checked when nothing happens.
A stuck child is thus killed at most half a second after its deadline."""

ABORT_GRACE: Final = 2.0
"""Seconds between SIGABRT (answer 504 and exit) and SIGKILL for a child past its deadline."""

SIGNALS: Final = (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)
"""What the parent handles: the two stop signals and child exits."""

FORK_RETRY_PAUSE: Final = 0.5
"""Seconds before a failed ``fork()`` is tried again (fork mode stops accepting, prefork leaves
the slot empty): the process table or memory needs a moment to free up."""

WorkerFactory = Callable[[int], Worker]
"""Builds the Worker of a new child, given its deadline slot (called in the child)."""


@dataclass
class Child:
    """One live child as the parent sees it."""

    pid: int
    slot: int
    started: float
    what: str  # "worker" or "connection 1.2.3.4:5678", for log lines
    aborted_at: float | None = None
    killed: bool = False


class Supervisor:
    """Base of the two process models; subclasses implement :meth:`step` and :meth:`start`."""

    mode = "?"

    def __init__(
        self,
        listener: socket.socket,
        make_worker: WorkerFactory,
        *,
        slots: int,
        timeout: float,
        graceful_timeout: float,
    ) -> None:
        self.listener = listener
        self.make_worker = make_worker
        self.address = listener.getsockname()[:2]
        self.timeout = timeout
        self.graceful_timeout = graceful_timeout
        self.deadlines = DeadlineTable(slots)
        self.board = WorkerBoard(slots)  # what each child's connections do (/server-status)
        self.children: dict[int, Child] = {}
        self.pid = os.getpid()
        self.stop_reason = ""
        self.forks_failed = 0
        self._signals: collections.deque[int] = collections.deque()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector = selectors.PollSelector()  # poll(2): no descriptor for children to share
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._old_wakeup_fd = -1
        self._closing = False  # shutdown() began: the listener is closed

    # -- signals ---------------------------------------------------------------------------------

    def install_signals(self) -> None:
        for signum in SIGNALS:
            signal.signal(signum, self._record_signal)
        self._old_wakeup_fd = signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)

    def _record_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals.append(signum)  # only record: the main loop acts

    def _take_signals(self) -> list[int]:
        taken = []
        while self._signals:
            taken.append(self._signals.popleft())
        return taken

    def handle_signals(self) -> None:
        for signum in self._take_signals():
            name = signal.Signals(signum).name
            handler = getattr(self, "handle_" + name[3:].lower(), None)
            if handler is not None:
                handler()

    def handle_term(self) -> None:
        self.stop("SIGTERM")

    def handle_int(self) -> None:
        self.stop("SIGINT")

    def handle_chld(self) -> None:
        self.reap()

    def stop(self, reason: str = "stop requested") -> None:
        """Ask the main loop to stop (it then drains); only records, so callable from anywhere."""
        if not self.stop_reason:
            self.stop_reason = reason
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    # -- the main loop ---------------------------------------------------------------------------

    def run(self) -> None:
        """Supervise until stopped, then stop the children gracefully and return."""
        self.install_signals()
        log.info(
            "%s mode: listening on %s:%d (supervisor pid %d)", self.mode, *self.address, self.pid
        )
        try:
            self.start()
            while not self.stop_reason:
                ready = self.wait(TICK)
                self.handle_signals()
                self.reap()
                self.murder()
                if not self.stop_reason:
                    self.step(ready)
        finally:
            self.shutdown()

    def wait(self, timeout: float) -> bool:
        """Sleep until a signal, a readable listener (if watched) or ``timeout``; True if the
        listener is readable."""
        watch = not self._closing and self.watch_listener()
        if watch:
            self._selector.register(self.listener, selectors.EVENT_READ)
        try:
            events = self._selector.select(timeout)
        finally:
            if watch:
                self._selector.unregister(self.listener)
        listener_ready = False
        for key, _ in events:
            if key.fileobj is self._wake_r:
                self._drain_wake_pipe()
            else:
                listener_ready = True
        return listener_ready

    def _drain_wake_pipe(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    # -- subclass hooks --------------------------------------------------------------------------

    def start(self) -> None:
        """Called once before the loop (prefork spawns its pool here)."""

    def watch_listener(self) -> bool:
        """Whether the loop should wake up for new connections (fork mode accepts itself)."""
        return False

    def step(self, listener_ready: bool) -> None:
        """One pass of the loop after signals, reaping and deadlines were handled."""

    def child_exited(self, child: Child, status: int) -> None:
        """A child was reaped; ``status`` as from waitpid()."""

    def stop_accepting(self) -> None:
        """Close the listener (prefork also shuts it down for its workers)."""
        self.listener.close()

    # -- children --------------------------------------------------------------------------------

    def spawn(
        self,
        slot: int,
        what: str,
        body: Callable[[], int],
        close_in_child: tuple[socket.socket, ...] = (),
    ) -> int | None:
        """Fork a child that runs ``body`` (returning its exit status); None if fork failed.

        Signals are blocked across the fork, so that the child never runs the parent's handlers
        before it has replaced them, and the parent's wake-up pipe stays the parent's.
        """
        self.deadlines.idle(slot, time.monotonic() + self.timeout)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # or whatever sits in the buffers is written twice
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        try:
            pid = os.fork()
        except OSError as exc:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            self.forks_failed += 1
            level = logging.ERROR if exc.errno in (errno.EAGAIN, errno.ENOMEM) else logging.CRITICAL
            log.log(level, "fork() for %s failed: %s", what, exc)
            return None
        if pid == 0:  # pragma: no cover - runs in the child, measured by the process tests
            self._become_child(close_in_child)
            code = 1
            try:
                code = body()
            finally:
                logs.ACCESS.flush()  # os._exit skips atexit: the child's queued access lines
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(OSError, ValueError):
                        stream.flush()
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        self.children[pid] = Child(pid, slot, time.monotonic(), what)
        return pid

    def _become_child(self, close_in_child: tuple[socket.socket, ...]) -> None:
        """In a new child: drop the parent's signal handling and descriptors."""
        self._stop_listening_for_signals(-1)
        self._signals.clear()
        self.children.clear()
        for sock in close_in_child:
            sock.close()
        # The stop signals stay blocked: the worker takes them with sigwait() (worker.py).
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})

    def reap(self) -> None:
        """Collect every child that has exited, without blocking (no zombie stays behind)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return  # no children at all
            if pid == 0:
                return  # children exist, none has exited
            child = self.children.pop(pid, None)
            if child is not None:
                self.board.vacate(child.slot)  # a killed child cannot clear its row itself
            if child is None:
                log.debug("reaped pid %d, not one of ours (an orphan we inherited as PID 1)", pid)
                continue
            self.child_exited(child, status)

    def murder(self) -> None:
        """SIGABRT children past their deadline; SIGKILL those that ignore it."""
        now = time.monotonic()
        for child in list(self.children.values()):
            if child.killed:
                continue
            if child.aborted_at is None:
                beat = self.deadlines.read(child.slot)
                if now <= beat.deadline:
                    continue
                if beat.busy:
                    log.error(
                        "%s pid %d: %r running for %.1fs, past the %g s timeout: SIGABRT",
                        child.what,
                        child.pid,
                        beat.request,
                        now - beat.busy_since,
                        self.timeout,
                    )
                else:
                    log.error(
                        "%s pid %d: no check-in for %.1fs past its deadline: SIGABRT",
                        child.what,
                        child.pid,
                        now - beat.deadline,
                    )
                child.aborted_at = now
                self.kill(child, signal.SIGABRT)
            elif now - child.aborted_at >= ABORT_GRACE:
                log.error(
                    "%s pid %d: still running %g s after SIGABRT: SIGKILL",
                    child.what,
                    child.pid,
                    ABORT_GRACE,
                )
                child.killed = True
                self.kill(child, signal.SIGKILL)

    def kill(self, child: Child, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # already gone: reap() collects it
            os.kill(child.pid, signum)

    # -- stopping --------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop accepting, let children finish their requests, then make sure none is left."""
        self._closing = True
        self.stop_accepting()
        self.reap()
        log.info(
            "%s: stopping; %d children, waiting up to %g s for requests in flight",
            self.stop_reason or "stopping",
            len(self.children),
            self.graceful_timeout,
        )
        for child in list(self.children.values()):
            self.kill(child, signal.SIGTERM)
        deadline = time.monotonic() + self.graceful_timeout
        hurry = False
        while self.children and not hurry:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.wait(min(left, TICK))
            for signum in self._take_signals():
                if signum in (signal.SIGTERM, signal.SIGINT):
                    log.warning("%s again: not waiting any longer", signal.Signals(signum).name)
                    hurry = True
            self.reap()
        for child in list(self.children.values()):
            log.warning(
                "%s pid %d still busy after %g s: SIGKILL",
                child.what,
                child.pid,
                self.graceful_timeout,
            )
            self.kill(child, signal.SIGKILL)
        for child in list(self.children.values()):
            try:
                _, status = os.waitpid(child.pid, 0)  # SIGKILL cannot be refused: this returns
            except ChildProcessError:
                status = 0
            self.children.pop(child.pid, None)
            self.child_exited(child, status)
        self.reap()
        self._stop_listening_for_signals(self._old_wakeup_fd)
        self.deadlines.close()
        self.board.close()
        log.info("stopped")

    def _stop_listening_for_signals(self, wakeup_fd: int) -> None:
        """Undo what :meth:`run` set up to hear signals (the handlers, the wake-up descriptor,
        the selector and its pipe): in a new child, and when the parent is done."""
        signal.set_wakeup_fd(wakeup_fd)
        for signum in SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()


def describe_exit(status: int) -> tuple[int, str]:
    """(exit code or -signal, words) for a waitpid() status."""
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return code, f"killed by {name}"
    return code, f"exited with status {code}"
