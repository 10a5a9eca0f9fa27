"""Exercise 2 (docs/labs/02-tcp-client-and-server.md): nc on both ends, ss, the handshake."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.support.running_lab import LAB_PREFIX, LINE_WAIT, Lines, RunningLab, docker_exec, say
from tests.support.waiting import wait_until

pytestmark = pytest.mark.labs

PORT = 7000
WAIT = LINE_WAIT


def wait_listening(lab: RunningLab) -> None:
    wait_until(
        lambda: lab.exec("threaded-web", "ss", "-Htln", f"( sport = :{PORT} )").stdout,
        WAIT,
        f"nothing listens on {PORT} in threaded-web",
        interval=0.1,
    )


@contextlib.contextmanager
def conversation(
    lab: RunningLab,
) -> Iterator[tuple[subprocess.Popen[bytes], Lines, subprocess.Popen[bytes], Lines]]:
    """Terminal 1 (`nc -l 7000` in threaded-web) and terminal 2 (`nc -q 0` in browser)."""
    with docker_exec(lab, "threaded-web", "nc", "-l", str(PORT)) as server:
        wait_listening(lab)
        with docker_exec(lab, "browser", "nc", "-q", "0", "threaded-web", str(PORT)) as client:
            assert server.stdout is not None
            assert client.stdout is not None
            yield server, Lines(server.stdout), client, Lines(client.stdout)
            assert client.stdin is not None
            client.stdin.close()  # Ctrl-D
            assert client.wait(WAIT) == 0
        assert server.wait(WAIT) == 0, "the server's nc exits when the stream ends"


def test_nc_carries_lines_both_ways(lab: RunningLab) -> None:
    with conversation(lab) as (server, server_out, client, client_out):
        say(client, "hello from the browser")
        assert server_out.next() == "hello from the browser"
        say(server, "hello from threaded-web")
        assert client_out.next() == "hello from threaded-web"


def test_both_ends_see_the_same_connection_mirrored(lab: RunningLab) -> None:
    with conversation(lab) as (_, server_out, client, _):
        say(client, "ping")
        server_out.next()  # connected and talking
        on_server = lab.exec(
            "threaded-web", "ss", "-Htn", "state", "established", f"( sport = :{PORT} )"
        ).stdout.split()
        on_client = lab.exec(
            "browser", "ss", "-Htn", "state", "established", f"( dport = :{PORT} )"
        ).stdout.split()
        assert len(on_server) == len(on_client) == 4, (on_server, on_client)
        server_local, server_peer = on_server[2:]
        client_local, client_peer = on_client[2:]
        assert server_local == client_peer == f"{LAB_PREFIX}.10:{PORT}"
        assert server_peer == client_local
        assert client_local.startswith(f"{LAB_PREFIX}.40:")


def test_connecting_to_a_closed_port_is_refused(lab: RunningLab) -> None:
    started = time.monotonic()
    result = lab.exec("browser", "nc", "-vz", "threaded-web", "7001", check=False)
    assert result.exit_code == 1
    assert "Connection refused" in result.stderr, result
    assert time.monotonic() - started < 5, "a refusal is immediate"


def test_tcpdump_shows_the_three_way_handshake(lab: RunningLab) -> None:
    capture = ["tcpdump", "-i", "eth0", "-nn", "-c", "3", "tcp", "port", str(PORT)]
    with docker_exec(lab, "threaded-web", *capture, user="root") as tcpdump:
        assert tcpdump.stderr is not None
        assert tcpdump.stdout is not None
        notes = Lines(tcpdump.stderr)
        while "listening on eth0" not in notes.next():
            pass
        with conversation(lab) as (_, server_out, client, _):
            say(client, "hello")
            server_out.next()
        out, _ = tcpdump.communicate(timeout=WAIT)
    packets = out.decode().splitlines()
    assert len(packets) == 3, packets
    flags = [line.split("Flags [", 1)[1].split("]", 1)[0] for line in packets]
    assert flags == ["S", "S.", "."], packets
    browser = packets[0].split()[2]
    assert browser.startswith(f"{LAB_PREFIX}.40.")
    assert packets[0].split()[4] == f"{LAB_PREFIX}.10.{PORT}:"
    assert packets[1].split()[2:5] == [f"{LAB_PREFIX}.10.{PORT}", ">", f"{browser}:"]
