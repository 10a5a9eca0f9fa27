"""The lab's web servers, started the same way in this process for the suites they share.

``start(kind, ...)`` runs threaded-web's :class:`ThreadedServer` or coroutine-web's
:class:`CoroutineServer` (its event loop in a thread of its own) on 127.0.0.1, port 0, with
either the static site or a handler/application of the test's own; :class:`Running` stops it.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from socketlab import status
from socketlab.asgi import ASGIApp
from socketlab.coroutine_web import CoroutineServer, Site
from socketlab.http.connection import ConnectionConfig, Handler
from socketlab.listener import open_listener
from socketlab.static import StaticFiles
from socketlab.threaded_web import LabSite, ThreadedServer

SERVERS = ("threaded-web", "coroutine-web")
"""Every server the shared suites run against (the ids of their parametrised fixtures)."""

STOP_TIMEOUT = 15.0


@dataclass
class Running:
    kind: str
    server: ThreadedServer | CoroutineServer
    thread: threading.Thread
    root: Path | None

    @property
    def port(self) -> int:
        return int(self.server.address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def file(self, name: str) -> Path:
        """A file of the static site this server serves."""
        assert self.root is not None, "this server has no static root"
        return self.root / name

    @property
    def overloaded(self) -> int:
        return self.server.overloaded

    def open_connections(self) -> int:
        """How many connections the server holds now (its scoreboard's rows)."""
        return len(self.server.scoreboard)

    def idle_connections(self) -> int:
        """How many connections wait idle between requests (parked, so evictable)."""
        return self.server.scoreboard.counts()[status.IDLE]

    def mid_head(self) -> int:
        """How many held connections have part of a request head buffered: not idle ones."""
        server = self.server
        if isinstance(server, CoroutineServer):
            return int(self.call(lambda: sum(not c.idle for c in server.connections)))
        while True:  # the poller's thread changes the set: copy it, again if it changed meanwhile
            try:
                held = list(server.poller.held)
            except RuntimeError:
                continue
            return sum(bool(h.conn.parser.buffer) for h in held)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)

    def stop(self) -> None:
        if isinstance(self.server, CoroutineServer):
            self.server.stop_threadsafe("test done")
        else:
            self.server.stop("test done")
        self.thread.join(STOP_TIMEOUT)
        assert not self.thread.is_alive(), f"{self.kind} did not stop"

    def call(self, function: Callable[[], Any]) -> Any:
        """Run ``function`` on coroutine-web's loop and return its result (to inspect state)."""
        assert isinstance(self.server, CoroutineServer)
        done = threading.Event()
        box: list[Any] = []

        def run() -> None:
            box.append(function())
            done.set()

        self.server.loop.call_soon_threadsafe(run)
        assert done.wait(5)
        return box[0]


def start(
    kind: str,
    *,
    root: Path | None = None,
    handler: Handler | None = None,
    app: ASGIApp | None = None,
    config: ConnectionConfig | None = None,
    **kwargs: Any,
) -> Running:
    """Start ``kind`` serving ``root`` (the static site), or ``handler`` (threaded-web) /
    ``app`` (coroutine-web, ASGI)."""
    config = config or ConnectionConfig()
    listener = open_listener("127.0.0.1", 0)
    static = StaticFiles(root) if root is not None else None
    if kind == "threaded-web":
        board = status.Scoreboard("threaded-web")
        if handler is None:
            assert static is not None
            handler = LabSite(static, board)
        threaded = ThreadedServer(listener, handler, config, scoreboard=board, **kwargs)
        thread = threading.Thread(target=threaded.serve_forever, daemon=True)
        thread.start()
        return Running(kind, threaded, thread, root)
    assert kind == "coroutine-web", kind
    board = status.Scoreboard("coroutine-web")
    site = Site(app, static, board, status.parse_allow(status.DEFAULT_ALLOW))
    server = CoroutineServer(listener, site, config, scoreboard=board, **kwargs)
    started = threading.Event()

    async def main() -> None:
        started.set()
        await server.serve()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    started.wait(5)
    return Running(kind, server, thread, root)
