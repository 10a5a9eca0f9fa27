"""coroutine-web's own parts: ASGI (the lab's app, Starlette, a checked message sequence),
the lifespan, a /delay that does not block, flow control, the scoreboard.

What it shares with threaded-web (static files, hostile input, deadlines, SIGTERM, settings)
is in test_web_servers.py, run against both.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from socketlab import settings
from socketlab.coroutine_web import CoroutineServer, labapp
from socketlab.coroutine_web import config as config_module
from socketlab.coroutine_web.connection import HIGH_WATER
from socketlab.http.connection import ConnectionConfig
from tests.support.asgi_validate import Receive, Scope, Send, Validator
from tests.support.raw_http import closed_by_peer, read_responses
from tests.support.starlette_site import starlette_app
from tests.support.waiting import wait_until
from tests.support.web_servers import Running, start

REPO = Path(__file__).resolve().parents[2]
WWW = REPO / "services" / "www"


@pytest.fixture(scope="module")
def checked_lab() -> Iterator[tuple[Running, Validator]]:
    """The lab's default ASGI app behind the checking wrapper, with the static site."""
    validator = Validator(labapp.app)
    running = start("coroutine-web", root=WWW, app=validator)
    yield running, validator
    running.stop()
    assert validator.violations == []


def test_lab_app_instruments_follow_the_asgi_rules(checked_lab: tuple[Running, Validator]) -> None:
    running, validator = checked_lab
    url = running.url
    r = requests.get(url + "/get?a=1&a=2&b=", timeout=5)
    assert r.status_code == 200
    assert r.json()["args"] == {"a": ["1", "2"], "b": ""}
    r = requests.post(url + "/post", data={"x": "1"}, timeout=5)
    assert r.json()["form"] == {"x": "1"}
    r = requests.post(url + "/post", json={"k": [1, 2]}, timeout=5)
    assert r.json()["json"] == {"k": [1, 2]}

    def chunks() -> Iterator[bytes]:
        yield b"hello "
        yield b"world"

    r = requests.post(url + "/post", data=chunks(), timeout=5)  # chunked request body
    assert r.json()["data"] == "hello world"
    r = requests.get(url + "/stream/3", timeout=5)
    assert r.headers["Transfer-Encoding"] == "chunked"
    assert [json.loads(line)["id"] for line in r.text.splitlines()] == [0, 1, 2]
    assert requests.get(url + "/status/418", timeout=5).status_code == 418
    assert requests.get(url + "/nope", timeout=5).status_code == 404
    r = requests.put(url + "/get", timeout=5)
    assert (r.status_code, r.headers["Allow"]) == (405, "GET, HEAD")
    assert len(requests.get(url + "/bytes/5000?seed=3", timeout=5).content) == 5000
    head = requests.head(url + "/", timeout=5)
    assert head.status_code == 200
    assert head.content == b""
    # the static site beside the app, and the server's own paths
    assert requests.get(url + "/css/site.css", timeout=5).status_code == 200
    assert requests.get(url + "/healthz", timeout=5).text == "ok\n"
    assert len(validator.scopes) >= 10
    assert validator.violations == []
    with running.connect() as sock:  # a body in two parts: two http.request messages
        sock.sendall(b"POST /post HTTP/1.1\r\nHost: l\r\nContent-Length: 6\r\n\r\nabc")
        time.sleep(0.2)
        sock.sendall(b"def")
        (answer,) = read_responses(sock, ["POST"])
    assert answer.json()["data"] == "abcdef"
    assert any(m.get("more_body") for m in validator.received)
    assert validator.violations == []


def test_whoami_names_the_task_and_counts_them(checked_lab: tuple[Running, Validator]) -> None:
    running, _ = checked_lab
    with running.connect() as a, running.connect() as b:
        for sock in (a, b):
            sock.sendall(b"GET /whoami HTTP/1.1\r\nHost: l\r\n\r\n")
        docs = [read_responses(sock, ["GET"])[0].json() for sock in (a, b)]
    assert docs[0]["task"] != docs[1]["task"]
    assert all(d["task"].startswith("conn-") for d in docs)
    assert docs[1]["tasks"] >= 2  # at least these two connections' tasks
    assert docs[0]["pid"] == os.getpid()
    assert docs[0]["service"] == "coroutine-web"


def test_two_delays_overlap_on_one_thread(checked_lab: tuple[Running, Validator]) -> None:
    """/delay awaits: a second one starts while the first waits (timestamps, not a timing)."""
    running, _ = checked_lab
    answers: list[dict[str, Any]] = []

    def fetch() -> None:
        answers.append(requests.get(running.url + "/delay/0.5", timeout=10).json())

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert len(answers) == 2
    first, second = sorted(answers, key=lambda d: d["started"])
    assert second["started"] < first["finished"]  # both were waiting at the same time
    assert first["pid"] == second["pid"]
    assert first["task"] != second["task"]


def test_a_waiting_client_gets_http_disconnect_when_it_leaves() -> None:
    events: list[str] = []
    seen = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        assert (await receive())["type"] == "http.request"
        message = await receive()  # the body is read; now only the client's going can come
        events.append(message["type"])
        seen.set()

    validator = Validator(app)
    running = start("coroutine-web", app=validator)
    try:
        with running.connect() as sock:
            sock.sendall(b"GET /long-poll HTTP/1.1\r\nHost: l\r\n\r\n")
            time.sleep(0.2)
        assert seen.wait(5)
        assert events == ["http.disconnect"]
    finally:
        running.stop()
    assert validator.violations == []


# --- Starlette, a real third-party framework ------------------------------------------------


def test_starlette_runs_on_coroutine_web(tmp_path: Path) -> None:
    """Starlette in the real server process, loaded with --app/--app-path, lifespan included."""
    (tmp_path / "starsite.py").write_text(
        "from tests.support.starlette_site import starlette_app\n"
        "LOG = []\n"
        "app = starlette_app(LOG)\n"
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "services"), str(REPO)]),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "socketlab.coroutine_web",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--root",
            "",
            "--app",
            "starsite:app",
            "--app-path",
            str(tmp_path),
            "--lifespan",
            "on",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                r = requests.get(url + "/", timeout=5)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        assert r.json() == {"path": "/", "client": "127.0.0.1", "ready": True}
        assert requests.post(url + "/echo", data=b"abc", timeout=5).text == "cba"
        assert requests.get(url + "/items/7?q=x", timeout=5).json() == {"item": 7, "q": "x"}
        r = requests.get(url + "/stream", timeout=5)
        assert r.text == "part 0\npart 1\npart 2\n"
        assert requests.get(url + "/items/x", timeout=5).status_code == 404
        r = requests.get(url + "/boom", timeout=5)
        assert r.status_code == 500
        proc.terminate()
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out = proc.stdout.read() if proc.stdout else ""
        if proc.stdout:
            proc.stdout.close()
    assert "Traceback" in out  # the failed view, logged for the operator
    assert "the view failed" in out


def test_starlette_in_process_follows_the_asgi_rules() -> None:
    validator = Validator(starlette_app([]))
    running = start("coroutine-web", app=validator)
    try:
        # no lifespan here: the state Starlette's home view reads is not set, so: a 500
        assert requests.post(running.url + "/echo", data=b"xyz", timeout=5).text == "zyx"
        assert requests.get(running.url + "/stream", timeout=5).text.count("part") == 3
    finally:
        running.stop()
    assert validator.violations == []


# --- the application's mistakes ---------------------------------------------------------------


async def broken_app(scope: Scope, receive: Receive, send: Send) -> None:
    path = scope["path"]
    if path == "/raise-first":
        raise RuntimeError("before the response")
    if path == "/nothing":
        return
    if path == "/bad-header":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"x-bad", b"a\r\nInjected: 1")],
            }
        )
        await send({"type": "http.response.body", "body": b"x"})
        return
    if path == "/str-body":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": "text"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"half", "more_body": True})
    raise RuntimeError("in the middle")


@pytest.fixture(scope="module")
def broken() -> Iterator[Running]:
    running = start("coroutine-web", app=broken_app)
    yield running
    running.stop()


@pytest.mark.parametrize("path", ["/raise-first", "/nothing", "/bad-header", "/str-body"])
def test_an_app_failing_before_its_response_gives_500_and_close(broken: Running, path: str) -> None:
    with broken.connect() as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: l\r\n\r\n".encode())
        (answer,) = read_responses(sock, ["GET"])
        assert answer.status == 500
        assert answer.header("connection") == "close"
        assert b"Injected" not in answer.body
        assert closed_by_peer(sock)
    assert requests.get(broken.url + "/healthz", timeout=5).status_code == 200


def test_an_app_failing_mid_response_closes_the_connection(broken: Running) -> None:
    with broken.connect() as sock:
        sock.sendall(b"GET /mid HTTP/1.1\r\nHost: l\r\n\r\n")
        sock.settimeout(5)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert b"half" in data
    assert not data.endswith(b"0\r\n\r\n")  # no last chunk: the client sees a cut response


# --- flow control -----------------------------------------------------------------------------


def test_a_client_that_pipelines_without_reading_is_paused() -> None:
    """Reading stops when a connection's buffer is full: memory stays bounded."""
    running = start("coroutine-web", app=labapp.app, config=ConnectionConfig(io_timeout=5))
    try:
        with running.connect() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            # 64 KiB answers that are never read: the server's sends back up first, then it
            # stops reading, and then this client's sends do.
            request = b"GET /bytes/65536 HTTP/1.1\r\nHost: l\r\n\r\n"
            server = running.server
            assert isinstance(server, CoroutineServer)

            def buffered() -> list[tuple[int, bool]]:
                return [(len(c.parser.buffer), c._read_paused) for c in server.connections]

            # Send until the server says it paused reading: our send buffer filling up alone
            # may only mean that a loaded machine has not read it yet.
            sent = 0
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and sent < 64 * 1024 * 1024:
                try:
                    sent += sock.send(request * 256)
                except BlockingIOError:
                    ((_, paused),) = running.call(buffered)
                    if paused:
                        break
                    time.sleep(0.05)
            assert sent < 64 * 1024 * 1024, "the server kept reading"

            ((size, paused),) = running.call(buffered)
            assert paused
            assert size <= HIGH_WATER + 256 * 1024  # one read past the mark at most
    finally:
        running.stop()


# --- the scoreboard ---------------------------------------------------------------------------


def test_server_status_shows_each_connection_and_its_state(
    checked_lab: tuple[Running, Validator],
) -> None:
    running, _ = checked_lab
    with running.connect() as idle, running.connect() as partial:
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: l\r\n\r\n")
        read_responses(idle, ["GET"])
        partial.sendall(b"GET / HTTP/1.1\r\nHo")
        idle_peer = f"127.0.0.1:{idle.getsockname()[1]}"
        partial_peer = f"127.0.0.1:{partial.getsockname()[1]}"

        def with_both() -> dict[str, Any] | None:
            doc: dict[str, Any] = requests.get(running.url + "/server-status", timeout=5).json()
            peers = {row["peer"] for row in doc["rows"]}
            return doc if {idle_peer, partial_peer} <= peers else None

        doc = wait_until(with_both, 5, "the scoreboard lacks a connection")
        rows = {row["peer"]: row for row in doc["rows"]}
        assert rows[idle_peer]["state"] == "idle"
        assert rows[idle_peer]["requests"] == 1
        assert rows[partial_peer]["state"] == "reading-head"
        assert rows[idle_peer]["worker"].startswith("task=conn-")
        assert doc["states"]["idle"] >= 1
        assert doc["states"]["reading-head"] >= 1
        assert sum(doc["states"].values()) == doc["connections"]
        page = requests.get(
            running.url + "/server-status", headers={"Accept": "text/html"}, timeout=5
        )
        assert page.headers["Content-Type"] == "text/html; charset=utf-8"
        assert '<meta http-equiv="refresh"' in page.text
        assert idle_peer in page.text
        assert "<table>" in requests.get(running.url + "/server-status?html", timeout=5).text


def test_server_status_is_only_for_allowed_networks() -> None:
    from socketlab import status
    from socketlab.coroutine_web import Site

    running = start("coroutine-web", root=WWW)
    try:
        site = running.server.handler
        assert isinstance(site, Site)
        site.status_allow = status.parse_allow(["10.30.80.0/24"])
        assert requests.get(running.url + "/server-status", timeout=5).status_code == 403
    finally:
        running.stop()
    assert status.allowed("::ffff:10.30.80.7", status.parse_allow(["10.30.80.0/24"]))
    with pytest.raises(ValueError, match="networks like"):
        status.parse_allow(["ten"])


# --- the program ------------------------------------------------------------------------------


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "socketlab.coroutine_web",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            *args,
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO / "services"), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_a_failed_lifespan_startup_stops_the_server(tmp_path: Path) -> None:
    (tmp_path / "failing.py").write_text(
        "async def app(scope, receive, send):\n"
        "    await receive()\n"
        "    await send({'type': 'lifespan.startup.failed', 'message': 'no database'})\n"
    )
    result = run("--app", "failing:app", "--app-path", str(tmp_path))
    assert result.returncode == 3
    assert "no database" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--app", "no.such.module:app"], "no module named 'no'"),
        (["--app", "nonsense"], "expects 'module:callable'"),
        (["--lifespan", "maybe"], "one of 'auto', 'on', 'off'"),
        (["--status-allow", "everyone"], "networks like"),
        (["--config", "/nonexistent.toml"], "config file not found"),
    ],
)
def test_bad_settings_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_the_shipped_config_file_is_complete_and_valid(tmp_path: Path) -> None:
    config = REPO / "configs" / "coroutine-web.toml"
    shutil.copy(config, tmp_path / "c.toml")
    result = run("--config", str(config), "--help")
    assert result.returncode == 0
    # Any subset of keys may be set (the rest keep their defaults), but a misspelt one is named,
    # with its line and the closest known key.
    shorter = tmp_path / "shorter.toml"
    shorter.write_text(config.read_text().replace("lifespan = ", "# lifespan = "))
    args = settings.load(
        config_module.SETTINGS, ["--config", str(shorter)], prog="p", description="",
        config_flag=True, environ={},
    )  # fmt: skip
    lifespan = next(row for row in config_module.SETTINGS if row.name == "lifespan")
    assert args.lifespan == lifespan.default
    broken = tmp_path / "broken.toml"
    broken.write_text(config.read_text().replace("lifespan = ", "lifespn = "))
    result = run("--config", str(broken))
    assert result.returncode == 2
    assert "unknown key 'lifespn' (did you mean 'lifespan'?)" in result.stderr
