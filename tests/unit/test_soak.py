"""A short version of every case of ``make soak`` (marked ``soak``; needs slowhttptest).

The full suite measures; this only checks that each case runs and that what the issue requires
held in the short run too: threaded-web and prefork answer every normal request during each
slowhttptest attack, no descriptor, thread or zombie is left after a churn, the prefork pool is
back within a second of each SIGKILL, SIGTERM cuts nothing off. The p99 target is judged by the
full run only (a loaded test machine is no place for latency bounds).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from soak import run

pytestmark = [
    pytest.mark.soak,
    pytest.mark.skipif(
        shutil.which("slowhttptest") is None,
        reason="slowhttptest is missing: apt-get install slowhttptest (make soak installs it)",
    ),
]


def test_every_soak_case_in_short(tmp_path: Path) -> None:
    md, js = tmp_path / "RELIABILITY.md", tmp_path / "reliability.json"
    run.main(["--short", "--no-peers", "--no-docker", "--out-md", str(md), "--out-json", str(js)])
    doc = json.loads(js.read_text())
    problems = [p for p in doc["problems"] if "p99" not in p]
    assert problems == []
    attacked = {(r["server"], r["attack"]) for r in doc["slow_clients"]}
    for server in ("threaded-web", "multiprocess-web prefork", "multiprocess-web fork"):
        for attack in ("slowloris", "slow-body", "slow-read"):
            assert (server, attack) in attacked
    assert len(doc["churn"]) == 3
    assert doc["idle"]["held"] > 0
    assert doc["sigkill"]["kills"] >= 2
    assert all(row["cut_off"] == 0 for row in doc["sigterm"])
    assert doc["udp_flood"]["member_loss"] == 0
    text = md.read_text()
    assert "<!-- soak:begin" in text
    assert "| threaded-web | slowloris |" in text
