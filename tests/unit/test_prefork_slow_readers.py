"""prefork: a client that reads its answer slowly (or not at all) does not hold the worker.

The worker's sends never block: what the socket does not take waits in the connection's outbox
and the worker's poller sends it later (``socketlab.http.outbox``). One worker in each server
test, with ``io_timeout`` far longer than the test, so a worker held by the reader would leave
a second client unanswered for 30 s. Waits are on state (the reader's scoreboard row, the
application's close()), every loop is bounded.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from socketlab.http.outbox import OUTBOX_LIMIT, Outbox, ShortFile
from tests.support.multiprocess import ServerProcess, server_process
from tests.support.raw_http import HTTP_TIMEOUT, read_responses
from tests.support.waiting import wait_until

IO_TIMEOUT = 30.0  # the server's: far longer than a test may take
PROMPT = 3.0  # what "answered promptly" means on a loaded 2-core machine (a bound, not a speed)
BIG = 8 * 1024 * 1024  # more than the kernel's send buffer can ever take (tcp_wmem max 4 MiB)

APP = '''
import os

MARK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "closed.txt")


class Body:
    """A response iterable that records that the server called its close()."""

    def __init__(self, pieces):
        self.pieces = pieces

    def __iter__(self):
        return iter(self.pieces)

    def close(self):
        with open(MARK, "a") as mark:
            mark.write("closed\\n")


def app(environ, start_response):
    size = int(environ["PATH_INFO"].rsplit("/", 1)[-1])
    pieces = [b"%07d\\n" % i for i in range(size // 8)]
    headers = [("Content-Type", "text/plain")]
    if environ.get("QUERY_STRING") == "length":
        headers.append(("Content-Length", str(8 * len(pieces))))
    start_response("200 OK", headers)
    return Body(pieces)
'''


def slow_reader(port: int) -> socket.socket:
    """A connection with a tiny receive buffer (a small TCP window, like slowhttptest -X)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(HTTP_TIMEOUT)
    sock.connect(("127.0.0.1", port))
    return sock


def sending_rows(srv: ServerProcess) -> int | None:
    """How many connections the scoreboard shows in the "sending" state (None: not yet any)."""
    doc = srv.get("/server-status")
    assert doc.status == 200
    states = json.loads(doc.body)["states"]
    return states["sending"] or None


def prompt_get(srv: ServerProcess, target: str) -> float:
    started = time.monotonic()
    answer = srv.get(target)
    assert answer.status == 200
    return time.monotonic() - started


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    (root / "big.bin").write_bytes(os.urandom(BIG))
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "slowapp.py").write_text(APP)
    return tmp_path


def test_a_slow_reader_of_a_large_file_does_not_hold_the_worker(site: Path) -> None:
    with server_process(
        site, mode="prefork", workers=1, io_timeout=IO_TIMEOUT, static_root=str(site / "www")
    ) as srv:
        srv.workers(1)
        reader = slow_reader(srv.port)
        try:
            reader.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            # The answer waits in the worker's poller, not in the worker: the row says so.
            wait_until(lambda: sending_rows(srv), 10, "no connection in the sending state")
            assert prompt_get(srv, "/healthz") < PROMPT
            # and the reader, reading at last, gets the whole file, then its next answer
            reader.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            big, after = read_responses(reader, ["GET", "GET"])
            assert big.status == 200
            assert big.body == (site / "www" / "big.bin").read_bytes()
            assert after.status == 200
            assert after.pid == big.pid
        finally:
            reader.close()


@pytest.mark.parametrize("query", ["", "length"], ids=["chunked", "content-length"])
def test_a_reader_that_reads_nothing_does_not_hold_the_worker(site: Path, query: str) -> None:
    mark = site / "apps" / "closed.txt"
    size = OUTBOX_LIMIT // 2  # fits the outbox: the application is done before anyone reads
    with server_process(
        site,
        mode="prefork",
        workers=1,
        io_timeout=IO_TIMEOUT,
        app="slowapp:app",
        app_path=[str(site / "apps")],
    ) as srv:
        srv.workers(1)
        reader = slow_reader(srv.port)
        try:
            target = f"/gen/{size}?{query}"
            # two pipelined requests: the second is served once the first answer is out
            reader.sendall(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode() * 2)
            wait_until(lambda: mark.exists(), 10, "the response iterable was not closed")
            assert prompt_get(srv, f"/gen/64?{query}") < PROMPT
            first, second = read_responses(reader, ["GET", "GET"])
            expected = b"".join(b"%07d\n" % i for i in range(size // 8))
            for answer in (first, second):
                assert answer.status == 200
                assert answer.body == expected
                if query:
                    assert answer.header("content-length") == str(len(expected))
                else:
                    assert answer.header("transfer-encoding") == "chunked"
            wait_until(lambda: mark.read_text().count("closed") == 3, 10, "close() not called")
        finally:
            reader.close()


def test_an_answer_past_the_outbox_bound_still_arrives_whole(site: Path) -> None:
    """Past the bound the worker waits for the client (the back-pressure); nothing is lost."""
    size = 4 * OUTBOX_LIMIT
    with server_process(
        site,
        mode="prefork",
        workers=1,
        app="slowapp:app",
        app_path=[str(site / "apps")],
    ) as srv:
        srv.workers(1)
        reader = slow_reader(srv.port)
        try:
            reader.sendall(f"GET /gen/{size} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            (answer,) = read_responses(reader, ["GET"])
            assert answer.body == b"".join(b"%07d\n" % i for i in range(size // 8))
        finally:
            reader.close()


# --- the outbox itself, on a socket pair -------------------------------------------------------


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    left, right = socket.socketpair()
    left.setblocking(False)
    right.settimeout(HTTP_TIMEOUT)
    try:
        yield left, right
    finally:
        left.close()
        right.close()


def drain(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        piece = sock.recv(65536)
        assert piece, "closed early"
        data += piece
    return data


def test_outbox_keeps_order_across_bytes_and_files(
    pair: tuple[socket.socket, socket.socket], tmp_path: Path
) -> None:
    left, right = pair
    payload = os.urandom(3 * 1024 * 1024)  # more than a socket pair's buffer
    path = tmp_path / "f.bin"
    path.write_bytes(payload)
    box = Outbox()
    box.add(b"head:")
    with open(path, "rb") as file:
        box.add_file(file.fileno(), 10, len(payload) - 10)
    # the file is closed: the outbox has its own descriptor
    box.add(b":tail")
    assert not box.full
    received = b""
    want = 5 + len(payload) - 10 + 5
    for _ in range(10_000):  # bounded: each pass sends and reads what the buffers hold
        box.flush(left)
        received += right.recv(1 << 20)
        if box.empty and len(received) >= want:
            break
    received += drain(right, want - len(received)) if len(received) < want else b""
    assert received == b"head:" + payload[10:] + b":tail"
    assert box.empty
    assert (box.buffered, box.files) == (0, 0)


def test_outbox_is_full_past_its_bound_and_clear_closes_files(
    pair: tuple[socket.socket, socket.socket], tmp_path: Path
) -> None:
    box = Outbox()
    box.add(b"x" * (OUTBOX_LIMIT + 1))
    assert box.full
    path = tmp_path / "f.bin"
    path.write_bytes(b"y" * 100)
    with open(path, "rb") as file:
        box.add_file(file.fileno(), 0, 100)
    before = len(os.listdir("/proc/self/fd"))
    box.clear()
    assert len(os.listdir("/proc/self/fd")) == before - 1
    assert box.empty
    assert not box.full


def test_outbox_reports_a_file_that_shrank(
    pair: tuple[socket.socket, socket.socket], tmp_path: Path
) -> None:
    left, _ = pair
    path = tmp_path / "f.bin"
    path.write_bytes(b"z" * 10)
    box = Outbox()
    with open(path, "rb") as file:
        box.add_file(file.fileno(), 0, 20)
    assert box.flush(left) == 10  # what the file has
    with pytest.raises(ShortFile):
        box.flush(left)
    box.clear()
