"""Why a request failed: a small tree of errors, each with a short label for the report.

Lower-layer exceptions (``OSError``, ``socket.gaierror``, ``TimeoutError``, the HTTP core's
:class:`~socketlab.http.errors.RemoteProtocolError`) are translated once, in
:mod:`.transport` and :mod:`.pool`; everything above them sees only these classes. The report
prints ``label: message`` on the failing request's row, so the message is written for a person
("connection refused by 127.0.0.1:9"), not for a traceback.

The tree (shaped like httpx's ``_exceptions``)::

    BrowserError
    ├── InvalidURL              the URL is refused before anything is sent
    ├── NetworkError
    │   ├── UnknownHost         DNS found no address
    │   ├── ConnectError
    │   │   └── ConnectionRefused
    │   ├── SendError
    │   └── ReceiveError
    │       └── StaleConnection a reused keep-alive connection was closed before answering
    ├── Timeout
    │   ├── ConnectTimeout, ReadTimeout, WriteTimeout
    │   └── PageTimeout         the page's total deadline ran out
    ├── ProtocolError           malformed or truncated response
    ├── RedirectError
    │   ├── TooManyRedirects
    │   └── RedirectRefused     a Location that is not http://
    ├── CapExceeded             too many resources or bytes
    └── Cancelled               the browser is stopping (SIGTERM)
"""

from __future__ import annotations


class BrowserError(Exception):
    """A request could not be completed. ``label`` names the category in one word."""

    label = "failed"

    def __str__(self) -> str:
        return self.args[0] if self.args else self.label

    @property
    def reason(self) -> str:
        """``label: message``, as the report shows it."""
        return f"{self.label}: {self}"


class InvalidURL(BrowserError):
    """Not an http:// URL, or one with spaces, control characters or CR/LF in it."""

    label = "invalid url"


class NetworkError(BrowserError):
    label = "network"


class UnknownHost(NetworkError):
    label = "unknown host"


class ConnectError(NetworkError):
    label = "connect"


class ConnectionRefused(ConnectError):
    label = "refused"


class SendError(NetworkError):
    label = "send"


class ReceiveError(NetworkError):
    label = "receive"


class StaleConnection(ReceiveError):
    """A kept-alive connection was closed by the server before any byte of the response.

    Browsers retry such requests once on a new connection (the server may close an idle
    connection at any moment, RFC 9112 §9.6), so this error is retried when the method is
    idempotent and only reported when the retry fails too.
    """

    label = "stale connection"


class Timeout(BrowserError):
    label = "timeout"


class ConnectTimeout(Timeout):
    label = "connect timeout"


class ReadTimeout(Timeout):
    label = "read timeout"


class WriteTimeout(Timeout):
    label = "send timeout"


class PageTimeout(Timeout):
    label = "page timeout"


class ProtocolError(BrowserError):
    """The server's response is not valid HTTP/1.1, or it ended before its framing said."""

    label = "protocol"


class RedirectError(BrowserError):
    label = "redirect"


class TooManyRedirects(RedirectError):
    label = "too many redirects"


class RedirectRefused(RedirectError):
    label = "redirect refused"


class CapExceeded(BrowserError):
    label = "cap"


class Cancelled(BrowserError):
    label = "cancelled"
