"""``prefork`` mode: a fixed pool of workers accepting on the shared socket; the parent supervises.

The parent binds the listening socket, then forks ``workers`` children that all accept on it
(the kernel hands each new connection to one of them). The parent itself never accepts: it keeps
the pool full, kills workers stuck past their deadline, and stops everything on SIGTERM -- the
design of gunicorn's arbiter with its sync workers.

* A worker that dies (crash, SIGKILL, out of memory) is replaced on the next pass of the loop,
  which SIGCHLD starts at once: within milliseconds, not seconds.
* A worker that dies again and again right after it started (it cannot even begin serving) is
  replaced with a growing pause (:data:`RESPAWN_BACKOFF` doubling up to :data:`RESPAWN_MAX`)
  instead of in a tight fork loop.
* A failed ``fork()`` leaves the slot empty; it is tried again :data:`FORK_RETRY_PAUSE` later
  while the other workers go on serving.
* On SIGTERM the parent closes its copy of the listening socket and tells every worker to
  stop; a stopping worker first takes the connections already waiting in the backlog (the
  kernel finished their handshakes: a reset would cut accepted requests off), then shuts the
  socket down (``shutdown(2)`` on a listening socket stops it for every process holding it,
  on Linux: new connections are refused), serves what has arrived, and exits.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import time
from typing import Final

from .supervisor import FORK_RETRY_PAUSE, Child, Supervisor, WorkerFactory, describe_exit
from .worker import EXIT_TIMEOUT, run_child

log = logging.getLogger("socketlab.prefork")


SHORT_LIFE: Final = 1.0
"""A worker that exits with an error within this many seconds of its start counts as a failed
start: the next one in its slot waits (see RESPAWN_BACKOFF)."""

RESPAWN_BACKOFF: Final = 0.25
"""Seconds before restarting a slot after its second failed start in a row; doubles each time."""

RESPAWN_MAX: Final = 5.0
"""Longest pause between restarts of a slot whose workers keep failing at once."""


DEFER_ACCEPT: Final = 5
"""Seconds the kernel holds a new connection that has sent nothing before a worker accepts it
anyway (TCP_DEFER_ACCEPT; nginx's ``listen ... deferred``). A worker serves one request at a
time, so it should take a connection when its request is there, not before: a connection it
accepted early would wait for whatever the worker serves next."""


def defer_accept(listener: socket.socket, seconds: int) -> None:
    """Linux: accept() returns a connection once its first bytes arrived (or ``seconds`` on)."""
    option = getattr(socket, "TCP_DEFER_ACCEPT", None)
    if option is not None:
        with contextlib.suppress(OSError):
            listener.setsockopt(socket.IPPROTO_TCP, option, seconds)


class PreforkServer(Supervisor):
    """A pool of ``workers`` processes accepting on one socket, kept full by the parent."""

    mode = "prefork"

    def __init__(
        self,
        listener: socket.socket,
        make_worker: WorkerFactory,
        *,
        workers: int,
        timeout: float,
        graceful_timeout: float,
    ) -> None:
        super().__init__(
            listener, make_worker, slots=workers, timeout=timeout, graceful_timeout=graceful_timeout
        )
        self.workers = workers
        defer_accept(listener, DEFER_ACCEPT)
        self.pool: dict[int, int | None] = dict.fromkeys(range(workers))  # slot -> pid
        self._next_start = [0.0] * workers
        self._failed_starts = [0] * workers
        self.spawned = 0  # workers started so far, for logs and tests

    def start(self) -> None:
        self.manage_pool()

    def step(self, listener_ready: bool) -> None:
        self.manage_pool()

    def manage_pool(self) -> None:
        """Start a worker in every empty slot whose pause is over."""
        now = time.monotonic()
        for slot, pid in self.pool.items():
            if pid is None and now >= self._next_start[slot]:
                self._start_worker(slot)

    def _start_worker(self, slot: int) -> None:
        listener = self.listener
        parent = self.pid

        def body() -> int:
            worker = self.make_worker(slot)
            worker.install_signals()
            log.info("worker %d started (slot %d, parent %d)", worker.pid, slot, parent)
            return run_child(lambda: worker.serve_listener(listener))

        pid = self.spawn(slot, "worker", body)
        if pid is None:
            self._next_start[slot] = time.monotonic() + FORK_RETRY_PAUSE
            return
        self.pool[slot] = pid
        self.spawned += 1

    def child_exited(self, child: Child, status: int) -> None:
        if self.pool.get(child.slot) == child.pid:
            self.pool[child.slot] = None
        code, words = describe_exit(status)
        lived = time.monotonic() - child.started
        if self.stop_reason:
            log.info("worker %d %s", child.pid, words)
            return
        if child.aborted_at is not None or code == EXIT_TIMEOUT:
            log.warning("worker %d stopped for its timeout (%s); replacing it", child.pid, words)
        elif code == -signal.SIGKILL:
            log.error(
                "worker %d %s (out of memory, or killed by hand?); replacing it", child.pid, words
            )
        else:
            log.warning("worker %d %s after %.1fs; replacing it", child.pid, words, lived)
        if code != 0 and lived < SHORT_LIFE and child.aborted_at is None:
            self._failed_starts[child.slot] += 1
        else:
            self._failed_starts[child.slot] = 0
        failures = self._failed_starts[child.slot]
        pause = 0.0 if failures < 2 else min(RESPAWN_BACKOFF * 2 ** (failures - 2), RESPAWN_MAX)
        if pause:
            log.error(
                "slot %d: %d failed starts in a row, next try in %.2fs", child.slot, failures, pause
            )
        self._next_start[child.slot] = time.monotonic() + pause

    def stop_accepting(self) -> None:
        # Only the parent's copy closes: shutdown(2) here would reset every connection waiting
        # in the backlog, whose handshakes the kernel already completed. The workers, told to
        # stop next, take what waits there and then shut the socket down (worker.py).
        self.listener.close()
