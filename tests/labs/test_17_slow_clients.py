"""Exercise 17 (docs/labs/17-slow-clients.md): slowloris from the browser container against
fork mode, threaded-web and prefork, with each server's /server-status read meanwhile.

For each server, once: slowhttptest runs in the browser container (300 connections, bounded by
its own -l), and while it holds them the scoreboard is read and a normal request is timed, both
from the browser container, with the commands the exercise gives.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from typing import Any, Final

import pytest

from tests.support.running_lab import RunningLab, run

pytestmark = pytest.mark.labs

FORK_PORT: Final = 8889
ATTACK_SECONDS: Final = 25
RAMP: Final = 4.0
"""Seconds between starting slowhttptest and reading the scoreboard: -r 200 opens the 300
connections in 1.5 s, and the servers' header_timeout (10 s) ends the first ones at 10 s, when
fork mode's children are replaced by connections from the backlog. Reading at 8 s read the
board in the middle of that turnover (seen on 2026-12-01: 1 reading-head row instead of 63)."""
TARGETS: Final = {
    "fork": f"http://multiprocess-web:{FORK_PORT}",
    "threaded-web": "http://threaded-web:8080",
    "prefork": "http://multiprocess-web:8888",
}


@dataclass
class Seen:
    board: dict[str, Any]
    code: str
    seconds: float


def curl_timed(lab: RunningLab, url: str) -> tuple[str, float]:
    out = lab.exec(
        "browser",
        "curl",
        "-s",
        "-m",
        "3",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{time_total}",
        url,
        check=False,
    ).stdout.split()
    return out[0], float(out[1])


def start_fork_server(lab: RunningLab) -> None:
    args = [
        "docker",
        "exec",
        "-d",
        lab.id("multiprocess-web"),
        "python3",
        "-m",
        "socketlab.multiprocess_web",
        "--config",
        "/etc/socketlab/multiprocess-web.toml",
        "--host",
        "0.0.0.0",
        "--port",
        str(FORK_PORT),
        "--mode",
        "fork",
    ]
    assert run(args).exit_code == 0
    deadline = time.monotonic() + 20
    while curl_timed(lab, TARGETS["fork"] + "/healthz")[0] != "200":
        assert time.monotonic() < deadline, "the fork-mode server did not start"
        time.sleep(0.5)


def attack(lab: RunningLab, base: str, connections: int = 300, *, board: bool = True) -> Seen:
    """slowhttptest with ``connections`` slowloris connections; meanwhile read the scoreboard
    (unless ``board`` is false: a server with no room left cannot answer it either) and time a
    normal request."""
    argv = ["docker", "exec", lab.id("browser"), "slowhttptest", "-c", str(connections), "-H"]
    argv += ["-i", "5", "-r", "200", "-l", str(ATTACK_SECONDS), "-u", base + "/"]
    attacker = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        time.sleep(RAMP)
        status: dict[str, Any] = {}
        if board:
            status = json.loads(lab.exec("browser", "curl", "-s", base + "/server-status").stdout)
        code, seconds = curl_timed(lab, base + "/")
        attacker.wait(timeout=ATTACK_SECONDS + 30)
    finally:
        if attacker.poll() is None:
            attacker.kill()
            attacker.wait()
    return Seen(status, code, seconds)


@pytest.fixture(scope="module")
def seen(lab: RunningLab) -> dict[str, Seen]:
    found = lab.exec("browser", "sh", "-c", "command -v slowhttptest", check=False)
    assert found.exit_code == 0, "no slowhttptest in the browser image: make base-rebuild, make up"
    start_fork_server(lab)
    out = {}
    # Fewer connections than fork mode's max_children (64): a child is left for /server-status.
    out["fork-50"] = attack(lab, TARGETS["fork"], 50)
    time.sleep(12)  # header_timeout frees what is left before the next attack
    for name, base in TARGETS.items():
        out[name] = attack(lab, base, board=name != "fork")
        time.sleep(12)
    return out


def test_fork_mode_scoreboard_fills_with_reading_head_rows(seen: dict[str, Seen]) -> None:
    """50 slow connections: one child each, every one reading a head that never ends."""
    rows = seen["fork-50"].board["rows"]
    reading = [row for row in rows if row["state"] == "reading-head"]
    assert len(reading) >= 45, seen["fork-50"].board["states"]
    assert len({row["pid"] for row in reading}) == len(reading), "one child per connection"


def test_fork_mode_full_of_slow_connections_answers_nobody(seen: dict[str, Seen]) -> None:
    """300 slow connections: all 64 children are held, and a normal request waits in the
    listen queue until header_timeout frees one (curl gives up after 3 s)."""
    fork = seen["fork"]
    assert fork.code != "200" or fork.seconds > 2.0, (fork.code, fork.seconds)


def test_threaded_web_answers_during_slowloris(seen: dict[str, Seen]) -> None:
    threaded = seen["threaded-web"]
    assert threaded.code == "200"
    assert threaded.seconds < 1.0
    assert threaded.board["states"]["reading-head"] >= 250, threaded.board["states"]
    workers = {row["worker"] for row in threaded.board["rows"] if row["state"] == "reading-head"}
    assert workers == {"poller"}


def test_prefork_answers_during_slowloris(seen: dict[str, Seen]) -> None:
    prefork = seen["prefork"]
    assert prefork.code == "200"
    assert prefork.seconds < 1.0
    assert prefork.board["mode"] == "prefork"
    assert len(prefork.board["workers"]) == 4
    assert prefork.board["states"]["reading-head"] >= 250, prefork.board["states"]
