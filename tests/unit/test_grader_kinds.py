"""Each kind's checks against servers and clients on 127.0.0.1 (port 0), no Docker.

A right program must get every check; a wrong one must fail exactly where it is wrong. The same
verdicts are asserted for the containerised programs in tests/integration/test_grader_*.py.
"""

from __future__ import annotations

import os
import re
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from socketlab.grader import checker, docroot, http_client
from socketlab.grader.checks import Result
from socketlab.grader.http_static import HttpTarget
from socketlab.grader.target import ServerTarget
from socketlab.http.connection import ConnectionConfig
from socketlab.listener import open_listener
from socketlab.static import StaticFiles
from socketlab.threaded_web import LabSite, ThreadedServer
from socketlab.udp_chat.relay import Relay, RelayConfig
from socketlab.udp_chat.server import ChatServer, bind

REPO = Path(__file__).resolve().parents[2]
SUBMISSIONS = REPO / "tests" / "grader_submissions"


def verdicts(results: list[Result]) -> dict[str, str]:
    return {r.id: r.status for r in results}


def expect(results: list[Result], **statuses: str) -> None:
    """Every check passed except those named (id with _ for -)."""
    want = {r.id: "passed" for r in results}
    want.update({k.replace("_", "-"): v for k, v in statuses.items()})
    got = verdicts(results)
    detail = {r.id: r.actual for r in results if got[r.id] != want[r.id]}
    assert got == want, detail


# --- tcp-echo ---------------------------------------------------------------------------------


class EchoLoop(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            while data := self.request.recv(65536):
                self.request.sendall(data)
        except OSError:
            pass


class EchoOnce(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(self.request.recv(1024))


class Threading(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


Serve = Callable[
    [type[socketserver.TCPServer], type[socketserver.BaseRequestHandler]], ServerTarget
]
Site = tuple[Path, docroot.SiteMap]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start a socketserver on 127.0.0.1:0 in a thread; shut down at the end of the test."""
    running: list[socketserver.TCPServer] = []

    def start(
        server_class: type[socketserver.TCPServer],
        handler: type[socketserver.BaseRequestHandler],
    ) -> ServerTarget:
        server = server_class(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        running.append(server)
        return ServerTarget(("127.0.0.1", server.server_address[1]), startup=2.0)

    yield start
    for server in running:
        server.shutdown()
        server.server_close()


def test_tcp_echo_right_server_gets_full_marks(serve: Serve) -> None:
    expect(checker.grade_server("tcp-echo", serve(Threading, EchoLoop), progress=False))


def test_tcp_echo_one_client_at_a_time_fails_many_clients(serve: Serve) -> None:
    results = checker.grade_server("tcp-echo", serve(socketserver.TCPServer, EchoLoop), False)
    expect(results, many_clients="failed")
    assert "client 3 (of 3 open at once): no answer within" in results[4].actual


def test_tcp_echo_one_recv_fails_pieces_and_large(serve: Serve) -> None:
    results = checker.grade_server("tcp-echo", serve(Threading, EchoOnce), False)
    expect(results, split_message="failed", large_message="failed")


def test_nothing_listening_fails_connect_and_skips_the_rest() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]  # bound, never listening: connections are refused
    try:
        results = checker.grade_server("tcp-echo", ServerTarget(("127.0.0.1", port), 1.0), False)
    finally:
        probe.close()
    assert results[0].status == "failed"
    assert "refused" in results[0].actual
    assert all(r.status == "skipped" and "'connect'" in r.actual for r in results[1:])


# --- http-static ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    where = tmp_path_factory.mktemp("site")
    return where, docroot.generate(where)


def test_http_static_threaded_web_gets_full_marks(site: Site) -> None:
    where, sitemap = site
    server = ThreadedServer(
        open_listener("127.0.0.1", 0),
        LabSite(StaticFiles(where / docroot.ROOT_DIR)),
        ConnectionConfig(),
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        target = HttpTarget(("127.0.0.1", int(server.address[1])), 2.0, sitemap)
        expect(checker.grade_server("http-static", target, progress=False))
    finally:
        server.stop()


def seed_handler(root: Path) -> type[socketserver.BaseRequestHandler]:
    class Seed(socketserver.BaseRequestHandler):
        """The lessons' server: one recv(1024), open(root + path), a bare 200 head."""

        def handle(self) -> None:
            try:
                request = self.request.recv(1024).decode("utf8")
                match = re.match(r"[^/]+(/[^ ]*)", request.splitlines()[0])
                assert match is not None
                path = match.group(1)
                if path == "/":
                    path = "/index.html"
                with open(str(root) + path, "rb") as f:
                    body = f.read()
            except Exception:  # noqa: BLE001 - the lessons' way, on purpose
                self.request.send(b"HTTP/1.1 404 NOT FOUND\r\n\r\n-----not found-----")
            else:
                self.request.send(b"HTTP/1.1 200 OK\r\n\r\n" + body)

    return Seed


def test_http_static_seed_server_fails_where_it_is_wrong(serve: Serve, site: Site) -> None:
    where, sitemap = site
    plain = serve(Threading, seed_handler(where / docroot.ROOT_DIR))
    target = HttpTarget(plain.address, 2.0, sitemap)
    results = checker.grade_server("http-static", target, progress=False)
    expect(
        results,
        content_type="failed",
        split_head="failed",
        large_head="failed",
        bad_request="failed",
        traversal="failed",
        head="warning",
        keep_alive="warning",
        if_modified_since="warning",
    )
    by_id = {r.id: r for r in results}
    assert "before the head was complete" in by_id["split-head"].actual
    assert "the file outside the root" in by_id["traversal"].actual
    assert "no Content-Type" in by_id["content-type"].actual


# --- udp-chat ---------------------------------------------------------------------------------


def test_udp_chat_lab_relay_gets_full_marks() -> None:
    server = ChatServer(Relay(RelayConfig(idle_timeout=2.0)), bind("127.0.0.1", 0))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.sock.getsockname()[1]
        expect(checker.grade_server("udp-chat", ServerTarget(("127.0.0.1", port), 2.0), False))
    finally:
        server.stop()
        thread.join(5)


def test_udp_chat_echo_to_sender_fails_relay_and_skips_what_needs_it() -> None:
    port = free_udp_port()
    proc = subprocess.Popen(  # the learner's relay, told a port bound here first and freed
        [sys.executable, str(SUBMISSIONS / "chat-relay-to-all" / "server.py"), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        results = checker.grade_server("udp-chat", ServerTarget(("127.0.0.1", port), 5.0), False)
    finally:
        proc.kill()
        proc.wait()
    expect(
        results,
        relay="failed",
        seq="skipped",
        leave="skipped",
        bad_input="skipped",
        no_amplification="failed",
        tell="skipped",
        idle_drop="skipped",
    )


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- http-client ------------------------------------------------------------------------------


def subprocess_launcher(program: Path, tmp: Path) -> http_client.Launcher:
    def launch(run: str, url: str) -> http_client.ClientRun:
        output = tmp / f"{run}.html"
        env = {**os.environ, "OUTPUT": str(output), "URL": url}
        try:
            done = subprocess.run([sys.executable, str(program), url], env=env, cwd=tmp,
                                  capture_output=True, timeout=20, check=False)  # fmt: skip
        except subprocess.TimeoutExpired:
            return http_client.ClientRun(None, True, None)
        saved = output.read_bytes() if output.exists() else None
        return http_client.ClientRun(done.returncode, False, saved, done.stderr.decode()[-200:])

    return launch


def grade_client(program: Path, tmp: Path) -> list[Result]:
    launcher = subprocess_launcher(program, tmp)
    target = http_client.ClientTarget(("127.0.0.1", 0), "", launcher, hold=2.0)
    return checker.grade_client(target, progress=False)


def test_http_client_right_browser_gets_full_marks(tmp_path: Path) -> None:
    expect(grade_client(SUBMISSIONS / "good-browser" / "client.py", tmp_path))


def test_http_client_seed_browser_fails_where_it_is_wrong(tmp_path: Path) -> None:
    results = grade_client(SUBMISSIONS / "seed-browser" / "client.py", tmp_path)
    expect(
        results,
        host_header="failed",
        reads_content_length="failed",
        reads_chunked="failed",
        fetches_image="skipped",
        fetches_favicon="failed",
        saves_page="failed",
        keep_alive="skipped",
    )


def test_http_client_that_waits_for_close_fails_reads_content_length(tmp_path: Path) -> None:
    program = tmp_path / "until_close.py"
    program.write_text(
        "import os, socket, sys\nfrom urllib.parse import urlsplit\n"
        "u = urlsplit(sys.argv[1])\ns = socket.create_connection((u.hostname, u.port))\n"
        "s.sendall(f'GET {u.path} HTTP/1.1\\r\\nHost: {u.netloc}\\r\\n\\r\\n'.encode())\n"
        "data = b''\nwhile chunk := s.recv(65536):\n    data += chunk\n"
        "open(os.environ['OUTPUT'], 'wb').write(data.split(b'\\r\\n\\r\\n', 1)[1])\n"
    )
    results = {r.id: r for r in grade_client(program, tmp_path)}
    assert results["reads-content-length"].status == "failed"
    assert "until the server closed" in results["reads-content-length"].actual
    assert results["saves-page"].status == "passed"
