"""Exercise 2 (docs/labs/02-tcp-client-and-server.md): nc on both ends, ss, the handshake."""

from __future__ import annotations

import contextlib
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import IO

import pytest
from conftest import LAB_PREFIX, RunningLab

pytestmark = pytest.mark.labs

PORT = 7000
# Seconds any nc or tcpdump of these tests may live: `timeout` ends it in the container even
# if the test dies (killing the docker CLI would not stop the process inside).
LIFETIME = "20"
WAIT = 10.0


class Lines:
    """Lines of a stream, read by a thread, so a test can wait for one with a deadline."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[bytes]) -> None:
        with contextlib.suppress(ValueError, OSError):  # the stream was closed under us
            for raw in stream:
                self.queue.put(raw.decode("utf-8", "replace").rstrip("\n"))

    def next(self, timeout: float = WAIT) -> str:
        try:
            line = self.queue.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no line within {timeout:g} s (so far: {self.seen})", False)
        self.seen.append(line)
        return line


@contextlib.contextmanager
def docker_exec(
    lab: RunningLab, service: str, *cmd: str, user: str = ""
) -> Iterator[subprocess.Popen[bytes]]:
    """``docker compose exec SERVICE CMD`` kept running, with its stdin and stdout as pipes."""
    args = ["docker", "exec", "-i", *(["-u", user] if user else []), lab.id(service)]
    proc = subprocess.Popen(
        [*args, "timeout", LIFETIME, *cmd],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        if proc.stdin and not proc.stdin.closed:
            proc.stdin.close()
        try:
            proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def wait_listening(lab: RunningLab) -> None:
    deadline = time.monotonic() + WAIT
    while not lab.exec("threaded-web", "ss", "-Htln", f"( sport = :{PORT} )").stdout:
        assert time.monotonic() < deadline, f"nothing listens on {PORT} in threaded-web"
        time.sleep(0.1)


def say(proc: subprocess.Popen[bytes], line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line.encode() + b"\n")
    proc.stdin.flush()


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
    assert result.returncode == 1
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
    client = packets[0].split()[2]
    assert client.startswith(f"{LAB_PREFIX}.40.")
    assert packets[0].split()[4] == f"{LAB_PREFIX}.10.{PORT}:"
    assert packets[1].split()[2:5] == [f"{LAB_PREFIX}.10.{PORT}", ">", f"{client}:"]
