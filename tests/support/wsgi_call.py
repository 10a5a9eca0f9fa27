"""A WSGI application called directly, as a server would, with wsgiref's validator around it."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable
from typing import Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator


def call(
    app: Any,
    method: str = "GET",
    path: str = "/",
    body: bytes = b"",
    content_type: str = "",
    query: str = "",
    validate: bool = True,
) -> tuple[int, dict[str, str], bytes]:
    """Call a WSGI app directly (wrapped in wsgiref's validator); return status, headers, body."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": query,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
    }
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
    if content_type:
        environ["CONTENT_TYPE"] = content_type
    setup_testing_defaults(environ)
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen["status"] = status
        seen["headers"] = dict(headers)
        return lambda data: None

    wrapped = validator(app) if validate else app
    result: Iterable[bytes] = wrapped(environ, start_response)
    try:
        data = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return int(seen["status"][:3]), seen["headers"], data
