"""What every TCP web server of the lab shares: settings rows and the connection deadlines.

threaded-web and coroutine-web declare the same options for the same things (the listen
backlog, the three connection deadlines, the graceful stop, the log level); the rows live here
once, and each server's table names them next to its own rows.
"""

from __future__ import annotations

import argparse
from typing import Final

from . import logs
from .http.connection import ConnectionConfig
from .http.parser import Limits
from .listener import BACKLOG
from .settings import Setting


def backlog_setting() -> Setting:
    return Setting(
        "backlog",
        int,
        BACKLOG,
        "listen() backlog: connections the kernel queues for us",
        minimum=1,
        maximum=65535,
        metavar="N",
    )


DEADLINE_SETTINGS: Final = (
    Setting(
        "header_timeout",
        float,
        ConnectionConfig.header_timeout,
        "seconds allowed for a whole request head (slow clients get 408)",
        minimum=0.1,
        maximum=3600,
        metavar="SECONDS",
    ),
    Setting(
        "idle_timeout",
        float,
        ConnectionConfig.idle_timeout,
        "seconds a keep-alive connection may wait for its next request",
        minimum=0.1,
        maximum=3600,
        metavar="SECONDS",
    ),
    Setting(
        "io_timeout",
        float,
        ConnectionConfig.io_timeout,
        "seconds one body read or write may block",
        minimum=0.1,
        maximum=3600,
        metavar="SECONDS",
    ),
)
"""header_timeout, idle_timeout, io_timeout: the rows of :class:`ConnectionConfig`'s deadlines."""


def graceful_setting(default: float) -> Setting:
    return Setting(
        "graceful_timeout",
        float,
        default,
        "seconds in-flight requests get to finish after SIGTERM",
        minimum=0,
        maximum=3600,
        metavar="SECONDS",
    )


LOG_LEVEL_SETTING: Final = Setting("log_level", str, "info", "logging level", choices=logs.LEVELS)


def connection_config(args: argparse.Namespace) -> ConnectionConfig:
    """The connection deadlines from a service's settings."""
    return ConnectionConfig(
        limits=Limits(),
        header_timeout=args.header_timeout,
        idle_timeout=args.idle_timeout,
        io_timeout=args.io_timeout,
    )
