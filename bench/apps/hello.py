"""The WSGI hello-world every WSGI server in the benchmark runs: the server's own cost, nothing
else (no framework, no I/O, a body whose length is known)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

BODY = b"Hello, world!\n"
HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(BODY)))]


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", list(HEADERS))
    return [BODY]
