"""Exercise 4 (docs/labs/04-udp-datagrams-and-loss.md): nc -u, boundaries, loss, restart."""

from __future__ import annotations

import re

import pytest

from tests.support.running_lab import LAB_PREFIX, Lines, RunningLab, docker_exec, run, say
from tests.support.waiting import wait_until

pytestmark = pytest.mark.labs

WELCOME = re.compile(rf"WELCOME (\S+) {re.escape(LAB_PREFIX)}\.40:(\d+) \d+")
HEALTHY_WAIT = 60.0


def test_join_by_hand_gets_welcome_with_the_senders_address(lab: RunningLab) -> None:
    with docker_exec(lab, "browser", "nc", "-u", "udp-chat", "9999") as nc:
        assert nc.stdout is not None
        out = Lines(nc.stdout)
        say(nc, "JOIN alice")
        welcome = WELCOME.fullmatch(out.next())
        assert welcome, out.seen
        assert welcome.group(1) == "alice"
        assert 32768 <= int(welcome.group(2)) <= 60999
        say(nc, "LEAVE")
        assert out.next().startswith("BYE")


def test_udp_keeps_boundaries_tcp_does_not(lab: RunningLab) -> None:
    """The script counts its calls and prints what it received: three datagrams for three
    sendto() calls, one recv() for the three send() calls' bytes."""
    out = lab.script("browser", "boundaries.py").splitlines()
    assert out == [
        "udp: 3 sendto() -> 3 recvfrom(): [b'one', b'two', b'three']",
        "tcp: 3 send() -> 1 recv(): b'onetwothree'",
    ]


def test_udp_loss_is_silent_and_counted_by_the_kernel(lab: RunningLab) -> None:
    out = lab.script("browser", "udp_loss.py")
    sent = re.search(r"sent (\d+) datagrams, every sendto\(\) succeeded", out)
    lost = re.search(r"received (\d+), lost (\d+)", out)
    counted = re.search(r"kernel counted (\d+) dropped", out)
    assert sent, out
    assert lost, out
    assert counted, out
    assert int(sent.group(1)) == 2000
    assert int(lost.group(2)) > 0
    assert int(lost.group(1)) < 2000
    assert int(counted.group(1)) == int(lost.group(2)), out


def wait_healthy(lab: RunningLab, service: str) -> None:
    def health() -> str:
        command = ["docker", "inspect", "--format", "{{.State.Health.Status}}", lab.id(service)]
        return run(command).stdout.strip()

    wait_until(
        lambda: health() == "healthy",
        HEALTHY_WAIT,
        lambda: f"{service} not healthy again ({health()})",
        interval=0.5,
    )


def test_chat_restart_needs_a_new_join(lab: RunningLab) -> None:
    with (
        docker_exec(lab, "browser", "nc", "-u", "udp-chat", "9999") as alice,
        docker_exec(lab, "browser", "nc", "-u", "udp-chat", "9999") as bob,
    ):
        assert alice.stdout is not None
        assert bob.stdout is not None
        alice_out, bob_out = Lines(alice.stdout), Lines(bob.stdout)
        say(alice, "JOIN alice")
        first = WELCOME.fullmatch(alice_out.next())
        say(bob, "JOIN bob")
        assert WELCOME.fullmatch(bob_out.next())
        assert alice_out.next() == "JOINED bob"
        say(alice, "MSG before")
        assert bob_out.next() == "MSG alice 1 before"

        restart = run(["docker", "restart", "--time", "10", lab.id("udp-chat")])
        assert restart.exit_code == 0, restart
        assert alice_out.next() == "BYE shutdown"
        assert bob_out.next() == "BYE shutdown"
        wait_healthy(lab, "udp-chat")

        say(alice, "MSG after")
        assert alice_out.next().startswith("ERR 401"), alice_out.seen
        say(alice, "JOIN alice")
        again = WELCOME.fullmatch(alice_out.next())
        assert first, alice_out.seen
        assert again, alice_out.seen
        assert again.group(2) == first.group(2), "same port, same client"
        say(bob, "JOIN bob")
        assert WELCOME.fullmatch(bob_out.next())
        assert alice_out.next() == "JOINED bob"
        say(alice, "MSG back again")
        assert bob_out.next() == "MSG alice 1 back again", "a new server counts from 1"
        say(alice, "LEAVE")
        say(bob, "LEAVE")
