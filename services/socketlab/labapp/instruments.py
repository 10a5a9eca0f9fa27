"""The lab's instruments, in the manner of httpbin: what did the server see, and how it answers.

Every instrument is bounded, so none can be turned against the server (or a classmate):

=====================  ===========================================================
``/whoami``            the connection as the server saw it (threaded-web's keys, plus
                       ``worker_pid``, ``parent_pid`` and ``mode``)
``/headers``           the request headers
``/get``               query string fields, headers, client address, URL
``/post``              the same, plus the body: form fields, JSON, or text
                       (at most ``framework.MAX_BODY`` = 1 MiB)
``/status/<code>``     an answer with that status, 200 to 599 (:data:`STATUS_MIN`..)
``/delay/<seconds>``   the answer after that many seconds, at most :data:`MAX_DELAY`
``/bytes/<n>``         ``n`` random bytes, at most :data:`MAX_BYTES` (``?seed=`` repeats them)
``/stream/<n>``        ``n`` JSON lines sent as separate chunks, at most :data:`MAX_STREAM`
=====================  ===========================================================
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from typing import Any, Final

from .. import whoami
from ..framework import Request, Response, json_response
from ..http import errors
from .site import SERVICE, app

MAX_DELAY: Final = 10.0
"""Longest /delay, in seconds (httpbin's cap). Below the worker timeout (30 s) so it answers,
and below graceful_timeout (12 s) so a SIGTERM lets it finish."""

MAX_BYTES: Final = 1024 * 1024
"""Largest /bytes answer: 1 MiB shows a transfer in ss or tcpdump without filling a terminal
(httpbin allows 100 KiB)."""

MAX_STREAM: Final = 100
"""Most lines of /stream (httpbin's cap): each is a chunk on the wire."""

STATUS_MIN: Final = 200
STATUS_MAX: Final = 599
"""/status answers final statuses only: a 1xx is an interim answer the server sends itself."""

ANY_METHOD: Final = ("GET", "POST", "PUT", "PATCH", "DELETE")
NO_STORE: Final = [("Cache-Control", "no-store")]


def _fields(pairs: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    """Fields as httpbin shows them: a value, or a list of values for a repeated name."""
    out: dict[str, str | list[str]] = {}
    for name, value in pairs:
        if name in out:
            old = out[name]
            out[name] = [*old, value] if isinstance(old, list) else [old, value]
        else:
            out[name] = value
    return out


def _worker(request: Request) -> dict[str, Any]:
    return {
        "worker_pid": os.getpid(),
        "parent_pid": os.getppid(),
        "mode": request.environ.get("socketlab.mode", "wsgi"),
    }


@app.route("/whoami")
def whoami_view(request: Request) -> Response:
    exchange = request.environ.get("socketlab.exchange")
    if exchange is not None:
        doc = whoami.describe(exchange, SERVICE, **_worker(request))
    else:  # under another WSGI server: what environ tells
        env = request.environ
        doc = {
            "client_ip": env.get("REMOTE_ADDR", ""),
            "client_port": int(env.get("REMOTE_PORT") or 0),
            "server_ip": env.get("SERVER_NAME", ""),
            "server_port": int(env.get("SERVER_PORT") or 0),
            "hostname": env.get("SERVER_NAME", ""),
            "pid": os.getpid(),
            "thread": "",
            "request_index": None,
            "method": request.method,
            "target": env.get("REQUEST_URI", request.path),
            "http_version": env.get("SERVER_PROTOCOL", ""),
            "service": SERVICE,
            "headers": request.headers,
            **_worker(request),
        }
    return json_response(doc, headers=NO_STORE)


@app.route("/headers")
def headers_view(request: Request) -> Response:
    return json_response({"headers": request.headers}, headers=NO_STORE)


def _echo(request: Request) -> dict[str, Any]:
    return {
        "args": _fields(request.args),
        "headers": request.headers,
        "origin": request.remote_addr,
        "url": request.url,
        "worker_pid": os.getpid(),
    }


@app.route("/get")
def get_view(request: Request) -> Response:
    return json_response(_echo(request), headers=NO_STORE)


@app.route("/post", methods=("POST",))
def post_view(request: Request) -> Response:
    doc = _echo(request)
    body = request.body()
    doc.update(
        {
            "content_type": request.content_type,
            "size": len(body),
            "form": {},
            "json": None,
            "data": "",
        }
    )
    if request.content_type == "application/x-www-form-urlencoded":
        doc["form"] = _fields(request.form())
    elif request.content_type == "application/json":
        doc["json"] = request.json()
    else:
        doc["data"] = body.decode("utf-8", "replace")
    return json_response(doc, headers=NO_STORE)


@app.route("/status/<int:code>", methods=ANY_METHOD)
def status_view(request: Request, code: int) -> Response:
    if not STATUS_MIN <= code <= STATUS_MAX:
        raise errors.BadRequest(f"status must be from {STATUS_MIN} to {STATUS_MAX}")
    headers: list[tuple[str, str]] = []
    if 300 <= code < 400 and code != 304:
        headers.append(("Location", "/get"))
    if code == 401:
        headers.append(("WWW-Authenticate", 'Basic realm="socketlab"'))
    body = b"" if code in (204, 304) else f"{code}\n".encode()
    return Response(body, code, headers, "text/plain; charset=utf-8")


@app.route("/delay/<float:seconds>")
def delay_view(request: Request, seconds: float) -> Response:
    if seconds > MAX_DELAY:
        raise errors.BadRequest(f"delay is limited to {MAX_DELAY:g} seconds")
    started = time.time()
    time.sleep(seconds)
    return json_response(
        {"delay": seconds, "started": started, "finished": time.time(), **_worker(request)},
        headers=NO_STORE,
    )


@app.route("/bytes/<int:n>")
def bytes_view(request: Request, n: int) -> Response:
    if n > MAX_BYTES:
        raise errors.BadRequest(f"at most {MAX_BYTES} bytes")
    seed = dict(request.args).get("seed")
    if seed is not None:
        if not seed.isdigit() or len(seed) > 18:
            raise errors.BadRequest("seed must be a number")
        data = random.Random(int(seed)).randbytes(n)  # noqa: S311 -- test data, not secrets
    else:
        data = os.urandom(n)
    return Response(data, 200, NO_STORE, "application/octet-stream")


@app.route("/stream/<int:n>")
def stream_view(request: Request, n: int) -> Response:
    if n > MAX_STREAM:
        raise errors.BadRequest(f"at most {MAX_STREAM} lines")
    url = request.url

    def lines() -> Iterator[bytes]:
        for index in range(n):
            yield json.dumps({"id": index, "url": url, "worker_pid": os.getpid()}).encode() + b"\n"

    return Response(lines(), 200, NO_STORE, "application/x-ndjson")
