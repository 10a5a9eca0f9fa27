"""wrk, ab and oha against one running server, with the server's CPU time measured around the load.

wrk and ab are closed-loop: each connection sends its next request when the last one is
answered, so a slow server is offered less load. oha with ``-q`` is open-loop: it sends at a
fixed rate whatever the server does, and with ``--latency-correction`` it times each request from
when it was due, not from when a free connection sent it (coordinated omission), so two servers
are compared at the same request rate.

Each measured run is preceded by a short warm-up of the same shape (threads created, caches
filled, worker pools forked), which is not counted. Every load is bounded in time (``-d`` for
wrk, ``-t`` with a request cap for ab) and aims at 127.0.0.1 only.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from . import procstat
from .parsing import LoadResult, ParseError, parse_ab, parse_oha, parse_wrk
from .servers import REPO, Running

CONNECTIONS: Final = 50
"""Concurrent connections, as the issue says (wrk -c50, ab -c50)."""

WRK_THREADS: Final = 2
"""One wrk thread per core of the lab's machines."""


def _port_range() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as handle:
            low, high = (int(x) for x in handle.read().split())
        return high - low + 1
    except (OSError, ValueError):
        return 28_232  # Linux's default range, 32768-60999


AB_MAX_REQUESTS: Final = max(5_000, _port_range() - 4_000)
"""ab's request cap per run, below the ephemeral port range (28,232 ports by default) less the
warm-up: past it, client ports come round again while the server still holds their previous
connection in TIME_WAIT, and a SYN that meets one waits for its 1 s retransmission (a run of
multiprocess-web fell from 11,900 to 196 requests/s with a p99 of 2 s that way, and the next
ab could not connect at all). ab stops at this count or at -t, whichever comes first."""

AB_WARMUP_REQUESTS: Final = 2000
"""Requests of ab's untimed warm-up before each measured run."""

AB_CONNECTIONS_PER_RUN: Final = AB_MAX_REQUESTS + AB_WARMUP_REQUESTS
"""At most this many connections per run of ab, warm-up included (one per request)."""

OHA: Final = REPO / ".tools" / "bin" / "oha"
"""Where scripts/install-tools.sh puts oha (the Makefile pins its version)."""

OHA_CONNECTIONS: Final = CONNECTIONS
"""oha's connections: as many as wrk's, more than enough for the rates asked (a request rarely
waits for a free connection below the server's capacity)."""

TOOL_GRACE: Final = 30.0
"""Seconds beyond its own limit that a tool may take before it is killed (it never should)."""


@dataclass
class Measured:
    """One load run and the server's share of it."""

    load: LoadResult
    cpu_seconds: float
    wall_seconds: float

    @property
    def cpu_us_per_request(self) -> float | None:
        if not self.load.requests:
            return None
        return self.cpu_seconds / self.load.requests * 1e6

    @property
    def server_cores(self) -> float:
        """Average cores the server kept busy during the run."""
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds else 0.0


class LoadFailed(RuntimeError):
    """The load tool failed or printed nothing that could be read."""


def _run(argv: list[str], limit: float) -> str:
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=limit + TOOL_GRACE, check=False
    )
    return done.stdout + done.stderr


def _parsed(parse: Callable[[], LoadResult], output: str) -> LoadResult:
    try:
        return parse()
    except ParseError:
        tail = " | ".join(output.strip().splitlines()[-3:])
        raise LoadFailed(f"could not read the tool's output: {tail}") from None


def wrk(server: Running, path: str, seconds: float, *, warmup: float = 1.0) -> Measured:
    """``wrk -t2 -c50 --latency`` for ``seconds`` against ``path``: keep-alive."""
    url = server.url(path)
    base = ["wrk", f"-t{WRK_THREADS}", f"-c{CONNECTIONS}", "--latency", "--timeout", "5s"]
    if warmup:
        _run([*base, f"-d{warmup:g}s", url], warmup)
    server.check_alive()
    before = procstat.cpu_seconds(server.pid)
    start = time.monotonic()
    output = _run([*base, f"-d{seconds:g}s", url], seconds)
    wall = time.monotonic() - start
    cpu = procstat.cpu_seconds(server.pid) - before
    server.check_alive()
    return Measured(_parsed(lambda: parse_wrk(output), output), cpu, wall)


def ab(
    server: Running, path: str, seconds: float, *, warmup_requests: int = AB_WARMUP_REQUESTS
) -> Measured:
    """``ab -c50`` for ``seconds`` against ``path``: HTTP/1.0, a new connection per request."""
    url = server.url(path)
    base = ["ab", "-q", "-r", "-s", "5", "-c", str(CONNECTIONS)]
    if warmup_requests:
        _run([*base, "-n", str(warmup_requests), url], 30)
    server.check_alive()
    with tempfile.NamedTemporaryFile("r", suffix=".csv") as csv:
        before = procstat.cpu_seconds(server.pid)
        start = time.monotonic()
        # -t before -n: -t alone implies -n 50000, a later -n raises the cap.
        output = _run(
            [*base, "-t", f"{seconds:g}", "-n", str(AB_MAX_REQUESTS), "-e", csv.name, url], seconds
        )
        wall = time.monotonic() - start
        cpu = procstat.cpu_seconds(server.pid) - before
        csv_text = csv.read()
    server.check_alive()
    return Measured(_parsed(lambda: parse_ab(output, csv_text or None), output), cpu, wall)


def oha(
    server: Running, path: str, seconds: float, rate: float, *, warmup: float = 1.0
) -> Measured:
    """``oha -q RATE --latency-correction -c50 -z SECONDS`` against ``path``: open-loop, ``rate``
    requests per second whatever the server does, keep-alive when the server offers it."""
    if not OHA.exists():
        raise LoadFailed(f"{OHA} is missing (make bench installs it)")
    url = server.url(path)
    base = [
        str(OHA),
        "--no-tui",
        "--output-format",
        "json",
        "-c",
        str(OHA_CONNECTIONS),
        "-q",
        f"{rate:.0f}",
        "--latency-correction",
        "-t",
        "5s",
    ]
    if warmup:
        _run([*base, "-z", f"{warmup:g}s", url], warmup)
    server.check_alive()
    before = procstat.cpu_seconds(server.pid)
    start = time.monotonic()
    output = _run([*base, "-z", f"{seconds:g}s", url], seconds)
    wall = time.monotonic() - start
    cpu = procstat.cpu_seconds(server.pid) - before
    server.check_alive()
    return Measured(_parsed(lambda: parse_oha(output, seconds), output), cpu, wall)
