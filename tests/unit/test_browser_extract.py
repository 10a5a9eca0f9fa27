"""What HTML and CSS make the browser fetch (socketlab.browser.extract): no network."""

from __future__ import annotations

import pytest

from socketlab.browser.extract import (
    Reference,
    choose_srcset,
    decode,
    extract_css,
    extract_html,
    parse_srcset,
)
from tests.support.paths import WWW


def refs(html: str) -> list[tuple[str, str]]:
    return [(r.url, r.kind) for r in extract_html(html).references]


def test_lab_index_page() -> None:
    """The lab's own index: stylesheet, icon, script and image, in document order."""
    found = extract_html((WWW / "index.html").read_text())
    assert [(r.url, r.kind) for r in found.references] == [
        ("/css/site.css", "stylesheet"),
        ("/favicon.ico", "icon"),
        ("/js/site.js", "script"),
        ("/img/two-hosts.png", "image"),
    ]
    assert found.has_icon
    assert found.title == "socketlab: see what your sockets do"
    assert "What runs in the lab" in found.text
    assert "live-whoami" not in found.text  # attributes are not text


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<img src="/a.png">', [("/a.png", "image")]),
        ('<IMG SRC="/a.png"/>', [("/a.png", "image")]),
        ('<img src="/a.png" src="/b.png">', [("/a.png", "image")]),  # first attribute wins
        ('<img src="  /a.png\n ">', [("/a.png", "image")]),
        ('<img src="data:image/png;base64,AA">', []),
        ('<img src="">', []),
        ('<img alt="no source">', []),
        ('<link rel="stylesheet" href="s.css">', [("s.css", "stylesheet")]),
        ('<link rel="Stylesheet preload" href="s.css">', [("s.css", "stylesheet")]),
        ('<link rel="alternate stylesheet" href="alt.css">', []),
        ('<link rel="shortcut icon" href="/i.ico">', [("/i.ico", "icon")]),
        ("<link rel=icon href=a.ico><link rel=icon href=b.png>", [("a.ico", "icon")]),
        ('<link rel="apple-touch-icon" href="/t.png">', []),
        ('<link rel="preload" as="font" href="/f.woff2">', [("/f.woff2", "font")]),
        ('<link rel="preload" as="fetch" href="/d.json">', []),
        ('<link rel="modulepreload" href="/m.js">', [("/m.js", "script")]),
        ('<link rel="canonical" href="/x">', []),
        ('<script src="/a.js"></script>', [("/a.js", "script")]),
        ('<script type="module" src="/m.js"></script>', [("/m.js", "script")]),
        (
            '<script type="text/javascript; charset=utf-8" src="/c.js"></script>',
            [("/c.js", "script")],
        ),
        ('<script type="text/template" src="/t.html"></script>', []),
        ('<script nomodule src="/legacy.js"></script>', []),
        ('<script>var s = "<img src=/not-a-tag.png>";</script>', []),
        (
            '<input type="image" src="/go.png"><input type="text" src="/no.png">',
            [("/go.png", "image")],
        ),
        ('<video poster="/p.jpg"><source src="/v.mp4"></video>', [("/p.jpg", "image")]),
        ('<audio src="/a.mp3"><source src="/a.ogg"></audio>', []),
        ('<body background="/bg.gif">', [("/bg.gif", "image")]),
        ('<iframe src="/frame.html"></iframe>', []),
        ('<div style="background: url(/bg.png)">', [("/bg.png", "image")]),
        (
            '<template><img src="/inert.png"><style>@import "x.css";</style></template>'
            '<img src="/live.png">',
            [("/live.png", "image")],
        ),
        ('<a href="/next.html">link</a>', []),
    ],
)
def test_html_references(html: str, expected: list[tuple[str, str]]) -> None:
    assert refs(html) == expected


def test_style_element_and_base_href() -> None:
    found = extract_html(
        '<head><base href="/static/"><base href="/ignored/">'
        "<style>@import url(a.css); body { background: url('bg.png') }"
        "@font-face { font-family: X; src: url(x.woff2) format('woff2') }</style></head>"
    )
    assert found.base_href == "/static/"
    assert [(r.url, r.kind) for r in found.references] == [
        ("a.css", "stylesheet"),
        ("bg.png", "image"),
        ("x.woff2", "font"),
    ]
    assert not found.has_icon


def test_visible_text_skips_scripts_and_styles() -> None:
    found = extract_html(
        "<title> Hi\n there </title><style>p{}</style><script>alert(1)</script>"
        "<noscript>enable js</noscript><p>Hello,   <b>vis</b>itor &amp; friends</p><p>next</p>"
    )
    assert found.title == "Hi there"
    assert found.text == "Hello, visitor & friends\nnext"


@pytest.mark.parametrize(
    ("srcset", "expected"),
    [
        ("a.png 1x, b.png 2x", [("a.png", "1x"), ("b.png", "2x")]),
        ("a.png, b.png 2x", [("a.png", ""), ("b.png", "2x")]),
        ("  small.jpg 480w ,\n large.jpg 1600w  ", [("small.jpg", "480w"), ("large.jpg", "1600w")]),
        ("a,b.png 2x", [("a,b.png", "2x")]),
        ("data:image/png;base64,AA== 1x", [("data:image/png;base64,AA==", "1x")]),
        ("x.png (odd, descriptor), y.png", [("x.png", "(odd, descriptor)"), ("y.png", "")]),
        ("", []),
        (" , , ", []),
    ],
)
def test_parse_srcset(srcset: str, expected: list[tuple[str, str]]) -> None:
    assert parse_srcset(srcset) == expected


@pytest.mark.parametrize(
    ("srcset", "src", "chosen"),
    [
        ("a.png 1x, b.png 2x", None, "a.png"),
        ("b.png 2x, a.png 1x", None, "a.png"),
        ("b.png 2x", "fallback.png", "fallback.png"),  # src is the 1x candidate
        ("b.png 2x, c.png 3x", None, "b.png"),
        ("half.png 0.5x", None, "half.png"),
        ("s.jpg 480w, m.jpg 1280w, l.jpg 2560w", None, "m.jpg"),
        ("s.jpg 480w, m.jpg 800w", "src.jpg", "m.jpg"),  # none wide enough: the largest
        ("bad.png 1q", "src.png", "src.png"),
        ("", "src.png", "src.png"),
    ],
)
def test_choose_srcset(srcset: str, src: str | None, chosen: str) -> None:
    assert choose_srcset(parse_srcset(srcset), src) == chosen


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<img srcset="a.png 1x, b.png 2x" src="c.png">', [("a.png", "image")]),
        ('<img srcset="b.png 2x" src="c.png">', [("c.png", "image")]),
        (
            '<picture><source srcset="p.webp" type="image/webp"><img src="i.png"></picture>',
            [("p.webp", "image")],
        ),
        (
            '<picture><source media="(min-width: 900px)" srcset="wide.png"><img src="i.png">'
            "</picture>",
            [("i.png", "image")],
        ),
        (
            '<picture><source srcset="1.png"><source srcset="2.png"><img src="i.png"></picture>'
            '<img src="after.png">',
            [("1.png", "image"), ("after.png", "image")],
        ),
    ],
)
def test_img_and_picture_fetch_one_candidate(html: str, expected: list[tuple[str, str]]) -> None:
    assert refs(html) == expected


@pytest.mark.parametrize(
    ("css", "expected"),
    [
        ("@import url(a.css);", [("a.css", "stylesheet")]),
        ('@import url("b.css") screen;', [("b.css", "stylesheet")]),
        ("@import 'c.css';", [("c.css", "stylesheet")]),
        ('@IMPORT "d.css" print;', [("d.css", "stylesheet")]),
        ("p { background: url(bg.png) }", [("bg.png", "image")]),
        ("p { background: URL( 'q.png' ) }", [("q.png", "image")]),
        ('p { background: url("dq.png") }', [("dq.png", "image")]),
        ("p { background: url(data:image/png;base64,AA) }", []),
        ("p { fill: url(#gradient) }", []),
        ("/* url(commented.png) */ p { }", []),
        ("/* @import 'no.css'; */", []),
        (
            "@font-face { src: url(f.woff2) format('woff2'), url(f.woff) }",
            [("f.woff2", "font"), ("f.woff", "font")],
        ),
        (
            "a{background:url(x.png)}b{background:url(x.png)}",
            [("x.png", "image"), ("x.png", "image")],
        ),
        ("/* unterminated comment url(x.png)", []),
    ],
)
def test_css_references(css: str, expected: list[tuple[str, str]]) -> None:
    assert [(r.url, r.kind) for r in extract_css(css)] == expected


def test_css_reference_type() -> None:
    assert extract_css("@import 'x.css';") == [Reference("x.css", "stylesheet")]


@pytest.mark.parametrize(
    ("body", "content_type", "text"),
    [
        ("caf\u00e9".encode(), "text/html; charset=utf-8", "caf\u00e9"),
        ("caf\u00e9".encode("latin-1"), "text/html; charset=ISO-8859-1", "caf\u00e9"),
        (b'<meta charset="latin-1">caf\xe9', "text/html", '<meta charset="latin-1">caf\u00e9'),
        (b"caf\xe9", None, "caf\ufffd"),
        (b"x", "text/plain; charset=no-such-charset", "x"),
    ],
)
def test_decode(body: bytes, content_type: str | None, text: str) -> None:
    assert decode(body, content_type) == text
