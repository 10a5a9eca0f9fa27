"""Container healthcheck: probe one endpoint and exit 0 when it is healthy, 1 when it is not.

Usage::

    python3 -m socketlab.healthcheck URL [--timeout SECONDS]

``http://HOST[:PORT][/PATH]``
    Send ``GET PATH`` (http.client, ``Connection: close``); healthy on any 2xx status.
``udp://HOST:PORT``
    Send the datagram ``PING``; healthy when a datagram starting with ``PONG`` comes back from
    that address before the timeout (the UDP chat server answers ``PING`` that way).

Exit status: 0 healthy (one line on stdout says what answered), 1 unhealthy (one line on stderr
says why), 2 usage error (argparse's convention). Docker keeps the output of the last probes in
``docker inspect`` under ``State.Health.Log``, so the reason is where an operator looks.

Standard library only: the images are built offline and must not need anything else to probe.
"""

from __future__ import annotations

import argparse
import http.client
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

# Below Docker's own HEALTHCHECK --timeout (the Dockerfiles use 5 s, Docker's default is 30 s),
# so the probe reports its own reason instead of being killed by the engine without one.
DEFAULT_TIMEOUT = 3.0

# The body is drained only so the connection closes cleanly; a health endpoint answers in a few
# bytes, and a probe must not be made to read (or hold in memory) an arbitrarily large reply.
MAX_BODY_BYTES = 64 * 1024

# Largest UDP payload over IPv4 (65,535 minus 8 bytes UDP and 20 bytes IP header, RFC 768/791).
MAX_DATAGRAM_BYTES = 65_507

UDP_PING = b"PING"
UDP_PONG_PREFIX = b"PONG"

USER_AGENT = "socketlab-healthcheck"

SCHEMES = ("http", "udp")


class UsageError(ValueError):
    """The URL or an option cannot be used; the caller exits with status 2."""


class Unhealthy(Exception):
    """The endpoint did not answer as a healthy one does; the message says how."""


@dataclass(frozen=True)
class Target:
    """Where to probe, parsed from the URL."""

    scheme: str
    host: str
    port: int
    path: str

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        path = self.path if self.scheme == "http" else ""
        return f"{self.scheme}://{host}:{self.port}{path}"


def parse_target(url: str) -> Target:
    """Parse ``url`` into a :class:`Target`, or raise :class:`UsageError` saying what is wrong."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UsageError(
            f"unsupported URL {url!r}: expected http://HOST[:PORT][/PATH] or udp://HOST:PORT"
        )
    try:
        port = parts.port
    except ValueError as exc:  # urllib says "Port out of range 0-65535" or "Port could not be cast"
        raise UsageError(f"bad port in {url!r}: {exc}") from None
    host = parts.hostname
    if not host:
        raise UsageError(f"no host in {url!r}")
    if scheme == "http":
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return Target(scheme, host, port if port is not None else 80, path)
    if port is None or port == 0:
        raise UsageError(f"udp URL {url!r} needs a port: udp://HOST:PORT")
    return Target(scheme, host, port, "")


def _describe_os_error(exc: OSError, timeout: float) -> str:
    """One short phrase for a socket-level failure."""
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError since Python 3.10
        return f"no answer within {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host ({exc.strerror})"
    return exc.strerror or exc.__class__.__name__


def check_http(target: Target, timeout: float) -> str:
    """GET ``target``; return a description of a 2xx answer or raise :class:`Unhealthy`."""
    conn = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    try:
        conn.request("GET", target.path, headers={"User-Agent": USER_AGENT, "Connection": "close"})
        response = conn.getresponse()
        response.read(MAX_BODY_BYTES)
    except OSError as exc:
        raise Unhealthy(_describe_os_error(exc, timeout)) from exc
    except http.client.HTTPException as exc:  # a reply that is not HTTP, or none at all
        raise Unhealthy(f"bad HTTP reply ({exc.__class__.__name__}: {exc})") from exc
    finally:
        conn.close()
    status = f"{response.status} {response.reason}".strip()
    if not 200 <= response.status <= 299:
        raise Unhealthy(f"status {status}")
    return f"status {status}"


def check_udp(target: Target, timeout: float) -> str:
    """Send ``PING`` to ``target``; return when a ``PONG...`` comes back, else raise Unhealthy.

    The socket is connected, so the kernel delivers only datagrams from the target's address and
    reports an ICMP port-unreachable as ECONNREFUSED. Other datagrams from the target (a chat
    line broadcast at the same moment, say) are skipped until the deadline.
    """
    deadline = time.monotonic() + timeout
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise Unhealthy(_describe_os_error(exc, timeout)) from exc
    family, socktype, proto, _, address = infos[0]
    with socket.socket(family, socktype, proto) as sock:
        try:
            sock.connect(address)
            sock.send(UDP_PING)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
                reply = sock.recv(MAX_DATAGRAM_BYTES)
                if reply.startswith(UDP_PONG_PREFIX):
                    return f"reply {reply[:40]!r}"
        except OSError as exc:
            raise Unhealthy(_describe_os_error(exc, timeout)) from exc


def probe(target: Target, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Probe ``target`` once with the check for its scheme; return what answered."""
    if target.scheme == "udp":
        return check_udp(target, timeout)
    return check_http(target, timeout)


def check(url: str, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Probe ``url`` once. Return what answered; raise Unhealthy or UsageError otherwise."""
    return probe(parse_target(url), timeout)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"expected seconds in (0, 3600], got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m socketlab.healthcheck",
        description="Probe an HTTP or UDP endpoint; exit 0 if healthy, 1 if not, 2 on bad usage.",
    )
    parser.add_argument(
        "url", help="http://HOST[:PORT][/PATH] (2xx is healthy) or udp://HOST:PORT (PING -> PONG)"
    )
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"give up after this long (default {DEFAULT_TIMEOUT:g})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one probe; return the exit status (argparse itself exits 2 on a malformed command)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        target = parse_target(args.url)
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    try:
        what = probe(target, args.timeout)
    except Unhealthy as exc:
        print(f"unhealthy: {target}: {exc}", file=sys.stderr)
        return 1
    print(f"healthy: {target}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
