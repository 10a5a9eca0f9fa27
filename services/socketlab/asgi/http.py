"""The ASGI 3 ``http`` scope on the lab's HTTP core (django/asgiref ``specs/www.rst``).

What the WSGI gateway is to a blocking connection, this is to an asyncio one: the application
is an ``async`` callable ``app(scope, receive, send)``. For each request :func:`run_http` builds
the scope from
the parsed head, gives the application the request body as ``http.request`` messages (read on
demand, so an application that never reads a body never buffers one), and turns its
``http.response.start``/``http.response.body`` messages into the response through the same
:class:`~socketlab.http.connection.Exchange` as every other answer of the lab. The message rules
are enforced here; an application that breaks them gets a ``RuntimeError`` from ``send`` and
its client a 500 (or a closed connection when the response had already started).

The connection is anything that provides :class:`Wire`'s few coroutines (coroutine-web's
``Wire`` does): this module does no I/O of its own.
"""

from __future__ import annotations

import logging
from typing import Any, Final, Protocol
from urllib.parse import unquote

from ..http.connection import ClientGone, Exchange
from ..http.errors import HTTPError, InternalServerError
from ..http.parser import RequestParser
from .types import ASGIApp, Message, Scope

log = logging.getLogger("socketlab.asgi")


class Wire(Protocol):
    """What the ``http`` scope needs of an asyncio connection."""

    client: tuple[str, int]
    server: tuple[str, int]
    peer: str
    parser: RequestParser

    async def read_body(self, exchange: Exchange) -> bytes: ...
    async def drain(self) -> None: ...
    async def wait_lost(self) -> None: ...


ASGI_VERSION: Final = {"version": "3.0", "spec_version": "2.4"}
"""ASGI 3; HTTP spec 2.4: ``send`` on a closed connection raises an OSError subclass."""


class ClientDisconnected(OSError):
    """``send`` after the client went away (HTTP spec 2.4: a server-specific OSError)."""


class HTTPCycle:
    """The ``receive`` and ``send`` of one request (one connection scope, in ASGI's words)."""

    __slots__ = (
        "complete",
        "conn",
        "disconnected",
        "error",
        "exchange",
        "pending",
        "request_done",
        "started",
    )

    def __init__(self, conn: Wire, exchange: Exchange) -> None:
        self.conn = conn
        self.exchange = exchange
        self.started = False
        self.complete = False
        self.disconnected = False
        self.request_done = False
        self.error: HTTPError | None = None
        self.pending: tuple[int, list[tuple[str, str]]] | None = None

    async def receive(self) -> Message:
        if self.disconnected or (self.request_done and self.complete):
            self.disconnected = True
            return {"type": "http.disconnect"}
        if self.request_done:
            # The body is all read and the response is not complete: what can still happen is
            # the client going away (long polling waits for exactly this).
            await self.conn.wait_lost()
            self.disconnected = True
            return {"type": "http.disconnect"}
        try:
            piece = await self.conn.read_body(self.exchange)
        except HTTPError as exc:  # a broken or too slow body: the app sees the client go
            self.error = exc
            self.disconnected = True
            return {"type": "http.disconnect"}
        except ClientGone:
            self.disconnected = True
            return {"type": "http.disconnect"}
        if not piece:
            self.request_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        if self.conn.parser.body_finished:
            # The parser knows this was the last piece: say so with it (and take its END).
            self.exchange.body_step()
            self.request_done = True
            return {"type": "http.request", "body": piece, "more_body": False}
        return {"type": "http.request", "body": piece, "more_body": True}

    async def send(self, message: Message) -> None:
        kind = message.get("type")
        if self.disconnected and not self.complete:
            # The app was told the client is gone (it went, or its body was broken): the
            # connection is done for, whatever the app still wants to say.
            raise ClientDisconnected("the client is gone")
        if kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            status = message.get("status")
            if type(status) is not int or not 100 <= status <= 999:
                raise RuntimeError(f"http.response.start: status must be an int, not {status!r}")
            if 100 <= status < 200:
                raise RuntimeError("http.response.start: informational statuses are the server's")
            headers = []
            for pair in message.get("headers", ()):
                name, value = pair
                if not isinstance(name, bytes) or not isinstance(value, bytes):
                    raise RuntimeError(f"header names and values must be bytes: {pair!r}")
                headers.append((name.decode("latin-1"), value.decode("latin-1")))
            self.started = True
            # The head waits for the first body message (the spec: nothing goes out before it),
            # so a one-message body can get a Content-Length instead of chunked framing.
            self.pending = (status, headers)
            return
        if kind == "http.response.body":
            if not self.started:
                raise RuntimeError("http.response.body before http.response.start")
            if self.complete:
                return  # "any further messages on the channel will be ignored"
            body = message.get("body", b"")
            if not isinstance(body, (bytes, bytearray, memoryview)):
                raise RuntimeError(f"http.response.body: body must be bytes, not {type(body)}")
            more = bool(message.get("more_body", False))
            exchange = self.exchange
            if self.pending is not None:
                status, headers = self.pending
                self.pending = None
                has_length = any(name.lower() == "content-length" for name, _ in headers)
                length = None if more or has_length else len(body)
                exchange.start(status, headers, length=length)
            exchange.write(bytes(body))
            if not more:
                self.complete = True
                exchange.finish()
            await self.conn.drain()
            return
        raise RuntimeError(f"unknown ASGI message type {kind!r} for an http scope")


def build_scope(
    conn: Wire, exchange: Exchange, root_path: str, state: dict[str, Any] | None
) -> Scope:
    request = exchange.request
    raw = request.target
    if raw.startswith(("http://", "https://")):  # absolute form: the path is in the parser's
        raw = request.path + ("?" + request.query if request.query else "")
    raw_path, _, query = raw.partition("?")
    version = request.version
    scope: Scope = {
        "type": "http",
        "asgi": ASGI_VERSION,
        "http_version": f"{version[0]}.{version[1]}",
        "method": request.method,
        "scheme": "http",
        "path": unquote(raw_path, "utf-8", "surrogateescape"),
        "raw_path": raw_path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": root_path,
        "headers": [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in request.headers.items()
        ],
        "client": conn.client,
        "server": conn.server,
    }
    if state is not None:
        scope["state"] = state.copy()  # the spec: a shallow copy per request
    return scope


async def run_http(
    app: ASGIApp,
    conn: Wire,
    exchange: Exchange,
    *,
    root_path: str = "",
    state: dict[str, Any] | None = None,
) -> None:
    """Run the application for one request; errors become a 500 or a close (see module)."""
    cycle = HTTPCycle(conn, exchange)
    scope = build_scope(conn, exchange, root_path, state)
    try:
        await app(scope, cycle.receive, cycle.send)
    except ClientGone:
        raise
    except ClientDisconnected:
        if cycle.error is not None:
            raise cycle.error from None  # answered with its status when nothing went out yet
        raise ClientGone("the client closed the connection") from None
    except Exception as exc:
        if cycle.error is not None:
            raise cycle.error from exc
        if exchange.head_sent:
            raise  # the connection logs it and closes: the response is half out
        log.exception("%s: the ASGI application failed on %s", conn.peer, exchange.request.method)
        exchange.note = "error=application"
        raise InternalServerError("the application failed") from exc
    if cycle.error is not None and not cycle.started:
        raise cycle.error
    if not cycle.started:
        log.error("%s: the ASGI application returned without starting a response", conn.peer)
        raise InternalServerError("the application returned without a response")
    if not cycle.complete:
        if cycle.pending is not None:  # start without a body message: an empty body
            await cycle.send({"type": "http.response.body", "body": b""})
            return
        log.error("%s: the ASGI application returned in the middle of its response", conn.peer)
        exchange.keep_alive = False
        raise ClientGone("application returned before the response was complete")
