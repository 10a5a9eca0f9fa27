"""Responses a view returns; each knows how to hand itself to ``start_response``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any, Final

HTML: Final = "text/html; charset=utf-8"
TEXT: Final = "text/plain; charset=utf-8"
JSON: Final = "application/json"
NO_CONTENT: Final = (204, 304)


def status_line(code: int) -> str:
    """'404 Not Found' for 404; codes without a registered phrase get 'Unknown'."""
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Unknown"


class Response:
    """A status, headers and a body: bytes, text, or an iterable of bytes (streamed as it is)."""

    def __init__(
        self,
        body: bytes | str | Iterable[bytes] = b"",
        status: int = 200,
        headers: list[tuple[str, str]] | None = None,
        content_type: str | None = HTML,
    ) -> None:
        self.status = status
        self.headers = list(headers or [])
        # 204 and 304 have no content, so no type either (RFC 9110 §15.3.5, §15.4.5).
        if (
            content_type is not None
            and status not in NO_CONTENT
            and not any(n.lower() == "content-type" for n, _ in self.headers)
        ):
            self.headers.append(("Content-Type", content_type))
        self.body: bytes | Iterable[bytes] = body.encode("utf-8") if isinstance(body, str) else body

    def __call__(self, start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response(status_line(self.status), self.headers)
        if isinstance(self.body, bytes):
            return [self.body]  # one element: the server can send a Content-Length
        return self.body


def json_response(
    data: Any, status: int = 200, headers: list[tuple[str, str]] | None = None
) -> Response:
    """``data`` as pretty-printed JSON (readable with curl, which is how the lab uses it)."""
    body = json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
    return Response(body, status, headers, JSON)


def text_response(text: str, status: int = 200) -> Response:
    return Response(text, status, content_type=TEXT)


def redirect(location: str, status: int = 303) -> Response:
    """303 by default: after a POST, the browser GETs the new location (RFC 9110 §15.4.4)."""
    return Response(f"See {location}\n", status, [("Location", location)], TEXT)
