"""Exercise 12 (docs/labs/12-capture-a-page-load.md): a capture agrees with the ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from scripts import ledger_table

from tests.support.paths import REPO as REPO_ROOT
from tests.support.running_lab import PROJECT, RunningLab

pytestmark = pytest.mark.labs

SECONDS = 8


@pytest.fixture(scope="module")
def captured(lab: RunningLab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Capture threaded-web's eth0 while the browser loads the page once (with --json)."""
    os.chdir(REPO_ROOT)
    where = tmp_path_factory.mktemp("captures")
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": PROJECT,
        "CAPTURE_DIR": str(where),
        "IFACE": "eth0",
        "SUMMARY": f"{sys.executable} scripts/pcap_summary.py --json",
    }
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    out: dict[str, str] = {}

    def load() -> None:
        time.sleep(2.5)  # tcpdump is listening by then
        out["browser"] = lab.exec(
            "browser", "python3", "-m", "socketlab.browser", "--json", "http://threaded-web:8080/"
        ).stdout

    loader = threading.Thread(target=load)
    loader.start()
    done = subprocess.run(
        ["scripts/capture.sh", "threaded-web", str(SECONDS), "tcp port 8080"],
        env=env,
        capture_output=True,
        text=True,
        timeout=SECONDS + 60,
        check=False,
    )
    loader.join(60)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    pcaps = list(Path(where).glob("threaded-web-*.pcap"))
    assert len(pcaps) == 1, done.stdout
    time.sleep(1)  # the server writes a connection's ledger line when it has closed it
    page = json.loads(out["browser"].splitlines()[0])
    return {
        "summary": summary,
        "page": page,
        "ledger": list(ledger_table.read_lines(lab.logs("threaded-web", since).splitlines())),
    }


def browser_ports(page: dict[str, Any]) -> set[int]:
    return {int(c["local_port"]) for c in page["connections"]}


def conversations(captured: dict[str, Any]) -> list[dict[str, Any]]:
    ports = browser_ports(captured["page"])
    return [
        c
        for c in captured["summary"]["conversations"]
        if c["proto"] == "tcp" and int(c["a"].rpartition(":")[2]) in ports
    ]


def test_capture_shows_handshakes_keepalive_and_fins(captured: dict[str, Any]) -> None:
    convs = conversations(captured)
    assert len(convs) == len(browser_ports(captured["page"]))
    for conv in convs:
        assert conv["a"].startswith("10.30.80.40:"), conv
        assert conv["b"] == "10.30.80.10:8080", conv
        assert conv["handshake"] is not None, conv
        assert conv["handshake"]["rtt_ms"] >= 0, conv
        assert conv["fins"] == 2, conv
    assert sum(c["requests"] for c in convs) == captured["page"]["summary"]["requests"]
    assert max(c["requests"] for c in convs) > 1  # keep-alive: a connection was reused


def test_capture_summary_agrees_with_the_ledger(captured: dict[str, Any]) -> None:
    lines = {line["remote"]: line for line in captured["ledger"] if line["role"] == "server"}
    for conv in conversations(captured):
        line = lines.get(conv["a"])
        assert line is not None, f"no ledger line for {conv['a']}"
        assert line["local"] == conv["b"]
        assert line["requests"] == conv["requests"]
