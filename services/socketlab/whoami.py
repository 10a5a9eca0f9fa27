"""``/whoami``: the lab's main instrument. It shows the connection as the *server* sees it.

The keys are a contract shared by threaded-web and multiprocess-web (tests and exercises read
them): ``client_ip``, ``client_port``, ``server_ip``, ``server_port``, ``hostname``, ``pid``,
``thread``, ``request_index`` (1 for the first request on this TCP connection, 2 for the next...),
``headers``; plus ``method``, ``target``, ``http_version`` and ``service``.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from typing import Any

from .http import errors
from .http.connection import Exchange

_HOSTNAME = socket.gethostname()


def describe(exchange: Exchange, service: str, **extra: Any) -> dict[str, Any]:
    request = exchange.request
    doc: dict[str, Any] = {
        "client_ip": exchange.client[0],
        "client_port": exchange.client[1],
        "server_ip": exchange.server[0],
        "server_port": exchange.server[1],
        "hostname": _HOSTNAME,
        "pid": os.getpid(),
        "thread": threading.current_thread().name,
        "request_index": exchange.request_index,
        "method": request.method,
        "target": request.target,
        "http_version": request.http_version,
        "service": service,
        "headers": request.headers.as_dict(),
    }
    doc.update(extra)
    return doc


def respond(exchange: Exchange, service: str, **extra: Any) -> None:
    if exchange.request.method not in ("GET", "HEAD"):
        raise errors.MethodNotAllowed(("GET", "HEAD"))
    body = json.dumps(describe(exchange, service, **extra), indent=2).encode() + b"\n"
    exchange.respond(
        200,
        [("Content-Type", "application/json"), ("Cache-Control", "no-store")],
        body,
    )
