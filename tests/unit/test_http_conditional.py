"""Preconditions and ranges (RFC 9110 §13.2.2, §14) as pure functions: no server needed."""

from __future__ import annotations

import pytest

from socketlab.http.conditional import (
    ByteRange,
    RangeNotSatisfiable,
    byte_range,
    if_range_holds,
    precondition,
)
from socketlab.http.writer import http_date

ETAG = '"2710-abc"'
MTIME = 1_700_000_000.4  # Last-Modified says ...000 (whole seconds)
LAST_MODIFIED = http_date(MTIME)
NOW = MTIME + 3600
SIZE = 10_000


def part(value: str, size: int = SIZE, if_range: str | None = None) -> ByteRange | None:
    fields = {"range": value} if if_range is None else {"range": value, "if-range": if_range}
    return byte_range(fields, size, ETAG, MTIME, now=NOW)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes=0-99", (0, 99)),
        ("bytes=500-", (500, SIZE - 1)),
        ("bytes=-500", (SIZE - 500, SIZE - 1)),
        ("bytes=-20000", (0, SIZE - 1)),  # a suffix longer than the file: all of it
        ("bytes=9999-", (9999, 9999)),
        ("bytes=9000-20000", (9000, SIZE - 1)),  # last-pos past the end is clipped
        ("BYTES = 5-5", None),  # no whitespace around '=' in the grammar: invalid, ignored
        ("Bytes=5-5", (5, 5)),  # the unit is case-insensitive
        ("bytes= 1-2 ,", (1, 2)),  # OWS and empty list elements
    ],
)
def test_single_ranges(value: str, expected: tuple[int, int] | None) -> None:
    got = part(value)
    if expected is None:
        assert got is None
    else:
        assert got == ByteRange(*expected, SIZE)
        assert got.content_range == f"bytes {expected[0]}-{expected[1]}/{SIZE}"
        assert got.length == expected[1] - expected[0] + 1


@pytest.mark.parametrize(
    "value",
    [
        "items=0-9",
        "bytes",
        "bytes=",
        "bytes=-",
        "bytes=a-b",
        "bytes=5-1",  # last < first
        "bytes=0-9,x",  # one bad spec spoils the field
        "bytes=1-2-3",
        "bytes=+1-2",
    ],
)
def test_invalid_range_fields_are_ignored(value: str) -> None:
    assert part(value) is None


def test_several_ranges_get_the_whole_representation() -> None:
    assert part("bytes=0-9,20-29") is None
    assert part("bytes=0-9, -5") is None


@pytest.mark.parametrize("value", ["bytes=10000-", "bytes=20000-30000", "bytes=-0"])
def test_unsatisfiable(value: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        part(value)
    assert caught.value.content_range == f"bytes */{SIZE}"


def test_an_empty_file() -> None:
    with pytest.raises(RangeNotSatisfiable):
        part("bytes=0-", size=0)
    assert part("bytes=-5", size=0) is None  # satisfiable but empty: sent whole (0 bytes)


def test_no_range_field() -> None:
    assert byte_range({}, SIZE, ETAG, MTIME) is None


# --- If-Range -------------------------------------------------------------------------------------


def test_if_range_with_the_current_etag_keeps_the_range() -> None:
    assert part("bytes=100-", if_range=ETAG) == ByteRange(100, SIZE - 1, SIZE)


@pytest.mark.parametrize("validator", ['"other"', "W/" + ETAG, "not a date", ""])
def test_if_range_that_does_not_hold_gives_the_whole(validator: str) -> None:
    assert part("bytes=100-", if_range=validator) is None


def test_if_range_date() -> None:
    assert if_range_holds(LAST_MODIFIED, ETAG, MTIME, now=NOW)
    assert not if_range_holds(http_date(MTIME - 10), ETAG, MTIME, now=NOW)
    assert not if_range_holds(http_date(MTIME + 10), ETAG, MTIME, now=NOW)
    # Modified within the last second: Last-Modified is only a weak validator yet (§8.8.2.2).
    assert not if_range_holds(LAST_MODIFIED, ETAG, MTIME, now=MTIME + 0.5)
    assert part("bytes=0-0", if_range=LAST_MODIFIED) == ByteRange(0, 0, SIZE)


def test_if_range_does_not_rescue_an_invalid_range() -> None:
    assert part("bytes=x", if_range=ETAG) is None


# --- preconditions, in the order of §13.2.2 -------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "fields", "expected"),
    [
        ("GET", {}, None),
        ("GET", {"if-none-match": ETAG}, 304),
        ("HEAD", {"if-none-match": f'"x", W/{ETAG}'}, 304),  # weak comparison
        ("GET", {"if-none-match": "*"}, 304),
        ("GET", {"if-none-match": '"x"'}, None),
        ("GET", {"if-modified-since": LAST_MODIFIED}, 304),
        ("GET", {"if-modified-since": http_date(MTIME - 5)}, None),
        ("GET", {"if-modified-since": "yesterday"}, None),  # invalid dates are ignored
        # If-None-Match wins over If-Modified-Since (step 3 before step 4).
        ("GET", {"if-none-match": '"x"', "if-modified-since": LAST_MODIFIED}, None),
        ("GET", {"if-none-match": ETAG, "if-modified-since": http_date(MTIME - 5)}, 304),
        ("POST", {"if-modified-since": LAST_MODIFIED}, None),  # only for GET and HEAD
        ("POST", {"if-none-match": ETAG}, 412),
        # If-Match (strong comparison), then If-Unmodified-Since only without If-Match.
        ("GET", {"if-match": ETAG}, None),
        ("GET", {"if-match": "*"}, None),
        ("GET", {"if-match": "W/" + ETAG}, 412),
        ("GET", {"if-match": '"x"'}, 412),
        ("GET", {"if-unmodified-since": http_date(MTIME - 5)}, 412),
        ("GET", {"if-unmodified-since": LAST_MODIFIED}, None),
        ("GET", {"if-match": ETAG, "if-unmodified-since": http_date(MTIME - 5)}, None),
        # A failed If-Match wins over a matching If-None-Match (step 1 before step 3).
        ("GET", {"if-match": '"x"', "if-none-match": ETAG}, 412),
    ],
)
def test_preconditions(method: str, fields: dict[str, str], expected: int | None) -> None:
    assert precondition(method, fields, ETAG, MTIME) == expected
