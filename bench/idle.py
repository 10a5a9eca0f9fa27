"""Hold many idle keep-alive connections to a server, then measure a normal client beside them.

The load of the issue: 10,000 connections that each made one request and then stay open and
silent (a browser's idle keep-alive connections, or a crowd of slow clients), and one normal
client that opens a new connection for a GET every :data:`INTERVAL` seconds meanwhile. Reported:
how many connections the server held (answered and still open), its memory (RSS of the whole
process tree) per held connection, and the normal client's latency and errors.

Loopback only, bounded: connections are opened :data:`BATCH` at a time (the listen backlog
would drop a burst of 10,000 SYNs, and each drop costs a 1 s retransmission).
"""

from __future__ import annotations

import contextlib
import resource
import selectors
import socket
import time
from dataclasses import dataclass
from typing import Final

import psutil

from . import procstat
from .parsing import percentile
from .servers import Running

CONNECTIONS: Final = 10_000
BATCH: Final = 500
INTERVAL: Final = 0.02
"""Seconds between the normal client's requests (50 per second, one connection each)."""

REQUEST: Final = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"
SETTLE: Final = 1.0
"""Seconds to wait after the last connection before reading memory (the server settles)."""


@dataclass
class IdleResult:
    held: int
    rss_before_kib: int
    rss_after_kib: int
    latencies_ms: list[float]
    errors: int
    seconds: float
    cpu_seconds: float

    @property
    def bytes_per_connection(self) -> float | None:
        if not self.held:
            return None
        return (self.rss_after_kib - self.rss_before_kib) * 1024 / self.held


def tree_rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants, in KiB."""
    try:
        top = psutil.Process(pid)
        tree = [top, *top.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for process in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += process.memory_info().rss
    return total // 1024


def _raise_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def _open_batch(
    port: int, count: int, deadline: float, good: set[socket.socket]
) -> list[socket.socket]:
    """Open ``count`` connections, send one request on each, read each answer; the answered
    ones go into ``good``."""
    selector = selectors.DefaultSelector()
    socks: list[socket.socket] = []
    pending: dict[socket.socket, bytes] = {}
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect(("127.0.0.1", port))
            socks.append(sock)
            pending[sock] = b""
            selector.register(sock, selectors.EVENT_WRITE)
        while pending and time.monotonic() < deadline:
            for key, events in selector.select(0.5):
                conn = key.fileobj
                assert isinstance(conn, socket.socket)
                if events & selectors.EVENT_WRITE:
                    try:
                        conn.send(REQUEST)
                    except OSError:
                        selector.unregister(conn)
                        pending.pop(conn, None)
                        continue
                    selector.modify(conn, selectors.EVENT_READ)
                else:
                    try:
                        data = conn.recv(4096)
                    except OSError:
                        data = b""
                    if not data:
                        selector.unregister(conn)
                        pending.pop(conn, None)
                        continue
                    pending[conn] += data
                    answer = pending[conn]
                    if (
                        b"\r\n\r\n" in answer
                        and answer.endswith(b"\n")
                        and not answer.endswith(b"\r\n\r\n")
                    ):  # a whole small answer (each server's body ends with a newline)
                        selector.unregister(conn)
                        del pending[conn]
                        good.add(conn)
    finally:
        selector.close()
    return socks


def _normal_client(port: int, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := sock.recv(4096):
                    data += chunk
            if not data.startswith(b"HTTP/1.1 200"):
                errors += 1
            else:
                latencies.append((time.monotonic() - started) * 1000)
        except OSError:
            errors += 1
        time.sleep(max(0.0, started + INTERVAL - time.monotonic()))
    return latencies, errors


def run(server: Running, seconds: float, connections: int = CONNECTIONS) -> IdleResult:
    _raise_limit(connections + 256)
    good: set[socket.socket] = set()
    server.check_alive()
    time.sleep(0.5)
    rss_before = tree_rss_kib(server.pid)
    socks: list[socket.socket] = []
    cpu_before = procstat.cpu_seconds(server.pid)
    try:
        deadline = time.monotonic() + 60
        while len(socks) < connections and time.monotonic() < deadline:
            socks += _open_batch(server.port, min(BATCH, connections - len(socks)), deadline, good)
        time.sleep(SETTLE)
        held = sum(1 for s in good if _still_open(s))
        rss_after = tree_rss_kib(server.pid)
        started = time.monotonic()
        latencies, errors = _normal_client(server.port, seconds)
        wall = time.monotonic() - started
        cpu = procstat.cpu_seconds(server.pid) - cpu_before
        server.check_alive()
    finally:
        for sock in socks:
            sock.close()
    return IdleResult(held, rss_before, rss_after, latencies, errors, wall, cpu)


def _still_open(sock: socket.socket) -> bool:
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True  # nothing to read and not closed: held
    except OSError:
        return False


def summary(result: IdleResult) -> dict[str, float | int | None]:
    lat = sorted(result.latencies_ms)
    return {
        "held": result.held,
        "bytes_per_idle_connection": result.bytes_per_connection,
        "p50_ms": percentile(lat, 50) if lat else None,
        "p99_ms": percentile(lat, 99) if lat else None,
        "errors": result.errors,
        "requests": len(lat),
        "requests_per_second": len(lat) / result.seconds if result.seconds else None,
        "rss_before_kib": result.rss_before_kib,
        "rss_after_kib": result.rss_after_kib,
        "cpu_seconds": result.cpu_seconds,
        "seconds": result.seconds,
    }
