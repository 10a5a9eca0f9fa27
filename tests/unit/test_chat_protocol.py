"""udp-chat protocol: every command, every refusal, both directions, no sockets."""

from __future__ import annotations

import pytest

from socketlab.udp_chat import errors
from socketlab.udp_chat.protocol import (
    MAX_DATAGRAM,
    MAX_NICK,
    MAX_TEXT,
    ROSTER_BUDGET,
    Ack,
    Bye,
    Error,
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
    Roster,
    Tell,
    Welcome,
    Who,
    escape_controls,
    fit_error,
    format_addr,
    is_forbidden_char,
    parse_command,
    parse_event,
    parse_request,
    roster_pages,
    split_host_port,
)

# --- requests: what a client may send ---------------------------------------------------------

GOOD_REQUESTS = [
    (b"JOIN alice", Join("alice")),
    (b"join alice\n", Join("alice")),  # nc -u: lower case and a newline
    (b"JOIN Bob_the-2nd\r\n", Join("Bob_the-2nd")),
    (b"JOIN " + b"a" * MAX_NICK, Join("a" * MAX_NICK)),
    (b"MSG hello world", Msg("hello world")),
    (b"MSG  two leading spaces kept", Msg(" two leading spaces kept")),
    ("MSG 你好 世界".encode(), Msg("你好 世界")),
    (b"MSG " + b"x" * MAX_TEXT, Msg("x" * MAX_TEXT)),
    (b"TELL bob a secret", Tell("bob", "a secret")),
    (b"WHO", Who()),
    (b"who\n", Who()),
    (b"PING", Ping()),
    (b"PING 12345", Ping("12345")),
    (b"LEAVE", Leave()),
    (b"ACK 7", Ack(7)),
    (b"REL 1 JOIN alice", Rel(1, "JOIN alice")),
    (b"REL 2147483647 MSG hi", Rel(2147483647, "MSG hi")),
    (b"REL 3 anything at all", Rel(3, "anything at all")),  # the body is parsed by the relay
]


@pytest.mark.parametrize(("data", "expected"), GOOD_REQUESTS)
def test_good_requests_parse(data: bytes, expected: object) -> None:
    assert parse_request(data) == expected


@pytest.mark.parametrize(
    "request_",
    [
        Join("alice"),
        Msg("hi there"),
        Tell("bob", "psst"),
        Who(),
        Ping(),
        Ping("t1"),
        Leave(),
        Ack(3),
        Rel(4, "MSG x"),
    ],
)
def test_requests_round_trip(request_: object) -> None:
    assert parse_request(request_.encode()) == request_  # type: ignore[attr-defined]


# Every bad input the issue names, with the refusal it gets. The server answers each with
# ERR <code> and never relays it (see test_chat_relay.py for the "never relayed" half).
BAD_REQUESTS = [
    ("empty datagram", b"", errors.BadRequest),
    ("only a newline", b"\n", errors.BadRequest),
    ("one byte over the limit", b"MSG " + b"x" * (MAX_DATAGRAM - 3), errors.TooLong),
    ("huge", b"x" * 60000, errors.TooLong),
    ("invalid UTF-8", b"MSG \xff\xfe", errors.BadRequest),
    ("truncated UTF-8", "MSG 你".encode()[:-1], errors.BadRequest),
    ("overlong UTF-8 encoding of /", b"MSG \xc0\xaf", errors.BadRequest),
    ("UTF-8 surrogate", b"MSG \xed\xa0\x80", errors.BadRequest),
    ("NUL", b"MSG a\x00b", errors.BadRequest),
    ("escape sequence", b"MSG \x1b[2J", errors.BadRequest),
    ("CR inside", b"MSG a\rLEFT bob", errors.BadRequest),
    ("LF inside", b"MSG a\nMSG b", errors.BadRequest),
    ("DEL", b"MSG a\x7f", errors.BadRequest),
    ("C1 control", "MSG a\u009b31m".encode(), errors.BadRequest),
    ("bidi override", "MSG abc\u202edcba".encode(), errors.BadRequest),
    ("tab", b"MSG a\tb", errors.BadRequest),
    ("unknown command", b"HELLO there", errors.UnknownCommand),
    ("lower-case unknown", b"quit", errors.UnknownCommand),
    ("JOIN without nick", b"JOIN", errors.BadRequest),
    ("JOIN with space only", b"JOIN ", errors.BadRequest),
    ("nick too long", b"JOIN " + b"a" * (MAX_NICK + 1), errors.BadNick),
    ("nick with space", b"JOIN alice bob", errors.BadNick),
    ("nick with @", b"JOIN a@b", errors.BadNick),
    ("non-ASCII nick", "JOIN ålice".encode(), errors.BadNick),
    ("MSG without text", b"MSG", errors.BadRequest),
    ("MSG blank text", b"MSG    ", errors.BadRequest),
    ("text over MAX_TEXT", b"MSG " + b"x" * (MAX_TEXT + 1), errors.TooLong),
    ("multi-byte text over MAX_TEXT", ("MSG " + "é" * 201).encode(), errors.TooLong),
    ("TELL without text", b"TELL bob", errors.BadRequest),
    ("TELL blank", b"TELL", errors.BadRequest),
    ("TELL bad nick", b"TELL b*b hi", errors.BadNick),
    ("WHO with argument", b"WHO all", errors.BadRequest),
    ("LEAVE with argument", b"LEAVE now", errors.BadRequest),
    ("PING token too long", b"PING " + b"t" * 33, errors.TooLong),
    ("ACK without id", b"ACK", errors.BadRequest),
    ("ACK zero", b"ACK 0", errors.BadRequest),
    ("ACK negative", b"ACK -1", errors.BadRequest),
    ("ACK leading zero", b"ACK 01", errors.BadRequest),
    ("ACK too big", b"ACK 2147483648", errors.BadRequest),
    ("REL without body", b"REL 5", errors.BadRequest),
    ("REL bad id", b"REL x MSG hi", errors.BadRequest),
]


@pytest.mark.parametrize(
    ("data", "error"), [(d, e) for _, d, e in BAD_REQUESTS], ids=[n for n, _, _ in BAD_REQUESTS]
)
def test_bad_requests_are_refused(data: bytes, error: type[errors.ChatError]) -> None:
    with pytest.raises(error) as info:
        parse_request(data)
    line = info.value.line()
    assert line.startswith(f"ERR {error.code} ")
    assert line.isprintable()  # a refusal never echoes control characters back


def test_the_datagram_check_refuses_exactly_the_forbidden_characters() -> None:
    # decode_datagram checks a whole line with one regular expression; it must refuse exactly
    # the characters is_forbidden_char names, on every code point (surrogates cannot arrive:
    # they are invalid UTF-8).
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    forbidden = [ch for ch in chars if is_forbidden_char(ch)]
    assert len(forbidden) == 65 + 12  # Unicode's Cc (fixed by its stability policy), the bidi
    for ch in forbidden:
        with pytest.raises(errors.BadRequest, match="control character"):
            parse_request(f"MSG a{ch}b".encode())
    allowed = "".join(ch for ch in chars if not is_forbidden_char(ch))
    step = MAX_TEXT // 4 - 2  # characters of at most 4 bytes, between "a" and "b"
    for start in range(0, len(allowed), step):
        text = f"a{allowed[start : start + step]}b"
        assert parse_request(f"MSG {text}".encode()) == Msg(text)


def test_error_codes_are_distinct() -> None:
    classes = [
        errors.BadRequest,
        errors.NotJoined,
        errors.NoSuchNick,
        errors.Conflict,
        errors.TooLong,
        errors.BadNick,
        errors.RateLimited,
        errors.UnknownCommand,
        errors.ServerFull,
    ]
    assert len({c.code for c in classes}) == len(classes)


def test_unknown_verb_is_cut_in_the_reason() -> None:
    with pytest.raises(errors.UnknownCommand) as info:
        parse_command("X" * 300)
    assert len(info.value.reason) < 50


# --- events: what the server sends ------------------------------------------------------------

EVENTS = [
    Welcome("alice", "10.30.80.31:40000", 60),
    Welcome("bob", "[::1]:5000", 0),
    Joined("bob"),
    Left("bob", "idle"),
    Left("bob", "leave"),
    Relayed("alice", 3, "hello  world "),
    Relayed("alice", 1, "你好"),
    Private("alice", "psst"),
    Roster(1, 2, (("alice", "10.0.0.1:1"), ("bob", "[fe80::1]:2"))),
    Pong(),
    Pong("tok"),
    Error(409, "nick in use"),
    Bye("shutdown"),
    Ack(12),
    Rel(5, "MSG alice 1 hi"),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_events_round_trip(event: object) -> None:
    assert parse_event(event.encode()) == event  # type: ignore[attr-defined]


def test_welcome_without_idle_field_is_accepted() -> None:
    assert parse_event(b"WELCOME alice 1.2.3.4:5") == Welcome("alice", "1.2.3.4:5", 0)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"BOGUS",
        b"WELCOME alice nowhere 60",
        b"WELCOME alice 1.2.3.4:5 soon",
        b"MSG alice x hi",
        b"MSG alice 1",
        b"ROSTER 1/1 alice",
        b"ROSTER x/1 alice@1.2.3.4:5",
        b"ERR",
        b"ACK 0",
        b"\xff",
        b"MSG alice 1 \x1b[2J",
        b"x" * (MAX_DATAGRAM + 1),
    ],
)
def test_bad_events_raise_protocol_error(data: bytes) -> None:
    with pytest.raises(errors.ProtocolError):
        parse_event(data)


# --- helpers ----------------------------------------------------------------------------------


def test_format_addr() -> None:
    assert format_addr(("10.0.0.1", 80)) == "10.0.0.1:80"
    assert format_addr(("::1", 80, 0, 0)) == "[::1]:80"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("udp-chat:9999", ("udp-chat", 9999)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("[::1]:9999", ("::1", 9999)),
    ],
)
def test_split_host_port(text: str, expected: tuple[str, int]) -> None:
    assert split_host_port(text) == expected


@pytest.mark.parametrize("text", ["udp-chat", ":9999", "host:", "host:99999", "host:x", "::1:5"])
def test_split_host_port_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        split_host_port(text)


def test_split_host_port_default_port() -> None:
    assert split_host_port("0.0.0.0", default_port=0) == ("0.0.0.0", 0)


def test_escape_controls_keeps_unicode_and_escapes_controls() -> None:
    assert escape_controls("你好 ok") == "你好 ok"
    assert escape_controls("a\x1b[31mb\\") == "a\\x1b[31mb\\\\"
    assert escape_controls("x\u202ey") == "x\\u202ey"


def test_fit_error_cuts_at_words_and_keeps_the_code() -> None:
    line = "ERR 401 join first"
    assert fit_error(line, 100) == b"ERR 401 join first"
    assert fit_error(line, 14) == b"ERR 401 join"
    assert fit_error(line, 7) == b"ERR 401"
    assert fit_error(line, 6) is None


def test_roster_pages_fit_a_datagram_even_when_reliably_framed() -> None:
    members = [(f"member{i:03d}xxxxxx"[:MAX_NICK], f"[fd00::{i:x}:abcd]:65535") for i in range(64)]
    pages = roster_pages(members)
    assert len(pages) > 1
    assert [p.page for p in pages] == list(range(1, len(pages) + 1))
    assert {p.pages for p in pages} == {len(pages)}
    assert [m for p in pages for m in p.members] == members
    for page in pages:
        framed = Rel(2147483647, page.encode().decode()).encode()
        assert len(framed) <= MAX_DATAGRAM
        assert len(page.encode()) - len(f"ROSTER {page.page}/{page.pages} ") <= ROSTER_BUDGET + 1


def test_longest_relay_fits_a_datagram() -> None:
    event = Relayed("n" * MAX_NICK, 2147483647, "x" * MAX_TEXT)
    assert len(Rel(2147483647, event.encode().decode()).encode()) <= MAX_DATAGRAM
    longest_multibyte = "😀" * (MAX_TEXT // 4)
    assert len(Relayed("n" * MAX_NICK, 1, longest_multibyte).encode()) <= MAX_DATAGRAM
