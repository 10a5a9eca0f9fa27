"""The I/O-free parser on a request corpus fed whole, by line, by byte and in random chunks.

A parser that depends on how the network happened to split the bytes is broken; feeding the same
corpus every way is how that is caught (gunicorn's tests/requests corpus is replayed the same
way).
"""

from __future__ import annotations

import random

import pytest

from socketlab.http import errors
from socketlab.http.parser import (
    END,
    NEED_DATA,
    Data,
    Limits,
    Request,
    RequestParser,
    Response,
    ResponseParser,
)

SMALL = Limits(
    max_request_line=64, max_header_line=64, max_headers=5, max_head_bytes=256, max_body=32
)

# (name, raw bytes, expected): expected is a list of (method, target, body) for every complete
# request, or an int: the status of the HTTPError the parser must raise.
CORPUS: list[tuple[str, bytes, list[tuple[str, str, bytes]] | int]] = [
    ("simple get", b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n", [("GET", "/", b"")]),
    ("bare LF line ends (nc)", b"GET /a HTTP/1.1\nHost: lab\n\n", [("GET", "/a", b"")]),
    ("leading empty line", b"\r\nGET / HTTP/1.1\r\nHost: lab\r\n\r\n", [("GET", "/", b"")]),
    ("http/1.0 without host", b"GET /x HTTP/1.0\r\n\r\n", [("GET", "/x", b"")]),
    (
        "query kept",
        b"GET /get?a=1&b=%20 HTTP/1.1\r\nHost: l\r\n\r\n",
        [("GET", "/get?a=1&b=%20", b"")],
    ),
    (
        "absolute form",
        b"GET http://lab:8080/p?q HTTP/1.1\r\nHost: lab:8080\r\n\r\n",
        [("GET", "http://lab:8080/p?q", b"")],
    ),
    ("options asterisk", b"OPTIONS * HTTP/1.1\r\nHost: l\r\n\r\n", [("OPTIONS", "*", b"")]),
    (
        "ows and empty value",
        b"GET / HTTP/1.1\r\nHost:   lab  \r\nX-Empty:\r\n\r\n",
        [("GET", "/", b"")],
    ),
    (
        "pipelined",
        b"GET /1 HTTP/1.1\r\nHost: l\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: l\r\n\r\n"
        b"GET /3 HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n",
        [("GET", "/1", b""), ("HEAD", "/2", b""), ("GET", "/3", b"")],
    ),
    (
        "content-length body",
        b"POST /f HTTP/1.1\r\nHost: l\r\nContent-Length: 5\r\n\r\nhello",
        [("POST", "/f", b"hello")],
    ),
    (
        "repeated identical content-length",
        b"POST /f HTTP/1.1\r\nHost: l\r\nContent-Length: 2, 2\r\n\r\nhi",
        [("POST", "/f", b"hi")],
    ),
    (
        "chunked body",
        b"POST /c HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
        [("POST", "/c", b"hello world")],
    ),
    (
        "chunked with trailer then pipelined",
        b"POST /c HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\nGET /n HTTP/1.1\r\nHost: l\r\n\r\n",
        [("POST", "/c", b"abc"), ("GET", "/n", b"")],
    ),
    (
        "body then pipelined",
        b"PUT /p HTTP/1.1\r\nHost: l\r\nContent-Length: 3\r\n\r\nxyz"
        b"GET / HTTP/1.1\r\nHost: l\r\n\r\n",
        [("PUT", "/p", b"xyz"), ("GET", "/", b"")],
    ),
    # --- invalid ---------------------------------------------------------------------------
    ("http/0.9", b"GET /\r\n\r\n", 400),
    ("http/2.0", b"GET / HTTP/2.0\r\nHost: l\r\n\r\n", 505),
    ("http/3", b"GET / HTTP/3\r\nHost: l\r\n\r\n", 505),
    ("lowercase version", b"GET / http/1.1\r\nHost: l\r\n\r\n", 400),
    ("missing host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("two hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("invalid host", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("space before colon", b"GET / HTTP/1.1\r\nHost : l\r\n\r\n", 400),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: l\r\nX: a\r\n  b\r\n\r\n", 400),
    ("no colon", b"GET / HTTP/1.1\r\nHost: l\r\nnonsense\r\n\r\n", 400),
    ("bad method token", b"G@T / HTTP/1.1\r\nHost: l\r\n\r\n", 400),
    ("unknown method", b"BREW /pot HTTP/1.1\r\nHost: l\r\n\r\n", 501),
    ("double space", b"GET  / HTTP/1.1\r\nHost: l\r\n\r\n", 400),
    ("target without slash", b"GET index.html HTTP/1.1\r\nHost: l\r\n\r\n", 400),
    ("nul in value", b"GET / HTTP/1.1\r\nHost: l\r\nX: a\x00b\r\n\r\n", 400),
    ("bare cr in value", b"GET / HTTP/1.1\r\nHost: l\r\nX: a\rb\r\n\r\n", 400),
    ("request line too long", b"GET /" + b"a" * 100 + b" HTTP/1.1\r\nHost: l\r\n\r\n", 414),
    ("endless request line", b"GET /" + b"a" * 300, 414),
    ("header line too long", b"GET / HTTP/1.1\r\nHost: l\r\nX: " + b"v" * 80 + b"\r\n\r\n", 431),
    (
        "too many headers",
        b"GET / HTTP/1.1\r\nHost: l\r\n" + b"".join(b"X%d: v\r\n" % i for i in range(6)) + b"\r\n",
        431,
    ),
    ("endless head", b"GET / HTTP/1.1\r\n" + b"X: v\r\n" * 60, 431),
    (
        "content-length not a number",
        b"POST / HTTP/1.1\r\nHost: l\r\nContent-Length: 5x\r\n\r\n",
        400,
    ),
    ("negative content-length", b"POST / HTTP/1.1\r\nHost: l\r\nContent-Length: -1\r\n\r\n", 400),
    (
        "conflicting content-length",
        b"POST / HTTP/1.1\r\nHost: l\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        400,
    ),
    (
        "te and cl (smuggling)",
        b"POST / HTTP/1.1\r\nHost: l\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
        400,
    ),
    (
        "te not ending in chunked",
        b"POST / HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: gzip\r\n\r\n",
        400,
    ),
    (
        "te gzip then chunked",
        b"POST / HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        501,
    ),
    ("chunked in http/1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (
        "bad chunk size",
        b"POST / HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
    ),
    (
        "chunk without crlf",
        b"POST / HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n",
        400,
    ),
    ("body over limit", b"POST / HTTP/1.1\r\nHost: l\r\nContent-Length: 33\r\n\r\n", 413),
    (
        "chunked over limit",
        b"POST / HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: chunked\r\n\r\n21\r\n"
        + b"a" * 33
        + b"\r\n0\r\n\r\n",
        413,
    ),
    ("truncated body", b"POST / HTTP/1.1\r\nHost: l\r\nContent-Length: 10\r\n\r\nshort", 400),
    (
        "truncated chunked",
        b"POST / HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        400,
    ),
]


def split_whole(data: bytes) -> list[bytes]:
    return [data]


def split_lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def split_bytes(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def split_random(data: bytes) -> list[bytes]:
    rng = random.Random(len(data))  # deterministic per case, different across cases
    out, i = [], 0
    while i < len(data):
        step = rng.randint(1, 7)
        out.append(data[i : i + step])
        i += step
    return out


SPLITTERS = [split_whole, split_lines, split_bytes, split_random]


def run(pieces: list[bytes], limits: Limits = SMALL) -> list[tuple[str, str, bytes]] | int:
    parser = RequestParser(limits)
    done: list[tuple[str, str, bytes]] = []
    current: list[object] = []

    def drain() -> None:
        while True:
            event = parser.next_event()
            if event is NEED_DATA:
                return
            if isinstance(event, Request):
                current[:] = [event.method, event.target, b""]
            elif isinstance(event, Data):
                current[2] += event.data  # type: ignore[operator]
            elif event is END:
                done.append((current[0], current[1], current[2]))  # type: ignore[arg-type]
                current.clear()

    try:
        for piece in pieces:
            parser.feed(piece)
            drain()
        parser.feed_eof()
        drain()
    except errors.HTTPError as exc:
        return exc.status
    return done


@pytest.mark.parametrize("splitter", SPLITTERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(("name", "raw", "expected"), CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus(name: str, raw: bytes, expected: object, splitter: object) -> None:
    assert run(splitter(raw)) == expected  # type: ignore[operator]


def first_request(raw: bytes) -> Request:
    parser = RequestParser()
    parser.feed(raw)
    event = parser.next_event()
    assert isinstance(event, Request)
    return event


@pytest.mark.parametrize(
    ("raw", "keep_alive"),
    [
        (b"GET / HTTP/1.1\r\nHost: l\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: l\r\nConnection: Upgrade, Close\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", True),
    ],
)
def test_keep_alive_rules(raw: bytes, keep_alive: bool) -> None:
    assert first_request(raw).keep_alive is keep_alive


def test_request_fields_and_path_split() -> None:
    req = first_request(
        b"GET /a/b?x=1#frag HTTP/1.1\r\nHost: lab\r\nX-Multi: 1\r\nx-multi: 2\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    assert (req.path, req.query) == ("/a/b", "x=1#frag")
    assert req.headers.get("x-MULTI") == "1, 2"
    assert req.headers.as_dict()["X-Multi"] == "1, 2"
    assert req.expects_continue
    assert req.http_version == "HTTP/1.1"


def test_need_data_until_head_complete() -> None:
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\nHost: l\r\n")
    assert parser.next_event() is NEED_DATA
    parser.feed(b"\r\n")
    assert isinstance(parser.next_event(), Request)
    assert parser.next_event() is END
    assert parser.idle


def test_default_limits_accept_a_browser_sized_request() -> None:
    head = b"GET /" + b"p" * 4000 + b" HTTP/1.1\r\nHost: l\r\n" + b"Cookie: " + b"c" * 4000
    assert run([head + b"\r\n\r\n"], Limits()) == [("GET", "/" + "p" * 4000, b"")]


# --- responses (the browser's side) ---------------------------------------------------------


def read_response(raw: bytes, method: str = "GET", eof: bool = True) -> tuple[Response, bytes]:
    parser = ResponseParser()
    parser.expect(method)
    parser.feed(raw)
    if eof:
        parser.feed_eof()
    head = parser.next_event()
    assert isinstance(head, Response)
    body = b""
    while (event := parser.next_event()) is not END:
        assert isinstance(event, Data), event
        body += event.data
    return head, body


def test_response_content_length() -> None:
    head, body = read_response(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", eof=False)
    assert (head.status, head.reason, body, head.keep_alive) == (200, "OK", b"abc", True)


def test_response_chunked_and_close_delimited() -> None:
    _, body = read_response(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n"
    )
    assert body == b"abc"
    head, body = read_response(b"HTTP/1.0 200 OK\r\n\r\nuntil close")
    assert (head.close_delimited, head.keep_alive, body) == (True, False, b"until close")


def test_response_to_head_and_304_have_no_body() -> None:
    head, body = read_response(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", "HEAD", eof=False)
    assert body == b""
    head, body = read_response(b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n', eof=False)
    assert (head.status, body) == (304, b"")


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        b"HTTP/1.1 2xx OK\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-",
        b"",
    ],
)
def test_malformed_or_truncated_responses_raise(raw: bytes) -> None:
    with pytest.raises(errors.RemoteProtocolError):
        read_response(raw)


def test_interim_100_then_final_response() -> None:
    parser = ResponseParser()
    parser.expect("POST")
    parser.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    first = parser.next_event()
    second = parser.next_event()
    assert isinstance(first, Response)
    assert first.status == 100
    assert isinstance(second, Response)
    assert second.status == 201
    assert parser.next_event() is END
