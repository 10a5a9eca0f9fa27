"""The short version of ``make soak``'s docker-restart case (marked ``soak``; needs Docker).

A lab of the project's own containers under a project name of its own (from
SOCKETLAB_TEST_NAME_PREFIX) and the tests' images (SOCKETLAB_TEST_IMAGE_PREFIX); threaded-web
is restarted while the browser container loads its page, must be healthy again within its
healthcheck's window, and the browser's next page must load. The lab is removed afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soak import run
from tests.support import containers

pytestmark = [pytest.mark.integration, pytest.mark.soak, pytest.mark.timeout(900)]


def test_docker_restart_in_short(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOCKETLAB_TEST_IMAGE_PREFIX", containers.IMAGE_PREFIX)
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", containers.NAME_PREFIX.rstrip("-_") or "soak")
    md, js = tmp_path / "RELIABILITY.md", tmp_path / "reliability.json"
    code = run.main(
        ["--short", "--only", "docker-restart", "--out-md", str(md), "--out-json", str(js)]
    )
    doc = json.loads(js.read_text())
    (row,) = doc["docker_restart"]
    assert row["service"] == "threaded-web"
    assert row["healthy_after_s"] is not None, row
    assert row["healthy_after_s"] <= row["window_s"], row
    assert row["next_page"] is True, row
    assert row["load_ok"] > 0, row  # the load ran, before or after the restart
    assert code == 0, doc["problems"]
    assert "| threaded-web |" in md.read_text()
