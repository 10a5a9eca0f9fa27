"""URL parsing, refusal and joining (socketlab.browser.urls): no network."""

from __future__ import annotations

import pytest

from socketlab.browser import urls
from socketlab.browser.errors import InvalidURL


@pytest.mark.parametrize(
    ("text", "expected", "target"),
    [
        ("http://example.test/", "http://example.test/", "/"),
        ("http://example.test", "http://example.test/", "/"),
        ("HTTP://Example.TEST:80/a?b=1#frag", "http://example.test/a?b=1", "/a?b=1"),
        ("http://127.0.0.1:8080/x/y.html", "http://127.0.0.1:8080/x/y.html", "/x/y.html"),
        ("http://[::1]:8080/", "http://[::1]:8080/", "/"),
        ("http://h/caf\u00e9?q=\u00fc", "http://h/caf%C3%A9?q=%C3%BC", "/caf%C3%A9?q=%C3%BC"),
        ("http://h/already%20encoded", "http://h/already%20encoded", "/already%20encoded"),
    ],
)
def test_parse_normalises(text: str, expected: str, target: str) -> None:
    url = urls.parse(text)
    assert str(url) == expected
    assert url.target == target


def test_parse_parts() -> None:
    url = urls.parse("http://threaded-web:8080/whoami?x=1")
    assert (url.host, url.port, url.path, url.query) == ("threaded-web", 8080, "/whoami", "x=1")
    assert url.authority == "threaded-web:8080"
    assert urls.parse("http://h/").authority == "h"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("https://example.test/", "only http://"),
        ("ftp://example.test/", "only http://"),
        ("/relative", "not an absolute URL"),
        ("http:///nohost", "no host"),
        ("http://user:pw@h/", "credentials"),
        ("http://h:99999/", "invalid port"),
        ("http://h:0/", "invalid port"),
        ("http://h/a b", "a space"),
        ("http://h/a\r\nX-Injected: 1", "CR"),
        ("http://h/a\nb", "LF"),
        ("http://h/a\tb", "a tab"),
        ("http://h/a\x00b", "0x00"),
        ("http://h/a\x7fb", "DEL"),
        (" http://h/", "a space"),
        ("http://h/" + "a" * 9000, "longer than"),
    ],
)
def test_parse_refuses(text: str, reason: str) -> None:
    with pytest.raises(InvalidURL, match=reason):
        urls.parse(text)


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("/css/site.css", "http://h:8080/css/site.css"),
        ("img/a.png", "http://h:8080/dir/img/a.png"),
        ("../up.png", "http://h:8080/up.png"),
        ("../../../../too-far.png", "http://h:8080/too-far.png"),
        ("./same.png?v=2", "http://h:8080/dir/same.png?v=2"),
        ("?q=1", "http://h:8080/dir/page.html?q=1"),
        ("//other:81/x", "http://other:81/x"),
        ("http://other/abs", "http://other/abs"),
        ("  \n /spaced.png \t ", "http://h:8080/spaced.png"),
        ("a.png#frag", "http://h:8080/dir/a.png"),
    ],
)
def test_join(reference: str, expected: str) -> None:
    base = urls.parse("http://h:8080/dir/page.html")
    assert str(base.join(reference)) == expected


@pytest.mark.parametrize(
    "reference", ["https://cdn.test/x.js", "/a b.png", "/a\r\nb", "//h/\x01", "mailto:x@y"]
)
def test_join_refuses(reference: str) -> None:
    with pytest.raises(InvalidURL):
        urls.parse("http://h/").join(reference)


@pytest.mark.parametrize(
    ("reference", "network"),
    [
        ("/a.png", True),
        ("a.png", True),
        ("data:image/png;base64,AAAA", False),
        ("DATA:text/plain,x", False),
        ("#section", False),
        ("javascript:void(0)", False),
        ("", False),
        ("   ", False),
        ("about:blank", False),
        ("https://x/", True),  # a network reference, refused later with a reason
    ],
)
def test_is_network_reference(reference: str, network: bool) -> None:
    assert urls.is_network_reference(reference) is network


def test_with_query_and_relative_to() -> None:
    url = urls.parse("http://h:81/p?a=1")
    assert str(url.with_query("b=2")) == "http://h:81/p?a=1&b=2"
    assert str(urls.parse("http://h/p").with_query("b=2")) == "http://h/p?b=2"
    assert urls.relative_to("http://h:81/x.css", url) == "/x.css"
    assert urls.relative_to("http://other/x.css", url) == "http://other/x.css"


def _ipaddress_takes(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


HOSTS = [
    "127.0.0.1",
    "0.0.0.0",
    "255.255.255.255",
    "256.1.1.1",
    "1.2.3",
    "1.2.3.4.5",
    "01.2.3.4",
    "1.2.3.04",
    "1.2.3.0",
    "1..3.4",
    "1.2.3.4.",
    ".1.2.3",
    "1.2.3.-4",
    "1.2.3.+4",
    " 1.2.3.4",
    "1.2.3.4 ",
    "1.2.3.1000",
    "\u0661.2.3.4",  # an Arabic-Indic digit: int() reads it, ipaddress does not
    "\uff11.2.3.4",  # a fullwidth digit
    "localhost",
    "threaded-web",
    "example.test",
    "",
    "::1",
    "fe80::1",
    "::ffff:1.2.3.4",
    "1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7:8:9",
    ":::",
    "[::1]",
    "fe80::1%eth0",
    "g::1",
]


@pytest.mark.parametrize("host", HOSTS)
def test_is_ip_address_as_ipaddress(host: str) -> None:
    assert urls.is_ip_address(host) is _ipaddress_takes(host)


def test_is_ip_address_on_random_dotted_numbers() -> None:
    import random

    rng = random.Random(17)
    pieces = ["0", "1", "00", "01", "10", "99", "199", "255", "256", "999", "1000", "", "-1", "a"]
    for _ in range(3000):
        host = ".".join(rng.choice(pieces) for _ in range(rng.choice((3, 4, 4, 4, 5))))
        assert urls.is_ip_address(host) is _ipaddress_takes(host), host


def _split_or_error(text: str) -> urls.URL | str:
    try:
        return urls._split(text)
    except InvalidURL as exc:
        return f"InvalidURL: {exc}"


@pytest.mark.parametrize(
    "text",
    [
        "http://127.0.0.1:18537/page100/index.html",
        "http://Example.TEST/a/b.css?x=1&y=%20#frag",
        "http://h",
        "http://h?x=1",
        "http://h/#f?g",
        "http://h:65535/",
        "http://h:1/",
        "http://h:0080/",
        "http://h/a:b@c/d;e=f,g!$'()*+~",
    ],
)
def test_plain_urls_are_read_as_urlsplit_reads_them(text: str) -> None:
    plain = urls._plain(text)
    assert plain is not None
    assert plain == _split_or_error(text)


@pytest.mark.parametrize(
    "text",
    [
        "HTTP://h/",  # urlsplit lower-cases the scheme
        "https://h/",
        "http://user@h/",
        "http://h:/",
        "http://h:0/",
        "http://h:65536/",
        "http://h:8o/",
        "http://[::1]:8080/",
        "http://caf\u00e9.test/",
        "http://h/caf\u00e9",
        "http://h/a?b?c",
        "http://h/a[1]",
        'http://h/a"b',
        "http:///a",
        "http:h/a",
    ],
)
def test_other_urls_are_left_to_urlsplit(text: str) -> None:
    assert urls._plain(text) is None


def test_random_urls_read_as_urlsplit_reads_them() -> None:
    import random

    rng = random.Random(17)
    pieces = [
        "http://",
        "HTTP://",
        "h",
        "H.test",
        "127.0.0.1",
        "[::1]",
        "@",
        ":",
        "80",
        "0",
        "99999",
        "/",
        "a",
        "%41",
        "%zz",
        "?",
        "#",
        "&",
        "=",
        ";",
        "..",
        ".",
        "é",
        "[",
        "~",
        "'",
        '"',
        "<",
        "\\",
    ]
    compared = 0
    for _ in range(5000):
        start = rng.choice(["http://", "http://h", "http://127.0.0.1:", "http://h/", "HTTP://"])
        text = start + "".join(rng.choice(pieces) for _ in range(rng.randrange(9)))
        try:
            urls.check_text(text)
        except InvalidURL:
            continue
        plain = urls._plain(text)
        if plain is None:
            continue
        compared += 1
        assert plain == _split_or_error(text), text
    assert compared > 500
