"""Conditional and range requests (RFC 9110 §13 and §14), as pure functions: no I/O here.

A server that knows a representation's validators (a strong ``ETag`` and the modification time
behind ``Last-Modified``) asks :func:`precondition` what the request's conditions say, then, for
a GET, :func:`byte_range` which part of the representation to send::

    status = precondition(method, headers, etag, mtime)   # 412, 304 or None: go on
    part = byte_range(headers, size, etag, mtime)         # None: the whole; else a ByteRange
                                                          # (RangeNotSatisfiable: answer 416)

Only single ranges are answered with a part: a request for several ranges gets the whole
representation (RFC 9110 §14.2 lets a server ignore Range), which spares the server from
multipart/byteranges and the client from parsing it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Final, Protocol

MAX_RANGES: Final = 100
"""Range specs looked at, at most. A request for many small ranges is answered with the whole
file anyway; the bound only stops a huge header from costing more than its parse (Apache's
MaxRanges defaults to 200)."""

_RANGE_SPEC = re.compile(r"(\d*)-(\d*)")
_OWS = " \t"


class Fields(Protocol):
    """Request header fields looked up by lower-case name (the parser's Headers, or a dict)."""

    def get(self, name: str, /) -> str | None: ...


class RangeNotSatisfiable(Exception):
    """No range of the request overlaps the representation: answer 416 with
    ``Content-Range: bytes */<size>`` (RFC 9110 §15.5.17)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"no requested range overlaps the {size} bytes")
        self.size = size

    @property
    def content_range(self) -> str:
        return f"bytes */{self.size}"


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``first`` to ``last`` (both included) of a representation of ``size`` bytes."""

    first: int
    last: int
    size: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    @property
    def content_range(self) -> str:
        """The ``Content-Range`` field value of a 206 answer (RFC 9110 §14.4)."""
        return f"bytes {self.first}-{self.last}/{self.size}"


def http_date_seconds(value: str | None) -> float | None:
    """The POSIX time of an HTTP-date, or None when absent or invalid (§5.6.7: then ignored)."""
    if value is None:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        return None  # an HTTP-date is always GMT; a date without a zone is not one
    return moment.timestamp()


def _tags(value: str) -> list[str]:
    return [tag.strip(_OWS) for tag in value.split(",") if tag.strip(_OWS)]


def _strong_match(tag: str, etag: str) -> bool:
    """§8.8.3.2: both strong and the same characters."""
    return not tag.startswith("W/") and tag == etag


def _weak_match(tag: str, etag: str) -> bool:
    return tag.removeprefix("W/") == etag.removeprefix("W/")


def precondition(method: str, headers: Fields, etag: str, mtime: float) -> int | None:
    """Evaluate the request's preconditions in the order of RFC 9110 §13.2.2.

    Returns 412 (a precondition failed), 304 (GET or HEAD, not modified) or None (go on and
    serve, maybe a range). ``headers`` gives a field's value by its lower-case name; ``mtime``
    is the representation's modification time (compared at one-second resolution, as
    Last-Modified says it).
    """
    modified = int(mtime)
    # Step 1 and 2: If-Match, else If-Unmodified-Since.
    if_match = headers.get("if-match")
    if if_match is not None:
        tags = _tags(if_match)
        if "*" not in tags and not any(_strong_match(tag, etag) for tag in tags):
            return 412
    else:
        since = http_date_seconds(headers.get("if-unmodified-since"))
        if since is not None and modified > since:
            return 412
    # Step 3 and 4: If-None-Match, else If-Modified-Since (GET and HEAD only).
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = _tags(if_none_match)
        if "*" in tags or any(_weak_match(tag, etag) for tag in tags):
            return 304 if method in ("GET", "HEAD") else 412
        return None
    if method in ("GET", "HEAD"):
        since = http_date_seconds(headers.get("if-modified-since"))
        if since is not None and modified <= since:
            return 304
    return None


def if_range_holds(value: str, etag: str, mtime: float, now: float | None = None) -> bool:
    """§13.1.5: does the If-Range validator still name this representation?

    An entity-tag must match strongly. A date must equal Last-Modified exactly, and
    Last-Modified only counts as a strong validator once it is at least a second in the past
    (§8.8.2.2: within the same second the file could change again unseen).
    """
    value = value.strip(_OWS)
    if value.startswith(('"', "W/")):
        return _strong_match(value, etag)
    since = http_date_seconds(value)
    if since is None:
        return False
    now = time.time() if now is None else now
    return int(mtime) == since and now - mtime >= 1.0


def byte_range(
    headers: Fields, size: int, etag: str, mtime: float, now: float | None = None
) -> ByteRange | None:
    """The one part of a ``size``-byte representation a GET asks for, or None for all of it.

    None also when there is no Range, when it is malformed or not in bytes (§14.2: ignored),
    when it asks for several ranges (answered whole, see the module doc), and when If-Range no
    longer holds (§13.1.5: the client's copy is stale, so it needs the whole anyway). Raises
    RangeNotSatisfiable when the one range lies wholly past the end.
    """
    value = headers.get("range")
    if value is None:
        return None
    unit, equals, spec_list = value.partition("=")
    if not equals or unit.lower() != "bytes":
        return None
    specs = [spec.strip(_OWS) for spec in spec_list.split(",", MAX_RANGES)]
    specs = [spec for spec in specs if spec]  # §5.6.1: empty list elements are ignored
    parsed: list[tuple[str, str]] = []
    for spec in specs:
        match = _RANGE_SPEC.fullmatch(spec)
        if match is None or match.group() == "-":
            return None  # one bad spec makes the whole field invalid: ignore it
        first, last = match.groups()
        if first and last and int(last) < int(first):
            return None  # §14.1.1: invalid when last-pos < first-pos
        parsed.append((first, last))
    if not parsed:
        return None
    if_range = headers.get("if-range")
    if if_range is not None and not if_range_holds(if_range, etag, mtime, now):
        return None
    if len(parsed) > 1:
        return None
    first, last = parsed[0]
    if not first:  # suffix-range: the last N bytes
        length = int(last)
        if length == 0:
            raise RangeNotSatisfiable(size)
        if size == 0:
            return None  # §14.1.2: satisfiable, but there is no byte to name: send it whole
        return ByteRange(max(0, size - length), size - 1, size)
    start = int(first)
    if start >= size:
        raise RangeNotSatisfiable(size)
    end = size - 1 if not last else min(int(last), size - 1)
    return ByteRange(start, end, size)
