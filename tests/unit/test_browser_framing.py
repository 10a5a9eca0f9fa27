"""Responses framed every way, and broken every way, from servers that send exact bytes.

Each case runs a :class:`ScriptedServer` on 127.0.0.1 (port 0) and loads one URL with
subresources off; a failure must land on the request's row as the right error class with a
reason a person can read, and the browser must go on working afterwards.
"""

from __future__ import annotations

import socket
import time

import pytest

from socketlab.browser import Browser, Caps, Deadlines, Options
from socketlab.browser import errors as e
from socketlab.browser.records import Entry, PageLoad
from tests.support.scripted_server import Answer, Seen, closed_port, http_response, scripted

FAST = Options(deadlines=Deadlines(connect=2.0, read=2.0, total=10.0), subresources=False)


def load_one(
    data: bytes, *, options: Options = FAST, close: bool = False, pieces: int = 0
) -> tuple[PageLoad, Entry]:
    def script(_: Seen) -> Answer:
        return Answer(data, close=close, pieces=pieces)

    with scripted(script) as server, Browser(options) as browser:
        page = browser.load(server.base + "/")
    return page, page.entries[0]


GOOD = [
    pytest.param(http_response(200, b"hello"), b"hello", True, id="content-length"),
    pytest.param(http_response(204, b"", length=False), b"", True, id="204-no-body"),
    pytest.param(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n",
        b"hello, world",
        True,
        id="chunked-with-extension-and-trailer",
    ),
    pytest.param(
        b"HTTP/1.1 200 OK\r\n\r\nuntil close", b"until close", False, id="close-delimited"
    ),
    pytest.param(
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", b"ok", False, id="http-1.0-no-keep-alive"
    ),
    pytest.param(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
        b"ok",
        False,
        id="connection-close",
    ),
    pytest.param(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
        b"x",
        True,
        id="interim-100",
    ),
    pytest.param(
        b"HTTP/1.1 200 OK\nContent-Length: 3\n\nbare", b"bar", False, id="bare-lf-and-extra-bytes"
    ),
]


@pytest.mark.parametrize(("data", "body", "reusable"), GOOD)
def test_good_framing(data: bytes, body: bytes, reusable: bool) -> None:
    close = not reusable and b"Content-Length" in data and b"close" not in data
    page, entry = load_one(data, close=close or b"until close" in data)
    assert entry.error is None, entry.problem
    assert entry.body == body
    assert page.document is entry


def test_response_split_into_single_bytes() -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    _, entry = load_one(data, pieces=1)
    assert entry.error is None, entry.problem
    assert entry.body == b"abcde"
    assert entry.head_bytes == len(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert entry.wire_bytes == len(data)


BAD = [
    pytest.param(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        "invalid chunk size line",
        id="bad-chunk-size",
    ),
    pytest.param(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
        "chunk data not followed by CRLF",
        id="chunk-without-crlf",
    ),
    pytest.param(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort",
        "connection closed inside a chunked body",
        id="truncated-chunk",
    ),
    pytest.param(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        "connection closed inside a chunked body",
        id="missing-last-chunk",
    ),
    pytest.param(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
        "connection closed after 5 of 10 body bytes",
        id="short-body",
    ),
    pytest.param(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Length: 11\r\n\r\n",
        "conflicting Content-Length",
        id="conflicting-lengths",
    ),
    pytest.param(
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "invalid Content-Length",
        id="negative-length",
    ),
    pytest.param(b"HTTP/1.1 OK\r\n\r\n", "malformed status line", id="bad-status-line"),
    pytest.param(b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "malformed status line", id="not-http"),
    pytest.param(b"HTTP/2.0 200 OK\r\n\r\n", "unsupported HTTP version", id="http-2"),
    pytest.param(
        b"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n",
        "invalid header field name",
        id="space-in-field-name",
    ),
    pytest.param(
        b"HTTP/1.1 200 OK\r\nContent-Len",
        "connection closed inside a response head",
        id="truncated-head",
    ),
    pytest.param(b"", "connection closed before a response", id="closed-without-answer"),
    pytest.param(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", "101", id="unasked-upgrade"
    ),
]


@pytest.mark.parametrize(("data", "reason"), BAD)
def test_bad_framing_is_a_protocol_error_on_the_row(data: bytes, reason: str) -> None:
    page, entry = load_one(data, close=True)
    assert isinstance(entry.error, e.ProtocolError), entry.problem
    assert reason in str(entry.error)
    assert entry.problem.startswith("protocol: ")
    assert not page.ok
    assert entry.connection_id is not None  # the row still says which connection it was


def test_read_timeout() -> None:
    options = Options(deadlines=Deadlines(read=0.3, total=5.0), subresources=False)

    def silent(_: Seen) -> Answer:
        return Answer(b"", delay=2.0)

    with scripted(silent) as server, Browser(options) as browser:
        started = time.monotonic()
        page = browser.load(server.base + "/")
        elapsed = time.monotonic() - started
    entry = page.entries[0]
    assert isinstance(entry.error, e.ReadTimeout)
    assert "sent nothing for 0.3 s" in str(entry.error)
    assert elapsed < 1.5


def test_page_deadline_cuts_a_trickling_response() -> None:
    """A server that sends a byte every 5 ms never trips the read timeout; the page deadline
    still ends the load."""
    options = Options(deadlines=Deadlines(read=2.0, total=0.5), subresources=False)
    data = http_response(200, b"x" * 400)
    with scripted(lambda _: Answer(data, pieces=1)) as server, Browser(options) as browser:
        started = time.monotonic()
        page = browser.load(server.base + "/")
        elapsed = time.monotonic() - started
    entry = page.entries[0]
    assert isinstance(entry.error, e.PageTimeout), entry.problem
    assert elapsed < 1.5


def test_connection_refused() -> None:
    port = closed_port()
    with Browser(FAST) as browser:
        page = browser.load(f"http://127.0.0.1:{port}/")
    entry = page.entries[0]
    assert isinstance(entry.error, e.ConnectionRefused)
    assert str(entry.error) == f"connection refused by 127.0.0.1:{port}"
    assert entry.problem.startswith("refused: ")
    assert page.document is None
    assert not page.ok


def test_unknown_host_uses_the_resolver_and_reports_its_reason() -> None:
    """No DNS query leaves the machine: the resolver is injected."""

    def resolver(host: str, port: int) -> list[tuple[int, tuple[str, int]]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with Browser(FAST, resolver=resolver) as browser:
        page = browser.load("http://no-such-host.invalid/")
    entry = page.entries[0]
    assert isinstance(entry.error, e.UnknownHost)
    assert "cannot resolve 'no-such-host.invalid': Name or service not known" in str(entry.error)
    assert entry.timings.dns >= 0
    assert entry.timings.connect == -1


def test_resolver_result_is_cached_per_host() -> None:
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[tuple[int, tuple[str, int]]]:
        calls.append(host)
        return [(socket.AF_INET, ("127.0.0.1", port))]

    data = http_response(200, b"ok", [("Connection", "close")])
    with (
        scripted(lambda _: Answer(data, close=True)) as server,
        Browser(FAST, resolver=resolver) as browser,
    ):
        first = browser.load(f"http://lab.test:{server.port}/")
        second = browser.load(f"http://lab.test:{server.port}/")
    assert calls == ["lab.test"]
    assert first.entries[0].timings.dns >= 0
    assert second.entries[0].timings.dns == -1
    assert first.entries[0].request_headers[0] == ("Host", f"lab.test:{server.port}")


def test_byte_cap() -> None:
    options = Options(caps=Caps(bytes=100), subresources=False)
    _, entry = load_one(http_response(200, b"x" * 1000), options=options)
    assert isinstance(entry.error, e.CapExceeded)
    assert "byte cap of 100 bytes" in str(entry.error)


def test_stale_keep_alive_connection_is_retried_once() -> None:
    """The server keeps the first connection open but closes it, unanswered, at the next
    request (as an idle timeout racing a request would); the browser retries on a new one."""

    def script(request: Seen) -> Answer:
        if request.connection == 1 and len([s for s in server.seen if s.connection == 1]) > 1:
            return Answer(b"", close=True)
        return Answer(http_response(200, b"ok"))

    with scripted(script) as server, Browser(FAST) as browser:
        first = browser.load(server.base + "/one")
        second = browser.load(server.base + "/two")
    assert first.ok
    assert second.ok
    entry = second.entries[0]
    assert entry.retried
    assert entry.connection_id == 2
    assert not entry.reused
    assert server.connections == 2


def test_post_is_not_retried_on_a_stale_connection() -> None:
    def script(request: Seen) -> Answer:
        if request.method == "POST":
            return Answer(b"", close=True)
        return Answer(http_response(200, b"ok"))

    with scripted(script) as server, Browser(FAST) as browser:
        browser.load(server.base + "/")
        page = browser.load(server.base + "/form", method="POST", form={"a": "1"})
    entry = page.entries[0]
    assert isinstance(entry.error, e.StaleConnection)
    assert not entry.retried
    assert len([s for s in server.seen if s.method == "POST"]) == 1


def test_closed_idle_connection_is_not_reused() -> None:
    """A server that closes after answering (without saying so) leaves a connection that the
    pool notices is dead before using it: no error, a new connection."""
    with (
        scripted(lambda _: Answer(http_response(200, b"ok"), close=True)) as server,
        Browser(FAST) as browser,
    ):
        first = browser.load(server.base + "/")
        time.sleep(0.1)
        second = browser.load(server.base + "/")
    assert first.ok
    assert second.ok
    assert second.entries[0].connection_id == 2
    assert not second.entries[0].retried


def test_failing_resource_keeps_its_row_and_the_rest_loads() -> None:
    page_html = (
        b'<img src="/good.png"><img src="/short.png"><img src="/bad.png">'
        b'<link rel=icon href="/i.ico">'
    )

    def script(request: Seen) -> Answer:
        if request.target == "/":
            return Answer(http_response(200, page_html, [("Content-Type", "text/html")]))
        if request.target == "/short.png":
            return Answer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", close=True)
        if request.target == "/bad.png":
            return Answer(b"HTTP/1.1 2OO OK\r\n\r\n", close=True)
        return Answer(http_response(200, b"PNG", [("Content-Type", "image/png")]))

    options = Options(deadlines=Deadlines(connect=2.0, read=2.0, total=10.0))
    with scripted(script) as server, Browser(options) as browser:
        page = browser.load(server.base + "/")
    by_url = {entry.url.rsplit("/", 1)[1]: entry for entry in page.entries}
    assert set(by_url) == {"", "good.png", "short.png", "bad.png", "i.ico"}
    assert by_url["good.png"].body == b"PNG"
    assert by_url["i.ico"].error is None
    assert "connection closed after 4 of 10 body bytes" in by_url["short.png"].problem
    assert "malformed status line" in by_url["bad.png"].problem
    assert {x.url.rsplit("/", 1)[1] for x in page.failures} == {"short.png", "bad.png"}
    assert not page.ok
