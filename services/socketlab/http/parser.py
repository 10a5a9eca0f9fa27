"""An I/O-free HTTP/1.1 parser for requests (servers) and responses (the browser).

Nothing here touches a socket. A connection feeds the bytes it received with ``feed()`` (and
``feed_eof()`` when the peer closed), then asks ``next_event()`` for what is now complete::

    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
    parser.next_event()   # -> Request(method='GET', target='/', ...)
    parser.next_event()   # -> END (the request had no body)
    parser.next_event()   # -> NEED_DATA (or the next pipelined Request)

Events are a :class:`Request` or :class:`Response` head, :class:`Data` (a piece of body), the
marker ``END`` (the message is complete) and ``NEED_DATA``. Bytes after ``END`` stay buffered and
become the next message, which is how pipelining works. The same bytes therefore parse the same
way however the network splits them, which the unit tests check by feeding every corpus case whole,
line by line, byte by byte and in random chunks.

Rules follow RFC 9112 (HTTP/1.1 message syntax); the clause is quoted where a rule is enforced.
Request errors raise :class:`~socketlab.http.errors.HTTPError` subclasses carrying their status;
response errors raise :class:`~socketlab.http.errors.RemoteProtocolError`.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..structs import record
from . import errors

TYPE_CHECKING = False  # typing is for the type checker only: see socketlab.structs
if TYPE_CHECKING:
    from typing import Final, NoReturn

# ---------------------------------------------------------------------------------------------
# Limits. Each is a named constant with its reason; a server may pass its own Limits.

MAX_REQUEST_LINE: Final = 8190
"""Longest request line (method, target, version). 8190 is gunicorn's and Apache's default
(LimitRequestLine); RFC 9112 §3 recommends supporting at least 8000 octets."""

MAX_HEADER_LINE: Final = 8190
"""Longest single header field line, as Apache's LimitRequestFieldSize and gunicorn."""

MAX_HEADERS: Final = 100
"""Most header fields in one message: Apache's LimitRequestFields and gunicorn's default."""

MAX_HEAD_BYTES: Final = 65536
"""Most bytes in a whole message head (request line + headers): bounds memory per connection."""

MAX_BODY: Final = 10 * 1024 * 1024
"""Largest request body accepted, 10 MiB: the lab's forms and echo endpoints need far less."""

MAX_CHUNK_LINE: Final = 1024
"""Longest chunk-size line including extensions; a longer one is an attack, not a chunk."""

MAX_TRAILER_BYTES: Final = 8190
"""Most bytes of trailer fields after the last chunk."""

LOGGED_LINE: Final = 512
"""How much of a message's first line is kept for the log when the message is rejected."""


@record(frozen=True)
class Limits:
    """The limits one parser enforces; the defaults are the named constants above."""

    max_request_line: int = MAX_REQUEST_LINE
    max_header_line: int = MAX_HEADER_LINE
    max_headers: int = MAX_HEADERS
    max_head_bytes: int = MAX_HEAD_BYTES
    max_body: int = MAX_BODY


DEFAULT_LIMITS: Final = Limits()

_VERSION_TEXT: Final = {(1, 0): "HTTP/1.0", (1, 1): "HTTP/1.1"}

# ---------------------------------------------------------------------------------------------
# Grammar (RFC 9110 §5.6.2 token, RFC 9112 §3 request-line, §4 status-line, §5 field-line),
# checked with bytes methods rather than regular expressions: the browser's start-up is most of
# its run, and importing re (with enum) and compiling the patterns cost it some 22 million
# instructions (issue 17). ``data.translate(None, SET)`` deletes the bytes of SET, so it is
# empty exactly when every byte of ``data`` is in SET.

_TCHAR: Final = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
"""RFC 9110 §5.6.2: the bytes a token is made of."""
_TCHAR_TEXT: Final = _TCHAR.decode("ascii")
_CTL_BUT_HTAB: Final = bytes(range(0x09)) + bytes(range(0x0A, 0x20)) + b"\x7f"
"""Control bytes but HTAB: a field value or reason phrase must not hold them."""
_CTL_OR_SP: Final = bytes(range(0x21)) + b"\x7f"
"""Control bytes and SP, which a request target must not hold."""
_HEXDIG: Final = b"0123456789ABCDEFabcdef"
_MAX_CHUNK_SIZE_DIGITS: Final = 16
"""Most hex digits in a chunk size: 16 of them are 64 bits, more than any body we would read."""


def _is_token(data: bytes) -> bool:
    """True if ``data`` is a token (RFC 9110 §5.6.2): one or more tchar."""
    return bool(data) and not data.translate(None, _TCHAR)


def _has_any(data: bytes, chars: bytes) -> bool:
    """True if some byte of ``data`` is one of ``chars``."""
    return len(data.translate(None, chars)) != len(data)


def _has_ctl(data: bytes) -> bool:
    """True if ``data`` holds a control byte other than HTAB (RFC 9110 §5.5)."""
    return _has_any(data, _CTL_BUT_HTAB)


def _is_digit(data: bytes) -> bool:
    """True for one ASCII digit (bytes.isdigit is ASCII-only; str.isdigit is not)."""
    return len(data) == 1 and data.isdigit()


def _field_line(line: bytes) -> tuple[bytes, bytes] | None:
    """The name and value of a valid field line (RFC 9112 §5: token ":" OWS value OWS, where
    the value has no control bytes but HTAB and neither starts nor ends with SP or HTAB), or
    None."""
    name, colon, rest = line.partition(b":")  # a token holds no colon: the first one ends it
    if not colon or not _is_token(name) or _has_ctl(rest):
        return None
    return name, rest.strip(b" \t")


def _status_line(line: bytes) -> tuple[int, int, int, bytes] | None:
    """Major and minor version, status and reason of a valid status line, or None.

    RFC 9112 §4: ``HTTP-version SP 3DIGIT [ SP reason-phrase ]``, the reason being any bytes
    but control bytes other than HTAB; the version is ``HTTP/`` DIGIT "." DIGIT.
    """
    if len(line) < 12 or line[:5] != b"HTTP/" or line[6:7] != b"." or line[8:9] != b" ":
        return None
    major, minor, status = line[5:6], line[7:8], line[9:12]
    if not (_is_digit(major) and _is_digit(minor) and status.isdigit()):
        return None
    reason = line[13:]
    if len(line) > 12 and (line[12:13] != b" " or _has_ctl(reason)):
        return None
    return int(major), int(minor), int(status), reason


def _request_line(line: bytes) -> tuple[bytes, bytes, bytes] | None:
    """Method, target and version text of a request line shaped as RFC 9112 §3 says
    (``token SP request-target SP HTTP-version``, the target having no control bytes or SP),
    or None. The version text is left to :func:`_http_version`."""
    parts = line.split(b" ")
    if len(parts) != 3:  # neither a token nor a target holds SP
        return None
    method, target, version = parts
    if not _is_token(method) or not target or _has_any(target, _CTL_OR_SP):
        return None
    return method, target, version


_KNOWN_VERSIONS: Final = {b"HTTP/1.1": (1, 1), b"HTTP/1.0": (1, 0)}


def _http_version(version: bytes) -> tuple[int, int] | None:
    """(major, minor) of ``HTTP/`` DIGIT "." DIGIT (RFC 9112 §2.3), or None."""
    known = _KNOWN_VERSIONS.get(version)  # nearly every message: one lookup
    if known is not None:
        return known
    if len(version) != 8 or version[:5] != b"HTTP/" or version[6:7] != b".":
        return None
    major, minor = version[5:6], version[7:8]
    if not (_is_digit(major) and _is_digit(minor)):
        return None
    return int(major), int(minor)


def _chunk_size(line: bytes) -> int | None:
    """The size of a valid chunk-size line, or None. ``line`` is without its line end and
    holds no LF (the reader cuts it at the first).

    RFC 9112 §7.1: ``chunk-size [ chunk-ext ]``, chunk-size being 1*HEXDIG; we take at most
    16 digits, allow SP and HTAB after them (BWS, §7.1.1) and skip the extensions whatever
    they hold.
    """
    size, _, _ = line.partition(b";")
    size = size.rstrip(b" \t")
    if not 0 < len(size) <= _MAX_CHUNK_SIZE_DIGITS or size.translate(None, _HEXDIG):
        return None
    return int(size, 16)


# Methods this code base knows. Others get 501 (RFC 9110 §9.1: "An origin server that receives a
# request method that is unrecognized or not implemented SHOULD respond with 501").
KNOWN_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)


class Headers:
    """Header fields in arrival order, looked up case-insensitively.

    Names keep the case the peer used (so ``/whoami`` can show them as sent); ``get`` joins
    repeated fields with ", " as RFC 9110 §5.3 allows for list-valued fields.
    """

    __slots__ = ("_fields", "_index")

    def __init__(self, fields: list[tuple[str, str]] | None = None) -> None:
        self._fields: list[tuple[str, str]] = []
        self._index: dict[str, list[str]] = {}
        for name, value in fields or ():
            self.add(name, value)

    @classmethod
    def _adopt(cls, fields: list[tuple[str, str]], index: dict[str, list[str]]) -> Headers:
        """Wrap lists the parser built itself (hot path: no add() call per field)."""
        headers = cls.__new__(cls)
        headers._fields = fields
        headers._index = index
        return headers

    def add(self, name: str, value: str) -> None:
        self._fields.append((name, value))
        self._index.setdefault(name.lower(), []).append(value)

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._index.get(name.lower())
        if not values:
            return default
        return values[0] if len(values) == 1 else ", ".join(values)

    def get_all(self, name: str) -> list[str]:
        return list(self._index.get(name.lower(), ()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def items(self) -> list[tuple[str, str]]:
        return list(self._fields)

    def as_dict(self) -> dict[str, str]:
        """Name (as first sent) to value, repeated fields joined: for JSON instruments."""
        out: dict[str, str] = {}
        seen: dict[str, str] = {}
        for name, _ in self._fields:
            low = name.lower()
            if low not in seen:
                seen[low] = name
                out[name] = self.get(name) or ""
        return out

    def has_token(self, name: str, token: str) -> bool:
        """True if a comma-separated field such as Connection lists ``token`` (any case)."""
        token = token.lower()
        return any(
            part.strip().lower() == token
            for value in self.get_all(name)
            for part in value.split(",")
        )

    def __repr__(self) -> str:
        return f"Headers({self._fields!r})"


@record
class Request:
    """A parsed request head. ``target`` is exactly as sent; ``path`` and ``query`` split it."""

    method: str
    target: str
    version: tuple[int, int]
    headers: Headers
    content_length: int | None = None
    chunked: bool = False
    keep_alive: bool = True
    path: str = ""
    query: str = ""

    def __init__(  # written out: one per request on the servers, as fast as generated code
        self,
        method: str,
        target: str,
        version: tuple[int, int],
        headers: Headers,
        content_length: int | None = None,
        chunked: bool = False,
        keep_alive: bool = True,
        path: str = "",
        query: str = "",
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.content_length = content_length
        self.chunked = chunked
        self.keep_alive = keep_alive
        self.path = path
        self.query = query

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)

    @property
    def http_version(self) -> str:
        """``HTTP/1.1`` for (1, 1): the text of :attr:`version` (every access line asks)."""
        return _VERSION_TEXT.get(self.version) or f"HTTP/{self.version[0]}.{self.version[1]}"

    @property
    def expects_continue(self) -> bool:
        return self.version >= (1, 1) and self.headers.has_token("expect", "100-continue")


@record
class Response:
    """A parsed response head (client side)."""

    status: int
    reason: str
    version: tuple[int, int]
    headers: Headers
    content_length: int | None = None
    chunked: bool = False
    keep_alive: bool = True
    close_delimited: bool = False

    def __init__(  # written out: one per response, as fast as generated code
        self,
        status: int,
        reason: str,
        version: tuple[int, int],
        headers: Headers,
        content_length: int | None = None,
        chunked: bool = False,
        keep_alive: bool = True,
        close_delimited: bool = False,
    ) -> None:
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
        self.content_length = content_length
        self.chunked = chunked
        self.keep_alive = keep_alive
        self.close_delimited = close_delimited


@record
class Data:
    """A piece of a message body, already de-chunked."""

    data: bytes

    def __init__(self, data: bytes) -> None:  # written out: one per piece of body
        self.data = data


class _Marker:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


END: Final = _Marker("END")
"""The current message is complete."""

NEED_DATA: Final = _Marker("NEED_DATA")
"""Nothing complete yet: feed more bytes (or feed_eof)."""

Event = Request | Response | Data | _Marker


# ---------------------------------------------------------------------------------------------
# Message heads


def _find_head_end(buf: bytearray) -> int:
    """Index just past the blank line ending the head, or -1.

    RFC 9112 §2.2: "a recipient MAY recognize a single LF as a line terminator and ignore any
    preceding CR" -- people type requests with `nc`, which sends bare LF.
    """
    end = buf.find(b"\n\r\n")
    if end != -1:
        # A bare "\n\n" before it ends the head first; one starting at or before ``end`` lies
        # within buf[:end + 1]. Searching only there keeps the common case to one full scan.
        lf = buf.find(b"\n\n", 0, end + 1)
        return lf + 2 if lf != -1 else end + 3
    lf = buf.find(b"\n\n")
    return lf + 2 if lf != -1 else -1


def _split_lines(head: bytes) -> list[bytes]:
    lines = head.split(b"\r\n")
    if len(lines) - 1 != head.count(b"\n"):
        # Some line ends with a bare LF (RFC 9112 §2.2): split at every LF, and a CR just
        # before one goes with it.
        lines = head.split(b"\n")
        for i in range(len(lines) - 1):
            if lines[i].endswith(b"\r"):
                lines[i] = lines[i][:-1]
    return lines


def _split_head(head: bytes) -> tuple[bytes, bytes | list[bytes]]:
    """A head's first line and the rest: the field block as it is when every line ends in CRLF
    (for :func:`_parse_field_block`'s fast path), else the field lines, split where a bare LF
    ends one (RFC 9112 §2.2)."""
    if head.count(b"\n") == head.count(b"\r\n"):
        line, _, block = head.partition(b"\r\n")
        return line, block
    lines = _split_lines(head)
    return lines[0], lines[1:]


def _fields_of(
    rest: bytes | list[bytes], limits: Limits, fail: type[Exception], too_large: type[Exception]
) -> Headers:
    """The fields of what :func:`_split_head` left after the first line."""
    if isinstance(rest, bytes):
        return _parse_field_block(rest, limits, fail, too_large)
    return _parse_fields(rest, limits, fail, too_large)


def _parse_fields(
    lines: list[bytes], limits: Limits, fail: type[Exception], too_large: type[Exception]
) -> Headers:
    if len(lines) > limits.max_headers:
        raise too_large(f"more than {limits.max_headers} header fields")
    max_line = limits.max_header_line
    fields: list[tuple[str, str]] = []
    for line in lines:
        good = _field_line(line)
        if good is None or len(line) > max_line:
            _field_error(line, max_line, fail, too_large)
        raw_name, raw_value = good
        fields.append((raw_name.decode("ascii"), raw_value.decode("latin-1")))
    return _headers_of(fields)


def _parse_field_block(
    block: bytes, limits: Limits, fail: type[Exception], too_large: type[Exception]
) -> Headers:
    """The fields of a head whose lines all end in CRLF, ``block`` being everything after the
    first line: one scan for control bytes over all of them, then str methods on its latin-1
    text (the hot path of a request head). Anything unusual (too many or too long lines, an
    invalid one) goes the line-by-line way, which raises the precise error."""
    if not block:
        return Headers._adopt([], {})
    if len(block) > limits.max_header_line or block.count(b"\r\n") >= limits.max_headers:
        return _parse_fields(block.split(b"\r\n"), limits, fail, too_large)
    lines = block.decode("latin-1").split("\r\n")
    # The block's only control bytes may be the CRLFs between its lines.
    if len(block.translate(None, _CTL_BUT_HTAB)) == len(block) - 2 * (len(lines) - 1):
        fields: list[tuple[str, str]] = []
        for line in lines:
            name, colon, value = line.partition(":")
            if not colon or not name or name.strip(_TCHAR_TEXT):  # strip leaves non-tchars
                break
            fields.append((name, value.strip(" \t")))
        else:
            return _headers_of(fields)
    return _parse_fields(block.split(b"\r\n"), limits, fail, too_large)


def _headers_of(fields: list[tuple[str, str]]) -> Headers:
    """Headers over ``fields`` with their case-insensitive index, built in one pass."""
    index: dict[str, list[str]] = {}
    for name, value in fields:
        low = name.lower()
        values = index.get(low)
        if values is None:
            index[low] = [value]
        else:
            values.append(value)
    return Headers._adopt(fields, index)


def _field_error(
    line: bytes, max_line: int, fail: type[Exception], too_large: type[Exception]
) -> NoReturn:
    """Raise the error that says which rule an invalid field line breaks."""
    if len(line) > max_line:
        raise too_large(f"a header field is longer than {max_line} bytes")
    if line[:1] in (b" ", b"\t"):
        # RFC 9112 §5.2: obs-fold is deprecated; a server "MUST either reject the message by
        # sending a 400 (Bad Request) ... or replace each received obs-fold with one or more SP"
        raise fail("obsolete line folding in header fields")
    name, colon, value = line.partition(b":")
    if not colon:
        raise fail("header field without a colon")
    if not _is_token(name):
        # RFC 9112 §5.1: "No whitespace is allowed between the field name and colon ... A
        # server MUST reject any received request message that contains whitespace between a
        # header field name and colon with a response status code of 400"
        raise fail("invalid header field name")
    value = value.strip(b" \t")
    if _has_ctl(value):
        # RFC 9110 §5.5: CR, LF and NUL are invalid in field values and a recipient must
        # reject them or replace them; we reject.
        raise fail("control character in a header field value")
    raise fail("invalid header field")  # pragma: no cover -- the rules above cover all


def _content_length(headers: Headers, fail: type[Exception]) -> int | None:
    values = headers.get_all("content-length")
    if not values:
        return None
    # RFC 9112 §6.3 (5): a list of identical values may be accepted as one; anything else is an
    # unrecoverable framing error.
    parts = {part.strip().encode("latin-1") for value in values for part in value.split(",")}
    if len(parts) != 1:
        raise fail("conflicting Content-Length values")
    (only,) = parts
    if not only.isdigit() or len(only) > 18:  # bytes.isdigit: ASCII digits only, not empty
        raise fail("invalid Content-Length")
    return int(only)


def _transfer_chunked(
    headers: Headers, fail: type[Exception], unsupported: type[Exception]
) -> bool:
    values = headers.get_all("transfer-encoding")
    if not values:
        return False
    codings = [part.strip().lower() for value in values for part in value.split(",")]
    if codings[-1] != "chunked":
        # RFC 9112 §6.3 (4): for a request, "If a Transfer-Encoding header field is present ...
        # and the chunked transfer coding is not the final encoding, the message body length
        # cannot be determined reliably; the server MUST respond with the 400 status code"
        raise fail("Transfer-Encoding does not end with chunked")
    if any(coding != "chunked" for coding in codings) or len(codings) > 1:
        raise unsupported("only the chunked transfer coding is implemented")
    return True


def _persistent(headers: Headers, version: tuple[int, int]) -> bool:
    """RFC 9112 §9.3: close if the peer said so; else HTTP/1.1 persists and HTTP/1.0 only if
    it asked for keep-alive."""
    if "connection" not in headers._index:
        return version >= (1, 1)
    if headers.has_token("connection", "close"):
        return False
    if version >= (1, 1):
        return True
    return headers.has_token("connection", "keep-alive")


def parse_request_head(head: bytes, limits: Limits = DEFAULT_LIMITS) -> Request:
    """Parse one complete request head (request line and fields, without the blank line)."""
    line, field_lines = _split_head(head)
    if len(line) > limits.max_request_line:
        raise errors.URITooLong(f"request line longer than {limits.max_request_line} bytes")
    parts = _request_line(line)
    version = None if parts is None else _http_version(parts[2])
    if parts is None or version is None:
        # A well-formed line whose version has no minor (HTTP/2) asks for what we do not speak.
        if parts is not None and parts[2][:5] == b"HTTP/" and _is_digit(parts[2][5:]):
            raise errors.VersionNotSupported("unsupported HTTP version")
        raise errors.BadRequest("malformed request line")
    method = parts[0].decode("ascii")
    target = parts[1].decode("latin-1")
    if version[0] != 1:
        # RFC 9110 §15.6.6: 505 "the server does not support, or refuses to support, the major
        # version of HTTP that was used in the request message"
        raise errors.VersionNotSupported(f"HTTP/{version[0]}.{version[1]} is not supported")
    headers = _fields_of(field_lines, limits, errors.BadRequest, errors.HeaderFieldsTooLarge)
    index = headers._index  # the checks below only look fields up: no list copies

    if version >= (1, 1):
        # RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any
        # HTTP/1.1 request message that lacks a Host header field and to any request message
        # that contains more than one Host header field line or a Host header field with an
        # invalid field value."
        hosts = index.get("host")
        if hosts is None or len(hosts) != 1:
            raise errors.BadRequest("HTTP/1.1 needs exactly one Host header field")
        host = hosts[0]
        # RFC 9112 §3.2 / RFC 3986 §3.2.2: none of these can appear in a valid Host value.
        if " " in host or "\t" in host or "/" in host or "\\" in host or "@" in host:
            raise errors.BadRequest("invalid Host header field")

    chunked = "transfer-encoding" in index and _transfer_chunked(
        headers, errors.BadRequest, errors.UnsupportedTransferCoding
    )
    length = _content_length(headers, errors.BadRequest) if "content-length" in index else None
    if chunked and length is not None:
        # RFC 9112 §6.1: a message with both "ought to be handled as an error"; it is the
        # signature of request smuggling, so we refuse it.
        raise errors.BadRequest("both Transfer-Encoding and Content-Length")
    if chunked and version < (1, 1):
        raise errors.BadRequest("chunked transfer coding in an HTTP/1.0 request")
    if length is not None and length > limits.max_body:
        raise errors.PayloadTooLarge(f"request body larger than {limits.max_body} bytes")

    if method not in KNOWN_METHODS:
        raise errors.UnknownMethod(f"method {method} is not implemented")
    if target == "*":
        if method != "OPTIONS":
            raise errors.BadRequest("asterisk-form target is only for OPTIONS")
        path, query = "*", ""
    elif target.startswith("/"):
        path, _, query = target.partition("?")
    elif target.lower().startswith(("http://", "https://")):
        # RFC 9112 §3.2.2: "A server MUST accept the absolute-form in requests"
        rest = target.split("://", 1)[1]
        slash = rest.find("/")
        path, _, query = (rest[slash:] if slash >= 0 else "/").partition("?")
    elif method == "CONNECT":
        path, query = target, ""
    else:
        raise errors.BadRequest("request target must start with /")
    if "#" in path:
        path = path.partition("#")[0]

    # Positional: Request's fields in their order (the hot path; keywords cost a dict).
    return Request(
        method,
        target,
        version,
        headers,
        length,
        chunked,
        _persistent(headers, version),
        path,
        query,
    )


def parse_response_head(
    head: bytes, request_method: str, limits: Limits = DEFAULT_LIMITS
) -> Response:
    """Parse one complete response head; ``request_method`` decides whether a body follows."""
    fail = errors.RemoteProtocolError
    line, field_lines = _split_head(head)
    parts = _status_line(line)
    if parts is None:
        raise fail(f"malformed status line: {line[:80]!r}")
    major, minor, status, raw_reason = parts
    version = (major, minor)
    if major != 1:
        raise fail(f"unsupported HTTP version {major}.{minor}")
    if status < 100:
        raise fail(f"invalid status code {status}")
    reason = raw_reason.decode("latin-1")
    headers = _fields_of(field_lines, limits, fail, fail)
    index = headers._index
    chunked = "transfer-encoding" in index and _transfer_chunked(headers, fail, fail)
    length = None
    if not chunked and "content-length" in index:
        length = _content_length(headers, fail)

    # RFC 9112 §6.3 (1): responses to HEAD, 1xx, 204 and 304 never have a body.
    no_body = request_method == "HEAD" or status < 200 or status in (204, 304)
    close_delimited = False
    if no_body:
        length, chunked = 0, False
    elif not chunked and length is None:
        close_delimited = True  # RFC 9112 §6.3 (8): the body runs until the server closes

    return Response(
        status=status,
        reason=reason,
        version=version,
        headers=headers,
        content_length=length,
        chunked=chunked,
        keep_alive=not close_delimited and _persistent(headers, version),
        close_delimited=close_delimited,
    )


# ---------------------------------------------------------------------------------------------
# Bodies


class _BodyReader:
    """Consumes body bytes from the parser's buffer and returns de-framed data."""

    done = False

    def read(self, buf: bytearray) -> bytes:
        raise NotImplementedError

    def eof_error(self) -> str | None:
        """What is wrong if the peer closes now (None: closing here is a valid end)."""
        return None


class _LengthReader(_BodyReader):
    def __init__(self, length: int) -> None:
        self.remaining = length
        self.length = length
        self.done = length == 0

    def read(self, buf: bytearray) -> bytes:
        take = min(self.remaining, len(buf))
        data = bytes(buf[:take])
        del buf[:take]
        self.remaining -= take
        self.done = self.remaining == 0
        return data

    def eof_error(self) -> str | None:
        got = self.length - self.remaining
        return f"connection closed after {got} of {self.length} body bytes"


class _CloseReader(_BodyReader):
    def read(self, buf: bytearray) -> bytes:
        data = bytes(buf)
        buf.clear()
        return data


class _ChunkedReader(_BodyReader):
    """RFC 9112 §7.1: chunk-size [ext] CRLF data CRLF ... 0 CRLF trailers CRLF."""

    def __init__(self, max_body: int, fail: type[Exception], too_large: type[Exception]) -> None:
        self.state = "size"
        self.remaining = 0
        self.total = 0
        self.max_body = max_body
        self.fail = fail
        self.too_large = too_large
        self.trailer_bytes = 0

    def read(self, buf: bytearray) -> bytes:
        out: list[bytes] = []
        while not self.done:
            if self.state == "size":
                nl = buf.find(b"\n", 0, MAX_CHUNK_LINE + 1)
                if nl == -1:
                    if len(buf) > MAX_CHUNK_LINE:
                        raise self.fail("chunk size line too long")
                    break
                line = bytes(buf[:nl]).rstrip(b"\r")
                del buf[: nl + 1]
                size = _chunk_size(line)
                if size is None:
                    raise self.fail("invalid chunk size line")
                if self.total + size > self.max_body:
                    raise self.too_large(f"chunked body larger than {self.max_body} bytes")
                if size == 0:
                    self.state = "trailer"
                else:
                    self.remaining = size
                    self.state = "data"
            elif self.state == "data":
                if not buf:
                    break
                take = min(self.remaining, len(buf))
                out.append(bytes(buf[:take]))
                del buf[:take]
                self.remaining -= take
                self.total += take
                if self.remaining == 0:
                    self.state = "crlf"
            elif self.state == "crlf":
                if buf[:2] == b"\r\n":
                    del buf[:2]
                elif buf[:1] == b"\n":
                    del buf[:1]
                elif len(buf) >= 2 or (buf and buf[:1] != b"\r"):
                    raise self.fail("chunk data not followed by CRLF")
                else:
                    break
                self.state = "size"
            else:  # trailer: fields until an empty line; we read and discard them
                nl = buf.find(b"\n")
                if nl == -1:
                    if len(buf) + self.trailer_bytes > MAX_TRAILER_BYTES:
                        raise self.too_large("trailer section too large")
                    break
                line = bytes(buf[:nl]).rstrip(b"\r")
                del buf[: nl + 1]
                self.trailer_bytes += nl + 1
                if self.trailer_bytes > MAX_TRAILER_BYTES:
                    raise self.too_large("trailer section too large")
                if not line:
                    self.done = True
        return b"".join(out)

    def eof_error(self) -> str | None:
        return "connection closed inside a chunked body"


# ---------------------------------------------------------------------------------------------
# The parsers


class _Parser:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.buffer = bytearray()
        self._body: _BodyReader | None = None
        self._eof = False
        self._pending_end = False
        self._last_head = b""  # the latest message's head (or its start): see last_line

    @property
    def eof(self) -> bool:
        return self._eof

    def feed(self, data: bytes) -> None:
        """Add bytes received from the peer."""
        if self._eof and data:
            raise RuntimeError("feed() after feed_eof()")
        self.buffer += data

    def feed_eof(self) -> None:
        """The peer closed its side of the connection."""
        self._eof = True

    @property
    def body_finished(self) -> bool:
        """True when no more body bytes of the current message are to come (its END may still
        be pending): a server can mark the last piece of a body as the last."""
        return self._body is None

    @property
    def in_message(self) -> bool:
        """True between a head and its END: the peer closing now truncates a message."""
        return self._body is not None or self._pending_end

    def _next_body_event(self) -> Event:
        body = self._body
        assert body is not None
        data = body.read(self.buffer) if self.buffer else b""
        if data:
            if body.done:
                self._pending_end = True
                self._body = None
            return Data(data)
        if body.done:
            self._body = None
            return END
        if self._eof:
            problem = body.eof_error()
            self._body = None
            if problem is None:
                return END
            self._eof_in_body(problem)
        return NEED_DATA

    def _eof_in_body(self, problem: str) -> None:
        raise NotImplementedError

    @property
    def last_line(self) -> bytes:
        """The latest message's first line (at most LOGGED_LINE bytes), for logging a rejected
        request; worked out only when asked for."""
        return self._last_head[:LOGGED_LINE].partition(b"\n")[0].rstrip(b"\r")

    def _head_bytes(self) -> bytes | None:
        """Take a complete head from the buffer, or enforce the size limits and return None."""
        buf = self.buffer
        if not buf:
            return None
        # RFC 9112 §2.2: "a server that is expecting to receive and parse a request-line SHOULD
        # ignore at least one empty line (CRLF) received prior to the request-line"
        while buf[:2] == b"\r\n" or buf[:1] == b"\n":
            del buf[: 2 if buf[:1] == b"\r" else 1]
        end = _find_head_end(buf)
        if end == -1:
            self._last_head = bytes(buf[:LOGGED_LINE])
            self._check_incomplete_head()
            return None
        if end > self.limits.max_head_bytes + 4:
            self._head_too_large()
        head = bytes(buf[:end]).rstrip(b"\r\n")
        del buf[:end]
        self._last_head = head
        return head

    def _check_incomplete_head(self) -> None:
        raise NotImplementedError

    def _head_too_large(self) -> None:
        raise NotImplementedError


class RequestParser(_Parser):
    """Server side: parses the requests a client sends, one after another (pipelining)."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits)
        self.request: Request | None = None

    def next_event(self) -> Event:
        """Return the next complete event; raise an HTTPError if the client broke the protocol."""
        if self._pending_end:
            self._pending_end = False
            return END
        if self._body is not None:
            return self._next_body_event()
        head = self._head_bytes()
        if head is None:
            return NEED_DATA
        request = parse_request_head(head, self.limits)
        self.request = request
        if request.chunked:
            self._body = _ChunkedReader(
                self.limits.max_body, errors.BadRequest, errors.PayloadTooLarge
            )
        elif request.content_length:
            self._body = _LengthReader(request.content_length)
        else:
            self._pending_end = True
        return request

    @property
    def idle(self) -> bool:
        """True between messages with nothing buffered: a close here loses nothing."""
        return not self.in_message and not self.buffer

    def _eof_in_body(self, problem: str) -> None:
        raise errors.BadRequest(problem)

    def _check_incomplete_head(self) -> None:
        buf = self.buffer
        first_nl = buf.find(b"\n")
        if first_nl == -1 and len(buf) > self.limits.max_request_line:
            raise errors.URITooLong(
                f"request line longer than {self.limits.max_request_line} bytes"
            )
        if len(buf) > self.limits.max_head_bytes:
            self._head_too_large()

    def _head_too_large(self) -> None:
        first_nl = self.buffer.find(b"\n")
        if first_nl == -1 or first_nl > self.limits.max_request_line + 1:
            raise errors.URITooLong(
                f"request line longer than {self.limits.max_request_line} bytes"
            )
        raise errors.HeaderFieldsTooLarge(
            f"request head larger than {self.limits.max_head_bytes} bytes"
        )


class ResponseParser(_Parser):
    """Client side: parses the responses to the requests sent, in order.

    Call :meth:`expect` with each request's method before asking for its response, since the
    method decides whether a body follows (HEAD). 1xx interim responses are returned as
    ``Response`` events with status < 200 and no body; the final response follows.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits)
        self._methods: list[str] = []

    def expect(self, method: str) -> None:
        self._methods.append(method)

    def next_event(self) -> Event:
        if self._pending_end:
            self._pending_end = False
            return END
        if self._body is not None:
            return self._next_body_event()
        head = self._head_bytes()
        if head is None:
            if self._eof:
                if self.buffer:
                    raise errors.RemoteProtocolError("connection closed inside a response head")
                raise errors.RemoteProtocolError("connection closed before a response")
            return NEED_DATA
        method = self._methods[0] if self._methods else "GET"
        response = parse_response_head(head, method, self.limits)
        if response.status >= 200:
            if self._methods:
                self._methods.pop(0)
            if response.chunked:
                self._body = _ChunkedReader(
                    1 << 62, errors.RemoteProtocolError, errors.RemoteProtocolError
                )
            elif response.close_delimited:
                self._body = _CloseReader()
            elif response.content_length:
                self._body = _LengthReader(response.content_length)
            else:
                self._pending_end = True
        return response

    def _eof_in_body(self, problem: str) -> None:
        raise errors.RemoteProtocolError(problem)

    def _check_incomplete_head(self) -> None:
        if len(self.buffer) > self.limits.max_head_bytes:
            self._head_too_large()

    def _head_too_large(self) -> None:
        raise errors.RemoteProtocolError(
            f"response head larger than {self.limits.max_head_bytes} bytes"
        )
