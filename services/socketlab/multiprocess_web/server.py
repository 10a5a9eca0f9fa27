"""multiprocess-web: a process-based WSGI server on raw sockets, the lab's second web server.

Run it from the repository root::

    PYTHONPATH=services python3 -m socketlab.multiprocess_web --config configs/multiprocess-web.toml

Two process models, chosen with ``mode``:

* ``fork`` -- the parent accepts and forks a child per connection (at most ``max_children`` at
  once); the child serves that connection's requests and exits (:mod:`.forking`);
* ``prefork`` -- the parent forks ``workers`` children that accept on the shared socket; the
  parent only supervises: it replaces a worker that dies and kills one stuck past ``timeout``
  (:mod:`.prefork`, gunicorn's design).

What a request gets does not depend on the mode (:class:`Site`): ``/healthz`` is answered by the
server itself; a GET or HEAD for a file under ``static_root`` is that file (the same static
module as threaded-web); everything else -- ``/``, every path ending in ``.py``, the lab's
instruments -- goes to the WSGI application ``app`` (``module:callable``), by default the lab's
own site built on the mini framework (:mod:`socketlab.labapp`). Every response names the
process that made it in ``X-Worker-Pid``, and so does the access log line.

SIGTERM or SIGINT: stop accepting, let requests in flight finish (at most ``graceful_timeout``
seconds), exit 0. A bad setting anywhere (file, environment, flag) is one line on stderr and
exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from .. import ledger, logs, settings, status
from ..http import errors
from ..http.connection import Exchange
from ..http.parser import Request
from ..http.settings import (
    connection_config,
    max_connections_setting,
    server_settings,
    status_allow_setting,
)
from ..listener import open_listener, raise_descriptor_limit
from ..settings import Setting
from ..static import CACHE_CONTROL_SETTING, StaticFiles, parse_cache_rules
from ..wsgi import WSGIGateway
from ..wsgi.apploader import AppLoadError, check_spec, load_app
from .board import WorkerBoard, WorkerRow
from .deadlines import DeadlineTable
from .forking import ForkingServer
from .prefork import PreforkServer
from .supervisor import Supervisor
from .worker import Worker

log = logging.getLogger("socketlab.multiprocess_web")

SERVICE: Final = "multiprocess-web"
PROG: Final = "python3 -m socketlab.multiprocess_web"
HEALTH_PATH: Final = "/healthz"
WORKER_PID_HEADER: Final = "X-Worker-Pid"

MODES: Final = ("fork", "prefork")

WORKERS: Final = 4
"""Default prefork pool size. gunicorn suggests 2 x cores + 1 for its sync workers; the lab's
machines have 2 cores, and 4 keeps a browser's parallel requests plus a slow one moving."""

MAX_WORKERS: Final = 64
"""Upper bound for ``workers``: each is a whole Python process (~15 MB resident)."""

MAX_CHILDREN: Final = 64
"""Default cap on live children in fork mode: the most connections served at once. A browser
opens up to 6; 64 is a classroom's worth, and well under the default process limits."""

MAX_CONNECTIONS: Final = 4096
"""Prefork: default bound on the connections one worker holds in its poller (past it the oldest
idle one is closed, else 503)."""

MAX_CHILDREN_LIMIT: Final = 1024
"""Upper bound for ``max_children`` (the deadline table holds one slot per child)."""

TIMEOUT: Final = 30.0
"""Seconds one request may take before its worker is killed (gunicorn's default timeout)."""

GRACEFUL_TIMEOUT: Final = 12.0
"""Seconds requests in flight get after SIGTERM: more than the longest /delay (10 s), less than
the compose stop_grace_period (20 s), so Docker never has to SIGKILL the server."""

SETTINGS: Final = (
    *server_settings(host="127.0.0.1", port=8888, graceful_timeout=GRACEFUL_TIMEOUT),
    Setting(
        "mode",
        str,
        "prefork",
        "process model: 'fork' (a child per connection) or 'prefork' (a fixed pool)",
        choices=MODES,
    ),
    Setting(
        "workers",
        int,
        WORKERS,
        "prefork: worker processes in the pool",
        minimum=1,
        maximum=MAX_WORKERS,
        metavar="N",
    ),
    Setting(
        "max_children",
        int,
        MAX_CHILDREN,
        "fork: most children (connections) alive at once",
        minimum=1,
        maximum=MAX_CHILDREN_LIMIT,
        metavar="N",
    ),
    Setting(
        "timeout",
        float,
        TIMEOUT,
        "seconds a request may run before its worker is killed (504 to the client)",
        minimum=1,
        maximum=3600,
        metavar="SECONDS",
    ),
    Setting(
        "static_root",
        str,
        "services/www",
        "directory whose files are served as they are ('' serves none)",
        metavar="DIR",
        check=settings.check_directory,
    ),
    CACHE_CONTROL_SETTING,
    Setting(
        "app",
        str,
        "socketlab.labapp:app",
        "the WSGI application, as module:callable",
        check=check_spec,
        metavar="MODULE:CALLABLE",
    ),
    Setting(
        "app_path",
        list,
        [],
        "directories searched first for the application's module",
        metavar="DIR,...",
    ),
    max_connections_setting(
        MAX_CONNECTIONS,
        "prefork: most connections one worker holds; past it the oldest idle one is "
        "closed, else 503",
    ),
    status_allow_setting(),
    logs.level_setting(),
)


class Site:
    """What multiprocess-web answers, in this order: health, the scoreboard, static files, the
    application."""

    def __init__(
        self,
        app: WSGIGateway,
        static: StaticFiles | None,
        status_allow: status.Networks | None = None,
        mode: str = "prefork",
    ) -> None:
        self.app = app
        self.static = static
        self.mode = mode
        self.status_allow = (
            status_allow if status_allow is not None else status.parse_allow(status.DEFAULT_ALLOW)
        )
        # Set in each child (see build_server): its own connections, and every child's row.
        self.scoreboard: status.Scoreboard | None = None
        self.board: WorkerBoard | None = None
        self.deadlines: DeadlineTable | None = None
        self.refresh: Callable[[], None] = lambda: None

    def __call__(self, exchange: Exchange) -> None:
        request = exchange.request
        if request.path == HEALTH_PATH:
            if request.method not in ("GET", "HEAD"):
                raise errors.MethodNotAllowed(("GET", "HEAD"))
            exchange.respond(
                200,
                [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")],
                b"ok\n",
            )
        elif request.path == status.PATH and self.scoreboard is not None:
            status.check_access(exchange, self.status_allow)
            status.respond_document(exchange, self.server_status())
        elif self.static is not None and self.is_static(request):
            self.static.serve(exchange)
        else:
            self.app(exchange)

    def _in_a_request(self, row: WorkerRow) -> dict[str, int]:
        """A worker's counts per state, with the request it is in now counted as working.

        A prefork worker publishes its counts between requests, at most every quarter of a
        second, not as each request starts (that would cost every request); a worker that went
        from idle into a long request would show idle for all of it. The deadline table, which
        every request writes anyway, says it is busy: one of its connections is working."""
        counts = dict(row.counts)
        deadlines = self.deadlines
        if counts.get(status.WORKING, 0) or deadlines is None or row.slot >= deadlines.slots:
            return counts
        if deadlines.read(row.slot).busy:
            counts[status.WORKING] = 1
            for moved_from in (status.IDLE, status.READING_HEAD):
                if counts.get(moved_from, 0):
                    counts[moved_from] -= 1
                    break
        return counts

    def server_status(self) -> dict[str, Any]:
        """The answering child's own scoreboard, plus every child's row of the worker board.

        fork mode: each child is one connection, so the rows are every open connection (from
        the board). prefork: the rows are this worker's connections; ``workers`` gives every
        worker's counts per state, and ``states`` sums them for the whole server."""
        assert self.scoreboard is not None
        self.refresh()
        doc = self.scoreboard.snapshot()
        doc["service"] = SERVICE
        doc["mode"] = self.mode
        rows = self.board.rows() if self.board is not None else []
        now = time.monotonic()
        doc["workers"] = []
        for row in rows:
            counts = self._in_a_request(row)
            doc["workers"].append(
                {
                    "slot": row.slot,
                    "pid": row.pid,
                    "states": counts,
                    "connections": sum(counts.values()),
                    "requests": row.requests,
                    "peer": row.peer,
                }
            )
        if rows:
            totals = dict.fromkeys(status.STATES, 0)
            for worker in doc["workers"]:
                for state, n in worker["states"].items():
                    totals[state] += n
            doc["states"] = totals
            doc["connections"] = sum(totals.values())
        if self.mode == "fork":
            doc["rows_scope"] = "every child (one connection each), from the worker board"
            doc["rows"] = [
                {
                    "peer": row.peer,
                    "state": next((s for s, n in row.counts.items() if n), status.READING_HEAD),
                    "age": round(now - row.opened, 3) if row.opened else 0.0,
                    "in_state": None,
                    "worker": f"pid={row.pid}",
                    "pid": row.pid,
                    "requests": row.requests,
                }
                for row in rows[: status.MAX_ROWS]
            ]
            doc["rows_shown"] = len(doc["rows"])
        else:
            doc["rows_scope"] = (
                f"the connections of worker {os.getpid()}, which answered; every worker's "
                "counts are in 'workers'"
            )
        return doc

    def is_static(self, request: Request) -> bool:
        """A GET or HEAD for a regular file under the static root (never a ``.py`` path, never
        a directory: ``/`` is the application's index)."""
        if request.method not in ("GET", "HEAD") or request.path.endswith(("/", ".py")):
            return False
        assert self.static is not None
        try:
            _, _, redirect = self.static.resolve(request.path)
        except errors.HTTPError:
            return False
        return not redirect


def build_server(args: argparse.Namespace, site: Site, listener: socket.socket) -> Supervisor:
    """The supervisor for ``args.mode``, with a worker factory that runs in each new child."""
    base_config = connection_config(args)
    timeout: float = args.timeout
    parent = os.getpid()
    server: Supervisor

    def make_worker(slot: int) -> Worker:
        # Runs in the child: its own PID goes into every response head it sends.
        config = dataclasses.replace(
            base_config, extra_headers=((WORKER_PID_HEADER, str(os.getpid())),)
        )
        board = status.Scoreboard(SERVICE)
        site.scoreboard, site.board = board, server.board  # this child's copy of the site
        site.deadlines = server.deadlines
        worker = Worker(
            site,
            config,
            deadlines=server.deadlines,
            slot=slot,
            timeout=timeout,
            parent_pid=parent,
            board=server.board,
            scoreboard=board,
            max_connections=args.max_connections,
        )
        site.refresh = worker.publish  # its own row is fresh in the answer it makes
        return worker

    if args.mode == "fork":
        server = ForkingServer(
            listener,
            make_worker,
            max_children=args.max_children,
            timeout=timeout,
            graceful_timeout=args.graceful_timeout,
        )
    else:
        server = PreforkServer(
            listener,
            make_worker,
            workers=args.workers,
            timeout=timeout,
            graceful_timeout=args.graceful_timeout,
        )
    return server


def main(argv: Sequence[str] | None = None) -> int:
    args = settings.load(
        SETTINGS, argv, prog=PROG, description=__doc__.split("\n\n")[0], config_flag=True
    )
    logs.setup(args.log_level)
    ledger.configure(SERVICE, args.ledger)
    soft, hard = raise_descriptor_limit()  # prefork workers hold many connections each
    log.info("descriptor limit %d (hard %d)", soft, hard)
    static: StaticFiles | None = None
    if args.static_root:
        try:
            static = StaticFiles(args.static_root, parse_cache_rules(args.cache_control))
        except OSError as exc:
            print(
                f"{PROG}: error: 'static_root' {args.static_root!r}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return 2
    try:
        # Loaded once, in the parent: every child inherits it already imported (gunicorn's
        # --preload), and a broken application stops the server before it listens.
        app = load_app(args.app, args.app_path)
    except AppLoadError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    try:
        listener = open_listener(args.host, args.port, args.backlog)
    except OSError as exc:
        print(
            f"{PROG}: error: cannot listen on {args.host}:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    gateway = WSGIGateway(
        app, multiprocess=True, multithread=False, extra_environ={"socketlab.mode": args.mode}
    )
    site = Site(gateway, static, status.parse_allow(args.status_allow), args.mode)
    server = build_server(args, site, listener)
    log.info("serving %s (static root %s)", args.app, static.root if static else "none")
    server.run()
    return 0
