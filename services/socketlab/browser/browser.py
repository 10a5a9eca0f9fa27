"""Loading a page the way a browser does on the wire.

:meth:`Browser.load` requests the document (following redirects), reads it with
:func:`.extract.extract_html`, then fetches every resource it references in parallel -- at most
``connections_per_host`` connections per host from the keep-alive :class:`.pool.ConnectionPool`
-- reading each stylesheet in turn for its ``@import`` and ``url()``, and asking for
``/favicon.ico`` when the page declares no icon. Every request becomes
an :class:`.records.Entry`, failed ones included, so one broken image never stops the page: its
row says what went wrong and the rest loads.

One :class:`Browser` is one visitor: its connections and cookies last across the pages it loads,
until :meth:`Browser.close`.

All of a browser's network work runs on one thread, in an event loop of its own (:mod:`.loop`),
as a real browser's network stack does: one task per request, non-blocking sockets, and the
loop waiting on all of them at once. An earlier design gave each connection a blocking thread; on a
page of 30 small resources those threads spent their time handing the interpreter lock to each
other (about 1,100 ``futex`` calls and 9.4 ms of CPU per page), so the page took as long as
fetching its resources one after another. :meth:`Browser.load` stays a plain blocking call.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping

from .. import __version__
from ..structs import field, record
from . import errors, urls
from .cookies import CookieJar
from .extract import PageResources, Reference, decode, extract_css, extract_html
from .limits import ByteBudget, Caps, Deadline, Deadlines
from .loop import Channel, Loop, Task, TaskCancelled
from .pool import ConnectionPool, Lease
from .records import ConnectionInfo, Entry, PageLoad
from .redirects import is_redirect, next_hop
from .threads import Flag
from .transport import Connection, Progress, Reply, Resolver, exchange, system_resolver
from .urls import URL

TYPE_CHECKING = False  # typing is for the type checker only: see socketlab.structs
if TYPE_CHECKING:
    from typing import Final

    from .threads import StopFlag

USER_AGENT: Final = f"socketlab-browser/{__version__} (raw sockets; Python)"

LATE_GRACE: Final = 2.0
"""Seconds to let in-flight requests notice an expired page deadline before they are cancelled;
each of their waits is itself bounded by that deadline, so they end within it."""

MAX_BODY_FOR_JSON: Final = 65536
"""Largest /whoami answer read as JSON (a real one is about 1 KiB)."""

# What each kind of request accepts, as Chromium sends it.
ACCEPT: Final = {
    "document": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "stylesheet": "text/css,*/*;q=0.1",
    "image": "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
    "icon": "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
    "whoami": "application/json",
}
IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
HTML_TYPES: Final = frozenset({"text/html", "application/xhtml+xml"})


@record(frozen=True)
class Options:
    """How the browser behaves; the CLI's settings table fills it."""

    deadlines: Deadlines = field(default_factory=Deadlines)
    caps: Caps = field(default_factory=Caps)
    user_agent: str = USER_AGENT
    accept_language: str = "en"
    subresources: bool = True
    probe_whoami: bool = False


DEFAULT_OPTIONS: Final = Options()
"""What a :class:`Browser` made without options uses (frozen, so one is shared)."""


@record(frozen=True)
class Fetch:
    """One request to make (before redirects)."""

    method: str
    url: URL
    kind: str
    initiator: str = ""
    body: bytes = b""
    content_type: str | None = None
    optional: bool = False
    status_expected: bool = False
    queued: float = 0.0  # perf_counter() when its task was created (0: not queued)
    queued_wall: float = 0.0  # the same moment as time.time(), the entry's start

    def __init__(  # written out: one per request, as fast as generated code
        self,
        method: str,
        url: URL,
        kind: str,
        initiator: str = "",
        body: bytes = b"",
        content_type: str | None = None,
        optional: bool = False,
        status_expected: bool = False,
        queued: float = 0.0,
        queued_wall: float = 0.0,
    ) -> None:
        values = self.__dict__  # frozen: past its __setattr__
        values["method"] = method
        values["url"] = url
        values["kind"] = kind
        values["initiator"] = initiator
        values["body"] = body
        values["content_type"] = content_type
        values["optional"] = optional
        values["status_expected"] = status_expected
        values["queued"] = queued
        values["queued_wall"] = queued_wall


@record
class _Load:
    """State shared by the requests of one page."""

    page: PageLoad
    deadline: Deadline
    budget: ByteBudget
    t0: float
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_id(self) -> int:
        return next(self.ids)


class Browser:
    """A scripted visitor: loads pages, keeps connections alive and cookies between them.

    Not for use from several threads at once (one visitor loads one page at a time), except
    :meth:`abort`, which any thread may call.
    """

    def __init__(
        self,
        options: Options = DEFAULT_OPTIONS,
        *,
        resolver: Resolver = system_resolver,
        cancel: StopFlag | None = None,
        page_numbers: Iterator[int] | None = None,
    ) -> None:
        """``page_numbers`` lets several browsers of one run number their pages uniquely (HAR
        page ids must be unique in one archive)."""
        self.options = options
        self.pool = ConnectionPool(
            max_per_host=options.caps.connections_per_host,
            connect_timeout=options.deadlines.connect,
            resolver=resolver,
        )
        self.cookies = CookieJar()
        self.cancel = cancel or Flag()
        self._pages = page_numbers or itertools.count(1)
        self._loop: Loop | None = None  # made by the first load
        self._requests: set[Task[list[Entry]]] = set()  # in flight: abort() cancels

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.pool.close()
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    def abort(self) -> None:
        """Stop now, from another thread: requests in flight fail as cancelled at once instead
        of waiting out their read timeouts (``docker stop`` allows 10 s)."""
        self.cancel.set()
        self.pool.abort()
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop was closed meanwhile
                loop.call_soon_threadsafe(self._cancel_requests)

    def _cancel_requests(self) -> None:
        for task in list(self._requests):
            task.cancel()

    def _run(self, work: Coroutine[object, object, PageLoad]) -> PageLoad:
        if self._loop is None:
            self._loop = self.pool.loop = Loop()
        return self._loop.run(work)

    def _start(
        self, load: _Load, work: Coroutine[object, object, list[Entry]]
    ) -> Task[list[Entry]]:
        """Run one request (with its redirects) as a task of its own, which abort() cancels."""
        assert self._loop is not None
        task = self._loop.spawn(work)
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)
        return task

    # -- loading a page --------------------------------------------------------------------------

    def load(
        self,
        url: str | URL,
        *,
        method: str = "GET",
        form: Mapping[str, str] | None = None,
        label: str = "",
        status_expected: bool = False,
    ) -> PageLoad:
        """Load one page and everything it references; never raises for network trouble."""
        return self._run(self._load(url, method, form, label, status_expected))

    async def _load(
        self,
        url: str | URL,
        method: str,
        form: Mapping[str, str] | None,
        label: str,
        status_expected: bool,
    ) -> PageLoad:
        page = PageLoad(
            id=f"page_{next(self._pages)}",
            url=str(url),
            method=method,
            started=time.time(),
            label=label,
        )
        load = _Load(
            page,
            Deadline(self.options.deadlines.total),
            ByteBudget(self.options.caps.bytes),
            time.perf_counter(),
        )
        try:
            target = url if isinstance(url, URL) else urls.parse(url)
        except errors.InvalidURL as exc:
            page.entries.append(
                Entry(
                    id=load.next_id(),
                    page_id=page.id,
                    method=method,
                    url=str(url),
                    kind="document",
                    started=page.started,
                    error=exc,
                )
            )
            return page
        body = b""
        if form is not None:
            from urllib.parse import urlencode  # only for a form: see urls.parse

            body = urlencode(dict(form)).encode("ascii")
        content_type = "application/x-www-form-urlencoded" if form is not None else None
        fetch = Fetch(
            method,
            target,
            "document",
            body=body,
            content_type=content_type,
            status_expected=status_expected,
        )
        try:
            chain = await self._start(load, self._fetch_chain(load, fetch))
        except TaskCancelled:  # aborted before the request's first step
            chain = [self._never_started(load, fetch)]
        page.entries.extend(chain)
        final = chain[-1]
        if final.error is None:
            page.document = final
            found = self._read_document(page, final)
            page.content_loaded_ms = (time.perf_counter() - load.t0) * 1000
            if found is not None and self.options.subresources:
                await self._load_resources(load, found, urls.parse(final.url))
        page.load_ms = (time.perf_counter() - load.t0) * 1000
        if self.options.probe_whoami:
            await self.probe_whoami(load)
        page.entries.sort(key=lambda e: (e.started, e.id))
        page.connections = self._connections(page)
        return page

    def _read_document(self, page: PageLoad, doc: Entry) -> PageResources | None:
        mime = doc.mime_type
        looks_html = mime in HTML_TYPES or (not mime and doc.body.lstrip()[:1] == b"<")
        if not looks_html:
            if not mime or mime.startswith("text/") or mime.endswith(("json", "xml")):
                page.text = decode(doc.body, doc.content_type)
            return None
        found = extract_html(decode(doc.body, doc.content_type))
        page.title, page.text = found.title, found.text
        return found

    async def _load_resources(self, load: _Load, found: PageResources, doc_url: URL) -> None:
        base = doc_url
        if found.base_href:
            with contextlib.suppress(errors.InvalidURL):  # a broken <base> is ignored, as
                base = doc_url.join(found.base_href)  # browsers do
        caps = self.options.caps
        seen: set[str] = set()
        pending: dict[Task[list[Entry]], Fetch] = {}
        # Each request's task puts itself here when done: one wake-up is one finished request.
        finished: Channel[Task[list[Entry]]] = Channel()
        page = load.page

        def submit(ref: Reference, against: URL, initiator: str, optional: bool = False) -> None:
            try:
                url = against.join(ref.url)
            except errors.InvalidURL as exc:
                page.entries.append(
                    Entry(
                        id=load.next_id(),
                        page_id=page.id,
                        method="GET",
                        url=ref.url,
                        kind=ref.kind,
                        initiator=initiator,
                        started=time.time(),
                        error=exc,
                    )
                )
                return
            key = str(url)
            if key in seen:
                return
            if len(seen) >= caps.resources:
                page.skipped += 1
                return
            seen.add(key)
            fetch = Fetch(
                "GET",
                url,
                ref.kind,
                initiator=initiator,
                optional=optional,
                queued=time.perf_counter(),
                queued_wall=time.time(),
            )
            task = self._start(load, self._fetch_resource(load, fetch, submit))
            pending[task] = fetch
            task.add_done_callback(finished.put)

        for ref in found.references:
            submit(ref, base, str(doc_url))
        if not found.has_icon:
            # Browsers ask for /favicon.ico at the page's origin when no <link rel=icon> says
            # otherwise (the seed saw Chrome do it); a site without one is no failure.
            submit(Reference("/favicon.ico", "icon"), doc_url, str(doc_url), optional=True)

        await self._settle(load, pending, finished)

    async def _settle(
        self,
        load: _Load,
        pending: dict[Task[list[Entry]], Fetch],
        finished: Channel[Task[list[Entry]]],
    ) -> None:
        """Collect finished requests until none is left (a stylesheet's task submits what it
        references before it finishes). Every wait of a request is bounded by the page's
        deadline, so they all end by then; what is still pending ``LATE_GRACE`` seconds later
        is cancelled, and recorded as timed out."""
        page = load.page
        while pending:
            try:
                task = await finished.get(max(load.deadline.remaining(), 0.0) + LATE_GRACE)
            except TimeoutError:
                break
            if pending.pop(task, None) is not None:
                page.entries.extend(task.result())
        if not pending:
            return
        for task in pending:
            task.cancel()
        for task, fetch in pending.items():
            try:
                page.entries.extend(await task)
            except TaskCancelled:  # cancelled before its first step: no entry yet
                page.entries.append(self._never_started(load, fetch))

    def _never_started(self, load: _Load, fetch: Fetch) -> Entry:
        """The entry of a request cancelled before it began: the browser is stopping, or the
        page ran out of time."""
        return Entry(
            id=load.next_id(),
            page_id=load.page.id,
            method=fetch.method,
            url=str(fetch.url),
            kind=fetch.kind,
            initiator=fetch.initiator,
            optional=fetch.optional,
            started=fetch.queued_wall or time.time(),
            error=(
                errors.Cancelled("the browser is stopping")
                if self.cancel.is_set()
                else load.deadline.expiry_error()
            ),
        )

    async def _fetch_resource(
        self, load: _Load, fetch: Fetch, submit: Callable[[Reference, URL, str], None]
    ) -> list[Entry]:
        """One resource (with redirects); a stylesheet's references are submitted in turn."""
        chain = await self._fetch_chain(load, fetch)
        final = chain[-1]
        if final.kind == "stylesheet" and not final.failed and final.mime_type in ("text/css", ""):
            sheet = urls.parse(final.url)
            for ref in extract_css(decode(final.body, final.content_type)):
                submit(ref, sheet, str(sheet))
        return chain

    # -- one request, with redirects -------------------------------------------------------------

    async def _fetch_chain(self, load: _Load, fetch: Fetch) -> list[Entry]:
        """Request ``fetch``, following redirects up to the cap; one Entry per hop."""
        entries: list[Entry] = []
        cap = self.options.caps.redirects
        for _ in range(cap + 1):
            entry = await self._fetch_one(load, fetch)
            entries.append(entry)
            location = _header(entry.response_headers, "location")
            if (
                entry.error is not None
                or location is None
                or not is_redirect(entry.status, location)
            ):
                return entries
            try:
                hop = next_hop(
                    fetch.method, fetch.url, entry.status, location, fetch.body, fetch.content_type
                )
            except errors.RedirectRefused as exc:
                entry.error = exc
                return entries
            entry.redirect_to = str(hop.url)
            fetch = Fetch(
                hop.method,
                hop.url,
                fetch.kind,
                initiator=fetch.initiator,
                body=hop.body,
                content_type=hop.content_type,
                optional=fetch.optional,
                status_expected=fetch.status_expected,
            )
        entries[-1].error = errors.TooManyRedirects(f"gave up after {cap} redirects")
        return entries

    def _headers(self, fetch: Fetch) -> list[tuple[str, str]]:
        url = fetch.url
        headers = [
            ("Host", url.authority),
            ("User-Agent", self.options.user_agent),
            ("Accept", ACCEPT.get(fetch.kind, "*/*")),
            ("Accept-Language", self.options.accept_language),
            # We do not decode gzip or br, so we must not offer them (RFC 9110 §12.5.3).
            ("Accept-Encoding", "identity"),
            ("Connection", "keep-alive"),
        ]
        if fetch.initiator:
            # strict-origin-when-cross-origin, browsers' default referrer policy.
            try:
                referrer = _parse_initiator(fetch.initiator)
                same = referrer.origin == url.origin
                headers.append(
                    (
                        "Referer",
                        fetch.initiator if same else f"{referrer.scheme}://{referrer.authority}/",
                    )
                )
            except errors.InvalidURL:
                pass
        if fetch.method not in ("GET", "HEAD"):
            headers.append(("Origin", f"{url.scheme}://{url.authority}"))
        cookie = self.cookies.header_for(url)
        if cookie:
            headers.append(("Cookie", cookie))
        if fetch.body or fetch.method in ("POST", "PUT", "PATCH"):
            if fetch.content_type:
                headers.append(("Content-Type", fetch.content_type))
            headers.append(("Content-Length", str(len(fetch.body))))
        return headers

    async def _fetch_one(self, load: _Load, fetch: Fetch, conn: Connection | None = None) -> Entry:
        """One request and its response (or error), on ``conn`` or a pooled connection."""
        page = load.page
        entry = Entry(
            id=load.next_id(),
            page_id=page.id,
            method=fetch.method,
            url=str(fetch.url),
            kind=fetch.kind,
            initiator=fetch.initiator,
            optional=fetch.optional,
            status_expected=fetch.status_expected,
            started=fetch.queued_wall or time.time(),
            request_body=fetch.body,
        )
        lease: Lease | None = None
        progress = Progress()
        started = time.perf_counter()
        if fetch.queued:
            # Waiting for the loop to start it is waiting to be sent, like waiting for a
            # connection.
            entry.timings.blocked = (started - fetch.queued) * 1000
        try:
            if self.cancel.is_set():
                raise errors.Cancelled("the browser is stopping")
            if load.deadline.expired:
                raise load.deadline.expiry_error()
            entry.request_headers = self._headers(fetch)
            lease = (
                Lease(conn, reused=True, blocked_ms=0.0)
                if conn is not None
                else await self.pool.acquire(fetch.url.host, fetch.url.port, load.deadline)
            )
            self._note_lease(entry, lease)
            try:
                reply = await self._exchange(load, fetch, entry, lease, progress)
            except errors.StaleConnection:
                if fetch.method not in IDEMPOTENT or conn is not None:
                    raise
                # RFC 9112 §9.3.1: a client MAY retry an idempotent request whose connection
                # closed before the response; browsers do it once, on a new connection.
                self.pool.release(lease.conn, reusable=False)
                lease = None
                entry.retried = True
                progress = Progress()
                lease = await self.pool.acquire(
                    fetch.url.host, fetch.url.port, load.deadline, fresh=True
                )
                self._note_lease(entry, lease)
                reply = await self._exchange(load, fetch, entry, lease, progress)
        except (errors.BrowserError, TaskCancelled) as exc:
            # After abort() a socket shut down under a request looks like a closed connection;
            # say what really happened.
            if self.cancel.is_set():
                entry.error = errors.Cancelled("the browser is stopping")
            elif isinstance(exc, TaskCancelled):  # cancelled by _settle: out of time
                entry.error = load.deadline.expiry_error()
            else:
                entry.error = exc
            entry.wire_bytes = progress.received
            if lease is None:
                # Failed before a connection was had: the time went to the step that failed.
                spent = (time.perf_counter() - started) * 1000
                if isinstance(exc, errors.UnknownHost):
                    entry.timings.dns = spent
                elif isinstance(exc, (errors.ConnectError, errors.ConnectTimeout)):
                    entry.timings.connect = spent
                else:
                    entry.timings.blocked = max(entry.timings.blocked, 0.0) + spent
            else:
                self.pool.release(lease.conn, reusable=False)
                now = time.perf_counter()
                if progress.sent_at:
                    first = progress.first_byte_at or now
                    entry.timings.wait = (first - progress.sent_at) * 1000
                    entry.timings.receive = (now - first) * 1000 if progress.first_byte_at else 0
            return entry
        entry.status, entry.reason, entry.http_version = reply.status, reply.reason, reply.version
        entry.response_headers = reply.headers.items()
        entry.body = reply.body
        entry.head_bytes, entry.wire_bytes = reply.head_bytes, reply.wire_bytes
        entry.request_bytes = reply.request_bytes
        entry.timings.send, entry.timings.wait = reply.send_ms, reply.wait_ms
        entry.timings.receive = reply.receive_ms
        self.cookies.store(fetch.url, reply.headers.get_all("set-cookie"))
        self.pool.release(lease.conn, reusable=reply.keep_alive)
        return entry

    @staticmethod
    def _note_lease(entry: Entry, lease: Lease) -> None:
        conn = lease.conn
        entry.connection_id, entry.remote, entry.local = conn.id, conn.remote, conn.local
        entry.reused = lease.reused
        t = entry.timings
        t.blocked = max(t.blocked, 0.0) + lease.blocked_ms
        if lease.dns_ms >= 0:
            t.dns = max(t.dns, 0.0) + lease.dns_ms
        if lease.connect_ms >= 0:
            t.connect = max(t.connect, 0.0) + lease.connect_ms

    async def _exchange(
        self, load: _Load, fetch: Fetch, entry: Entry, lease: Lease, progress: Progress
    ) -> Reply:
        return await exchange(
            lease.conn,
            fetch.method,
            fetch.url.target,
            entry.request_headers,
            fetch.body,
            read_timeout=self.options.deadlines.read,
            deadline=load.deadline,
            budget=load.budget,
            progress=progress,
        )

    # -- /whoami on every connection ------------------------------------------------------------

    async def probe_whoami(self, load: _Load) -> None:
        """Ask ``/whoami`` on every connection this page used that is still open, so the
        server's view of each (``client_ip``, ``client_port``) sits next to ours in the report."""
        used = {e.connection_id for e in load.page.entries if e.connection_id is not None}
        for conn in self.pool.take_idle(used):
            url = URL(conn.host, conn.port, "/whoami")
            entry = await self._fetch_one(
                load, Fetch("GET", url, "whoami", optional=True), conn=conn
            )
            load.page.entries.append(entry)
            if entry.status == 200 and len(entry.body) <= MAX_BODY_FOR_JSON:
                try:
                    import json  # here: only the /whoami probe reads JSON (see socketlab.jsontext)

                    doc = json.loads(entry.body)
                    conn.server_view = (str(doc["client_ip"]), int(doc["client_port"]))
                    pid = doc.get("pid")
                    conn.server_pid = pid if isinstance(pid, int) else None
                except (ValueError, KeyError, TypeError):
                    pass

    def _connections(self, page: PageLoad) -> list[ConnectionInfo]:
        by_id = {c.id: c for c in self.pool.opened}
        infos: dict[int, ConnectionInfo] = {}
        for entry in page.entries:
            if entry.connection_id is None or entry.local is None or entry.remote is None:
                continue
            info = infos.get(entry.connection_id)
            if info is None:
                conn = by_id.get(entry.connection_id)
                info = infos[entry.connection_id] = ConnectionInfo(
                    entry.connection_id,
                    entry.local,
                    entry.remote,
                    0,
                    conn.server_view if conn is not None else None,
                    conn.server_pid if conn is not None else None,
                )
            info.requests += 1
        return [infos[k] for k in sorted(infos)]


@functools.lru_cache(maxsize=64)
def _parse_initiator(url: str) -> URL:
    """urls.parse() for the Referer: every resource of a page names the same initiator, and a
    URL is immutable."""
    return urls.parse(url)


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value
    return None
