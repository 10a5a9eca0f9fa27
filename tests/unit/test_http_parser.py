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
from tests.support.http_corpus import CORPUS, SMALL


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
