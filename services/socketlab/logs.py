"""Logging for operators: one configuration for every service, and escaping of peer bytes.

Anything that came from the network (a request target, a header, a nickname, a datagram) goes
through :func:`printable` before it reaches a log line, so a peer cannot forge log lines with
CR/LF or drive the operator's terminal with escape sequences.
"""

from __future__ import annotations

import logging
import re
import sys

from .settings import Setting

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# Printable ASCII stays as it is; backslash is escaped too so the escaping is unambiguous.
_UNSAFE = re.compile(rb"[^\x20-\x5b\x5d-\x7e]")
_SAFE = {c: chr(c) for c in range(0x20, 0x7F) if c != 0x5C}


def printable(data: bytes | str, limit: int = 200) -> str:
    """Return ``data`` as one safe log token: control and non-ASCII bytes as ``\\xNN``.

    Text longer than ``limit`` characters is cut and marked with ``...`` so a huge peer value
    cannot flood the log.
    """
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    if len(raw) <= limit and not _UNSAFE.search(raw):
        return raw.decode("ascii")  # the common case, without a per-byte loop
    cut = len(raw) > limit
    out = "".join(_SAFE.get(b) or f"\\x{b:02x}" for b in raw[:limit])
    return out + "..." if cut else out


def setup(level: str = "info") -> None:
    """Log to stdout (what `docker logs` shows), one line per record."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


LEVELS = ("debug", "info", "warning", "error")


def level_setting(default: str = "info") -> Setting:
    """The ``log_level`` row of every service's settings table."""
    return Setting("log_level", str, default, "logging level", choices=LEVELS)
