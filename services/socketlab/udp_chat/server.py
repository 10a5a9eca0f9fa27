"""The udp-chat server: a thin socket loop around :class:`~socketlab.udp_chat.relay.Relay`.

``PYTHONPATH=services python3 -m socketlab.udp_chat --host 0.0.0.0 --port 9999``

One thread, one UDP socket, no connections: ``recvfrom`` gives a datagram and the address it
came from, the relay decides what to answer, ``sendto`` sends each answer to the address the relay
names. A selector waits for the socket, for a signal (through the wakeup fd) and for the relay's
next deadline (idle drops, retransmissions), whichever comes first.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import selectors
import signal
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from types import FrameType

from .. import ledger, logs, settings
from ..settings import Setting
from .protocol import MAX_NICK, format_addr
from .relay import Fanout, Relay, RelayConfig, Send
from .reliable import RELIABILITY_SETTINGS

log = logging.getLogger("socketlab.udp_chat")

#: Receive buffer: the largest UDP payload over IPv4 (65,535 - 20 - 8). recvfrom silently cuts a
#: datagram to the buffer, so a buffer of exactly the protocol limit would hide oversize
#: datagrams; this one sees them whole and the relay refuses them with their real size.
RECV_BUFFER = 65_507

#: The kernel's queue of datagrams for the relay's socket (SO_RCVBUF), in bytes. A flood from one
#: address fills the default queue (about 208 KiB, a few hundred small datagrams) faster than the
#: relay can read and rate-limit it, and then the kernel drops every sender's datagrams alike,
#: members' included. 4 MiB holds about 5,000 small datagrams of a burst; Linux caps it at
#: net.core.rmem_max without an error, so the log says what the socket got.
SOCKET_RECV_BUFFER = 4 << 20

#: Datagrams handled per wakeup before timers get their turn, so a flood cannot starve the idle
#: drops and retransmissions.
RECV_BATCH = 64

#: Longest sleep of the loop; bounds how late a stop request set outside a signal is noticed.
MAX_WAIT = 1.0

#: Longest the relay's timers (idle drops, retransmissions) may run late. Finding the next
#: deadline walks every member, so a busy loop looks it up at most this often rather than after
#: every datagram (with 50 members that walk cost more than relaying a message). Retransmission
#: timeouts are 200 ms at least by default: 10 ms late is noise.
TIMER_SLACK = 0.01

SETTINGS: tuple[Setting, ...] = (
    Setting("host", str, "0.0.0.0", "address to listen on (0.0.0.0: all IPv4, :: all IPv6)"),
    settings.port_setting(9999, "UDP port to listen on (0: any free port)"),
    Setting(
        "idle_timeout",
        float,
        60.0,
        "drop a member that sent nothing for this many seconds",
        minimum=1,
        maximum=86400,
        metavar="SECONDS",
    ),
    Setting(
        "max_members",
        int,
        64,
        "members at most: bounds memory and the roster (a ROSTER page holds 7 or more)",
        minimum=1,
        maximum=500,
    ),
    Setting(
        "rate",
        float,
        20.0,
        "datagrams per second one address may send, on average",
        minimum=0.1,
        maximum=1e6,
    ),
    Setting(
        "burst", int, 40, "datagrams one address may send at once", minimum=1, maximum=1_000_000
    ),
    Setting(
        "max_strangers",
        int,
        4096,
        "addresses not joined whose rate is tracked; bounds memory under a spoofed flood",
        minimum=16,
        maximum=1_000_000,
    ),
    *RELIABILITY_SETTINGS,
    logs.level_setting(),
    ledger.SETTING,
)

DESCRIPTION = f"""\
A multi-user chat relay over UDP. Clients JOIN with a nickname (up to {MAX_NICK} characters);
every MSG is relayed to the other members with the sender's sequence number. The protocol is
text, one command per datagram: see docs/udp-chat-protocol.md, or try it with `nc -u HOST PORT`
and type JOIN yourname, MSG hello, WHO, LEAVE."""


def bind(host: str, port: int) -> socket.socket:
    """A UDP socket bound to ``host:port`` (IPv4 or IPv6, whatever ``host`` resolves to), with
    a receive queue of :data:`SOCKET_RECV_BUFFER` bytes as far as the kernel allows."""
    family, kind, proto, _, addr = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_RECV_BUFFER)
        sock.bind(addr)
    except BaseException:
        sock.close()
        raise
    return sock


def receive_queue(sock: socket.socket) -> int:
    """The bytes of datagrams the kernel queues for ``sock``: Linux reports twice what it
    grants (it counts its bookkeeping), so half of SO_RCVBUF is what was asked for and got."""
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2


class ChatServer:
    """Runs a relay on a bound UDP socket until :meth:`stop` or a signal.

    ``clock`` is injectable so that tests can drive idle timeouts without sleeping.
    """

    def __init__(
        self, relay: Relay, sock: socket.socket, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.relay = relay
        self.sock = sock
        self.clock = clock
        self.sock.setblocking(False)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.sock, selectors.EVENT_READ)
        self.selector.register(self._wake_r, selectors.EVENT_READ)
        self.stop_reason: str | None = None
        self.icmp_errors = 0
        # One ledger line per peer: a session ends when the address was silent as long as the
        # relay lets a member be, or when the server stops.
        self.sessions = ledger.UdpSessions(self.address, relay.config.idle_timeout)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()[:2]
        return host, port

    def wakeup_fd(self) -> int:
        """For :func:`signal.set_wakeup_fd`: a signal then wakes the selector at once."""
        return self._wake_w.fileno()

    def stop(self, reason: str = "stop requested") -> None:
        """Ask the loop to finish (thread-safe, signal-safe): it says BYE and returns."""
        self.stop_reason = reason
        with contextlib.suppress(OSError):  # buffer full: a wakeup is already pending
            self._wake_w.send(b"\0")

    def handle_signal(self, signum: int, frame: FrameType | None) -> None:
        """Signal handler: only records the request; the loop acts on it (and says BYE)."""
        self.stop_reason = signal.Signals(signum).name

    def serve_forever(self) -> None:
        """Receive, relay and tick until stopped; then tell the members and close the socket."""
        try:
            due = self.clock()  # when the relay's tick() next has something to do
            looked = due  # when that was last worked out
            dirty = False  # datagrams handled since then: they may have started timers
            while self.stop_reason is None:
                wake = min(due, looked + TIMER_SLACK) if dirty else due
                timeout = min(MAX_WAIT, max(0.0, wake - self.clock()))
                for key, _ in self.selector.select(timeout):
                    if key.fileobj is self._wake_r:
                        self._drain_wakeups()
                    elif self._receive():
                        dirty = True
                now = self.clock()
                if now >= due:
                    self._send(self.relay.tick(now))
                elif not (dirty and now - looked >= TIMER_SLACK):
                    continue
                due, looked, dirty = self._next_due(now), now, False
                self.sessions.expire()
            members = len(self.relay.by_addr)
            self._send(self.relay.shutdown())
            c = self.relay.counters
            log.info(
                "shutting down (%s): told %d member(s) BYE; handled %d datagrams, relayed %d, "
                "refused %d, rate-limited %d, dropped idle %d, ICMP errors %d",
                self.stop_reason,
                members,
                c.datagrams,
                c.relayed,
                c.refused,
                c.rate_limited,
                c.dropped_idle,
                self.icmp_errors,
            )
        finally:
            self.close()

    def close(self) -> None:
        self.sessions.close()
        self.selector.close()
        self.sock.close()
        self._wake_r.close()
        self._wake_w.close()

    def _next_due(self, now: float) -> float:
        deadline = self.relay.next_deadline()
        return now + MAX_WAIT if deadline is None else deadline

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_r.recv(64):
                pass
        except BlockingIOError:
            pass

    def _receive(self) -> bool:
        """Handle up to RECV_BATCH waiting datagrams; True if there was any."""
        handled = False
        for _ in range(RECV_BATCH):
            try:
                data, addr = self.sock.recvfrom(RECV_BUFFER)
            except BlockingIOError:
                return handled
            except (ConnectionRefusedError, ConnectionResetError) as exc:
                # An ICMP port-unreachable for a datagram we sent earlier (a member that went
                # away without LEAVE). Linux reports it on an unconnected socket only with
                # IP_RECVERR; Windows reports it as WSAECONNRESET. Either way it concerns an
                # earlier datagram, not this read: note it and keep serving.
                self.icmp_errors += 1
                log.info("ICMP error for an earlier datagram (%s); carrying on", exc.strerror)
                continue
            handled = True
            if ledger.enabled():  # off, nobody reads the counts (see _send)
                self.sessions.received(addr, len(data))
            self._send(self.relay.receive(data, addr, self.clock()))
        return handled

    def _send(self, sends: Iterable[Send | Fanout]) -> None:
        sendto = self.sock.sendto
        # With the ledger off nobody reads the sessions' counts: a clock read and a lookup per
        # datagram saved, 49 of them per relayed MSG.
        sent = self.sessions.sent if ledger.enabled() else None
        for item in sends:
            # A Fanout (a relayed MSG) is the hot path: per receiver, only the sendto, a try
            # block (which costs nothing until something is raised) and, with the ledger on,
            # the session's count.
            addrs = item.addrs if isinstance(item, Fanout) else (item.addr,)
            data = item.data
            for addr in addrs:
                try:
                    sendto(data, addr)
                    if sent is not None:
                        sent(addr, len(data))
                except BlockingIOError:
                    # The socket's send buffer is full: UDP may drop, and so do we.
                    log.warning("%s send buffer full: datagram dropped", format_addr(addr))
                except (ConnectionRefusedError, ConnectionResetError) as exc:
                    self.icmp_errors += 1
                    log.info("%s ICMP error on send (%s)", format_addr(addr), exc.strerror)
                except OSError as exc:
                    if exc.errno not in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EPERM):
                        raise
                    log.info("%s send failed: %s", format_addr(addr), exc.strerror)


def config_from(args: argparse.Namespace) -> RelayConfig:
    """The relay's limits from parsed settings."""
    return RelayConfig(
        idle_timeout=args.idle_timeout,
        max_members=args.max_members,
        rate=args.rate,
        burst=args.burst,
        max_strangers=args.max_strangers,
        rto=args.rto,
        max_attempts=args.max_attempts,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = settings.load(SETTINGS, argv, prog="udp_chat", description=DESCRIPTION, config_flag=True)
    logs.setup(args.log_level)
    ledger.configure("udp-chat", args.ledger)
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        log.error("cannot listen on %s port %s (udp): %s", args.host, args.port, exc)
        return 1
    server = ChatServer(Relay(config_from(args)), sock)
    signal.set_wakeup_fd(server.wakeup_fd())
    signal.signal(signal.SIGTERM, server.handle_signal)
    signal.signal(signal.SIGINT, server.handle_signal)
    config = server.relay.config
    log.info(
        "listening on %s (udp); idle timeout %g s, at most %d members, rate %g/s burst %d; "
        "receive queue %d KiB%s",
        format_addr(server.address),
        config.idle_timeout,
        config.max_members,
        config.rate,
        config.burst,
        receive_queue(sock) // 1024,
        "" if receive_queue(sock) >= SOCKET_RECV_BUFFER else " (capped by net.core.rmem_max)",
    )
    server.serve_forever()
    return 0
