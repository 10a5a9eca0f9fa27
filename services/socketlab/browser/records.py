"""What a page load leaves behind: one :class:`Entry` per request, one :class:`PageLoad` per page.

These records are the single source for the Network-panel table, ``--json`` and the HAR file,
so the three always agree. Times are milliseconds; -1 means "did not happen" (HAR's convention).
"""

from __future__ import annotations

from ..structs import MISSING, field, record
from .errors import BrowserError


@record
class Timings:
    """The phases of one request, in milliseconds, as HAR 1.2 names them."""

    blocked: float = -1.0  # waiting for a connection from the pool
    dns: float = -1.0
    connect: float = -1.0
    send: float = 0.0
    wait: float = 0.0  # request sent -> first byte of the response
    receive: float = 0.0  # first byte -> last byte

    def __init__(  # written out: one per request, as fast as generated code
        self,
        blocked: float = -1.0,
        dns: float = -1.0,
        connect: float = -1.0,
        send: float = 0.0,
        wait: float = 0.0,
        receive: float = 0.0,
    ) -> None:
        self.blocked = blocked
        self.dns = dns
        self.connect = connect
        self.send = send
        self.wait = wait
        self.receive = receive

    @property
    def total(self) -> float:
        """HAR: ``time`` is the sum of the timings that are not -1."""
        return sum(
            t
            for t in (self.blocked, self.dns, self.connect, self.send, self.wait, self.receive)
            if t >= 0
        )


@record
class Entry:
    """One request and what became of it (a response, or an error)."""

    id: int
    page_id: str
    method: str
    url: str
    kind: str  # document, stylesheet, script, image, icon, font, whoami
    initiator: str = ""  # the document or stylesheet that referenced it
    optional: bool = False  # the /favicon.ico guess and /whoami probes: failures don't count
    status_expected: bool = False  # a scenario states the status it expects: it judges it
    started: float = 0.0  # wall clock (epoch seconds)
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    request_body: bytes = b""
    request_bytes: int = 0
    status: int = 0
    reason: str = ""
    http_version: str = "HTTP/1.1"
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    head_bytes: int = -1
    wire_bytes: int = 0
    timings: Timings = field(default_factory=Timings)
    remote: tuple[str, int] | None = None
    local: tuple[str, int] | None = None
    connection_id: int | None = None
    reused: bool = False
    retried: bool = False
    redirect_to: str = ""
    error: BrowserError | None = None

    def __init__(  # written out: one per request, as fast as generated code
        self,
        id: int,
        page_id: str,
        method: str,
        url: str,
        kind: str,
        initiator: str = "",
        optional: bool = False,
        status_expected: bool = False,
        started: float = 0.0,
        request_headers: list[tuple[str, str]] = MISSING,
        request_body: bytes = b"",
        request_bytes: int = 0,
        status: int = 0,
        reason: str = "",
        http_version: str = "HTTP/1.1",
        response_headers: list[tuple[str, str]] = MISSING,
        body: bytes = b"",
        head_bytes: int = -1,
        wire_bytes: int = 0,
        timings: Timings = MISSING,
        remote: tuple[str, int] | None = None,
        local: tuple[str, int] | None = None,
        connection_id: int | None = None,
        reused: bool = False,
        retried: bool = False,
        redirect_to: str = "",
        error: BrowserError | None = None,
    ) -> None:
        self.id = id
        self.page_id = page_id
        self.method = method
        self.url = url
        self.kind = kind
        self.initiator = initiator
        self.optional = optional
        self.status_expected = status_expected
        self.started = started
        self.request_headers = [] if request_headers is MISSING else request_headers
        self.request_body = request_body
        self.request_bytes = request_bytes
        self.status = status
        self.reason = reason
        self.http_version = http_version
        self.response_headers = [] if response_headers is MISSING else response_headers
        self.body = body
        self.head_bytes = head_bytes
        self.wire_bytes = wire_bytes
        self.timings = Timings() if timings is MISSING else timings
        self.remote = remote
        self.local = local
        self.connection_id = connection_id
        self.reused = reused
        self.retried = retried
        self.redirect_to = redirect_to
        self.error = error

    @property
    def content_type(self) -> str:
        for name, value in self.response_headers:
            if name.lower() == "content-type":
                return value
        return ""

    @property
    def mime_type(self) -> str:
        return self.content_type.split(";")[0].strip().lower()

    @property
    def failed(self) -> bool:
        """The request did not complete, or its answer is an error status."""
        return self.error is not None or self.status >= 400

    @property
    def counts_as_failure(self) -> bool:
        if self.optional:
            return False
        if self.status_expected:
            return self.error is not None
        return self.failed

    @property
    def problem(self) -> str:
        if self.error is not None:
            return self.error.reason
        if self.status >= 400:
            return f"HTTP {self.status} {self.reason}".rstrip()
        return ""


@record
class ConnectionInfo:
    """A TCP connection as seen from both ends: ours, and the server's (from /whoami)."""

    id: int
    local: tuple[str, int]
    remote: tuple[str, int]
    requests: int
    server_view: tuple[str, int] | None = None
    server_pid: int | None = None


@record
class Expectation:
    """One check a scenario asked for, and whether it held."""

    what: str
    held: bool
    detail: str = ""


@record
class PageLoad:
    """One page: its document, every resource, the connections used, the checks made."""

    id: str
    url: str
    method: str = "GET"
    started: float = 0.0  # wall clock (epoch seconds)
    title: str = ""
    text: str = ""
    entries: list[Entry] = field(default_factory=list)
    document: Entry | None = None  # the final document response, after redirects
    content_loaded_ms: float = -1.0  # document received and parsed
    load_ms: float = -1.0  # every resource settled
    skipped: int = 0  # resources not fetched because of the resource cap
    connections: list[ConnectionInfo] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)
    label: str = ""  # the scenario step, if any

    @property
    def failures(self) -> list[Entry]:
        return [e for e in self.entries if e.counts_as_failure]

    @property
    def ok(self) -> bool:
        """Everything loaded, nothing was skipped and every expectation held."""
        return (
            self.document is not None
            and not self.failures
            and not self.skipped
            and all(x.held for x in self.expectations)
        )
