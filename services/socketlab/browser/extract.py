"""What a page makes a browser fetch: references found in HTML and CSS. No I/O here.

:func:`extract_html` walks a document's tags as :class:`html.parser.HTMLParser` reads them
(:mod:`.htmlscan`) and returns the references a browser would request, in document order,
with their kind:

* ``stylesheet`` -- ``<link rel=stylesheet>`` (not ``alternate``), ``@import`` in ``<style>``;
* ``script`` -- ``<script src>`` whose type is JavaScript or ``module`` (data blocks such as
  ``type="text/template"`` and ``nomodule`` scripts are not fetched by a modern browser);
* ``image`` -- ``<img>`` (one candidate chosen from ``srcset``, as a browser with a
  device-pixel ratio of 1 and a 1280 px wide viewport would), ``<picture><source srcset>``,
  ``<input type=image>``, ``<video poster>``, ``url()`` in ``style`` attributes and ``<style>``;
* ``icon`` -- the first ``<link rel~=icon>``; when there is none the browser asks for
  ``/favicon.ico`` (:attr:`PageResources.has_icon` tells it);
* ``font`` -- ``url()`` inside ``@font-face``;
* preloads (``<link rel=preload as=...>``, ``modulepreload``) by their ``as``.

Not fetched, on purpose: frames (a page inside the page would be a navigation of its own),
``<audio>``/``<video>`` sources (browsers fetch those lazily, by ranges), ``image-set()`` without
``url()``, anything inside ``<template>``, and references that cause no request (``data:``,
``#fragment``, ``javascript:``).

:func:`extract_css` does the same for a stylesheet: ``@import`` (kind ``stylesheet``, fetched
and read in turn) and ``url()`` (``font`` inside ``@font-face``, else ``image``).
"""

from __future__ import annotations

from ..structs import field, record
from . import cssscan, htmlscan
from .urls import is_network_reference

TYPE_CHECKING = False  # typing is for the type checker only: see socketlab.structs
if TYPE_CHECKING:
    from typing import Final

VIEWPORT_WIDTH: Final = 1280
"""CSS pixels of the pretend viewport, for choosing among ``srcset`` width candidates: the most
common desktop width class; a ``sizes`` attribute is not evaluated (taken as 100vw)."""

DEVICE_PIXEL_RATIO: Final = 1.0
"""A plain desktop screen: ``1x`` candidates win."""

MAX_REFERENCES: Final = 10_000
"""Most references collected from one document or stylesheet; the browser's own resource cap
is far lower, this only bounds memory for a hostile page."""

# Script types a browser executes (HTML: "a JavaScript MIME type essence match", or module).
_SCRIPT_TYPES: Final = frozenset(
    {
        "",
        "module",
        "text/javascript",
        "application/javascript",
        "application/ecmascript",
        "application/x-javascript",
        "text/ecmascript",
        "text/jscript",
    }
)
_PRELOAD_KINDS: Final = {
    "style": "stylesheet",
    "script": "script",
    "image": "image",
    "font": "font",
}
_BLOCK_TAGS: Final = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "td",
        "th",
        "table",
        "section",
        "article",
        "header",
        "footer",
        "main",
        "nav",
        "pre",
        "figure",
        "figcaption",
        "form",
        "label",
        "dt",
        "dd",
        "title",
        "option",
        "blockquote",
        "hr",
    }
)
_HIDDEN_TAGS: Final = frozenset({"script", "style", "template", "noscript"})


@record(frozen=True)
class Reference:
    """A reference as written in the page (not yet joined to a base URL) and what it is for."""

    url: str
    kind: str

    def __init__(  # written out: one per request, as fast as generated code
        self,
        url: str,
        kind: str,
    ) -> None:
        values = self.__dict__  # frozen: past its __setattr__
        values["url"] = url
        values["kind"] = kind


@record
class PageResources:
    """What :func:`extract_html` found in one document."""

    references: list[Reference] = field(default_factory=list)
    base_href: str | None = None
    has_icon: bool = False
    title: str = ""
    text: str = ""


def parse_srcset(value: str) -> list[tuple[str, str]]:
    """Split a ``srcset`` into (url, descriptor) pairs, per the HTML standard's algorithm.

    URLs may contain commas (``a,b.png 2x``); a comma ends a candidate only after whitespace or
    when it ends the URL itself.
    """
    out: list[tuple[str, str]] = []
    pos, end = 0, len(value)
    while pos < end and len(out) < MAX_REFERENCES:
        while pos < end and (value[pos].isspace() or value[pos] == ","):
            pos += 1
        if pos >= end:
            break
        start = pos
        while pos < end and not value[pos].isspace():
            pos += 1
        url = value[start:pos]
        descriptor = ""
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            depth, dstart = 0, pos
            while pos < end:
                char = value[pos]
                if char == "(":
                    depth += 1
                elif char == ")" and depth:
                    depth -= 1
                elif char == "," and not depth:
                    break
                pos += 1
            descriptor = value[dstart:pos].strip()
        if url:
            out.append((url, descriptor))
    return out


def _descriptor(text: str) -> tuple[str, float] | None:
    """("w", 640.0), ("x", 1.5), or None for a descriptor a browser would drop."""
    text = text.strip().lower()
    if not text:
        return ("x", 1.0)
    try:
        if text.endswith("w"):
            return ("w", float(int(text[:-1])))
        if text.endswith("x"):
            return ("x", float(text[:-1]))
    except ValueError:
        return None
    return None


def choose_srcset(candidates: list[tuple[str, str]], src: str | None = None) -> str | None:
    """The one candidate a browser would fetch at :data:`DEVICE_PIXEL_RATIO` and
    :data:`VIEWPORT_WIDTH`: the smallest that is large enough, else the largest. ``src`` is
    a ``1x`` candidate unless the srcset has one."""
    widths: list[tuple[float, str]] = []
    densities: list[tuple[float, str]] = []
    for url, text in candidates:
        parsed = _descriptor(text)
        if parsed is None:
            continue
        (widths if parsed[0] == "w" else densities).append((parsed[1], url))
    if widths:
        need = VIEWPORT_WIDTH * DEVICE_PIXEL_RATIO
        big_enough = sorted(c for c in widths if c[0] >= need)
        return big_enough[0][1] if big_enough else max(widths)[1]
    if src and not any(d == 1.0 for d, _ in densities):
        densities.append((1.0, src))
    if not densities:
        return src or None
    big_enough = sorted(c for c in densities if c[0] >= DEVICE_PIXEL_RATIO)
    return big_enough[0][1] if big_enough else max(densities)[1]


def extract_css(text: str) -> list[Reference]:
    """References in a stylesheet, in order: ``@import`` first-class, then ``url()`` values.

    Comments are skipped; :mod:`.cssscan` finds the rules (with str methods, not re).
    """
    text = cssscan.strip_comments(text)
    low = cssscan.folded(text)
    refs: list[Reference] = []
    taken: list[tuple[int, int]] = []
    for start, end, url in cssscan.imports(text, low):
        taken.append((start, end))
        if url and is_network_reference(url):
            refs.append(Reference(url.strip(), "stylesheet"))
    fonts = cssscan.font_faces(text, low)
    for start, url in cssscan.urls(text, low):
        if len(refs) >= MAX_REFERENCES:
            break
        if any(a <= start < b for a, b in taken):
            continue
        if not is_network_reference(url):
            continue
        kind = "font" if any(a <= start < b for a, b in fonts) else "image"
        refs.append(Reference(url.strip(), kind))
    return refs


class _Extractor:
    """What a document's events (:func:`.htmlscan.tokens`) make a browser fetch and show."""

    def __init__(self) -> None:
        self.found = PageResources()
        self._text: list[str] = []
        self._title: list[str] = []
        self._in_title = False
        self._style: list[str] | None = None
        self._hidden = 0  # depth inside script/style/template/...: no visible text
        self._template = 0  # depth inside <template>: inert, nothing is fetched
        self._picture_chosen: bool | None = None  # None: not inside <picture>
        self._media = 0  # depth inside <audio>/<video>: their <source>s are not fetched

    # -- helpers --------------------------------------------------------------------------------

    def _add(self, url: str | None, kind: str) -> None:
        refs = self.found.references
        if url is not None and is_network_reference(url) and len(refs) < MAX_REFERENCES:
            refs.append(Reference(url.strip(" \t\n\r\f"), kind))

    @staticmethod
    def _attrs(attrs: list[tuple[str, str | None]]) -> dict[str, str]:
        # HTML: a duplicate attribute is a parse error and the *first* one wins (dict() would
        # keep the last).
        out: dict[str, str] = {}
        for name, value in attrs:
            out.setdefault(name.lower(), value if value is not None else "")
        return out

    # -- html.parser's events ---------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._text.append("\n")
        if tag == "template":
            self._template += 1
        if tag in _HIDDEN_TAGS:
            self._hidden += 1
        if self._template:
            return
        a = self._attrs(attrs)
        if "style" in a:
            for ref in extract_css(a["style"]):
                self._add(ref.url, ref.kind)
        handler = getattr(self, f"_start_{tag}", None)
        if handler is not None:
            handler(a)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in ("script", "style", "template", "noscript", "title", "picture", "audio", "video"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self._text.append("\n")
        if tag == "template" and self._template:
            self._template -= 1
        if tag in _HIDDEN_TAGS and self._hidden:
            self._hidden -= 1
        if tag == "title":
            self._in_title = False
        elif tag == "style" and self._style is not None:
            if not self._template:
                for ref in extract_css("".join(self._style)):
                    self._add(ref.url, ref.kind)
            self._style = None
        elif tag == "picture":
            self._picture_chosen = None
        elif tag in ("audio", "video") and self._media:
            self._media -= 1

    def handle_data(self, data: str) -> None:
        if self._style is not None:
            self._style.append(data)
        elif self._in_title:
            self._title.append(data)
        elif not self._hidden and not self._template:
            self._text.append(data)

    # -- elements -------------------------------------------------------------------------------

    def _start_base(self, a: dict[str, str]) -> None:
        if self.found.base_href is None and "href" in a:
            self.found.base_href = a["href"]

    def _start_title(self, a: dict[str, str]) -> None:
        self._in_title = True

    def _start_style(self, a: dict[str, str]) -> None:
        self._style = []

    def _start_link(self, a: dict[str, str]) -> None:
        rel = set(a.get("rel", "").lower().split())
        href = a.get("href")
        if "stylesheet" in rel and "alternate" not in rel:
            self._add(href, "stylesheet")
        elif "icon" in rel:
            if not self.found.has_icon:
                self._add(href, "icon")
            self.found.has_icon = True
        elif "preload" in rel:
            kind = _PRELOAD_KINDS.get(a.get("as", "").lower())
            if kind is not None:
                self._add(href, kind)
        elif "modulepreload" in rel:
            self._add(href, "script")

    def _start_script(self, a: dict[str, str]) -> None:
        kind = a.get("type", "").strip().lower().split(";")[0].strip()
        if "src" in a and kind in _SCRIPT_TYPES and "nomodule" not in a:
            self._add(a["src"], "script")

    def _start_picture(self, a: dict[str, str]) -> None:
        self._picture_chosen = False

    def _start_audio(self, a: dict[str, str]) -> None:
        self._media += 1

    def _start_video(self, a: dict[str, str]) -> None:
        self._media += 1
        self._add(a.get("poster"), "image")

    def _start_source(self, a: dict[str, str]) -> None:
        # Inside <picture> the first <source> without a media query wins (media queries are not
        # evaluated: there is no screen); its srcset replaces the <img>'s own choice.
        if self._media or self._picture_chosen is None or self._picture_chosen:
            return
        if "srcset" in a and not a.get("media", "").strip():
            chosen = choose_srcset(parse_srcset(a["srcset"]))
            if chosen:
                self._add(chosen, "image")
                self._picture_chosen = True

    def _start_img(self, a: dict[str, str]) -> None:
        if self._picture_chosen:
            return
        src = a.get("src")
        if "srcset" in a:
            src = choose_srcset(parse_srcset(a["srcset"]), src)
        self._add(src, "image")

    def _start_input(self, a: dict[str, str]) -> None:
        if a.get("type", "").lower() == "image":
            self._add(a.get("src"), "image")

    def _start_body(self, a: dict[str, str]) -> None:
        self._add(a.get("background"), "image")  # obsolete, still honoured by browsers

    def result(self) -> PageResources:
        self.found.title = " ".join("".join(self._title).split())
        lines = ("".join(self._text)).split("\n")
        self.found.text = "\n".join(" ".join(line.split()) for line in lines if line.strip())
        return self.found


def extract_html(text: str) -> PageResources:
    """References, ``<base href>``, icon presence, title and visible text of one document."""
    extractor = _Extractor()
    events = htmlscan.tokens(text)
    if events is None:
        events = htmlscan.parsed_tokens(text)
    for event in events:
        if len(event) == 3:  # a start tag, or an empty-element tag (<br/>), with its attributes
            if event[0] == "start":
                extractor.handle_starttag(event[1], event[2])
            else:
                extractor.handle_startendtag(event[1], event[2])
        elif event[0] == "data":
            extractor.handle_data(event[1])
        else:
            extractor.handle_endtag(event[1])
    return extractor.result()


_SPACE_BYTES: Final = b" \t\n\r\x0b\x0c"  # what re's \s is in a bytes pattern
_CHARSET_NAME: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-:."
)


def meta_charset(head: bytes) -> str | None:
    r"""The charset a ``<meta>`` tag in ``head`` names, as the regular expression
    ``<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-:.]+)`` (bytes, ``re.I``) finds it with
    ``search``: the first ``<meta`` with one, and in it the last ``charset=`` (before the tag's
    first ``>``) with a name after it. Read with bytes methods: a page load does not import re.
    """
    low = head.lower()  # bytes: ASCII letters only, as re.I folds a bytes pattern
    tag = low.find(b"<meta")
    while tag >= 0:
        close = low.find(b">", tag + 5)
        k = low.rfind(b"charset", tag + 6, len(low) if close < 0 else close)
        while k >= 0:
            name = _charset_name(head, k + 7)
            if name:
                return name.decode("ascii")
            k = low.rfind(b"charset", tag + 6, k + 6)
        tag = low.find(b"<meta", tag + 1)
    return None


def _charset_name(head: bytes, i: int) -> bytes:
    r"""After ``charset``: ``\s*=\s*["']?`` and the name, or b"" when that is not there."""
    i = len(head) - len(head[i:].lstrip(_SPACE_BYTES))
    if head[i : i + 1] != b"=":
        return b""
    i = len(head) - len(head[i + 1 :].lstrip(_SPACE_BYTES))
    if head[i : i + 1] in (b'"', b"'"):
        i += 1
    end = i
    while end < len(head) and head[end] in _CHARSET_NAME:
        end += 1
    return head[i:end]


def decode(body: bytes, content_type: str | None) -> str:
    """Text of a response body: charset from Content-Type, else ``<meta charset>`` in the first
    1024 bytes (the HTML standard's prescan window), else UTF-8; undecodable bytes replaced."""
    charset = None
    if content_type:
        for part in content_type.split(";")[1:]:
            name, _, value = part.partition("=")
            if name.strip().lower() == "charset":
                charset = value.strip().strip('"')
    if charset is None:
        charset = meta_charset(body[:1024])
    try:
        return body.decode(charset or "utf-8", "replace")
    except LookupError:
        return body.decode("utf-8", "replace")
