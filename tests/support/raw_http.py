"""The tests' raw HTTP client: requests as exact bytes, responses read with the lab's parser.

A test that is about bytes on the wire (pipelining, a half-sent request, a HEAD answer, a
connection the server must close) sends them itself and reads what comes back with
:class:`socketlab.http.parser.ResponseParser`, the same parser the browser uses, so framing is
checked by code the unit tests check too.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from socketlab.http.parser import END, Data, Response, ResponseParser
from tests.support.waiting import wait_until

# Seconds a test waits for one HTTP answer on loopback; generous for a loaded 2-core machine.
HTTP_TIMEOUT = 10.0


@dataclass
class RawResponse:
    """One response as read from a socket: the parsed head and the de-chunked body."""

    head: Response
    body: bytes

    @property
    def status(self) -> int:
        return self.head.status

    def header(self, name: str) -> str | None:
        return self.head.headers.get(name)

    @property
    def pid(self) -> int:
        """The PID of the process that answered (multiprocess-web's ``X-Worker-Pid``)."""
        value = self.header("X-Worker-Pid")
        assert value is not None, f"no X-Worker-Pid in {self.head.headers!r}"
        return int(value)

    def json(self) -> Any:
        return json.loads(self.body)


def read_responses(sock: socket.socket, methods: Sequence[str]) -> list[RawResponse]:
    """Read one response per request method from ``sock`` (HEAD answers have no body).

    The socket's own timeout bounds each read; a peer that closes early ends the parse with the
    parser's error (an incomplete response is never returned as if it were whole).
    """
    parser = ResponseParser()
    for method in methods:
        parser.expect(method)
    out: list[RawResponse] = []
    head: Response | None = None
    body = b""
    while len(out) < len(methods):
        event = parser.next_event()
        if isinstance(event, Response):
            head, body = event, b""
        elif isinstance(event, Data):
            body += event.data
        elif event is END:
            assert head is not None
            out.append(RawResponse(head, body))
        else:
            data = sock.recv(65536)
            if data:
                parser.feed(data)
            else:
                parser.feed_eof()
    return out


def request(
    port: int, data: bytes, methods: Sequence[str] = ("GET",), timeout: float = HTTP_TIMEOUT
) -> list[RawResponse]:
    """Send raw request bytes to 127.0.0.1:``port`` on a new connection and read the answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_responses(sock, methods)


def get(port: int, target: str, *, headers: str = "", timeout: float = HTTP_TIMEOUT) -> RawResponse:
    """GET ``target`` on a new connection that asks to be closed afterwards."""
    raw = f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{headers}\r\n".encode()
    return request(port, raw, timeout=timeout)[0]


def closed_by_peer(sock: socket.socket, timeout: float = HTTP_TIMEOUT) -> bool:
    """True once the peer closes (EOF or reset) within ``timeout``; data read is discarded."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return True


def connect_when_listening(
    port: int, timeout: float, *, io_timeout: float = HTTP_TIMEOUT
) -> socket.socket:
    """A connection to 127.0.0.1:``port`` once something listens there (a server starting up)."""

    def attempt() -> socket.socket | None:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=io_timeout)
        except ConnectionRefusedError:
            return None

    return wait_until(attempt, timeout, f"nothing listens on 127.0.0.1:{port}", interval=0.05)
