"""A stylesheet's comments, ``@import``, ``url()`` and ``@font-face`` blocks, read with str methods.

These are what :func:`.extract.extract_css` reads from CSS, found exactly where these regular
expressions (applied in this order, each with ``finditer`` on the text without comments) find
them, for every text; ``tests/unit/test_browser_without_re.py`` keeps them as the reference::

    comment   /\\*.*?(?:\\*/|\\Z)                                        re.S, replaced by " "
    @import   @import\\s+(?:url\\(\\s*(?P<q1>["']?)(?P<u1>[^"')]*)(?P=q1)\\s*\\)
                        |(?P<q2>["'])(?P<u2>.*?)(?P=q2))                 re.I | re.S
    url()     url\\(\\s*(?:"(?P<d>[^"]*)"|'(?P<s>[^']*)'|(?P<b>[^)"'\\s]*))\\s*\\)   re.I
    font      @font-face\\s*\\{[^}]*\\}                                   re.I

``\\s`` is what :meth:`str.isspace` is (re's Unicode whitespace), and the keywords match in any
case as ``re.I`` matches them: ASCII letters either way, and the few other characters
``re.I`` takes for an ASCII letter (see :data:`_FOLD`). Reading them without re keeps a page
load from importing it, with enum under it, and compiling the expressions: together a large
part of the browser's start-up (issue 17).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is for the type checker only: see socketlab.structs
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Final

_FOLD: Final = {
    **{code: code + 32 for code in range(ord("A"), ord("Z") + 1)},
    0x130: ord("i"),  # LATIN CAPITAL LETTER I WITH DOT ABOVE
    0x131: ord("i"),  # LATIN SMALL LETTER DOTLESS I
    0x17F: ord("s"),  # LATIN SMALL LETTER LONG S
    0x212A: ord("k"),  # KELVIN SIGN
}
"""What ``re.I`` matches to a lowercase ASCII letter in a str pattern: the uppercase ASCII
letter, and these four (re's case folding of ``i``, ``s`` and ``k``)."""

_QUOTES: Final = ('"', "'")


def folded(text: str) -> str:
    """``text`` with every character ``re.I`` takes for an ASCII letter as that letter in
    lowercase, and nothing else changed: the same length, so an index in one is one in the
    other."""
    return text.lower() if text.isascii() else text.translate(_FOLD)


def strip_comments(text: str) -> str:
    """``text`` with each comment (``/* ... */``, or from ``/*`` to the end when unclosed)
    replaced by one space."""
    if "/*" not in text:
        return text
    out: list[str] = []
    i = 0
    while True:
        j = text.find("/*", i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        out.append(" ")
        k = text.find("*/", j + 2)
        if k < 0:
            break
        i = k + 2
    return "".join(out)


def _skip_space(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i].isspace():
        i += 1
    return i


def imports(text: str, low: str) -> list[tuple[int, int, str]]:
    """Each ``@import`` rule's span and URL as written (unstripped), in order. ``low`` is
    :func:`folded` ``text``."""
    found: list[tuple[int, int, str]] = []
    i = low.find("@import")
    while i >= 0:
        match = _import_at(text, low, i)
        if match is None:
            i = low.find("@import", i + 1)
        else:
            found.append((i, match[0], match[1]))
            i = low.find("@import", match[0])
    return found


def _import_at(text: str, low: str, i: int) -> tuple[int, str] | None:
    k = _skip_space(text, i + 7)
    if k == i + 7:
        return None  # \s+
    if low.startswith("url(", k):
        k = _skip_space(text, k + 4)
        quote = text[k : k + 1]
        if quote in _QUOTES:  # the value runs to the same quote, with no other quote or ")"
            close = text.find(quote, k + 1)
            if close < 0:
                return None
            value = text[k + 1 : close]
            if '"' in value or "'" in value or ")" in value:
                return None
            end = _skip_space(text, close + 1)
            return (end + 1, value) if text[end : end + 1] == ")" else None
        close = text.find(")", k)  # unquoted: to the ")", with no quote before it
        if close < 0:
            return None
        value = text[k:close]
        return None if '"' in value or "'" in value else (close + 1, value)
    quote = text[k : k + 1]
    if quote in _QUOTES:
        close = text.find(quote, k + 1)
        if close >= 0:
            return close + 1, text[k + 1 : close]
    return None


def urls(text: str, low: str) -> Iterator[tuple[int, str]]:
    """Each ``url()``'s start and value as written (unstripped), in order. ``low`` is
    :func:`folded` ``text``."""
    i = low.find("url(")
    while i >= 0:
        match = _url_at(text, i)
        if match is None:
            i = low.find("url(", i + 1)
        else:
            yield i, match[1]
            i = low.find("url(", match[0])


def _url_at(text: str, i: int) -> tuple[int, str] | None:
    k = _skip_space(text, i + 4)
    quote = text[k : k + 1]
    if quote in _QUOTES:
        close = text.find(quote, k + 1)
        if close < 0:
            return None
        value = text[k + 1 : close]
        k = _skip_space(text, close + 1)
        return (k + 1, value) if text[k : k + 1] == ")" else None
    # Unquoted: characters other than quotes, ")" and whitespace, then whitespace, then the
    # first ")"; the text up to it, less trailing whitespace, must hold no quote or whitespace.
    close = text.find(")", k)
    if close < 0:
        return None
    value = text[k:close].rstrip()
    if '"' in value or "'" in value or len(value.split(maxsplit=1)) > 1:
        return None
    return close + 1, value


def font_faces(text: str, low: str) -> list[tuple[int, int]]:
    """Each ``@font-face { ... }`` block's span, in order. ``low`` is :func:`folded` ``text``."""
    found: list[tuple[int, int]] = []
    i = low.find("@font-face")
    while i >= 0:
        k = _skip_space(text, i + 10)
        close = text.find("}", k + 1) if text[k : k + 1] == "{" else -1
        if close < 0:
            i = low.find("@font-face", i + 1)
        else:
            found.append((i, close + 1))
            i = low.find("@font-face", close + 1)
    return found
