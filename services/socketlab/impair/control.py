"""The relay's control API, served by the lab's HTTP core (``socketlab.http``).

* ``GET /healthz`` -- ``ok`` (the container's healthcheck);
* ``GET /proxies`` -- every proxy with its toxics and live counters, as JSON;
* ``GET /proxies/<name>`` -- one of them;
* ``POST /proxies/<name>`` -- change its toxics at once, for the connections already open too:
  a JSON object of toxic keys (``{"latency_ms": 100}``; ``"stream"`` says which direction,
  downstream by default). Answers the proxy as it is now; 400 names a bad key or value.

`make impair PROFILE=<name>` posts the profile's toxics from configs/impair.toml here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Mapping
from typing import Any, Final

from ..http.connection import Connection, Exchange
from ..listener import tune_accepted
from .relay import Proxy

log = logging.getLogger("socketlab.impair.control")

MAX_BODY: Final = 16384
"""Largest control request body: a handful of toxic keys fit in far less."""

JSON_TYPE: Final = ("Content-Type", "application/json")


class ControlSite:
    """The handler: what each path answers."""

    def __init__(self, proxies: Mapping[str, Proxy]) -> None:
        self.proxies = proxies

    def __call__(self, exchange: Exchange) -> None:
        request = exchange.request
        path = request.path.rstrip("/") or "/"
        if path == "/healthz":
            exchange.respond(200, [("Content-Type", "text/plain; charset=utf-8")], b"ok\n")
        elif path == "/proxies" and request.method in ("GET", "HEAD"):
            self._json(exchange, 200, {n: p.describe() for n, p in self.proxies.items()})
        elif path.startswith("/proxies/"):
            self._one(exchange, path.removeprefix("/proxies/"))
        else:
            self._json(exchange, 404, {"error": f"no such path {path!r}; try GET /proxies"})

    def _one(self, exchange: Exchange, name: str) -> None:
        proxy = self.proxies.get(name)
        if proxy is None:
            known = ", ".join(sorted(self.proxies))
            self._json(exchange, 404, {"error": f"no proxy {name!r} (proxies: {known})"})
            return
        method = exchange.request.method
        if method in ("GET", "HEAD"):
            self._json(exchange, 200, proxy.describe())
            return
        if method != "POST":
            self._json(exchange, 405, {"error": "use GET or POST"}, [("Allow", "GET, HEAD, POST")])
            return
        body = exchange.read(MAX_BODY + 1)
        while len(body) <= MAX_BODY and (more := exchange.read(MAX_BODY + 1 - len(body))):
            body += more
        if len(body) > MAX_BODY:
            self._json(exchange, 413, {"error": f"body larger than {MAX_BODY} bytes"})
            return
        try:
            values = json.loads(body or b"{}")
            if not isinstance(values, dict):
                raise ValueError("expects a JSON object of toxic keys")
            proxy.update(values)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            self._json(exchange, 400, {"error": str(exc)})
            return
        self._json(exchange, 200, proxy.describe())

    @staticmethod
    def _json(
        exchange: Exchange,
        status: int,
        doc: Any,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        body = json.dumps(doc, indent=2).encode() + b"\n"
        exchange.respond(status, [JSON_TYPE, *(headers or [])], body)


class ControlServer:
    """Accepts on ``listener`` and serves each connection in its own thread (a few operators,
    never a crowd: no pool needed)."""

    def __init__(self, listener: socket.socket, site: ControlSite) -> None:
        self.listener = listener
        self.site = site
        self.address = listener.getsockname()[:2]
        self.stopping = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._accept, name="control", daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, addr = self.listener.accept()
            except OSError:
                if self.stopping.is_set():
                    return
                continue
            tune_accepted(sock)
            conn = Connection(sock, (addr[0], addr[1]), self.site)
            threading.Thread(target=conn.serve, name="control-conn", daemon=True).start()
