"""A body over JOIN_LIMIT leaves with its head in one sendmsg(2): the bytes on the wire are the
same as when they were joined. Real TCP sockets on 127.0.0.1 (port 0), bounded by a timeout."""

from __future__ import annotations

import socket
import threading

import pytest

from socketlab.http.connection import JOIN_LIMIT, Connection, Exchange
from tests.support.raw_http import read_responses


@pytest.mark.parametrize("size", [0, 100, JOIN_LIMIT, JOIN_LIMIT + 1, 100 * 1024, 3 * 1024 * 1024])
@pytest.mark.parametrize("chunked", [False, True])
def test_large_and_small_bodies_arrive_whole(size: int, chunked: bool) -> None:
    body = bytes(i % 251 for i in range(size))

    def handler(exchange: Exchange) -> None:
        if chunked:
            exchange.start(200, [("Content-Type", "application/octet-stream")])
            exchange.write(body)
        else:
            exchange.respond(200, [("Content-Type", "application/octet-stream")], body)

    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=10)
        server_side, _ = listener.accept()
    conn = Connection(server_side, ("127.0.0.1", 5000), handler)
    thread = threading.Thread(target=conn.serve, daemon=True)
    thread.start()
    try:
        client.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        (response,) = read_responses(client, ["GET"])
        head, got = response.head, response.body
        assert head.status == 200
        assert head.chunked is chunked
        assert got == body
    finally:
        client.close()
        thread.join(10)
