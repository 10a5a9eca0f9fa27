"""``fork`` mode: the parent accepts, and forks one child per connection (the seed's model).

The child serves every request of its connection (keep-alive included) and exits; the parent
closes its own copy of the connection's socket right after the fork -- otherwise the connection
would stay open until the parent closed it too, and the parent's descriptors would grow with
every client.

Live children are capped at ``max_children``. At the cap the parent stops accepting: new
connections wait in the kernel's listen backlog until a child exits (Apache prefork's
MaxRequestWorkers behaves the same way), so a burst is served late rather than refused. A
connection accepted when ``fork()`` then fails (EAGAIN: the process limit; ENOMEM) is answered
``503`` with Retry-After by the parent itself -- a fixed, non-blocking write of a few bytes, the
only thing the parent ever sends a client -- and accepting pauses for :data:`FORK_RETRY_PAUSE`.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from typing import Final

from ..http import errors
from .supervisor import FORK_RETRY_PAUSE, Child, Supervisor, WorkerFactory, describe_exit
from .worker import run_child

log = logging.getLogger("socketlab.forking")


ACCEPT_ERROR_PAUSE: Final = 0.1
"""Seconds to stop accepting after accept() fails for lack of descriptors or memory."""


class ForkingServer(Supervisor):
    """A child per connection, at most ``max_children`` alive at once."""

    mode = "fork"

    def __init__(
        self,
        listener: socket.socket,
        make_worker: WorkerFactory,
        *,
        max_children: int,
        timeout: float,
        graceful_timeout: float,
    ) -> None:
        super().__init__(
            listener,
            make_worker,
            slots=max_children,
            timeout=timeout,
            graceful_timeout=graceful_timeout,
        )
        self.max_children = max_children
        self._free_slots = list(range(max_children - 1, -1, -1))
        self._paused_until = 0.0
        self._at_cap_logged = False
        # The answer when fork() fails: X-Worker-Pid names the parent, which answered.
        self._refusal = errors.busy_response((("X-Worker-Pid", str(self.pid)),))
        self.connections = 0  # accepted so far, for logs and tests
        listener.setblocking(False)

    def watch_listener(self) -> bool:
        if len(self.children) >= self.max_children:
            if not self._at_cap_logged:
                log.warning(
                    "all %d children busy: new connections wait in the listen backlog",
                    self.max_children,
                )
                self._at_cap_logged = True
            return False
        self._at_cap_logged = False
        return time.monotonic() >= self._paused_until

    def step(self, listener_ready: bool) -> None:
        if listener_ready:
            self._accept_ready()

    def _accept_ready(self) -> None:
        # Accept whatever is queued, one child each, up to the cap. Children that have already
        # exited are reaped on the way: a zombie would hold a slot of the cap for nothing.
        while not self.stop_reason:
            self.reap()
            if len(self.children) >= self.max_children:
                return
            try:
                sock, addr = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                # EMFILE/ENFILE/ENOBUFS/ENOMEM: log, pause a little, go on.
                log.error("accept failed: %s", exc)
                self._paused_until = time.monotonic() + ACCEPT_ERROR_PAUSE
                return
            self.connections += 1
            self._fork_for(sock, (addr[0], addr[1]))

    def _fork_for(self, sock: socket.socket, addr: tuple[str, int]) -> None:
        slot = self._free_slots.pop()
        what = f"connection {addr[0]}:{addr[1]}"

        def body() -> int:
            sock.setblocking(True)
            worker = self.make_worker(slot)
            worker.install_signals()
            return run_child(lambda: worker.serve_connection(sock, addr))

        pid = self.spawn(slot, what, body, close_in_child=(self.listener,))
        if pid is None:
            self._free_slots.append(slot)
            self._refuse(sock, addr)
            self._paused_until = time.monotonic() + FORK_RETRY_PAUSE
        else:
            log.debug("%s: child pid %d", what, pid)
            sock.close()  # the child has its own copy; ours would keep the connection open

    def _refuse(self, sock: socket.socket, addr: tuple[str, int]) -> None:
        log.warning("%s:%d refused with 503: cannot fork a child", addr[0], addr[1])
        try:
            sock.setblocking(False)
            sock.send(self._refusal)
            sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.ECONNRESET, errno.EAGAIN):
                log.debug("refusal not sent: %s", exc)
        finally:
            sock.close()

    def child_exited(self, child: Child, status: int) -> None:
        self._free_slots.append(child.slot)
        code, words = describe_exit(status)
        if code == 0:
            log.debug("%s pid %d done", child.what, child.pid)
        else:
            log.warning(
                "%s pid %d %s after %.1fs",
                child.what,
                child.pid,
                words,
                time.monotonic() - child.started,
            )
