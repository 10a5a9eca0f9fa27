"""The browser's requests share one event loop: what that must not break.

A page's requests run as tasks on one thread. These tests pin down the parts of that design a
thread per connection got for free: a slow name lookup holds up only its own host, the page's
deadline reaches a request waiting for a connection, and abort() from another thread ends
every request at once, those in flight and those still waiting.
"""

from __future__ import annotations

import socket
import threading
import time

from socketlab.browser import Browser, Caps, Deadlines, Options
from socketlab.browser import errors as e
from tests.support.scripted_server import Answer, Seen, http_response, scripted

HTML = [("Content-Type", "text/html")]


def test_a_slow_lookup_holds_up_only_its_own_host() -> None:
    """The page's own images load while another host's name is still being looked up."""
    lookup_s = 0.6
    looked_up = threading.Event()

    def resolver(host: str, port: int) -> list[tuple[int, tuple[str, int]]]:
        time.sleep(lookup_s)  # a slow DNS server
        looked_up.set()
        return [(socket.AF_INET, ("127.0.0.1", port))]

    finished_before_lookup: list[str] = []

    def script(request: Seen) -> Answer:
        if request.target == "/":
            page = (
                f'<img src="/a.png"><img src="/b.png"><img src="http://slow.test:{server.port}/c.png">'
                '<link rel=icon href="/i.ico">'
            ).encode()
            return Answer(http_response(200, page, HTML))
        if not looked_up.is_set():
            finished_before_lookup.append(request.target)
        return Answer(http_response(200, b"png"))

    options = Options(deadlines=Deadlines(connect=2.0, read=2.0, total=10.0))
    with scripted(script) as server, Browser(options, resolver=resolver) as browser:
        page = browser.load(server.base + "/")
    assert page.ok, [entry.problem for entry in page.failures]
    assert {"/a.png", "/b.png", "/i.ico"} <= set(finished_before_lookup)
    slow = next(entry for entry in page.entries if entry.url.endswith("/c.png"))
    assert slow.timings.dns >= lookup_s * 1000 * 0.9


def test_a_lookup_that_never_answers_ends_at_the_page_deadline() -> None:
    release = threading.Event()

    def resolver(host: str, port: int) -> list[tuple[int, tuple[str, int]]]:
        release.wait(10.0)  # a DNS server that never answers (freed when the test ends)
        return [(socket.AF_INET, ("127.0.0.1", port))]

    options = Options(deadlines=Deadlines(connect=2.0, read=2.0, total=0.5))
    try:
        with Browser(options, resolver=resolver) as browser:
            started = time.monotonic()
            page = browser.load("http://silent.test/")
            elapsed = time.monotonic() - started
    finally:
        release.set()
    entry = page.entries[0]
    assert isinstance(entry.error, e.PageTimeout), entry.problem
    assert "while looking up 'silent.test'" in str(entry.error)
    assert 0.4 < elapsed < 1.5


def test_the_page_deadline_reaches_a_request_waiting_for_a_connection() -> None:
    """One connection per host, and the first image takes longer than the page may: the image
    queued behind it fails with the page deadline, saying what it was waiting for."""

    def script(request: Seen) -> Answer:
        if request.target == "/":
            return Answer(http_response(200, b'<img src="/slow.png"><img src="/next.png">', HTML))
        if request.target == "/slow.png":
            return Answer(http_response(200, b"png"), delay=1.5)
        return Answer(http_response(200, b"png"))

    options = Options(
        deadlines=Deadlines(connect=2.0, read=5.0, total=0.6),
        caps=Caps(connections_per_host=1),
    )
    with scripted(script) as server, Browser(options) as browser:
        started = time.monotonic()
        page = browser.load(server.base + "/")
        elapsed = time.monotonic() - started
    by_path = {entry.url.rsplit("/", 1)[1]: entry for entry in page.entries}
    assert isinstance(by_path["slow.png"].error, e.PageTimeout)
    waiting = by_path["next.png"].error
    assert isinstance(waiting, e.PageTimeout)
    assert "while waiting for one of the 1 connections" in str(waiting)
    assert elapsed < 1.2  # at the deadline, not when the slow image would have come


def test_abort_from_another_thread_ends_every_request_at_once() -> None:
    """Two requests in flight on a server that takes seconds, three waiting for a connection:
    abort() ends all of them as cancelled, in well under the server's delay."""
    images = "".join(f'<img src="/{i}.png">' for i in range(5)).encode()
    in_flight = threading.Semaphore(0)

    def script(request: Seen) -> Answer:
        if request.target == "/":
            return Answer(http_response(200, images, HTML))
        in_flight.release()
        return Answer(http_response(200, b"png"), delay=3.0)

    options = Options(
        deadlines=Deadlines(connect=2.0, read=10.0, total=30.0),
        caps=Caps(connections_per_host=2),
    )
    with scripted(script) as server, Browser(options) as browser:

        def abort_when_busy() -> None:
            for _ in range(2):
                in_flight.acquire(timeout=5.0)
            browser.abort()

        aborter = threading.Thread(target=abort_when_busy)
        aborter.start()
        started = time.monotonic()
        page = browser.load(server.base + "/")
        elapsed = time.monotonic() - started
        aborter.join()
    assert elapsed < 1.5
    resources = [entry for entry in page.entries if entry.kind != "document"]
    assert len(resources) == 6  # five images and the favicon
    assert all(isinstance(entry.error, e.Cancelled) for entry in resources), [
        entry.problem for entry in resources
    ]


def test_a_browser_loads_pages_one_after_another_on_its_kept_connections() -> None:
    """The event loop lives as long as the browser: the second page reuses the first one's
    connection, and closing the browser closes the loop and the connection."""
    with (
        scripted(lambda _: Answer(http_response(200, b"ok"))) as server,
        Browser(Options(subresources=False)) as browser,
    ):
        first = browser.load(server.base + "/one")
        second = browser.load(server.base + "/two")
    assert first.ok
    assert second.ok
    assert second.entries[0].reused
    assert second.entries[0].connection_id == first.entries[0].connection_id
    assert server.connections == 1
