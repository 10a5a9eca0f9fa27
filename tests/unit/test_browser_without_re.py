"""A page load reads URLs, CSS, cookies and log values without importing re, with the same results.

The regular expressions these modules used (kept here as the reference) are compared with the
str-method code that replaced them on many fixed-seed random inputs made of the characters and
pieces that matter to them, plus edge cases; and importing the modules in a fresh interpreter,
then resolving and extracting typical inputs there, must leave ``re`` out of ``sys.modules``
(issue 17: importing re with enum, and compiling the expressions, was ~18M instructions of the
browser's start-up). No network.
"""

from __future__ import annotations

import ast
import os
import random
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

import pytest

from socketlab import logs
from socketlab.browser import cssscan, extract, urls
from socketlab.browser.cookies import parse_set_cookie
from socketlab.browser.errors import InvalidURL
from socketlab.browser.extract import MAX_REFERENCES, Reference, extract_css
from socketlab.browser.urls import is_network_reference
from tests.support.paths import REPO

SEED = 17
ROUNDS = 3000

# -- the reference: what the modules did with re ------------------------------------------------

OLD_BAD_CHARS = re.compile(r"[\x00-\x20\x7f]")
OLD_PLAIN_REFERENCE = re.compile(r"(?!.*//)[A-Za-z0-9\-._~!$&'()*+,;=@/]+")
OLD_DOT_SEGMENT = re.compile(r"(?:^|/)\.\.?(?:/|$)")
OLD_SCHEME = r"\s*([A-Za-z][A-Za-z0-9+.\-]*):"
OLD_CSS_COMMENT = re.compile(r"/\*.*?(?:\*/|\Z)", re.S)
OLD_CSS_IMPORT = re.compile(
    r"""@import\s+(?:url\(\s*(?P<q1>["']?)(?P<u1>[^"')]*)(?P=q1)\s*\)|(?P<q2>["'])(?P<u2>.*?)(?P=q2))""",
    re.I | re.S,
)
OLD_CSS_URL = re.compile(
    r"""url\(\s*(?:"(?P<d>[^"]*)"|'(?P<s>[^']*)'|(?P<b>[^)"'\s]*))\s*\)""", re.I
)
OLD_CSS_FONT_FACE = re.compile(r"@font-face\s*\{[^}]*\}", re.I)
OLD_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-:.]+)""", re.I)
OLD_UNSAFE = re.compile(rb"[^\x20-\x5b\x5d-\x7e]")
OLD_MAX_AGE = r"-?[0-9]{1,18}"


def old_check_text(text: str) -> None:
    if len(text) > urls.MAX_URL_LENGTH:
        raise InvalidURL(f"URL longer than {urls.MAX_URL_LENGTH} characters")
    match = OLD_BAD_CHARS.search(text)
    if match is not None:
        char = match.group()
        name = urls._NAMES.get(char, f"the control character {ord(char):#04x}")
        raise InvalidURL(f"URL contains {name}: {urls._short(text)}")


def old_join(base: urls.URL, reference: str) -> urls.URL:
    reference = reference.strip(" \t\n\r\f")
    if (
        OLD_PLAIN_REFERENCE.fullmatch(reference)
        and not OLD_DOT_SEGMENT.search(reference)
        and "/." not in base.path
    ):
        if reference[0] == "/":
            path = reference
        else:
            path = base.path[: base.path.rfind("/") + 1] + reference
        url = urls.URL(base.host, base.port, path, "", base.scheme)
        if len(str(url)) <= urls.MAX_URL_LENGTH:
            return url
    old_check_text(reference)
    return urls.parse(urljoin(str(base), reference))


def old_extract_css(text: str) -> list[Reference]:
    text = OLD_CSS_COMMENT.sub(" ", text)
    refs: list[Reference] = []
    taken: list[tuple[int, int]] = []
    for match in OLD_CSS_IMPORT.finditer(text):
        url = match.group("u1") if match.group("u1") is not None else match.group("u2")
        taken.append(match.span())
        if url and is_network_reference(url):
            refs.append(Reference(url.strip(), "stylesheet"))
    fonts = [m.span() for m in OLD_CSS_FONT_FACE.finditer(text)]
    for match in OLD_CSS_URL.finditer(text):
        if len(refs) >= MAX_REFERENCES:
            break
        start = match.start()
        if any(a <= start < b for a, b in taken):
            continue
        url = next(
            g for g in (match.group("d"), match.group("s"), match.group("b")) if g is not None
        )
        if not is_network_reference(url):
            continue
        kind = "font" if any(a <= start < b for a, b in fonts) else "image"
        refs.append(Reference(url.strip(), kind))
    return refs


def old_printable(data: bytes | str, limit: int = 200) -> str:
    if isinstance(data, str):
        if len(data) <= limit and data.isascii() and data.isprintable() and "\\" not in data:
            return data
        raw = data.encode("utf-8", "surrogateescape")
    else:
        raw = data
    if len(raw) <= limit and not OLD_UNSAFE.search(raw):
        return raw.decode("ascii")
    cut = len(raw) > limit
    out = "".join(logs._SAFE.get(b) or f"\\x{b:02x}" for b in raw[:limit])
    return out + "..." if cut else out


# -- random inputs ----------------------------------------------------------------------------

# Whitespace as re's \s (str.isspace) knows it, ASCII and not, and characters that are not.
SPACES = [" ", "\t", "\n", "\r", "\f", "\v", "\x1c", "\x1f", "\x85", "\xa0", "\u2028", "\u3000"]
TRICKY = [
    "/",
    ".",
    "..",
    "%",
    "%2e",
    "\x00",
    "\x01",
    "\x7f",
    "\x80",
    "\x9f",
    "\\",
    '"',
    "'",
    "(",
    ")",
    "*",
    "@",
    ":",
    ";",
    "?",
    "#",
    "[",
    "]",
    "{",
    "}",
    "=",
    "-",
    "+",
    "é",
    "ü",
    "\u0130",  # capital I with dot above: re.I takes it for i
    "\u0131",  # small dotless i: likewise
    "\u017f",  # small long s: for s
    "\u212a",  # Kelvin sign: for k
    "\udce9",  # a lone surrogate, as os.fsdecode() leaves an undecodable byte
    "\U0001f600",
]
WORDS = ["a", "b", "css", "s1.css", "x", "img", "A", "Z", "0", "9", "~", "_", "!", "$", "&"]


def random_text(rng: random.Random, pieces: list[str], most: int = 12) -> str:
    return "".join(rng.choice(pieces) for _ in range(rng.randint(0, most)))


URL_PIECES = WORDS + TRICKY + SPACES + ["//", "/./", "/../", "http:", "data:", "x-y+z.1:"]

CSS_PIECES = (
    WORDS
    + TRICKY
    + SPACES
    + [
        "/*",
        "*/",
        "/* c */",
        "url(",
        "URL(",
        "Url(",
        "ur\u0131(",  # not url( to re.I either (no l), but the same length
        "u\u0280l(",
        "url( ",
        "url(x.png)",
        'url( "x" )',
        "url('a b.png')",
        'url("a)b")',
        "url(a b)",
        "url()",
        "url(data:x)",
        "url(#f)",
        "@import",
        "@IMPORT",
        "@\u0130mport",
        "@\u0131mport",
        "@import ",
        '@import "a.css" screen;',
        "@import url(b.css);",
        "@import url( 'c.css' ) print;",
        "@import url(d.css ;",
        "@import 'e.css",
        "@font-face",
        "@FONT-FACE",
        "@font-face {",
        "@font-face{src:url(f.woff2)}",
        "@font-face { font-family: x; src: url('g.woff') }",
        "{",
        "}",
        "a { background: url(h.png) }",
    ]
)


def css_samples() -> list[str]:
    rng = random.Random(SEED)
    samples = [random_text(rng, CSS_PIECES, 16) for _ in range(ROUNDS)]
    return samples + EDGE_CSS


EDGE_CSS = [
    "",
    "/*",
    "/*/",
    "/**/",
    "/* unterminated url(x.png)",
    "a/**/b/*c*/d/*",
    "url(x.png",
    "url(",
    "@import",
    "@import url(",
    "@import url()",
    "@import url(\"a.css')",
    "@import url('a.css\")",
    '@import ""',
    "@import\n'multi\nline.css';",
    "@import\u3000'wide-space.css';",
    "@importurl(a.css)",
    "@font-face",
    "@font-face{",
    "@font-face{}",
    "@font-face { src: url(a.woff) } url(b.png) @font-face{ src: url(c.woff) }",
    "@font-face { @font-face { src: url(a.woff) } url(b.png)",
    '@import url("url(x.png)"); url(y.png)',
    "@import 'url(z.png)' url(w.png)",
    "url( \"x\" ) url(\t'y'\n) url(  z  ) URL(Q) uRl(q)",
    "url(a\u00a0b) url(a\u2028) url(\x85a\x85)",
]


def test_check_text_rejects_what_the_regex_found_with_the_same_message() -> None:
    rng = random.Random(SEED)
    samples = [random_text(rng, URL_PIECES) for _ in range(ROUNDS)]
    samples += ["", " ", "\x7f", "a" * (urls.MAX_URL_LENGTH + 1), "\x9f\xa0 ", "é\x00"]
    samples += [chr(c) for c in range(0x200)]
    for text in samples:
        try:
            old_check_text(text)
            expected = None
        except InvalidURL as exc:
            expected = str(exc)
        try:
            urls.check_text(text)
            got = None
        except InvalidURL as exc:
            got = str(exc)
        assert got == expected, repr(text)


def test_plain_reference_is_the_regex_pair() -> None:
    rng = random.Random(SEED)
    samples = [random_text(rng, URL_PIECES) for _ in range(ROUNDS)]
    samples += ["", ".", "..", "./", "/..", "a/.", ".a", "a..", "a//b", "/", "a\n", "a/\n."]
    for text in samples:
        expected = bool(OLD_PLAIN_REFERENCE.fullmatch(text) and not OLD_DOT_SEGMENT.search(text))
        assert urls._is_plain_reference(text) is expected, repr(text)


def test_scheme_of_is_the_regex() -> None:
    rng = random.Random(SEED)
    samples = [random_text(rng, URL_PIECES) for _ in range(ROUNDS)]
    samples += ["", ":", "a:", " \x1c\u3000HTTP:x", "1a:", "a1+.-:", "a_b:", "é:", "\u212a:"]
    for text in samples:
        match = re.match(OLD_SCHEME, text)
        assert urls.scheme_of(text) == (match.group(1).lower() if match else ""), repr(text)


BASES = [
    "http://127.0.0.1:8080/page30/index.html",
    "http://127.0.0.1/",
    "http://example.test/a/b/",
    "http://example.test/a/b/c?x=1",
    "http://example.test/a/./b/../c.html",
    "http://example.test/a//b/c",
    "http://example.test/.hidden/x",
    "http://example.test/a;p/b;q",
    "http://[::1]:9000/dir/page",
]

REFERENCE_PIECES = [*WORDS, "/", ".", "..", "./", "../", "/./", "/../", ";", "//", "%", " ", "?"]


def outcome(call: Callable[..., object], *args: object) -> tuple[str, str]:
    try:
        return ("ok", str(call(*args)))
    except InvalidURL as exc:
        return ("InvalidURL", str(exc))


@pytest.mark.parametrize("base_text", BASES)
def test_join_gives_what_it_gave_with_re_and_urljoin(base_text: str) -> None:
    base = urls.parse(base_text)
    rng = random.Random(SEED)
    samples = [random_text(rng, REFERENCE_PIECES, 10) for _ in range(ROUNDS // 3)]
    samples += ["../x", "css/s1.css", "/a/b", "..", ".", "./", "../../../../z", "x/./../y/"]
    samples += ["a" * (urls.MAX_URL_LENGTH - 20) + "/../b"]
    for reference in samples:
        assert outcome(urls.join, base, reference) == outcome(old_join, base, reference), reference


def test_join_of_an_odd_base_url_object_is_urljoins() -> None:
    # URL objects made directly, with what parse() never makes: _join_path leaves them to urljoin
    for base in [
        urls.URL("example.test", 80, "a/b"),
        urls.URL("example.test", 80, "/a\tb/c"),
        urls.URL("example.test", 80, "/a?b/c"),
        urls.URL("ex/ample.test", 80, "/a/b"),
        urls.URL("example.test", 8080, "/a/b", "q=1", "https"),
    ]:
        for reference in ["../x", "./y", "x/../z", "..", "/a/./b"]:
            assert outcome(urls.join, base, reference) == outcome(old_join, base, reference)


def test_css_scanner_finds_what_the_regexes_find() -> None:
    for sample in css_samples():
        text = OLD_CSS_COMMENT.sub(" ", sample)
        assert cssscan.strip_comments(sample) == text, repr(sample)
        low = cssscan.folded(text)
        assert len(low) == len(text)
        imports = [
            (m.start(), m.end(), m["u1"] if m["u1"] is not None else m["u2"])
            for m in OLD_CSS_IMPORT.finditer(text)
        ]
        assert cssscan.imports(text, low) == imports, repr(text)
        found = [
            (m.start(), next(g for g in (m["d"], m["s"], m["b"]) if g is not None))
            for m in OLD_CSS_URL.finditer(text)
        ]
        assert list(cssscan.urls(text, low)) == found, repr(text)
        fonts = [m.span() for m in OLD_CSS_FONT_FACE.finditer(text)]
        assert cssscan.font_faces(text, low) == fonts, repr(text)


def test_extract_css_gives_what_it_gave_with_re() -> None:
    for sample in css_samples():
        assert extract_css(sample) == old_extract_css(sample), repr(sample)


def test_extract_css_stops_at_the_reference_cap_as_before() -> None:
    text = "@import 'a.css';" * 3 + "url(x.png)" * (MAX_REFERENCES + 5)
    assert extract_css(text) == old_extract_css(text)
    assert len(extract_css(text)) == MAX_REFERENCES


def test_fold_is_what_re_ignorecase_takes_for_an_ascii_letter() -> None:
    letters = re.compile("(?i)[a-z]")
    lowercase = set("abcdefghijklmnopqrstuvwxyz")
    for code in range(0x110000):
        char = chr(code)
        folded = cssscan.folded(char)
        assert len(folded) == 1
        if letters.fullmatch(char):
            assert folded in lowercase, hex(code)
            assert re.fullmatch("(?i)" + folded, char), hex(code)
        else:
            assert folded == char, hex(code)


META_PIECES = [
    b"<meta",
    b"<META",
    b"<Meta ",
    b" ",
    b"\t",
    b"\n",
    b"\x0b",
    b"\x0c",
    b"\x1c",
    b"\x85",
    b"\xa0",
    b">",
    b"<",
    b"charset",
    b"CHARSET",
    b"charset=",
    b"=",
    b'"',
    b"'",
    b"utf-8",
    b"ISO-8859-1",
    b"a_b:c.d",
    b"\xc3\xa9",
    b"\x00",
    b"http-equiv=content-type content='text/html; ",
]


def test_meta_charset_is_the_regex_search() -> None:
    rng = random.Random(SEED)
    samples = [
        b"".join(rng.choice(META_PIECES) for _ in range(rng.randint(0, 14))) for _ in range(ROUNDS)
    ]
    samples += [
        b"",
        b"<meta charset=utf-8>",
        b'<meta charset="windows-1252">',
        b"<metacharset=x>",
        b"<meta charset= >",
        b"<meta charset=a charset=b>",
        b"<meta charset=a charset=>",
        b"<meta x><meta charset=k>",
        b"<meta <meta charset='q'>",
        b"<meta charset =\n'z'",
    ]
    for head in samples:
        match = OLD_META_CHARSET.search(head)
        expected = match.group(1).decode("ascii") if match else None
        assert extract.meta_charset(head) == expected, head


def test_decode_reads_the_meta_charset_in_the_first_1024_bytes() -> None:
    body = b"<html><head><meta charset=latin-1></head>caf\xe9"
    assert extract.decode(body, None).endswith("café")
    late = b" " * 1020 + b"<meta charset=latin-1>" + b"\xe9"
    assert extract.decode(late, None).endswith("\ufffd")


def printed(call: Callable[[Any, int], str], data: object, limit: int) -> tuple[str, str]:
    try:
        return ("ok", call(data, limit))
    except (UnicodeError, AttributeError) as exc:  # a lone surrogate; a memoryview has no decode
        return (type(exc).__name__, str(exc))


def test_printable_is_what_it_was() -> None:
    rng = random.Random(SEED)
    pieces = [*WORDS, *TRICKY, *SPACES, "\r\n", "\x1b[31m", "\\x41"]
    texts = [random_text(rng, pieces, 20) for _ in range(ROUNDS)]
    texts += ["", "a" * 200, "a" * 201, "\\", "é" * 100, "\ud800"]
    for text in texts:
        for data in (text, text.encode("utf-8", "surrogatepass")):
            for limit in (200, 5):
                assert printed(logs.printable, data, limit) == printed(old_printable, data, limit)
    every_byte = bytes(range(256))
    assert logs.printable(every_byte, 300) == old_printable(every_byte, 300)
    for byte in every_byte:
        assert logs.printable(bytes([byte])) == old_printable(bytes([byte]))
        array = bytearray([byte])
        assert printed(logs.printable, array, 200) == printed(old_printable, array, 200)
        view = memoryview(bytes([byte, byte]))
        assert printed(logs.printable, view, 200) == printed(old_printable, view, 200)


MAX_AGES = [
    "0",
    "-0",
    "60",
    "-1",
    "+5",
    "--1",
    "-",
    "",
    "1" * 18,
    "1" * 19,
    "-" + "9" * 18,
    "١٢",  # Arabic-Indic digits: str.isdigit() but not [0-9]
    "²",
    "1.5",
    "1e3",
    " 7",
    "7 ",
    "0x10",
    "12a",
]


@pytest.mark.parametrize("raw", MAX_AGES)
def test_max_age_is_read_as_the_regex_read_it(raw: str) -> None:
    url = urls.parse("http://127.0.0.1:8080/")
    cookie = parse_set_cookie(f"a=b; Max-Age={raw}", url, now=1000.0)
    assert cookie is not None
    value = raw.strip()
    if re.fullmatch(OLD_MAX_AGE, value):
        seconds = int(value)
        assert cookie.expires == (1000.0 + seconds if seconds > 0 else 0.0)
    else:
        assert cookie.expires is None  # ignored: a session cookie


# -- without re, in a fresh interpreter ---------------------------------------------------------

# socketlab.browser's __init__ imports the whole browser (its HTTP parser, json...), which other
# modules' import of re is about; the package is stood in for so these modules are judged alone.
FRESH = r"""
import os, sys, types  # not json: it imports re
import socketlab
package = types.ModuleType("socketlab.browser")
package.__path__ = [os.path.join(socketlab.__path__[0], "browser")]
sys.modules["socketlab.browser"] = package
import socketlab.logs, socketlab.settings
from socketlab.browser import cookies, cssscan, extract, urls
after_import = "re" in sys.modules

page = urls.parse("http://127.0.0.1:8080/site/index.html")
references = ("css/s1.css", "../x", "/a/b", "./img/a.png", "..", "js/app.js")
joined = [str(page.join(r)) for r in references]
html = '''<!doctype html><html><head><title>T</title>
<link rel="stylesheet" href="css/s1.css"><link rel=icon href="/favicon.png">
<script src="js/app.js"></script><style>body { background: url(img/bg.png) }</style>
</head><body><img src="img/a.png" srcset="img/a-2x.png 2x"><p>Hello</p></body></html>'''
found = extract.extract_html(extract.decode(html.encode(), "text/html; charset=utf-8"))
css = '''/* site */ @import "a.css" screen; @import url(b.css);
@font-face { font-family: F; src: url("f.woff2") format("woff2") }
body { background: URL( 'bg.png' ) } .x { background-image: url(../img/x.png) }'''
refs = extract.extract_css(css)
extract.decode(b"<meta charset=latin-1>caf\xe9", None)
cookie = cookies.parse_set_cookie("sid=1; Max-Age=60; Path=/", page, now=0.0)
logged = [socketlab.logs.printable(v) for v in ("GET /a", b"GET /a\r\n", "caf\xe9")]
print(repr({
    "after_import": after_import,
    "after_use": "re" in sys.modules,
    "joined": joined,
    "html": [[r.url, r.kind] for r in found.references],
    "css": [[r.url, r.kind] for r in refs],
    "expires": cookie.expires,
    "logged": logged,
}))
"""


def test_a_page_load_of_these_modules_never_imports_re() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "services")}
    result = subprocess.run(
        [sys.executable, "-c", FRESH], capture_output=True, text=True, env=env, check=True
    )
    report = ast.literal_eval(result.stdout)
    assert report["after_import"] is False
    assert report["after_use"] is False
    assert report["joined"] == [
        "http://127.0.0.1:8080/site/css/s1.css",
        "http://127.0.0.1:8080/x",
        "http://127.0.0.1:8080/a/b",
        "http://127.0.0.1:8080/site/img/a.png",
        "http://127.0.0.1:8080/",
        "http://127.0.0.1:8080/site/js/app.js",
    ]
    assert report["html"] == [
        ["css/s1.css", "stylesheet"],
        ["/favicon.png", "icon"],
        ["js/app.js", "script"],
        ["img/bg.png", "image"],
        ["img/a.png", "image"],
    ]
    assert report["css"] == [
        ["a.css", "stylesheet"],
        ["b.css", "stylesheet"],
        ["f.woff2", "font"],
        ["bg.png", "image"],
        ["../img/x.png", "image"],
    ]
    assert report["expires"] == 60.0
    assert report["logged"] == ["GET /a", "GET /a\\x0d\\x0a", "caf\\xc3\\xa9"]
