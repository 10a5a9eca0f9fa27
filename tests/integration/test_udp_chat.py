"""udp-chat across containers: a server and four client containers on one network.

Three clients (alice, bob, carol) join, chat, whisper and ask WHO; a fourth (dave) joins and then
says nothing, and the server (with a short idle timeout given through the environment) drops it.
Each client is the real `python3 -m socketlab.udp_chat.client` from the image, driven by a script
file, and what it printed is checked against the container addresses Docker reports. Needs
Docker and socketlab/base (make base); the image is built if needed.
"""

from __future__ import annotations

import base64
import contextlib
import re
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from docker.models.containers import Container
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from tests.support.containers import Lab
from tests.support.processes import CommandResult

pytestmark = pytest.mark.integration

SERVICE = "udp-chat"
PORT = 9999
# Seconds of silence before the server drops a member (SOCKETLAB_IDLE_TIMEOUT): short, so the
# silent client is dropped within the test; the others PING every third of it.
IDLE_TIMEOUT = 4
# Bounds for every wait: on a loaded 2-core machine each step takes well under a second.
WAIT_TIMEOUT = 30
CLIENT_BUDGET = 120.0  # one scripted client from start to summary, at most
UDP_TIMEOUT = 5.0
STOP_TIMEOUT = 10

NICKS = ("alice", "bob", "carol")
SCRIPTS = {
    "alice": "/wait-for alice bob carol\nhello from alice\n/tell bob secret for bob\n"
    "/sleep 1\n/who\n/wait-left dave\n",
    "bob": "/wait-for alice bob carol\nhello from bob\n/sleep 1\n/who\n/wait-left dave\n",
    "carol": "/wait-for alice bob carol\nhello from carol\n/tell alice secret for alice\n"
    "/sleep 1\n/who\n/wait-left dave\n",
    # dave only joins; --no-keepalive keeps it silent until the server drops it (BYE idle).
    "dave": "",
}


@pytest.fixture(scope="module")
def chat(lab: Lab, lab_network: Network) -> Iterator[DockerContainer]:
    """The udp-chat server on the module's network as ``udp-chat``, healthy, 9999/udp published."""
    with lab.service(
        SERVICE,
        lab_network,
        SERVICE,
        publish=(f"{PORT}/udp",),
        env={"SOCKETLAB_IDLE_TIMEOUT": str(IDLE_TIMEOUT)},
    ) as container:
        yield container


@pytest.fixture
def member_containers(
    lab: Lab, lab_network: Network, chat: DockerContainer
) -> Iterator[Callable[[str], Container]]:
    """Start idle containers of the udp-chat image (which carries the client) named by nick.

    Their HEALTHCHECK (probing a server on 127.0.0.1 that is not there) is switched off; all are
    removed when the test ends.
    """
    with contextlib.ExitStack() as stack:

        def start(nick: str) -> Container:
            idle = lab.client_container(lab_network, nick, image=lab.images.tag(SERVICE), user=None)
            return stack.enter_context(idle)

        yield start


def run_script(lab: Lab, container: Container, nick: str, *flags: str) -> CommandResult:
    """Write ``SCRIPTS[nick]`` into the container and run the chat client on it."""
    encoded = base64.b64encode(SCRIPTS[nick].encode()).decode()
    lab.exec(container, ["sh", "-c", f"echo {encoded} | base64 -d > /tmp/chat.script"])
    command = ["python3", "-m", "socketlab.udp_chat.client", "--server", f"{SERVICE}:{PORT}"]
    command += ["--nick", nick, "--script", "/tmp/chat.script", "--linger", "1.5"]
    command += ["--wait-timeout", str(WAIT_TIMEOUT), *flags]
    return lab.exec(container, command, check=False)


def summary(out: str, topic: str) -> dict[str, str]:
    for line in out.splitlines():
        if line.startswith(f"summary {topic}"):
            return dict(re.findall(r"(\w+)=(\S+)", line))
    raise AssertionError(f"no 'summary {topic}' line in:\n{out}")


def received(out: str) -> list[str]:
    """The datagrams a scripted client printed as received (``HH:MM:SS.mmm <- ...``)."""
    return re.findall(r"^\d\d:\d\d:\d\d\.\d{3} <- (.*)$", out, re.M)


def test_three_clients_chat_across_containers(
    lab: Lab,
    lab_network: Network,
    chat: DockerContainer,
    member_containers: Callable[[str], Container],
) -> None:
    containers = {nick: member_containers(nick) for nick in ("dave", *NICKS)}
    ips = {nick: lab.ip(c, lab_network) for nick, c in containers.items()}
    assert len(set(ips.values())) == 4

    with ThreadPoolExecutor(max_workers=4) as pool:
        # dave first, so it is the first to fall silent; the others wait for each other.
        futures = {
            "dave": pool.submit(
                run_script,
                lab,
                containers["dave"],
                "dave",
                "--no-keepalive",
                "--linger",
                str(IDLE_TIMEOUT * 5),
            )
        }
        time.sleep(0.5)
        for nick in NICKS:
            futures[nick] = pool.submit(run_script, lab, containers[nick], nick)
        results = {nick: f.result(timeout=CLIENT_BUDGET) for nick, f in futures.items()}

    context = "\n".join(
        f"=== {n} (exit {r.exit_code}):\n{r.stdout}{r.stderr}" for n, r in results.items()
    )
    context += f"\n=== server:\n{lab.logs(chat)}"
    outs = {nick: r.stdout for nick, r in results.items()}
    assert {nick: r.exit_code for nick, r in results.items()} == dict.fromkeys(results, 0), context

    # Each client is welcomed with its own container address: the server saw no NAT.
    for nick, out in outs.items():
        seen = summary(out, "self")["seen_as"]
        assert seen.rpartition(":")[0] == ips[nick], context
        assert summary(out, "self")["local"] == seen, context  # connected socket: same address

    # Every MSG reached the two others, once, and nobody got their own back.
    for sender in NICKS:
        for receiver in NICKS:
            got = [d for d in received(outs[receiver]) if d.startswith(f"MSG {sender} ")]
            expected = [] if sender == receiver else [f"MSG {sender} 1 hello from {sender}"]
            assert got == expected, f"{receiver} from {sender}\n{context}"
            if sender != receiver:
                tally = summary(outs[receiver], f"sender={sender}")
                assert (tally["received"], tally["lost"], tally["duplicates"]) == ("1", "0", "0")

    # Private messages reached the named container only.
    tells = {
        nick: [d for d in received(out) if d.startswith("TELL ")] for nick, out in outs.items()
    }
    assert tells == {
        "alice": ["TELL carol secret for alice"],
        "bob": ["TELL alice secret for bob"],
        "carol": [],
        "dave": [],
    }, context

    # WHO shows each member at the address the server saw: the container's own.
    for nick in NICKS:
        rosters = " ".join(d for d in received(outs[nick]) if d.startswith("ROSTER "))
        for member in NICKS:
            assert re.search(rf"\b{member}@{re.escape(ips[member])}:\d+", rosters), context

    # The silent client was dropped and the others were told.
    assert "BYE idle" in received(outs["dave"]), context
    for nick in NICKS:
        assert "LEFT dave idle" in received(outs[nick]), context
    server_log = lab.logs(chat, tail=500)
    assert re.search(rf"{re.escape(ips['dave'])}:\d+ dropped dave: silent for", server_log)
    for nick in NICKS:  # one log line per datagram, naming ip:port
        assert re.search(rf"{re.escape(ips[nick])}:\d+ \d+ B MSG {nick} seq=1", server_log)


def test_from_the_host_the_server_sees_the_gateway(
    lab: Lab, lab_network: Network, chat: DockerContainer
) -> None:
    """Through the published port, Docker relays the datagrams: WELCOME shows who the server saw."""
    port = lab.host_port(chat, PORT, "udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(UDP_TIMEOUT)
        sock.connect(("127.0.0.1", port))
        sock.send(b"PING")
        assert sock.recv(512) == b"PONG"
        sock.send(b"JOIN hostuser")
        welcome = sock.recv(512).decode()
        sock.send(b"LEAVE")
        assert sock.recv(512) == b"BYE left"
    match = re.fullmatch(r"WELCOME hostuser (\d+\.\d+\.\d+\.\d+):(\d+) (\d+)", welcome)
    assert match, welcome
    assert match.group(3) == str(IDLE_TIMEOUT)
    seen_ip = match.group(1)
    # Not the 127.0.0.1 we sent from: the address of the network's gateway side.
    network = lab.client.networks.get(lab_network.name)
    subnet = network.attrs["IPAM"]["Config"][0]["Subnet"]
    prefix = subnet.split("/")[0].rsplit(".", 2)[0]
    assert seen_ip != "127.0.0.1"
    assert seen_ip.startswith(prefix + "."), (seen_ip, subnet)


def test_sigterm_tells_members_and_exits_0(lab: Lab, lab_network: Network) -> None:
    with lab.service(SERVICE, lab_network, "udp-chat-stop", publish=(f"{PORT}/udp",)) as server:
        port = lab.host_port(server, PORT, "udp")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(UDP_TIMEOUT)
            sock.connect(("127.0.0.1", port))
            sock.send(b"JOIN stayer")
            assert sock.recv(512).startswith(b"WELCOME stayer ")
            wrapped = server.get_wrapped_container()
            started = time.monotonic()
            wrapped.stop(timeout=STOP_TIMEOUT)
            took = time.monotonic() - started
            assert sock.recv(512) == b"BYE shutdown"
        wrapped.reload()
        state = wrapped.attrs["State"]
        assert state["ExitCode"] == 0, lab.describe(wrapped)
        assert took < STOP_TIMEOUT / 2, f"stop took {took:.1f} s: SIGTERM not handled?"
        assert "shutting down (SIGTERM): told 1 member(s) BYE" in lab.logs(wrapped)
