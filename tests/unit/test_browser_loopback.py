"""The browser against real servers on 127.0.0.1: the lab's threaded-web and the standard
library's http.server (HTTP/1.0 and HTTP/1.1), plus the 6-connections-per-host bound."""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from socketlab.browser import Browser, Caps, Deadlines, Entry, Options
from socketlab.browser.report import format_page, summary
from tests.support.inprocess_servers import threaded_web
from tests.support.paths import WWW
from tests.support.scripted_server import Answer, Seen, http_response, scripted

OPTIONS = Options(deadlines=Deadlines(connect=2.0, read=5.0, total=20.0))
EXPECTED = {"/", "/css/site.css", "/favicon.ico", "/js/site.js", "/img/two-hosts.png"}


@pytest.fixture(scope="module")
def lab() -> Iterator[str]:
    """threaded-web serving the lab's site on 127.0.0.1 with a kernel-chosen port."""
    with threaded_web() as base:
        yield base


def paths(page_entries: list[Entry], base: str) -> set[str]:
    return {entry.url.replace(base, "") for entry in page_entries}


def test_threaded_web_index_loads_over_fewer_connections_than_requests(lab: str) -> None:
    with Browser(OPTIONS) as browser:
        page = browser.load(lab + "/")
    assert page.ok, format_page(page)
    assert paths(page.entries, lab) == EXPECTED
    assert all(entry.status == 200 for entry in page.entries)
    figures = summary(page)
    assert figures["requests"] == 5
    assert 1 <= figures["connections_opened"] < figures["requests"]
    assert figures["requests_on_reused_connections"] >= 1
    port = int(lab.rsplit(":", 1)[1])
    for entry in page.entries:
        assert entry.remote == ("127.0.0.1", port)
        assert entry.local is not None
        assert entry.local[0] == "127.0.0.1"
    assert page.title == "socketlab: see what your sockets do"
    assert page.content_loaded_ms <= page.load_ms


def test_whoami_probe_matches_every_local_port(lab: str) -> None:
    """The server's /whoami answer on each connection names the port the browser reports."""
    options = Options(deadlines=OPTIONS.deadlines, probe_whoami=True)
    with Browser(options) as browser:
        page = browser.load(lab + "/")
    probes = [e for e in page.entries if e.kind == "whoami"]
    reported_ports = {e.local[1] for e in page.entries if e.local}
    assert probes
    assert all(p.status == 200 for p in probes)
    assert {c.server_view for c in page.connections} == {c.local for c in page.connections}
    assert {c.local[1] for c in page.connections} == reported_ports
    text = format_page(page)
    for conn in page.connections:
        assert f"server saw 127.0.0.1:{conn.local[1]} (pid {os.getpid()})" in text


def test_keep_alive_spans_pages(lab: str) -> None:
    with Browser(OPTIONS) as browser:
        browser.load(lab + "/")
        second = browser.load(lab + "/tcp.html")
    assert second.ok, format_page(second)
    # The second page's document goes over a connection the first page opened. Its two
    # resources are fetched at once: if the first page happened to need only one connection,
    # one of them opens a second, so the bound is "fewer new connections than requests".
    document = next(e for e in second.entries if e.url == lab + "/tcp.html")
    assert document.reused, format_page(second)
    assert summary(second)["connections_opened"] < len(second.entries), format_page(second)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output clean."""


class _Quiet11(_Quiet):
    protocol_version = "HTTP/1.1"


@pytest.mark.parametrize(
    ("handler", "reuse"), [(_Quiet, False), (_Quiet11, True)], ids=["http/1.0", "http/1.1"]
)
def test_stdlib_http_server(handler: type[SimpleHTTPRequestHandler], reuse: bool) -> None:
    """http.server answers HTTP/1.0 by default (a connection per request, like the seed's
    servers); with protocol_version HTTP/1.1 it keeps connections alive."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(WWW)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        with Browser(OPTIONS) as browser:
            page = browser.load(base + "/")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert page.ok, format_page(page)
    assert paths(page.entries, base) == EXPECTED
    figures = summary(page)
    if reuse:
        assert figures["connections_opened"] < figures["requests"]
    else:
        assert figures["connections_opened"] == figures["requests"] == 5
        assert all(e.http_version == "HTTP/1.0" for e in page.entries)


@pytest.mark.parametrize("limit", [6, 2])
def test_at_most_n_parallel_connections_per_host(limit: int) -> None:
    """20 slow images: the server never sees more than `limit` connections at once, and the
    images load in about 20 / limit rounds, not 20."""
    images = "".join(f'<img src="/img/{i}.png">' for i in range(20)).encode()
    delay = 0.15

    def script(request: Seen) -> Answer:
        if request.target == "/":
            return Answer(
                http_response(200, images, [("Content-Type", "text/html"), ("Link", "ignored")])
            )
        return Answer(http_response(200, b"png"), delay=delay)

    options = Options(
        deadlines=Deadlines(connect=2.0, read=5.0, total=30.0),
        caps=Caps(connections_per_host=limit),
    )
    with scripted(script) as server, Browser(options) as browser:
        started = time.monotonic()
        page = browser.load(server.base + "/")
        elapsed = time.monotonic() - started
    assert page.ok, format_page(page)
    assert server.max_active == limit
    assert server.connections == limit
    rounds = -(-21 // limit)  # 20 images and the favicon
    assert elapsed < rounds * delay + 2.0
    assert elapsed >= (rounds - 1) * delay
    blocked = [e.timings.blocked for e in page.entries if e.kind == "image"]
    assert max(blocked) > delay / 2  # some images waited for a free connection


def test_resource_cap_skips_and_says_so() -> None:
    images = "".join(f'<img src="/{i}.png">' for i in range(10)).encode()

    def script(request: Seen) -> Answer:
        if request.target == "/":
            return Answer(http_response(200, images, [("Content-Type", "text/html")]))
        return Answer(http_response(200, b"png"))

    options = Options(caps=Caps(resources=4))
    with scripted(script) as server, Browser(options) as browser:
        page = browser.load(server.base + "/")
    assert len(page.entries) == 5
    assert page.skipped == 7  # 6 images and the favicon
    assert not page.ok
    assert "7 resources not fetched (resource cap)" in format_page(page)


def test_stylesheet_imports_and_urls_are_fetched_relative_to_the_sheet() -> None:
    html = b'<link rel=stylesheet href="/css/a.css"><style>@import "/css/b.css";</style>'
    sheets = {
        "/css/a.css": b"@import url(c.css); body { background: url(../img/bg.png) }",
        "/css/b.css": b"@font-face { src: url(/fonts/f.woff2) }",
        "/css/c.css": b"p { background: url('dot.png') } q { background: url(../img/bg.png) }",
    }

    def script(request: Seen) -> Answer:
        if request.target == "/":
            return Answer(http_response(200, html, [("Content-Type", "text/html")]))
        if request.target in sheets:
            return Answer(
                http_response(200, sheets[request.target], [("Content-Type", "text/css")])
            )
        return Answer(http_response(200, b"bin", [("Content-Type", "image/png")]))

    with scripted(script) as server, Browser(OPTIONS) as browser:
        page = browser.load(server.base + "/")
    assert page.ok, format_page(page)
    kinds = {e.url.replace(server.base, ""): e.kind for e in page.entries}
    assert kinds == {
        "/": "document",
        "/css/a.css": "stylesheet",
        "/css/b.css": "stylesheet",
        "/css/c.css": "stylesheet",
        "/img/bg.png": "image",
        "/fonts/f.woff2": "font",
        "/css/dot.png": "image",
        "/favicon.ico": "icon",
    }
    by_url = {e.url.replace(server.base, ""): e for e in page.entries}
    assert by_url["/css/dot.png"].initiator == server.base + "/css/c.css"
    referer = dict(by_url["/css/dot.png"].request_headers)["Referer"]
    assert referer == server.base + "/css/c.css"


def test_missing_favicon_is_not_a_failure() -> None:
    def script(request: Seen) -> Answer:
        if request.target == "/":
            return Answer(http_response(200, b"<p>hi</p>", [("Content-Type", "text/html")]))
        return Answer(http_response(404, b"no", reason="Not Found"))

    with scripted(script) as server, Browser(OPTIONS) as browser:
        page = browser.load(server.base + "/")
    assert page.entries[-1].url.endswith("/favicon.ico")
    assert page.entries[-1].status == 404
    assert page.ok
    assert "(ignored: optional)" in format_page(page)


def test_browser_like_request_headers() -> None:
    with (
        scripted(lambda _: Answer(http_response(200, b"<p>x</p>"))) as server,
        Browser(Options(subresources=False)) as browser,
    ):
        browser.load(server.base + "/p?q=1")
    (seen,) = server.seen
    assert seen.method == "GET"
    assert seen.target == "/p?q=1"
    assert seen.headers["host"] == f"127.0.0.1:{server.port}"
    assert seen.headers["user-agent"].startswith("socketlab-browser/")
    assert seen.headers["accept"].startswith("text/html")
    assert seen.headers["accept-encoding"] == "identity"
    assert seen.headers["connection"] == "keep-alive"
