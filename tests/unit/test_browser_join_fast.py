"""urls.join's shortcut for plain relative references gives what urljoin() + parse() give."""

from __future__ import annotations

from urllib.parse import urljoin

import pytest

from socketlab.browser import urls
from socketlab.browser.errors import InvalidURL

BASES = [
    "http://127.0.0.1:8080/page30/index.html",
    "http://example.test/",
    "http://example.test/a/b/",
    "http://example.test/a/b/c?x=1",
    "http://example.test/a/./b/../c.html",
    "http://[::1]:9000/dir/page",
]

REFERENCES = [
    "css/s1.css",
    "/img/a.png",
    "a",
    "a/b/c.js",
    "./x.css",
    "../up.css",
    "a/../b",
    "a/./b",
    "..",
    ".",
    "x/..",
    "//other.test/x.png",
    "?q=1",
    "#frag",
    "a?b=c",
    "a#b",
    "caf%C3%A9.png",
    "spa ce.png",
    "  padded.png \n",
    "mailto:x@y",
    "http://other.test/x",
    "x:y",
    "!$&'()*+,;=@-._~/file",
    "a//b",
    "/",
    "/a/",
]


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("reference", REFERENCES)
def test_join_is_urljoin_then_parse(base: str, reference: str) -> None:
    parsed = urls.parse(base)
    stripped = reference.strip(" \t\n\r\f")
    try:
        urls.check_text(stripped)
        expected: urls.URL | str = urls.parse(urljoin(str(parsed), stripped))
    except InvalidURL:
        expected = "invalid"
    try:
        got: urls.URL | str = parsed.join(reference)
    except InvalidURL:
        got = "invalid"
    assert got == expected


def test_a_long_joined_url_is_still_refused() -> None:
    base = urls.parse("http://example.test/" + "d/" * 3990)
    with pytest.raises(InvalidURL, match="longer than"):
        base.join("x" * 100)
