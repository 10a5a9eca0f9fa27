"""Each server of the benchmark as a plain process on 127.0.0.1: how to start it, know that it
is ready, and stop it.

Ports are picked free (bind to port 0, read the number back, close) just before each start;
nothing is hard-coded. Every server's output goes to a log file in the run's work directory,
and its last lines are shown if it fails to start.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parents[1]
SERVICES: Final = REPO / "services"
PYTHON: Final = sys.executable
"""One interpreter for every Python server: ours, the standard library's, gunicorn, waitress."""

START_TIMEOUT: Final = 15.0
"""Seconds a server gets to answer its first request (gunicorn imports a lot)."""

STOP_TIMEOUT: Final = 15.0
"""Seconds after SIGTERM before SIGKILL (multiprocess-web waits for its workers)."""


class ServerFailed(RuntimeError):
    """A server did not come up, or died during its run."""


@dataclass
class Server:
    """How to run one server; ``{port}``, ``{root}``, ``{work}`` are filled in at start."""

    name: str
    argv: list[str]
    kind: str = "http"  # "http" (ready when GET ready_path answers) or "udp" (port bound)
    ready_path: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    setup: str = ""  # "nginx" or "nginx-one-worker": write its configuration file first
    description: str = ""


SERVER_PORTS: Final = (20_000, 32_000)
"""Where server ports are picked: below Linux's ephemeral range (32768-60999), so that a
server's port is never also a client port of ab or wrk in the same run."""


def free_port(kind: str = "tcp") -> int:
    """A port below the ephemeral range that nothing uses now, not even a connection in
    TIME_WAIT: the bind is tried without SO_REUSEADDR, which fails on those. (A server port
    used again while earlier connections to it linger in TIME_WAIT makes ab's new SYNs meet
    them and wait for a retransmission; two runs failed on a 5 s ab timeout that way.)"""
    family_type = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    rng = random.Random()  # noqa: S311 -- picking a port, not a secret
    for _ in range(1000):
        port = rng.randrange(*SERVER_PORTS)
        with socket.socket(socket.AF_INET, family_type) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise ServerFailed(f"no free port between {SERVER_PORTS[0]} and {SERVER_PORTS[1]}")


NGINX_CONF: Final = """\
# Written by bench/servers.py for one run: nginx as the ceiling, serving the same files.
daemon off;
master_process on;
worker_processes {workers};
pid {work}/nginx.pid;
error_log stderr warn;
user root;
events {{ worker_connections 1024; }}
http {{
    log_format bench '$msec $request_time $status $request_uri';
    access_log {access_log};
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    types {{ text/html html; text/css css; text/javascript js; text/plain txt;
             image/png png; image/x-icon ico; }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port} backlog=1024;
        root {root};
    }}
}}
"""


@dataclass
class Running:
    server: Server
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise ServerFailed(
                f"{self.server.name} exited with {self.process.returncode}:\n{tail(self.log_path)}"
            )


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


@contextlib.contextmanager
def running(
    server: Server,
    root: Path,
    work: Path,
    *,
    access_log: bool = False,
) -> Iterator[Running]:
    """Start ``server``, wait until it answers, yield it, and stop it (SIGTERM, then SIGKILL)."""
    port = free_port("udp" if server.kind == "udp" else "tcp")
    values = {"port": str(port), "root": str(root), "work": str(work), "python": PYTHON}
    if server.setup in ("nginx", "nginx-one-worker"):
        conf = work / f"nginx-{port}.conf"
        conf.write_text(
            NGINX_CONF.format(
                work=work,
                port=port,
                root=root,
                workers="1" if server.setup == "nginx-one-worker" else "auto",
                access_log=f"{work}/nginx-access.log bench" if access_log else "off",
            )
        )
        values["conf"] = str(conf)
    argv = [_fill(arg, values) for arg in server.argv]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SERVICES), str(REPO)])
    env.update({k: _fill(v, values) for k, v in server.env.items()})
    log_path = work / f"{server.name.replace(' ', '_').replace('/', '_')}-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True
        )
    run = Running(server, port, process, log_path)
    try:
        _wait_ready(run)
        yield run
    finally:
        stop(process)


def _wait_ready(run: Running) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last = "no attempt"
    while time.monotonic() < deadline:
        run.check_alive()
        if run.server.kind == "udp":
            if _udp_port_taken(run.port):
                return
            last = "port not bound yet"
        else:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", run.port, timeout=2)
                conn.request("GET", run.server.ready_path)
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    return
                last = f"status {status}"
            except OSError as exc:
                last = str(exc)
        time.sleep(0.05)
    raise ServerFailed(
        f"{run.server.name} not ready after {START_TIMEOUT} s ({last}):\n{tail(run.log_path)}"
    )


def _udp_port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
        return False


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server (its whole session: prefork workers, nginx workers), then SIGKILL."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # Leftovers of the session (a worker that outlived its parent) go too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _py(module: str, *args: str) -> list[str]:
    return ["{python}", "-m", module, *args]


OURS_STATIC: Final = Server(
    "threaded-web",
    _py(
        "socketlab.threaded_web",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--root",
        "{root}",
        "--log-level",
        "warning",
        "--no-ledger",
    ),
    ready_path="/healthz",
    description="socketlab threaded-web: a poller holds connections, a thread pool serves "
    "requests; the poller answers small files in memory itself",
)

OURS_STATIC_THREADS_ONLY: Final = replace(
    OURS_STATIC,
    name="threaded-web, every request on a thread",
    argv=[*OURS_STATIC.argv, "--no-poller-answers"],
    description="socketlab threaded-web with --no-poller-answers: every request is handed to "
    "a worker thread and back (the design without the poller's answers, for comparison)",
)

OURS_STATIC_LOGGING: Final = Server(
    "threaded-web",
    _py(
        "socketlab.threaded_web",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--root",
        "{root}",
        "--log-level",
        "info",
        "--no-ledger",
    ),
    ready_path="/healthz",
    description="socketlab threaded-web with its access log at info (to a file)",
)

STDLIB_STATIC: Final = Server(
    "stdlib ThreadingHTTPServer",
    _py("bench.stdlib_server", "--port", "{port}", "--root", "{root}"),
    ready_path="/1k.bin",
    description="http.server ThreadingHTTPServer + SimpleHTTPRequestHandler, HTTP/1.1, "
    "TCP_NODELAY, backlog 1024",
)

STDLIB_STATIC_LOGGING: Final = Server(
    "stdlib ThreadingHTTPServer",
    _py("bench.stdlib_server", "--port", "{port}", "--root", "{root}", "--log"),
    ready_path="/1k.bin",
    description="the same, logging each request to stderr (to a file)",
)

NGINX: Final = Server(
    "nginx",
    ["nginx", "-c", "{conf}", "-p", "{work}", "-e", "stderr"],
    ready_path="/1k.bin",
    setup="nginx",
    description="nginx, worker_processes auto, sendfile, access_log off",
)

NGINX_ONE_WORKER: Final = Server(
    "nginx, one worker",
    ["nginx", "-c", "{conf}", "-p", "{work}", "-e", "stderr"],
    ready_path="/1k.bin",
    setup="nginx-one-worker",
    description="nginx, worker_processes 1 (one process serves, as in threaded-web), "
    "access_log off",
)

NGINX_LOGGING: Final = Server(
    "nginx",
    ["nginx", "-c", "{conf}", "-p", "{work}", "-e", "stderr"],
    ready_path="/1k.bin",
    setup="nginx",
    description="nginx with its access log (to a file)",
)

WSGI_WORKERS: Final = 4
"""Worker processes for every prefork WSGI server: multiprocess-web's default, on 2 cores."""

GTHREAD_THREADS: Final = 4
"""Threads per gunicorn gthread worker (waitress runs 4 threads by default too)."""

APP_DIR: Final = str(REPO / "bench" / "apps")


def multiprocess_web(mode: str, *args: str) -> list[str]:
    """multiprocess-web on 127.0.0.1 in ``mode``, with the lab's config file and ``args`` (which
    win over it); ``make soak`` runs it with the lab's own site, the benchmark with hello:app."""
    return _py(
        "socketlab.multiprocess_web",
        "--config",
        str(REPO / "configs/multiprocess-web.toml"),
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--mode",
        mode,
        "--log-level",
        "warning",
        *args,
    )


OURS_WSGI: Final = Server(
    "multiprocess-web prefork",
    multiprocess_web(
        "prefork",
        "--workers",
        str(WSGI_WORKERS),
        "--app",
        "hello:app",
        "--app-path",
        APP_DIR,
        "--no-ledger",
    ),
    description=f"socketlab multiprocess-web, prefork, {WSGI_WORKERS} workers",
)

GUNICORN_SYNC: Final = Server(
    "gunicorn sync",
    _py(
        "gunicorn",
        "--workers",
        str(WSGI_WORKERS),
        "--worker-class",
        "sync",
        "--bind",
        "127.0.0.1:{port}",
        "--backlog",
        "1024",
        "--chdir",
        APP_DIR,
        "--log-level",
        "warning",
        "hello:app",
    ),
    description=f"gunicorn, {WSGI_WORKERS} sync workers, no access log (its default)",
)

GUNICORN_GTHREAD: Final = Server(
    "gunicorn gthread",
    _py(
        "gunicorn",
        "--workers",
        str(WSGI_WORKERS),
        "--worker-class",
        "gthread",
        "--threads",
        str(GTHREAD_THREADS),
        "--bind",
        "127.0.0.1:{port}",
        "--backlog",
        "1024",
        "--chdir",
        APP_DIR,
        "--log-level",
        "warning",
        "hello:app",
    ),
    description=f"gunicorn, {WSGI_WORKERS} gthread workers x {GTHREAD_THREADS} threads",
)

WAITRESS: Final = Server(
    "waitress",
    _py("waitress", "--listen=127.0.0.1:{port}", "--backlog=1024", "--threads=4", "hello:app"),
    env={"PYTHONPATH": os.pathsep.join([APP_DIR, str(SERVICES), str(REPO)])},
    description="waitress, one process, 4 threads (its default)",
)

OURS_COROUTINE_STATIC: Final = Server(
    "coroutine-web",
    _py(
        "socketlab.coroutine_web",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--root",
        "{root}",
        "--app",
        "",
        "--log-level",
        "warning",
        "--no-ledger",
    ),
    ready_path="/healthz",
    description="socketlab coroutine-web, one thread, one event loop, static files only",
)

OURS_ASGI: Final = Server(
    "coroutine-web",
    _py(
        "socketlab.coroutine_web",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--root",
        "",
        "--app",
        "asgi_hello:app",
        "--app-path",
        APP_DIR,
        "--log-level",
        "warning",
        "--no-ledger",
    ),
    ready_path="/healthz",
    description="socketlab coroutine-web, one process, one thread, asyncio's own loop",
)


ACCESS_LOG_ON: Final = ", access log on"
"""Suffix of the logged twin of a server (see :func:`logged`)."""


def logged(server: Server) -> Server:
    """``server`` with its access log on (``--log-level info``, to the run's log file), under a
    name of its own so that both variants run, alternating, in one workload."""
    argv = list(server.argv)
    argv[argv.index("--log-level") + 1] = "info"
    return replace(
        server,
        name=server.name + ACCESS_LOG_ON,
        argv=argv,
        description=server.description + "; access log on (to a file)",
    )


def _uvicorn(http: str, loop: str) -> list[str]:
    return _py(
        "uvicorn",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--http",
        http,
        "--loop",
        loop,
        "--no-access-log",
        "--log-level",
        "warning",
        "--backlog",
        "1024",
        "--app-dir",
        APP_DIR,
        "asgi_hello:app",
    )


UVICORN_H11: Final = Server(
    "uvicorn h11",
    _uvicorn("h11", "asyncio"),
    description="uvicorn, one process, --http h11 --loop asyncio, no access log",
)

UVICORN_HTTPTOOLS: Final = Server(
    "uvicorn httptools",
    _uvicorn("httptools", "asyncio"),
    description="uvicorn, one process, --http httptools (C parser) --loop asyncio",
)

UVICORN_UVLOOP: Final = Server(
    "uvicorn httptools+uvloop",
    _uvicorn("httptools", "uvloop"),
    description="uvicorn with httptools and uvloop (both in C): the ceiling",
)

HYPERCORN: Final = Server(
    "hypercorn",
    _py(
        "hypercorn",
        "--bind",
        "127.0.0.1:{port}",
        "--backlog",
        "1024",
        "--workers",
        "1",
        "--log-level",
        "warning",
        "asgi_hello:app",
    ),
    env={"PYTHONPATH": os.pathsep.join([APP_DIR, str(SERVICES), str(REPO)])},
    description="hypercorn, one worker, asyncio, no access log (its default)",
)

OURS_CHAT: Final = Server(
    "udp-chat",
    _py(
        "socketlab.udp_chat",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--rate",
        "1000000",
        "--burst",
        "1000000",
        "--max-members",
        "64",
        "--log-level",
        "warning",
        "--no-ledger",
    ),
    kind="udp",
    description="socketlab udp-chat, rate limit lifted, log at warning",
)

UDP_ECHO: Final = Server(
    "minimal echo loop",
    _py("bench.udp_echo", "--port", "{port}"),
    kind="udp",
    description="recvfrom, then sendto every other address (bench/udp_echo.py)",
)

OURS_STATIC_LOGGED: Final = logged(OURS_STATIC)
OURS_COROUTINE_STATIC_LOGGED: Final = logged(OURS_COROUTINE_STATIC)
OURS_WSGI_LOGGED: Final = logged(OURS_WSGI)
