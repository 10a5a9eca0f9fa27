"""The impair relay's toxics: first as chains (bytes and times, no network), then measured on
127.0.0.1 through a real relay against their settings. Ports are always 0; bounds are generous
(100 ms of latency must give at least 100 ms and well under a second), never speed races."""

from __future__ import annotations

import contextlib
import json
import logging
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from socketlab import ledger
from socketlab.impair.config import parse_proxies
from socketlab.impair.control import ControlServer, ControlSite
from socketlab.impair.relay import Proxy, ProxySpec, TcpProxy, UdpProxy
from socketlab.impair.toxics import Chain, Chunk, ToxicSettings
from socketlab.listener import open_listener
from socketlab.settings import SettingsError
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
WAIT = 5.0  # the longest any expected event may take on a busy loopback


# -- chains: no sockets ------------------------------------------------------------------------


def run(settings: ToxicSettings, chunks: list[Chunk], datagram: bool = False) -> list[Chunk]:
    chain = Chain(settings, 0.0, random.Random(7))
    return [out for c in chunks for out in chain.apply(c, datagram)]


def test_latency_adds_to_the_arrival_of_every_chunk() -> None:
    outs = run(ToxicSettings(latency_ms=100), [Chunk(b"a", 1.0), Chunk(b"b", 1.01)])
    assert [round(c.due, 3) for c in outs] == [1.1, 1.11]  # a pipe: delays do not add up


def test_jitter_stays_within_its_spread_and_keeps_a_stream_in_order() -> None:
    chunks = [Chunk(b"x", 1.0 + i / 1000) for i in range(200)]
    outs = run(ToxicSettings(latency_ms=100, jitter_ms=50), chunks)
    delays = [o.due - c for o, c in zip(outs, [1.0 + i / 1000 for i in range(200)], strict=True)]
    assert all(0.05 - 1e-9 <= d <= 0.15 + 1e-9 for d in delays)
    assert max(delays) - min(delays) > 0.02  # it really varies
    assert [o.due for o in outs] == sorted(o.due for o in outs)


def test_bandwidth_spreads_a_chunk_over_time_at_the_rate() -> None:
    outs = run(ToxicSettings(bandwidth=10_000), [Chunk(b"x" * 5000, 0.0)])
    assert b"".join(o.data for o in outs) == b"x" * 5000
    assert len(outs) == 5  # slices of a tenth of a second each
    assert outs[-1].due == pytest.approx(0.5)


def test_loss_drops_datagrams_at_about_its_rate_and_never_stream_bytes() -> None:
    datagrams = [Chunk(b"d", 0.0) for _ in range(1000)]
    kept = run(ToxicSettings(loss=0.2), datagrams, datagram=True)
    assert 700 < len(kept) < 900
    assert len(run(ToxicSettings(loss=0.2), [Chunk(b"s", 0.0) for _ in range(100)])) == 100


def test_reset_after_passes_exactly_that_many_bytes_then_resets() -> None:
    outs = run(
        ToxicSettings(reset_after=10), [Chunk(b"x" * 6, 0), Chunk(b"y" * 6, 0), Chunk(b"z", 0)]
    )
    assert b"".join(o.data for o in outs) == b"xxxxxxyyyy"
    assert outs[-1].reset


def test_slow_close_delays_only_the_end_of_the_stream() -> None:
    outs = run(ToxicSettings(slow_close_ms=300), [Chunk(b"a", 1.0), Chunk(b"", 1.0, eof=True)])
    assert [o.due for o in outs] == [1.0, pytest.approx(1.3)]


def test_timeout_swallows_everything_and_knows_when_to_close() -> None:
    chain = Chain(ToxicSettings(timeout_ms=250), 10.0)
    assert chain.apply(Chunk(b"GET /", 10.1)) == []
    assert chain.close_at() == pytest.approx(10.25)
    assert Chain(ToxicSettings(timeout_ms=0), 10.0).close_at() is None  # held for ever


def test_settings_name_the_bad_key() -> None:
    with pytest.raises(ValueError, match="'loss' expects a number from 0 to 1"):
        ToxicSettings.from_mapping({"loss": 2}, "here")
    with pytest.raises(ValueError, match="'reset_after' expects a whole number"):
        ToxicSettings.from_mapping({"reset_after": 1.5}, "here")
    assert ToxicSettings.from_mapping({"loss": "20%"}, "here").loss == pytest.approx(0.2)


def test_the_lab_profiles_parse() -> None:
    from socketlab.impair.config import load_proxies

    specs = {s.name: s for s in load_proxies(REPO / "configs" / "impair.toml")}
    assert specs["slow-web"].listen == ("0.0.0.0", 8080)
    assert specs["slow-web"].upstream == ("threaded-web", 8080)
    assert specs["slow-web"].toxics["downstream"].latency_ms == 100
    assert specs["slow-web"].toxics["upstream"].latency_ms == 0
    assert specs["lossy-chat"].protocol == "udp"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"proxies": {"a": {"listen": ":1"}}}, "missing key 'upstream'"),
        ({"proxies": {"a": {"listen": ":1", "upstream": "x:1", "latncy_ms": 1}}}, "unknown key"),
        ({"proxies": {"a": {"listen": ":1", "upstream": "x"}}}, "expects 'host:port'"),
        ({"proxies": {"a": {"listen": ":1", "upstream": "x:1", "protocol": "sctp"}}}, "'tcp'"),
        ({"other": 1}, "unknown table"),
    ],
)
def test_bad_profiles_are_named(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_proxies(doc, "impair.toml")


# -- the relay on 127.0.0.1 --------------------------------------------------------------------


class Upstream:
    """A TCP server in a thread: each connection is handed to ``behave``."""

    def __init__(self, behave: Callable[[socket.socket], None]) -> None:
        self.listener = open_listener("127.0.0.1", 0)
        self.address = self.listener.getsockname()[:2]
        self.behave = behave
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(sock,), daemon=True).start()

    def _one(self, sock: socket.socket) -> None:
        with sock:
            with contextlib.suppress(OSError):
                self.behave(sock)

    def close(self) -> None:
        self.listener.close()


def echo(sock: socket.socket) -> None:
    while data := sock.recv(65536):
        sock.sendall(data)


@pytest.fixture
def relay() -> Iterator[Callable[..., TcpProxy]]:
    """Makes a TCP proxy on 127.0.0.1 port 0 in front of an upstream; stops all at the end."""
    made: list[tuple[Proxy, Upstream]] = []

    def make(behave: Callable[[socket.socket], None], **toxics: Any) -> TcpProxy:
        upstream = Upstream(behave)
        stream = toxics.pop("stream", "downstream")
        spec = ProxySpec("test", "tcp", ("127.0.0.1", 0), upstream.address)
        proxy = TcpProxy(spec)
        proxy.update({"stream": stream, **toxics})
        proxy.start()
        made.append((proxy, upstream))
        return proxy

    yield make
    for proxy, upstream in made:
        proxy.stop()
        upstream.close()


def connect(proxy: Proxy) -> socket.socket:
    return socket.create_connection(proxy.address, timeout=WAIT)


def round_trip(sock: socket.socket, data: bytes) -> float:
    started = time.monotonic()
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        piece = sock.recv(65536)
        assert piece, "the relay closed early"
        got += piece
    assert got == data
    return time.monotonic() - started


def test_latency_is_at_least_its_setting(relay: Callable[..., TcpProxy]) -> None:
    plain = relay(echo)
    slow = relay(echo, latency_ms=100)
    with connect(plain) as a, connect(slow) as b:
        assert round_trip(a, b"ping") < 1.0
        took = round_trip(b, b"ping")
    assert 0.1 <= took < 1.0


def test_latency_both_ways_counts_twice(relay: Callable[..., TcpProxy]) -> None:
    proxy = relay(echo, latency_ms=100, stream="both")
    with connect(proxy) as sock:
        took = round_trip(sock, b"ping")
    assert 0.2 <= took < 1.5


def test_jitter_stays_within_latency_plus_jitter(relay: Callable[..., TcpProxy]) -> None:
    proxy = relay(echo, latency_ms=100, jitter_ms=50)
    with connect(proxy) as sock:
        times = [round_trip(sock, b"x") for _ in range(5)]
    assert all(0.05 <= t < 1.0 for t in times)


def test_bandwidth_limits_bytes_per_second(relay: Callable[..., TcpProxy]) -> None:
    def send_then_close(sock: socket.socket) -> None:
        sock.recv(10)
        sock.sendall(b"z" * 20_000)

    proxy = relay(send_then_close, bandwidth=40_000)
    with connect(proxy) as sock:
        started = time.monotonic()
        sock.sendall(b"go")
        got = b""
        while piece := sock.recv(65536):
            got += piece
        took = time.monotonic() - started
    assert got == b"z" * 20_000
    assert 0.45 <= took < 5.0  # 20,000 bytes at 40,000 B/s: half a second at least


def test_reset_after_n_bytes_resets_the_client(relay: Callable[..., TcpProxy]) -> None:
    def talk(sock: socket.socket) -> None:
        sock.recv(10)
        sock.sendall(b"r" * 5000)
        time.sleep(1)

    proxy = relay(talk, reset_after=1000)
    with connect(proxy) as sock:
        sock.sendall(b"go")
        got = b""
        try:
            while piece := sock.recv(65536):
                got += piece
        except ConnectionResetError:
            reset = True
        else:
            reset = False
    assert reset, "the relay closed with a FIN, not a reset"
    assert len(got) <= 1000
    assert proxy.describe()["counters"]["resets"] == 1


def test_slow_close_holds_the_fin_back(relay: Callable[..., TcpProxy]) -> None:
    def answer_and_close(sock: socket.socket) -> None:
        sock.recv(10)
        sock.sendall(b"bye")

    proxy = relay(answer_and_close, slow_close_ms=300)
    with connect(proxy) as sock:
        sock.sendall(b"go")
        first = sock.recv(10)
        got_data = time.monotonic()
        assert sock.recv(10) == b""  # the FIN, late
        late = time.monotonic() - got_data
    assert first == b"bye"
    assert 0.25 <= late < 2.0


def test_timeout_accepts_never_answers_then_closes(relay: Callable[..., TcpProxy]) -> None:
    proxy = relay(echo, timeout_ms=300, stream="both")
    with connect(proxy) as sock:
        started = time.monotonic()
        sock.sendall(b"anyone there?")
        assert sock.recv(10) == b""
        took = time.monotonic() - started
    assert 0.25 <= took < 3.0
    assert proxy.describe()["counters"]["timeouts"] >= 1


def test_a_change_at_run_time_reaches_an_open_connection(relay: Callable[..., TcpProxy]) -> None:
    proxy = relay(echo)
    with connect(proxy) as sock:
        assert round_trip(sock, b"a") < 0.1 + 1.0
        proxy.update({"latency_ms": 150})
        assert 0.15 <= round_trip(sock, b"b") < 1.5


def test_the_relay_writes_a_ledger_line_with_both_legs(
    relay: Callable[..., TcpProxy], caplog: pytest.LogCaptureFixture
) -> None:
    ledger.configure("impair")
    proxy = relay(echo)
    with caplog.at_level(logging.INFO, logger="ledger"), connect(proxy) as sock:
        round_trip(sock, b"hello")
        mine = sock.getsockname()

    def this_connections_lines() -> list[dict[str, Any]]:
        # Only this connection's: a relay of an earlier test may log its last line meanwhile.
        lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "ledger"]
        return [line for line in lines if line["remote"] == ledger.show(mine)]

    wait_until(this_connections_lines, WAIT, "no ledger line for this connection")
    (line,) = this_connections_lines()
    assert line["role"] == "relay"
    assert line["service"] == "impair"
    assert line["upstream_remote"] == ledger.show(proxy.spec.upstream)
    assert line["bytes_in"] == 5
    assert line["bytes_out"] == 5


# -- UDP ---------------------------------------------------------------------------------------


@pytest.fixture
def udp_echo() -> Iterator[tuple[str, int]]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(65536)
            except TimeoutError:
                continue
            sock.sendto(data, addr)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[:2]
    stop.set()
    thread.join()
    sock.close()


def udp_proxy(upstream: tuple[str, int], **toxics: Any) -> UdpProxy:
    proxy = UdpProxy(ProxySpec("udp", "udp", ("127.0.0.1", 0), upstream))
    proxy.update(toxics)
    proxy.start()
    return proxy


def echoed(proxy: Proxy, count: int) -> tuple[int, float]:
    """Send ``count`` numbered datagrams through the proxy; how many came back, and how long
    the first one took."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        first = -1.0
        started = time.monotonic()
        for n in range(count):
            sock.sendto(b"%d" % n, proxy.address)
            time.sleep(0.001)
        got = 0
        try:
            while got < count:
                sock.recvfrom(100)
                if first < 0:
                    first = time.monotonic() - started
                got += 1
        except TimeoutError:
            pass
    return got, first


def test_udp_loss_drops_about_its_share(udp_echo: tuple[str, int]) -> None:
    proxy = udp_proxy(udp_echo, loss=0.5)
    try:
        got, _ = echoed(proxy, 200)
    finally:
        proxy.stop()
    assert 40 <= got <= 160  # half of 200 lost, give or take a lot
    assert proxy.describe()["counters"]["datagrams_dropped"] == 200 - got


def test_udp_without_toxics_loses_nothing_and_latency_delays(udp_echo: tuple[str, int]) -> None:
    proxy = udp_proxy(udp_echo)
    slow = udp_proxy(udp_echo, latency_ms=100)
    try:
        assert echoed(proxy, 50)[0] == 50
        got, first = echoed(slow, 5)
    finally:
        proxy.stop()
        slow.stop()
    assert got == 5
    assert 0.1 <= first < 1.0


# -- the control API ---------------------------------------------------------------------------


def test_control_api_lists_changes_and_refuses(relay: Callable[..., TcpProxy]) -> None:
    proxy = relay(echo)
    control = ControlServer(open_listener("127.0.0.1", 0), ControlSite({"test": proxy}))
    control.start()
    base = "http://{}:{}".format(*control.address)
    try:
        with connect(proxy) as sock:
            round_trip(sock, b"counted")
        with urllib.request.urlopen(base + "/proxies", timeout=WAIT) as resp:  # noqa: S310 - our own http:// URL
            listing = json.load(resp)
        assert listing["test"]["counters"]["connections_total"] == 1
        assert listing["test"]["counters"]["bytes_upstream"] == 7
        request = urllib.request.Request(  # noqa: S310 - our own http:// URL
            base + "/proxies/test", data=b'{"latency_ms": 42, "stream": "both"}', method="POST"
        )
        with urllib.request.urlopen(request, timeout=WAIT) as resp:  # noqa: S310 - our own http:// URL
            changed = json.load(resp)
        assert changed["toxics"]["upstream"]["latency_ms"] == 42
        assert proxy.toxics("downstream").latency_ms == 42
        for path, body, status, says in [
            ("/proxies/test", b'{"latency": 1}', 400, "unknown toxic"),
            ("/proxies/test", b"not json", 400, "Expecting value"),
            ("/proxies/nope", b"{}", 404, "no proxy 'nope'"),
        ]:
            bad = urllib.request.Request(base + path, data=body, method="POST")  # noqa: S310 - our own http:// URL
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(bad, timeout=WAIT)  # noqa: S310 - our own http:// URL
            assert caught.value.code == status
            assert says in json.load(caught.value)["error"]
        assert proxy.toxics("downstream").latency_ms == 42  # a refused change changes nothing
    finally:
        control.stop()
