"""slowhttptest against a server while a normal client measures what a user would see.

The three attacks of issue 13, with slowhttptest's own flags:

* ``slowloris`` (``-H``): 1,000 connections that send their request head a header line at a
  time, every 5 s, never finishing it;
* ``slow-body`` (``-B``): 1,000 POSTs announcing an 8 KiB body, sent a few bytes every 5 s, at a
  path whose application reads the body (multiprocess-web's ``POST /post``);
* ``slow-read`` (``-X``): 200 clients that request the page and then read the answer through a
  tiny TCP window, a few bytes at a time.

The normal client starts once the attack has ramped up: one GET every :data:`INTERVAL` seconds,
each on a new connection, each given :data:`REQUEST_TIMEOUT` seconds; a request that errors,
times out or gets a non-2xx status is a failure. Loopback only; every run is bounded by
slowhttptest's ``-l`` and the client's own duration.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import resource
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

INTERVAL: Final = 0.1
REQUEST_TIMEOUT: Final = 5.0
RAMP: Final = 4.0
"""Seconds between the start of the attack and the first measured request."""


@dataclass(frozen=True)
class Attack:
    name: str
    flag: str
    connections: int
    extra: tuple[str, ...]
    path: str = "/"  # where the attack aims (the normal client always asks for its own path)

    def argv(self, url: str, seconds: int, connections: int | None = None) -> list[str]:
        count = connections or self.connections
        return [
            "slowhttptest",
            "-c",
            str(count),
            self.flag,
            "-r",
            str(min(count, 500)),
            "-l",
            str(seconds),
            "-p",
            "3",
            *self.extra,
            "-u",
            url,
        ]


SLOWLORIS: Final = Attack("slowloris", "-H", 1000, ("-i", "5"))
SLOW_BODY: Final = Attack("slow-body", "-B", 1000, ("-i", "5", "-s", "8192", "-t", "POST"), "/post")
SLOW_READ: Final = Attack(
    "slow-read", "-X", 200, ("-w", "512", "-y", "1024", "-n", "5", "-z", "32", "-k", "3")
)
ATTACKS: Final = (SLOWLORIS, SLOW_BODY, SLOW_READ)


@dataclass
class Measured:
    """What the normal client saw during one attack."""

    requests: int
    failures: int
    latencies_ms: list[float]
    attack_log: str

    def percentile(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
        return ordered[index]


def raise_limit(wanted: int) -> None:
    """slowhttptest inherits our descriptor limit; it needs one per connection."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


@contextlib.contextmanager
def attacking(argv: list[str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    raise_limit(8192)
    if shutil.which("stdbuf"):
        # slowhttptest buffers its report when stdout is a file, and the buffer dies with it.
        argv = ["stdbuf", "-oL", *argv]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def normal_client(port: int, path: str, seconds: float) -> Measured:
    """One GET every INTERVAL s on a new connection, for ``seconds``."""
    latencies: list[float] = []
    failures = 0
    requests = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.monotonic()
        requests += 1
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            response = conn.getresponse()
            response.read()
            if 200 <= response.status < 300:
                latencies.append((time.monotonic() - started) * 1000)
            else:
                failures += 1
        except (OSError, http.client.HTTPException):
            failures += 1
        finally:
            conn.close()
        left = INTERVAL - (time.monotonic() - started)
        if left > 0:
            time.sleep(left)
    return Measured(requests, failures, latencies, "")


def run(
    attack: Attack,
    port: int,
    path: str,
    work: Path,
    label: str,
    *,
    measure: float,
    connections: int | None = None,
    attack_path: str | None = None,
    ramp: float = RAMP,
) -> Measured:
    """Attack the server on ``port`` and measure the normal client during the attack."""
    seconds = int(ramp + measure + 2)
    url = f"http://127.0.0.1:{port}{attack_path or attack.path}"
    log_path = work / f"slowhttptest-{label}-{attack.name}.log"
    with attacking(attack.argv(url, seconds, connections), log_path):
        time.sleep(ramp)
        measured = normal_client(port, path, measure)
    measured.attack_log = log_path.read_text(errors="replace")
    return measured


def attack_connected(log: str) -> int | None:
    """The most connections slowhttptest reported as connected (its status lines)."""
    best: int | None = None
    for raw in log.splitlines():
        line = re.sub(r"\x1b\[[0-9;]*m", "", raw).strip()
        if line.startswith("connected:"):
            with contextlib.suppress(ValueError):
                value = int(line.split(":", 1)[1])
                best = value if best is None else max(best, value)
    return best
