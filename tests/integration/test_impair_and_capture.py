"""The impair relay's image between a client and threaded-web, and the capture helper container.

* socketlab/impair on a fresh network in front of socketlab/threaded-web: the image's healthcheck
  passes, a page through the relay takes at least the profile's latency, the control API on a
  published port lists the proxy with live counters and changes it at run time, and the relay
  writes ledger lines naming both legs.
* scripts/capture.sh (what `make capture` runs) joins a running threaded-web container's network
  namespace from a helper container with the raw-socket capabilities, while the service itself
  stays without any; the file it writes is summarised with the client's handshakes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker.models.containers import Container
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from tests.support.containers import REPO_ROOT, RUN_ID, RUN_LABEL, Lab

pytestmark = pytest.mark.integration

LATENCY_MS = 200
PROFILES = f"""
[proxies.slow-web]
listen = ":8080"
upstream = "threaded-web:8080"
latency_ms = {LATENCY_MS}
"""
TIMED_GET = """
import json, sys, time, urllib.request
started = time.monotonic()
with urllib.request.urlopen(sys.argv[1], timeout=10) as resp:
    body = resp.read()
print(json.dumps({"status": resp.status, "seconds": time.monotonic() - started, "size": len(body)}))
"""


@pytest.fixture(scope="module")
def web(lab: Lab, lab_network: Network) -> Iterator[DockerContainer]:
    with lab.service("threaded-web", lab_network) as container:
        yield container


@pytest.fixture(scope="module")
def relay(lab: Lab, lab_network: Network, web: DockerContainer) -> Iterator[DockerContainer]:
    """The relay with a one-proxy profile written at start (compose mounts the real file)."""
    script = f"cat > /tmp/impair.toml <<'EOF'\n{PROFILES}\nEOF\nexec python3 -m socketlab.impair"
    command = ["sh", "-c", script + " --host 0.0.0.0 --port 8474 --profiles /tmp/impair.toml"]
    with lab.service("impair", lab_network, publish=(8474,), command=command) as container:
        yield container


@pytest.fixture(scope="module")
def client(lab: Lab, lab_network: Network) -> Iterator[Container]:
    with lab.client_container(lab_network) as container:
        yield container


def control(lab: Lab, relay: DockerContainer, path: str, body: bytes | None = None) -> object:
    url = f"http://127.0.0.1:{lab.host_port(relay, 8474)}{path}"
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - our own http URL
        return json.load(resp)


def test_the_relay_delays_a_page_and_counts_it(
    lab: Lab, relay: DockerContainer, client: Container
) -> None:
    with lab.logs_on_failure(relay):
        slow = lab.python(client, TIMED_GET, "http://impair:8080/")
        direct = lab.python(client, TIMED_GET, "http://threaded-web:8080/")
        assert slow["status"] == direct["status"] == 200
        assert slow["size"] == direct["size"]
        assert LATENCY_MS / 1000 <= slow["seconds"] < 5
        listing = control(lab, relay, "/proxies")
        assert isinstance(listing, dict)
        counters = listing["slow-web"]["counters"]
        assert counters["connections_total"] >= 1
        assert counters["bytes_downstream"] >= slow["size"]


def test_a_profile_changes_at_run_time(lab: Lab, relay: DockerContainer, client: Container) -> None:
    with lab.logs_on_failure(relay):
        changed = control(lab, relay, "/proxies/slow-web", b'{"latency_ms": 0}')
        assert isinstance(changed, dict)
        assert changed["toxics"]["downstream"]["latency_ms"] == 0
        fast = lab.python(client, TIMED_GET, "http://impair:8080/")
        assert fast["seconds"] < LATENCY_MS / 1000
        control(lab, relay, "/proxies/slow-web", f'{{"latency_ms": {LATENCY_MS}}}'.encode())


def test_the_relay_writes_ledger_lines_with_both_legs(
    lab: Lab, relay: DockerContainer, client: Container
) -> None:
    lab.python(client, TIMED_GET, "http://impair:8080/")
    deadline = time.monotonic() + 10
    lines: list[dict[str, object]] = []
    while not lines and time.monotonic() < deadline:
        time.sleep(0.3)
        lines = [
            json.loads(line[line.index("{") :])
            for line in lab.logs(relay, tail=500).splitlines()
            if " ledger {" in line and '"role": "relay"' in line
        ]
    assert lines, lab.logs(relay)
    line = lines[-1]
    assert line["proxy"] == "slow-web"
    assert str(line["upstream_remote"]).endswith(":8080")
    assert line["local"] != line["upstream_local"]


def test_capture_helper_records_a_services_traffic(
    lab: Lab, lab_network: Network, client: Container, tmp_path: Path
) -> None:
    """scripts/capture.sh finds the service by its compose labels, like in the real lab."""
    project = f"sltr-it-{os.getpid()}"
    service = (
        DockerContainer(lab.images.tag("threaded-web"))
        .with_network(lab_network)
        .with_network_aliases("captured-web")
        .with_kwargs(
            labels={
                RUN_LABEL: RUN_ID,
                "com.docker.compose.project": project,
                "com.docker.compose.service": "threaded-web",
            }
        )
    )
    with service:
        lab.wait_healthy(service)
        env = {
            **os.environ,
            "COMPOSE_PROJECT_NAME": project,
            "CAPTURE_DIR": str(tmp_path),
            "SUMMARY": f"{sys.executable} scripts/pcap_summary.py --json",
        }
        capture = subprocess.Popen(
            ["scripts/capture.sh", "threaded-web", "6", "tcp port 8080"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert capture.stderr is not None
        said: list[str] = []
        while not any("listening on" in line for line in said):  # tcpdump is ready
            line = capture.stderr.readline()
            assert line, "".join(said)  # ended without ever listening
            said.append(line)
        for _ in range(3):
            lab.python(client, TIMED_GET, "http://captured-web:8080/")
        out, err = capture.communicate(timeout=60)
        err = "".join(said) + err
        assert capture.returncode == 0, out + err
        summary = json.loads(out.splitlines()[-1])
        wrapped = service.get_wrapped_container()
        wrapped.reload()
        assert not wrapped.attrs["HostConfig"]["CapAdd"]  # the service gained nothing
    client_ip = lab.ip(client, lab_network)
    convs = [c for c in summary["conversations"] if c["a"].startswith(client_ip + ":")]
    assert len(convs) == 3, summary
    assert all(c["handshake"] for c in convs)
    assert sum(c["requests"] for c in convs) == 3
    assert len(list(tmp_path.glob("threaded-web-*.pcap"))) == 1
