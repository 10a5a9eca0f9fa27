"""The cookie jar (RFC 6265) and cookies on the wire."""

from __future__ import annotations

import pytest

from socketlab.browser import Browser, Deadlines, Options, urls
from socketlab.browser.cookies import (
    MAX_COOKIES_PER_HOST,
    CookieJar,
    default_path,
    domain_match,
    parse_set_cookie,
    path_match,
)
from tests.support.scripted_server import Answer, Seen, http_response, scripted

NOW = 1_800_000_000.0
SITE = urls.parse("http://www.lab.test/app/page")


def jar_with(*headers: str, url: urls.URL = SITE) -> CookieJar:
    jar = CookieJar()
    jar.store(url, list(headers), now=NOW)
    return jar


def cookie_for(jar: CookieJar, url: str, now: float = NOW) -> str | None:
    return jar.header_for(urls.parse(url), now=now)


def test_host_only_cookie_with_default_path() -> None:
    jar = jar_with("a=1")
    assert cookie_for(jar, "http://www.lab.test/app/other") == "a=1"
    assert cookie_for(jar, "http://www.lab.test/app") == "a=1"
    assert cookie_for(jar, "http://www.lab.test/") is None  # default path is /app
    assert cookie_for(jar, "http://sub.www.lab.test/app/x") is None  # host-only
    assert cookie_for(jar, "http://www.lab.test:8080/app/x") == "a=1"  # cookies ignore ports


def test_domain_cookie_goes_to_subdomains_and_bad_domains_are_rejected() -> None:
    jar = jar_with("d=1; Domain=.lab.test; Path=/", "x=1; Domain=other.test; Path=/")
    assert cookie_for(jar, "http://lab.test/") == "d=1"
    assert cookie_for(jar, "http://deep.www.lab.test/") == "d=1"
    assert cookie_for(jar, "http://other.test/") is None


def test_ip_hosts_match_only_themselves() -> None:
    ip = urls.parse("http://10.0.0.5/")
    assert jar_with("a=1; Domain=0.0.5", url=ip).all() == []
    assert cookie_for(jar_with("a=1", url=ip), "http://10.0.0.5/") == "a=1"


def test_expiry_max_age_and_deletion() -> None:
    jar = jar_with(
        "short=1; Max-Age=10; Path=/", "long=2; Expires=Wed, 21 Oct 2099 07:28:00 GMT; Path=/"
    )
    assert cookie_for(jar, "http://www.lab.test/") == "short=1; long=2"
    assert cookie_for(jar, "http://www.lab.test/", now=NOW + 11) == "long=2"
    jar.store(SITE, ["long=; Max-Age=0; Path=/"], now=NOW)
    assert cookie_for(jar, "http://www.lab.test/") == "short=1"
    jar.store(SITE, ["short=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/"], now=NOW)
    assert cookie_for(jar, "http://www.lab.test/") is None


def test_max_age_wins_over_expires_and_bad_dates_are_ignored() -> None:
    jar = jar_with(
        "a=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=100; Path=/",
        "b=2; Expires=not a date; Path=/",
    )
    assert cookie_for(jar, "http://www.lab.test/") == "a=1; b=2"


def test_replacing_and_ordering() -> None:
    jar = jar_with("a=1; Path=/", "b=2; Path=/app")
    jar.store(SITE, ["a=3; Path=/"], now=NOW + 1)
    # Longer paths first (RFC 6265 §5.4 step 2).
    assert cookie_for(jar, "http://www.lab.test/app/x") == "b=2; a=3"
    assert len(jar) == 2


@pytest.mark.parametrize(
    "header",
    ["novalue", "=nameless", "s=1; Secure", "c=\x01", "big=" + "x" * 5000, ""],
)
def test_ignored_cookies(header: str) -> None:
    assert parse_set_cookie(header, SITE, NOW) is None


def test_per_host_limit_evicts_the_oldest() -> None:
    jar = CookieJar()
    for i in range(MAX_COOKIES_PER_HOST + 5):
        jar.store(SITE, [f"c{i}=v; Path=/"], now=NOW + i)
    assert len(jar) == MAX_COOKIES_PER_HOST
    header = cookie_for(jar, "http://www.lab.test/", now=NOW + 100) or ""
    assert "c0=" not in header
    assert f"c{MAX_COOKIES_PER_HOST + 4}=v" in header


@pytest.mark.parametrize(
    ("host", "domain", "matches"),
    [
        ("a.b.c", "b.c", True),
        ("b.c", "b.c", True),
        ("ab.c", "b.c", False),
        ("1.2.3.4", "2.3.4", False),
    ],
)
def test_domain_match(host: str, domain: str, matches: bool) -> None:
    assert domain_match(host, domain) is matches


@pytest.mark.parametrize(
    ("request_path", "cookie_path", "matches"),
    [
        ("/", "/", True),
        ("/app", "/app", True),
        ("/app/x", "/app", True),
        ("/app/x", "/app/", True),
        ("/apple", "/app", False),
        ("/", "/app", False),
    ],
)
def test_path_match(request_path: str, cookie_path: str, matches: bool) -> None:
    assert path_match(request_path, cookie_path) is matches


@pytest.mark.parametrize(
    ("path", "expected"), [("/", "/"), ("/a", "/"), ("/a/b", "/a"), ("/a/b/", "/a/b"), ("", "/")]
)
def test_default_path(path: str, expected: str) -> None:
    assert default_path(path) == expected


def test_cookies_travel_with_page_resources() -> None:
    """A cookie set by the document is sent with its stylesheet and image, and with the next
    page; one set for another path is not."""
    html = b'<link rel=stylesheet href="/s.css"><img src="/i.png"><link rel=icon href="/f.ico">'

    def script(request: Seen) -> Answer:
        if request.target == "/":
            return Answer(
                http_response(
                    200,
                    html,
                    [
                        ("Content-Type", "text/html"),
                        ("Set-Cookie", "visitor=42; Path=/"),
                        ("Set-Cookie", "admin=1; Path=/admin"),
                    ],
                )
            )
        return Answer(http_response(200, b"", [("Content-Type", "text/css")]))

    options = Options(deadlines=Deadlines(connect=2.0, read=2.0, total=10.0))
    with scripted(script) as server, Browser(options) as browser:
        browser.load(server.base + "/")
        browser.load(server.base + "/next")
    sent = {s.target: s.headers.get("cookie") for s in server.seen}
    assert sent == {
        "/": None,
        "/s.css": "visitor=42",
        "/i.png": "visitor=42",
        "/f.ico": "visitor=42",
        "/next": "visitor=42",
    }
