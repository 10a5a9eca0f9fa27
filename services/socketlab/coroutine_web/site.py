"""What coroutine-web answers, in this order: the server's own paths, static files, the app.

* ``/healthz`` -- ``ok``, from the server itself (the container's healthcheck);
* ``/whoami`` -- the connection as the server sees it, threaded-web's keys plus ``task`` (the
  name of the task serving this connection) and ``tasks`` (how many the loop holds now);
* ``/server-status`` -- the scoreboard (:mod:`socketlab.status`);
* a GET or HEAD for a regular file under the static root -- that file (the same static module as
  the other servers; large files go out with sendfile through the loop);
* everything else -- the ASGI application.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from .. import status, whoami
from ..asgi import ASGIApp, run_http
from ..http import errors
from ..http.connection import Exchange
from ..http.parser import Request
from ..static import StaticFiles
from .connection import HTTPConnection

SERVICE: Final = "coroutine-web"
HEALTH_PATH: Final = "/healthz"
PLAIN: Final = (("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store"))


class Site:
    def __init__(
        self,
        app: ASGIApp | None,
        static: StaticFiles | None,
        scoreboard: status.Scoreboard,
        status_allow: status.Networks,
        *,
        root_path: str = "",
        state: dict[str, Any] | None = None,
    ) -> None:
        self.app = app
        self.static = static
        self.scoreboard = scoreboard
        self.status_allow = status_allow
        self.root_path = root_path
        self.state = state

    async def __call__(self, conn: HTTPConnection, exchange: Exchange) -> None:
        request = exchange.request
        path = request.path
        if path == HEALTH_PATH:
            if request.method not in ("GET", "HEAD"):
                raise errors.MethodNotAllowed(("GET", "HEAD"))
            exchange.respond(200, PLAIN, b"ok\n")
        elif path == "/whoami":
            whoami.respond(exchange, SERVICE, task=conn.name, tasks=len(asyncio.all_tasks()))
        elif path == status.PATH:
            status.respond(exchange, self.scoreboard, self.status_allow)
        elif self.static is not None and (self.app is None or self.is_static(request)):
            self.static.serve(exchange)
        elif self.app is not None:
            await run_http(self.app, conn, exchange, root_path=self.root_path, state=self.state)
        else:
            raise errors.NotFound("no application and no static root")

    def is_static(self, request: Request) -> bool:
        """A GET or HEAD for a regular file under the static root (never a directory: ``/`` is
        the application's index)."""
        if request.method not in ("GET", "HEAD") or request.path.endswith("/"):
            return False
        assert self.static is not None
        try:
            _, _, redirect = self.static.resolve(request.path)
        except errors.HTTPError:
            return False
        return not redirect
