"""Exercise 1 (docs/labs/01-addresses-and-ports.md): addresses, names, gateway, isolation."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.support.running_lab import LAB_PREFIX, LABNET, RunningLab, run

pytestmark = pytest.mark.labs


def test_threaded_web_has_its_fixed_address(lab: RunningLab) -> None:
    out = lab.exec("threaded-web", "ip", "-4", "-br", "addr").stdout
    eth0 = [line.split() for line in out.splitlines() if line.startswith("eth0")]
    assert eth0, out
    assert f"{LAB_PREFIX}.10/24" in eth0[0], out


def test_default_route_is_the_gateway(lab: RunningLab) -> None:
    out = lab.exec("browser", "ip", "route").stdout
    assert out.splitlines()[0].startswith(f"default via {LAB_PREFIX}.1 "), out


def test_threaded_web_listens_on_8080(lab: RunningLab) -> None:
    out = lab.exec("threaded-web", "ss", "-tlnp").stdout
    listening = [line for line in out.splitlines() if "0.0.0.0:8080 " in line]
    assert len(listening) == 1, out
    assert listening[0].startswith("LISTEN")
    assert '("python3",pid=1,' in listening[0], out


def test_service_names_resolve_to_fixed_addresses(lab: RunningLab) -> None:
    out = lab.exec("browser", "getent", "hosts", "threaded-web", "multiprocess-web", "udp-chat")
    assert [line.split() for line in out.stdout.splitlines()] == [
        [f"{LAB_PREFIX}.10", "threaded-web"],
        [f"{LAB_PREFIX}.20", "multiprocess-web"],
        [f"{LAB_PREFIX}.30", "udp-chat"],
    ]
    assert "nameserver 127.0.0.11" in lab.exec("browser", "cat", "/etc/resolv.conf").stdout


def test_whoami_shows_the_callers_address_and_port(lab: RunningLab) -> None:
    url = "http://threaded-web:8080/whoami"
    first = json.loads(lab.exec("browser", "curl", "-s", url).stdout)
    second = json.loads(lab.exec("browser", "curl", "-s", url).stdout)
    low, high = map(
        int, lab.exec("browser", "cat", "/proc/sys/net/ipv4/ip_local_port_range").stdout.split()
    )
    assert (low, high) == (32768, 60999)
    for doc in (first, second):
        assert doc["client_ip"] == f"{LAB_PREFIX}.40"
        assert low <= doc["client_port"] <= high
        assert (doc["server_ip"], doc["server_port"]) == (f"{LAB_PREFIX}.10", 8080)
    assert first["client_port"] != second["client_port"], "a new connection, a new port"


def test_whoami_from_the_host_shows_the_gateway(lab: RunningLab) -> None:
    # The text says 127.0.0.1:8080 (compose.yaml publishes that); ask Docker rather than assume.
    published = run(["docker", "port", lab.id("threaded-web"), "8080/tcp"]).stdout.split()
    assert published, "threaded-web publishes no port"
    address = next(p for p in published if p.startswith("127.0.0.1:"))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy from env
    with opener.open(f"http://{address}/whoami", timeout=10) as response:
        doc = json.load(response)
    assert doc["client_ip"] == f"{LAB_PREFIX}.1", doc


def test_outsider_cannot_reach_the_lab(lab: RunningLab) -> None:
    curl = lab.exec(
        "outsider", "curl", "-sS", "-m", "3", f"http://{LAB_PREFIX}.10:8080/", check=False
    )
    assert curl.exit_code == 28, curl
    assert "timed out" in curl.stderr
    getent = lab.exec("outsider", "getent", "hosts", "threaded-web", check=False)
    assert (getent.exit_code, getent.stdout) == (2, ""), getent


def test_outsider_reaches_the_lab_once_connected(lab: RunningLab) -> None:
    outsider = lab.id("outsider")
    connect = run(["docker", "network", "connect", LABNET, outsider])
    assert connect.exit_code == 0, connect
    try:
        addrs = lab.exec("outsider", "ip", "-4", "-br", "addr").stdout
        on_labnet = [w for w in addrs.split() if w.startswith(f"{LAB_PREFIX}.")]
        assert len(on_labnet) == 1, addrs
        address = on_labnet[0].split("/")[0]
        assert int(address.rsplit(".", 1)[1]) >= 128, "from labnet's dynamic range"
        doc = json.loads(
            lab.exec("outsider", "curl", "-s", "http://threaded-web:8080/whoami").stdout
        )
        assert doc["client_ip"] == address
    finally:
        run(["docker", "network", "disconnect", LABNET, outsider])
