"""Reliability built on top of UDP, without I/O: what TCP does, in a hundred lines.

Both ends of a reliable link use the same two pieces:

* :class:`Retransmitter` (sending side) numbers each datagram (``REL <id> <body>``), keeps it
  until the peer answers ``ACK <id>``, and sends it again when no acknowledgement came within the
  retransmission timeout, doubling the timeout each time (RFC 6298 §5.5) and giving up after a
  bounded number of attempts. The timeout follows the measured round-trip time (RFC 6298 §2,
  with Karn's rule: a retransmitted datagram gives no sample).
* :class:`ReplayWindow` (receiving side) remembers which of the last ids it has seen, so that a
  retransmission whose first copy did arrive (its ACK was the one lost) is acknowledged again but
  not delivered twice. It is the anti-replay window of IPsec (RFC 4303 §3.4.3): one integer as a
  bitmap, constant memory whatever the peer sends.

Delivery is reliable but not ordered: a retransmitted datagram arrives after later ones. The chat
makes that visible in the receivers' reordering counters instead of hiding it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from ..settings import Setting
from .protocol import MAX_NUMBER

#: Ids remembered by a receiver. A sender keeps at most OUTBOX_CAPACITY datagrams in flight,
#: so a window this wide sees every retransmission of a datagram still in flight.
REPLAY_WINDOW = 64

#: Unacknowledged datagrams one sender keeps. Bounded so that a peer that never acknowledges
#: costs a bounded amount of memory; when it is full the oldest is given up.
OUTBOX_CAPACITY = 32
assert OUTBOX_CAPACITY <= REPLAY_WINDOW

#: First retransmission timeout in seconds, before any round trip was measured: RFC 6298 §2.1.
INITIAL_RTO = 1.0

#: Floor of the retransmission timeout. RFC 6298 §2.4 asks for 1 s on the Internet; a lab LAN
#: has sub-millisecond round trips, so we take Linux TCP's 200 ms floor (TCP_RTO_MIN).
MIN_RTO = 0.2

#: Ceiling of the timeout after backoff: a chat line older than this is stale anyway.
MAX_RTO = 4.0

#: Transmissions of one datagram (the first and the retransmissions) before giving up.
MAX_ATTEMPTS = 6

#: The reliability options both ends take (flags, SOCKETLAB_* variables, the config file).
RELIABILITY_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "rto",
        float,
        INITIAL_RTO,
        "first retransmission timeout in reliable mode, seconds (RFC 6298: 1)",
        minimum=0.01,
        maximum=60,
        metavar="SECONDS",
    ),
    Setting(
        "max_attempts",
        int,
        MAX_ATTEMPTS,
        "transmissions of one reliable datagram before giving up",
        minimum=1,
        maximum=20,
    ),
)


class ReplayWindow:
    """Duplicate suppression over the last ``size`` ids (ids start at 1 and mostly increase)."""

    def __init__(self, size: int = REPLAY_WINDOW) -> None:
        self.size = size
        self.top = 0  # highest id seen
        self.bits = 0  # bit i set: id top - i was seen
        self.duplicates = 0

    def accept(self, ident: int) -> bool:
        """True if ``ident`` is new (deliver it); False for a duplicate or an id too old to tell."""
        if ident > self.top:
            shift = ident - self.top
            self.bits = ((self.bits << shift) | 1) & ((1 << self.size) - 1)
            self.top = ident
            return True
        offset = self.top - ident
        if offset >= self.size or (self.bits >> offset) & 1:
            self.duplicates += 1
            return False
        self.bits |= 1 << offset
        return True


@dataclass
class Pending:
    """One datagram in flight."""

    ident: int
    body: str
    first_sent: float
    due: float
    attempts: int = 1

    def datagram(self) -> bytes:
        return f"REL {self.ident} {self.body}".encode()


@dataclass
class Retransmitter:
    """The sending half of a reliable link; the caller puts the returned bytes on the wire.

    Counters (``sent``, ``retransmitted``, ``acked``, ``given_up``, ``stale_acks``) are public so
    that a client can print them and the server can log them.
    """

    initial_rto: float = INITIAL_RTO
    min_rto: float = MIN_RTO
    max_rto: float = MAX_RTO
    max_attempts: int = MAX_ATTEMPTS
    capacity: int = OUTBOX_CAPACITY
    next_id: int = 1
    srtt: float | None = None
    rttvar: float = 0.0
    rto: float = 0.0
    sent: int = 0
    retransmitted: int = 0
    acked: int = 0
    given_up: int = 0
    stale_acks: int = 0
    outbox: OrderedDict[int, Pending] = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        self.rto = self.initial_rto

    def send(self, body: str, now: float) -> bytes:
        """Number ``body``, keep it for retransmission and return the datagram to send now."""
        if len(self.outbox) >= self.capacity:
            self.outbox.popitem(last=False)
            self.given_up += 1
        ident = self.next_id
        self.next_id = self.next_id % MAX_NUMBER + 1
        pending = Pending(ident, body, now, now + self.rto)
        self.outbox[ident] = pending
        self.sent += 1
        return pending.datagram()

    def ack(self, ident: int, now: float) -> bool:
        """Record ``ACK ident``; False if nothing was waiting for it (a duplicate ACK)."""
        pending = self.outbox.pop(ident, None)
        if pending is None:
            self.stale_acks += 1
            return False
        self.acked += 1
        if pending.attempts == 1:  # Karn: only unambiguous round trips are samples
            self._sample(now - pending.first_sent)
        return True

    def _sample(self, rtt: float) -> None:
        # RFC 6298 §2.2-2.3 with alpha = 1/8, beta = 1/4, K = 4.
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt
        self.rto = min(self.max_rto, max(self.min_rto, self.srtt + 4 * self.rttvar))

    def due(self, now: float) -> list[bytes]:
        """Datagrams to send again now; those out of attempts are dropped and counted."""
        out: list[bytes] = []
        for ident, pending in list(self.outbox.items()):
            if pending.due > now:
                continue
            if pending.attempts >= self.max_attempts:
                del self.outbox[ident]
                self.given_up += 1
                continue
            pending.attempts += 1
            backoff = min(self.max_rto, self.rto * 2 ** (pending.attempts - 1))
            pending.due = now + backoff
            self.retransmitted += 1
            out.append(pending.datagram())
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`due` next has something to do, or None when nothing is in flight."""
        return min((p.due for p in self.outbox.values()), default=None)

    def in_flight(self) -> int:
        return len(self.outbox)

    def abandon(self) -> int:
        """Give up everything in flight at once (the peer refused us: resending is pointless)."""
        count = len(self.outbox)
        self.outbox.clear()
        self.given_up += count
        return count
