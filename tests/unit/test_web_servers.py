"""The lab's web servers on 127.0.0.1, port 0, exercised with real clients and raw sockets.

One suite for every server that serves the static site (threaded-web, coroutine-web): each test
runs against each of them (``SERVERS``), so the same hostile input gets the same answer from
a thread per connection and from a task per connection. What only one model has (a thread
bound, a connection bound) is tested for that one.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from socketlab.asgi import Receive, Scope, Send
from socketlab.http.connection import ConnectionConfig, Exchange
from socketlab.http.parser import END, Data, Response, ResponseParser
from tests.support.http_corpus import CORPUS, SMALL
from tests.support.paths import WWW
from tests.support.processes import run_service, start_service
from tests.support.raw_http import closed_by_peer, connect_when_listening, read_responses
from tests.support.waiting import wait_until
from tests.support.web_servers import SERVERS, Running, start

BIG_SIZE = 3 * 1024 * 1024 + 17  # over the small-file cache limit: goes out with sendfile


@pytest.fixture(scope="module")
def site_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the lab site plus a large file and a symlink that points outside the root."""
    base = tmp_path_factory.mktemp("site")
    root = base / "www"
    shutil.copytree(WWW, root)
    (root / "big.bin").write_bytes(os.urandom(BIG_SIZE))
    (base / "secret.txt").write_text("root:x:0:0\n")
    os.symlink(base / "secret.txt", root / "leak.txt")
    return root


@pytest.fixture(scope="module", params=SERVERS)
def kind(request: pytest.FixtureRequest) -> str:
    """Which server a test runs against: every test that takes it runs once per server."""
    return str(request.param)


@pytest.fixture(scope="module")
def srv(site_root: Path, kind: str) -> Iterator[Running]:
    """One server of each kind for the whole module, stopped (and joined) afterwards."""
    running = start(kind, root=site_root)
    yield running
    running.stop()


# Where each server says who answered: its /whoami key and the access log's word.
WORKER = {"threaded-web": ("thread", "worker-"), "coroutine-web": ("task", "conn-")}
LOG_WORKER = {"threaded-web": "thread=worker-", "coroutine-web": "task=conn-"}
MODULE = {"threaded-web": "threaded_web", "coroutine-web": "coroutine_web"}


def exchange_raw(
    sock: socket.socket, data: bytes, methods: list[str]
) -> list[tuple[Response, bytes]]:
    """Send raw bytes, then read one (head, body) per request method with the lab's own parser."""
    sock.sendall(data)
    return [(answer.head, answer.body) for answer in read_responses(sock, methods)]


# --- what a browser or curl sees ------------------------------------------------------------


def test_index_page(srv: Running) -> None:
    r = requests.get(srv.url + "/", timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert int(r.headers["Content-Length"]) == len(r.content)
    assert r.content == srv.file("index.html").read_bytes()
    for asset in ("/css/site.css", "/js/site.js", "/img/two-hosts.png", "/favicon.ico"):
        assert asset.encode() in r.content
        assert requests.get(srv.url + asset, timeout=5).status_code == 200


def test_whoami_describes_the_connection(srv: Running) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    try:
        docs = []
        for _ in range(3):
            conn.request("GET", "/whoami", headers={"X-Lab": "hello"})
            resp = conn.getresponse()
            assert resp.status == 200
            assert resp.getheader("Content-Type") == "application/json"
            docs.append(json.loads(resp.read()))
        local_port = conn.sock.getsockname()[1]
    finally:
        conn.close()
    first = docs[0]
    assert first["client_ip"] == "127.0.0.1"
    assert first["client_port"] == local_port
    assert (first["server_ip"], first["server_port"]) == ("127.0.0.1", srv.port)
    assert first["pid"] == os.getpid()
    assert first["hostname"] == socket.gethostname()
    key, prefix = WORKER[srv.kind]
    assert first[key].startswith(prefix)
    assert first["headers"]["X-Lab"] == "hello"
    # keep-alive: same TCP connection, same client port, counting requests
    assert [d["request_index"] for d in docs] == [1, 2, 3]
    assert {d["client_port"] for d in docs} == {local_port}


def test_connection_close_gives_a_new_port_each_time(srv: Running) -> None:
    ports = []
    for _ in range(3):
        r = requests.get(srv.url + "/whoami", headers={"Connection": "close"}, timeout=5)
        assert r.headers["Connection"] == "close"
        ports.append(r.json()["client_port"])
        assert r.json()["request_index"] == 1
    assert len(set(ports)) == 3


def test_http10_keep_alive_when_asked(srv: Running) -> None:
    with srv.connect() as sock:
        req = b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        ((head, body),) = exchange_raw(sock, req, ["GET"])
        assert head.headers.get("connection") == "keep-alive"
        ((head, body),) = exchange_raw(sock, req, ["GET"])
        assert body == b"ok\n"
    with srv.connect() as sock:
        ((head, _),) = exchange_raw(sock, b"GET /healthz HTTP/1.0\r\n\r\n", ["GET"])
        assert head.headers.get("connection") == "close"
        assert closed_by_peer(sock)


def test_pipelined_requests_are_answered_in_order(srv: Running) -> None:
    data = (
        b"GET /whoami HTTP/1.1\r\nHost: l\r\n\r\n"
        b"HEAD /index.html HTTP/1.1\r\nHost: l\r\n\r\n"
        b"GET /healthz HTTP/1.1\r\nHost: l\r\n\r\n"
        b"GET /whoami HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n"
    )
    with srv.connect() as sock:
        answers = exchange_raw(sock, data, ["GET", "HEAD", "GET", "GET"])
        assert closed_by_peer(sock)
    assert [h.status for h, _ in answers] == [200, 200, 200, 200]
    assert json.loads(answers[0][1])["request_index"] == 1
    assert answers[1][1] == b""
    assert answers[2][1] == b"ok\n"
    assert json.loads(answers[3][1])["request_index"] == 4


def test_head_has_headers_but_no_body(srv: Running) -> None:
    get = requests.get(srv.url + "/tcp.html", timeout=5)
    head = requests.head(srv.url + "/tcp.html", timeout=5)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"]
    assert head.headers["ETag"] == get.headers["ETag"]


def test_conditional_get_gives_304(srv: Running) -> None:
    first = requests.get(srv.url + "/css/site.css", timeout=5)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    r = requests.get(srv.url + "/css/site.css", headers={"If-None-Match": etag}, timeout=5)
    assert (r.status_code, r.content) == (304, b"")
    assert r.headers["ETag"] == etag
    r = requests.get(srv.url + "/css/site.css", headers={"If-Modified-Since": modified}, timeout=5)
    assert r.status_code == 304
    r = requests.get(srv.url + "/css/site.css", headers={"If-None-Match": '"other"'}, timeout=5)
    assert r.status_code == 200
    r = requests.get(
        srv.url + "/css/site.css",
        headers={"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"},
        timeout=5,
    )
    assert r.status_code == 200


def test_large_file_is_streamed_intact(srv: Running) -> None:
    r = requests.get(srv.url + "/big.bin", timeout=20)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert int(r.headers["Content-Length"]) == BIG_SIZE
    expected = hashlib.sha256(srv.file("big.bin").read_bytes()).hexdigest()
    assert hashlib.sha256(r.content).hexdigest() == expected


def test_directory_redirect_and_index(srv: Running) -> None:
    r = requests.get(srv.url + "/css", allow_redirects=False, timeout=5)
    assert (r.status_code, r.headers["Location"]) == (301, "/css/")
    # a directory without index.html is not listed
    assert requests.get(srv.url + "/css/", timeout=5).status_code == 404


def test_404_uses_the_site_page_and_closes(srv: Running) -> None:
    with srv.connect() as sock:
        ((head, body),) = exchange_raw(sock, b"GET /nope HTTP/1.1\r\nHost: l\r\n\r\n", ["GET"])
        assert head.status == 404
        assert body == srv.file("404.html").read_bytes()
        assert head.headers.get("connection") == "close"
        assert closed_by_peer(sock)


@pytest.mark.parametrize(
    "target",
    [
        b"/../../../../etc/passwd",
        b"/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        b"/css/..%2f..%2f..%2fetc/passwd",
        b"/leak.txt",
        b"/..%5c..%5cetc%5cpasswd",
        b"/%00/etc/passwd",
        b"http://lab/../../etc/passwd",
    ],
)
def test_traversal_never_leaves_the_root(srv: Running, target: bytes) -> None:
    with srv.connect() as sock:
        ((head, body),) = exchange_raw(
            sock, b"GET " + target + b" HTTP/1.1\r\nHost: l\r\n\r\n", ["GET"]
        )
    assert head.status in (400, 404)
    assert b"root:" not in body


@pytest.mark.parametrize(
    ("request_bytes", "status", "extra_header"),
    [
        (b"POST / HTTP/1.1\r\nHost: l\r\nContent-Length: 0\r\n\r\n", 405, ("allow", "GET, HEAD")),
        (b"BREW /pot HTTP/1.1\r\nHost: l\r\n\r\n", 501, None),
        (b"GET / HTTP/2.0\r\nHost: l\r\n\r\n", 505, None),
        (b"GET / HTTP/1.1\r\n\r\n", 400, None),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: l\r\n\r\n", 414, None),
        (b"GET / HTTP/1.1\r\nHost: l\r\nX: " + b"v" * 9000 + b"\r\n\r\n", 431, None),
        (b"POST / HTTP/1.1\r\nHost: l\r\nContent-Length: 99999999999\r\n\r\n", 413, None),
        (b"GET / HTTP/1.1\r\nHost: l\r\nX: <script>\x01</script>\r\n\r\n", 400, None),
    ],
)
def test_errors_carry_their_status_and_close(
    srv: Running, request_bytes: bytes, status: int, extra_header: tuple[str, str] | None
) -> None:
    with srv.connect() as sock:
        ((head, body),) = exchange_raw(sock, request_bytes, ["GET"])
        assert head.status == status
        assert head.headers.get("connection") == "close"
        assert head.headers.get("content-type") == "text/html; charset=utf-8"
        assert b"<script>" not in body
        if extra_header:
            assert head.headers.get(extra_header[0]) == extra_header[1]
        assert closed_by_peer(sock)
    assert requests.get(srv.url + "/healthz", timeout=5).text == "ok\n"  # still serving


def test_client_that_disconnects_mid_response_does_not_hurt(srv: Running) -> None:
    for _ in range(5):
        with srv.connect() as sock:
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: l\r\n\r\n")
            assert sock.recv(1000).startswith(b"HTTP/1.1 200 OK")
        # closing with SO_LINGER 0 sends RST while the server is still inside sendfile
    assert requests.get(srv.url + "/healthz", timeout=5).status_code == 200


def test_body_on_get_is_drained_and_connection_kept(srv: Running) -> None:
    with srv.connect() as sock:
        answers = exchange_raw(
            sock,
            b"GET /healthz HTTP/1.1\r\nHost: l\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /healthz HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\n\r\n"
            b"GET /whoami HTTP/1.1\r\nHost: l\r\n\r\n",
            ["GET", "GET", "GET"],
        )
    assert [h.status for h, _ in answers] == [200, 200, 200]
    assert json.loads(answers[2][1])["request_index"] == 3


# --- deadlines and overload (their own short-timeout servers) --------------------------------


@pytest.fixture
def strict(site_root: Path, kind: str) -> Iterator[Running]:
    config = ConnectionConfig(header_timeout=0.5, idle_timeout=0.5, io_timeout=2)
    running = start(kind, root=site_root, config=config)
    yield running
    running.stop()


def test_slow_head_gets_408(strict: Running) -> None:
    with strict.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHo")
        time.sleep(0.3)
        sock.sendall(b"st: l\r\n")  # still trickling: the deadline counts from the first byte
        sock.settimeout(5)
        data = sock.recv(65536)
        assert data.startswith(b"HTTP/1.1 408 Request Timeout")
        assert closed_by_peer(sock)


def test_silent_client_is_dropped_without_answer(strict: Running) -> None:
    with strict.connect() as sock:
        started = time.monotonic()
        sock.settimeout(5)
        assert sock.recv(100) == b""
        assert time.monotonic() - started < 3


def test_idle_keep_alive_connection_is_closed(strict: Running) -> None:
    with strict.connect() as sock:
        ((head, _),) = exchange_raw(sock, b"GET /healthz HTTP/1.1\r\nHost: l\r\n\r\n", ["GET"])
        assert head.status == 200
        assert closed_by_peer(sock, timeout=5)


def test_an_idle_connection_holds_no_thread(site_root: Path) -> None:
    running = start("threaded-web", root=site_root, max_threads=1)
    try:
        with running.connect() as holder:
            # served by the only worker thread, then kept alive: it waits in the poller
            ((head, _),) = exchange_raw(
                holder, b"GET /healthz HTTP/1.1\r\nHost: l\r\n\r\n", ["GET"]
            )
            assert head.status == 200
            with running.connect() as other:
                ((head, body),) = exchange_raw(
                    other, b"GET /whoami HTTP/1.1\r\nHost: l\r\n\r\n", ["GET"]
                )
                assert head.status == 200
                assert json.loads(body)["thread"] == "worker-1"
            ((head, _),) = exchange_raw(
                holder, b"GET /healthz HTTP/1.1\r\nHost: l\r\n\r\n", ["GET"]
            )
            assert head.status == 200
        assert running.overloaded == 0
    finally:
        running.stop()


@pytest.mark.parametrize("kind", SERVERS)
def test_past_the_connection_bound_idle_ones_make_room_else_503(site_root: Path, kind: str) -> None:
    running = start(kind, root=site_root, max_connections=1)
    try:
        with running.connect() as idle:
            ((head, _),) = exchange_raw(idle, b"GET /healthz HTTP/1.1\r\nHost: l\r\n\r\n", ["GET"])
            assert head.status == 200
            # the idle keep-alive connection is closed to make room for a newcomer (once it is
            # idle: just after its answer, it is on its way back from the thread that wrote it)
            wait_until(lambda: running.idle_connections() == 1, 5, "the connection never idled")
            with running.connect() as other:
                ((head, _),) = exchange_raw(other, b"GET / HTTP/1.1\r\nHost: l\r\n\r\n", ["GET"])
                assert head.status == 200
                assert closed_by_peer(idle)
        wait_until(lambda: running.open_connections() == 0, 5, "the server kept a closed one")
        with running.connect() as busy:
            busy.sendall(b"GET / HTTP/1.1\r\nHo")  # in the middle of a head: not idle
            wait_until(lambda: running.mid_head() == 1, 5, "the server did not read the part")
            with running.connect() as refused:
                ((head, _),) = exchange_raw(refused, b"GET / HTTP/1.1\r\nHost: l\r\n\r\n", ["GET"])
                assert head.status == 503
                assert head.headers.get("retry-after") == "1"
        assert running.overloaded == 1
    finally:
        running.stop()


# --- the program: flags, environment, signals, logs ---------------------------------------------


def run_cli(
    kind: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_service(MODULE[kind], *args, env=env, timeout=20)


BOUND = {"threaded-web": "max_connections", "coroutine-web": "max_connections"}


@pytest.mark.parametrize("kind", SERVERS)
def test_help_explains_each_flag(kind: str) -> None:
    result = run_cli(kind, "--help")
    assert result.returncode == 0
    bound = "--" + BOUND[kind].replace("_", "-")
    for flag in ("--host", "--port", "--root", bound, "--idle-timeout", "SOCKETLAB_PORT"):
        assert flag in result.stdout


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--port", "http"], {}, "flag --port: 'port' expects an integer from 0 to 65535"),
        (["--port", "70000"], {}, "expects an integer from 0 to 65535, got '70000'"),
        ([], {"SOCKETLAB_BOUND": "0"}, "environment variable SOCKETLAB_BOUND"),
        (["--root", "/nonexistent/site"], {}, "flag --root: 'root' expects an existing directory"),
        (["--bogus"], {}, "unrecognized arguments: --bogus"),
    ],
)
@pytest.mark.parametrize("kind", SERVERS)
def test_bad_settings_exit_2_with_one_line(
    kind: str, args: list[str], env: dict[str, str], message: str
) -> None:
    bound = "SOCKETLAB_" + BOUND[kind].upper()
    env = {k.replace("SOCKETLAB_BOUND", bound): v for k, v in env.items()}
    result = run_cli(kind, *args, env=env)
    message = message.replace("SOCKETLAB_BOUND", bound)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("kind", SERVERS)
def test_sigterm_finishes_the_request_in_flight_and_exits_0(kind: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = start_service(
        MODULE[kind], "--host", "127.0.0.1", "--port", str(port), "--root", str(WWW)
    )
    try:
        busy = connect_when_listening(port, 10, io_timeout=5)
        idle = socket.create_connection(("127.0.0.1", port), timeout=5)
        with busy, idle:
            ((head, _),) = exchange_raw(idle, b"GET /healthz HTTP/1.1\r\nHost: l\r\n\r\n", ["GET"])
            busy.sendall(b"GET /whoami HTTP/1.1\r\nHost: l\r\nX-Half: ")  # a request in flight
            time.sleep(0.3)
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            assert closed_by_peer(idle, timeout=3)  # the idle keep-alive connection is let go
            busy.sendall(b"done\r\n\r\n")
            ((head, body),) = exchange_raw(busy, b"", ["GET"])
            assert head.status == 200
            assert head.headers.get("connection") == "close"
            assert json.loads(body)["headers"]["X-Half"] == "done"
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
        out = proc.stdout.read() if proc.stdout else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
    assert "SIGTERM" in out
    # one access line per request with the client's address and port, the thread, the status
    assert '"GET /whoami HTTP/1.1" 200' in out
    assert "127.0.0.1:" in out
    assert LOG_WORKER[kind] in out


def test_access_log_escapes_what_the_peer_sent(
    srv: Running, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="socketlab.access"):
        with srv.connect() as sock:
            ((head, _),) = exchange_raw(
                sock, b"GET /\xff\x1b[31mred HTTP/1.1\r\nHost: l\r\n\r\n", ["GET"]
            )
            assert head.status == 400
            assert closed_by_peer(sock)  # the server logs before it closes
    lines = [r.getMessage() for r in caplog.records if r.name == "socketlab.access"]
    assert any("/\\xff\\x1b[31mred" in line for line in lines)
    assert not any("\x1b" in line for line in lines)


# --- the parser's hostile corpus, over the wire, against every server ---------------------------


def echo_handler(exchange: Exchange) -> None:
    """threaded-web's side: answer with the request line and the body it read."""
    request = exchange.request
    body = exchange.read()
    target = request.path + ("?" + request.query if request.query else "")
    exchange.respond(200, [("Content-Type", "text/plain")], echo_of(request.method, target, body))


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """coroutine-web's side: the same answer from an ASGI application."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    target = scope["raw_path"].decode("latin-1")
    if scope["query_string"]:
        target += "?" + scope["query_string"].decode("latin-1")
    data = echo_of(scope["method"], target, body)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(data))],
        }
    )
    await send({"type": "http.response.body", "body": data})


def echo_of(method: str, target: str, body: bytes) -> bytes:
    """The echo of a request: its origin-form target (an absolute-form one loses its
    scheme and authority, which is all an ASGI scope keeps of it) and its body."""
    if target.startswith("http://"):
        target = "/" + target.removeprefix("http://").partition("/")[2]
    return f"{method} {target}\n".encode("latin-1") + body


@pytest.fixture(scope="module")
def echo(kind: str) -> Iterator[Running]:
    """A server of each kind with the parser corpus's small limits and an echoing handler."""
    config = ConnectionConfig(limits=SMALL, header_timeout=5, idle_timeout=5, io_timeout=5)
    if kind == "threaded-web":
        running = start(kind, handler=echo_handler, config=config)
    else:
        running = start(kind, app=echo_app, config=config)
    yield running
    running.stop()


def read_until_close(sock: socket.socket, methods: list[str]) -> list[tuple[int, bytes]]:
    """Every answer until the server closes: (status, body)."""
    parser = ResponseParser()
    for method in methods:
        parser.expect(method)
    for _ in range(4):
        parser.expect("GET")  # error answers to requests we did not count
    answers: list[tuple[int, bytes]] = []
    status, body = 0, b""
    sock.settimeout(10)
    while True:
        event = parser.next_event()
        if isinstance(event, Response):
            status, body = event.status, b""
        elif isinstance(event, Data):
            body += event.data
        elif event is END:
            answers.append((status, body))
        else:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                return answers
            parser.feed(data)


@pytest.mark.parametrize("split", ["whole", "bytes"])
@pytest.mark.parametrize(("name", "raw", "expected"), CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus_over_the_wire(
    echo: Running, name: str, raw: bytes, expected: list[tuple[str, str, bytes]] | int, split: str
) -> None:
    """Each hostile (or valid) request of the parser's corpus, sent whole or a byte per send,
    gets the same answers from every server: the echoed requests, or the error's status."""
    with echo.connect() as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if split == "whole":
                sock.sendall(raw)
            else:
                for i in range(len(raw)):
                    sock.sendall(raw[i : i + 1])
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered an error and closed before we were done: fine
        methods = [m for m, _, _ in expected] if isinstance(expected, list) else []
        answers = read_until_close(sock, methods)
    if isinstance(expected, int):
        assert answers, f"{name}: no answer at all"
        assert answers[-1][0] == expected
        assert all(status == 200 for status, _ in answers[:-1])
    else:
        wanted = [(200, b"" if m == "HEAD" else echo_of(m, t, b)) for m, t, b in expected]
        assert answers == wanted
