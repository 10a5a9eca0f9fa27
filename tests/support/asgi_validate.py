"""A checking wrapper for ASGI applications, as wsgiref.validate is for WSGI ones.

``Validator(app)`` is itself an ASGI application: it hands the server's scope and messages to
``app`` after checking them against the ASGI 3 spec (django/asgiref ``specs/main.rst``,
``www.rst``, ``lifespan.rst``), and checks the application's messages on their way back. Every
broken rule is recorded in ``violations`` (an assertion inside the app would only become a 500
the test cannot see); a test asserts the list is empty.

Checked of the server: the scope's keys and types; ``receive`` giving ``http.request`` messages
with bytes bodies and a bool ``more_body`` until one says False, nothing but ``http.disconnect``
after that, and ``http.disconnect`` forever once given; ``send`` returning None; the lifespan
order (startup first, shutdown last, each once).
Checked of the application: ``http.response.start`` once and first, ``http.response.body``
after it, nothing after the last body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class Validator:
    def __init__(self, app: App) -> None:
        self.app = app
        self.violations: list[str] = []
        self.scopes: list[Scope] = []
        self.received: list[Message] = []

    def fail(self, text: str) -> None:
        self.violations.append(text)

    def check(self, condition: bool, text: str) -> None:
        if not condition:
            self.fail(text)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)
        kind = scope.get("type")
        if kind == "http":
            self.check_http_scope(scope)
            await self.app(scope, self.http_receive(receive), self.http_send(send))
        elif kind == "lifespan":
            self.check(scope.get("asgi", {}).get("version") == "3.0", "lifespan: asgi.version")
            self.check(isinstance(scope.get("state", {}), dict), "lifespan: state not a dict")
            await self.app(scope, self.lifespan_receive(receive), send)
        else:
            self.fail(f"unknown scope type {kind!r}")
            await self.app(scope, receive, send)

    # -- the server's side -------------------------------------------------------------------

    def check_http_scope(self, scope: Scope) -> None:
        asgi = scope.get("asgi")
        self.check(isinstance(asgi, dict) and asgi.get("version") == "3.0", "asgi.version != 3.0")
        if isinstance(asgi, dict) and "spec_version" in asgi:
            self.check(isinstance(asgi["spec_version"], str), "asgi.spec_version not a str")
        self.check(scope.get("http_version") in ("1.0", "1.1", "2"), "http_version")
        method = scope.get("method")
        self.check(isinstance(method, str) and method == method.upper(), f"method {method!r}")
        self.check(
            isinstance(scope.get("scheme", "http"), str) and scope.get("scheme") != "",
            "scheme must be a non-empty str",
        )
        path = scope.get("path")
        self.check(isinstance(path, str) and path.startswith("/"), f"path {path!r}")
        raw = scope.get("raw_path")
        self.check(raw is None or isinstance(raw, bytes), "raw_path must be bytes or None")
        self.check(isinstance(scope.get("query_string"), bytes), "query_string must be bytes")
        root = scope.get("root_path", "")
        self.check(isinstance(root, str), "root_path must be a str")
        headers = scope.get("headers")
        if not isinstance(headers, (list, tuple)):
            self.fail("headers must be an iterable of pairs")
        else:
            for pair in headers:
                if len(pair) != 2 or not all(isinstance(x, bytes) for x in pair):
                    self.fail(f"header {pair!r} is not a pair of bytes")
                elif pair[0] != pair[0].lower():
                    self.fail(f"header name {pair[0]!r} is not lowercase")
        for key in ("client", "server"):
            value = scope.get(key)
            if value is not None:
                ok = (
                    len(value) == 2
                    and isinstance(value[0], str)
                    and (value[1] is None or isinstance(value[1], int))
                )
                self.check(ok, f"{key} must be (host, port), not {value!r}")
        if "state" in scope:
            self.check(isinstance(scope["state"], dict), "state must be a dict")

    def http_receive(self, receive: Receive) -> Receive:
        body_done = False
        disconnected = False

        async def checked() -> Message:
            nonlocal body_done, disconnected
            message = await receive()
            self.received.append(message)
            kind = message.get("type")
            if disconnected:
                self.check(kind == "http.disconnect", f"{kind} after http.disconnect")
            elif kind == "http.request":
                self.check(not body_done, "http.request after the body's last message")
                self.check(isinstance(message.get("body", b""), bytes), "body must be bytes")
                more = message.get("more_body", False)
                self.check(isinstance(more, bool), "more_body must be a bool")
                body_done = not more
            elif kind == "http.disconnect":
                disconnected = True
            else:
                self.fail(f"receive() gave {kind!r} on an http scope")
            return message

        return checked

    def lifespan_receive(self, receive: Receive) -> Receive:
        seen: list[str] = []

        async def checked() -> Message:
            message = await receive()
            kind = message.get("type")
            expected = "lifespan.startup" if not seen else "lifespan.shutdown"
            self.check(kind == expected and len(seen) < 2, f"lifespan: {kind} after {seen}")
            seen.append(str(kind))
            return message

        return checked

    # -- the application's side --------------------------------------------------------------

    def http_send(self, send: Send) -> Send:
        started = False
        finished = False

        async def checked(message: Message) -> None:
            nonlocal started, finished
            kind = message.get("type")
            if kind == "http.response.start":
                self.check(not started, "app: http.response.start twice")
                self.check(isinstance(message.get("status"), int), "app: status not an int")
                started = True
            elif kind == "http.response.body":
                self.check(started, "app: body before start")
                self.check(not finished, "app: body after the last body message")
                finished = not message.get("more_body", False)
            else:
                self.fail(f"app sent {kind!r}")
            await send(message)

        return checked
