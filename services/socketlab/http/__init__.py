"""The lab's HTTP/1.1 core, shared by both web servers and the browser.

* :mod:`.parser` -- I/O-free request and response parsing (events, limits, framing);
* :mod:`.writer` -- message heads and chunked framing;
* :mod:`.errors` -- errors that carry their status;
* :mod:`.connection` -- the server side of one TCP connection: keep-alive, pipelining, deadlines.
"""

from .errors import HTTPError, RemoteProtocolError
from .parser import (
    END,
    NEED_DATA,
    Data,
    Headers,
    Limits,
    Request,
    RequestParser,
    Response,
    ResponseParser,
)
from .writer import format_request_head, format_response_head, http_date

__all__ = [
    "END",
    "NEED_DATA",
    "Data",
    "HTTPError",
    "Headers",
    "Limits",
    "RemoteProtocolError",
    "Request",
    "RequestParser",
    "Response",
    "ResponseParser",
    "format_request_head",
    "format_response_head",
    "http_date",
]
