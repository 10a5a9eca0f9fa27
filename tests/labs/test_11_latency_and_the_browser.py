"""Exercise 11 (docs/labs/11-latency-and-the-browser.md): the relay's latency in HAR timings."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.paths import REPO as REPO_ROOT
from tests.support.running_lab import PROJECT, RunningLab, run

pytestmark = pytest.mark.labs

URL = "http://impair:8080/"
LATENCY = 0.1
PARALLEL_LATENCY_MS = 300


def profile(*pairs: str) -> str:
    result = run(
        [
            "env",
            f"COMPOSE_PROJECT_NAME={PROJECT}",
            str(REPO_ROOT / "scripts" / "impair.sh"),
            "profile",
            "slow-web",
            *pairs,
        ],
        timeout=60,
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    return result.stdout


def load(lab: RunningLab, name: str, *flags: str) -> dict[str, Any]:
    """Load the page through the relay in the browser's container; return its HAR, with what
    the run printed (its ledger lines among it) under ``_output``."""
    path = f"/tmp/{name}.har"
    out = lab.exec("browser", "python3", "-m", "socketlab.browser", *flags, "--har", path, URL)
    har: dict[str, Any] = json.loads(lab.exec("browser", "cat", path).stdout)
    har["_output"] = out.stdout
    return har


def document(har: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = har["log"]["entries"][0]
    assert entry["request"]["url"] == URL
    return entry


def onload(har: dict[str, Any]) -> float:
    return float(har["log"]["pages"][0]["pageTimings"]["onLoad"])


@pytest.fixture(scope="module")
def hars(lab: RunningLab) -> Iterator[dict[str, dict[str, Any]]]:
    """The same page at 0 ms and at 100 ms, then with one and six connections at 300 ms."""
    os.chdir(REPO_ROOT)
    try:
        profile("LATENCY_MS=0")
        out = {"fast": load(lab, "fast")}
        profile()  # the file's own value: 100 ms
        out["slow"] = load(lab, "slow")
        # A longer cable for the race between one and six connections: the machine's own noise
        # (tens of ms when it is busy) then matters less against the round trips it compares.
        profile(f"LATENCY_MS={PARALLEL_LATENCY_MS}")
        out["one"] = load(lab, "one", "--max-connections-per-host", "1")
        out["six"] = load(lab, "six")
        yield out
    finally:
        profile()


def test_relay_latency_adds_once_per_round_trip_to_wait(
    hars: dict[str, dict[str, Any]],
) -> None:
    fast = document(hars["fast"])["timings"]["wait"]
    slow = document(hars["slow"])["timings"]["wait"]
    # At least the latency, and clearly more than without it (the fast load's own wait, a few
    # ms of the relay connecting upstream, is noise on a shared machine: hence half, not all).
    assert LATENCY * 1000 <= slow < 3 * LATENCY * 1000, (fast, slow)
    assert (slow - fast) / 1000 >= 0.5 * LATENCY, (fast, slow)
    for entry in hars["slow"]["log"]["entries"]:  # every request is one round trip
        assert entry["timings"]["wait"] >= 0.9 * LATENCY * 1000, entry["request"]["url"]


def test_relay_does_not_delay_the_handshake(hars: dict[str, dict[str, Any]]) -> None:
    connect = document(hars["slow"])["timings"]["connect"]
    assert 0 <= connect < 0.5 * LATENCY * 1000, connect


def test_six_parallel_connections_beat_one_under_latency(
    hars: dict[str, dict[str, Any]],
) -> None:
    one, six = onload(hars["one"]), onload(hars["six"])
    connections = {e["connection"] for e in hars["one"]["log"]["entries"]}
    assert len(connections) == 1
    assert len({e["connection"] for e in hars["six"]["log"]["entries"]}) > 1
    assert one / six >= 1.5, (one, six)


def test_ledger_shows_the_relay_between_browser_and_server(
    lab: RunningLab, hars: dict[str, dict[str, Any]]
) -> None:
    from scripts import ledger_table  # host-side tool, imported from the repository root

    six_ports = {e["_localPort"] for e in hars["six"]["log"]["entries"]}
    deadline = time.monotonic() + 15
    while True:
        # A browser run with `docker compose exec` prints its ledger lines to the terminal, not
        # to the container's log: they are joined with the relay's and threaded-web's logs. The
        # relay writes a connection's line when both directions are closed, and it passes the
        # server's FIN on 300 ms late like any other byte: wait for every line.
        logs = hars["six"]["_output"] + "".join(lab.logs(s) for s in ("impair", "threaded-web"))
        rows = ledger_table.join(list(ledger_table.read_lines(logs.splitlines())), hars["six"])
        mine = [r for r in rows if r.har and r.har[0].startswith(URL)]
        if all(len(r.services) == 3 for r in mine) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert mine, "no ledger row for the HAR's connections"
    assert {int(r.client.split()[0].rpartition(":")[2]) for r in mine} >= six_ports
    for row in mine:
        assert row.services == ["browser", "impair", "threaded-web"], row
        assert row.note.startswith("address changed"), row
        assert "10.30.80.60" in row.note, row
