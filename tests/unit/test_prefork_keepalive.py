"""prefork: a kept-alive connection never makes another client wait for its idle timeout.

One worker, so the second client can only be served once the first connection lets go. Request
loops are bounded in count and time; the server is stopped in ``finally`` by the helper.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from socketlab.multiprocess_web.worker import IDLE_YIELD
from tests.support.multiprocess import server_process
from tests.support.raw_http import HTTP_TIMEOUT, read_responses

IDLE_TIMEOUT = 15.0  # the server's idle timeout here: far longer than the test may take
PROMPT = IDLE_YIELD + 3.0  # what "served promptly" means on a loaded 2-core machine

KEEP = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"


def test_an_idle_connection_yields_to_a_queued_one(tmp_path: Path) -> None:
    with server_process(tmp_path, mode="prefork", workers=1, idle_timeout=IDLE_TIMEOUT) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=HTTP_TIMEOUT) as first:
            first.sendall(KEEP)
            (answer,) = read_responses(first, ["GET"])
            assert answer.head.keep_alive  # nobody waits: the connection stays open
            started = time.monotonic()
            # The only worker sits on `first`, idle. A second client queues behind it.
            second = srv.get("/healthz")
            assert second.status == 200
            assert time.monotonic() - started < PROMPT
            # `first` was closed between requests: EOF, not a half-answered request.
            first.settimeout(HTTP_TIMEOUT)
            assert first.recv(1) == b""


def test_responses_close_the_connection_while_others_queue(tmp_path: Path) -> None:
    with server_process(tmp_path, mode="prefork", workers=1, idle_timeout=IDLE_TIMEOUT) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=HTTP_TIMEOUT) as first:
            first.sendall(KEEP)
            read_responses(first, ["GET"])
            # A second connection waits in the backlog (accepted by the kernel, not the worker).
            with socket.create_connection(("127.0.0.1", srv.port), timeout=HTTP_TIMEOUT) as wait:
                time.sleep(0.1)
                first.sendall(KEEP)  # answered at once, but with Connection: close
                (answer,) = read_responses(first, ["GET"])
                assert answer.status == 200
                assert not answer.head.keep_alive
                wait.sendall(KEEP)
                (queued,) = read_responses(wait, ["GET"])
                assert queued.status == 200
