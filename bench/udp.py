"""The chat load: 50 members on loopback, messages relayed to the other 49, counted on arrival.

The same client drives udp-chat and the minimal echo loop. Each member is its own UDP socket
(its own address, as a person's client would be). Members take turns sending; each message
carries an id, and its send time stays here, so every copy that arrives gives one relay latency
(the whole trip: the sender's ``sendto``, the relay, the receiver's ``recvfrom``). At most
:data:`WINDOW` messages are in flight: enough to keep the relay busy, few enough that no socket
buffer overflows on loopback, so a loss means the relay dropped something. A message not
complete after :data:`LOSS_TIMEOUT` has its missing copies counted as lost.
"""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass, field
from typing import Final

from . import procstat
from .parsing import median, percentile
from .servers import Running

MEMBERS: Final = 50
"""Chat members, as the issue says; each message goes to the other 49."""

WINDOW: Final = 8
"""Messages in flight at once: 8 x 49 datagrams queued at most, far below any socket buffer."""

LOSS_TIMEOUT: Final = 1.0
"""Seconds after which the copies of a message still missing count as lost (a loopback trip
takes well under a millisecond)."""

MAX_MESSAGES: Final = 2_000_000
"""Cap on messages sent in one run, besides its duration."""

RCVBUF: Final = 1 << 20
"""Receive buffer asked for each member socket."""

JOIN_TIMEOUT: Final = 5.0


@dataclass
class ChatResult:
    messages_sent: int
    copies_expected: int
    copies_delivered: int
    lost: int
    seconds: float
    p50_ms: float | None
    p99_ms: float | None
    cpu_seconds: float
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def delivered_per_second(self) -> float:
        return self.copies_delivered / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_delivered(self) -> float | None:
        return self.cpu_seconds / self.copies_delivered * 1e6 if self.copies_delivered else None


class Members:
    """The member sockets and their poll set."""

    def __init__(self, count: int, server: tuple[str, int]) -> None:
        self.server = server
        self.socks: list[socket.socket] = []
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            self.socks.append(sock)
        self.by_fd = {sock.fileno(): sock for sock in self.socks}
        self.poll = select.epoll()
        for fd in self.by_fd:
            self.poll.register(fd, select.EPOLLIN)

    def close(self) -> None:
        self.poll.close()
        for sock in self.socks:
            sock.close()

    def drain(self, quiet: float) -> int:
        """Read and discard until nothing arrived for ``quiet`` seconds; how many were read."""
        count = 0
        while self.poll.poll(quiet):
            for fd, _ in self.poll.poll(0):
                try:
                    while self.by_fd[fd].recv(4096):
                        count += 1
                except BlockingIOError:
                    pass
        return count

    def join(self, chat: bool) -> None:
        """Every member joins; with the chat, each waits for its WELCOME."""
        for i, sock in enumerate(self.socks):
            sock.sendto(f"JOIN bench{i:02d}".encode(), self.server)
            if not chat:
                continue
            deadline = time.monotonic() + JOIN_TIMEOUT
            while True:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"member {i} got no WELCOME")
                select.select([sock], [], [], 0.1)
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    continue
                if data.startswith(b"WELCOME"):
                    break
                if data.startswith(b"ERR"):
                    raise RuntimeError(f"member {i} refused: {data!r}")
            self.drain(0.0)
        time.sleep(0.2)
        self.drain(0.2)  # the JOINED announcements


def run(server: Running, seconds: float, *, chat: bool) -> ChatResult:
    """Load ``server`` for ``seconds``; ``chat`` says whether it speaks the chat protocol."""
    members = Members(MEMBERS, ("127.0.0.1", server.port))
    try:
        members.join(chat)
        server.check_alive()
        before = procstat.cpu_seconds(server.pid)
        result = _load(members, seconds)
        result.cpu_seconds = procstat.cpu_seconds(server.pid) - before
        server.check_alive()
        return result
    finally:
        members.close()


def _load(members: Members, seconds: float) -> ChatResult:
    socks = members.socks
    target = members.server
    receivers = len(socks) - 1
    sent_at: dict[int, float] = {}
    missing: dict[int, int] = {}
    latencies: list[float] = []
    delivered = lost = next_id = 0
    by_fd = members.by_fd
    poll = members.poll.poll
    clock = time.perf_counter
    start = clock()
    stop_sending = start + seconds
    while True:
        now = clock()
        sending = now < stop_sending and next_id < MAX_MESSAGES
        while sending and len(missing) < WINDOW:
            mid = next_id
            next_id += 1
            sent_at[mid] = clock()
            missing[mid] = receivers
            socks[mid % len(socks)].sendto(b"MSG %d" % mid, target)
        if not missing:
            break
        # Expire messages whose copies did not all come back.
        oldest = next(iter(missing))
        if now - sent_at[oldest] > LOSS_TIMEOUT:
            for mid in [m for m in missing if now - sent_at[m] > LOSS_TIMEOUT]:
                lost += missing.pop(mid)
            continue
        for fd, _ in poll(0.05):
            try:
                data = by_fd[fd].recv(2048)
            except BlockingIOError:
                continue
            arrived = clock()
            try:
                mid = int(data.rsplit(b" ", 1)[1])
            except (IndexError, ValueError):
                continue  # not one of ours (a PONG, an ERR): ignored
            left = missing.get(mid)
            if left is None:
                continue  # a copy of a message already given up on
            delivered += 1
            latencies.append(arrived - sent_at[mid])
            if left == 1:
                del missing[mid]
            else:
                missing[mid] = left - 1
    elapsed = clock() - start
    ms = [x * 1000 for x in latencies]
    return ChatResult(
        messages_sent=next_id,
        copies_expected=next_id * receivers,
        copies_delivered=delivered,
        lost=lost,
        seconds=elapsed,
        p50_ms=median(ms),
        p99_ms=percentile(ms, 99),
        cpu_seconds=0.0,
    )
