"""prefork: a kept-alive connection waits in its worker's poller, not in the worker.

One worker, so if an idle connection held it, a second client could only be served once the
first let go. Request loops are bounded in count and time; the helper stops the server.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.support.multiprocess import server_process
from tests.support.raw_http import HTTP_TIMEOUT, read_responses

IDLE_TIMEOUT = 15.0  # the server's idle timeout here: far longer than the test may take
PROMPT = 3.0  # what "served promptly" means on a loaded 2-core machine

KEEP = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"


def test_an_idle_connection_does_not_hold_the_worker(tmp_path: Path) -> None:
    with server_process(tmp_path, mode="prefork", workers=1, idle_timeout=IDLE_TIMEOUT) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=HTTP_TIMEOUT) as first:
            first.sendall(KEEP)
            (answer,) = read_responses(first, ["GET"])
            assert answer.head.keep_alive
            started = time.monotonic()
            # The only worker holds `first`, idle, in its poller; a second client is served.
            second = srv.get("/healthz")
            assert second.status == 200
            assert time.monotonic() - started < PROMPT
            # and `first` is still open: its next request is answered on the same connection
            first.sendall(KEEP)
            (again,) = read_responses(first, ["GET"])
            assert again.status == 200
            assert again.pid == answer.pid


def test_many_kept_alive_clients_share_one_worker(tmp_path: Path) -> None:
    with server_process(tmp_path, mode="prefork", workers=1, idle_timeout=IDLE_TIMEOUT) as srv:
        socks = [
            socket.create_connection(("127.0.0.1", srv.port), timeout=HTTP_TIMEOUT)
            for _ in range(20)
        ]
        try:
            for _ in range(3):
                for sock in socks:
                    sock.sendall(KEEP)
                    (answer,) = read_responses(sock, ["GET"])
                    assert answer.status == 200
                    assert answer.head.keep_alive
        finally:
            for sock in socks:
                sock.close()
