"""Slow and silent clients do not take the servers down: bounded tests, generous bounds.

Each test holds a crowd of bad clients open (silent, trickling a body, not reading) and checks
that a normal request is still answered within :data:`ANSWERED_WITHIN` seconds -- a bound, not a
speed measure (``make soak`` measures). fork mode is the exception kept on purpose: a child per
connection, so its crowd is bounded by ``max_children`` and ``header_timeout`` instead.
"""

from __future__ import annotations

import contextlib
import json
import resource
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from socketlab import status
from socketlab.http.connection import ConnectionConfig
from tests.support.multiprocess import server_process
from tests.support.paths import WWW
from tests.support.raw_http import HTTP_TIMEOUT, closed_by_peer, read_responses
from tests.support.waiting import wait_until
from tests.support.web_servers import Running, start

CROWD = 300
ANSWERED_WITHIN = 2.0  # seconds: generous on a loaded 2-core machine
GET = b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n"


@pytest.fixture(scope="module", autouse=True)
def enough_descriptors() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 4096)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


@contextlib.contextmanager
def crowd(port: int, count: int = CROWD, send: bytes = b"") -> Iterator[list[socket.socket]]:
    """``count`` connections that each send ``send`` (maybe nothing) and then stay silent."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=HTTP_TIMEOUT)
            if send:
                sock.sendall(send)
            socks.append(sock)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def timed_get(port: int, request: bytes = GET) -> tuple[int, bytes, float]:
    """One request on a new connection: (status, body, seconds until the answer)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=HTTP_TIMEOUT) as sock:
        sock.sendall(request)
        (answer,) = read_responses(sock, ["POST" if request.startswith(b"POST") else "GET"])
    return answer.status, answer.body, time.monotonic() - started


def scoreboard(port: int, query: str = "") -> dict[str, object]:
    code, body, _ = timed_get(
        port, f"GET /server-status{query} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
    )
    assert code == 200
    doc: dict[str, object] = json.loads(body)
    return doc


# --- threaded-web (in this process) ------------------------------------------------------------


@pytest.fixture
def threaded() -> Iterator[Running]:
    config = ConnectionConfig(header_timeout=30, idle_timeout=30, io_timeout=30)
    running = start("threaded-web", root=WWW, config=config, max_threads=4)
    yield running
    running.stop()


def test_threaded_silent_crowd_holds_no_thread(threaded: Running) -> None:
    with crowd(threaded.port):
        code, body, took = timed_get(threaded.port)
        assert code == 200
        assert json.loads(body)["thread"].startswith("worker-")
        assert took < ANSWERED_WITHIN
        doc = scoreboard(threaded.port)
        states = doc["states"]
        assert isinstance(states, dict)
        assert states["reading-head"] >= CROWD


def test_threaded_slowloris_and_slow_bodies_hold_no_thread(threaded: Running) -> None:
    half_head = b"GET / HTTP/1.1\r\nHost: t\r\nX-a: b\r\n"
    half_body = b"POST /whoami HTTP/1.1\r\nHost: t\r\nContent-Length: 10000\r\n\r\nabc"
    with crowd(threaded.port, CROWD // 2, half_head), crowd(threaded.port, CROWD // 2, half_body):
        code, _, took = timed_get(threaded.port)
        assert code == 200
        assert took < ANSWERED_WITHIN


def test_threaded_slow_readers_do_not_stall_others(threaded: Running) -> None:
    # Each asks for the same page again and again and never reads: the answers pile up in the
    # socket buffers. Four threads only, so a thread stuck per reader would stall everything.
    pipelined = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 50
    with crowd(threaded.port, 20, pipelined):
        time.sleep(0.2)
        code, _, took = timed_get(threaded.port)
        assert code == 200
        assert took < ANSWERED_WITHIN + 3  # the pool may be busy with the readers' io_timeout


def test_threaded_idle_connection_gets_its_next_answer(threaded: Running) -> None:
    with socket.create_connection(("127.0.0.1", threaded.port), timeout=HTTP_TIMEOUT) as sock:
        for index in (1, 2, 3):
            sock.sendall(GET)
            (answer,) = read_responses(sock, ["GET"])
            assert answer.status == 200
            assert json.loads(answer.body)["request_index"] == index
            time.sleep(0.2)  # idle in the poller between requests


def test_request_arriving_as_the_server_stops_is_answered(threaded: Running) -> None:
    """The drain race: a request already sent on an idle connection when the stop begins is
    answered, not cut off, and the connection is closed after that answer."""
    with socket.create_connection(("127.0.0.1", threaded.port), timeout=HTTP_TIMEOUT) as sock:
        sock.sendall(GET)
        (answer,) = read_responses(sock, ["GET"])
        assert answer.status == 200
        wait_until(lambda: threaded.idle_connections() == 1, 5, "the connection never idled")
        sock.sendall(GET)
        threaded.server.stop("test")
        # Whether a worker took the request just before the stop began (a keep-alive answer) or
        # just after (Connection: close) is the machine's timing: either way it is answered.
        (answer,) = read_responses(sock, ["GET"])
        assert answer.status == 200
        assert closed_by_peer(sock)


def test_scoreboard_json_html_and_allow(threaded: Running) -> None:
    with crowd(threaded.port, 3):
        doc = scoreboard(threaded.port)
        assert doc["service"] == "threaded-web"
        rows = doc["rows"]
        assert isinstance(rows, list)
        assert len(rows) >= 4
        assert {"peer", "state", "age", "worker", "pid", "requests"} <= set(rows[0])
        assert {row["state"] for row in rows} <= set(status.STATES)
        assert any(row["state"] == "working" for row in rows)  # the request asking
    code, body, _ = timed_get(threaded.port, b"GET /server-status?html HTTP/1.1\r\nHost: t\r\n\r\n")
    assert code == 200
    assert b'http-equiv="refresh"' in body
    assert b"<table>" in body
    accept = b"GET /server-status HTTP/1.1\r\nHost: t\r\nAccept: text/html\r\n\r\n"
    assert b"<table>" in timed_get(threaded.port, accept)[1]


def test_scoreboard_is_forbidden_outside_its_networks() -> None:
    from socketlab.static import StaticFiles
    from socketlab.threaded_web import LabSite

    board = status.Scoreboard("threaded-web")
    site = LabSite(StaticFiles(WWW), board, status.parse_allow(["10.99.0.0/16"]))
    running = start("threaded-web", handler=site)
    try:
        assert timed_get(running.port, b"GET /server-status HTTP/1.1\r\nHost: t\r\n\r\n")[0] == 403
    finally:
        running.stop()


# --- multiprocess-web (a real server process) --------------------------------------------------


def test_prefork_silent_crowd_and_slow_bodies(tmp_path: Path) -> None:
    with server_process(tmp_path, mode="prefork", workers=2, header_timeout=30.0) as srv:
        srv.workers(2)
        slow_body = (
            b"POST /post HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 1000\r\n\r\nslow"
        )
        # Partial heads: a connection that sent nothing at all waits in the kernel until its
        # first bytes come (TCP_DEFER_ACCEPT), so it is not even a worker's to hold.
        slowloris = b"GET / HTTP/1.1\r\nHost: t\r\n"
        with crowd(srv.port, CROWD, slowloris), crowd(srv.port, 100, slow_body) as bodies:
            code, _, took = timed_get(srv.port)
            assert code == 200
            assert took < ANSWERED_WITHIN
            # a slow body that finally arrives is answered in full: the app saw all of it
            bodies[0].sendall(b"x" * 996)
            (answer,) = read_responses(bodies[0], ["POST"])
            assert answer.status == 200
            assert "slow" + "x" * 996 in json.loads(answer.body)["data"]

            # every worker's counts come from the worker board, at most a moment late
            def crowd_shown() -> dict[str, object] | None:
                doc = scoreboard(srv.port)
                states = doc["states"]
                assert isinstance(states, dict)
                return doc if states["reading-head"] >= CROWD else None

            doc = wait_until(crowd_shown, 5, lambda: f"the crowd is not on the board\n{srv.log()}")
            assert doc["mode"] == "prefork"
            workers = doc["workers"]
            assert isinstance(workers, list)
            assert len(workers) == 2


def test_prefork_worker_killed_for_its_timeout_logs_its_504(tmp_path: Path) -> None:
    with server_process(tmp_path, mode="prefork", workers=1, timeout=1.0) as srv:
        srv.workers(1)
        code, _, _ = timed_get(srv.port, b"GET /delay/5 HTTP/1.1\r\nHost: t\r\n\r\n")
        assert code == 504
        wait_until(lambda: '"GET /delay/5 HTTP/1.1" 504' in srv.log(), 5, srv.log)


def test_fork_mode_is_bounded_by_header_timeout(tmp_path: Path) -> None:
    """fork mode keeps its weakness on purpose: each silent client holds a child, up to
    max_children; header_timeout frees them, and the parent never stalls meanwhile."""
    with server_process(tmp_path, mode="fork", max_children=8, header_timeout=1.0) as srv:
        with crowd(srv.port, 8):
            time.sleep(0.3)
            doc_code, _, took = timed_get(srv.port)  # waits for a child that header_timeout frees
            assert doc_code == 200
            assert took < 1.0 + 5.0
        # while children hold connections, the scoreboard shows one row per connection
        with crowd(srv.port, 4):

            def reading_rows() -> list[object] | None:
                rows = scoreboard(srv.port)["rows"]
                assert isinstance(rows, list)
                reading = [row for row in rows if row["state"] == "reading-head"]
                return reading if len(reading) >= 4 else None

            wait_until(reading_rows, 5, lambda: f"fewer than 4 reading-head rows\n{srv.log()}")
        srv.signal(signal.SIGTERM)
        assert srv.wait() == 0


def test_requests_worked_on_at_once_get_threads_of_their_own(threaded: Running) -> None:
    """/whoami?delay= is a request that takes a while: three at once, three threads."""
    socks = [threaded.connect() for _ in range(3)]
    try:
        for sock in socks:
            sock.sendall(b"GET /whoami?delay=0.5 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        threads = {json.loads(read_responses(sock, ["GET"])[0].body)["thread"] for sock in socks}
    finally:
        for sock in socks:
            sock.close()
    assert len(threads) == 3, threads
    assert timed_get(threaded.port, b"GET /whoami?delay=9 HTTP/1.1\r\nHost: t\r\n\r\n")[0] == 400
