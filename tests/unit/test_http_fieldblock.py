"""FieldBlock: header fields checked and encoded once, sent by the connection as they are."""

from __future__ import annotations

import re

import pytest

from socketlab.http.connection import Connection, Exchange
from socketlab.http.writer import FieldBlock, date_and_server_fields, http_date, status_line

FIELDS = (("Content-Type", "text/plain"), ("ETag", '"1-2"'), ("X-Note", "caf\xe9"))


class FakeSocket:
    """Feeds one request, then EOF; collects what the connection sends."""

    def __init__(self, request: bytes) -> None:
        self.incoming = [request]
        self.sent = b""

    def settimeout(self, _timeout: float | None) -> None:
        pass

    def gettimeout(self) -> float | None:
        return None  # blocking, as a Connection made without a poller has it

    def setsockopt(self, *_args: object) -> None:
        pass

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", 8080)

    def recv(self, _size: int) -> bytes:
        return self.incoming.pop(0) if self.incoming else b""

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def shutdown(self, _how: int) -> None:
        pass

    def close(self) -> None:
        pass


def serve(headers: object, request: bytes = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") -> bytes:
    def handler(exchange: Exchange) -> None:
        exchange.respond(200, headers, b"hello")  # type: ignore[arg-type]

    sock = FakeSocket(request)
    Connection(sock, ("127.0.0.1", 5000), handler).serve()  # type: ignore[arg-type]
    return re.sub(rb"Date: [^\r]*\r\n", b"", sock.sent)


def test_block_is_a_tuple_of_pairs_with_its_encoding() -> None:
    block = FieldBlock(FIELDS)
    assert list(block) == list(FIELDS)
    assert block.encoded == (b'Content-Type: text/plain\r\nETag: "1-2"\r\nX-Note: caf\xe9\r\n')


@pytest.mark.parametrize(
    "field",
    [("Bad Name", "x"), ("X", "a\r\nInjected: 1"), ("X", "nul\x00")],
)
def test_block_refuses_what_could_split_a_response(field: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match=r"invalid header name|control character"):
        FieldBlock([field])


@pytest.mark.parametrize("name", ["Content-Length", "transfer-encoding", "Connection", "Date"])
def test_block_refuses_fields_the_connection_sets(name: str) -> None:
    with pytest.raises(ValueError, match="set by the connection"):
        FieldBlock([(name, "1")])


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
def test_connection_sends_the_same_response_for_a_block_and_a_list(request_bytes: bytes) -> None:
    assert serve(FieldBlock(FIELDS), request_bytes) == serve(list(FIELDS), request_bytes)


def test_response_head_order_and_framing() -> None:
    sent = serve(FieldBlock(FIELDS))
    head, _, body = sent.partition(b"\r\n\r\n")
    assert head.split(b"\r\n") == [
        b"HTTP/1.1 200 OK",
        b"Content-Type: text/plain",
        b'ETag: "1-2"',
        b"X-Note: caf\xe9",
        b"Content-Length: 5",
        b"Server: socketlab",
    ]
    assert body == b"hello"


def test_status_lines_and_cached_fields() -> None:
    assert status_line(404) == b"HTTP/1.1 404 Not Found\r\n"
    assert status_line(200, "Fine") == b"HTTP/1.1 200 Fine\r\n"
    with pytest.raises(ValueError, match="control character"):
        status_line(200, "OK\r\nX: y")
    fields = date_and_server_fields().decode()
    assert fields.startswith("Date: ")
    assert fields.endswith(" GMT\r\nServer: socketlab\r\n")
    assert len(http_date()) == len("Sat, 21 Nov 2026 08:46:00 GMT")
