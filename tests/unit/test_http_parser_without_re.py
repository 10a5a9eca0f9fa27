"""The HTTP core's str and bytes checks give the verdicts its regular expressions gave (issue 17).

``socketlab.http`` once checked its grammar with ``re``; importing re (with enum) and compiling
the patterns was some 22 million instructions of the browser's start-up, so the checks became
str and bytes methods. The old patterns are kept here as the reference, and every check is
compared with its pattern on every single byte in every position of typical lines, on seeded
random byte strings and on the edge cases a hand-written check gets wrong (non-ASCII digits,
signs, ``0x``, whitespace where a pattern has none). Then a fresh interpreter shows that the
browser's path -- importing the package, parsing responses, formatting a request head -- never
imports re.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from socketlab.http import errors, parser, writer
from tests.support.paths import SERVICES

# ---------------------------------------------------------------------------------------------
# The reference: the patterns as socketlab.http had them.

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([^\x00-\x20\x7f]+) HTTP/(\d)\.(\d)")
LOOSE_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([^\x00-\x20\x7f]+) (\S+)")
LOOSE_VERSION = re.compile(rb"HTTP/\d\.\d|HTTP/\d")
STATUS_LINE = re.compile(rb"HTTP/(\d)\.(\d) (\d{3})(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?")
FIELD_NAME = re.compile(_TOKEN)
BAD_VALUE_CHARS = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
LINE_END = re.compile(rb"\r?\n")
FIELD_LINE = re.compile(
    rb"(" + _TOKEN + rb"):[ \t]*((?:[^\x00-\x08\x0a-\x1f\x7f]*[^\x00-\x20\x7f])?)[ \t]*"
)
DIGITS = re.compile(rb"[0-9]+")
_TOKEN_TEXT = _TOKEN.decode("ascii")
_VALUE_TEXT = r"(?:[^\x00-\x08\x0a-\x1f\x7f]*[^\x00-\x20\x7f])?"
FIELD_BLOCK = re.compile(
    rf"(?:{_TOKEN_TEXT}:[ \t]*{_VALUE_TEXT}[ \t]*\r\n)*{_TOKEN_TEXT}:[ \t]*{_VALUE_TEXT}[ \t]*"
)
FIELD_PAIRS = re.compile(rf"({_TOKEN_TEXT}):[ \t]*({_VALUE_TEXT})[ \t]*(?:\r\n|\Z)")
BAD_HOST_CHARS = re.compile(r"[ \t/\\@]")
CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;.*)?")
NAME_TEXT = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
BAD_VALUE_TEXT = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

# ---------------------------------------------------------------------------------------------
# Inputs

# Bytes a check is most likely to get wrong, drawn more often than the rest by random_bytes.
AWKWARD = (
    b" \t\r\n\x00\x0b\x0c\x1f\x7f\x80\x85\xa0\xb2\xb9\xbc\xff"  # whitespace, CTLs, non-ASCII
    b":;,./\\@+-_0x19afAFgG"  # separators, signs, hex digits and letters just past them
)
EDGES = [
    b"",
    b" ",
    b"\t",
    b"\r",
    b"\n",
    b"\r\n",
    b"0",
    b"00",
    b"x",
    b"0x10",
    b"0X10",
    b"+1",
    b"-1",
    b"1_0",
    b" 1",
    b"1 ",
    b"1\t",
    b"\t1",
    b"\xb2",  # superscript two: str.isdigit() says True
    b"\xd9\xa3",  # ARABIC-INDIC DIGIT THREE in UTF-8
    b"\xef\xbc\x91",  # FULLWIDTH DIGIT ONE in UTF-8
    b"f" * 16,
    b"f" * 17,
    b"1" * 17,
    b"0" * 17,
    b"1" * 18,
    b"1" * 19,
    b"a;",
    b"a ;",
    b"a\t;x=1",
    b'a; x="y"',
    b"a;\r",
    b"a\r;",
    b";",
    b"1 2",
    b"HTTP/1.1",
    b"HTTP/1.1 200",
    b"HTTP/1.1 200 ",
    b"HTTP/1.1 200  OK",
    b"HTTP/1.1 200 OK ",
    b"HTTP/1.1 200\tOK",
    b"HTTP/1.1 2000",
    b"HTTP/1.1 20",
    b"HTTP/1.1 \xb200 OK",
    b"HTTP/\xb2.1 200 OK",
    b"HTTP/11 200 OK",
    b"HTTP/2 200",
    b"GET / HTTP/1.1",
    b"GET / HTTP/2",
    b"GET / HTTP/2.0",
    b"GET / HTTP/\xb2",
    b"GET  / HTTP/1.1",
    b"GET / HTTP/1.1 ",
    b" GET / HTTP/1.1",
    b"GET /\x7f HTTP/1.1",
    b"GET / HTTP/1.1\t",
    b"GET / HTTP/1\x0b",
    b"GET / http/1.1",
    b"Name: value",
    b"Name:value",
    b"Name:",
    b"Name: ",
    b"Name:  \t ",
    b"Name : value",
    b" Name: value",
    b"\tName: value",  # obs-fold
    b"Name: a\tb",
    b"Name: a \t",
    b"Name: a\x00b",
    b"Name: a\rb",
    b"Name: \xe9t\xe9",
    b"Na\xe9me: x",
    b":value",
    b"Name::",
    b"Name: a:b",
]


def random_bytes(rng: random.Random, longest: int = 24) -> bytes:
    """A byte string of up to ``longest`` bytes, half of them from AWKWARD."""
    return bytes(
        rng.choice(AWKWARD) if rng.random() < 0.5 else rng.randrange(256)
        for _ in range(rng.randrange(longest + 1))
    )


def every_byte_everywhere(bases: list[bytes]) -> Iterator[bytes]:
    """Each base, then each with every byte 0-255 inserted at, and put in place of, each of its
    positions."""
    for base in bases:
        yield base
        for i in range(len(base) + 1):
            for value in range(256):
                byte = bytes([value])
                yield base[:i] + byte + base[i:]
                if i < len(base):
                    yield base[:i] + byte + base[i + 1 :]


def inputs(bases: list[bytes], count: int = 20000, seed: int = 17) -> Iterator[bytes]:
    """Every byte in every position of ``bases``, the edge cases, then ``count`` random byte
    strings, some of them glued to a base so the random part lands after a valid start."""
    yield from every_byte_everywhere(bases)
    yield from EDGES
    rng = random.Random(seed)
    for _ in range(count):
        tail = random_bytes(rng)
        yield rng.choice(bases) + tail if rng.random() < 0.5 else tail


def agree(new: Callable[[bytes], object], old: Callable[[bytes], object], data: bytes) -> None:
    assert new(data) == old(data), data


# ---------------------------------------------------------------------------------------------
# socketlab.http.parser


def test_token_and_control_bytes() -> None:
    for data in inputs([b"Content-Type", b"a\tb c", b"x"]):
        agree(parser._is_token, lambda d: FIELD_NAME.fullmatch(d) is not None, data)
        agree(parser._has_ctl, lambda d: BAD_VALUE_CHARS.search(d) is not None, data)


def _old_field_line(line: bytes) -> tuple[bytes, bytes] | None:
    match = FIELD_LINE.fullmatch(line)
    return None if match is None else (match.group(1), match.group(2))


def test_field_lines() -> None:
    bases = [b"Host: example.com", b"X-A:\t a\tb \t", b"N:"]
    for line in inputs(bases, count=40000):
        agree(parser._field_line, _old_field_line, line)


def _old_status_line(line: bytes) -> tuple[int, int, int, bytes] | None:
    match = STATUS_LINE.fullmatch(line)
    if match is None:
        return None
    major, minor, status, reason = match.groups()
    return int(major), int(minor), int(status), reason or b""


def test_status_lines() -> None:
    bases = [b"HTTP/1.1 200 OK", b"HTTP/1.0 404", b"HTTP/1.1 301 \tMoved \xe9"]
    for line in inputs(bases, count=40000):
        agree(parser._status_line, _old_status_line, line)


def _new_request_line(line: bytes) -> tuple[bytes, bytes, tuple[int, int]] | str:
    """What parse_request_head makes of a request line: its parts, or which error."""
    parts = parser._request_line(line)
    version = None if parts is None else parser._http_version(parts[2])
    if parts is None or version is None:
        if parts is not None and parts[2][:5] == b"HTTP/" and parser._is_digit(parts[2][5:]):
            return "505"
        return "400"
    return parts[0], parts[1], version


def _old_request_line(line: bytes) -> tuple[bytes, bytes, tuple[int, int]] | str:
    match = REQUEST_LINE.fullmatch(line)
    if match is None:
        loose = LOOSE_REQUEST_LINE.fullmatch(line)
        if loose is not None and LOOSE_VERSION.fullmatch(loose.group(3)):
            return "505"
        return "400"
    method, target, major, minor = match.groups()
    return method, target, (int(major), int(minor))


def test_request_lines() -> None:
    bases = [b"GET / HTTP/1.1", b"POST /a?b=c HTTP/1.0", b"OPTIONS * HTTP/2"]
    for line in inputs(bases, count=40000):
        agree(_new_request_line, _old_request_line, line)


def _old_chunk_size(line: bytes) -> int | None:
    match = CHUNK_SIZE.fullmatch(line)
    return None if match is None else int(match.group(1), 16)


def test_chunk_size_lines() -> None:
    bases = [b"1a", b"0", b"FFFF ;name=value", b"f" * 16]
    for line in inputs(bases, count=40000):
        if b"\n" not in line:  # the reader cuts a line at its first LF (see _chunk_size)
            agree(parser._chunk_size, _old_chunk_size, line)


def test_line_splitting() -> None:
    bases = [b"GET / HTTP/1.1\r\nA: b\nC: d\r\n", b"a\r\r\nb\n\r"]
    for head in inputs(bases):
        agree(parser._split_lines, LINE_END.split, head)


def _outcome(call: Callable[..., object], *args: object) -> object:
    """What ``call(*args)`` returns, or the type and message of what it raises."""
    try:
        return call(*args)
    except (errors.HTTPError, errors.RemoteProtocolError) as exc:
        return type(exc), str(exc)


def _old_field_block(block: bytes) -> list[tuple[str, str]] | None:
    text = block.decode("latin-1")
    return FIELD_PAIRS.findall(text) if FIELD_BLOCK.fullmatch(text) else None


def test_field_blocks() -> None:
    """The CRLF block fast path takes the fields the patterns took; a block they rejected
    raises what the line-by-line path raises."""
    rng = random.Random(18)
    lines = [b"Host: x", b"A:b", b"Cache-Control: no-cache , private ", b"E:", b"T:\ta b\t"]
    blocks = [b"\r\n".join(rng.sample(lines, rng.randint(1, len(lines)))) for _ in range(8)]
    for block in inputs(blocks, count=40000):
        if not block:
            continue  # an empty block is no fields, before either way looks at it
        limits = parser.DEFAULT_LIMITS
        fail, too_large = errors.BadRequest, errors.HeaderFieldsTooLarge
        got = _outcome(parser._parse_field_block, block, limits, fail, too_large)
        expected = _old_field_block(block)
        if expected is None:
            by_lines = _outcome(parser._parse_fields, block.split(b"\r\n"), limits, fail, too_large)
            assert isinstance(by_lines, tuple), block  # an error, not Headers
            assert got == by_lines, block
        else:
            assert isinstance(got, parser.Headers), block
            assert got.items() == expected, block


def test_content_length_values() -> None:
    for value in inputs([b"0", b"1234", b"12, 12"]):
        headers = parser.Headers([("Content-Length", value.decode("latin-1"))])
        got = _outcome(parser._content_length, headers, errors.BadRequest)
        parts = {p.strip().encode("latin-1") for p in value.decode("latin-1").split(",")}
        if len(parts) != 1:
            expected: object = (errors.BadRequest, "conflicting Content-Length values")
        else:
            (only,) = parts
            if DIGITS.fullmatch(only) and len(only) <= 18:
                expected = int(only)
            else:
                expected = (errors.BadRequest, "invalid Content-Length")
        assert got == expected, value


def test_host_values() -> None:
    for value in range(256):
        host = b"a" + bytes([value]) + b"b"
        head = b"GET / HTTP/1.1\r\nHost: " + host
        got = _outcome(parser.parse_request_head, head)
        if FIELD_LINE.fullmatch(b"Host: " + host) is None:
            assert isinstance(got, tuple), host
            assert got[0] is errors.BadRequest, host
        elif BAD_HOST_CHARS.search(host.decode("latin-1")):
            assert got == (errors.BadRequest, "invalid Host header field"), host
        else:
            assert isinstance(got, parser.Request), host


# ---------------------------------------------------------------------------------------------
# socketlab.http.writer


def _texts(count: int = 20000, seed: int = 19) -> Iterator[str]:
    """Every code point alone and inside a name, then seeded random texts, many of them
    non-ASCII."""
    for point in range(sys.maxunicode + 1):
        char = chr(point)
        yield char
        if point < 0x3000:
            yield "X-" + char + "y"
    rng = random.Random(seed)
    pool = "\t\n\r \x00\x1f\x7f\x80\x85\x9f\xa0\xe9\u2028\u3000\ud800\U0001f600-_:aZ09"
    for _ in range(count):
        yield "".join(
            rng.choice(pool) if rng.random() < 0.6 else chr(rng.randrange(0x250))
            for _ in range(rng.randrange(12))
        )


def test_writer_name_and_value_checks() -> None:
    for text in _texts():
        assert writer._is_token(text) == (NAME_TEXT.fullmatch(text) is not None), repr(text)
        assert writer._has_ctl(text) == (BAD_VALUE_TEXT.search(text) is not None), repr(text)
    assert not writer._is_token("")
    assert not writer._has_ctl("")


def _raises(call: Callable[[], object]) -> object:
    try:
        return call()
    except ValueError as exc:
        return str(exc)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("X-Ok", "a\tb \xe9", None),
        ("X Bad", "v", "invalid header name 'X Bad'"),
        ("", "v", "invalid header name ''"),
        ("X-\xe9", "v", "invalid header name 'X-\xe9'"),
        ("X-Split", "a\r\nSet-Cookie: x", "control character in the value of header 'X-Split'"),
        ("X-Nul", "a\x00", "control character in the value of header 'X-Nul'"),
        ("X-Del", "\x7f", "control character in the value of header 'X-Del'"),
        ("X-C1", "\x85\x9f", None),  # C1 controls are not CTLs: latin-1 passes them through
    ],
)
def test_check_field_messages(name: str, value: str, expected: str | None) -> None:
    assert _raises(lambda: writer.check_field(name, value)) == expected


def test_reason_phrases_and_request_heads() -> None:
    assert _raises(lambda: writer.status_line(200, "O\nK")) == (
        "control character in reason phrase 'O\\nK'"
    )
    assert _raises(lambda: writer.format_response_head(200, [], reason="\x00")) == (
        "control character in reason phrase '\\x00'"
    )
    assert writer.format_response_head(299, [("A", "b")], reason="Fine\tthanks") == (
        b"HTTP/1.1 299 Fine\tthanks\r\nA: b\r\n\r\n"
    )
    assert writer.format_request_head("GET", "/x", [("Host", "h")]) == (
        b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    assert _raises(lambda: writer.format_request_head("GET", "/", [("H\u0131", "h")])) == (
        "invalid header name 'H\u0131'"
    )


# ---------------------------------------------------------------------------------------------
# The browser's path, in a fresh interpreter

BROWSER_PATH = r"""
import sys
import socketlab.http
after_import = sorted(m for m in ("re", "enum") if m in sys.modules)
from socketlab.http import END, NEED_DATA, Data, ResponseParser
from socketlab.http.writer import format_request_head
head = format_request_head("GET", "/a?b=c", [("Host", "localhost:8080"), ("Accept", "*/*")])
assert head.startswith(b"GET /a?b=c HTTP/1.1\r\n")
p = ResponseParser()
for _ in range(3):
    p.expect("GET")
p.feed(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello")
p.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
       b"5;ext=1\r\nhello\r\n6 \r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
p.feed(b"HTTP/1.0 404 Not Found\nServer: x\n\nmissing")
p.feed_eof()
body = b""
ends = 0
while ends < 3:
    event = p.next_event()
    assert event is not NEED_DATA
    if isinstance(event, Data):
        body += event.data
    ends += event is END
assert (body, ends) == (b"hellohello worldmissing", 3), (body, ends)
after_use = sorted(m for m in ("re", "enum") if m in sys.modules)
print(after_import, after_use)
"""


def test_the_browser_path_never_imports_re() -> None:
    # -S: no site module, whose .pth files could import re themselves
    done = subprocess.run(
        [sys.executable, "-S", "-c", BROWSER_PATH],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(SERVICES)),
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[] []"
