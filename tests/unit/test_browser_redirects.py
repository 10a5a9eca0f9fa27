"""Redirects (socketlab.browser.redirects and the browser following them)."""

from __future__ import annotations

import pytest

from socketlab.browser import Browser, Caps, Deadlines, Options, urls
from socketlab.browser import errors as e
from socketlab.browser.redirects import is_redirect, next_hop
from tests.support.scripted_server import Answer, Seen, http_response, scripted

FAST = Options(deadlines=Deadlines(connect=2.0, read=2.0, total=10.0), subresources=False)
BASE = urls.parse("http://h/a/b")


@pytest.mark.parametrize(
    ("status", "method", "next_method", "keeps_body"),
    [
        (301, "GET", "GET", False),
        (301, "POST", "GET", False),
        (302, "POST", "GET", False),
        (302, "HEAD", "HEAD", False),
        (303, "POST", "GET", False),
        (303, "HEAD", "HEAD", False),
        (307, "POST", "POST", True),
        (308, "POST", "POST", True),
        (307, "GET", "GET", False),
    ],
)
def test_method_rewriting(status: int, method: str, next_method: str, keeps_body: bool) -> None:
    body = b"a=1" if method == "POST" else b""
    ctype = "application/x-www-form-urlencoded" if body else None
    hop = next_hop(method, BASE, status, "../c?x=1", body, ctype)
    assert hop.method == next_method
    assert str(hop.url) == "http://h/c?x=1"
    assert hop.body == (body if keeps_body else b"")
    assert (hop.content_type is not None) == (keeps_body and bool(body))


@pytest.mark.parametrize(
    ("status", "location", "expected"),
    [
        (301, "/x", True),
        (308, "/x", True),
        (300, "/x", False),
        (304, "/x", False),
        (302, None, False),
        (302, "  ", False),
        (200, "/x", False),
    ],
)
def test_is_redirect(status: int, location: str | None, expected: bool) -> None:
    assert is_redirect(status, location) is expected


@pytest.mark.parametrize("location", ["https://h/secure", "ftp://h/x", "/a b", "http://h/\x01"])
def test_refused_locations(location: str) -> None:
    with pytest.raises(e.RedirectRefused):
        next_hop("GET", BASE, 302, location, b"", None)


def redirect(status: int, location: str, extra: list[tuple[str, str]] | None = None) -> Answer:
    return Answer(
        http_response(status, b"", [("Location", location), *(extra or [])], reason="Moved")
    )


def test_follows_a_chain_and_reports_each_hop() -> None:
    def script(request: Seen) -> Answer:
        if request.target == "/old":
            return redirect(301, "/middle")
        if request.target == "/middle":
            return redirect(302, "new?x=1")
        return Answer(http_response(200, b"here", [("Content-Type", "text/plain")]))

    with scripted(script) as server, Browser(FAST) as browser:
        page = browser.load(server.base + "/old")
    assert [(x.status, x.url.replace(server.base, "")) for x in page.entries] == [
        (301, "/old"),
        (302, "/middle"),
        (200, "/new?x=1"),
    ]
    assert page.entries[0].redirect_to == server.base + "/middle"
    assert page.document is page.entries[-1]
    assert page.ok
    assert page.text == "here"
    assert server.connections == 1  # all hops on one kept-alive connection


def test_post_redirect_get_and_307_keeps_the_body() -> None:
    def script(request: Seen) -> Answer:
        if request.target == "/form":
            return redirect(303, "/done")
        if request.target == "/api":
            return redirect(307, "/api2")
        return Answer(http_response(200, request.method.encode() + b" " + request.body))

    with scripted(script) as server, Browser(FAST) as browser:
        prg = browser.load(server.base + "/form", method="POST", form={"u": "me"})
        kept = browser.load(server.base + "/api", method="POST", form={"u": "me"})
    assert prg.document is not None
    assert prg.document.body == b"GET "
    assert kept.document is not None
    assert kept.document.body == b"POST u=me"
    seen = {(s.method, s.target): s for s in server.seen}
    assert "content-length" not in seen[("GET", "/done")].headers
    assert seen[("POST", "/api2")].headers["content-type"] == "application/x-www-form-urlencoded"


def test_redirect_cap() -> None:
    options = Options(caps=Caps(redirects=3), subresources=False)
    with scripted(lambda r: redirect(302, r.target + "x")) as server, Browser(options) as browser:
        page = browser.load(server.base + "/loop")
    assert len(page.entries) == 4  # the request and 3 redirects followed
    last = page.entries[-1]
    assert isinstance(last.error, e.TooManyRedirects)
    assert "gave up after 3 redirects" in last.problem
    assert page.document is None
    assert not page.ok


def test_redirect_to_https_is_refused_on_its_row() -> None:
    with (
        scripted(lambda _: redirect(301, "https://example.test/")) as server,
        Browser(FAST) as browser,
    ):
        page = browser.load(server.base + "/")
    (entry,) = page.entries
    assert entry.status == 301
    assert isinstance(entry.error, e.RedirectRefused)
    assert "only http://" in entry.problem


def test_3xx_without_location_is_final() -> None:
    with (
        scripted(lambda _: Answer(http_response(300, b"choose"))) as server,
        Browser(FAST) as browser,
    ):
        page = browser.load(server.base + "/")
    assert len(page.entries) == 1
    assert page.document is page.entries[0]
    assert page.ok  # a 300 is not an error status


def test_cookie_set_on_a_redirect_is_sent_to_the_next_hop() -> None:
    def script(request: Seen) -> Answer:
        if request.target == "/login":
            return redirect(302, "/home", [("Set-Cookie", "sid=abc; Path=/; HttpOnly")])
        return Answer(http_response(200, request.headers.get("cookie", "-").encode()))

    with scripted(script) as server, Browser(FAST) as browser:
        page = browser.load(server.base + "/login")
    assert page.document is not None
    assert page.document.body == b"sid=abc"
