"""Unit tests for socketlab.healthcheck against tiny servers on 127.0.0.1, port 0 (no Docker)."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from socketlab import healthcheck
from tests.support.processes import run_service

# Long enough that a loaded CI machine still answers, short enough to keep the suite quick.
FAST_TIMEOUT = 2.0
# For probes that are meant to time out: the servers below stay silent for SLOW_REPLY_DELAY.
SHORT_TIMEOUT = 0.3
SLOW_REPLY_DELAY = 1.5


class _Handler(BaseHTTPRequestHandler):
    """/ok -> 200, /created -> 201, /down -> 503, /slow -> 200 after SLOW_REPLY_DELAY."""

    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(SLOW_REPLY_DELAY)
        status = {"/ok": 200, "/ok?x=1": 200, "/created": 201, "/down": 503, "/slow": 200}.get(
            self.path, 404
        )
        body = b"ok\n" if status < 300 else b"no\n"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture(scope="module")
def http_base() -> Iterator[str]:
    """A threaded HTTP server on 127.0.0.1 with a kernel-chosen port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _udp_server(reply: bytes | None) -> tuple[socket.socket, threading.Event, threading.Thread]:
    """A UDP socket on 127.0.0.1:0 that answers each datagram with ``reply`` (None: silence)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if data == b"PING" and reply is not None:
                sock.sendto(b"CHAT someone: hello", peer)  # noise first: must be skipped
                sock.sendto(reply, peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return sock, stop, thread


@pytest.fixture
def udp_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """udp:// URL of a server answering with ``request.param`` (bytes, or None for silence)."""
    sock, stop, thread = _udp_server(request.param)
    try:
        yield f"udp://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        sock.close()


def _closed_port(kind: int) -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, read back, released)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- HTTP -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ok", "/created", "/ok?x=1"])
def test_http_2xx_is_healthy(http_base: str, path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert healthcheck.main([http_base + path, "--timeout", str(FAST_TIMEOUT)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("healthy: ")
    assert out.count("\n") == 1
    assert err == ""


@pytest.mark.parametrize(("path", "status"), [("/down", "503"), ("/missing", "404")])
def test_http_non_2xx_is_unhealthy(
    http_base: str, path: str, status: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert healthcheck.main([http_base + path, "--timeout", str(FAST_TIMEOUT)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1, "the reason must be one line"
    assert f"status {status}" in err


def test_http_refused_is_unhealthy(capsys: pytest.CaptureFixture[str]) -> None:
    port = _closed_port(socket.SOCK_STREAM)
    assert healthcheck.main([f"http://127.0.0.1:{port}/healthz", "--timeout", "1"]) == 1
    assert "connection refused" in capsys.readouterr().err


def test_http_timeout_is_unhealthy(http_base: str, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    assert healthcheck.main([http_base + "/slow", "--timeout", str(SHORT_TIMEOUT)]) == 1
    assert time.monotonic() - started < SLOW_REPLY_DELAY
    assert "no answer within" in capsys.readouterr().err


def test_http_garbage_reply_is_unhealthy(capsys: pytest.CaptureFixture[str]) -> None:
    """A TCP peer that answers something other than HTTP."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"SSH-2.0-nope\r\n")

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        assert healthcheck.main([f"http://127.0.0.1:{port}/", "--timeout", str(FAST_TIMEOUT)]) == 1
        thread.join(timeout=2)
    assert "bad HTTP reply" in capsys.readouterr().err


# --- UDP --------------------------------------------------------------------------------------


@pytest.mark.parametrize("udp_url", [b"PONG", b"PONG 3 members"], indirect=True)
def test_udp_pong_is_healthy(udp_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert healthcheck.main([udp_url, "--timeout", str(FAST_TIMEOUT)]) == 0
    assert capsys.readouterr().out.startswith("healthy: udp://127.0.0.1:")


@pytest.mark.parametrize("udp_url", [None, b"PANG"], indirect=True)
def test_udp_no_pong_is_unhealthy(udp_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    assert healthcheck.main([udp_url, "--timeout", str(SHORT_TIMEOUT)]) == 1
    assert time.monotonic() - started < SHORT_TIMEOUT + 1.0
    assert "no answer within" in capsys.readouterr().err


def test_udp_closed_port_is_unhealthy(capsys: pytest.CaptureFixture[str]) -> None:
    port = _closed_port(socket.SOCK_DGRAM)
    assert healthcheck.main([f"udp://127.0.0.1:{port}", "--timeout", str(SHORT_TIMEOUT)]) == 1
    err = capsys.readouterr().err
    # Linux answers with ICMP port unreachable (ECONNREFUSED); a silent drop would be a timeout.
    assert "connection refused" in err or "no answer within" in err


# --- usage ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["ftp://127.0.0.1/"],
        ["127.0.0.1:8080"],
        ["udp://127.0.0.1"],
        ["http://127.0.0.1:99999/"],
        ["http:///healthz"],
        ["http://127.0.0.1/", "--timeout", "0"],
        ["http://127.0.0.1/", "--timeout", "soon"],
        ["http://127.0.0.1/", "extra"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        sys.exit(healthcheck.main(argv))
    assert raised.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_parse_target_defaults() -> None:
    assert healthcheck.parse_target("http://example.invalid") == healthcheck.Target(
        "http", "example.invalid", 80, "/"
    )
    target = healthcheck.parse_target("HTTP://[::1]:8080/healthz?full=1")
    assert target == healthcheck.Target("http", "::1", 8080, "/healthz?full=1")
    assert str(target) == "http://[::1]:8080/healthz?full=1"
    assert str(healthcheck.parse_target("udp://chat:9999")) == "udp://chat:9999"


def test_runs_as_module(http_base: str) -> None:
    """The exact command the Dockerfile's HEALTHCHECK runs, as a separate interpreter."""
    done = run_service("healthcheck", http_base + "/down", "--timeout", "2")
    assert done.returncode == 1, done
    assert done.stderr.startswith("unhealthy: ")
    assert "503" in done.stderr
