"""The lab under each Compose: up, healthy, one look across hosts, down, nothing left.

* v2, the README's way in: ``docker compose up --build --wait`` (the base image exists);
* v1, through the Makefile: ``make COMPOSE=v1 up`` (down first, health polled: v1 has no
  ``--wait``), ``make map``, ``make down``; skipped, with the reason, where v1 is not installed;
* two labs side by side on one engine, through ``make COMPOSE=v2 up``: each sees only itself,
  and taking one down leaves the other serving;
* with a registry, ``BASE_IMAGE=python:3.12-slim docker compose up --build`` without the
  locally made base (skipped here: this machine reaches no registry).

Every lab has its own project name, network names, subnets in 10.31.0.0/16 or 10.32.0.0/16 and
free host ports, so the default lab (project socketlab) is never touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from tests.support.compose_lab import (
    BUILD_TIMEOUT,
    HEALTHY_TIMEOUT,
    IMAGE_PREFIX,
    NAME_PREFIX,
    SERVICES,
    V2,
    Compose,
    Lab,
    connect_script,
    fetch_script,
    find_v1,
)
from tests.support.paths import REPO

pytestmark = [pytest.mark.compose, pytest.mark.usefixtures("images")]

HTTP_TIMEOUT = 10.0
V1_PATH = find_v1()
V1 = Compose("v1", (V1_PATH,)) if V1_PATH else None


def host_get(port: int, path: str) -> tuple[int, bytes]:
    """GET a published port from this machine (127.0.0.1 only)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=HTTP_TIMEOUT) as answer:
        return answer.status, answer.read()


def udp_ping(port: int) -> str:
    """The host-side healthcheck against a published UDP port: PING, expect PONG."""
    done = subprocess.run(
        [sys.executable, "-m", "socketlab.healthcheck", f"udp://127.0.0.1:{port}"],
        env={**os.environ, "PYTHONPATH": str(REPO / "services")},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def check_lab(lab: Lab) -> None:
    """Healthy, reachable from the host, and one look across hosts inside the lab."""
    state = lab.wait_healthy()
    assert set(state) == set(SERVICES), state
    labnet, othernet = lab.networks
    assert state["threaded-web"]["addresses"] == f"{labnet}={lab.lab_prefix}.10"
    assert state["outsider"]["addresses"] == f"{othernet}={lab.other_prefix}.10"
    # From the host: the published ports of this lab, and only this lab, answer.
    status, body = host_get(lab.web_port, "/whoami")
    assert status == 200
    assert json.loads(body)["server_ip"] == f"{lab.lab_prefix}.10"
    assert host_get(lab.wsgi_port, "/healthz")[0] == 200
    assert host_get(lab.asgi_port, "/healthz")[0] == 200
    assert host_get(lab.impair_port, "/healthz")[0] == 200
    assert "PONG" in udp_ping(lab.chat_port)
    # Across hosts: the browser container asks multiprocess-web by name; the server sees the
    # browser's fixed address, with no NAT in between.
    doc = json.loads(lab.exec("browser", "python3", "-c",
                              fetch_script("http://multiprocess-web:8888/whoami")))  # fmt: skip
    assert doc["client_ip"] == f"{lab.lab_prefix}.40", doc
    assert doc["server_ip"] == f"{lab.lab_prefix}.20", doc
    # And the outsider, on othernet, cannot reach the lab.
    verdict = lab.exec("outsider", "python3", "-c", connect_script(f"{lab.lab_prefix}.10", 8080))
    assert verdict.startswith("failed"), verdict


def check_gone(lab: Lab) -> None:
    assert lab.leftovers() == []


# --- v2: the README's `docker compose up --build --wait` ------------------------------------------


def test_v2_up_build_wait_then_down_leaves_nothing(labs: list[Lab]) -> None:
    # Built by compose itself (BuildKit) with the network off, as make images builds.
    lab = Lab(f"{NAME_PREFIX}v2", "10.31.80", "10.31.90", V2, extra_env={"BUILD_NETWORK": "none"})
    labs.append(lab)
    lab.down()  # whatever a killed earlier run left
    version = lab.run_compose("version")
    assert "v2." in version, version
    lab.run_compose("up", "--build", "--wait", "--wait-timeout", str(int(HEALTHY_TIMEOUT)),
                    "--detach", timeout=BUILD_TIMEOUT)  # fmt: skip
    check_lab(lab)
    lab.down()
    check_gone(lab)


# --- v1, through the Makefile -----------------------------------------------------------------


@pytest.mark.skipif(V1 is None, reason="Compose v1 (docker-compose 1.x) is not installed")
def test_v1_make_up_map_down_leaves_nothing(labs: list[Lab]) -> None:
    assert V1 is not None
    lab = Lab(f"{NAME_PREFIX}v1", "10.32.80", "10.32.90", V1)
    labs.append(lab)
    lab.down()
    assert (
        lab.make("help").splitlines()[0].endswith(f"(COMPOSE=v1: {V1_PATH}; project {lab.project})")
    )
    out = lab.make("up", f"UP_TIMEOUT={int(HEALTHY_TIMEOUT)}", timeout=BUILD_TIMEOUT)
    assert "up: all healthy" in out, out
    check_lab(lab)
    lab_map = lab.make("map")
    assert f"{lab.lab_prefix}.10 ({lab.networks[0]})" in lab_map, lab_map
    assert f"127.0.0.1:{lab.web_port}" in lab_map, lab_map
    lab.make("down")
    check_gone(lab)


# --- two labs on one engine -----------------------------------------------------------------------


def test_two_labs_side_by_side_do_not_see_each_other(labs: list[Lab]) -> None:
    a = Lab(f"{NAME_PREFIX}a", "10.31.80", "10.31.90", V2)
    b = Lab(f"{NAME_PREFIX}b", "10.32.80", "10.32.90", V2)
    labs += [a, b]
    for lab in (a, b):
        lab.down()
    for lab in (a, b):
        out = lab.make("up", f"UP_TIMEOUT={int(HEALTHY_TIMEOUT)}", timeout=BUILD_TIMEOUT)
        assert "up: all healthy" in out, out
    for lab, other in ((a, b), (b, a)):
        check_lab(lab)
        # The same service name resolves to this lab's own address...
        doc = json.loads(lab.exec("browser", "python3", "-c",
                                  fetch_script("http://threaded-web:8080/whoami")))  # fmt: skip
        assert doc["server_ip"] == f"{lab.lab_prefix}.10"
        # ... and the other lab's servers cannot be reached at their addresses.
        verdict = lab.exec("browser", "python3", "-c",
                           connect_script(f"{other.lab_prefix}.10", 8080))  # fmt: skip
        assert verdict.startswith("failed"), verdict
        assert f"{lab.lab_prefix}.20" in lab.make("map")
    # make logs shows this lab's logs only: the servers' access lines name its browser.
    logs = a.make("logs", "LOGS_FOLLOW=0")
    assert f"{a.lab_prefix}.40" in logs
    assert f"{b.lab_prefix}.40" not in logs
    # Taking one lab down leaves the other one whole and serving.
    a.make("down")
    check_gone(a)
    state = b.wait_healthy(timeout=30)
    assert set(state) == set(SERVICES)
    assert host_get(b.web_port, "/healthz")[0] == 200
    b.make("down")
    check_gone(b)


# --- with a registry: no make base ----------------------------------------------------------------


@pytest.mark.skipif(
    os.environ.get("SOCKETLAB_REGISTRY") != "1",
    reason="needs a reachable container registry to pull python:3.12-slim; this machine has "
    "none (set SOCKETLAB_REGISTRY=1 where one is, as the GitHub workflow does)",
)
def test_registry_base_up_build(labs: list[Lab]) -> None:
    # BUILD_NETWORK stays unset: lab-tools.sh apt-gets what python:3.12-slim lacks.
    registry = {"BASE_IMAGE": "python:3.12-slim", "IMAGE_PREFIX": f"{IMAGE_PREFIX}-registry"}
    lab = Lab(f"{NAME_PREFIX}registry", "10.31.80", "10.31.90", V2, extra_env=registry)
    labs.append(lab)
    lab.down()
    lab.run_compose("up", "--build", "--detach", "--wait", "--wait-timeout",
                    str(int(HEALTHY_TIMEOUT)), timeout=BUILD_TIMEOUT)  # fmt: skip
    check_lab(lab)
    lab.down()
    check_gone(lab)
