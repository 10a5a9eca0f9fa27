"""The PEP 3333 gateway (socketlab.wsgi) over real sockets, served in-process on port 0.

Each test runs a small WSGI application through WSGIGateway on threaded-web's server (the
gateway does not care which concurrency layer feeds it) and talks raw HTTP/1.1 to it, reading
answers with the lab's own response parser.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar
from wsgiref.validate import validator

import pytest

from socketlab.http.connection import ConnectionConfig
from tests.support.inprocess_servers import gateway_server
from tests.support.raw_http import closed_by_peer, read_responses, request
from tests.support.waiting import wait_until

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


def _plain(start_response: StartResponse, status: str = "200 OK") -> None:
    start_response(status, [("Content-Type", "text/plain")])


def environ_app(environ: Environ, start_response: StartResponse) -> list[bytes]:
    """Answer the environ as JSON (objects as their type name); read the body first."""
    body = environ["wsgi.input"].read()
    doc = {
        k: (v if isinstance(v, (str, int, bool, list, tuple)) or v is None else type(v).__name__)
        for k, v in environ.items()
    }
    doc["body"] = body.decode("latin-1")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(doc).encode()]


# --- environ ------------------------------------------------------------------------------------


def test_environ_has_every_cgi_and_wsgi_key() -> None:
    with (
        gateway_server(environ_app) as srv,
        socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock,
    ):
        local_port = sock.getsockname()[1]
        sock.sendall(
            b"POST /a%20b/%C3%A9?x=1&y=%20 HTTP/1.1\r\nHost: example.test:8888\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 5\r\nX-Custom: one\r\n"
            b"X-Custom: two\r\nX_Custom: spoof\r\nCookie: a=1\r\nCookie: b=2\r\n\r\nhello"
        )
        answer = read_responses(sock, ["POST"])[0]
    env = answer.json()
    assert answer.status == 200
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == ""
    # PEP 3333: the decoded octets, each as one latin-1 character ("bytes-as-str").
    assert env["PATH_INFO"] == "/a b/\xc3\xa9"
    assert env["QUERY_STRING"] == "x=1&y=%20"
    assert env["REQUEST_URI"] == "/a%20b/%C3%A9?x=1&y=%20"
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["CONTENT_LENGTH"] == "5"
    assert "HTTP_CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env
    assert env["SERVER_NAME"] == socket.gethostname()
    assert env["SERVER_PORT"] == str(srv.port)
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"] == str(local_port)
    assert env["HTTP_HOST"] == "example.test:8888"
    assert env["HTTP_X_CUSTOM"] == "one,two"  # repeated fields joined, spoof dropped
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["wsgi.version"] == [1, 0]
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.input"] == "InputStream"
    assert env["wsgi.errors"] == "ErrorStream"
    assert env["wsgi.multiprocess"] is True
    assert env["wsgi.multithread"] is False
    assert env["wsgi.run_once"] is False
    assert env["wsgi.input_terminated"] is True
    assert env["body"] == "hello"


def test_gateway_tells_the_app_its_concurrency_model() -> None:
    with gateway_server(environ_app, multiprocess=False, multithread=True) as srv:
        env = request(srv.port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")[0].json()
    assert env["wsgi.multiprocess"] is False
    assert env["wsgi.multithread"] is True
    assert "CONTENT_LENGTH" not in env  # no body: the variable is absent, not "0"


# --- wsgi.input -----------------------------------------------------------------------------------


def reader_app(environ: Environ, start_response: StartResponse) -> list[bytes]:
    """Read the body the way the query string says, echo what was read and what came after."""
    stream = environ["wsgi.input"]
    how = environ["QUERY_STRING"]
    if how == "all":
        data = stream.read()
    elif how.startswith("n="):
        data = stream.read(int(how[2:]))
    elif how == "lines":
        data = b"|".join(stream)
    elif how == "readline":
        data = stream.readline(3) + b"/" + stream.readline()
    else:
        data = stream.read(int(environ.get("CONTENT_LENGTH") or 0))
    after = stream.read(10)
    _plain(start_response)
    return [data + b"#" + after]


def test_input_ends_with_the_content_length_and_the_next_request_survives() -> None:
    raw = (
        b"POST /?all HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
        b"GET /?all HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    with gateway_server(reader_app) as srv:
        first, second = request(srv.port, raw, ["POST", "GET"])
    assert first.body == b"hello#"  # EOF after the body, not the pipelined request
    assert second.status == 200
    assert second.body == b"#"


def test_input_of_a_chunked_body() -> None:
    raw = (
        b"POST /?all HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\n\r\n"
    )
    with gateway_server(reader_app) as srv:
        answer = request(srv.port, raw, ["POST"])[0]
    assert answer.body == b"abcdefg#"


def test_read_n_waits_for_n_bytes_sent_in_pieces() -> None:
    with (
        gateway_server(reader_app) as srv,
        socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock,
    ):
        sock.sendall(b"POST /?n=10 HTTP/1.1\r\nHost: t\r\nContent-Length: 12\r\n\r\nabcd")
        time.sleep(0.2)
        sock.sendall(b"efghijkl")
        answer = read_responses(sock, ["POST"])[0]
    assert answer.body == b"abcdefghij#kl"


def test_readline_and_iteration() -> None:
    body = b"one\ntwo\nthree"
    with gateway_server(reader_app) as srv:
        lines, limited = request(
            srv.port,
            b"POST /?lines HTTP/1.1\r\nHost: t\r\nContent-Length: 13\r\n\r\n"
            + body
            + b"POST /?readline HTTP/1.1\r\nHost: t\r\nContent-Length: 13\r\n\r\n"
            + body,
            ["POST", "POST"],
        )
    assert lines.body == b"one\n|two\n|three#"
    assert limited.body == b"one/\n#two\nthree"


def test_expect_100_continue_is_answered_when_the_app_reads() -> None:
    with (
        gateway_server(reader_app) as srv,
        socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock,
    ):
        sock.sendall(
            b"POST /?all HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n")
        sock.sendall(b"body")
        answer = read_responses(sock, ["POST"])[0]
    assert answer.body == b"body#"


# --- responses ------------------------------------------------------------------------------------


def test_one_element_list_gets_a_content_length() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        _plain(start_response)
        return [b"hello"]

    with gateway_server(app) as srv:
        answer = request(srv.port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")[0]
    assert answer.header("Content-Length") == "5"
    assert answer.header("Transfer-Encoding") is None
    assert answer.body == b"hello"


def test_generator_is_chunked_and_write_callable_sends_at_once() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"w1")
        write(b"")
        yield b""
        yield b"g1"
        yield b"g2"

    with gateway_server(app) as srv:
        answer = request(srv.port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")[0]
    assert answer.header("Transfer-Encoding") == "chunked"
    assert answer.body == b"w1g1g2"


def test_http10_client_gets_a_close_delimited_stream() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        _plain(start_response)
        yield b"a"
        yield b"b"

    with (
        gateway_server(app) as srv,
        socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock,
    ):
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        answer = read_responses(sock, ["GET"])[0]
        assert closed_by_peer(sock)
    assert answer.header("Transfer-Encoding") is None
    assert answer.body == b"ab"


def test_head_gets_the_length_without_the_body() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        _plain(start_response)
        return [b"twelve bytes"]

    with gateway_server(app) as srv:
        head, get = request(
            srv.port,
            b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n",
            ["HEAD", "GET"],
        )
    assert head.header("Content-Length") == "12"
    assert head.body == b""
    assert get.body == b"twelve bytes"


def test_empty_body_gets_content_length_zero() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("204 No Content", [])
        yield b""

    def app2(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        _plain(start_response)
        yield b""

    with gateway_server(app) as srv:
        answer = request(srv.port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")[0]
    assert answer.status == 204
    assert answer.body == b""
    with gateway_server(app2) as srv:
        answer = request(srv.port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")[0]
    assert answer.header("Content-Length") == "0"


def test_file_wrapper_uses_sendfile_for_a_real_file(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    (tmp_path / "f.bin").write_bytes(data)

    def app(environ: Environ, start_response: StartResponse) -> Any:
        handle = (tmp_path / "f.bin").open("rb")
        handle.seek(100)  # PEP 3333: transmission starts at the file's current position
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](handle)

    def memory_app(environ: Environ, start_response: StartResponse) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](io.BytesIO(data), 4096)

    with gateway_server(app) as srv:
        answer = request(srv.port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")[0]
    assert answer.header("Content-Length") == str(len(data) - 100)
    assert answer.body == data[100:]
    with gateway_server(memory_app) as srv:
        answer = request(srv.port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")[0]
    assert answer.header("Transfer-Encoding") == "chunked"
    assert answer.body == data


def test_application_connection_close_is_honoured_and_hop_by_hop_dropped() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/plain"),
                ("Connection", "close"),
                ("Keep-Alive", "timeout=5"),
                ("Transfer-Encoding", "gzip"),
            ],
        )
        return [b"bye"]

    with (
        gateway_server(app) as srv,
        socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock,
    ):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        answer = read_responses(sock, ["GET"])[0]
        assert closed_by_peer(sock)
    assert answer.header("Connection") == "close"
    assert answer.header("Keep-Alive") is None
    assert answer.header("Transfer-Encoding") is None
    assert answer.body == b"bye"


def test_every_response_carries_the_configured_extra_headers() -> None:
    config = ConnectionConfig(extra_headers=(("X-Worker-Pid", "4242"),))
    with gateway_server(environ_app, config) as srv:
        ok = request(srv.port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")[0]
        bad = request(srv.port, b"GET / HTTP/1.1\r\n\r\n")[0]  # no Host: the core's own 400
    assert ok.pid == 4242
    assert bad.status == 400
    assert bad.pid == 4242


# --- start_response and exc_info ---------------------------------------------------------------


def test_exc_info_replaces_a_head_not_yet_sent() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Old", "1")])
        try:
            raise ValueError("boom")
        except ValueError:
            start_response("503 Try Later", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"sorry"]

    with gateway_server(app) as srv:
        answer = request(srv.port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")[0]
    assert answer.status == 503
    assert answer.head.reason == "Try Later"
    assert answer.header("X-Old") is None
    assert answer.body == b"sorry"


def test_exc_info_after_the_head_was_sent_reraises_and_closes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"partial")
        try:
            raise KeyError("late")
        except KeyError:
            start_response("500 Oops", [], sys.exc_info())  # must re-raise the KeyError
        yield b"never"

    with (
        caplog.at_level(logging.ERROR),
        gateway_server(app) as srv,
        socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock,
    ):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"partial" in received
    assert b"never" not in received
    assert not received.endswith(b"0\r\n\r\n")  # no last chunk: the client sees it was cut
    assert "KeyError" in caplog.text


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        ("200", []),
        ("OK 200", []),
        ("99 Early", []),
        (b"200 OK", []),
        ("200 OK", [("X-Bad", "a\r\nInjected: 1")]),
        ("200 OK", [("X Bad", "v")]),
        ("200 OK", [("X-Bad", 5)]),
        ("200 OK", (("X-Tuple", "headers must be a list"),)),
        ("200 OK", [("Content-Length", "ten")]),
    ],
)
def test_bad_status_or_headers_are_the_apps_500(status: Any, headers: Any) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response(status, headers)
        return [b"x"]

    with gateway_server(app) as srv:
        answer = request(srv.port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")[0]
    assert answer.status == 500
    assert b"Injected" not in answer.body


def test_start_response_twice_without_exc_info_is_an_error() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        _plain(start_response)
        _plain(start_response)
        return [b"x"]

    with gateway_server(app) as srv:
        assert request(srv.port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")[0].status == 500


def test_body_that_is_not_bytes_is_an_error() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[str]:
        _plain(start_response)
        return ["text, not bytes"]

    with gateway_server(app) as srv:  # type: ignore[arg-type]
        assert request(srv.port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")[0].status == 500


# --- failures and close() -------------------------------------------------------------------------


class Tracked:
    """An iterable response that records whether close() was called."""

    closed: ClassVar[list[str]] = []

    def __init__(self, name: str, fail_at: int | None = None) -> None:
        self.name = name
        self.fail_at = fail_at

    def __iter__(self) -> Iterator[bytes]:
        for index in range(3):
            if index == self.fail_at:
                raise RuntimeError(f"{self.name} failed at {index}")
            yield b"%d" % index

    def close(self) -> None:
        Tracked.closed.append(self.name)


def test_close_is_called_on_success_and_on_failure() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        _plain(start_response)
        query = environ["QUERY_STRING"]
        return Tracked(query, fail_at=None if query == "ok" else int(query[-1]))

    Tracked.closed.clear()
    with gateway_server(app) as srv:
        ok = request(srv.port, b"GET /?ok HTTP/1.1\r\nHost: t\r\n\r\n")[0]
        early = request(srv.port, b"GET /?fail0 HTTP/1.1\r\nHost: t\r\n\r\n")[0]
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
            sock.sendall(b"GET /?fail2 HTTP/1.1\r\nHost: t\r\n\r\n")
            assert closed_by_peer(sock)
        wait_until(lambda: len(Tracked.closed) >= 3, 5, lambda: f"closed only {Tracked.closed}")
    assert ok.body == b"012"
    assert early.status == 500
    assert sorted(Tracked.closed) == ["fail0", "fail2", "ok"]


def test_app_exception_is_a_500_without_traceback_logged_and_serving_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        if environ["PATH_INFO"] == "/boom":
            raise ZeroDivisionError("secret detail 42")
        _plain(start_response)
        return [b"fine"]

    with (
        caplog.at_level(logging.ERROR),
        gateway_server(app) as srv,
        socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock,
    ):
        sock.sendall(b"GET /boom HTTP/1.1\r\nHost: t\r\n\r\n")
        answer = read_responses(sock, ["GET"])[0]
        assert closed_by_peer(sock)
        after = request(srv.port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")[0]
    assert answer.status == 500
    assert answer.header("Connection") == "close"
    assert b"secret detail" not in answer.body
    assert b"Traceback" not in answer.body
    assert b"ZeroDivisionError" not in answer.body
    assert "application failed on GET /boom" in caplog.text
    assert "ZeroDivisionError: secret detail 42" in caplog.text  # the traceback is in the log
    assert after.status == 200
    assert after.body == b"fine"


def test_wsgi_errors_become_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        errors = environ["wsgi.errors"]
        errors.write("first line\nsecond ")
        errors.writelines(["line\n", "unfinished"])
        errors.flush()
        _plain(start_response)
        return [b"ok"]

    with caplog.at_level(logging.ERROR, logger="socketlab.wsgi.app"), gateway_server(app) as srv:
        request(srv.port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    messages = [r.getMessage() for r in caplog.records if r.name == "socketlab.wsgi.app"]
    assert messages == ["first line", "second line", "unfinished"]


def test_app_that_never_calls_start_response_is_an_error() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        return [b"no head"]

    with gateway_server(app) as srv:
        assert request(srv.port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")[0].status == 500


def test_lazy_start_response_inside_the_generator() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("201 Created", [("Content-Type", "text/plain")])
        yield b"made"

    with gateway_server(app) as srv:
        answer = request(srv.port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")[0]
    assert answer.status == 201
    assert answer.body == b"made"


# --- wsgiref.validate ---------------------------------------------------------------------------


def validated_apps() -> dict[str, Callable[..., Any]]:
    def simple(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"simple"]

    def echo(environ: Environ, start_response: StartResponse) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [body]

    def streaming(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"via write;")
        yield b"via iterable"

    def lines(environ: Environ, start_response: StartResponse) -> list[bytes]:
        stream = environ["wsgi.input"]
        first = stream.readline()
        rest = stream.readlines()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [first + b"".join(rest)]

    return {"simple": simple, "echo": echo, "streaming": streaming, "lines": lines}


@pytest.mark.parametrize("name", sorted(validated_apps()))
def test_wsgiref_validator_finds_nothing_wrong(name: str) -> None:
    """wsgiref.validate checks the environ, the streams, start_response and close() from the
    application's side; any complaint is an AssertionError (a 500 here) or a warning, which
    pytest turns into an error (filterwarnings = error)."""
    app = validator(validated_apps()[name])
    raw = (
        b"POST /path?q=1 HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 11\r\n\r\nline1\nline2"
    )
    with gateway_server(app) as srv:
        answer = request(srv.port, raw, ["POST"])[0]
    assert answer.status == 200, answer.body
    expected = {
        "simple": b"simple",
        "echo": b"line1\nline2",
        "lines": b"line1\nline2",
        "streaming": b"via write;via iterable",
    }
    assert answer.body == expected[name]


def test_concurrent_requests_on_the_threaded_layer() -> None:
    """The gateway keeps no per-request state of its own: many threads may share it."""

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        time.sleep(0.05)
        _plain(start_response)
        return [environ["QUERY_STRING"].encode()]

    results: dict[int, bytes] = {}

    def one(index: int) -> None:
        results[index] = request(srv.port, f"GET /?{index} HTTP/1.1\r\nHost: t\r\n\r\n".encode())[
            0
        ].body

    with gateway_server(app, multithread=True) as srv:
        threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert results == {i: str(i).encode() for i in range(20)}
