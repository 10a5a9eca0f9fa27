"""The lab's servers run in the test's own process, on 127.0.0.1 at a port the kernel picks.

* :func:`threaded_web` serves a site with threaded-web (the browser's tests visit it).
* :func:`gateway_server` serves a WSGI application through :class:`socketlab.wsgi.WSGIGateway`
  on threaded-web's server: the gateway is the same whatever layer feeds it, and in-process
  failures (wsgiref.validate's assertions) surface in the test.

Both stop the server and join its thread when the block ends.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from socketlab.http.connection import ConnectionConfig
from socketlab.listener import open_listener
from socketlab.static import StaticFiles
from socketlab.threaded_web import LabSite, ThreadedServer
from socketlab.wsgi import WSGIApp, WSGIGateway
from tests.support.paths import WWW

# Seconds to wait for a server's thread once it was told to stop.
JOIN_TIMEOUT = 10.0


@contextlib.contextmanager
def serving(server: ThreadedServer) -> Iterator[threading.Thread]:
    """Run ``server.serve_forever`` in a thread until the block ends."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        server.stop()
        thread.join(JOIN_TIMEOUT)


@contextlib.contextmanager
def threaded_web(root: Path = WWW) -> Iterator[str]:
    """The lab's threaded-web serving ``root`` on 127.0.0.1, port 0; yields its base URL."""
    server = ThreadedServer(open_listener("127.0.0.1", 0), LabSite(StaticFiles(root)))
    with serving(server):
        host, port = server.address
        yield f"http://{host}:{port}"


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
    """Serve ``app`` on 127.0.0.1:<free port> until the block ends.

    Responses carry ``X-Worker-Pid`` (this process), as multiprocess-web's workers' do.
    """
    config = config or ConnectionConfig(extra_headers=(("X-Worker-Pid", str(os.getpid())),))
    server = ThreadedServer(
        open_listener("127.0.0.1", 0), WSGIGateway(app, **gateway), config, graceful_timeout=2.0
    )
    with serving(server) as thread:
        yield GatewayServer(server, thread)
