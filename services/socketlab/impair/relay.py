"""The relay: a proxy is two sockets and a loop, with toxics in between.

For TCP, the relay accepts a client, connects to the upstream server, and copies bytes both
ways. Each direction is a :class:`Pipe` of two threads: the *reader* ``recv()``s and stamps each
chunk with its arrival time; the *writer* runs it through the direction's toxics
(:mod:`.toxics`), sleeps until it is due and ``sendall()``s it. Two threads per direction keep
the reader reading while the writer waits, so latency delays every chunk from its own arrival
(a pipe, not a queue that adds up). The end of one direction (FIN) is passed on with
``shutdown(SHUT_WR)``; the connection is done when both directions are.

For UDP, one thread and a selector: each client address gets its own socket towards the
upstream (so the server sees one peer per client, like Docker's userland proxy does), datagrams
pass through the toxics and wait in a heap until they are due.

The toxics are read from the proxy on every chunk, so a change through the control API applies at
once to the connections already open. Counters are per proxy and read by ``GET /proxies``.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import queue
import selectors
import socket
import struct
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .. import ledger
from ..listener import open_listener, tune_accepted
from .toxics import Chain, Chunk, ToxicSettings

log = logging.getLogger("socketlab.impair")

RECV_SIZE: Final = 65536
"""Bytes asked of each recv(): one chunk of a stream, or the largest datagram we relay."""

CONNECT_TIMEOUT: Final = 5.0
"""Seconds to reach the upstream before the client's connection is closed (Docker's DNS and a
healthy container answer in milliseconds; a missing one should fail fast)."""

UDP_IDLE: Final = 60.0
"""Seconds a UDP client may stay silent before its upstream socket is closed (udp-chat drops a
silent member after 60 s too)."""

POLL: Final = 0.5
"""Longest a pipe's writer waits before looking whether its session was closed meanwhile."""

STREAMS: Final = ("upstream", "downstream")
"""The two directions, named as in Toxiproxy: upstream is client to server."""


@dataclass
class Counters:
    connections_total: int = 0
    connections_open: int = 0
    upstream_failures: int = 0
    bytes_upstream: int = 0
    bytes_downstream: int = 0
    datagrams_upstream: int = 0
    datagrams_downstream: int = 0
    datagrams_dropped: int = 0
    resets: int = 0
    timeouts: int = 0


@dataclass
class ProxySpec:
    """One ``[proxies.<name>]`` table of configs/impair.toml."""

    name: str
    protocol: str
    listen: tuple[str, int]
    upstream: tuple[str, int]
    toxics: dict[str, ToxicSettings] = field(
        default_factory=lambda: {s: ToxicSettings() for s in STREAMS}
    )


class Proxy:
    """What TCP and UDP proxies share: the spec, the live toxics, the counters."""

    def __init__(self, spec: ProxySpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.lock = threading.Lock()
        self.counters = Counters()
        self._toxics = dict(spec.toxics)
        self.address: tuple[str, int] = spec.listen
        self.stopping = threading.Event()

    def toxics(self, stream: str) -> ToxicSettings:
        return self._toxics[stream]

    def update(self, values: Mapping[str, Any]) -> None:
        """Change toxics at run time: the keys of :class:`ToxicSettings`, for the directions in
        ``stream`` (downstream, upstream or both; downstream when not given). ValueError on a
        bad key or value, and then nothing changes."""
        values = dict(values)
        stream = values.pop("stream", "downstream")
        streams = stream_names(stream, f"proxy {self.name}")
        unknown = sorted(set(values) - set(ToxicSettings.KEYS))
        if unknown:
            known = ", ".join(ToxicSettings.KEYS)
            raise ValueError(f"proxy {self.name}: unknown toxic {unknown} (known: {known})")
        with self.lock:
            new = {s: self._toxics[s].updated(values, f"proxy {self.name}") for s in streams}
            self._toxics.update(new)
        log.info("%s: toxics now %s", self.name, self.describe_toxics())

    def add(self, name: str, amount: int = 1) -> None:
        with self.lock:
            setattr(self.counters, name, getattr(self.counters, name) + amount)

    def describe_toxics(self) -> dict[str, dict[str, Any]]:
        return {s: self._toxics[s].active() for s in STREAMS}

    def describe(self) -> dict[str, Any]:
        with self.lock:
            counters = dict(vars(self.counters))
        return {
            "name": self.name,
            "protocol": self.spec.protocol,
            "listen": ledger.show(self.address),
            "upstream": f"{self.spec.upstream[0]}:{self.spec.upstream[1]}",
            "toxics": {s: self._toxics[s].as_dict() for s in STREAMS},
            "counters": counters,
        }

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


def stream_names(stream: object, where: str) -> tuple[str, ...]:
    if stream == "both":
        return STREAMS
    if stream in STREAMS:
        return (str(stream),)
    raise ValueError(
        f"{where}: 'stream' expects 'downstream', 'upstream' or 'both', got {stream!r}"
    )


# -- TCP ---------------------------------------------------------------------------------------


class TcpProxy(Proxy):
    def start(self) -> None:
        host, port = self.spec.listen
        self.listener = open_listener(host, port)
        self.address = self.listener.getsockname()[:2]
        threading.Thread(target=self._accept, name=f"{self.name}-accept", daemon=True).start()
        log.info(
            "%s: tcp %s -> %s:%d %s",
            self.name,
            ledger.show(self.address),
            *self.spec.upstream,
            self.describe_toxics(),
        )

    def stop(self) -> None:
        self.stopping.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()

    def _accept(self) -> None:
        count = 0
        while not self.stopping.is_set():
            try:
                client, addr = self.listener.accept()
            except OSError as exc:
                if self.stopping.is_set():
                    return
                log.error("%s: accept failed: %s", self.name, exc)
                time.sleep(0.05)
                continue
            count += 1
            tune_accepted(client)
            threading.Thread(
                target=self._serve, args=(client, addr), name=f"{self.name}-{count}", daemon=True
            ).start()

    def _serve(self, client: socket.socket, addr: tuple[str, int]) -> None:
        tally = ledger.Tally(client.getsockname(), addr, role="relay")
        self.add("connections_total")
        try:
            upstream = socket.create_connection(self.spec.upstream, timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            self.add("upstream_failures")
            log.warning(
                "%s: %s: cannot reach upstream %s:%d: %s",
                self.name,
                ledger.show(addr),
                *self.spec.upstream,
                exc,
            )
            client.close()
            tally.close(proxy=self.name, upstream_error=str(exc))
            return
        upstream.settimeout(None)
        tune_accepted(upstream)
        session = Session(self, client, upstream, tally)
        self.add("connections_open")
        try:
            session.run()
        finally:
            self.add("connections_open", -1)


class Session:
    """One relayed TCP connection: the client's socket, the upstream's, a pipe each way."""

    def __init__(
        self, proxy: TcpProxy, client: socket.socket, upstream: socket.socket, tally: ledger.Tally
    ) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.tally = tally
        self.up_local = upstream.getsockname()[:2]
        self.up_remote = upstream.getpeername()[:2]
        self.started = time.monotonic()
        self.ended = ""
        self._lock = threading.Lock()
        self.closed = False

    def run(self) -> None:
        pipes = [
            Pipe(self, "upstream", self.client, self.upstream),
            Pipe(self, "downstream", self.upstream, self.client),
        ]
        threads = [
            threading.Thread(target=work, name=f"{threading.current_thread().name}-{p.stream}-{n}")
            for p in pipes
            for n, work in (("r", p.read), ("w", p.write))
        ]
        for thread in threads:
            thread.daemon = True
            thread.start()
        for thread in threads:
            thread.join()
        self.close(self.ended or "closed")
        self.tally.requests = 0
        self.tally.close(
            proxy=self.proxy.name,
            upstream_local=ledger.show(self.up_local),
            upstream_remote=ledger.show(self.up_remote),
            ended=self.ended or "closed",
        )

    def close(self, why: str, reset: bool = False) -> None:
        """Close both sockets (once); ``reset`` sends RST instead of FIN (SO_LINGER 0)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self.ended = self.ended or why
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                if reset:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                # Wakes our own reader blocked in recv() (close() alone would not); SHUT_RD sends
                # nothing, so a reset stays a reset (the close with SO_LINGER 0 sends the RST).
                sock.shutdown(socket.SHUT_RD if reset else socket.SHUT_RDWR)
            sock.close()


class Pipe:
    """One direction of a session: a reader thread and a writer thread with a queue between."""

    def __init__(
        self, session: Session, stream: str, src: socket.socket, dst: socket.socket
    ) -> None:
        self.session = session
        self.stream = stream
        self.src = src
        self.dst = dst
        self.queue: queue.SimpleQueue[Chunk] = queue.SimpleQueue()
        self.counter = "bytes_" + stream

    def read(self) -> None:
        while True:
            try:
                data = self.src.recv(RECV_SIZE)
            except OSError:
                data = b""  # reset or closed under us: for this direction it is the end
            self.queue.put(Chunk(data, time.monotonic(), eof=not data))
            if not data:
                return

    def write(self) -> None:
        session, proxy = self.session, self.session.proxy
        chain = Chain(proxy.toxics(self.stream), session.started)
        while not session.closed:
            close_at = chain.close_at()
            # Wake up now and then: the session may have been closed by the other direction.
            wait = POLL if close_at is None else min(POLL, max(0.0, close_at - time.monotonic()))
            try:
                chunk = self.queue.get(timeout=wait)
            except queue.Empty:
                if close_at is not None and time.monotonic() >= close_at:
                    proxy.add("timeouts")
                    session.close("timeout")
                    return
                continue
            chain.rebuild(proxy.toxics(self.stream), time.monotonic())
            outs = chain.apply(chunk)
            if chunk.eof and not outs:
                # Held by a timeout and now closed by its peer: nothing more can happen.
                session.close("closed while held")
                return
            for out in outs:
                delay = out.due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if not self._send(out):
                    return

    def _send(self, out: Chunk) -> bool:
        """Send one chunk; False when this direction is finished."""
        session = self.session
        try:
            if out.data:
                self.dst.sendall(out.data)
                session.proxy.add(self.counter, len(out.data))
                if self.stream == "upstream":
                    session.tally.bytes_in += len(out.data)
                else:
                    session.tally.bytes_out += len(out.data)
            if out.reset:
                session.proxy.add("resets")
                session.close("reset", reset=True)
                return False
            if out.eof:
                self.dst.shutdown(socket.SHUT_WR)  # pass the FIN on; the other way may go on
                return False
        except OSError:
            session.close("peer gone")
            return False
        return True


# -- UDP ---------------------------------------------------------------------------------------


@dataclass
class _Peer:
    addr: tuple[str, int]
    sock: socket.socket
    up: Chain
    down: Chain


class UdpProxy(Proxy):
    def start(self) -> None:
        host, port = self.spec.listen
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.setblocking(False)
        self.address = self.sock.getsockname()[:2]
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.sock, selectors.EVENT_READ, None)
        self.peers: dict[tuple[str, int], _Peer] = {}
        self.sessions = ledger.UdpSessions(
            self.address, UDP_IDLE, role="relay", on_end=self._forget
        )
        self.due: list[tuple[float, int, socket.socket, tuple[str, int] | None, bytes]] = []
        self._seq = 0
        self._thread = threading.Thread(target=self._loop, name=f"{self.name}-udp", daemon=True)
        self._thread.start()
        log.info(
            "%s: udp %s -> %s:%d %s",
            self.name,
            ledger.show(self.address),
            *self.spec.upstream,
            self.describe_toxics(),
        )

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join(2)

    def _loop(self) -> None:
        try:
            while not self.stopping.is_set():
                timeout = 0.25
                if self.due:
                    timeout = min(timeout, max(0.0, self.due[0][0] - time.monotonic()))
                for key, _ in self.selector.select(timeout):
                    self._readable(key.data)
                self._flush()
                self.sessions.expire()
        finally:
            self.sessions.close()
            self.selector.close()
            self.sock.close()

    def _readable(self, peer: _Peer | None) -> None:
        for _ in range(64):
            try:
                if peer is None:
                    data, addr = self.sock.recvfrom(RECV_SIZE)
                else:
                    data = peer.sock.recv(RECV_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:  # ICMP unreachable from the upstream: the datagram is lost
                log.info("%s: %s", self.name, exc)
                return
            now = time.monotonic()
            if peer is None:
                client = self._peer((addr[0], addr[1]), now)
                if client is None:
                    return
                self.sessions.received(client.addr, len(data))
                client.up.rebuild(self.toxics("upstream"), now)
                self._schedule(client.up, Chunk(data, now), client.sock, None)
            else:
                peer.down.rebuild(self.toxics("downstream"), now)
                self._schedule(peer.down, Chunk(data, now), self.sock, peer.addr)

    def _peer(self, addr: tuple[str, int], now: float) -> _Peer | None:
        peer = self.peers.get(addr)
        if peer is not None:
            return peer
        try:
            sock = socket.socket(self.sock.family, socket.SOCK_DGRAM)
            sock.connect(self.spec.upstream)
        except OSError as exc:
            self.add("upstream_failures")
            log.warning("%s: cannot reach upstream %s:%d: %s", self.name, *self.spec.upstream, exc)
            return None
        sock.setblocking(False)
        peer = _Peer(
            addr,
            sock,
            Chain(self.toxics("upstream"), now),
            Chain(self.toxics("downstream"), now),
        )
        self.peers[addr] = peer
        self.selector.register(sock, selectors.EVENT_READ, peer)
        self.add("connections_total")
        self.add("connections_open")
        local, remote = sock.getsockname(), sock.getpeername()
        self.sessions.note(
            addr,
            proxy=self.name,
            upstream_local=ledger.show(local),
            upstream_remote=ledger.show(remote),
        )
        return peer

    def _forget(self, addr: tuple[str, int]) -> None:
        peer = self.peers.pop(addr, None)
        if peer is not None:
            self.selector.unregister(peer.sock)
            peer.sock.close()
            self.add("connections_open", -1)

    def _schedule(
        self, chain: Chain, chunk: Chunk, sock: socket.socket, addr: tuple[str, int] | None
    ) -> None:
        outs = chain.apply(chunk, datagram=True)
        if not outs:
            self.add("datagrams_dropped")
        for out in outs:
            self._seq += 1
            heapq.heappush(self.due, (out.due, self._seq, sock, addr, out.data))

    def _flush(self) -> None:
        now = time.monotonic()
        while self.due and self.due[0][0] <= now:
            _, _, sock, addr, data = heapq.heappop(self.due)
            try:
                if addr is None:
                    sock.send(data)
                    self.add("datagrams_upstream")
                    self.add("bytes_upstream", len(data))
                else:
                    sock.sendto(data, addr)
                    self.add("datagrams_downstream")
                    self.add("bytes_downstream", len(data))
                    self.sessions.sent(addr, len(data))
            except OSError as exc:  # a full buffer or an ICMP error: UDP may drop, so do we
                log.info("%s: datagram dropped on send: %s", self.name, exc)


def make_proxy(spec: ProxySpec) -> Proxy:
    return TcpProxy(spec) if spec.protocol == "tcp" else UdpProxy(spec)
