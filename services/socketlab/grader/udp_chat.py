"""udp-chat: a chat relay speaking the protocol of docs/udp-chat-protocol.md, over UDP.

Each check uses fresh sockets (fresh source addresses), so one check's members, rate-limit
buckets and leftovers never reach another. UDP has no connection to fail: "no answer within
N s" is how a missing reply shows. The checks follow
docs/labs/15-write-your-own-udp-chat.md, one section per check id.
"""

from __future__ import annotations

import re
import secrets
import socket
import time
from typing import Final

from .checks import Failed, Level, NoAnswer, Suite
from .target import ServerTarget

DOC: Final = "docs/labs/15-write-your-own-udp-chat.md"
ANSWER_WITHIN: Final = 3.0  # a datagram on a LAN takes well under a millisecond
SILENCE: Final = 0.6  # how long "nothing arrives" is watched for
IDLE_WAIT_MAX: Final = 65.0  # the protocol's default idle timeout is 60 s
DATAGRAM_MAX: Final = 508  # the protocol's limit (section 1)
WELCOME: Final = re.compile(r"WELCOME (\S+) (\S+):(\d+) (\d+(?:\.\d+)?)")

suite: Suite[ServerTarget] = Suite("udp-chat", DOC)


def _nick() -> str:
    return "g" + secrets.token_hex(4)


class Peer:
    """One UDP socket of the grader, with the datagrams it got and has not looked at yet."""

    def __init__(self, target: ServerTarget) -> None:
        host, port = target.address
        family, _, _, _, server = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        self.server = server
        probe = socket.socket(family, socket.SOCK_DGRAM)
        probe.connect(server)  # no datagram is sent: this only picks the route's local address
        local_ip = probe.getsockname()[0]
        probe.close()
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((local_ip, 0))
        self.address = f"{local_ip}:{self.sock.getsockname()[1]}"
        self.inbox: list[str] = []
        self.nick = ""

    def close(self) -> None:
        self.sock.close()

    def send(self, data: str | bytes) -> None:
        self.sock.sendto(data.encode() if isinstance(data, str) else data, self.server)

    def _receive(self, seconds: float) -> bool:
        self.sock.settimeout(max(seconds, 0.001))
        try:
            data, _ = self.sock.recvfrom(65535)
        except (TimeoutError, ConnectionRefusedError):
            return False
        self.inbox.append(data.decode("utf-8", "replace").removesuffix("\n").removesuffix("\r"))
        return True

    def sizes(self, seconds: float) -> list[int]:
        """The sizes of the datagrams that arrive within ``seconds`` (raw, for amplification)."""
        sizes = []
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(65535)
            except (TimeoutError, ConnectionRefusedError):
                break
            sizes.append(len(data))
        return sizes

    def expect(self, pattern: str, seconds: float = ANSWER_WITHIN, what: str = "") -> str:
        """The first datagram matching ``pattern`` (a regex), waiting up to ``seconds``."""
        regex = re.compile(pattern)
        end = time.monotonic() + seconds
        while True:
            for n, line in enumerate(self.inbox):
                if regex.match(line):
                    del self.inbox[n]
                    return line
            left = end - time.monotonic()
            if left <= 0 or not self._receive(left):
                seen = f"; it got {self.inbox[-3:]!r}" if self.inbox else ""
                raise NoAnswer(seconds, f"{what or pattern} at {self.nick or self.address}{seen}")

    def quiet(self, seconds: float = SILENCE) -> list[str]:
        """Everything that arrives within ``seconds``, plus what was waiting."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0 and self._receive(left):
            pass
        got, self.inbox = self.inbox, []
        return got

    def join(self, nick: str, seconds: float = ANSWER_WITHIN) -> re.Match[str]:
        self.nick = nick
        self.send(f"JOIN {nick}")
        line = self.expect(r"WELCOME |ERR ", seconds, f"WELCOME {nick}")
        match = WELCOME.fullmatch(line)
        if match is None:
            raise Failed(f"JOIN {nick} got {line!r}", f"WELCOME {nick} {self.address} <idle>")
        return match


class Group:
    """Some members, joined in order, with everything they were told on joining drained."""

    def __init__(self, target: ServerTarget, size: int) -> None:
        self.peers = [Peer(target) for _ in range(size)]
        try:
            for peer in self.peers:
                peer.join(_nick())
            time.sleep(0.1)
            for peer in self.peers:
                peer.quiet(0.05)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for peer in self.peers:
            peer.close()

    def __enter__(self) -> list[Peer]:
        return self.peers

    def __exit__(self, *exc: object) -> None:
        self.close()


def _never(peer: Peer, text: str, why: str) -> None:
    for line in peer.quiet():
        if text in line:
            raise Failed(f"{peer.nick} got {line!r} ({why})")


@suite.check(
    "join",
    "JOIN gets WELCOME naming the address the server saw",
    rationale="recvfrom() returns the datagram and its source address; WELCOME tells the client "
    "which address the server sees (behind NAT it is not the client's own).",
    expected="WELCOME <nick> <the grader's ip:port> <idle seconds>",
)
def join(target: ServerTarget) -> str:
    peer = Peer(target)
    nick = _nick()
    peer.nick = nick
    try:
        end = time.monotonic() + target.startup
        while True:  # the program may still be starting: a JOIN every half second until then
            peer.send(f"JOIN {nick}")
            try:
                line = peer.expect(r"WELCOME |ERR ", 0.5, f"WELCOME {nick}")
                break
            except NoAnswer:
                if time.monotonic() > end:
                    raise NoAnswer(target.startup, f"WELCOME {nick}") from None
        match = WELCOME.fullmatch(line)
        expected = f"WELCOME {nick} {peer.address} <idle>"
        if match is None or match.group(1) != nick:
            raise Failed(f"JOIN {nick} got {line!r}", expected)
        seen = f"{match.group(2)}:{match.group(3)}"
        if seen != peer.address:
            raise Failed(f"WELCOME names {seen}, the grader sent from {peer.address}", expected)
        peer.send("LEAVE")
        return line
    finally:
        peer.close()


@suite.check(
    "relay",
    "a MSG reaches every other member, not the sender",
    rationale="The server relays with one sendto() per other member; echoing a message back to "
    "its sender shows it twice in the sender's window (protocol section 2).",
    expected="MSG <nick> <seq> <text> at the two others, nothing at the sender",
    requires=("join",),
)
def relay(target: ServerTarget) -> str:
    with Group(target, 3) as (alice, bob, carol):
        text = f"hello {secrets.token_hex(4)}"
        alice.send(f"MSG {text}")
        for other in (bob, carol):
            other.expect(rf"MSG {alice.nick} \d+ {text}$", what=f"MSG {alice.nick} <seq> {text}")
        _never(alice, text, "the sender must not get its own message back")
    return "relayed to 2 others, not echoed to the sender"


@suite.check(
    "seq",
    "each member's messages are numbered 1, 2, 3, ...",
    rationale="UDP may lose, repeat or reorder datagrams; a per-sender number lets a receiver "
    "see that (protocol section 5).",
    expected="three MSGs arrive with consecutive increasing seq numbers",
    requires=("relay",),
)
def seq(target: ServerTarget) -> str:
    with Group(target, 2) as (alice, bob):
        numbers = []
        for n in range(3):
            alice.send(f"MSG number {n}")
            line = bob.expect(rf"MSG {alice.nick} ", what=f"MSG {alice.nick} <seq> number {n}")
            parts = line.split(" ", 3)
            if len(parts) < 4 or not parts[2].isdigit() or parts[3] != f"number {n}":
                raise Failed(f"{line!r}", f"MSG {alice.nick} <seq> number {n}")
            numbers.append(int(parts[2]))
        if numbers != list(range(numbers[0], numbers[0] + 3)) or numbers[0] < 1:
            raise Failed(f"seq numbers {numbers}", "consecutive, increasing by 1, from 1 or more")
    return f"seq {numbers}"


@suite.check(
    "who",
    "WHO lists every member with its address",
    rationale="The server knows its members only by the addresses it saw; ROSTER shows them "
    "(protocol section 3).",
    expected="ROSTER <page>/<pages> with nick@ip:port for both members",
    requires=("join",),
)
def who(target: ServerTarget) -> str:
    with Group(target, 2) as (alice, bob):
        alice.send("WHO")
        entries: set[str] = set()
        pages, seen = 1, 0
        while seen < pages:
            line = alice.expect(r"ROSTER ", what="ROSTER <page>/<pages> <nick>@<ip>:<port> ...")
            head, *names = line.split(" ")[1:]
            page, _, total = head.partition("/")
            if not (page.isdigit() and total.isdigit()):
                raise Failed(f"{line!r}", "ROSTER <page>/<pages> <nick>@<ip>:<port> ...")
            pages, seen = int(total), seen + 1
            entries.update(names)
        for peer in (alice, bob):
            if f"{peer.nick}@{peer.address}" not in entries:
                raise Failed(f"ROSTER lists {sorted(entries)}", f"{peer.nick}@{peer.address}")
    return f"ROSTER in {pages} page(s) lists both members with their addresses"


@suite.check(
    "leave",
    "LEAVE gets BYE, the others get LEFT, and the address is no member any more",
    rationale="Without a connection, a member leaves only by saying so (or by going silent); "
    "after LEAVE its MSGs are a stranger's.",
    expected="BYE left to the leaver, LEFT <nick> leave to the others, then ERR 401 for its MSG",
    requires=("relay",),
)
def leave(target: ServerTarget) -> str:
    with Group(target, 2) as (alice, bob):
        alice.send("LEAVE")
        alice.expect(r"BYE left$", what="BYE left")
        bob.expect(rf"LEFT {alice.nick} leave$", what=f"LEFT {alice.nick} leave")
        alice.send("MSG after leaving")
        alice.expect(r"ERR 401", what="ERR 401 (no longer a member)")
        _never(bob, "after leaving", "a member that left must not be relayed")
    return "BYE left, LEFT to the other, then ERR 401"


@suite.check(
    "nick-taken",
    "a nickname held by another address is refused",
    rationale="The source address is the identity: a second address must not take over a "
    "nickname (protocol section 4).",
    expected="ERR 409 for the second JOIN, and no JOINED for it",
    requires=("join",),
)
def nick_taken(target: ServerTarget) -> str:
    with Group(target, 1) as (alice,):
        thief = Peer(target)
        try:
            thief.send(f"JOIN {alice.nick}")
            line = thief.expect(r"WELCOME |ERR ", what="ERR 409")
            if not line.startswith("ERR 409"):
                raise Failed(f"JOIN {alice.nick} from another address got {line!r}", "ERR 409 ...")
        finally:
            thief.close()
        _never(alice, f"JOINED {alice.nick}", "its nickname was taken by another address")
    return line


@suite.check(
    "not-member",
    "a MSG from an address that has not joined is refused",
    rationale="Anyone can send a datagram to a UDP port; only members may speak (protocol "
    "section 2: ERR 401), and a refused datagram is never relayed.",
    expected="ERR 401 to the stranger, nothing at the members",
    requires=("join",),
)
def not_member(target: ServerTarget) -> str:
    with Group(target, 1) as (alice,):
        stranger = Peer(target)
        try:
            text = f"stranger {secrets.token_hex(4)}"
            stranger.send(f"MSG {text}")
            line = stranger.expect(r"ERR ", what="ERR 401")
            if not line.startswith("ERR 401"):
                raise Failed(f"MSG from a stranger got {line!r}", "ERR 401 ...")
        finally:
            stranger.close()
        _never(alice, text, "a stranger's MSG must not be relayed")
    return line


@suite.check(
    "bad-input",
    "oversize, invalid UTF-8 and unknown verbs are refused, and the server carries on",
    rationale="Datagrams come from anyone and may be anything; each bad one gets ERR, is never "
    "relayed, and never stops the server (protocol section 6).",
    expected="ERR (413, 400, 501) for each, nothing relayed, then a good MSG still relayed",
    requires=("relay",),
)
def bad_input(target: ServerTarget) -> str:
    cases: list[tuple[str, bytes]] = [
        ("oversize", b"MSG " + b"x" * 600),
        ("invalid UTF-8", b"MSG bad \xff\xfe\xc3"),
        ("unknown verb", b"FROBNICATE now"),
    ]
    with Group(target, 2) as (alice, bob):
        answers = []
        for name, data in cases:
            alice.send(data)
            try:
                line = alice.expect(r"ERR ", what=f"ERR for the {name} datagram")
            except NoAnswer:
                raise Failed(f"no ERR within {ANSWER_WITHIN:g} s for the {name} datagram") from None
            answers.append(f"{name}: {line.split(' ')[1] if ' ' in line else line}")
        for line in bob.quiet():
            if line.startswith("MSG") or "FROB" in line:
                raise Failed(f"the other member got {line[:80]!r} from a bad datagram")
        alice.send("MSG still here")
        bob.expect(rf"MSG {alice.nick} \d+ still here$", what="the good MSG after the bad ones")
    return "ERR " + ", ".join(answers) + "; then a good MSG was relayed"


@suite.check(
    "no-amplification",
    "no answer to a stranger is longer than what it sent",
    rationale="A UDP source address can be forged: a server that answers 3 bytes with 300 "
    "turns itself into a weapon against the forged address (RFC 8085 §5.3).",
    expected="every answer to an address that has not joined is at most as long as its datagram",
    requires=("join",),
)
def no_amplification(target: ServerTarget) -> str:
    stranger = Peer(target)
    probes = [b"WHO", b"X", b"MSG hi", b"LEAVE", b"PING", b"PING abc", b"TELL a b", b"\xff", b"?"]
    try:
        answered = 0
        for probe in probes:
            stranger.send(probe)
            for size in stranger.sizes(0.3):
                answered += 1
                if size > len(probe):
                    raise Failed(
                        f"{probe!r} ({len(probe)} bytes) got an answer of {size} bytes",
                        f"at most {len(probe)} bytes",
                    )
    finally:
        stranger.close()
    return f"{len(probes)} datagrams from a stranger, {answered} answers, none longer"


@suite.check(
    "tell",
    "TELL reaches only the member named",
    rationale="A private message is one sendto() to one address, looked up by nickname.",
    expected="TELL <from> <text> at the member named, nothing at the third",
    requires=("relay",),
    level=Level.SHOULD,
)
def tell(target: ServerTarget) -> str:
    with Group(target, 3) as (alice, bob, carol):
        text = f"psst {secrets.token_hex(4)}"
        alice.send(f"TELL {bob.nick} {text}")
        bob.expect(rf"TELL {alice.nick} {text}$", what=f"TELL {alice.nick} {text}")
        _never(carol, text, "a TELL is for the member named only")
        _never(alice, text, "the sender of a TELL gets nothing back")
    return "delivered to the one member named"


@suite.check(
    "idle-drop",
    "a silent member is dropped after the idle timeout",
    rationale="UDP never says that a client is gone; a server that never forgets a member sends "
    "to dead addresses forever. WELCOME announces the timeout; the grader gives $IDLE_TIMEOUT.",
    expected="BYE idle to the silent member, LEFT <nick> idle to the others, within idle + 3 s",
    requires=("relay",),
    level=Level.SHOULD,
    time_limit=IDLE_WAIT_MAX + 15,
)
def idle_drop(target: ServerTarget) -> str:
    silent, awake = Peer(target), Peer(target)
    try:
        idle = float(silent.join(_nick()).group(4))
        awake.join(_nick())
        if idle > IDLE_WAIT_MAX:
            raise Failed(f"WELCOME announces {idle:g} s", f"at most {IDLE_WAIT_MAX:g} s")
        end = time.monotonic() + idle + 3
        while time.monotonic() < end:
            awake.send("PING")  # the awake member stays alive, the silent one says nothing
            try:
                awake.expect(rf"LEFT {silent.nick} idle$", min(max(idle / 3, 0.2), 5.0))
                break
            except NoAnswer:
                continue
        else:
            raise Failed(f"no LEFT {silent.nick} idle within {idle + 3:g} s (idle {idle:g} s)")
        silent.expect(r"BYE idle$", 1.0, "BYE idle")
    finally:
        silent.close()
        awake.close()
    return f"dropped after the announced {idle:g} s"
