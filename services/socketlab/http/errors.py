"""HTTP errors that know their status, their reason phrase and how to render themselves.

Two families, so callers never need ``isinstance`` chains to decide what to do:

* :class:`HTTPError` and its subclasses are answered to the client with their status; the
  4xx ones mean "the peer broke the rules" (``peer_fault``), the 5xx ones "we failed or refuse".
  After any of them the server sends ``Connection: close`` and closes.
* :class:`RemoteProtocolError` is raised by the *client* side (the browser) when a server sends a
  malformed or truncated response; it is reported, never answered.
"""

from __future__ import annotations


class HTTPError(Exception):
    """An error answered with an HTTP status. ``detail`` is for the log and the error page."""

    status: int = 500

    def __init__(self, detail: str = "", *, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(detail or self.reason)
        self.detail = detail
        self.headers: list[tuple[str, str]] = list(headers or [])

    @property
    def reason(self) -> str:
        from http import HTTPStatus  # not with the module: see writer.reason_phrase

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
    # html here, not with the module: the browser imports this module for RemoteProtocolError,
    # and html's import (html.entities, a table of 2,231 names) cost its start-up about 8
    # million instructions (issue 17).
    import html

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


class Unimplemented(HTTPError):
    """501 Not Implemented: the request needs something this server does not implement at all
    (RFC 9110 section 15.6.2)."""

    status = 501


class UnknownMethod(Unimplemented):
    """501 for a method the server does not recognise (RFC 9110 section 9.1)."""


class UnsupportedTransferCoding(Unimplemented):
    """501 for a transfer coding other than chunked (RFC 9112 section 6.1: "A server that
    receives a request message with a transfer coding it does not understand SHOULD respond
    with 501 (Not Implemented)")."""


class ServiceUnavailable(HTTPError):
    status = 503

    def __init__(self, detail: str = "", retry_after: int = 1) -> None:
        super().__init__(detail, headers=[("Retry-After", str(retry_after))])


BUSY_TEXT = "server busy, try again shortly\n"
"""The body of :func:`busy_response`."""


def busy_response(extra_headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A whole ``503`` with ``Retry-After: 1`` and ``Connection: close``, for a server that turns
    a connection away before reading anything from it (no thread or child is free to take it),
    so no request was parsed and no :class:`Exchange` exists to answer through."""
    body = BUSY_TEXT.encode("ascii")
    fields = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Retry-After", "1"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
        *extra_headers,
    ]
    head = "HTTP/1.1 503 Service Unavailable\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields)
    return (head + "\r\n").encode("latin-1") + body


class VersionNotSupported(HTTPError):
    status = 505


class RemoteProtocolError(Exception):
    """The server we talk to (as a client) sent something that is not valid HTTP/1.x."""
