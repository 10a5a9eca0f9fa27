"""The settings every HTTP server of the lab shares, declared once.

threaded-web, multiprocess-web (and any later web server) listen, queue, time out and stop the
same way, so these rows are written here and each service's table starts with
:func:`server_settings`. The connection deadlines they set become a
:class:`~socketlab.http.connection.ConnectionConfig` through :func:`connection_config`.
"""

from __future__ import annotations

import argparse

from .. import ledger, status
from ..listener import BACKLOG
from ..settings import Setting, port_setting
from .connection import ConnectionConfig
from .parser import Limits

MAX_SECONDS = 3600
"""Upper bound for every deadline: an hour is already far beyond any sane HTTP wait."""


def server_settings(*, host: str, port: int, graceful_timeout: float) -> tuple[Setting, ...]:
    """The rows for where to listen, the backlog, the core's deadlines and the graceful stop.

    ``host`` and ``port`` are the service's defaults (a container listens on 0.0.0.0, a process
    started by hand may prefer loopback); ``graceful_timeout`` depends on the longest request
    the service expects.
    """
    return (
        Setting("host", str, host, "address to listen on", metavar="ADDR"),
        port_setting(port, "TCP port to listen on (0 picks a free one)"),
        Setting(
            "backlog",
            int,
            BACKLOG,
            "listen() backlog: connections the kernel queues for us",
            minimum=1,
            maximum=65535,
            metavar="N",
        ),
        Setting(
            "header_timeout",
            float,
            ConnectionConfig.header_timeout,
            "seconds allowed for a whole request head (slow clients get 408)",
            minimum=0.1,
            maximum=MAX_SECONDS,
            metavar="SECONDS",
        ),
        Setting(
            "idle_timeout",
            float,
            ConnectionConfig.idle_timeout,
            "seconds a keep-alive connection may wait for its next request",
            minimum=0.1,
            maximum=MAX_SECONDS,
            metavar="SECONDS",
        ),
        Setting(
            "io_timeout",
            float,
            ConnectionConfig.io_timeout,
            "seconds one body read or write may block",
            minimum=0.1,
            maximum=MAX_SECONDS,
            metavar="SECONDS",
        ),
        Setting(
            "graceful_timeout",
            float,
            graceful_timeout,
            "seconds requests in flight get to finish after SIGTERM",
            minimum=0,
            maximum=MAX_SECONDS,
            metavar="SECONDS",
        ),
        ledger.SETTING,
    )


def max_connections_setting(default: int, help: str = "") -> Setting:
    """How many connections a server (or one prefork worker) holds open at once; past it the
    oldest idle one is closed to make room, and when none is idle a newcomer gets a fast 503."""
    return Setting(
        "max_connections",
        int,
        default,
        help or "most open connections; past it the oldest idle one is closed, else 503",
        minimum=1,
        maximum=1_000_000,
        metavar="N",
    )


def status_allow_setting() -> Setting:
    """Who may read ``/server-status``: loopback and the lab's networks by default."""
    return Setting(
        "status_allow",
        list,
        list(status.DEFAULT_ALLOW),
        "networks allowed to read /server-status",
        check=status.check_allow,
        metavar="CIDR,...",
    )


def connection_config(args: argparse.Namespace) -> ConnectionConfig:
    """The connection deadlines from a server's resolved settings."""
    return ConnectionConfig(
        limits=Limits(),
        header_timeout=args.header_timeout,
        idle_timeout=args.idle_timeout,
        io_timeout=args.io_timeout,
    )
