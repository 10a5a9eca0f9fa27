"""A PEP 3333 (WSGI 1.0.1) gateway on top of the lab's HTTP core.

:class:`WSGIGateway` is an :mod:`~socketlab.http.connection` handler: for each request it
builds the ``environ``, calls the application with ``environ`` and ``start_response``, and sends
what the application returns through the :class:`~socketlab.http.connection.Exchange`. It knows
nothing about processes or threads either, so the same gateway runs in multiprocess-web's
workers and, in the unit tests, on threaded-web's server.

What the gateway guarantees (the PEP's clause in brackets):

* A complete ``environ``: the CGI variables (``REQUEST_METHOD``, ``SCRIPT_NAME``,
  ``PATH_INFO`` percent-decoded as latin-1 "bytes in a str", ``QUERY_STRING``, ``CONTENT_TYPE``,
  ``CONTENT_LENGTH``, ``SERVER_NAME``, ``SERVER_PORT``, ``SERVER_PROTOCOL``, ``REMOTE_ADDR``,
  ``REMOTE_PORT``, one ``HTTP_*`` per request header) and the ``wsgi.*`` keys ["environ
  Variables"]. Header names with an underscore are dropped: ``X_User`` and ``X-User`` would both
  become ``HTTP_X_USER``, and a client could then forge a header a proxy vouched for.
* ``wsgi.input`` ends where the request body ends, for ``Content-Length`` and chunked bodies
  alike, and ``read(n)`` returns ``n`` bytes unless the body ends first ["Input and Error
  Streams"]; ``wsgi.input_terminated`` is true, so applications may read to EOF.
* ``start_response`` checks the status and headers, and accepts ``exc_info`` to replace a head
  not yet sent, re-raising when it was ["The start_response() Callable"].
* The head goes out with the first non-empty body chunk, not before ["Buffering and Streaming"],
  so an application that fails before producing output still gets a clean 500. A one-element
  response gets a ``Content-Length``; otherwise the core chunks the body (HTTP/1.1) or closes
  after it (HTTP/1.0).
* The ``write()`` callable sends at once; the iterable's ``close()`` is always called, on
  success and on failure ["Specification Details"].
* An exception in the application is logged with its traceback (on the ``socketlab.wsgi``
  logger) and answered ``500`` without any detail; if the head was already sent the connection
  is closed, the only way left to tell the client. The worker itself goes on serving.
"""

from __future__ import annotations

import io
import logging
import os
import re
import socket
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, BinaryIO, Final
from urllib.parse import unquote_to_bytes

from .. import __version__, logs
from ..http import errors
from ..http.connection import ClientGone, Exchange

log = logging.getLogger("socketlab.wsgi")
app_log = logging.getLogger("socketlab.wsgi.app")

SERVER_SOFTWARE: Final = f"socketlab/{__version__}"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Callable[[bytes], None]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

READ_CHUNK: Final = 65536
"""Bytes asked of the connection per read when the application reads the body to its end."""

FILE_BLOCK: Final = 65536
"""Block size of :class:`FileWrapper` when it has to be iterated (no sendfile possible)."""

# RFC 9110 §7.6.1 and PEP 3333: connection-level fields an application must not set. The core
# frames the body itself; a "Connection: close" from the application is honoured, the rest is
# dropped with a warning (gunicorn is as lenient; wsgiref.validate would refuse).
HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)

# Request headers that are not passed on as HTTP_* variables: they have CGI names of their own.
_CGI_NAMED: Final = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}

_HOSTNAME: Final = socket.gethostname()

# What the checks of an application's status and headers refuse, as one regular expression
# each: a search is one C call per string, where a generator over the characters ran a Python
# step per character of every header (a dozen per response).
_BAD_REASON: Final = re.compile("[\x00-\x1f\x7f\u0100-\U0010ffff]")
"""Characters a reason phrase may not hold: controls, DEL, and anything beyond latin-1."""
_BAD_NAME: Final = re.compile("[ \t\r\n:]")
_BAD_VALUE: Final = re.compile("[\r\n\0]")


class ApplicationError(Exception):
    """The application broke PEP 3333 (bad status, header, body type...): our 500, its bug."""


class FileWrapper:
    """``wsgi.file_wrapper``: lets an application hand over a file for ``sendfile(2)``.

    Iterating it reads blocks (for a file without a descriptor, or under another server);
    the gateway sends a real file with ``sendfile`` instead ["Optional Platform-Specific File
    Handling"].
    """

    def __init__(self, filelike: BinaryIO, blksize: int = FILE_BLOCK) -> None:
        self.filelike = filelike
        self.blksize = blksize
        close = getattr(filelike, "close", None)
        if close is not None:
            self.close = close

    def __iter__(self) -> Iterator[bytes]:
        while data := self.filelike.read(self.blksize):
            yield data


class InputStream(io.RawIOBase):
    """``wsgi.input``: the request body, and nothing after it.

    ``read(n)`` blocks until ``n`` bytes or the end of the body, like a buffered file, because
    applications commonly call ``read(int(CONTENT_LENGTH))`` once and trust the result.
    """

    def __init__(self, exchange: Exchange) -> None:
        super().__init__()
        self._exchange = exchange

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self._exchange.read(-1)
        parts: list[bytes] = []
        left = size
        while left > 0:
            piece = self._exchange.read(left)
            if not piece:
                break
            parts.append(piece)
            left -= len(piece)
        return b"".join(parts)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return self._exchange.read(-1)

    def readline(self, size: int | None = -1) -> bytes:
        return self._exchange.readline(-1 if size is None else size)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


class ErrorStream:
    """``wsgi.errors``: text the application writes becomes log lines (one per line written)."""

    def __init__(self, logger: logging.Logger = app_log) -> None:
        self._logger = logger
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            if line:
                self._logger.error("%s", line)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._pending:
            self._logger.error("%s", self._pending)
            self._pending = ""


class WSGIGateway:
    """Serve one WSGI application through the HTTP core: an Exchange handler.

    ``multiprocess``/``multithread`` are what the application is told about its server
    (``wsgi.multiprocess`` / ``wsgi.multithread``). ``extra_environ`` adds server-specific keys;
    by PEP 3333 their names carry a prefix (here ``socketlab.``).
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        multiprocess: bool = True,
        multithread: bool = False,
        extra_environ: dict[str, Any] | None = None,
    ) -> None:
        self.app = app
        self.multiprocess = multiprocess
        self.multithread = multithread
        self.extra_environ = dict(extra_environ or {})

    # -- environ ---------------------------------------------------------------------------------

    def environ(self, exchange: Exchange) -> dict[str, Any]:
        """The ``environ`` for one request, as PEP 3333 and CGI (RFC 3875 §4.1) define it."""
        request = exchange.request
        env: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            # PEP 3333: "bytes-as-str" -- the decoded octets, each as one latin-1 character.
            "PATH_INFO": _path_info(request.path),
            "QUERY_STRING": request.query,
            "REQUEST_URI": request.target,
            "SERVER_NAME": _HOSTNAME,
            "SERVER_PORT": str(exchange.server[1]),
            "SERVER_PROTOCOL": request.http_version,
            "SERVER_SOFTWARE": SERVER_SOFTWARE,
            "REMOTE_ADDR": exchange.client[0],
            "REMOTE_PORT": str(exchange.client[1]),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": InputStream(exchange),
            "wsgi.input_terminated": True,
            "wsgi.errors": ErrorStream(),
            "wsgi.multithread": self.multithread,
            "wsgi.multiprocess": self.multiprocess,
            "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper,
            "socketlab.exchange": exchange,
        }
        if request.path == "*":
            env["PATH_INFO"] = ""  # OPTIONS *: no path at all
        for name, value in request.headers:
            low = name.lower()
            if low in _CGI_NAMED:
                env[_CGI_NAMED[low]] = value
                continue
            if "_" in name:
                log.debug(
                    "%s: dropped header %s (underscore)",
                    exchange.connection.peer,
                    logs.printable(name),
                )
                continue
            key = "HTTP_" + name.upper().replace("-", "_")
            if key in env:
                # RFC 9110 §5.3: repeated fields combine with commas; Cookie with "; " (RFC 6265).
                env[key] += ("; " if low == "cookie" else ",") + value
            else:
                env[key] = value
        if request.chunked:
            env.pop("CONTENT_LENGTH", None)  # the core refuses both; be explicit all the same
        env.update(self.extra_environ)
        return env

    # -- one request -----------------------------------------------------------------------------

    def __call__(self, exchange: Exchange) -> None:
        response = _Response(exchange)
        env = self.environ(exchange)
        result: Iterable[bytes] | None = None
        try:
            result = self.app(env, response.start_response)
            response.send_result(result)
        except (errors.HTTPError, ClientGone):
            raise  # the core's own exceptions: it knows what to answer
        except Exception as exc:  # noqa: BLE001 -- the application boundary: logged there
            self._app_failed(exchange, response, exc)
        finally:
            if result is not None:
                _close_result(result, exchange)
            env["wsgi.errors"].flush()

    def _app_failed(self, exchange: Exchange, response: _Response, exc: Exception) -> None:
        request = exchange.request
        log.error(
            "%s: application failed on %s %s: %s",
            exchange.connection.peer,
            request.method,
            logs.printable(request.target),
            logs.printable(f"{type(exc).__name__}: {exc}", 200),
            exc_info=True,
        )
        if exchange.head_sent:
            # Part of the body is out: closing is the only way to tell the client it is cut.
            raise _ResponseBroken(f"application failed after {exchange.body_bytes} body bytes")
        exchange.note = "error=application"
        exchange.keep_alive = False  # its state is suspect; a fresh connection costs little
        exchange.respond_error(errors.InternalServerError("the application failed"))


class _ResponseBroken(errors.InternalServerError):
    """The response cannot be completed: the core closes the connection (head already sent)."""


def _close_result(result: object, exchange: Exchange) -> None:
    close = getattr(result, "close", None)
    if close is None:
        return
    try:
        close()
    except Exception:
        log.exception("%s: the application's close() failed", exchange.connection.peer)


class _Response:
    """The state of one response between ``start_response`` and the end of the body."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.status: int | None = None
        self.reason = ""
        self.headers: list[tuple[str, str]] = []
        self.length: int | None = None
        self.started = False  # exchange.start() called (head fixed, maybe not yet sent)

    def start_response(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: ExcInfo | None = None,
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.exchange.head_sent:
                    # PEP 3333: "start_response must raise an error, and should re-raise using
                    # the exc_info tuple" -- the client already has the old head.
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # no reference cycle through the traceback
            self.started = False  # the new head replaces the old one
        elif self.status is not None:
            raise ApplicationError("start_response() called a second time without exc_info")
        self.status, self.reason = _parse_status(status)
        self.headers, self.length = _check_headers(headers, self.exchange)
        return self.write

    def _start(self, length: int | None) -> None:
        if self.status is None:
            raise ApplicationError("the application returned a body without start_response()")
        if not self.started:
            self.exchange.start(
                self.status,
                self.headers,
                reason=self.reason,
                length=self.length if self.length is not None else length,
            )
            self.started = True

    def write(self, data: bytes) -> None:
        """PEP 3333's write() callable: send ``data`` now (the head first, if still unsent)."""
        if type(data) is not bytes:
            raise ApplicationError(f"write() takes bytes, not {type(data).__name__}")
        if not data:
            return
        self._start(None)
        self.exchange.write(data)

    def send_result(self, result: Iterable[bytes]) -> None:
        if isinstance(result, FileWrapper) and self._send_file(result):
            return
        length: int | None = None
        if isinstance(result, (list, tuple)) and len(result) == 1 and type(result[0]) is bytes:
            length = len(result[0])  # the whole body is known: no chunking needed
        for data in result:
            if type(data) is not bytes:
                raise ApplicationError(
                    f"the response iterable yielded {type(data).__name__}, not bytes"
                )
            if data:
                self._start(length)
                self.exchange.write(data)
        if self.status is None:
            raise ApplicationError("the application returned without calling start_response()")
        self._start(0 if length is None and not self.started else length)
        self.exchange.finish()

    def _send_file(self, wrapper: FileWrapper) -> bool:
        """sendfile(2) for a real file from its current position; False to iterate instead."""
        filelike = wrapper.filelike
        try:
            fd = filelike.fileno()
            offset = filelike.tell()
            size = os.fstat(fd).st_size
        except (AttributeError, OSError, io.UnsupportedOperation):
            return False
        count = max(0, size - offset)
        if self.length is not None:
            count = min(count, self.length)
        if self.status is None:
            raise ApplicationError("the application returned without calling start_response()")
        self._start(count)
        self.exchange.send_file(filelike, offset, count)
        self.exchange.finish()
        return True


def _path_info(path: str) -> str:
    """PATH_INFO as PEP 3333 has it: the path's octets, %-decoded, each as a latin-1 character.
    A path of ASCII without ``%`` is that already (most are: no decoding call for them)."""
    if path.isascii() and "%" not in path:
        return path
    return unquote_to_bytes(path).decode("latin-1")


def _parse_status(status: object) -> tuple[int, str]:
    """'200 OK' -> (200, 'OK'); the PEP wants a three-digit code, a space and a reason."""
    if type(status) is not str:
        raise ApplicationError(f"status must be a str, not {type(status).__name__}")
    code, space, reason = status.partition(" ")
    if not space or len(code) != 3 or not code.isdigit() or not 200 <= int(code) <= 599:
        # 1xx are interim answers the server sends itself (100 Continue), never a final status.
        raise ApplicationError(f"invalid status {status!r}: expected '200 OK' to '599 ...'")
    if _BAD_REASON.search(reason):
        raise ApplicationError(f"invalid reason phrase in status {status!r}")
    return int(code), reason


def _check_headers(headers: object, exchange: Exchange) -> tuple[list[tuple[str, str]], int | None]:
    """Check the application's headers; return those to send and the declared body length."""
    if type(headers) is not list:
        raise ApplicationError(f"response headers must be a list, not {type(headers).__name__}")
    fields: list[tuple[str, str]] = []
    length: int | None = None
    for item in headers:
        if type(item) is not tuple or len(item) != 2:
            raise ApplicationError(f"a response header must be a (name, value) tuple: {item!r}")
        name, value = item
        if type(name) is not str or type(value) is not str:
            raise ApplicationError(f"header name and value must be str: {item!r}")
        try:
            value.encode("latin-1")
            name.encode("ascii")
        except UnicodeEncodeError:
            raise ApplicationError(f"header {name!r} is not latin-1 text") from None
        if not name or _BAD_NAME.search(name) or _BAD_VALUE.search(value):
            raise ApplicationError(f"invalid header {name!r}")
        low = name.lower()
        if low == "content-length":
            if not value.strip().isdigit():
                raise ApplicationError(f"invalid Content-Length {value!r}")
            length = int(value)
            continue
        if low in HOP_BY_HOP:
            if low == "connection" and "close" in value.lower():
                exchange.keep_alive = False
            else:
                log.warning(
                    "%s: dropped hop-by-hop header %s from the application",
                    exchange.connection.peer,
                    name,
                )
            continue
        fields.append((name, value))
    return fields, length
