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
RAMP: Final = 8.0  # seconds for slowhttptest to open its connections (-r 200 for 300)
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


def attack(lab: RunningLab, base: str) -> Seen:
    argv = ["docker", "exec", lab.id("browser"), "slowhttptest", "-c", "300", "-H", "-i", "5"]
    argv += ["-r", "200", "-l", str(ATTACK_SECONDS), "-u", base + "/"]
    attacker = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        time.sleep(RAMP)
        board = json.loads(lab.exec("browser", "curl", "-s", base + "/server-status").stdout)
        code, seconds = curl_timed(lab, base + "/")
        attacker.wait(timeout=ATTACK_SECONDS + 30)
    finally:
        if attacker.poll() is None:
            attacker.kill()
            attacker.wait()
    return Seen(board, code, seconds)


@pytest.fixture(scope="module")
def seen(lab: RunningLab) -> dict[str, Seen]:
    found = lab.exec("browser", "sh", "-c", "command -v slowhttptest", check=False)
    assert found.exit_code == 0, "no slowhttptest in the browser image: make base-rebuild, make up"
    start_fork_server(lab)
    out = {}
    for name, base in TARGETS.items():
        out[name] = attack(lab, base)
        time.sleep(12)  # header_timeout frees what is left before the next server's turn
    return out


def test_fork_mode_scoreboard_fills_with_reading_head_rows(seen: dict[str, Seen]) -> None:
    fork = seen["fork"]
    rows = fork.board["rows"]
    reading = [row for row in rows if row["state"] == "reading-head"]
    assert len(reading) >= 60, fork.board["states"]  # max_children is 64, one is the status
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
