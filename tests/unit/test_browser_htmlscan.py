"""The browser's HTML scanner (socketlab.browser.htmlscan) reads what html.parser reads.

Every document it reads must give html.parser's events exactly; every other one it must leave
to html.parser (``None``), which extract_html then uses. No network.
"""

from __future__ import annotations

import random

import pytest

from socketlab.browser import htmlscan
from socketlab.browser.extract import extract_html
from tests.support.paths import REPO, WWW

# Pieces of markup, plain and tricky, that random documents are made of.
PIECES = [
    "<a href=x>",
    "<A HREF='y'>",
    '<img src="a.png" alt="p &amp; q">',
    "</a>",
    "</A >",
    "text",
    " & ",
    "&amp;",
    "&lt",
    "&#65;",
    "&#x41",
    "&ampx",
    "<!-- c -->",
    "<!-- a -- b -->",
    "<!-- a -- > b -->",  # html.parser ends it at --\s*>
    "<!--->",
    "<!---->",
    "<!doctype html>",
    "<!DOCTYPE x>",
    "<?pi x?>",
    "<script>",
    "</script>",
    "if (a < b) x = '</div>';",
    "</SCRIPT>",
    "</script >",
    "</ script>",
    "<style>",
    "p{color:red}",
    "</style>",
    "<br/>",
    "<br />",
    "<input disabled>",
    "<a b c=d>",
    "<a b = c>",
    "<a b==c>",
    "<a href=x/>",
    '<a href="q"title=z>',
    "<x-y z:w=1>",
    "<",
    ">",
    "< a>",
    "</>",
    "</ a>",
    "<!x>",
    "<![CDATA[x]]>",
    "\n",
    "\t",
    "é",
    "\u017f",
    "</\u017fcript>",  # long s: html.parser's re.I search stops there, splitting a script's text
    "<p",
    "<a href='",
    "<script/>",
    "<scripts>",
    "</scriptx>",
    "<title>T</title>",
    "<a b=c\v>",
    "<a b=\xa0c>",
    "<a href=a&amp;b>",
    "<a href='&quot;'>",
    "<div\x00>",
    "</div\x00>",
    "<a/b>",
    "<a /b>",
    "<a href=>",
    "<a href= >",
    "<meta charset=utf-8>",
    "<link rel=stylesheet href=s.css>",
]


def test_random_documents_give_html_parser_s_events() -> None:
    rng = random.Random(17)
    scanned = declined = 0
    for _ in range(8000):
        doc = "".join(rng.choice(PIECES) for _ in range(rng.randrange(1, 12)))
        events = htmlscan.tokens(doc)
        if events is None:
            declined += 1
            continue
        scanned += 1
        assert events == htmlscan.parsed_tokens(doc), doc
    assert scanned > 800  # both kinds are common: the comparison above is not empty
    assert declined > 800


def _pages() -> list[str]:
    found = sorted(WWW.rglob("*.html")) + sorted((REPO / "services").rglob("templates/*.html"))
    assert len(found) >= 5
    return [path.read_text() for path in found]


def test_the_lab_s_pages_are_scanned_as_html_parser_reads_them() -> None:
    for page in _pages():
        events = htmlscan.tokens(page)
        assert events is not None
        assert events == htmlscan.parsed_tokens(page)


@pytest.mark.parametrize(
    ("doc", "events"),
    [
        ("<P>a</P>", [("start", "p", []), ("data", "a"), ("end", "p")]),
        (
            "<img SRC=a.png alt='x &amp; y' hidden>",
            [("start", "img", [("src", "a.png"), ("alt", "x & y"), ("hidden", None)])],
        ),
        ('<a href="">', [("start", "a", [("href", "")])]),
        ("<br/><br />", [("startend", "br", []), ("startend", "br", [])]),
        ("a<!-- <img src=x> -->b", [("data", "a"), ("data", "b")]),
        ("<!doctype html><?x?>t", [("data", "t")]),
        ("x &lt;&#65;&amp", [("data", "x <A&")]),
        (
            "<script>if (a<b) '&amp;'</SCRIPT >",
            [("start", "script", []), ("data", "if (a<b) '&amp;'"), ("end", "script")],
        ),
        ("<style></style>", [("start", "style", []), ("end", "style")]),
        ("<script/>t", [("startend", "script", []), ("data", "t")]),
        ("</div >", [("end", "div")]),
    ],
)
def test_events(doc: str, events: list[htmlscan.Token]) -> None:
    assert htmlscan.tokens(doc) == events
    assert htmlscan.parsed_tokens(doc) == events


@pytest.mark.parametrize(
    "doc",
    [
        "a < b",  # a "<" that starts no tag
        "<p",  # a tag left open
        "<a href='x>",
        "<a b = c>",
        "<a b==c>",
        '<a href="q"title=z>',
        "<a/b>",
        "<!-- a -- > b -->",
        "<!-- open",
        "<![CDATA[x]]>",
        "<!bogus>",
        "</ a>",
        "</>",
        "<script>x",  # a script left open: html.parser drops its text
        "<script>x</ script>",
        "<script>x</scripts></script>",
        "<script>\u017f</script>",
        "<script>x</\u017fcript>y</script>",
        "<div\x00>",
    ],
)
def test_other_markup_is_left_to_html_parser(doc: str) -> None:
    assert htmlscan.tokens(doc) is None


def test_extract_html_reads_what_the_scanner_declines() -> None:
    # html.parser's error recovery: the unquoted "a = b" is an attribute with a value
    doc = "<title>T</title><img src = a.png><p>1 < 2</p><link rel=icon href=i.png>"
    assert htmlscan.tokens(doc) is None
    found = extract_html(doc)
    assert [(r.url, r.kind) for r in found.references] == [("a.png", "image"), ("i.png", "icon")]
    assert found.title == "T"
    assert found.text == "1 < 2"


def test_the_named_references_read_without_html_are_html5_s() -> None:
    import html.entities

    for name, char in htmlscan._ENTITIES.items():
        assert html.entities.html5[name + ";"] == char, name


def test_references_are_read_as_html_unescape_reads_them() -> None:
    import html

    pieces = [
        *(f"&{name};" for name in htmlscan._ENTITIES),
        "&amp",  # no semicolon: html.unescape's rules
        "&ampx;",
        "&AMP;",
        "&#38;",
        "&#x26;",
        "&#0;",
        "&#150;",
        "&nosuch;",
        "&",
        ";",
        "&;",
        "&&",
        "a",
        " ",
        "é",
        "&amp;lt;",
    ]
    rnd = random.Random(17)
    texts = ["", "plain", "&", "&amp;", "&middot;", "a &middot; b"]
    texts += ["".join(rnd.choice(pieces) for _ in range(rnd.randrange(1, 8))) for _ in range(5000)]
    for text in texts:
        assert htmlscan._unescape(text) == html.unescape(text), text
