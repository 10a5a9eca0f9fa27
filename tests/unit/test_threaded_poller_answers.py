"""threaded-web's poller answers small files already in memory itself; the rest go to threads.

What must hold: the answers are the same either way, in order on a pipelined connection; a
request the poller does not answer goes to a worker thread with its connection; the poller never
waits for a client (a slow reader's rest is sent when its socket is writable, an error's
lingering close runs in the poller's loop), so others are answered meanwhile.
"""

from __future__ import annotations

import json
import logging
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from socketlab.http.connection import ConnectionConfig
from tests.support.raw_http import HTTP_TIMEOUT, closed_by_peer, read_responses
from tests.support.waiting import wait_until
from tests.support.web_servers import Running, start

SMALL = b"x" * 1024
LARGE_SMALL_FILE = bytes(range(256)) * 800  # 200 KiB: still cached (static.SMALL_FILE)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "small.txt").write_bytes(SMALL)
    (tmp_path / "big.bin").write_bytes(LARGE_SMALL_FILE)
    (tmp_path / "index.html").write_bytes(b"<p>index</p>\n")
    return tmp_path


def _serve(site: Path, *, poller_answers: bool = True) -> Iterator[Running]:
    config = ConnectionConfig(header_timeout=30, idle_timeout=30, io_timeout=30)
    running = start("threaded-web", root=site, config=config, poller_answers=poller_answers)
    yield running
    running.stop()


@pytest.fixture
def threaded(site: Path) -> Iterator[Running]:
    yield from _serve(site)


@pytest.fixture
def threads_only(site: Path) -> Iterator[Running]:
    yield from _serve(site, poller_answers=False)


def get(path: str, *, close: bool = False) -> bytes:
    extra = "Connection: close\r\n" if close else ""
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode()


def access_workers(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Who answered each request, from the access lines ('thread=worker-1', 'thread=poller')."""
    return [
        re.findall(r" (thread=\S+)", record.getMessage())[-1]
        for record in caplog.records
        if record.name == "socketlab.access"
    ]


def test_a_file_in_memory_is_answered_by_the_poller(
    threaded: Running, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="socketlab.access"):
        with threaded.connect() as sock:
            sock.sendall(get("/small.txt"))  # the first read fills the cache, on a thread
            (first,) = read_responses(sock, ["GET"])
            sock.sendall(get("/small.txt"))
            (second,) = read_responses(sock, ["GET"])
            sock.sendall(get("/whoami"))
            (whoami,) = read_responses(sock, ["GET"])
        wait_until(lambda: len(access_workers(caplog)) >= 3, 5, "three access lines")
    assert first.status == second.status == 200
    assert first.body == second.body == SMALL
    assert first.header("etag") == second.header("etag") is not None
    assert json.loads(whoami.body)["thread"].startswith("worker-")
    assert access_workers(caplog) == ["thread=worker-1", "thread=poller", "thread=worker-1"]


def test_with_poller_answers_off_every_request_is_a_threads(
    threads_only: Running, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="socketlab.access"):
        with threads_only.connect() as sock:
            for _ in range(3):
                sock.sendall(get("/small.txt"))
                (answer,) = read_responses(sock, ["GET"])
                assert answer.body == SMALL
        wait_until(lambda: len(access_workers(caplog)) >= 3, 5, "three access lines")
    assert all(worker.startswith("thread=worker-") for worker in access_workers(caplog))


def test_pipelined_requests_keep_their_order_across_poller_and_threads(
    threaded: Running, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="socketlab.access"), threaded.connect() as sock:
        sock.sendall(get("/small.txt") + get("/"))
        read_responses(sock, ["GET", "GET"])  # both in memory from now on
        sock.sendall(get("/small.txt") + get("/whoami") + get("/") + get("/nothing-here"))
        answers = read_responses(sock, ["GET"] * 4)
        assert closed_by_peer(sock)  # after the 404, as after any error
        wait_until(lambda: len(access_workers(caplog)) >= 6, 5, "six access lines")
    assert [answer.status for answer in answers] == [200, 200, 200, 404]
    assert answers[0].body == SMALL
    assert json.loads(answers[1].body)["request_index"] == 4
    assert answers[2].body == b"<p>index</p>\n"
    # The worker that took /whoami keeps the connection for what was sent behind it.
    workers = access_workers(caplog)[2:]
    assert workers[0] == "thread=poller"
    assert all(worker.startswith("thread=worker-") for worker in workers[1:]), workers


def test_a_slow_reader_of_a_file_in_memory_holds_neither_poller_nor_thread(
    threaded: Running,
) -> None:
    with threaded.connect() as warm:
        warm.sendall(get("/big.bin"))
        read_responses(warm, ["GET"])
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.settimeout(HTTP_TIMEOUT)
    slow.connect(("127.0.0.1", threaded.port))
    try:
        # 8 MB asked for, more than the socket buffers hold (up to 4 MiB for a sender on
        # Linux): the rest waits in the poller's outbox, a file at a time.
        count = 40
        slow.sendall(get("/big.bin") * count)

        def sending() -> bool:
            return threaded.server.scoreboard.counts().get("sending", 0) >= 1

        wait_until(sending, 5, "the slow reader's answer is not being sent by the poller")
        with threaded.connect() as other:
            other.sendall(get("/small.txt"))
            (answer,) = read_responses(other, ["GET"])  # HTTP_TIMEOUT if the poller waited
        assert answer.body == SMALL
        answers = read_responses(slow, ["GET"] * count)
        assert all(a.status == 200 and a.body == LARGE_SMALL_FILE for a in answers)
        slow.sendall(get("/small.txt"))  # kept alive after all that
        (last,) = read_responses(slow, ["GET"])
        assert last.body == SMALL
    finally:
        slow.close()


def test_an_error_after_an_answer_from_the_poller_lingers_without_stopping_it(
    threaded: Running,
) -> None:
    with threaded.connect() as warm:
        warm.sendall(get("/small.txt"))
        read_responses(warm, ["GET"])
    with threaded.connect() as bad:
        # A file from memory, then a broken head: 200, 400, then the lingering close, which
        # reads (and drops) what comes for up to a second before the socket is closed.
        bad.sendall(get("/small.txt") + b"NOT HTTP AT ALL\r\n\r\n")
        first, error = read_responses(bad, ["GET", "GET"])
        assert (first.status, error.status) == (200, 400)
        with threaded.connect() as other:  # answered while ``bad`` lingers
            other.sendall(get("/small.txt"))
            (answer,) = read_responses(other, ["GET"])
            assert answer.body == SMALL
        bad.sendall(b"more bytes, dropped")
        assert closed_by_peer(bad)


def test_what_the_poller_answers_once_the_stop_began_ends_its_connection(
    threaded: Running,
) -> None:
    with threaded.connect() as sock:
        sock.sendall(get("/small.txt") * 2)
        read_responses(sock, ["GET", "GET"])
        wait_until(lambda: threaded.idle_connections() == 1, 5, "the connection never idled")
        threaded.server.stop("test")
        sock.sendall(get("/small.txt"))  # on an idle connection, within the drain's grace
        (answer,) = read_responses(sock, ["GET"])
        assert answer.body == SMALL
        assert answer.header("connection") == "close"
        assert closed_by_peer(sock)
