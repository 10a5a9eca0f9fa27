"""HTML's tags and text as :class:`html.parser.HTMLParser` reads them, read with str methods.

:func:`tokens` returns a document's start tags, end tags and text, in order, as the events that
``HTMLParser(convert_charrefs=True)`` fed the whole document and closed would report: the same
tag names (lowercased), attributes (names lowercased, values unquoted and unescaped, ``None``
without ``=``), text chunks (unescaped, split where html.parser splits them: at every tag,
comment, declaration and processing instruction) and the raw text of ``<script>`` and
``<style>``. Comments, declarations and processing instructions are skipped, as the browser
ignores them.

It reads the markup pages are made of (lowercase or uppercase tags, quoted and unquoted
attributes, comments, a doctype, scripts and styles) and nothing else: for anything outside
that -- markup html.parser reads by its error-recovery rules (a ``<`` that starts no tag, a tag
left open at the end, ``--`` inside a comment, whitespace around ``=``, a bogus comment, a
marked section, a script's end tag in another form than ``</script>``...) -- it returns
``None``, and :func:`parsed_tokens` reads the document with html.parser itself. That keeps
the result html.parser's for every document, and a page load without ``html.parser``,
``_markupbase`` and their regular expressions: about 7 million instructions, some 2 ms, of the
browser's start to exit (issue 17).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is for the type checker only: see socketlab.structs
if TYPE_CHECKING:
    from typing import Final, TypeAlias

    Attrs: TypeAlias = list[tuple[str, str | None]]
    Token: TypeAlias = (
        tuple[str, str]  # ("data", text), ("end", tag)
        | tuple[str, str, Attrs]  # ("start", tag, attrs), ("startend", tag, attrs)
    )

_SPACE: Final = " \t\n\r\f"  # what ends a tag name in html.parser (and \x00, / and >)
_SPACE_SET: Final = frozenset(_SPACE)
_NAME: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
_ATTRIBUTE_NAME: Final = _NAME | frozenset("_:.")
_LETTERS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_RAW_TEXT: Final = frozenset({"script", "style"})  # html.parser's CDATA_CONTENT_ELEMENTS


class _Unsupported(Exception):
    """The document has markup this scanner leaves to html.parser."""


# The named references pages use most, each as html.unescape reads it with its semicolon
# (html.entities.html5): a text whose every "&" starts one of them is read here; any other
# reference, numeric ones included, by html.unescape, whose table and rules are large (and whose
# module imports re: issue 17).
_ENTITIES: Final = {
    "amp": "&",
    "lt": "<",
    "gt": ">",
    "quot": '"',
    "apos": "'",
    "nbsp": "\xa0",
    "middot": "\xb7",
    "copy": "\xa9",
    "reg": "\xae",
    "deg": "\xb0",
    "times": "\xd7",
    "laquo": "\xab",
    "raquo": "\xbb",
    "hellip": "\u2026",
    "ndash": "\u2013",
    "mdash": "\u2014",
    "lsquo": "\u2018",
    "rsquo": "\u2019",
    "ldquo": "\u201c",
    "rdquo": "\u201d",
    "bull": "\u2022",
    "larr": "\u2190",
    "rarr": "\u2192",
    "euro": "\u20ac",
    "trade": "\u2122",
}


def _unescape(text: str) -> str:
    """``html.unescape(text)``."""
    if "&" not in text:
        return text
    parts = text.split("&")
    out = [parts[0]]
    for part in parts[1:]:
        name, semicolon, rest = part.partition(";")
        char = _ENTITIES.get(name) if semicolon else None
        if char is None:
            import html  # a reference not in the table above

            return html.unescape(text)
        out.append(char)
        out.append(rest)
    return "".join(out)


def tokens(text: str) -> list[Token] | None:
    """The document's events as html.parser reports them, or ``None`` when the document has
    markup outside what this scanner reads (see the module's docstring)."""
    try:
        return _scan(text)
    except _Unsupported:
        return None


def _scan(text: str) -> list[Token]:
    out: list[Token] = []
    n = len(text)
    i = 0
    while i < n:
        j = text.find("<", i)
        if j < 0:
            j = n
        if i < j:
            out.append(("data", _unescape(text[i:j])))
        if j == n:
            break
        following = text[j + 1 : j + 2]
        if following in _LETTERS:
            i = _start_tag(text, j, out)
        elif following == "/":
            i = _end_tag(text, j, out)
        elif text.startswith("<!--", j):
            i = _comment(text, j)
        elif following == "?" or text[j : j + 9].lower() == "<!doctype":
            close = text.find(">", j + 2)  # a processing instruction or the doctype
            if close < 0:
                raise _Unsupported
            i = close + 1
        else:
            raise _Unsupported  # data "<", a bogus comment, a marked section
    return out


def _comment(text: str, i: int) -> int:
    close = text.find("-->", i + 4)
    # html.parser ends a comment at --\s*>: with no other -- inside, that is this -->
    if close < 0 or "--" in text[i + 4 : close]:
        raise _Unsupported
    return close + 3


def _name_end(text: str, i: int, allowed: frozenset[str]) -> int:
    n = len(text)
    while i < n and text[i] in allowed:
        i += 1
    return i


def _start_tag(text: str, i: int, out: list[Token]) -> int:
    n = len(text)
    k = _name_end(text, i + 1, _NAME)
    tag = text[i + 1 : k].lower()
    attrs: Attrs = []
    while True:
        spaced = k < n and text[k] in _SPACE
        while k < n and text[k] in _SPACE:
            k += 1
        if k >= n:
            raise _Unsupported  # a tag open at the end
        char = text[k]
        if char == ">":
            out.append(("start", tag, attrs))
            k += 1
            return _raw_text(text, k, tag, out) if tag in _RAW_TEXT else k
        if char == "/":
            if not text.startswith("/>", k):
                raise _Unsupported
            out.append(("startend", tag, attrs))
            return k + 2
        if not spaced or char not in _ATTRIBUTE_NAME:
            raise _Unsupported
        start = k
        k = _name_end(text, k, _ATTRIBUTE_NAME)
        name = text[start:k].lower()
        if k >= n:
            raise _Unsupported
        if text[k] != "=":
            if text[k] not in _SPACE and text[k] not in "/>":
                raise _Unsupported
            attrs.append((name, None))
            continue
        k += 1
        quote = text[k : k + 1]
        if quote in ("'", '"'):
            close = text.find(quote, k + 1)
            if close < 0:
                raise _Unsupported
            value = text[k + 1 : close]
            k = close + 1
            if k < n and text[k] not in _SPACE and text[k] not in "/>":
                raise _Unsupported  # html.parser reads on without a space: leave it to it
        else:
            start = k
            while k < n and text[k] != ">" and not text[k].isspace():
                k += 1
            value = text[start:k]
            if not value or value[0] == "=" or (k < n and text[k] not in _SPACE + ">"):
                raise _Unsupported  # "=" then a space or "==": html.parser's \s*=+\s*
        attrs.append((name, _unescape(value)))


def _raw_text(text: str, i: int, tag: str, out: list[Token]) -> int:
    """After ``<script>`` or ``<style>``: the text up to ``</script>`` (``</style>``), raw."""
    # html.parser ends (or splits) it at the first </\s*script\s*> in any case (re.I, which
    # folds some non-ASCII letters too): found here as the first "</", spaces, "script"; any
    # other form than </script>, spaces, ">", or non-ASCII text before it, is for it to read.
    close = text.find("</", i)
    while close >= 0:
        name = _skip_space(text, close + 2)
        if text[name : name + len(tag)].lower() == tag:
            break
        close = text.find("</", close + 2)
    if close < 0:
        raise _Unsupported  # html.parser drops the text of a script left open
    body = text[i:close]
    end = _name_end(text, close + 2 + len(tag), _SPACE_SET)
    if (
        not body.isascii()
        or text[close + 2 : close + 2 + len(tag)].lower() != tag
        or text[end : end + 1] != ">"
    ):
        raise _Unsupported
    if body:
        out.append(("data", body))
    out.append(("end", tag))
    return end + 1


def _skip_space(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i].isspace():
        i += 1
    return i


def _end_tag(text: str, i: int, out: list[Token]) -> int:
    k = _name_end(text, i + 2, _NAME)
    if k == i + 2 or text[i + 2] not in _LETTERS:
        raise _Unsupported
    tag = text[i + 2 : k].lower()
    k = _name_end(text, k, _SPACE_SET)
    if text[k : k + 1] != ">":
        raise _Unsupported
    out.append(("end", tag))
    return k + 1


def parsed_tokens(text: str) -> list[Token]:
    """The document's events as html.parser reads them (any document)."""
    from html.parser import HTMLParser

    class _Recorder(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.events: list[Token] = []

        def handle_starttag(self, tag: str, attrs: Attrs) -> None:
            self.events.append(("start", tag, attrs))

        def handle_startendtag(self, tag: str, attrs: Attrs) -> None:
            self.events.append(("startend", tag, attrs))

        def handle_endtag(self, tag: str) -> None:
            self.events.append(("end", tag))

        def handle_data(self, data: str) -> None:
            self.events.append(("data", data))

    recorder = _Recorder()
    recorder.feed(text)
    recorder.close()
    return recorder.events
