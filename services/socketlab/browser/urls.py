"""URLs the browser will request: parsing, validation and joining, with nothing sent yet.

Only ``http://`` is followed (the lab has no TLS). A URL is refused, with a reason, when it
contains a space, a control character (CR and LF included) or DEL: such a URL would split or
forge the request line (``GET /a HTTP/1.1\\r\\nX-Injected: 1``), and Python's ``urlsplit``
silently *removes* tabs and newlines (bpo-43882), so the check runs on the raw text first.

References found in a page get the WHATWG treatment a browser gives them before that check:
leading and trailing whitespace is stripped (``src="\\n  /img/a.png  "`` is common in
hand-written HTML), non-ASCII characters in the path and query are percent-encoded as UTF-8.
"""

from __future__ import annotations

from ..structs import record
from .errors import InvalidURL

TYPE_CHECKING = False  # typing is for the type checker only: see socketlab.structs
if TYPE_CHECKING:
    from typing import Final

DEFAULT_PORT: Final = 80

MAX_URL_LENGTH: Final = 8000
"""Longest URL accepted: RFC 9110 §4.1 recommends that senders and recipients support at least
8000 octets, and the lab's servers refuse request lines above 8190 bytes."""

_NAMES: Final = {"\r": "CR", "\n": "LF", "\t": "a tab", " ": "a space", "\x7f": "DEL"}

# Characters left as they are when percent-encoding a path or query: RFC 3986 unreserved,
# sub-delims, ':' '@' '/' '?' and '%' (an existing escape must not be encoded twice).
_SAFE: Final = "/?:@!$&'()*+,;=-._~%[]"

# A relative reference that resolves by plain concatenation: path characters that quote()
# leaves as they are (no ':' that could start a scheme, no '?', '#', brackets or escapes to
# check), no '//' (network-path '//host', or an empty segment urljoin() would drop), and no
# '.' or '..' segment to remove (RFC 3986 §5.2). Read with str methods, like everything here
# a page load needs: importing re (and enum under it) was a large part of the browser's
# start-up (issue 17).
_PLAIN_REFERENCE_CHARS: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=@/"
)

# Schemes that never cause a network request (RFC 2397 data:, in-page fragments and friends).
NON_NETWORK_SCHEMES: Final = frozenset({"data", "javascript", "about", "blob", "mailto", "tel"})


@record(frozen=True)
class URL:
    """An absolute http URL, normalised: lower-case host, explicit port, path starting with /.

    ``path`` and ``query`` are percent-encoded ASCII; the fragment is dropped (it is never sent).
    """

    host: str
    port: int
    path: str
    query: str = ""
    scheme: str = "http"

    def __init__(  # written out: one per request, as fast as generated code
        self,
        host: str,
        port: int,
        path: str,
        query: str = "",
        scheme: str = "http",
    ) -> None:
        values = self.__dict__  # frozen: past its __setattr__
        values["host"] = host
        values["port"] = port
        values["path"] = path
        values["query"] = query
        values["scheme"] = scheme

    @property
    def target(self) -> str:
        """The request-target in origin-form (RFC 9112 §3.2.1): path and query."""
        return self.path + ("?" + self.query if self.query else "")

    @property
    def authority(self) -> str:
        """``host[:port]``, the port left out when it is the default; IPv6 in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORT else f"{host}:{self.port}"

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.authority}{self.target}"

    def join(self, reference: str) -> URL:
        """Resolve ``reference`` against this URL (RFC 3986 §5) and validate the result."""
        return join(self, reference)

    def with_query(self, query: str) -> URL:
        """This URL with ``query`` appended to its query string (with ``&`` if it had one)."""
        if not query:
            return self
        joined = f"{self.query}&{query}" if self.query else query
        return URL(self.host, self.port, self.path, joined, self.scheme)


def check_text(text: str) -> None:
    """Raise :class:`InvalidURL` if ``text`` has a space, a control character or DEL in it."""
    if len(text) > MAX_URL_LENGTH:
        raise InvalidURL(f"URL longer than {MAX_URL_LENGTH} characters")
    if " " in text or not text.isprintable():  # else no control character, DEL or space
        char = next((c for c in text if c <= " " or c == "\x7f"), None)
        if char is not None:
            name = _NAMES.get(char, f"the control character {ord(char):#04x}")
            raise InvalidURL(f"URL contains {name}: {_short(text)}")


# An absolute URL that urlsplit() and quote() would leave as it is: http://, a host name or
# IPv4 address, a port of digits, then a path and query of characters quote() keeps.
_PLAIN_URL_CHARS: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=@/:%"
)
_HOST_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.")


def _plain(text: str) -> URL | None:
    """:func:`parse`'s result for a plain URL (``http://127.0.0.1:8080/a/b.css?x=1``), read with
    str methods; None for any other text, which :func:`parse` reads with urlsplit()."""
    if not text.startswith("http://"):
        return None
    rest = text[7:].partition("#")[0]  # the fragment is never sent
    rest, _, query = rest.partition("?")
    slash = rest.find("/")
    authority, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    host, colon, port_text = authority.partition(":")
    if not host or not _HOST_CHARS.issuperset(host):
        return None
    port = DEFAULT_PORT
    if colon:
        if not (0 < len(port_text) <= 5 and port_text.isascii() and port_text.isdigit()):
            return None
        port = int(port_text)
        if not 0 < port <= 65535:
            return None
    if not _PLAIN_URL_CHARS.issuperset(path) or not _PLAIN_URL_CHARS.issuperset(query):
        return None
    return URL(host=host.lower(), port=port, path=path or "/", query=query)


def parse(text: str) -> URL:
    """Parse an absolute ``http://`` URL given by a person (a flag, a scenario file)."""
    check_text(text)
    plain = _plain(text)
    return plain if plain is not None else _split(text)


def _split(text: str) -> URL:
    """:func:`parse` by urlsplit(), for any text that has passed :func:`check_text`."""
    # urllib.parse here, for the URLs _plain leaves to it: its import (with ipaddress) cost
    # every page load about 12 million instructions, some 4 ms (issue 17).
    from urllib.parse import quote, urlsplit

    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if not scheme:
        raise InvalidURL(f"not an absolute URL (expected http://HOST[:PORT]/PATH): {_short(text)}")
    if scheme != "http":
        raise InvalidURL(f"only http:// URLs are followed, not {scheme}: {_short(text)}")
    if parts.username is not None or parts.password is not None:
        raise InvalidURL(f"credentials in URLs are not supported: {_short(text)}")
    host = parts.hostname or ""
    if not host:
        raise InvalidURL(f"URL has no host: {_short(text)}")
    try:
        port = parts.port
    except ValueError:
        raise InvalidURL(f"URL has an invalid port: {_short(text)}") from None
    if port == 0:
        raise InvalidURL(f"URL has an invalid port: {_short(text)}")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise InvalidURL(f"URL has an invalid host name: {_short(text)}") from None
    path = quote(parts.path or "/", safe=_SAFE)
    if not path.startswith("/"):
        path = "/" + path
    query = quote(parts.query, safe=_SAFE)
    return URL(host=host.lower(), port=port or DEFAULT_PORT, path=path, query=query)


def join(base: URL, reference: str) -> URL:
    """Resolve a reference found in a page (``href``, ``src``, ``url()``, ``Location``).

    Leading and trailing whitespace is stripped as the HTML standard does for URL attributes;
    what is left must pass :func:`check_text`. Raises :class:`InvalidURL` with the reason.
    """
    reference = reference.strip(" \t\n\r\f")
    if _is_plain_reference(reference) and "/." not in base.path:
        # The common case (``css/site.css``, ``/img/a.png``), resolved the way urljoin() would
        # and checked the way parse() would, without either (a page has dozens of these).
        if reference[0] == "/":
            path = reference
        else:
            path = base.path[: base.path.rfind("/") + 1] + reference
        url = URL(base.host, base.port, path, "", base.scheme)
        if len(str(url)) <= MAX_URL_LENGTH:
            return url
    check_text(reference)
    joined = _join_path(base, reference)
    if joined is None:
        from urllib.parse import urljoin  # not with the module: see parse

        joined = urljoin(str(base), reference)
    return parse(joined)


def _is_plain_reference(reference: str) -> bool:
    """Whether ``reference`` resolves by concatenation (see :data:`_PLAIN_REFERENCE_CHARS`)."""
    if not reference or "//" in reference or not _PLAIN_REFERENCE_CHARS.issuperset(reference):
        return False
    segments = reference.split("/")
    return "." not in segments and ".." not in segments


def _join_path(base: URL, reference: str) -> str | None:
    """``urljoin(str(base), reference)`` for a reference of path characters (``../x``,
    ``./a/b.css``) on a base of a host name or IPv4 address and a plain path, computed as
    urljoin() does (RFC 3986 §5.2 with its remove_dot_segments); None for any other, which
    :func:`join` gives to urljoin(). urllib.parse imports re: see :func:`_split`.
    """
    if (
        not reference
        or "//" in reference
        or ";" in reference  # urlparse() would split it off as ;params
        or not _PLAIN_REFERENCE_CHARS.issuperset(reference)
        or base.scheme != "http"
        or not base.host
        or not _HOST_CHARS.issuperset(base.host)
        or base.path[:1] != "/"
        or ";" in base.path
        or not _PLAIN_URL_CHARS.issuperset(base.path)
    ):
        return None
    if reference[0] == "/":
        segments = reference.split("/")
    else:
        base_parts = base.path.split("/")
        if base_parts[-1] != "":
            del base_parts[-1]  # the last segment is not a directory
        segments = base_parts + reference.split("/")
        segments[1:-1] = [segment for segment in segments[1:-1] if segment]
    resolved: list[str] = []
    for segment in segments:
        if segment == "..":
            if resolved:
                resolved.pop()
        elif segment != ".":
            resolved.append(segment)
    if segments[-1] in (".", ".."):
        resolved.append("")  # a reference to a directory keeps its trailing "/"
    path = "/".join(resolved) or "/"
    if path[0] != "/":
        path = "/" + path  # as urlunsplit() does
    return f"http://{base.authority}{path}"


_DECIMAL_DIGITS: Final = frozenset("0123456789")


def is_ip_address(host: str) -> bool:
    """Whether ``ipaddress.ip_address(host)`` takes ``host``: an IPv4 address in dotted decimal
    (four octets, no leading zeros), read here, or an IPv6 address, which ipaddress reads.

    ipaddress is imported only for a host with a ':' (which only IPv6 has): its import cost a
    page load from 127.0.0.1 about 6 million instructions, some 2 ms (issue 17).
    """
    if ":" in host:
        import ipaddress

        try:
            ipaddress.ip_address(host)
        except ValueError:
            return False
        return True
    octets = host.split(".")
    return len(octets) == 4 and all(
        0 < len(octet) <= 3
        and _DECIMAL_DIGITS.issuperset(octet)
        and (octet[0] != "0" or octet == "0")
        and int(octet) <= 255
        for octet in octets
    )


_LETTERS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_SCHEME_CHARS: Final = _LETTERS | frozenset("0123456789+-.")


def scheme_of(reference: str) -> str:
    """The lower-cased scheme of a reference, or "" for a relative one: after any leading
    whitespace, a letter, then letters, digits, '+', '-' or '.', then ':' (RFC 3986 §3.1)."""
    text = reference.lstrip()  # str.isspace() whitespace, what re's \s is
    scheme, colon, _ = text.partition(":")
    if colon and scheme and scheme[0] in _LETTERS and _SCHEME_CHARS.issuperset(scheme):
        return scheme.lower()
    return ""


def is_network_reference(reference: str) -> bool:
    """False for references a browser never fetches: empty ones, ``#fragment``, ``data:`` ..."""
    stripped = reference.strip(" \t\n\r\f")
    if not stripped or stripped.startswith("#"):
        return False
    return scheme_of(stripped) not in NON_NETWORK_SCHEMES


def relative_to(url: str, page: URL | None) -> str:
    """``url`` as the report shows it: the target alone when it is on the page's origin."""
    if page is None:
        return url
    prefix = f"{page.scheme}://{page.authority}"
    if url.startswith(prefix + "/"):
        return url[len(prefix) :]
    return url


def _short(text: str, limit: int = 120) -> str:
    shown = text.encode("unicode_escape").decode("ascii")
    return shown if len(shown) <= limit else shown[:limit] + "..."
