"""Helpers for the multiprocess-web and WSGI tests: servers on 127.0.0.1, port 0, and raw HTTP.

* :func:`gateway_server` runs a WSGI application through :class:`socketlab.wsgi.WSGIGateway` on
  threaded-web's server, in this process: the gateway is the same whatever layer feeds it, and
  in-process failures (wsgiref.validate's assertions) surface in the test.
* :class:`ServerProcess` runs ``python3 -m socketlab.multiprocess_web`` as a real process tree,
  with a config file written for the test, its log in a file, and helpers that read ``/proc``
  (children, zombies, open descriptors). It is always stopped, by SIGKILL if need be.
* :func:`request` sends raw bytes and reads responses with the lab's own response parser.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from socketlab.http.connection import ConnectionConfig
from socketlab.http.parser import END, Data, Response, ResponseParser
from socketlab.listener import open_listener
from socketlab.multiprocess_web import SETTINGS
from socketlab.threaded_web import ThreadedServer
from socketlab.wsgi import WSGIApp, WSGIGateway

REPO = Path(__file__).resolve().parents[2]
SERVICES = REPO / "services"
WWW = SERVICES / "www"

# Seconds a test waits for the server to start listening, and for one HTTP answer. Generous
# for a loaded 2-core CI machine; the server itself starts in about 0.1 s.
START_TIMEOUT = 15.0
HTTP_TIMEOUT = 10.0
# Seconds a server may take to exit after SIGTERM once nothing is in flight.
STOP_TIMEOUT = 15.0


# --- raw HTTP ---------------------------------------------------------------------------------


@dataclass
class Answer:
    """One response: the parsed head and the de-chunked body."""

    head: Response
    body: bytes

    @property
    def status(self) -> int:
        return self.head.status

    def header(self, name: str) -> str | None:
        return self.head.headers.get(name)

    @property
    def pid(self) -> int:
        value = self.header("X-Worker-Pid")
        assert value is not None, f"no X-Worker-Pid in {self.head.headers!r}"
        return int(value)

    def json(self) -> Any:
        return json.loads(self.body)


def read_answers(sock: socket.socket, methods: Sequence[str]) -> list[Answer]:
    """Read one response per request method from ``sock`` (HEAD answers have no body)."""
    parser = ResponseParser()
    for method in methods:
        parser.expect(method)
    out: list[Answer] = []
    head: Response | None = None
    body = b""
    while len(out) < len(methods):
        event = parser.next_event()
        if isinstance(event, Response):
            head, body = event, b""
        elif isinstance(event, Data):
            body += event.data
        elif event is END:
            assert head is not None
            out.append(Answer(head, body))
        else:
            data = sock.recv(65536)
            if data:
                parser.feed(data)
            else:
                parser.feed_eof()
    return out


def request(
    port: int, data: bytes, methods: Sequence[str] = ("GET",), timeout: float = HTTP_TIMEOUT
) -> list[Answer]:
    """Send raw request bytes on a new connection and read the answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_answers(sock, methods)


def get(port: int, target: str, *, headers: str = "", timeout: float = HTTP_TIMEOUT) -> Answer:
    """GET ``target`` on a new connection that asks to be closed afterwards."""
    raw = f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{headers}\r\n".encode()
    return request(port, raw, timeout=timeout)[0]


def closed_by_peer(sock: socket.socket, timeout: float = HTTP_TIMEOUT) -> bool:
    """True once the peer closes (EOF or reset) within ``timeout``; data read is discarded."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return True


# --- the gateway in this process --------------------------------------------------------------


@dataclass
class GatewayServer:
    """A WSGI application served by WSGIGateway on threaded-web's server."""

    server: ThreadedServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.address[1])


@contextlib.contextmanager
def gateway_server(
    app: WSGIApp, config: ConnectionConfig | None = None, **gateway: Any
) -> Iterator[GatewayServer]:
    """Serve ``app`` on 127.0.0.1:<free port> until the block ends."""
    config = config or ConnectionConfig(extra_headers=(("X-Worker-Pid", str(os.getpid())),))
    server = ThreadedServer(
        open_listener("127.0.0.1", 0), WSGIGateway(app, **gateway), config, graceful_timeout=2.0
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield GatewayServer(server, thread)
    finally:
        server.stop()
        thread.join(10)


# --- multiprocess-web as a process tree ---------------------------------------------------------


def config_values(**overrides: Any) -> dict[str, Any]:
    """Every key of the server's settings table, at test-friendly values, with overrides."""
    values = {s.name: s.default for s in SETTINGS}
    values.update(host="127.0.0.1", port=0, workers=2, static_root=str(WWW), log_level="info")
    values.update(overrides)
    return values


def toml_text(values: dict[str, Any]) -> str:
    """A TOML document for flat str/int/float/bool/list-of-str values (enough for our config)."""
    lines = []
    for key, value in values.items():
        lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


_LISTENING = re.compile(r"listening on [^ ]+:(\d+) \(supervisor pid (\d+)\)")


@dataclass
class ServerProcess:
    """``python3 -m socketlab.multiprocess_web`` with a generated config, logging to a file."""

    workdir: Path
    config: dict[str, Any] = field(default_factory=dict)
    preamble: str = ""  # Python run before the server's main() (e.g. to make fork() fail)
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self) -> ServerProcess:
        config_path = self.workdir / "multiprocess-web.toml"
        config_path.write_text(toml_text(config_values(**self.config)))
        script = (
            f"{self.preamble}\nimport sys\nfrom socketlab.multiprocess_web import main\n"
            f"sys.exit(main(['--config', {str(config_path)!r}]))\n"
        )
        env = {**os.environ, "PYTHONPATH": str(SERVICES), "PYTHONUNBUFFERED": "1"}
        env = {k: v for k, v in env.items() if not k.startswith("SOCKETLAB_")}
        with self.log_path.open("wb") as log_file:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", script],
                cwd=REPO,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            match = _LISTENING.search(self.log())
            if match:
                self.port = int(match.group(1))
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.02)
        raise AssertionError(f"server did not listen within {START_TIMEOUT} s:\n{self.log()}")

    def get(self, target: str, **kwargs: Any) -> Answer:
        return get(self.port, target, **kwargs)

    # -- /proc ---------------------------------------------------------------------------------

    def children(self) -> dict[int, str]:
        """PID -> state letter (R, S, Z...) of every child of the server process."""
        return children_of(self.pid)

    def workers(self, count: int, timeout: float = START_TIMEOUT) -> set[int]:
        """The live (non-zombie) children once there are exactly ``count`` of them."""
        deadline = time.monotonic() + timeout
        while True:
            live = {pid for pid, state in self.children().items() if state != "Z"}
            if len(live) == count:
                return live
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} workers, have {live}\n{self.log()}")
            time.sleep(0.02)

    def kill_child(self, pid: int, signum: int) -> None:
        """Send ``signum`` to one of the server's children (and only to one of them)."""
        assert pid in self.children(), f"{pid} is not a child of the server"
        os.kill(pid, signum)

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    # -- stopping ------------------------------------------------------------------------------

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL the server and every child it still has (the test failed half-way)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for pid in children_of(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.kill()
        self.proc.wait(STOP_TIMEOUT)


@contextlib.contextmanager
def server_process(workdir: Path, preamble: str = "", **config: Any) -> Iterator[ServerProcess]:
    """A started ServerProcess, stopped with SIGTERM (SIGKILL if it hangs) when the block ends."""
    server = ServerProcess(workdir, config, preamble)
    try:
        server.start()
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.signal(signal.SIGTERM)
            try:
                server.wait()
            except subprocess.TimeoutExpired:
                server.kill()


def children_of(pid: int) -> dict[int, str]:
    """PID -> state of the processes whose parent is ``pid``, from /proc/<n>/stat."""
    out: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and ')'; split after the last ')'.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid:
            out[int(entry)] = state
    return out
