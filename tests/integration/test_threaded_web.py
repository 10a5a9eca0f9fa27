"""threaded-web in its container: reached from the host, from another container, by name; stops
cleanly on SIGTERM. Needs Docker and socketlab/base (make base); the image is built if needed."""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from docker.models.containers import Container
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from tests.support import contracts
from tests.support.containers import Lab

pytestmark = pytest.mark.integration

SERVICE = "threaded-web"
PORT = 8080
WHOAMI_KEYS = contracts.WHOAMI_KEYS
# Seconds for one HTTP request from the host; the server answers in milliseconds.
HTTP_TIMEOUT = 10.0
# Docker's stop timeout in the SIGTERM test, and how much of it a clean stop may use: the
# server finishes in-flight requests (none here) and exits, so it should take well under a second.
STOP_TIMEOUT = 10
STOP_BUDGET = 5.0

# Runs inside the client container (base image, stdlib only). Two requests on one connection:
# the second must show the same client port and request_index 2 (HTTP/1.1 keep-alive).
# Prints one JSON document: the client's own view of the socket and the two /whoami answers.
WHOAMI_FROM_CLIENT = """
import http.client, json, sys
host, port = sys.argv[1], int(sys.argv[2])
conn = http.client.HTTPConnection(host, port, timeout=10)
conn.connect()
local = conn.sock.getsockname()
answers = []
for _ in range(2):
    conn.request("GET", "/whoami")
    response = conn.getresponse()
    answers.append({"status": response.status, "body": json.loads(response.read())})
conn.close()
with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
    low, high = (int(x) for x in f.read().split())
print(json.dumps({"local": list(local), "port_range": [low, high], "answers": answers}))
"""

RESOLVE_FROM_CLIENT = """
import json, socket, sys
print(json.dumps({"address": socket.gethostbyname(sys.argv[1])}))
"""


def _base_url(lab: Lab, container: DockerContainer) -> str:
    return f"http://127.0.0.1:{lab.host_port(container, PORT)}"


def test_image_declares_healthcheck_user_and_command(lab: Lab) -> None:
    contracts.assert_service_image(lab, SERVICE, PORT, "socketlab.threaded_web")


def test_host_gets_index_html_and_whoami(
    lab: Lab, web: DockerContainer, http: requests.Session
) -> None:
    base = _base_url(lab, web)

    index = http.get(f"{base}/", timeout=HTTP_TIMEOUT)
    assert index.status_code == 200, lab.describe(web)
    assert index.headers["Content-Type"].startswith("text/html")
    assert "<html" in index.text.lower()

    health = http.get(f"{base}/healthz", timeout=HTTP_TIMEOUT)
    assert health.status_code == 200
    assert health.text.strip() == "ok"

    whoami = http.get(f"{base}/whoami", timeout=HTTP_TIMEOUT)
    assert whoami.status_code == 200, lab.describe(web)
    assert whoami.headers["Content-Type"].startswith("application/json")
    doc = whoami.json()
    assert doc.keys() >= WHOAMI_KEYS, f"missing keys: {WHOAMI_KEYS - doc.keys()}"
    assert doc["server_port"] == PORT
    assert doc["hostname"] == SERVICE
    assert doc["pid"] == 1, "the server should be PID 1 (exec-form CMD, no shell, no init)"


def test_whoami_from_another_container(
    lab: Lab, lab_network: Network, web: DockerContainer, client: Container
) -> None:
    """The server sees the client container's own address and ephemeral port, and its own."""
    report = lab.python(client, WHOAMI_FROM_CLIENT, SERVICE, str(PORT))
    client_ip = lab.ip(client, lab_network)
    server_ip = lab.ip(web, lab_network)
    first, second = report["answers"]
    assert first["status"] == second["status"] == 200, lab.describe(web)
    doc = first["body"]

    assert doc["client_ip"] == client_ip == report["local"][0]
    assert doc["client_port"] == report["local"][1]
    low, high = report["port_range"]
    assert low <= doc["client_port"] <= high, "an ephemeral port from the client's range"
    assert doc["server_ip"] == server_ip
    assert doc["server_port"] == PORT
    assert doc["hostname"] == SERVICE

    # Keep-alive: the same connection serves the second request.
    assert doc["request_index"] == 1
    assert second["body"]["request_index"] == 2
    assert second["body"]["client_port"] == doc["client_port"]


def test_service_name_resolves_through_docker_dns(
    lab: Lab, lab_network: Network, web: DockerContainer, client: Container
) -> None:
    server_ip = lab.ip(web, lab_network)

    getent = lab.exec(client, ["getent", "hosts", SERVICE])
    assert getent.stdout.split()[:2] == [server_ip, SERVICE]

    resolved = lab.python(client, RESOLVE_FROM_CLIENT, SERVICE)
    assert resolved["address"] == server_ip

    resolv_conf = lab.exec(client, ["cat", "/etc/resolv.conf"]).stdout
    assert "nameserver 127.0.0.11" in resolv_conf, "user-defined networks use Docker's DNS"


def test_sigterm_stops_promptly_with_status_0_and_logged_every_request(
    lab: Lab, lab_network: Network, http: requests.Session
) -> None:
    """A container of its own: `docker stop` sends SIGTERM; the server must exit 0 at once."""
    marker = uuid.uuid4().hex
    paths = [f"/whoami?probe={marker}-{n}" for n in range(3)] + [f"/?probe={marker}-index"]
    with lab.service(SERVICE, lab_network, "threaded-web-stop") as web:
        base = _base_url(lab, web)
        for path in paths:
            assert http.get(base + path, timeout=HTTP_TIMEOUT).status_code == 200, lab.describe(web)

        wrapped = web.get_wrapped_container()
        started = time.monotonic()
        wrapped.stop(timeout=STOP_TIMEOUT)
        elapsed = time.monotonic() - started
        wrapped.reload()
        state = wrapped.attrs["State"]
        context = lab.describe(web)

        assert state["Status"] == "exited", context
        assert state["ExitCode"] == 0, f"exit code {state['ExitCode']} after SIGTERM\n{context}"
        assert not state["OOMKilled"]
        assert elapsed < STOP_BUDGET, f"docker stop took {elapsed:.1f} s\n{context}"

        logs = wrapped.logs().decode("utf-8", "replace").splitlines()
        for path in paths:
            lines = [line for line in logs if path in line]
            assert len(lines) == 1, f"expected one access line for {path}, got {lines}\n{context}"
