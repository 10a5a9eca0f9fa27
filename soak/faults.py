"""The fault cases of ``make soak`` that are not slowhttptest: churn, SIGKILL, SIGTERM.

Every case is bounded in count and time and talks to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

CHURN: Final = 10_000
"""Connections opened and closed at full speed in the churn case."""

SETTLE: Final = 2.0
"""Seconds the server gets after the churn before its descriptors are counted again."""


def tree(pid: int) -> list[int]:
    """``pid`` and its children (one level: prefork's workers, fork mode's children)."""
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                text = Path(f"/proc/{pid}/task/{task}/children").read_text()
                kids.extend(int(p) for p in text.split())
    return [pid, *kids]


def fd_count(pid: int) -> int:
    return sum(_count(f"/proc/{p}/fd") for p in tree(pid))


def thread_count(pid: int) -> int:
    total = 0
    for p in tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("Threads:"):
                    total += int(line.split()[1])
    return total


def zombies(pid: int) -> int:
    count = 0
    for p in tree(pid)[1:]:
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{p}/stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                count += 1
    return count


def _count(path: str) -> int:
    try:
        return len(os.listdir(path))
    except OSError:
        return 0


@dataclass
class Churn:
    connections: int
    seconds: float
    fds_before: int
    fds_after: int
    threads_before: int
    threads_after: int
    zombies_after: int
    errors: int
    thread_bound: int = 0  # a pool made on demand may grow up to this many threads

    @property
    def leak_free(self) -> bool:
        return (
            self.fds_after <= self.fds_before
            and self.threads_after <= max(self.threads_before, self.thread_bound)
            and self.zombies_after == 0
        )


def churn(
    port: int, pid: int, count: int = CHURN, *, settle: float = SETTLE, thread_bound: int = 0
) -> Churn:
    """Open and close ``count`` connections as fast as possible: every third sends a request
    and closes without reading, every third half a head, the rest nothing. Counted after a
    warm-up of a tenth as many (threaded-web makes its pool's threads on demand)."""
    _open_close(port, max(1, count // 10))
    time.sleep(settle)
    _settled(pid)
    fds, threads = fd_count(pid), thread_count(pid)
    started = time.monotonic()
    errors = _open_close(port, count)
    seconds = time.monotonic() - started
    # The server closes its side when it reads the EOF; fork mode's children exit then.
    deadline = time.monotonic() + settle + 10
    time.sleep(settle)
    while fd_count(pid) > fds and time.monotonic() < deadline:
        time.sleep(0.2)
    _settled(pid)
    return Churn(
        count,
        round(seconds, 2),
        fds,
        fd_count(pid),
        threads,
        thread_count(pid),
        zombies(pid),
        errors,
        thread_bound,
    )


def _settled(pid: int, limit: float = 30.0) -> None:
    """Wait until the server is done with what the churn left (fork mode works through its
    backlog a child at a time), so that what is counted is what stays, not a child caught
    between its exit and its reaping."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        children, fds = len(tree(pid)), fd_count(pid)
        time.sleep(0.5)
        if zombies(pid) == 0 and len(tree(pid)) == children and fd_count(pid) == fds:
            return


def _open_close(port: int, count: int) -> int:
    errors = 0
    for i in range(count):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                if i % 3 == 1:
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: soak\r\n\r\n")
                elif i % 3 == 2:
                    sock.sendall(b"GET / HTTP/1.1\r\nHo")
        except OSError:
            errors += 1
    return errors


@dataclass
class Load:
    """A few client threads, each a new connection per request, counting what they get."""

    port: int
    path: str
    threads: int = 4
    ok: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        for _ in range(self.threads):
            thread = threading.Thread(target=self._run, daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._workers:
            thread.join(15)

    def _run(self) -> None:
        while not self._stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                conn.request("GET", self.path, headers={"Connection": "close"})
                response = conn.getresponse()
                response.read()
                good = response.status == 200
                what = f"status {response.status}"
            except (OSError, http.client.HTTPException) as exc:
                good, what = False, type(exc).__name__
            finally:
                conn.close()
            with self._lock:
                if good:
                    self.ok += 1
                else:
                    self.failed += 1
                    self.failures.append(what)


def worker_pids(pid: int) -> list[int]:
    return tree(pid)[1:]


@dataclass
class Kills:
    kills: int
    recovery_ms: list[float]
    ok: int
    failed: int
    failure_kinds: dict[str, int]

    @property
    def worst_recovery_ms(self) -> float | None:
        return max(self.recovery_ms) if self.recovery_ms else None


def kill_workers(port: int, pid: int, workers: int, seconds: float, path: str) -> Kills:
    """SIGKILL one prefork worker every second under load; time until the pool is full again."""
    load = Load(port, path).start()
    recovery: list[float] = []
    kills = 0
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(1.0)
            pids = worker_pids(pid)
            if not pids:
                continue
            victim = pids[kills % len(pids)]
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
            kills += 1
            killed_at = time.monotonic()
            while time.monotonic() - killed_at < 5:
                now = worker_pids(pid)
                if victim not in now and len(now) >= workers:
                    break
                time.sleep(0.005)
            recovery.append(round((time.monotonic() - killed_at) * 1000, 1))
    finally:
        load.stop()
    kinds: dict[str, int] = {}
    for what in load.failures:
        kinds[what] = kinds.get(what, 0) + 1
    return Kills(kills, recovery, load.ok, load.failed, kinds)


@dataclass
class Term:
    in_flight: int
    answered: int
    cut_off: int
    exit_code: int | None
    stop_seconds: float


def sigterm_under_load(
    port: int, process: Any, path: str, in_flight: int = 8, lead: float = 0.3
) -> Term:
    """Start ``in_flight`` requests for ``path`` (a slow one), SIGTERM the server ``lead``
    seconds later: each of them must still be answered, and the server must exit 0."""
    results: list[bool] = []
    lock = threading.Lock()
    sent = threading.Barrier(in_flight + 1)

    def one() -> None:
        good = False
        sock: socket.socket | None = None
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=15)
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n".encode())
        except OSError:
            if sock is not None:
                sock.close()
            sock = None
        with contextlib.suppress(threading.BrokenBarrierError):
            sent.wait(10)
        if sock is not None:
            data = b""
            with contextlib.suppress(OSError):
                while chunk := sock.recv(65536):
                    data += chunk
            sock.close()
            good = data.startswith(b"HTTP/1.1 200")
        with lock:
            results.append(good)

    threads = [threading.Thread(target=one, daemon=True) for _ in range(in_flight)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        sent.wait(10)
    time.sleep(lead)  # the requests are accepted and in the application now
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(20)
    code: int | None
    try:
        code = process.wait(20)
    except Exception:  # noqa: BLE001 -- reported as "did not exit"
        code = None
    answered = sum(results)
    return Term(
        in_flight, answered, in_flight - answered, code, round(time.monotonic() - signalled, 2)
    )


@dataclass
class Flood:
    datagrams: int
    flood_seconds: float
    member_sent: int
    member_received: int
    member_loss: int
    flooder_relayed: int
    flooder_allowed: int
    rss_before_kib: int
    rss_after_kib: int

    @property
    def held(self) -> bool:
        return self.member_loss == 0 and self.flooder_relayed <= self.flooder_allowed


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _udp(port: int, nick: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.connect(("127.0.0.1", port))
    sock.settimeout(5)
    sock.send(f"JOIN {nick}".encode())
    while not sock.recv(600).startswith(b"WELCOME"):
        pass
    return sock


def udp_flood(
    port: int, pid: int, datagrams: int = 100_000, *, rate: float = 20.0, burst: int = 40
) -> Flood:
    """A member flooding ``datagrams`` MSGs from one address while two members talk at 10/s:
    the listener must get every member message, the flood only up to the rate limit."""
    talker, listener, flooder = _udp(port, "talker"), _udp(port, "listener"), _udp(port, "flood")
    received: dict[str, int] = {}
    stop = threading.Event()

    def listen() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                data = listener.recv(600)
            except TimeoutError:
                continue
            except OSError:
                return
            parts = data.split(b" ", 3)
            if parts[0] == b"MSG" and len(parts) > 1:
                nick = parts[1].decode()
                received[nick] = received.get(nick, 0) + 1
            elif parts[0] == b"PING":
                pass

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    rss_before = _rss_kib(pid)
    sent = 0
    flood_started = time.monotonic()
    flooder.setblocking(False)
    next_talk = time.monotonic()
    for i in range(datagrams):
        with contextlib.suppress(BlockingIOError):
            flooder.send(b"MSG flood %d" % i)
        if time.monotonic() >= next_talk:
            talker.send(b"MSG hello %d" % sent)
            sent += 1
            next_talk += 0.1
    flood_seconds = time.monotonic() - flood_started
    # a few more at the talker's pace, after the flood, then let the relay settle
    time.sleep(1.0)
    rss_after = _rss_kib(pid)
    stop.set()
    thread.join(2)
    for sock in (talker, listener, flooder):
        with contextlib.suppress(OSError):
            sock.send(b"LEAVE")
        sock.close()
    allowed = int(burst + rate * (flood_seconds + 1.0)) + 1
    return Flood(
        datagrams,
        round(flood_seconds, 2),
        sent,
        received.get("talker", 0),
        sent - received.get("talker", 0),
        received.get("flood", 0),
        allowed,
        rss_before,
        rss_after,
    )
