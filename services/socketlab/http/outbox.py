"""What a response still has to send when its client reads slower than the server writes.

A worker that writes an answer with blocking sends is held until the client has taken nearly
all of it: a slow reader (slowhttptest ``-X``: a tiny TCP window, a few bytes at a time) holds
a prefork worker, one of four, for as long as it likes, up to ``io_timeout`` per write. With an
:class:`Outbox` the sends never block: what the socket does not take at once is kept here, in
order, and the poller (:mod:`socketlab.http.poller`) sends it whenever the socket is writable,
after the worker has moved on -- nginx's and Apache's event MPM's way of writing a response.

* Bytes are kept as they were given (no copy beyond the one the caller made), up to
  :data:`OUTBOX_LIMIT` in memory; past it the sender waits for the client (the back-pressure
  is the caller's, see ``Connection._wait_for_room``), so memory per connection stays bounded.
* A file segment (``sendfile(2)``) costs no memory: the outbox keeps a duplicate of its
  descriptor and the offset, so a large static file goes to a slow reader without holding the
  worker at all (the handler may close its own file at once). At most :data:`FILES_LIMIT` are
  kept per connection.

Only non-blocking sockets: :meth:`Outbox.flush` sends what the socket takes now and returns.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections import deque
from typing import Final

OUTBOX_LIMIT: Final = 256 * 1024
"""Bytes of response a connection may keep in memory while its client reads slowly. Past it
the sender waits for room (``io_timeout`` per step). Bounded so that thousands of slow readers
cost at most this much each; waitress keeps more per connection (16 MiB, on disk past 1 MiB),
nginx less (its output_buffers, 2 x 32 KiB, plus the socket's buffer)."""

FILES_LIMIT: Final = 8
"""File segments (one descriptor each) a connection may keep waiting; past it the sender waits
as for the memory limit. A response has one file, or a few (ranges)."""

GATHER: Final = 64
"""Buffers handed to one sendmsg(2); far below the kernel's IOV_MAX (1024)."""


class ShortFile(Exception):
    """A file being sent ended before its segment did (it shrank after its length was sent)."""


class _FileSegment:
    __slots__ = ("count", "fd", "offset")

    def __init__(self, fd: int, offset: int, count: int) -> None:
        self.fd = fd
        self.offset = offset
        self.count = count

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class Outbox:
    """The unsent part of a connection's responses, in the order they were written."""

    __slots__ = ("_pieces", "buffered", "files")

    def __init__(self) -> None:
        self._pieces: deque[memoryview | _FileSegment] = deque()
        self.buffered = 0  # bytes kept in memory
        self.files = 0  # file segments kept

    @property
    def empty(self) -> bool:
        return not self._pieces

    @property
    def full(self) -> bool:
        """True when the sender must wait for the client before it adds more."""
        return self.buffered > OUTBOX_LIMIT or self.files > FILES_LIMIT

    def add(self, data: bytes) -> None:
        """Queue ``data`` (kept as it is: the caller must not change it)."""
        if data:
            self._pieces.append(memoryview(data))
            self.buffered += len(data)

    def add_file(self, fileno: int, offset: int, count: int) -> None:
        """Queue ``count`` bytes of the file open as ``fileno`` from ``offset`` (its descriptor
        is duplicated: the caller may close the file afterwards)."""
        if count > 0:
            self._pieces.append(_FileSegment(os.dup(fileno), offset, count))
            self.files += 1

    def flush(self, sock: socket.socket) -> int:
        """Send what the (non-blocking) socket takes now; returns how many bytes went.

        Raises OSError when the client is gone, :class:`ShortFile` when a file ended early.
        """
        pieces = self._pieces
        total = 0
        while pieces:
            first = pieces[0]
            if isinstance(first, _FileSegment):
                try:
                    sent = os.sendfile(sock.fileno(), first.fd, first.offset, first.count)
                except BlockingIOError:
                    break
                if sent == 0:
                    raise ShortFile(f"file ended {first.count} bytes before its length")
                total += sent
                first.offset += sent
                first.count -= sent
                if first.count:
                    break  # the socket took what it could
                pieces.popleft()
                first.close()
                self.files -= 1
                continue
            views: list[memoryview] = []
            wanted = 0
            for piece in pieces:
                if isinstance(piece, _FileSegment) or len(views) == GATHER:
                    break
                views.append(piece)
                wanted += len(piece)
            try:
                sent = sock.sendmsg(views) if len(views) > 1 else sock.send(views[0])
            except BlockingIOError:
                break
            total += sent
            self.buffered -= sent
            self._consume(sent)
            if sent < wanted:
                break  # the socket's buffer is full: another try would only get EAGAIN
        return total

    def _consume(self, sent: int) -> None:
        pieces = self._pieces
        while sent:
            first = pieces[0]
            assert isinstance(first, memoryview)
            if len(first) > sent:
                pieces[0] = first[sent:]
                return
            sent -= len(first)
            pieces.popleft()

    def clear(self) -> None:
        """Drop everything still unsent (the connection is closing)."""
        for piece in self._pieces:
            if isinstance(piece, _FileSegment):
                piece.close()
        self._pieces.clear()
        self.buffered = self.files = 0
