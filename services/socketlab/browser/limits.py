"""Deadlines and caps: every wait and every count the browser has is bounded here.

A page load can never hang or grow without bound, whatever the server does: each connect has
its deadline, each read waits at most ``read`` seconds for the next byte, the whole page at
most ``total`` seconds; and the number of resources, body bytes and redirects are capped.
Each default is a named constant with the reason for its number.
"""

from __future__ import annotations

import time

from ..structs import record
from .errors import CapExceeded, PageTimeout

TYPE_CHECKING = False  # typing is for the type checker only: see socketlab.structs
if TYPE_CHECKING:
    from typing import Final

CONNECT_TIMEOUT: Final = 5.0
"""Seconds for the TCP handshake. On a LAN it takes well under a millisecond; a SYN that is
dropped is retried by Linux after 1 s and 3 s, so 5 s covers two retries and then gives up."""

READ_TIMEOUT: Final = 10.0
"""Seconds of silence tolerated while a response is awaited or arrives (the lab's servers answer
in milliseconds; their own `/delay` instrument is capped below this)."""

TOTAL_TIMEOUT: Final = 60.0
"""Seconds for a whole page with all its resources: beyond a minute a person gives up too."""

MAX_RESOURCES: Final = 100
"""Subresources fetched for one page. The median web page makes about 70 requests (HTTP Archive
Web Almanac 2022); the lab's pages need five, so 100 only stops runaway pages."""

MAX_BYTES: Final = 20 * 1024 * 1024
"""Body bytes for one page and its resources, 20 MiB: a few times the median page weight
(about 2 MiB, same source), so a huge or endless body is cut instead of filling memory."""

MAX_REDIRECTS: Final = 20
"""Redirects followed for one request: Chromium and Firefox both give up after 20, and
RFC 9110 §15.4 asks clients to detect cycles."""

MAX_CONNECTIONS_PER_HOST: Final = 6
"""Parallel connections to one host:port, as every major browser does for HTTP/1.1 (RFC 2616
once said 2; RFC 9112 §9.4 leaves it to the client and asks it to be conservative)."""


@record(frozen=True)
class Deadlines:
    """How long each step may take, in seconds."""

    connect: float = CONNECT_TIMEOUT
    read: float = READ_TIMEOUT
    total: float = TOTAL_TIMEOUT


@record(frozen=True)
class Caps:
    """How much one page may take."""

    resources: int = MAX_RESOURCES
    bytes: int = MAX_BYTES
    redirects: int = MAX_REDIRECTS
    connections_per_host: int = MAX_CONNECTIONS_PER_HOST


class Deadline:
    """A point in (monotonic) time after which a page load gives up."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    def bound(self, step: float) -> float:
        """The timeout for one blocking step: ``step`` seconds, or less if the page's time is
        nearly up. Raises :class:`PageTimeout` when no time is left."""
        left = self.remaining()
        if left <= 0:
            raise PageTimeout(f"the page's deadline of {self.seconds:g} s ran out")
        return min(step, left)

    def expiry_error(self) -> PageTimeout:
        return PageTimeout(f"the page's deadline of {self.seconds:g} s ran out")


class ByteBudget:
    """Body bytes one page may still receive; shared by the requests of the page (all on the
    browser's event loop, so no lock)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, count: int) -> None:
        """Account for ``count`` more bytes; raise :class:`CapExceeded` past the limit."""
        self.used += count
        if self.used > self.limit:
            raise CapExceeded(f"the page's byte cap of {self.limit} bytes was reached")
