"""HTTP errors that know their status, their reason phrase and how to render themselves.

Two families, so callers never need ``isinstance`` chains to decide what to do:

* :class:`HTTPError` and its subclasses are answered to the client with their status; the
  4xx ones mean "the peer broke the rules" (``peer_fault``), the 5xx ones "we failed or refuse".
  After any of them the server sends ``Connection: close`` and closes.
* :class:`RemoteProtocolError` is raised by the *client* side (the browser) when a server sends a
  malformed or truncated response; it is reported, never answered.
"""

from __future__ import annotations

import html
from http import HTTPStatus


class HTTPError(Exception):
    """An error answered with an HTTP status. ``detail`` is for the log and the error page."""

    status: int = 500

    def __init__(self, detail: str = "", *, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(detail or self.reason)
        self.detail = detail
        self.headers: list[tuple[str, str]] = list(headers or [])

    @property
    def reason(self) -> str:
        return HTTPStatus(self.status).phrase

    @property
    def peer_fault(self) -> bool:
        """True when the client broke the protocol (4xx), False when the server failed (5xx)."""
        return 400 <= self.status < 500

    def render_html(self) -> bytes:
        """A small error page; the detail is escaped because it may quote the request."""
        return error_page(self.status, self.reason, self.detail)


def error_page(status: int, reason: str, detail: str = "") -> bytes:
    """The body of a plain HTML error page, with ``detail`` HTML-escaped."""
    text = html.escape(detail) if detail else html.escape(reason)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{status} {html.escape(reason)}</title></head>\n"
        f"<body><h1>{status} {html.escape(reason)}</h1>\n<p>{text}</p>\n"
        "<hr><p>socketlab</p></body></html>\n"
    ).encode()


class BadRequest(HTTPError):
    status = 400


class Forbidden(HTTPError):
    status = 403


class NotFound(HTTPError):
    status = 404


class MethodNotAllowed(HTTPError):
    """405: the method is known but this resource does not support it; ``Allow`` says which do."""

    status = 405

    def __init__(self, allowed: tuple[str, ...], detail: str = "") -> None:
        super().__init__(detail, headers=[("Allow", ", ".join(allowed))])
        self.allowed = allowed


class RequestTimeout(HTTPError):
    status = 408


class PayloadTooLarge(HTTPError):
    status = 413


class URITooLong(HTTPError):
    status = 414


class HeaderFieldsTooLarge(HTTPError):
    status = 431


class InternalServerError(HTTPError):
    status = 500


class NotImplementedMethod(HTTPError):
    """501: a method or transfer coding this server does not implement at all."""

    status = 501


class ServiceUnavailable(HTTPError):
    status = 503

    def __init__(self, detail: str = "", retry_after: int = 1) -> None:
        super().__init__(detail, headers=[("Retry-After", str(retry_after))])


class VersionNotSupported(HTTPError):
    status = 505


class RemoteProtocolError(Exception):
    """The server we talk to (as a client) sent something that is not valid HTTP/1.x."""
