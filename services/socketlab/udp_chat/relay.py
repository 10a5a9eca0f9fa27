"""The chat relay's state machine: datagrams and clock ticks in, datagrams to send out. No I/O.

:class:`Relay` holds the members and applies every rule of the protocol; the socket loop in
:mod:`socketlab.udp_chat.server` only feeds it what ``recvfrom`` returned and ``sendto``\\ s what it
answers. Because the relay never touches a socket and takes the time as an argument, every rule
(nick ownership, idle drop, rate limit, anti-amplification, reliable links) is a unit test.

Rules enforced here, in the order a datagram meets them:

1. the per-address rate limit (a flood is dropped before it is even parsed);
2. parsing (:func:`~socketlab.udp_chat.protocol.parse_request`): size, emptiness, UTF-8, control
   characters, command syntax;
3. membership: only ``JOIN`` and ``PING`` are served to an address that has not joined, and a
   nickname is bound to the address that joined with it;
4. anti-amplification: an address that has not joined never gets more bytes back than it sent.

Each datagram produces exactly one log line naming the peer's ``ip:port``.

What to send comes out as :class:`Send` values, one per datagram, except on the busiest path:
a relayed ``MSG`` goes to the plain members as a :class:`Fanout` (one datagram, many
addresses), which :meth:`Relay.receive` returns to the socket loop and :meth:`Relay.datagram`
spells out as Sends.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, TypeAlias

from ..logs import printable
from .errors import BadRequest, ChatError, Conflict, NoSuchNick, NotJoined, RateLimited, ServerFull
from .protocol import (
    Ack,
    Addr,
    Bye,
    Error,
    Event,
    Join,
    Joined,
    Leave,
    Left,
    Msg,
    Ping,
    Pong,
    Private,
    Rel,
    Relayed,
    Request,
    Tell,
    Welcome,
    Who,
    fit_error,
    format_addr,
    parse_command,
    parse_request,
    relayed_datagram,
    roster_pages,
)
from .ratelimit import BoundedTable, TokenBucket
from .reliable import INITIAL_RTO, MAX_ATTEMPTS, ReplayWindow, Retransmitter

log = logging.getLogger("socketlab.udp_chat")

#: Bytes of a refused datagram quoted in its log line: enough to recognise it, not to flood.
LOG_QUOTE = 60


class Send(NamedTuple):
    """One datagram the socket loop must send."""

    addr: Addr
    data: bytes


class Fanout(NamedTuple):
    """The same datagram to each of ``addrs``: a relayed MSG to the plain members.

    The fast path of the relay's busiest case, where the socket loop spends its time. A Send
    per receiver (49 for 50 members, each a namedtuple made by a Python-level ``__new__``, then
    unpacked again) cost more CPU than the ``sendto`` system calls themselves; with one Fanout
    the loop runs nothing but ``sendto`` per receiver, as a minimal echo relay does.
    """

    addrs: tuple[Addr, ...]
    data: bytes


#: What :meth:`Relay.receive` returns: datagrams to send, one by one or fanned out.
Outgoing: TypeAlias = Sequence[Send | Fanout]


def spell_out(outgoing: Iterable[Send | Fanout]) -> list[Send]:
    """``outgoing`` with every Fanout written as one Send per address, in order."""
    sends: list[Send] = []
    for item in outgoing:
        if isinstance(item, Fanout):
            sends += [Send(addr, item.data) for addr in item.addrs]
        else:
            sends.append(item)
    return sends


class _Audience(NamedTuple):
    """Whom one member's MSG goes to, sorted by how it is sent (see :meth:`Relay._audience`)."""

    plain: tuple[Addr, ...]  # plain members: the encoded event as it is
    newline: tuple[Addr, ...]  # plain members that joined with nc -u: the event and "\n"
    reliable: tuple[Member, ...]  # reliable members: framed one by one (REL ids are per link)


@dataclass(frozen=True)
class RelayConfig:
    """The relay's limits; the defaults are those of configs/udp-chat.toml."""

    idle_timeout: float = 60.0
    max_members: int = 64
    rate: float = 20.0
    burst: int = 40
    max_strangers: int = 4096
    rto: float = INITIAL_RTO
    max_attempts: int = MAX_ATTEMPTS


@dataclass
class Member:
    """An address that joined, and everything the relay keeps about it."""

    nick: str
    addr: Addr
    joined: float
    heard: float
    bucket: TokenBucket
    seq: int = 0  # messages of this member relayed so far: the next MSG gets seq + 1
    link: Retransmitter | None = None  # set for a reliable member: what we send it is REL
    replay: ReplayWindow | None = None  # REL ids it sent us, for duplicate suppression
    newline: bool = False  # its JOIN ended with a newline (nc -u): end what we send it with one
    given_up_logged: int = 0

    @property
    def where(self) -> str:
        return format_addr(self.addr)


@dataclass
class Counters:
    datagrams: int = 0
    refused: int = 0
    rate_limited: int = 0
    relayed: int = 0
    dropped_idle: int = 0


@dataclass
class _Outcome:
    """What handling one datagram produced: datagrams to send and the text of its log line."""

    sends: Outgoing = field(default_factory=list)
    text: str = ""
    level: int = logging.INFO


class Relay:
    """The members of one chat and the rules of the protocol; see the module docstring."""

    def __init__(self, config: RelayConfig | None = None) -> None:
        self.config = config or RelayConfig()
        self.by_addr: dict[Addr, Member] = {}
        self.by_nick: dict[str, Member] = {}  # key: nick.lower(), nicks are unique ignoring case
        self.strangers: BoundedTable[Addr, TokenBucket] = BoundedTable(
            self.config.max_strangers, self._bucket
        )
        self.counters = Counters()
        self._newline = b""  # b"\n" while handling a datagram that ended with a newline
        # Each sender's audience, worked out on its first MSG and kept until the membership
        # changes (_join, _remove and shutdown clear it; a member's mode never changes), so
        # relaying a MSG does no per-receiver work in Python.
        self._audiences: dict[Addr, _Audience] = {}

    def _bucket(self) -> TokenBucket:
        return TokenBucket(self.config.rate, self.config.burst)

    # --- the entry points: a datagram (receive, or datagram for Sends only), a clock tick -------

    def datagram(self, data: bytes, addr: Addr, now: float) -> list[Send]:
        """Handle one received datagram; return what to send. Never raises for peer input."""
        return spell_out(self.receive(data, addr, now))

    def receive(self, data: bytes, addr: Addr, now: float) -> Outgoing:
        """:meth:`datagram` for the socket loop: a relayed MSG comes as Fanouts, not Sends."""
        self.counters.datagrams += 1
        self._newline = b"\n" if data.endswith(b"\n") else b""
        member = self.by_addr.get(addr)
        bucket = member.bucket if member else self.strangers.get(addr)
        if not bucket.take(now):
            outcome = self._rate_limited(bucket, addr)
        else:
            if member is not None:
                member.heard = now  # any datagram proves the member is still there
            try:
                outcome = self._handle(parse_request(data), addr, member, now)
            except ChatError as exc:
                outcome = self._refused(exc, data, member, addr)
        if member is None and addr not in self.by_addr:
            outcome.sends = self._cap(outcome.sends, addr, len(data))
        if log.isEnabledFor(outcome.level):
            log.log(outcome.level, "%s %d B %s", format_addr(addr), len(data), outcome.text)
        return outcome.sends

    def tick(self, now: float) -> list[Send]:
        """Drop members silent for longer than the idle timeout; retransmit reliable datagrams."""
        sends: list[Send] = []
        for member in list(self.by_addr.values()):
            silent = now - member.heard
            if silent > self.config.idle_timeout:
                self.counters.dropped_idle += 1
                sends += self._remove(member, "idle", now)
                log.info(
                    "%s dropped %s: silent for %.1f s (idle timeout %.1f s)",
                    member.where,
                    member.nick,
                    silent,
                    self.config.idle_timeout,
                )
                continue
            if member.link is None:
                continue
            for data in member.link.due(now):
                sends.append(Send(member.addr, data))
                log.debug("%s retransmit to %s: %s", member.where, member.nick, printable(data))
            if member.link.given_up > member.given_up_logged:
                log.info(
                    "%s gave up %d datagram(s) to %s after %d attempts",
                    member.where,
                    member.link.given_up - member.given_up_logged,
                    member.nick,
                    member.link.max_attempts,
                )
                member.given_up_logged = member.link.given_up
        return sends

    def next_deadline(self) -> float | None:
        """The earliest time :meth:`tick` has something to do (None: no members)."""
        times = [m.heard + self.config.idle_timeout for m in self.by_addr.values()]
        times += [t for m in self.by_addr.values() if m.link and (t := m.link.next_deadline())]
        return min(times, default=None)

    def shutdown(self) -> list[Send]:
        """Tell every member the server is going away (``BYE shutdown``) and forget them."""
        sends = [self._to(m, Bye("shutdown"), None) for m in self.by_addr.values()]
        self.by_addr.clear()
        self.by_nick.clear()
        self._audiences.clear()
        return sends

    def roster(self) -> list[tuple[str, str]]:
        """(nick, address as seen) of every member, in joining order."""
        return [(m.nick, m.where) for m in self.by_addr.values()]

    # --- handling -----------------------------------------------------------------------------

    def _handle(self, request: Request, addr: Addr, member: Member | None, now: float) -> _Outcome:
        if isinstance(request, Rel):
            return self._reliable(request, addr, member, now)
        return self._command(request, addr, member, now)

    def _command(
        self, request: Request, addr: Addr, member: Member | None, now: float, rel: int = 0
    ) -> _Outcome:
        if isinstance(request, Ping):
            # Served to anyone (healthchecks, nc users): PONG is never longer than PING.
            pong = Pong(request.token).encode() + self._newline  # never longer than the PING
            return _Outcome([Send(addr, pong)], "PING", logging.DEBUG)
        if isinstance(request, Join):
            return self._join(request, addr, member, now, rel)
        if member is None:
            raise NotJoined()
        if isinstance(request, Msg):
            return self._msg(request, member, now)
        if isinstance(request, Tell):
            return self._tell(request, member, now)
        if isinstance(request, Who):
            pages = roster_pages(self.roster())
            sends = [self._to(member, page, now) for page in pages]
            return _Outcome(sends, f"WHO {member.nick}: {len(self.by_addr)} members")
        if isinstance(request, Leave):
            return _Outcome(self._remove(member, "leave", now), f"LEAVE {member.nick}")
        if isinstance(request, Ack):
            known = member.link is not None and member.link.ack(request.id, now)
            state = "" if known else " (nothing waiting for it)"
            return _Outcome([], f"ACK {request.id} from {member.nick}{state}", logging.DEBUG)
        raise BadRequest("REL cannot carry REL")  # only a Rel inside a Rel gets here

    def _join(
        self, join: Join, addr: Addr, member: Member | None, now: float, rel: int
    ) -> _Outcome:
        if member is not None:
            if member.nick.lower() != join.nick.lower():
                raise Conflict(f"already joined as {member.nick}")
            # A repeated JOIN: our WELCOME was lost. Say it again, announce nothing.
            welcome = Welcome(member.nick, member.where, round(self.config.idle_timeout))
            return _Outcome([self._to(member, welcome, now)], f"JOIN {join.nick} again")
        holder = self.by_nick.get(join.nick.lower())
        if holder is not None:
            raise Conflict(f"nick in use from {holder.where}")
        if len(self.by_addr) >= self.config.max_members:
            raise ServerFull()
        bucket = self.strangers.pop(addr) or self._bucket()  # joining keeps the rate state
        member = Member(join.nick, addr, joined=now, heard=now, bucket=bucket)
        member.newline = bool(self._newline)
        sends: list[Send] = []
        if rel:
            member.link = Retransmitter(
                initial_rto=self.config.rto, max_attempts=self.config.max_attempts
            )
            member.replay = ReplayWindow()
            member.replay.accept(rel)
            sends.append(Send(addr, Ack(rel).encode()))
        others = list(self.by_addr.values())
        self.by_addr[addr] = member
        self.by_nick[join.nick.lower()] = member
        self._audiences.clear()
        welcome = Welcome(member.nick, member.where, round(self.config.idle_timeout))
        sends.append(self._to(member, welcome, now))
        sends += [self._to(other, Joined(member.nick), now) for other in others]
        mode = "reliable" if rel else "plain"
        return _Outcome(sends, f"JOIN {join.nick}: welcomed, {mode}, {len(self.by_addr)} members")

    def _msg(self, msg: Msg, member: Member, now: float) -> _Outcome:
        member.seq += 1
        audience = self._audiences.get(member.addr) or self._audience(member)
        # Encoded once for all plain members, and handed to the socket loop as Fanouts: see
        # Fanout for why. Reliable members still get their own framing (their own REL id).
        plain = relayed_datagram(member.nick, member.seq, msg.text)
        sends: list[Send | Fanout] = []
        if audience.plain:
            sends.append(Fanout(audience.plain, plain))
        if audience.newline:
            sends.append(Fanout(audience.newline, plain + b"\n"))
        if audience.reliable:
            event = Relayed(member.nick, member.seq, msg.text)
            sends += [self._to(other, event, now) for other in audience.reliable]
        count = len(audience.plain) + len(audience.newline) + len(audience.reliable)
        self.counters.relayed += count
        # The log line of the busiest path, formatted only if it will be written.
        text = ""
        if log.isEnabledFor(logging.INFO):
            text = f"MSG {member.nick} seq={member.seq} {len(msg.text.encode())} B -> {count}"
        return _Outcome(sends, text)

    def _audience(self, member: Member) -> _Audience:
        """Work out (and keep, until the membership changes) whom ``member``'s MSG goes to."""
        others = [m for m in self.by_addr.values() if m is not member]
        audience = _Audience(
            plain=tuple(m.addr for m in others if m.link is None and not m.newline),
            newline=tuple(m.addr for m in others if m.link is None and m.newline),
            reliable=tuple(m for m in others if m.link is not None),
        )
        self._audiences[member.addr] = audience
        return audience

    def _tell(self, tell: Tell, member: Member, now: float) -> _Outcome:
        target = self.by_nick.get(tell.to.lower())
        if target is None:
            raise NoSuchNick(f"no such nick {tell.to}")
        self.counters.relayed += 1
        send = self._to(target, Private(member.nick, tell.text), now)
        return _Outcome([send], f"TELL {member.nick} -> {target.nick} at {target.where}")

    def _reliable(self, rel: Rel, addr: Addr, member: Member | None, now: float) -> _Outcome:
        """``REL <id> <command>``: acknowledge, suppress duplicates, then handle the command."""
        if member is None:
            # Only a JOIN may arrive framed from a stranger; it makes the member reliable.
            inner = parse_command(rel.body)
            if not isinstance(inner, Join):
                raise NotJoined()
            return self._join(inner, addr, None, now, rel.id)
        ack = Send(addr, Ack(rel.id).encode())
        if member.replay is None:
            member.replay = ReplayWindow()
        if not member.replay.accept(rel.id):
            return _Outcome([ack], f"REL {rel.id} from {member.nick}: duplicate, acknowledged")
        try:
            inner = parse_command(rel.body)
            outcome = self._command(inner, addr, member, now, rel.id)
        except ChatError as exc:
            outcome = self._refused(exc, rel.body.encode(), member, addr)
        outcome.sends = [ack, *outcome.sends]
        outcome.text = f"REL {rel.id} {outcome.text}"
        return outcome

    def _refused(self, exc: ChatError, data: bytes, member: Member | None, addr: Addr) -> _Outcome:
        self.counters.refused += 1
        error = Error(exc.code, exc.reason)
        send = self._reply(member, addr, error)
        who = member.nick if member else "(not joined)"
        text = f"refused {who}: {exc.line()}: {printable(data, LOG_QUOTE)}"
        return _Outcome([send], text)

    def _rate_limited(self, bucket: TokenBucket, addr: Addr) -> _Outcome:
        self.counters.rate_limited += 1
        if bucket.warned:
            return _Outcome([], f"dropped: rate limit ({bucket.dropped} so far)", logging.DEBUG)
        bucket.warned = True
        error = RateLimited(f"slow down, over {self.config.rate:g}/s")
        event = Error(error.code, error.reason)
        send = self._reply(self.by_addr.get(addr), addr, event)
        return _Outcome([send], "dropped: rate limit, told once", logging.WARNING)

    # --- helpers ------------------------------------------------------------------------------

    def _others(self, member: Member) -> Iterator[Member]:
        return (m for m in self.by_addr.values() if m is not member)

    def _to(self, member: Member, event: Event, now: float | None) -> Send:
        """The datagram carrying ``event`` to ``member``: framed as REL if its link is reliable.

        ``now`` None sends unframed even to a reliable member (refusals: retransmitting an
        ERR would repeat the refusal of a datagram the peer may already have resent). A member
        that joined with a newline-terminated line (a person with ``nc -u``) gets one at the end
        of each unframed datagram, so that its terminal shows one event per line.
        """
        if member.link is not None and now is not None:
            return Send(member.addr, member.link.send(event.encode().decode(), now))
        return Send(member.addr, event.encode() + (b"\n" if member.newline else b""))

    def _reply(self, member: Member | None, addr: Addr, event: Event) -> Send:
        """An unframed answer to the sender of the current datagram, member or not."""
        if member is not None:
            return self._to(member, event, None)
        return Send(addr, event.encode() + self._newline)

    def _remove(self, member: Member, why: str, now: float) -> list[Send]:
        """Forget ``member``: ``BYE`` to it, ``LEFT`` to the others."""
        del self.by_addr[member.addr]
        del self.by_nick[member.nick.lower()]
        self._audiences.clear()
        sends = [self._to(member, Bye("left" if why == "leave" else why), None)]
        sends += [self._to(other, Left(member.nick, why), now) for other in self.by_addr.values()]
        return sends

    @staticmethod
    def _cap(sends: Outgoing, addr: Addr, budget: int) -> list[Send]:
        """Anti-amplification: at most ``budget`` bytes in all to ``addr``, which has not joined.

        A spoofed source address must not turn the server into a reflector (RFC 8085 §5.3):
        replies are cut (an ERR keeps its code) or dropped so that they never outweigh the
        datagram that caused them.
        """
        kept: list[Send] = []
        for send in spell_out(sends):
            if send.addr != addr:
                kept.append(send)
                continue
            data: bytes | None = send.data
            if data is not None and len(data) > budget:
                newline = b"\n" if data.endswith(b"\n") else b""
                line = data.rstrip(b"\n").decode()
                cut = fit_error(line, budget - len(newline)) if line.startswith("ERR ") else None
                data = cut + newline if cut is not None else None
            if data is not None:
                kept.append(Send(addr, data))
                budget -= len(data)
        return kept
