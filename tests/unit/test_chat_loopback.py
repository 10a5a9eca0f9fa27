"""udp-chat over real sockets on 127.0.0.1: the server in a thread or a subprocess, several
clients. Ports are always 0 (the kernel picks); every wait is bounded. No Docker needed."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from socketlab.udp_chat.relay import Relay, RelayConfig
from socketlab.udp_chat.server import ChatServer, bind
from tests.support.processes import run_service, start_service, started_service
from tests.support.waiting import wait_until

WAIT = 5.0  # the longest any single expected datagram may take on loopback


class Peer:
    """A bare UDP socket speaking the protocol by hand, like `nc -u` would."""

    def __init__(self, server: tuple[str, int]) -> None:
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.server)

    def recv(self, timeout: float = WAIT) -> bytes:
        self.sock.settimeout(timeout)
        data, addr = self.sock.recvfrom(65535)
        assert addr == self.server
        return data

    def expect(self, prefix: bytes, timeout: float = WAIT) -> bytes:
        """The next datagram starting with ``prefix`` (others, like JOINED, are skipped)."""
        end = time.monotonic() + timeout
        seen = []
        while (left := end - time.monotonic()) > 0:
            try:
                data = self.recv(left)
            except TimeoutError:
                break
            if data.startswith(prefix):
                return data
            seen.append(data)
        raise AssertionError(f"no {prefix!r} within {timeout} s; got {seen}")

    def quiet(self, seconds: float = 0.3) -> list[bytes]:
        """Everything that arrives within ``seconds`` (used to show that nothing does)."""
        got = []
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                got.append(self.recv(left))
            except TimeoutError:
                break
        return got

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def start_server() -> Iterator[Callable[..., ChatServer]]:
    """Start ChatServers on 127.0.0.1:0 in threads; stopped and joined at the end of the test."""
    running: list[tuple[ChatServer, threading.Thread]] = []

    def start(sock: socket.socket | None = None, **config: float) -> ChatServer:
        server = ChatServer(Relay(RelayConfig(**config)), sock or bind("127.0.0.1", 0))  # type: ignore[arg-type]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        running.append((server, thread))
        return server

    yield start
    for server, thread in running:
        server.stop()
        thread.join(timeout=5)
        assert not thread.is_alive(), "server thread did not stop"


@pytest.fixture
def peers() -> Iterator[Callable[[tuple[str, int]], Peer]]:
    """Make Peers; all closed at the end."""
    made: list[Peer] = []

    def make(server: tuple[str, int]) -> Peer:
        made.append(Peer(server))
        return made[-1]

    yield make
    for peer in made:
        peer.close()


def join(peer: Peer, nick: str) -> bytes:
    peer.send(f"JOIN {nick}".encode())
    return peer.expect(b"WELCOME ")


def test_three_members_chat(
    start_server: Callable[..., ChatServer], peers: Callable[..., Peer]
) -> None:
    server = start_server()
    alice, bob, carol = peers(server.address), peers(server.address), peers(server.address)
    for peer, nick in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
        assert join(peer, nick) == f"WELCOME {nick} 127.0.0.1:{peer.port} 60".encode()
    alice.send(b"MSG hello everyone")
    assert bob.expect(b"MSG ") == b"MSG alice 1 hello everyone"
    assert carol.expect(b"MSG ") == b"MSG alice 1 hello everyone"
    alice.send(b"TELL bob only for you")
    assert bob.expect(b"TELL ") == b"TELL alice only for you"
    assert not [d for d in carol.quiet() if d.startswith(b"TELL")]
    assert not [d for d in alice.quiet(0.1) if d.startswith((b"MSG", b"TELL"))]  # no echo
    carol.send(b"WHO")
    roster = carol.expect(b"ROSTER ").decode()
    assert roster == (
        f"ROSTER 1/1 alice@127.0.0.1:{alice.port} bob@127.0.0.1:{bob.port} "
        f"carol@127.0.0.1:{carol.port}"
    )
    bob.send(b"LEAVE")
    assert bob.expect(b"BYE") == b"BYE left"
    assert alice.expect(b"LEFT ") == b"LEFT bob leave"


def test_bad_datagrams_over_the_wire(
    start_server: Callable[..., ChatServer], peers: Callable[..., Peer]
) -> None:
    server = start_server()
    alice, bob = peers(server.address), peers(server.address)
    join(alice, "alice")
    join(bob, "bob")
    for data, code in (
        (b"", b"ERR 400"),
        (b"MSG " + b"x" * 2000, b"ERR 413"),
        (b"MSG \xff", b"ERR 400"),
        (b"MSG \x1b[2J", b"ERR 400"),
        (b"SHOUT hi", b"ERR 501"),
    ):
        alice.send(data)
        assert alice.expect(b"ERR ").startswith(code)
    assert bob.quiet(0.3) == []  # nothing of that was relayed
    alice.send(b"MSG still works")
    assert bob.expect(b"MSG ") == b"MSG alice 1 still works"


def test_silent_member_is_dropped(
    start_server: Callable[..., ChatServer], peers: Callable[..., Peer]
) -> None:
    server = start_server(idle_timeout=0.6)
    alice, ghost = peers(server.address), peers(server.address)
    join(alice, "alice")
    join(ghost, "ghost")

    def ghost_left() -> bytes | None:
        alice.send(b"PING")  # alice stays alive, ghost says nothing
        return next((d for d in alice.quiet(0.2) if d.startswith(b"LEFT")), None)

    left = wait_until(ghost_left, 3, "the silent member was never dropped", interval=0)
    assert left == b"LEFT ghost idle"
    assert ghost.expect(b"BYE") == b"BYE idle"


def test_flooding_member_is_rate_limited_without_drowning_others(
    start_server: Callable[..., ChatServer], peers: Callable[..., Peer]
) -> None:
    server = start_server(rate=5, burst=10)
    flood, bob = peers(server.address), peers(server.address)
    join(flood, "flood")
    join(bob, "bob")
    for i in range(300):  # bounded: 300 small datagrams on loopback
        flood.send(f"MSG spam {i}".encode())
    relayed = [d for d in bob.quiet(0.5) if d.startswith(b"MSG flood")]
    assert 5 <= len(relayed) <= 20  # the burst (and a little refill), not 300
    errs = [d for d in flood.quiet(0.2) if d.startswith(b"ERR 429")]
    # Told once per run of drops, not once per dropped datagram: a token that refills meanwhile
    # (5/s; a loaded machine takes a while to send 300) is relayed and ends the run, so each
    # datagram relayed past the burst of 10 may start one more.
    assert 1 <= len(errs) <= 1 + max(0, len(relayed) - 10), (len(errs), len(relayed))
    bob.send(b"MSG I can still talk")
    assert flood.expect(b"MSG bob") == b"MSG bob 1 I can still talk"


@pytest.mark.skipif(sys.platform != "linux", reason="IP_RECVERR is Linux's")
def test_icmp_port_unreachable_does_not_break_the_loop(
    start_server: Callable[..., ChatServer], peers: Callable[..., Peer]
) -> None:
    # Linux reports ICMP errors on an unconnected UDP socket only with IP_RECVERR; with it,
    # recvfrom raises ConnectionRefusedError, as it does on Windows by default.
    sock = bind("127.0.0.1", 0)
    sock.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_RECVERR", 11), 1)
    server = start_server(sock=sock)
    alice, bob, gone = peers(server.address), peers(server.address), peers(server.address)
    join(alice, "alice")
    join(bob, "bob")
    join(gone, "gone")
    gone.close()  # leaves without LEAVE: its port now answers ICMP port unreachable
    for i in range(3):
        alice.send(f"MSG to a departed member {i}".encode())
        assert bob.expect(b"MSG ") == f"MSG alice {i + 1} to a departed member {i}".encode()
    wait_until(lambda: server.icmp_errors, WAIT, "no ICMP error was counted", interval=0.05)
    bob.send(b"MSG the loop is still running")
    assert alice.expect(b"MSG bob") == b"MSG bob 1 the loop is still running"


# --- the real programs in subprocesses ----------------------------------------------------------


def run_client(
    port: int, nick: str, script: str, *args: str, timeout: float = 60
) -> subprocess.Popen[str]:
    proc = start_service(
        "udp_chat.client",
        "--server",
        f"127.0.0.1:{port}",
        "--nick",
        nick,
        *args,
        stdin=subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write(script)
    proc.stdin.close()
    proc.stdin = None  # written and closed: communicate() must not touch it again
    return proc


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"client did not finish in {timeout} s:\n{out}") from None
    return out


def summary(out: str, topic: str) -> dict[str, str]:
    """The key=value pairs of the ``summary <topic>`` line of a client's output."""
    for line in out.splitlines():
        if line.startswith(f"summary {topic} ") or line.startswith(f"summary {topic}="):
            return dict(re.findall(r"(\w+)=(\S+)", line))
    raise AssertionError(f"no summary {topic} in:\n{out}")


def test_scripted_clients_exchange_and_count(start_server: Callable[..., ChatServer]) -> None:
    server = start_server()
    port = server.address[1]
    bob = run_client(port, "bob", "/wait-for alice bob\n", "--linger", "3")
    alice = run_client(
        port, "alice", "/wait-for alice bob\none\ntwo\n/tell bob psst\nthree\n", "--linger", "0.5"
    )
    a_out, b_out = finish(alice), finish(bob)
    assert bob.returncode == 0, b_out
    assert alice.returncode == 0, a_out
    local = summary(a_out, "self")["local"]
    assert summary(a_out, "self")["seen_as"] == local  # no NAT on loopback
    assert re.search(rf"you are {re.escape(local)} here, the server .* sees you as", a_out)
    assert re.search(r"^\d\d:\d\d:\d\d\.\d{3} <- MSG alice 1 one$", b_out, re.M)  # timestamped
    assert "<- TELL alice psst" in b_out
    assert summary(b_out, "sender=alice") == {
        "sender": "alice",
        "received": "3",
        "lost": "0",
        "duplicates": "0",
        "reordered": "0",
    }
    assert summary(a_out, "sent")["msg"] == "3"
    assert summary(a_out, "sent")["tell"] == "1"


def test_reliable_mode_delivers_everything_despite_loss(
    start_server: Callable[..., ChatServer],
) -> None:
    server = start_server(rto=0.2, max_attempts=15)
    port = server.address[1]
    count = 25
    lossy = ["--loss", "0.2", "--rto", "0.2", "--max-attempts", "15"]
    lines = "".join(f"message {i}\n" for i in range(count))
    # LEFT alice comes after all of alice's messages reached the server (she drains her
    # outbox before LEAVE); the linger leaves time for the server's last retransmissions to bob.
    bob = run_client(
        port,
        "bob",
        "/wait-left alice\n",
        "--reliable",
        *lossy,
        "--seed",
        "7",
        "--linger",
        "6",
        "--join-timeout",
        "20",
        "--wait-timeout",
        "60",
    )
    alice = run_client(
        port,
        "alice",
        "/wait-for alice bob\n" + lines,
        "--reliable",
        *lossy,
        "--seed",
        "3",
        "--linger",
        "1",
        "--join-timeout",
        "20",
        "--wait-timeout",
        "30",
    )
    a_out, b_out = finish(alice, 90), finish(bob, 90)
    got = summary(b_out, "sender=alice")
    assert got["received"] == str(count), b_out
    assert got["lost"] == "0"
    assert got["duplicates"] == "0"  # retransmissions were suppressed below the chat
    a_rel, b_rel = summary(a_out, "reliable"), summary(b_out, "reliable")
    assert int(a_rel["retransmitted"]) > 0  # there was loss to recover from
    assert a_rel["given_up"] == "0"
    assert b_rel["given_up"] == "0"
    assert int(summary(a_out, "sent")["dropped_on_purpose"]) > 0


def test_plain_mode_loses_what_the_network_drops(start_server: Callable[..., ChatServer]) -> None:
    server = start_server()
    port = server.address[1]
    lines = "".join(f"message {i}\n" for i in range(30))
    # bob only listens: a lossy /wait-for could lose its ROSTER answers and wait for long
    bob = run_client(
        port, "bob", "", "--loss", "0.3", "--seed", "5", "--linger", "4", "--join-timeout", "10"
    )
    alice = run_client(
        port, "alice", "/wait-for alice bob\n" + lines, "--linger", "0.5", "--wait-timeout", "20"
    )
    finish(alice)
    b_out = finish(bob)
    got = summary(b_out, "sender=alice")
    assert int(got["received"]) < 30
    # gaps below the last message received are counted as lost (a trailing loss cannot be)
    assert int(got["received"]) + int(got["lost"]) <= 30
    assert int(got["lost"]) > 0


def test_client_reports_icmp_port_unreachable() -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nobody listens there now
    out = finish(run_client(port, "alice", "", "--join-timeout", "1.5"), 20)
    assert "ICMP port unreachable" in out
    assert "could not join" in out


def test_refused_reliable_join_stops_at_once(start_server: Callable[..., ChatServer]) -> None:
    server = start_server()
    port = server.address[1]
    holder = run_client(port, "alice", "/sleep 3\n", "--linger", "0")
    wait_until(lambda: "alice" in server.relay.by_nick, 10, "alice never joined")
    out = finish(run_client(port, "alice", "hello\n", "--reliable", "--join-timeout", "5"), 30)
    finish(holder)
    assert "could not join: 409 nick in (nick in use)" in out
    sent = re.findall(r"^\d\d:\d\d:\d\d\.\d{3} -> (.*)$", out, re.M)
    assert sent == [sent[0]], out  # one REL JOIN: no retransmission of a refusal, no LEAVE
    assert sent[0] == "REL 1 JOIN alice"


def test_client_refuses_a_bad_nick_with_status_2() -> None:
    proc = run_service("udp_chat.client", "--nick", "bad nick!")
    assert proc.returncode == 2
    assert "--nick" in proc.stderr


def test_server_sigterm_tells_members_and_exits_0(peers: Callable[..., Peer]) -> None:
    with started_service("udp_chat", "--host", "127.0.0.1", "--port", "0") as proc:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # bounded by the server's start: it logs at once
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", first)
        assert match, first
        address = ("127.0.0.1", int(match.group(1)))
        alice, bob = peers(address), peers(address)
        join(alice, "alice")
        join(bob, "bob")
        proc.send_signal(signal.SIGTERM)
        assert alice.expect(b"BYE") == b"BYE shutdown"
        assert bob.expect(b"BYE") == b"BYE shutdown"
        rest, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "shutting down (SIGTERM): told 2 member(s) BYE" in rest
    log = first + rest
    assert re.search(rf"127\.0\.0\.1:{alice.port} \d+ B JOIN alice", log)


def test_healthcheck_probe_gets_pong(start_server: Callable[..., ChatServer]) -> None:
    server = start_server()
    proc = run_service("healthcheck", f"udp://127.0.0.1:{server.address[1]}")
    assert proc.returncode == 0, proc.stderr
