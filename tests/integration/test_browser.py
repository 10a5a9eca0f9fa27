"""The browser in its container, loading threaded-web by its DNS name on a Docker network.

What is checked, from the browser's own JSON report and the server's /whoami answers:

* the page and its resources load, by the name ``threaded-web`` (Docker's embedded DNS);
* every request's remote address is the threaded-web container's IP on that network;
* every local port the browser reports is the ``client_port`` the server saw on that connection
  (the browser asks /whoami on each of its connections: ``--probe-whoami``);
* a page with several resources loads over fewer connections than requests (keep-alive);
* the image's own command (scheduled visits of configs/browser/, mounted as compose does) keeps
  the container healthy through its heartbeat, prints reports, and stops quickly on SIGTERM.

Needs Docker and socketlab/base (make base); the images are built if needed (see conftest.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from tests.support.containers import REPO_ROOT, Lab, describe
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

SERVER = "threaded-web"
PORT = 8080
# Seconds a one-off browser run may take: two pages on a LAN take milliseconds, the image starts
# in about one second; the rest is room for a loaded CI machine.
RUN_TIMEOUT = 60
# docker stop's timeout, and how long a clean stop may take (the browser cancels what is in
# flight and exits; it should need well under a second).
STOP_TIMEOUT = 10
STOP_BUDGET = 5.0
# What the image's HEALTHCHECK allows: the browser is healthy once its first page is done.
HEALTH_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def web(lab: Lab, lab_network: Network) -> Iterator[DockerContainer]:
    """threaded-web on the module's network as ``threaded-web``, healthy (nothing published)."""
    with lab.service(SERVER, lab_network, SERVER, publish=()) as container:
        yield container


def run_browser(lab: Lab, network: Network, *args: str) -> tuple[int, str]:
    """Run ``python3 -m socketlab.browser ARGS`` in the browser image on ``network``; return its
    exit status and stdout. The container is removed afterwards whatever happens."""
    command = ["python3", "-m", "socketlab.browser", *args]
    with lab.service(
        "browser",
        network,
        "browser",
        publish=(),
        command=command,
        wait_healthy=False,
    ) as container:
        wrapped = container.get_wrapped_container()
        try:
            status = wrapped.wait(timeout=RUN_TIMEOUT)["StatusCode"]
        except Exception as exc:  # noqa: BLE001 -- docker-py raises requests' timeout types
            pytest.fail(
                f"browser did not finish within {RUN_TIMEOUT} s ({exc})\n{describe(wrapped)}", False
            )
        out = wrapped.logs(stdout=True, stderr=False).decode("utf-8", "replace")
        err = wrapped.logs(stdout=False, stderr=True).decode("utf-8", "replace")
        if err.strip():
            print(f"browser stderr:\n{err}")
        return status, out


@pytest.fixture(scope="module")
def report(lab: Lab, lab_network: Network, web: DockerContainer) -> list[dict[str, Any]]:
    """The browser's JSON report of two pages from threaded-web, with /whoami probes."""
    base = f"http://{SERVER}:{PORT}"
    status, out = run_browser(
        lab, lab_network, "--json", "--probe-whoami", f"{base}/", f"{base}/tcp.html"
    )
    pages = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert status == 0, out
    assert len(pages) == 2, out
    return pages


def test_pages_load_by_dns_name(report: list[dict[str, Any]]) -> None:
    first = report[0]
    assert first["ok"]
    assert first["status"] == 200
    assert first["url"] == f"http://{SERVER}:{PORT}/"
    paths = {e["url"].split(f":{PORT}", 1)[1] for e in first["entries"] if e["type"] != "whoami"}
    assert paths == {"/", "/css/site.css", "/js/site.js", "/img/two-hosts.png", "/favicon.ico"}
    assert all(e["status"] == 200 and e["error"] is None for e in first["entries"])


def test_remote_address_is_the_server_container(
    report: list[dict[str, Any]], lab: Lab, lab_network: Network, web: DockerContainer
) -> None:
    server_ip = lab.ip(web, lab_network)
    for page in report:
        for entry in page["entries"]:
            assert (entry["remote_ip"], entry["remote_port"]) == (server_ip, PORT), entry
        for conn in page["connections"]:
            assert conn["remote_ip"] == server_ip


def test_every_local_port_is_the_client_port_the_server_saw(
    report: list[dict[str, Any]],
) -> None:
    for page in report:
        ports = {e["local_port"] for e in page["entries"]}
        probes = [e for e in page["entries"] if e["type"] == "whoami"]
        assert probes
        assert all(p["status"] == 200 for p in probes)
        server_saw = {c["local_port"]: c["server_saw"] for c in page["connections"]}
        assert set(server_saw) == ports
        for conn in page["connections"]:
            seen = conn["server_saw"]
            assert seen is not None, conn
            # No NAT between two containers on one bridge: the server sees our very socket.
            assert (seen["client_ip"], seen["client_port"]) == (
                conn["local_ip"],
                conn["local_port"],
            )


def test_several_resources_over_fewer_connections(report: list[dict[str, Any]]) -> None:
    requests = [e for e in report[0]["entries"] if e["type"] != "whoami"]
    connections = {e["connection"] for e in requests}
    assert len(requests) == 5
    assert 1 <= len(connections) < len(requests)
    assert report[0]["summary"]["requests_on_reused_connections"] >= 1
    # The second page reuses the first page's connections: same visitor, keep-alive.
    assert all(e["reused"] for e in report[1]["entries"])


def test_scheduled_visits_stay_healthy_and_stop_on_sigterm(
    lab: Lab, lab_network: Network, web: DockerContainer
) -> None:
    """The image's own command, with configs/browser mounted read-only as compose does.
    multiprocess-web is not on this network: its visits fail with 'unknown host' on their rows,
    and the browser stays healthy (its heartbeat is about its own loop, not the servers)."""
    with lab.service(
        "browser",
        lab_network,
        publish=(),
        volumes=[(REPO_ROOT / "configs" / "browser", "/etc/socketlab/browser")],
        startup_timeout=HEALTH_TIMEOUT,
    ) as container:
        wrapped = container.get_wrapped_container()

        def stdout() -> str:
            return str(wrapped.logs(stdout=True, stderr=False).decode("utf-8", "replace"))

        wait_until(
            lambda: "visit 1/1000000" in stdout(),
            HEALTH_TIMEOUT,
            lambda: f"the first visit did not finish\n{describe(wrapped)}",
            interval=0.5,
        )
        logs = stdout()
        assert "[threaded-web: GET /] GET http://threaded-web:8080/" in logs, logs
        assert "server saw " in logs
        assert "unknown host: cannot resolve 'multiprocess-web'" in logs
        started = time.monotonic()
        wrapped.stop(timeout=STOP_TIMEOUT)
        took = time.monotonic() - started
        wrapped.reload()
        assert wrapped.attrs["State"]["ExitCode"] in (0, 1), describe(wrapped)
        assert took < STOP_BUDGET, f"stop took {took:.1f} s\n{describe(wrapped)}"
