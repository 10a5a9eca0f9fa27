"""The lab's default ASGI application: the WSGI site's instruments, written for an event loop.

The same paths and bounds as :mod:`socketlab.labapp.instruments` (httpbin's idea), so the three
servers can be compared on the same requests. The one that matters here is ``/delay/<s>``: it
*awaits* ``asyncio.sleep``, so while it waits the loop serves every other connection. (A
``time.sleep`` there would stop the whole server: try it, that is the lesson.)

=====================  ===========================================================
``/``                  an index of the instruments
``/headers``           the request headers
``/get``               query string fields, headers, client address, URL
``/post``              the same, plus the body: form fields, JSON, or text (1 MiB at most)
``/status/<code>``     an answer with that status, 200 to 599
``/delay/<seconds>``   the answer after that many seconds (10 at most), without blocking
``/bytes/<n>``         ``n`` random bytes, 1 MiB at most (``?seed=`` repeats them)
``/stream/<n>``        ``n`` JSON lines, each its own ``http.response.body`` message (100 at most)
=====================  ===========================================================

``/whoami``, ``/healthz``, ``/server-status`` and the static files are answered by the server
before an application is asked (see :mod:`socketlab.coroutine_web.site`).
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import parse_qsl

from ..asgi import Message, Receive, Scope, Send

MAX_DELAY: Final = 10.0
"""Longest /delay in seconds (httpbin's cap), below the graceful stop's 12 s."""

MAX_BYTES: Final = 1024 * 1024
MAX_STREAM: Final = 100
MAX_BODY: Final = 1024 * 1024
"""Largest body /post reads (the mini framework's MAX_BODY); beyond it, 413."""

STATUS_MIN: Final = 200
STATUS_MAX: Final = 599
ANY_METHOD: Final = ("GET", "POST", "PUT", "PATCH", "DELETE")

Headers = list[tuple[bytes, bytes]]
NO_STORE: Final = (b"cache-control", b"no-store")


async def _respond(
    send: Send, status: int, body: bytes, content_type: bytes, extra: Headers | None = None
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        NO_STORE,
        *(extra or ()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _json(send: Send, doc: Any, status: int = 200) -> None:
    await _respond(send, status, json.dumps(doc, indent=2).encode() + b"\n", b"application/json")


async def _error(send: Send, status: int, text: str) -> None:
    await _respond(send, status, text.encode() + b"\n", b"text/plain; charset=utf-8")


def _fields(pairs: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    out: dict[str, str | list[str]] = {}
    for name, value in pairs:
        if name in out:
            old = out[name]
            out[name] = [*old, value] if isinstance(old, list) else [old, value]
        else:
            out[name] = value
    return out


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1").title()
        text = value.decode("latin-1")
        out[key] = out[key] + ", " + text if key in out else text
    return out


def _echo(scope: Scope) -> dict[str, Any]:
    query = scope["query_string"].decode("latin-1")
    host = _headers(scope).get("Host", "")
    client = scope.get("client") or ("", 0)
    return {
        "args": _fields(parse_qsl(query, keep_blank_values=True)),
        "headers": _headers(scope),
        "origin": client[0],
        "url": f"http://{host}{scope['path']}" + (f"?{query}" if query else ""),
        "pid": os.getpid(),
    }


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None when it is over ``limit`` or the client went away."""
    parts: list[bytes] = []
    size = 0
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body = message.get("body", b"")
        size += len(body)
        if size > limit:
            return None
        parts.append(body)
        if not message.get("more_body", False):
            return b"".join(parts)


# -- the views ---------------------------------------------------------------------------------

View = Callable[[Scope, Receive, Send, str], Awaitable[None]]


async def index_view(scope: Scope, receive: Receive, send: Send, arg: str) -> None:
    items = "".join(
        f'<li><a href="{html.escape(href)}">{html.escape(href)}</a> {html.escape(what)}</li>'
        for href, what in (
            ("/whoami", "the connection as the server saw it (and which task)"),
            ("/server-status", "every open connection and its state"),
            ("/headers", "the request headers"),
            ("/get?a=1", "query, headers, origin"),
            ("/status/418", "any status"),
            ("/delay/1", "an answer after a second, without blocking anyone else"),
            ("/bytes/1024", "random bytes"),
            ("/stream/5", "JSON lines, one message each"),
        )
    )
    page = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<title>coroutine-web</title><link rel="stylesheet" href="/css/site.css"></head>\n'
        "<body><h1>coroutine-web: one thread, one event loop, a task per connection</h1>\n"
        f"<p>An ASGI application served by process {os.getpid()}.</p><ul>{items}</ul>\n"
        "</body></html>\n"
    ).encode()
    await _respond(send, 200, page, b"text/html; charset=utf-8")


async def headers_view(scope: Scope, receive: Receive, send: Send, arg: str) -> None:
    await _json(send, {"headers": _headers(scope)})


async def get_view(scope: Scope, receive: Receive, send: Send, arg: str) -> None:
    await _json(send, _echo(scope))


async def post_view(scope: Scope, receive: Receive, send: Send, arg: str) -> None:
    body = await _read_body(receive, MAX_BODY)
    if body is None:
        await _error(send, 413, f"the body is limited to {MAX_BODY} bytes")
        return
    doc = _echo(scope)
    content_type = _headers(scope).get("Content-Type", "").split(";")[0].strip().lower()
    doc.update(
        {"content_type": content_type, "size": len(body), "form": {}, "json": None, "data": ""}
    )
    if content_type == "application/x-www-form-urlencoded":
        doc["form"] = _fields(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    elif content_type == "application/json":
        try:
            doc["json"] = json.loads(body)
        except ValueError:
            await _error(send, 400, "the body is not valid JSON")
            return
    else:
        doc["data"] = body.decode("utf-8", "replace")
    await _json(send, doc)


async def status_view(scope: Scope, receive: Receive, send: Send, arg: str) -> None:
    code = int(arg)
    if not STATUS_MIN <= code <= STATUS_MAX:
        await _error(send, 400, f"status must be from {STATUS_MIN} to {STATUS_MAX}")
        return
    extra: Headers = []
    if 300 <= code < 400 and code != 304:
        extra.append((b"location", b"/get"))
    if code == 401:
        extra.append((b"www-authenticate", b'Basic realm="socketlab"'))
    body = b"" if code in (204, 304) else f"{code}\n".encode()
    await _respond(send, code, body, b"text/plain; charset=utf-8", extra)


async def delay_view(scope: Scope, receive: Receive, send: Send, arg: str) -> None:
    seconds = float(arg)
    if seconds > MAX_DELAY:
        await _error(send, 400, f"delay is limited to {MAX_DELAY:g} seconds")
        return
    started = time.time()
    await asyncio.sleep(seconds)  # the loop serves everyone else meanwhile
    task = asyncio.current_task()
    await _json(
        send,
        {
            "delay": seconds,
            "started": started,
            "finished": time.time(),
            "pid": os.getpid(),
            "task": task.get_name() if task else "",
        },
    )


async def bytes_view(scope: Scope, receive: Receive, send: Send, arg: str) -> None:
    n = int(arg)
    if n > MAX_BYTES:
        await _error(send, 400, f"at most {MAX_BYTES} bytes")
        return
    seed = dict(parse_qsl(scope["query_string"].decode("latin-1"))).get("seed")
    if seed is not None:
        if not seed.isdigit() or len(seed) > 18:
            await _error(send, 400, "seed must be a number")
            return
        data = random.Random(int(seed)).randbytes(n)  # noqa: S311 -- test data, not secrets
    else:
        data = os.urandom(n)
    await _respond(send, 200, data, b"application/octet-stream")


async def stream_view(scope: Scope, receive: Receive, send: Send, arg: str) -> None:
    n = int(arg)
    if n > MAX_STREAM:
        await _error(send, 400, f"at most {MAX_STREAM} lines")
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/x-ndjson"), NO_STORE],
        }
    )
    url = _echo(scope)["url"]
    for index in range(n):
        line = json.dumps({"id": index, "url": url, "pid": os.getpid()}).encode() + b"\n"
        await send({"type": "http.response.body", "body": line, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


ROUTES: Final[list[tuple[re.Pattern[str], tuple[str, ...], View]]] = [
    (re.compile(r"/"), ("GET", "HEAD"), index_view),
    (re.compile(r"/headers"), ("GET", "HEAD"), headers_view),
    (re.compile(r"/get"), ("GET", "HEAD"), get_view),
    (re.compile(r"/post"), ("POST",), post_view),
    (re.compile(r"/status/(\d{1,3})"), ANY_METHOD, status_view),
    (re.compile(r"/delay/(\d{1,3}(?:\.\d{1,3})?)"), ("GET", "HEAD"), delay_view),
    (re.compile(r"/bytes/(\d{1,7})"), ("GET", "HEAD"), bytes_view),
    (re.compile(r"/stream/(\d{1,3})"), ("GET", "HEAD"), stream_view),
]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI 3 entry point (``socketlab.coroutine_web.labapp:app``)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"]["started"] = time.time()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        raise RuntimeError(f"unsupported scope type {scope['type']!r}")
    path = scope["path"]
    for pattern, methods, view in ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        if scope["method"] not in methods:
            allow = ", ".join(methods).encode()
            await _respond(
                send,
                405,
                b"method not allowed\n",
                b"text/plain; charset=utf-8",
                [(b"allow", allow)],
            )
            return
        await view(scope, receive, send, match.group(1) if match.groups() else "")
        return
    await _error(send, 404, "not found")
