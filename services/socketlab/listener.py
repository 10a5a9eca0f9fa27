"""Listening sockets, made the same way for every TCP server in the lab."""

from __future__ import annotations

import contextlib
import socket
from typing import Final

BACKLOG: Final = 1024
"""listen() backlog. CPython's socketserver uses 5, which makes a burst of clients wait for SYN
retries (1 s, 3 s, ...); 1024 is nginx's default on Linux (the kernel caps it at somaxconn)."""


def open_listener(host: str, port: int, backlog: int = BACKLOG) -> socket.socket:
    """Bind and listen on (host, port); port 0 lets the kernel choose (read it back with
    ``getsockname()``). SO_REUSEADDR lets a restarted server bind again at once even while old
    connections sit in TIME_WAIT."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def tune_accepted(sock: socket.socket) -> None:
    """TCP_NODELAY: our responses go out in one or two sends, and Nagle's algorithm would hold
    the second back for the peer's delayed ACK (about 40 ms on Linux)."""
    with contextlib.suppress(OSError):  # not TCP: a test may pass a socketpair
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def tune_listener(sock: socket.socket) -> None:
    """TCP_NODELAY on a listening socket. Linux makes each accepted socket as a copy of its
    listener, options included, so the connections start with it: a server that sees it on an
    accepted socket (:func:`nodelay_set`) can spare :func:`tune_accepted`'s system call on all
    the others. Other systems may not copy it; tune_accepted then stays needed."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def nodelay_set(sock: socket.socket) -> bool:
    """True when TCP_NODELAY is on for ``sock`` (False when it is off or not TCP)."""
    try:
        return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    except OSError:
        return False


def raise_descriptor_limit() -> tuple[int, int]:
    """Raise this process's open-file limit (RLIMIT_NOFILE) to its hard limit, as far as the
    kernel allows: one connection is one descriptor, and the usual soft limit of 1024 would
    stop a server at about a thousand clients. Returns the (soft, hard) limits now in force."""
    import resource  # Unix only, like the rest of the lab

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)
