"""Serialise HTTP/1.1 message heads and chunked framing. No I/O here either.

Header names and values are checked for CR, LF and NUL before they are written, so nothing a
handler passes along (a redirect target, an echoed value) can split a response (CWE-113).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from email.utils import formatdate
from http import HTTPStatus
from typing import Final

SERVER_NAME: Final = "socketlab"

LAST_CHUNK: Final = b"0\r\n\r\n"
CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"

_REASONS: Final = {s.value: s.phrase for s in HTTPStatus}

_date_cache: tuple[int, str] = (0, "")


def http_date(timestamp: float | None = None) -> str:
    """An IMF-fixdate (RFC 9110 §5.6.7); the current one is cached for a second (hot path)."""
    global _date_cache
    if timestamp is not None:
        return formatdate(timestamp, usegmt=True)
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


def reason_phrase(status: int) -> str:
    return _REASONS.get(status, "Unknown")


_NAME_TEXT: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE_TEXT: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def check_field(name: str, value: str) -> None:
    """Raise ValueError for a header a peer could use to split or forge a message."""
    if not _NAME_TEXT.fullmatch(name):
        raise ValueError(f"invalid header name {name!r}")
    if _BAD_VALUE_TEXT.search(value):
        raise ValueError(f"control character in the value of header {name!r}")


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
    elif _BAD_VALUE_TEXT.search(reason):
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
