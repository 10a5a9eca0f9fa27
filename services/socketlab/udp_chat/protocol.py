"""The udp-chat wire protocol: datagrams in, commands and events out. No sockets here.

One UTF-8 command per datagram, a verb and its arguments separated by single spaces, so that a
person can speak it by hand with ``nc -u``; docs/udp-chat-protocol.md is the specification. This
module only turns bytes into values and values into bytes:

* :func:`parse_request` — a datagram a client sent to the server, into a request value, or a
  :class:`~socketlab.udp_chat.errors.ChatError` saying why it is refused;
* :func:`parse_event` — a datagram the server sent to a client, into an event value, or
  :class:`~socketlab.udp_chat.errors.ProtocolError`;
* ``encode()`` on every value gives the exact datagram.

Requests and events share the spelling of ``MSG``, ``TELL``, ``REL`` and ``ACK`` but not their
arguments (a client says ``TELL <to> <text>``, the server says ``TELL <from> <text>``), which is
why there are two parse functions.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import BadNick, BadRequest, ProtocolError, TooLong, UnknownCommand

# --- limits, each with its reason -------------------------------------------------------------

#: Largest datagram either side sends or accepts. RFC 791 requires every IPv4 host to accept a
#: 576-byte datagram; less 60 bytes of the largest IPv4 header and 8 of the UDP header leaves 508
#: bytes that cross any IPv4 path without fragmentation (the reasoning behind DNS's 512, RFC 1035
#: §2.3.4). A chat line needs no more, and a fixed ceiling bounds every buffer.
MAX_DATAGRAM = 508

#: Longest nickname in characters. IRC started at 9 (RFC 2812 §1.2.1); 16 fits real names and
#: keeps the roster pages and the relayed headers short.
MAX_NICK = 16

#: Largest ``seq`` and ``REL`` id: 2**31 - 1 keeps every number in 10 digits (and in a signed
#: 32-bit integer for clients in other languages). At one message a second that is 68 years.
MAX_NUMBER = 2**31 - 1

#: Longest ``PING`` token in bytes: enough for a counter or a timestamp; ``PONG`` echoes it.
MAX_TOKEN = 32

#: Worst-case bytes the server adds around a text it relays to a reliable member:
#: ``REL <id> MSG <nick> <seq> `` (the longest event header that carries a text).
RELAY_OVERHEAD = len("REL  MSG   ") + 10 + MAX_NICK + 10

#: Longest chat text in UTF-8 bytes: whatever is left of a datagram after the worst-case relay
#: header, rounded down, so every relayed message still fits in :data:`MAX_DATAGRAM`.
MAX_TEXT = 400
assert MAX_TEXT + RELAY_OVERHEAD <= MAX_DATAGRAM, "a relayed text must fit in one datagram"

_NICK_RE = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_NICK}}}")
_NUMBER_RE = re.compile(r"[1-9][0-9]{0,9}")

#: Bidirectional formatting characters: not control characters to Unicode (category Cf) but
#: they reorder what a terminal shows ("Trojan Source", CVE-2021-42574), so a chat refuses them.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

#: :func:`is_forbidden_char` as one regular expression, to check a whole datagram in C rather than
#: a character at a time in Python (that loop was the largest cost of parsing a MSG). Category Cc
#: is exactly U+0000-U+001F and U+007F-U+009F, and Unicode's stability policy keeps it so; a
#: unit test checks the two agree on every code point.
_FORBIDDEN_RE = re.compile("[\x00-\x1f\x7f-\x9f" + "".join(sorted(_BIDI)) + "]")


# --- addresses --------------------------------------------------------------------------------

#: What recvfrom returns: (host, port) for IPv4, (host, port, flowinfo, scope_id) for IPv6.
Addr = tuple[Any, ...]


def format_addr(addr: Addr) -> str:
    """``ip:port`` for IPv4, ``[ip]:port`` for IPv6, as the server saw the peer."""
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def split_host_port(text: str, default_port: int | None = None) -> tuple[str, int]:
    """Parse ``host:port``, ``[v6]:port`` or (with ``default_port``) a bare host.

    Raises ValueError with a message naming the expected shape.
    """
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError("expects HOST:PORT ([ADDRESS]:PORT for IPv6)")
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError("expects HOST:PORT ([ADDRESS]:PORT for IPv6)")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif ":" in text:
        raise ValueError("expects HOST:PORT ([ADDRESS]:PORT for IPv6)")
    if not port_text:
        if default_port is None:
            raise ValueError("expects HOST:PORT")
        return host, default_port
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError("expects HOST:PORT with a port from 0 to 65535")
    if not host:
        raise ValueError("expects HOST:PORT with a host")
    return host, int(port_text)


def parse_addr(text: str) -> tuple[str, int]:
    """Parse an address as the server formats it; ProtocolError if it is not an ip:port."""
    try:
        host, port = split_host_port(text)
        ipaddress.ip_address(host)
    except ValueError:
        raise ProtocolError(f"not an address: {text!r}") from None
    return host, port


# --- text checks ------------------------------------------------------------------------------


def is_forbidden_char(ch: str) -> bool:
    """Control characters (C0, DEL, C1) and bidi overrides may not appear in a command."""
    return unicodedata.category(ch) == "Cc" or ch in _BIDI


def escape_controls(text: str) -> str:
    """Show ``text`` on a terminal safely: forbidden characters as ``\\xNN``/``\\uNNNN``.

    Unlike :func:`socketlab.logs.printable` it keeps printable non-ASCII (a chat in Chinese must
    stay readable); it is what a client applies before printing anything it received.
    """
    if not any(is_forbidden_char(ch) or ch == "\\" for ch in text):
        return text
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif is_forbidden_char(ch):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def decode_datagram(data: bytes) -> str:
    """Check a received datagram and return its command line (one trailing newline removed).

    The order of checks is the order of the refusals in the protocol document: size, then
    emptiness, then UTF-8, then control characters. A trailing ``\\n`` or ``\\r\\n`` is allowed
    because ``nc -u`` sends one with every line.
    """
    if len(data) > MAX_DATAGRAM:
        raise TooLong(f"datagram over {MAX_DATAGRAM} bytes")
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    if not data:
        raise BadRequest("empty datagram")
    try:
        line = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("invalid UTF-8") from None
    if _FORBIDDEN_RE.search(line):
        raise BadRequest("control character")
    return line


def check_nick(nick: str) -> str:
    """Return ``nick`` if valid: 1..MAX_NICK of ASCII letters, digits, ``_`` and ``-``."""
    if not _NICK_RE.fullmatch(nick):
        raise BadNick(f"nick must be 1-{MAX_NICK} of A-Z a-z 0-9 _ -")
    return nick


def check_text(text: str) -> str:
    """Return ``text`` if it is a sendable chat text: not blank, at most MAX_TEXT bytes."""
    if not text.strip():
        raise BadRequest("empty text")
    if len(text.encode("utf-8")) > MAX_TEXT:
        raise TooLong(f"text over {MAX_TEXT} bytes")
    return text


def _number(text: str, what: str) -> int:
    if not _NUMBER_RE.fullmatch(text) or int(text) > MAX_NUMBER:
        raise BadRequest(f"{what} must be a number from 1 to {MAX_NUMBER}")
    return int(text)


# --- requests: client to server ---------------------------------------------------------------


@dataclass(frozen=True)
class Join:
    nick: str

    def encode(self) -> bytes:
        return f"JOIN {self.nick}".encode()


@dataclass(frozen=True)
class Msg:
    text: str

    def encode(self) -> bytes:
        return f"MSG {self.text}".encode()


@dataclass(frozen=True)
class Tell:
    to: str
    text: str

    def encode(self) -> bytes:
        return f"TELL {self.to} {self.text}".encode()


@dataclass(frozen=True)
class Who:
    def encode(self) -> bytes:
        return b"WHO"


@dataclass(frozen=True)
class Ping:
    token: str = ""

    def encode(self) -> bytes:
        return f"PING {self.token}".encode() if self.token else b"PING"


@dataclass(frozen=True)
class Leave:
    def encode(self) -> bytes:
        return b"LEAVE"


@dataclass(frozen=True)
class Ack:
    """Receipt of the ``REL`` datagram with this id (both directions)."""

    id: int

    def encode(self) -> bytes:
        return f"ACK {self.id}".encode()


@dataclass(frozen=True)
class Rel:
    """Reliable framing (both directions): ``REL <id> <body>``; the receiver answers ``ACK <id>``.

    ``body`` is the command or event line it carries, left unparsed so that a receiver can
    acknowledge the id even when the body is refused (else the sender would retransmit it).
    """

    id: int
    body: str

    def encode(self) -> bytes:
        return f"REL {self.id} {self.body}".encode()


Request = Join | Msg | Tell | Who | Ping | Leave | Ack | Rel


def parse_request(data: bytes) -> Request:
    """Parse a datagram sent to the server; raise ChatError with the refusal."""
    return parse_command(decode_datagram(data))


def parse_command(line: str) -> Request:
    """Parse one command line (already decoded and checked); raise ChatError with the refusal.

    The verb is case-insensitive (people type ``join alice`` in nc); arguments are separated by
    single spaces and the text is everything after them, spaces included.
    """
    verb, _, rest = line.partition(" ")
    verb = verb.upper()
    if verb == "JOIN":
        return Join(check_nick(_arg(rest, "JOIN needs a nick")))
    if verb == "MSG":
        return Msg(check_text(_arg(rest, "MSG needs a text")))
    if verb == "TELL":
        to, _, text = _arg(rest, "TELL needs a nick and a text").partition(" ")
        return Tell(check_nick(to), check_text(text))
    if verb == "WHO":
        _no_arg(rest, "WHO")
        return Who()
    if verb == "PING":
        if len(rest.encode("utf-8")) > MAX_TOKEN:
            raise TooLong(f"PING token over {MAX_TOKEN} bytes")
        return Ping(rest)
    if verb == "LEAVE":
        _no_arg(rest, "LEAVE")
        return Leave()
    if verb == "ACK":
        return Ack(_number(rest, "ACK id"))
    if verb == "REL":
        id_text, _, body = rest.partition(" ")
        ident = _number(id_text, "REL id")
        return Rel(ident, _arg(body, "REL needs a command"))
    raise UnknownCommand(f"unknown command {verb[:20]}")


def _arg(rest: str, missing: str) -> str:
    if not rest:
        raise BadRequest(missing)
    return rest


def _no_arg(rest: str, verb: str) -> None:
    if rest:
        raise BadRequest(f"{verb} takes no argument")


# --- events: server to client -----------------------------------------------------------------


@dataclass(frozen=True)
class Welcome:
    """``WELCOME <nick> <ip>:<port> <idle>``: joined; the address the server saw; idle timeout."""

    nick: str
    addr: str
    idle_timeout: int = 0

    def encode(self) -> bytes:
        return f"WELCOME {self.nick} {self.addr} {self.idle_timeout}".encode()


@dataclass(frozen=True)
class Joined:
    nick: str

    def encode(self) -> bytes:
        return f"JOINED {self.nick}".encode()


@dataclass(frozen=True)
class Left:
    """``LEFT <nick> <why>``: ``leave`` (it said LEAVE) or ``idle`` (it was dropped)."""

    nick: str
    why: str = "leave"

    def encode(self) -> bytes:
        return f"LEFT {self.nick} {self.why}".encode()


@dataclass(frozen=True)
class Relayed:
    """``MSG <nick> <seq> <text>``: a member's message; ``seq`` counts that member's messages."""

    nick: str
    seq: int
    text: str

    def encode(self) -> bytes:
        return relayed_datagram(self.nick, self.seq, self.text)


def relayed_datagram(nick: str, seq: int, text: str) -> bytes:
    """``Relayed(nick, seq, text).encode()`` without making the value: the relay's hot path,
    where a frozen dataclass took about as long to build as the datagram it carries."""
    return f"MSG {nick} {seq} {text}".encode()


@dataclass(frozen=True)
class Private:
    """``TELL <from> <text>``: a private message to this member only."""

    sender: str
    text: str

    def encode(self) -> bytes:
        return f"TELL {self.sender} {self.text}".encode()


@dataclass(frozen=True)
class Roster:
    """``ROSTER <page>/<pages> <nick>@<ip>:<port>...``: one page of the answer to ``WHO``."""

    page: int
    pages: int
    members: tuple[tuple[str, str], ...]

    def encode(self) -> bytes:
        entries = " ".join(f"{nick}@{addr}" for nick, addr in self.members)
        return f"ROSTER {self.page}/{self.pages} {entries}".encode()


@dataclass(frozen=True)
class Pong:
    token: str = ""

    def encode(self) -> bytes:
        return f"PONG {self.token}".encode() if self.token else b"PONG"


@dataclass(frozen=True)
class Error:
    code: int
    reason: str

    def encode(self) -> bytes:
        return f"ERR {self.code} {self.reason}".encode()


@dataclass(frozen=True)
class Bye:
    """``BYE <why>``: this address is no member any more (``left``, ``idle``, ``shutdown``)."""

    why: str

    def encode(self) -> bytes:
        return f"BYE {self.why}".encode()


Event = Welcome | Joined | Left | Relayed | Private | Roster | Pong | Error | Bye | Ack | Rel


def parse_event(data: bytes) -> Event:
    """Parse a datagram from the server; raise ProtocolError when it is not one of ours."""
    try:
        line = decode_datagram(data)
    except (BadRequest, TooLong) as exc:
        raise ProtocolError(str(exc)) from None
    verb, _, rest = line.partition(" ")
    args = rest.split(" ")
    try:
        if verb == "WELCOME" and len(args) in (2, 3):
            parse_addr(args[1])
            idle = int(args[2]) if len(args) == 3 else 0
            return Welcome(check_nick(args[0]), args[1], idle)
        if verb == "JOINED" and len(args) == 1:
            return Joined(check_nick(args[0]))
        if verb == "LEFT" and len(args) in (1, 2):
            return Left(check_nick(args[0]), args[1] if len(args) == 2 else "leave")
        if verb == "MSG" and len(args) >= 3:
            nick, seq, text = rest.split(" ", 2)
            return Relayed(check_nick(nick), _number(seq, "seq"), text)
        if verb == "TELL" and len(args) >= 2:
            nick, text = rest.split(" ", 1)
            return Private(check_nick(nick), text)
        if verb == "ROSTER" and len(args) >= 2:
            page, _, pages = args[0].partition("/")
            members = []
            for entry in args[1:]:
                nick, _, addr = entry.partition("@")
                parse_addr(addr)
                members.append((check_nick(nick), addr))
            return Roster(_number(page, "page"), _number(pages, "pages"), tuple(members))
        if verb == "PONG":
            return Pong(rest)
        if verb == "ERR" and len(args) >= 1 and args[0].isdigit():
            return Error(int(args[0]), rest.partition(" ")[2])
        if verb == "BYE":
            return Bye(rest)
        if verb == "ACK" and len(args) == 1:
            return Ack(_number(args[0], "ACK id"))
        if verb == "REL" and len(args) >= 2:
            ident, body = rest.split(" ", 1)
            return Rel(_number(ident, "REL id"), body)
    except (BadRequest, BadNick, ValueError) as exc:
        raise ProtocolError(f"bad {verb}: {exc}") from None
    raise ProtocolError(f"unexpected datagram {verb[:20]!r}")


# --- roster pages -----------------------------------------------------------------------------

#: Room left for entries in one ``ROSTER`` datagram: the reliable framing and the page header
#: (``ROSTER 99/99 ``, more pages than a bounded member table can fill) come off MAX_DATAGRAM.
ROSTER_BUDGET = MAX_DATAGRAM - len("REL 2147483647 ") - len("ROSTER 99/99 ")


def roster_pages(members: Iterable[tuple[str, str]]) -> list[Roster]:
    """Pack ``(nick, address)`` pairs into as few ``ROSTER`` datagrams as fit MAX_DATAGRAM."""
    pages: list[list[tuple[str, str]]] = [[]]
    used = 0
    for nick, addr in members:
        size = len(nick) + 1 + len(addr) + 1
        if pages[-1] and used + size > ROSTER_BUDGET:
            pages.append([])
            used = 0
        pages[-1].append((nick, addr))
        used += size
    return [Roster(i, len(pages), tuple(page)) for i, page in enumerate(pages, 1)]


def fit_error(line: str, budget: int) -> bytes | None:
    """Cut an ``ERR <code> <reason>`` line at a word boundary to at most ``budget`` bytes.

    Used for addresses that have not joined, which may never get more bytes than they sent
    (anti-amplification, RFC 8085 §5.3 / RFC 9000 §8). None if even ``ERR <code>`` is too long.
    """
    data = line.encode("utf-8")
    if len(data) <= budget:
        return data
    words = line.split(" ")
    out = " ".join(words[:2])  # ERR <code>
    if len(out) > budget:
        return None
    for word in words[2:]:
        if len(out) + 1 + len(word) > budget:
            break
        out += " " + word
    return out.encode("utf-8")
