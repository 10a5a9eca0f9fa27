"""The kinds the grader knows: their suites, what a submission is, and its working directory."""

from __future__ import annotations

import dataclasses
from typing import Any, Final

from . import http_client, http_static, tcp_echo, udp_chat
from .checks import Suite


@dataclasses.dataclass(frozen=True)
class Kind:
    name: str
    suite: Suite[Any]
    program: str  # the file a Dockerfile-less submission must hold
    role: str  # "server" or "client"
    protocol: str  # "tcp" or "udp"
    summary: str


KINDS: Final[dict[str, Kind]] = {
    k.name: k
    for k in (
        Kind(
            "tcp-echo",
            tcp_echo.suite,
            "server.py",
            "server",
            "tcp",
            "a TCP server that sends back what it receives",
        ),
        Kind(
            "http-static",
            http_static.suite,
            "server.py",
            "server",
            "tcp",
            "a static HTTP/1.1 file server (the seeds' web server)",
        ),
        Kind(
            "udp-chat",
            udp_chat.suite,
            "server.py",
            "server",
            "udp",
            "a chat relay speaking docs/udp-chat-protocol.md",
        ),
        Kind(
            "http-client",
            http_client.suite,
            "client.py",
            "client",
            "tcp",
            "a socket browser that fetches a page, its image and the favicon",
        ),
    )
}


def listing() -> str:
    """What `make grade` alone prints: every kind and its checks."""
    lines = [
        "kinds and their checks (make grade KIND=<kind> SUBMISSION=<dir> | TARGET=<host:port>):"
    ]
    for kind in KINDS.values():
        lines.append("")
        lines.append(f"{kind.name}: {kind.summary}; a submission is a Dockerfile or {kind.program}")
        lines.append(f"  exercise: {kind.suite.doc}")
        for check in kind.suite:
            needs = f" (needs {', '.join(check.requires)})" if check.requires else ""
            lines.append(f"  {check.level:<6} {check.id:<20} {check.title}{needs}")
    return "\n".join(lines)
