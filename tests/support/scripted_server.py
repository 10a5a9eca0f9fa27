"""A server whose answers are exact bytes chosen by a script (the browser's tests).

:class:`ScriptedServer` answers each request with what a script returns, so a test can send a
malformed status line, a bad chunk or a body shorter than its Content-Length and see what the
browser makes of it. Every wait is bounded: sockets time out, loops have counts, and ``stop()``
ends everything. It listens on 127.0.0.1 at a port the kernel picks.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from socketlab.listener import open_listener

SOCKET_TIMEOUT = 5.0
"""No test exchange legitimately waits this long; a server thread gives up after it."""

MAX_REQUESTS_PER_CONNECTION = 200
MAX_HEAD = 65536


@dataclass
class Seen:
    """A request as the fake server received it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    connection: int  # 1 for the first connection accepted, 2 for the next...
    peer: tuple[str, int]


@dataclass
class Answer:
    """What to do with one request: send ``data`` (exact bytes), then maybe close."""

    data: bytes = b""
    close: bool = False
    delay: float = 0.0  # seconds to wait before answering
    pieces: int = 0  # > 0: send data in pieces of this many bytes, 5 ms apart


Script = Callable[[Seen], Answer]


def http_response(
    status: int = 200,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
    reason: str = "OK",
    length: bool = True,
) -> bytes:
    """A well-formed HTTP/1.1 response (Content-Length added unless ``length`` is false)."""
    lines = [f"HTTP/1.1 {status} {reason}"]
    for name, value in headers or []:
        lines.append(f"{name}: {value}")
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class ScriptedServer:
    """A TCP server whose answers are exact bytes from ``script``; records what it saw."""

    script: Script
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    active: int = 0
    max_active: int = 0

    def __post_init__(self) -> None:
        self._listener = open_listener("127.0.0.1", 0)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ScriptedServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            for sock in self._socks:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(SOCKET_TIMEOUT)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                number = self.connections
                self._socks.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock, peer, number), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, sock: socket.socket, peer: tuple[str, int], number: int) -> None:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        sock.settimeout(SOCKET_TIMEOUT)
        buf = b""
        try:
            for _ in range(MAX_REQUESTS_PER_CONNECTION):
                while b"\r\n\r\n" not in buf:
                    data = sock.recv(65536)
                    if not data or len(buf) > MAX_HEAD:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                while len(buf) < length:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buf += data
                body, buf = buf[:length], buf[length:]
                request = Seen(method, target, headers, body, number, peer)
                with self._lock:
                    self.seen.append(request)
                answer = self.script(request)
                if answer.delay:
                    self._stop.wait(answer.delay)
                if answer.pieces:
                    for i in range(0, len(answer.data), answer.pieces):
                        sock.sendall(answer.data[i : i + answer.pieces])
                        time.sleep(0.005)
                elif answer.data:
                    sock.sendall(answer.data)
                if answer.close or self._stop.is_set():
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self.active -= 1
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@contextmanager
def scripted(script: Script) -> Iterator[ScriptedServer]:
    """A started :class:`ScriptedServer`, stopped on exit."""
    server = ScriptedServer(script).start()
    try:
        yield server
    finally:
        server.stop()


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port
