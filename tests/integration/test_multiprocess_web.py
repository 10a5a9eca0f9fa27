"""multiprocess-web in its container, reached from another container on the same network.

Needs Docker and socketlab/base (make base); the image is built if needed. The service runs on
its image's built-in defaults, which are the values of configs/multiprocess-web.toml (a unit
test holds them equal): prefork, 4 workers. SOCKETLAB_MODE=fork switches one container to the
other process model, the way compose's environment would.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests
from docker.models.containers import Container
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from tests.support import contracts
from tests.support.containers import Lab
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

SERVICE = "multiprocess-web"
PORT = 8888
WHOAMI_KEYS = contracts.WHOAMI_KEYS | {"worker_pid", "parent_pid", "mode"}
# Seconds for one HTTP request from the host; the server answers in milliseconds.
HTTP_TIMEOUT = 10.0
# The slow requests: each takes SLOW seconds; two at once must be done well before 2 x SLOW.
SLOW = 2.0
TOGETHER_BUDGET = 1.6 * SLOW
# docker stop's timeout in the drain test, and how long a drain of one SLOW request may take.
STOP_TIMEOUT = 20
STOP_BUDGET = SLOW + 5.0

# Runs inside the client container (base image, stdlib only): N requests at once, one thread
# and one connection each, then one JSON line with what each got and the client's own address.
SLOW_FROM_CLIENT = """
import http.client, json, sys, threading, time
host, port, path, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
results = [None] * count
def one(i):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.connect()
    local = conn.sock.getsockname()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    results[i] = {"status": response.status, "pid": response.getheader("X-Worker-Pid"),
                  "local": list(local), "body": json.loads(body) if body[:1] == b"{" else None}
    conn.close()
started = time.monotonic()
threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
for t in threads: t.start()
for t in threads: t.join(60)
print(json.dumps({"elapsed": time.monotonic() - started, "results": results}))
"""


def from_client(lab: Lab, client: Container, host: str, path: str, count: int) -> dict[str, Any]:
    result: dict[str, Any] = lab.python(client, SLOW_FROM_CLIENT, host, str(PORT), path, str(count))
    return result


WORKING_NOW = f"""
import json, urllib.request
with urllib.request.urlopen("http://127.0.0.1:{PORT}/server-status", timeout=2) as answer:
    print(json.load(answer)["states"]["working"])
"""


def working(lab: Lab, container: Container) -> int:
    """How many requests the server is working on now, from its own scoreboard (asked over
    loopback inside its container, where /server-status is allowed)."""
    result = lab.exec(container, ["python3", "-c", WORKING_NOW], check=False)
    return int(result.stdout) if result.exit_code == 0 and result.stdout.strip() else 0


def test_image_declares_healthcheck_user_and_command(lab: Lab) -> None:
    contracts.assert_service_image(lab, SERVICE, PORT, "socketlab.multiprocess_web")


def test_whoami_reports_the_client_containers_address(
    lab: Lab, lab_network: Network, web: DockerContainer, client: Container
) -> None:
    report = from_client(lab, client, SERVICE, "/whoami", 1)
    answer = report["results"][0]
    assert answer["status"] == 200, lab.describe(web)
    doc = answer["body"]
    assert doc.keys() >= WHOAMI_KEYS, f"missing keys: {WHOAMI_KEYS - doc.keys()}"
    assert doc["client_ip"] == lab.ip(client, lab_network) == answer["local"][0]
    assert doc["client_port"] == answer["local"][1]
    assert doc["server_ip"] == lab.ip(web, lab_network)
    assert doc["server_port"] == PORT
    assert doc["hostname"] == SERVICE
    # A worker answered, not the supervisor: PID 1 is the parent, the worker is its child.
    assert doc["parent_pid"] == 1
    assert doc["worker_pid"] == doc["pid"] == int(answer["pid"]) != 1
    assert doc["mode"] == "prefork"


@pytest.mark.parametrize("mode", ["prefork", "fork"])
def test_two_slow_requests_at_once_take_the_time_of_one(
    lab: Lab, lab_network: Network, web: DockerContainer, client: Container, mode: str
) -> None:
    if mode == "prefork":
        report = from_client(lab, client, SERVICE, f"/delay/{SLOW:g}", 2)
        context = lab.describe(web)
    else:
        with lab.service(
            SERVICE, lab_network, "multiprocess-fork", env={"SOCKETLAB_MODE": "fork"}
        ) as forking:
            report = from_client(lab, client, "multiprocess-fork", f"/delay/{SLOW:g}", 2)
            context = lab.describe(forking)
    results = report["results"]
    assert [r["status"] for r in results] == [200, 200], context
    pids = {r["pid"] for r in results}
    assert len(pids) == 2, f"one process answered both: {pids}\n{context}"
    assert "1" not in pids, "the supervising parent must never serve"
    assert all(r["body"]["mode"] == mode for r in results)
    assert report["elapsed"] < TOGETHER_BUDGET, (
        f"two {SLOW:g} s requests took {report['elapsed']:.2f} s: not served in parallel\n{context}"
    )


def test_host_gets_the_dynamic_site_static_files_and_health(
    lab: Lab, web: DockerContainer, http: requests.Session
) -> None:
    base = f"http://127.0.0.1:{lab.host_port(web, PORT)}"
    home = http.get(f"{base}/", timeout=HTTP_TIMEOUT)
    assert home.status_code == 200, lab.describe(web)
    assert "multiprocess-web" in home.text
    assert http.get(f"{base}/about.py", timeout=HTTP_TIMEOUT).status_code == 200
    css = http.get(f"{base}/css/site.css", timeout=HTTP_TIMEOUT)
    assert css.status_code == 200
    assert css.headers["Content-Type"].startswith("text/css")
    assert int(css.headers["X-Worker-Pid"]) > 1
    posted = http.post(f"{base}/register.py", data={"firstname": "<i>x</i>"}, timeout=HTTP_TIMEOUT)
    assert "&lt;i&gt;x&lt;/i&gt;" in posted.text
    assert http.get(f"{base}/healthz", timeout=HTTP_TIMEOUT).text == "ok\n"


def test_docker_stop_drains_an_in_flight_request_and_exits_0(
    lab: Lab, lab_network: Network, client: Container
) -> None:
    with lab.service(SERVICE, lab_network, "multiprocess-stop") as web:
        wrapped = web.get_wrapped_container()
        reports: list[dict[str, Any]] = []
        request = threading.Thread(
            target=lambda: reports.append(
                from_client(lab, client, "multiprocess-stop", f"/delay/{SLOW:g}", 1)
            )
        )
        request.start()
        wait_until(
            lambda: working(lab, wrapped) >= 1,
            STOP_BUDGET,
            lambda: f"the request never reached a worker\n{lab.describe(web)}",
        )
        started = time.monotonic()
        wrapped.stop(timeout=STOP_TIMEOUT)
        elapsed = time.monotonic() - started
        request.join(STOP_TIMEOUT)
        wrapped.reload()
        state = wrapped.attrs["State"]
        context = lab.describe(web)
        assert state["ExitCode"] == 0, f"exit code {state['ExitCode']}\n{context}"
        assert elapsed < STOP_BUDGET, f"docker stop took {elapsed:.1f} s\n{context}"
        assert reports, f"the client got no answer\n{context}"
        assert reports[0]["results"][0]["status"] == 200, f"{reports}\n{context}"
        assert "SIGTERM: stopping" in lab.logs(wrapped)
