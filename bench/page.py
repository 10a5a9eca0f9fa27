"""The browser against ``wget --page-requisites``: one page with 100 resources, timed to the µs.

The page (:func:`write_site`) has 30 stylesheets, 30 scripts, 39 images and an icon, each a few
KiB: enough requests that fetching them in parallel, or not, shows. Both clients are run as a
person runs them, a fresh process each time, and they alternate, so drift on a busy machine
touches both alike.

The page is served by :class:`PageServer`, a small server inside the bench process that answers
from memory and stamps every request with the monotonic clock in microseconds: when its first
byte arrived and when the last byte of its response was written to the socket. (nginx logs
``$msec`` and ``$request_time`` to the millisecond only, which cannot tell two loads of a few
milliseconds apart.) Each client gets the same server, the same clock and the same resolution.

Two times are kept for each run. *Page load*: from the first request's first byte to the end
of the last response, at the server. *Process*: from the start of the client's process to its
exit, what a person at a terminal waits, which adds the interpreter's start-up for the browser.

The second variant puts the lab's impairment relay (``python3 -m socketlab.impair``, on
127.0.0.1) between the client and the server, with 100 ms of latency on every chunk from the
server to the client: a page over a long cable. The server's clock then sees the last response
leave 100 ms before the client has it, for both clients alike.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from . import machine
from .parsing import median
from .servers import PYTHON, REPO, SERVICES, ServerFailed, free_port, stop, tail

STYLESHEETS: Final = 30
SCRIPTS: Final = 30
IMAGES: Final = 39
RESOURCES: Final = STYLESHEETS + SCRIPTS + IMAGES + 1  # + the icon
SITE: Final = "page100"
PAGE: Final = f"/{SITE}/index.html"
CLIENT_TIMEOUT: Final = 60.0
LATENCY_MS: Final = 100
"""The impairment relay's latency on every chunk from the server to the client."""
# As in bench.run: wait for a quiet machine before each pair of runs.
QUIET_BUSY: Final = 0.25
QUIET_SLACK: Final = 0.3
QUIET_WAIT: Final = 5.0
QUIET_BUDGET: Final = 30.0
HEAD_LIMIT: Final = 16 * 1024
"""Bytes of request head the page server reads before it gives up on a client (431)."""


def write_site(root: Path) -> None:
    """The 100-resource page under ``root/page100``."""
    site = root / SITE
    for sub in ("css", "js", "img"):
        (site / sub).mkdir(parents=True, exist_ok=True)
    head = ['<link rel="icon" href="img/icon.png">']
    body = []
    for i in range(STYLESHEETS):
        (site / "css" / f"s{i}.css").write_text(
            "".join(f".c{i}-{j} {{ margin: {j}px; color: #{j:06x}; }}\n" for j in range(60))
        )
        head.append(f'<link rel="stylesheet" href="css/s{i}.css">')
    for i in range(SCRIPTS):
        (site / "js" / f"a{i}.js").write_text(
            "".join(f"function f{i}_{j}(x) {{ return x * {j} + {i}; }}\n" for j in range(60))
        )
        body.append(f'<script src="js/a{i}.js"></script>')
    for i in range(IMAGES):
        (site / "img" / f"p{i}.png").write_bytes(bytes((i * 7 + j) % 256 for j in range(4096)))
        body.append(f'<img src="img/p{i}.png" alt="picture {i}">')
    (site / "img" / "icon.png").write_bytes(bytes(range(256)) * 4)
    (site / "index.html").write_text(
        f"<!doctype html>\n<html><head><meta charset=utf-8><title>{RESOURCES} resources</title>\n"
        + "\n".join(head)
        + f"\n</head><body>\n<h1>A page with {RESOURCES} resources</h1>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css",
    ".js": "text/javascript",
    ".png": "image/png",
}


def _now_us() -> int:
    return time.perf_counter_ns() // 1000


class PageServer:
    """HTTP/1.1 with keep-alive for GET and HEAD of the page's files under ``root``, answered from
    memory by one thread per connection, on 127.0.0.1. Every answered request is kept as
    ``(first byte in µs, response written in µs, status, path)``. A missing file gets a 404;
    a bad request (a malformed head, a body, another method) a 4xx and its connection closed,
    and the server keeps serving the others."""

    def __init__(self, root: Path) -> None:
        self._files: dict[str, tuple[str, bytes]] = {}
        for path in sorted((root / SITE).rglob("*")):
            if path.is_file():
                ctype = _TYPES.get(path.suffix, "application/octet-stream")
                self._files["/" + path.relative_to(root).as_posix()] = (ctype, path.read_bytes())
        self.log: list[tuple[int, int, int, str]] = []
        self._busy = 0
        self._idle = threading.Condition()
        # A port below the ephemeral range, as for every server of the bench (servers.free_port)
        self._listener = socket.create_server(("127.0.0.1", free_port()), backlog=128)
        self.port: int = self._listener.getsockname()[1]
        self._closing = False
        self._thread = threading.Thread(target=self._accept, name="page-server", daemon=True)

    def __enter__(self) -> PageServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._closing = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(5)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def settled(self, timeout: float = 2.0) -> None:
        """Wait until no request is between its first byte and its log entry: a client that
        has exited has had every response, but the thread may not have logged the last one."""
        with self._idle:
            self._idle.wait_for(lambda: self._busy == 0, timeout)

    def _accept(self) -> None:
        while not self._closing:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):  # each response is one write: no Nagle delay
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        first = 0
        with conn:
            try:
                while True:
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    if not buffer:
                        first = _now_us()
                        self._begin()
                    buffer += data
                    while b"\r\n\r\n" in buffer:
                        head, _, buffer = buffer.partition(b"\r\n\r\n")
                        if not self._answer(conn, head, first):
                            buffer = b""  # what follows a closing answer is not read
                            return
                        if buffer:  # a pipelined request: it arrived with the last one
                            first = _now_us()
                            self._begin()
                    if len(buffer) > HEAD_LIMIT:
                        buffer = b""
                        self._reply(conn, 431, b"", first, "")
                        return
            finally:
                if buffer:  # the client left in the middle of a request head
                    self._end(None)

    def _begin(self) -> None:
        with self._idle:
            self._busy += 1

    def _end(self, entry: tuple[int, int, int, str] | None) -> None:
        with self._idle:
            if entry is not None:
                self.log.append(entry)
            self._busy -= 1
            self._idle.notify_all()

    def _answer(self, conn: socket.socket, head: bytes, first: int) -> bool:
        """Answer one request head; False when the connection is to be closed."""
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._reply(conn, 400, b"", first, "")
            return False
        method, target, version = parts
        fields = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                self._reply(conn, 400, b"", first, target)
                return False
            fields[name.strip().lower()] = value.strip().lower()
        if "content-length" in fields or "transfer-encoding" in fields:
            self._reply(conn, 400, b"", first, target)  # GET and HEAD only: no bodies
            return False
        if method not in ("GET", "HEAD"):
            self._reply(conn, 405, b"", first, target)
            return False
        found = self._files.get(target.split("?", 1)[0])
        keep = fields.get("connection") != "close" and (
            version == "HTTP/1.1" or fields.get("connection") == "keep-alive"
        )
        if found is None:
            return self._reply(conn, 404, b"", first, target, keep=keep)
        ctype, body = found
        return self._reply(conn, 200, body, first, target, ctype, keep=keep, head=method == "HEAD")

    def _reply(
        self,
        conn: socket.socket,
        status: int,
        body: bytes,
        first: int,
        target: str,
        ctype: str = "text/plain",
        *,
        keep: bool = False,
        head: bool = False,
    ) -> bool:
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
        lines = [
            f"HTTP/1.1 {status} {reason.get(status, 'Request Header Fields Too Large')}",
            f"Content-Type: {ctype}",
            f"Content-Length: {len(body)}",
            "Connection: " + ("keep-alive" if keep else "close"),
        ]
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head else body)
        try:
            conn.sendall(data)
            sent = True
        except OSError:
            sent = False
        self._end((first, _now_us(), status, target))
        return keep and sent


def window_us(entries: list[tuple[int, int, int, str]]) -> tuple[int, int]:
    """Microseconds from the first request's first byte to the last response's end, and the
    number of requests; (0, 0) for none."""
    if not entries:
        return 0, 0
    return max(e[1] for e in entries) - min(e[0] for e in entries), len(entries)


@contextlib.contextmanager
def impaired(upstream_port: int, work: Path, latency_ms: int) -> Iterator[int]:
    """The lab's impairment relay on 127.0.0.1, forwarding to ``upstream_port`` with
    ``latency_ms`` on every chunk from the server to the client; yields the relay's port."""
    port = free_port()
    profiles = work / f"impair-{port}.toml"
    profiles.write_text(
        "# Written by bench/page.py for one run.\n"
        "[proxies.page]\n"
        f'listen = "127.0.0.1:{port}"\n'
        f'upstream = "127.0.0.1:{upstream_port}"\n'
        f"latency_ms = {latency_ms}\n"
    )
    log_path = work / f"impair-{port}.log"
    env = dict(os.environ, PYTHONPATH=str(SERVICES))
    argv = [PYTHON, "-m", "socketlab.impair", "--profiles", str(profiles), "--host", "127.0.0.1"]
    argv += ["--port", "0", "--log-level", "warning"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                raise ServerFailed(f"impair exited with {process.returncode}:\n{tail(log_path)}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                raise ServerFailed(f"impair not listening on {port} after 15 s:\n{tail(log_path)}")
            time.sleep(0.05)
        yield port
    finally:
        stop(process)


@dataclass
class ClientTimes:
    """Seconds per run for one client: process wall time and the page load the server saw."""

    name: str
    runs: list[float]
    loads: list[float]
    requests: int
    cpu: list[float] = field(default_factory=list)
    """The client process's CPU time (user + system) per run: how much work loading took."""

    def summary(self) -> dict[str, float | int | None]:
        return {
            "page_load_ms": _ms(median(self.loads)),
            "page_load_best_ms": _ms(min(self.loads) if self.loads else None),
            "process_ms": _ms(median(self.runs)),
            "process_best_ms": _ms(min(self.runs) if self.runs else None),
            "client_cpu_ms": _ms(median(self.cpu)),
            "requests": self.requests,
            "errors": 0,
        }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _browser(url: str) -> float:
    env = dict(os.environ, PYTHONPATH=str(SERVICES))
    start = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-m", "socketlab.browser", "--json", url],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
        check=False,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"browser failed ({done.returncode}): {done.stderr[-2000:]}")
    page = json.loads(done.stdout.splitlines()[0])
    if page["summary"]["failed"]:
        raise RuntimeError(f"the browser could not load every resource: {page['summary']}")
    return wall


def _wget(url: str) -> float:
    target = Path(tempfile.mkdtemp(prefix="bench-wget-"))
    try:
        start = time.perf_counter()
        done = subprocess.run(
            [
                "wget",
                "--page-requisites",
                "--no-verbose",
                "-e",
                "robots=off",
                "--directory-prefix",
                str(target),
                url,
            ],
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT,
            check=False,
        )
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"wget failed ({done.returncode}): {done.stderr[-2000:]}")
        return wall
    finally:
        shutil.rmtree(target, ignore_errors=True)


FLOOR: Final = "python3 alone (-c 'import runpy')"
"""The row under the browser's: the same interpreter started and ended with what ``-m`` imports
(runpy and importlib.util), no page. What the browser's process takes beyond it is its own."""


def _interpreter() -> float:
    env = dict(os.environ, PYTHONPATH=str(SERVICES))
    start = time.perf_counter()
    subprocess.run(
        [PYTHON, "-c", "import runpy"],
        env=env,
        cwd=REPO,
        capture_output=True,
        timeout=CLIENT_TIMEOUT,
        check=True,
    )
    return time.perf_counter() - start


CLIENTS: Final[tuple[tuple[str, Callable[[str], float]], ...]] = (
    ("socketlab browser", _browser),
    ("wget --page-requisites", _wget),
)


def byte_compile() -> None:
    """Write the services' bytecode caches, as installing a package does and as a person's first
    run of the browser does: with PYTHONDONTWRITEBYTECODE in the environment (the lab's images
    and this machine's shells set it) every run would otherwise compile some 40 modules from
    source, about 150 ms here, which is not the browser's start-up but a missing cache."""
    subprocess.run(
        [PYTHON, "-m", "compileall", "-q", str(SERVICES / "socketlab")],
        capture_output=True,
        timeout=120,
        check=True,
    )


def run(root: Path, work: Path, repeats: int, latency_ms: int = 0) -> list[ClientTimes]:
    """Both clients ``repeats`` times each, alternating, after one untimed run of each; through
    the impairment relay when ``latency_ms`` is set. The interpreter alone (:data:`FLOOR`)
    follows them in each round, so its row is measured in the same conditions."""
    byte_compile()
    times = [ClientTimes(name, [], [], 0) for name, _ in CLIENTS]
    floor = ClientTimes(FLOOR, [], [], 0)
    gate = machine.Quiet(QUIET_BUSY, QUIET_SLACK, QUIET_WAIT, QUIET_BUDGET)
    with PageServer(root) as server, contextlib.ExitStack() as stack:
        port = server.port
        if latency_ms:
            port = stack.enter_context(impaired(server.port, work, latency_ms))
        url = f"http://127.0.0.1:{port}{PAGE}"
        for _, client in CLIENTS:
            client(url)
        for _ in range(repeats):
            gate.wait()
            for record, (_, client) in zip(times, CLIENTS, strict=True):
                server.settled()
                start = len(server.log)
                cpu = _children_cpu()
                wall = client(url)
                record.cpu.append(_children_cpu() - cpu)
                server.settled()
                entries = server.log[start:]
                bad = [e for e in entries if e[2] != 200]
                if bad:
                    raise RuntimeError(f"{record.name} got {bad[0][2]} for {bad[0][3]}")
                span, count = window_us(entries)
                if not count:
                    raise RuntimeError(f"the page server saw no request of {record.name}")
                record.runs.append(wall)
                record.loads.append(span / 1e6)
                record.requests = count
            cpu = _children_cpu()
            floor.runs.append(_interpreter())
            floor.cpu.append(_children_cpu() - cpu)
    return [*times, floor]


def results(times: list[ClientTimes]) -> list[dict[str, Any]]:
    """The workload's results: each client's runs and their medians."""
    out: list[dict[str, Any]] = []
    for t in times:
        loads: list[float | None] = [*t.loads] or [None] * len(t.runs)  # FLOOR loads no page
        timed = [
            {
                "process_ms": wall * 1000,
                "page_load_ms": None if loaded is None else loaded * 1000,
                "client_cpu_ms": cpu * 1000,
            }
            for wall, loaded, cpu in zip(t.runs, loads, t.cpu, strict=True)
        ]
        out.append({"server": t.name, "description": "", "runs": timed, "summary": t.summary()})
    floor = next((r for r in out if r["server"] == FLOOR), None)
    if floor is not None:
        floor["description"] = (
            "the same interpreter started and ended with what -m imports, no page: the part of "
            "every row above it that is Python's own start-up"
        )
        for r in out:  # the browser's target line names it (bench.report)
            r["summary"]["interpreter_ms"] = floor["summary"]["process_ms"]
    return out
