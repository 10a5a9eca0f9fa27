"""Serialise HTTP/1.1 message heads and chunked framing. No I/O here either.

Header names and values are checked for CR, LF and NUL before they are written, so nothing a
handler passes along (a redirect target, an echoed value) can split a response (CWE-113).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

TYPE_CHECKING = False  # typing is for the type checker only: see socketlab.structs
if TYPE_CHECKING:
    from typing import Final

SERVER_NAME: Final = "socketlab"

LAST_CHUNK: Final = b"0\r\n\r\n"
CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"

# http.HTTPStatus (an enum of some 60 members, 4 million instructions to import) is read on the
# first response, not with this module: a client writes no response, and the browser's
# start-up is most of its run (issue 17). Assigned whole, once: no thread sees it half made.
_reasons: dict[int, str] | None = None

_date_cache: tuple[int, str, bytes] = (0, "", b"")


def _formatdate(timestamp: float) -> str:
    # email.utils (with email, calendar, locale and random under it) is imported on the first
    # date, not with this module: a client that writes no Date (the browser) never needs it,
    # and its start-up is most of a short run.
    from email.utils import formatdate

    return formatdate(timestamp, usegmt=True)


def http_date(timestamp: float | None = None) -> str:
    """An IMF-fixdate (RFC 9110 §5.6.7); the current one is cached for a second (hot path)."""
    if timestamp is not None:
        return _formatdate(timestamp)
    now = int(time.time())
    if _date_cache[0] != now:
        _refresh_date(now)
    return _date_cache[1]


def date_and_server_fields() -> bytes:
    """``Date: <now>`` and ``Server:`` as encoded field lines, cached for a second (every
    response carries both)."""
    now = int(time.time())
    if _date_cache[0] != now:
        _refresh_date(now)
    return _date_cache[2]


def _refresh_date(now: int) -> None:
    global _date_cache
    date = _formatdate(now)
    _date_cache = (now, date, f"Date: {date}\r\nServer: {SERVER_NAME}\r\n".encode("ascii"))


def reason_phrase(status: int) -> str:
    global _reasons
    reasons = _reasons
    if reasons is None:
        from http import HTTPStatus

        reasons = _reasons = {s.value: s.phrase for s in HTTPStatus}
    return reasons.get(status, "Unknown")


# Checked with str methods, not regular expressions: the browser formats its requests with this
# module, and importing re (with enum) cost its start-up, with the parser's patterns, some 22
# million instructions (issue 17).
_TCHAR: Final = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
"""RFC 9110 §5.6.2: the characters a token (a field name) is made of."""
_NO_CTL_BUT_HTAB: Final = dict.fromkeys([*range(0x09), *range(0x0A, 0x20), 0x7F])
"""A str.translate table deleting the control characters (HTAB apart) that split a message."""


def _is_token(text: str) -> bool:
    """True if ``text`` is one or more tchar (strip() leaves something exactly when some
    character is not one)."""
    return bool(text) and not text.strip(_TCHAR)


def _has_ctl(text: str) -> bool:
    """True if ``text`` holds a control character other than HTAB (U+0000-U+0008,
    U+000A-U+001F, U+007F)."""
    # Those are all in Unicode's category Cc, which isprintable() rejects: a printable text
    # (nearly every one) needs no other look.
    return not text.isprintable() and len(text.translate(_NO_CTL_BUT_HTAB)) != len(text)


def check_field(name: str, value: str) -> None:
    """Raise ValueError for a header a peer could use to split or forge a message."""
    if not _is_token(name):
        raise ValueError(f"invalid header name {name!r}")
    if _has_ctl(value):
        raise ValueError(f"control character in the value of header {name!r}")


_STATUS_LINES: dict[int, bytes] = {}


def status_line(status: int, reason: str | None = None) -> bytes:
    """``HTTP/1.1 <status> <reason>`` and CRLF; the standard reasons' lines are cached."""
    if reason is None:
        line = _STATUS_LINES.get(status)
        if line is None:
            line = f"HTTP/1.1 {status} {reason_phrase(status)}\r\n".encode("latin-1")
            if len(_STATUS_LINES) < 1000:  # status is an int from code, but stay bounded
                _STATUS_LINES[status] = line
        return line
    if _has_ctl(reason):
        raise ValueError(f"control character in reason phrase {reason!r}")
    return f"HTTP/1.1 {status} {reason}\r\n".encode("latin-1")


RESERVED_FIELDS: Final = frozenset(
    {"content-length", "transfer-encoding", "connection", "date", "server"}
)
"""Fields a :class:`FieldBlock` cannot hold: the connection decides framing, persistence, Date
and Server for every response itself."""


class FieldBlock(tuple[tuple[str, str], ...]):
    """Response header fields checked once and kept encoded, for a handler that sends the same
    fields again and again (a static file's Content-Type, Last-Modified and ETag).

    It is a tuple of ``(name, value)`` pairs, usable wherever headers are; passed to
    ``Exchange.start()`` or ``respond()`` its bytes are copied into the head instead of each
    field being checked and formatted on every response.
    """

    encoded: bytes

    def __new__(cls, fields: Iterable[tuple[str, str]]) -> FieldBlock:
        pairs = tuple((name, value) for name, value in fields)
        for name, value in pairs:
            check_field(name, value)
            if name.lower() in RESERVED_FIELDS:
                raise ValueError(f"{name} is set by the connection, not in a FieldBlock")
        block = super().__new__(cls, pairs)
        block.encoded = "".join(f"{n}: {v}\r\n" for n, v in pairs).encode("latin-1")
        return block


def format_response_head(
    status: int,
    headers: Iterable[tuple[str, str]],
    *,
    reason: str | None = None,
    version: str = "HTTP/1.1",
    checked: bool = False,
) -> bytes:
    """The status line and fields, ending with the blank line. Values must be latin-1.

    Every field is checked with :func:`check_field` unless the caller says it already did
    (``checked=True``: the connection checks a handler's fields as it copies them).
    """
    if reason is None:
        reason = reason_phrase(status)
    elif _has_ctl(reason):
        raise ValueError(f"control character in reason phrase {reason!r}")
    lines = [f"{version} {status} {reason}"]
    for name, value in headers:
        if not checked:
            check_field(name, value)
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1")


def format_request_head(method: str, target: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """A request line and fields for the client side, ending with the blank line."""
    if any(c in target for c in " \r\n\t\x00"):
        raise ValueError(f"invalid request target {target!r}")
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in headers:
        check_field(name, value)
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1")


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (RFC 9112 §7.1); empty data must not be sent as a chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)
