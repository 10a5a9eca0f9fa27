"""The lab's point, checked across real containers: what each side of a conversation sees.

One module-scoped cast on a fresh network: threaded-web (debug logging, an extra DNS alias),
multiprocess-web (moved to port 8080 for the "ports belong to hosts" check), udp-chat, and two
idle client containers. Every check asserts on both sides (the client's own socket and the
server's answer or log), and a failed check shows the logs of the containers involved.

The nine checks follow issue 6: who is calling, published versus internal, names, isolation,
ports belong to hosts, keep-alive, threads versus processes, UDP has no connection, TCP close.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from docker.models.containers import Container
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from tests.support.containers import Lab, fresh_network
from tests.support.processes import command_lines
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

WEB_PORT = 8080
CHAT_PORT = 9999
# Both web servers listen on this one port number, each in its own container (check 5).
SHARED_PORT = WEB_PORT
# Seconds a client waits for an answer that should come; a target that must stay unreachable
# is given the same time before the probe says "timeout".
ANSWER_TIMEOUT = 2.0
# Seconds to wait for a line to appear in a log or an agent's inbox.
LOG_WAIT = 10.0
# Seconds each simultaneous slow request takes on multiprocess-web (/delay/<s>).
DELAY = 1.0
# Simultaneous slow requests in check 7: fewer than multiprocess-web's default 4 workers.
PARALLEL = 3
# Seconds a chat agent lives at most: it must stop by itself even if a test dies midway.
AGENT_LIFETIME = 120


def _command_with(lab: Lab, service: str, *extra: str) -> list[str]:
    """The image's own CMD with ``extra`` flags appended: the last flag wins in argparse."""
    cmd: list[str] = lab.client.images.get(lab.images.tag(service)).attrs["Config"]["Cmd"]
    return [*cmd, *extra]


# --- the cast -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def web(lab: Lab, lab_network: Network) -> Iterator[DockerContainer]:
    """threaded-web, also known as ``www``, logging at debug level (connects and closes)."""
    command = _command_with(lab, "threaded-web", "--log-level", "debug")
    with lab.service(
        "threaded-web", lab_network, extra_aliases=("www",), publish=(WEB_PORT,), command=command
    ) as container:
        yield container


@pytest.fixture(scope="module")
def mp_web(lab: Lab, lab_network: Network) -> Iterator[DockerContainer]:
    """multiprocess-web listening on port 8080, the same number as threaded-web."""
    command = _command_with(lab, "multiprocess-web", "--port", str(SHARED_PORT))
    probe = [
        "CMD",
        "python3",
        "-m",
        "socketlab.healthcheck",
        f"http://127.0.0.1:{SHARED_PORT}/healthz",
    ]
    with lab.service(
        "multiprocess-web",
        lab_network,
        publish=(SHARED_PORT,),
        command=command,
        healthcheck_test=probe,
    ) as container:
        yield container


@pytest.fixture(scope="module")
def chat(lab: Lab, lab_network: Network) -> Iterator[DockerContainer]:
    """udp-chat on its usual port."""
    with lab.service("udp-chat", lab_network, publish=(f"{CHAT_PORT}/udp",)) as container:
        yield container


@pytest.fixture(scope="module")
def client_a(lab: Lab, lab_network: Network) -> Iterator[Container]:
    """An idle base-image container on the network: the first client host."""
    with lab.client_container(lab_network, "client-a") as container:
        yield container


@pytest.fixture(scope="module")
def client_b(lab: Lab, lab_network: Network) -> Iterator[Container]:
    """A second client host, for checks that need two different senders."""
    with lab.client_container(lab_network, "client-b") as container:
        yield container


# --- scripts that run inside the client containers (base image, stdlib only) ----------------

# GET /whoami from a fresh connection; print the server's answer, the client's own socket
# address and the client container's ephemeral port range.
WHOAMI = """
import http.client, json, sys
conn = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=10)
conn.connect()
local = conn.sock.getsockname()
conn.request("GET", "/whoami")
response = conn.getresponse()
answer = json.loads(response.read())
conn.close()
with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
    low, high = (int(x) for x in f.read().split())
print(json.dumps({"local": list(local), "range": [low, high], "answer": answer}))
"""

# JOIN the chat from an ephemeral UDP port (implicitly bound by the first sendto), LEAVE again.
# JOIN is resent on silence: a datagram may be lost, and JOIN is idempotent for one address.
CHAT_JOIN = """
import json, socket, sys
server = (sys.argv[1], int(sys.argv[2]))
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(2)
welcome = None
for _ in range(3):
    sock.sendto(b"JOIN " + sys.argv[3].encode(), server)
    try:
        data, sender = sock.recvfrom(2048)
    except TimeoutError:
        continue
    if data.startswith(b"WELCOME"):
        welcome = data.decode()
        break
local = sock.getsockname()
sock.sendto(b"LEAVE", server)
with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
    low, high = (int(x) for x in f.read().split())
print(json.dumps({"welcome": welcome, "local": list(local), "range": [low, high]}))
"""

# Resolve each name through the container's resolver (Docker's DNS at 127.0.0.11).
RESOLVE = """
import json, socket, sys
out = {}
for name in sys.argv[1:]:
    try:
        out[name] = socket.gethostbyname(name)
    except socket.gaierror as exc:
        out[name] = "unresolved: " + str(exc)
print(json.dumps(out))
"""

# Probe targets in parallel: "tcp:HOST:PORT" (connect) or "udp:HOST:PORT" (PING, wait for PONG).
# Each answers "ok", "timeout", "refused", "unreachable" or "unresolved", within the timeout.
PROBE = """
import concurrent.futures, json, socket, sys
timeout = float(sys.argv[1])
def probe(target):
    kind, host, port = target.split(":")
    try:
        address = (socket.gethostbyname(host), int(port))
    except socket.gaierror:
        return "unresolved"
    try:
        if kind == "tcp":
            socket.create_connection(address, timeout=timeout).close()
            return "ok"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.sendto(b"PING probe", address)
            return "ok" if sock.recv(512).startswith(b"PONG") else "bad answer"
    except TimeoutError:
        return "timeout"
    except ConnectionRefusedError:
        return "refused"
    except OSError as exc:
        return "unreachable: " + exc.strerror
with concurrent.futures.ThreadPoolExecutor(len(sys.argv) - 2) as pool:
    results = dict(zip(sys.argv[2:], pool.map(probe, sys.argv[2:])))
print(json.dumps(results))
"""

# Inside one host: a port is taken while a socket listens on it, and still while a connection
# that used it sits in TIME_WAIT; SO_REUSEADDR (which the first listener also set, as every lab
# server does) lets a new listener bind right after the first one closed.
REUSEADDR = """
import errno, json, socket
def attempt(port, reuse):
    sock = socket.socket()
    if reuse:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("0.0.0.0", port))
        sock.listen()
    except OSError as exc:
        sock.close()
        return errno.errorcode.get(exc.errno, str(exc.errno))
    sock.close()
    return "bound"
first = socket.socket()
first.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
first.bind(("0.0.0.0", 0))
first.listen()
port = first.getsockname()[1]
out = {"port": port, "while_listening": attempt(port, True)}
peer = socket.create_connection(("127.0.0.1", port), timeout=5)
conn, _ = first.accept()
conn.close()  # the server side closes first, so its end of the connection enters TIME_WAIT
peer.recv(1)
peer.close()
first.close()
out["after_close_without_reuseaddr"] = attempt(port, False)
out["after_close_with_reuseaddr"] = attempt(port, True)
print(json.dumps(out))
"""

# Three requests on one persistent connection, then three with "Connection: close".
KEEPALIVE = """
import http.client, json, sys
host, port = sys.argv[1], int(sys.argv[2])
def whoami(conn, headers):
    conn.request("GET", "/whoami", headers=headers)
    response = conn.getresponse()
    doc = json.loads(response.read())
    return {"local_port": conn.sock.getsockname()[1] if conn.sock else None,
            "client_port": doc["client_port"], "request_index": doc["request_index"],
            "connection": response.getheader("Connection")}
conn = http.client.HTTPConnection(host, port, timeout=10)
persistent = [whoami(conn, {}) for _ in range(3)]
conn.close()
closing = []
for _ in range(3):
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.connect()
    local = conn.sock.getsockname()[1]
    answer = whoami(conn, {"Connection": "close"})
    answer["local_port"] = local
    closing.append(answer)
    conn.close()
print(json.dumps({"persistent": persistent, "closing": closing}))
"""

# N connections at once to threaded-web, each holding an unfinished request head, so N
# requests are in progress together (threaded-web has no slow endpoint); then each head is
# completed and each answer read.
HELD_REQUESTS = """
import json, socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks = [socket.create_connection((host, port), timeout=10) for _ in range(n)]
for sock in socks:
    sock.sendall(b"GET /whoami HTTP/1.1\\r\\nHost: lab\\r\\n")
time.sleep(0.3)  # every connection is now open and waiting for the rest of its head
answers = []
for sock in socks:
    sock.sendall(b"Connection: close\\r\\n\\r\\n")
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    head, _, body = data.partition(b"\\r\\n\\r\\n")
    answers.append({"status": head.split()[1].decode(), "body": json.loads(body)})
print(json.dumps(answers))
"""

# N simultaneous GET /delay/<s>; each answer's X-Worker-Pid and the total time.
PARALLEL_DELAYS = """
import concurrent.futures, http.client, json, sys, time
host, port, n, delay = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def fetch(_):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", "/delay/" + delay, headers={"Connection": "close"})
    response = conn.getresponse()
    response.read()
    conn.close()
    return {"status": response.status, "pid": response.getheader("X-Worker-Pid")}
started = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(n) as pool:
    answers = list(pool.map(fetch, range(n)))
print(json.dumps({"answers": answers, "elapsed": time.monotonic() - started}))
"""

# One request on a keep-alive connection, then the client closes: print its own port.
REQUEST_THEN_CLOSE = """
import http.client, json, sys
conn = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=10)
conn.request("GET", "/whoami")
response = conn.getresponse()
doc = json.loads(response.read())
local = conn.sock.getsockname()
conn.close()
print(json.dumps({"local": list(local), "client_port": doc["client_port"]}))
"""

# A chat participant that lives in the background: one UDP socket for its whole life (so one
# ip:port, as a real client), every received datagram appended to OUTBOX, every line written
# into the FIFO INBOX sent as one datagram. The server name is resolved for each send, like
# a client that looks the name up again. Stops by itself after LIFETIME seconds.
CHAT_AGENT = """
import os, select, socket, sys, time
host, port, inbox, outbox = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
lifetime = float(sys.argv[5])
os.mkfifo(inbox)
fifo = os.open(inbox, os.O_RDWR | os.O_NONBLOCK)  # RDWR: never sees EOF between writers
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("0.0.0.0", 0))
pending = b""
deadline = time.monotonic() + lifetime
with open(outbox, "a", buffering=1) as out:
    out.write("LOCAL %d\\n" % sock.getsockname()[1])
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock, fifo], [], [], 0.5)
        if sock in ready:
            try:
                data, sender = sock.recvfrom(2048)
                out.write("RECV %s\\n" % data.decode("utf-8", "replace").rstrip("\\n"))
            except OSError as exc:  # an ICMP error for an earlier datagram
                out.write("ERROR %s\\n" % exc.strerror)
        if fifo in ready:
            pending += os.read(fifo, 4096)
            *lines, pending = pending.split(b"\\n")
            for line in lines:
                try:
                    sock.sendto(line, (socket.gethostbyname(host), port))
                    out.write("SENT %s\\n" % line.decode())
                except OSError as exc:
                    out.write("ERROR %s\\n" % exc)
"""


class ChatAgent:
    """Drives a :data:`CHAT_AGENT` running in a client container."""

    def __init__(self, lab: Lab, container: Container, nick: str) -> None:
        self.lab, self.container, self.nick = lab, container, nick
        self.inbox = f"/tmp/chat-{nick}.in"
        self.outbox = f"/tmp/chat-{nick}.log"

    def start(self, server: str, port: int) -> None:
        self.container.exec_run(
            [
                "python3",
                "-c",
                CHAT_AGENT,
                server,
                str(port),
                self.inbox,
                self.outbox,
                str(AGENT_LIFETIME),
            ],
            detach=True,
        )
        self.wait_for("LOCAL ")

    def send(self, line: str) -> None:
        # sh -c with "$1": the line reaches the FIFO as it is, no quoting by us.
        script = f'printf "%s\\n" "$1" > {self.inbox}'
        self.lab.exec(self.container, ["sh", "-c", script, "sh", line])

    def lines(self) -> list[str]:
        result = self.lab.exec(self.container, ["cat", self.outbox], check=False)
        return result.stdout.splitlines()

    def received(self) -> list[str]:
        return [line[len("RECV ") :] for line in self.lines() if line.startswith("RECV ")]

    def wait_for(self, prefix: str, after: int = 0, timeout: float = LOG_WAIT) -> str:
        """The first line starting with ``prefix`` among the lines after the first ``after``;
        ``RECV`` lines are matched on what was received."""

        def found() -> str | None:
            for line in self.lines()[after:]:
                body = line[len("RECV ") :] if line.startswith("RECV ") else line
                if body.startswith(prefix):
                    return body
            return None

        return wait_until(
            found, timeout, lambda: f"{self.nick} saw no {prefix!r}: {self.lines()}", interval=0.1
        )

    def port(self) -> int:
        return int(self.wait_for("LOCAL ").split()[1])


def _network_gateway(lab: Lab, network: Network) -> str:
    gateway: str = lab.client.networks.get(network.name).attrs["IPAM"]["Config"][0]["Gateway"]
    return gateway


def _docker_proxy_for(port: int) -> bool:
    """Whether this machine runs a docker-proxy for host port ``port`` (the userland proxy)."""
    for cmdline in command_lines():
        if "docker-proxy" in cmdline[0] and f"-host-port\0{port}" in "\0".join(cmdline):
            return True
    return False


def _whoami_from_host(port: int) -> dict[str, Any]:
    """GET /whoami over a raw socket from this machine; the server's answer and our port."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        local_port = sock.getsockname()[1]
        sock.sendall(b"GET /whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    _, _, body = data.partition(b"\r\n\r\n")
    return {"local_port": local_port, "answer": json.loads(body)}


# --- 1. who is calling ----------------------------------------------------------------------


@pytest.mark.parametrize("service", ["threaded-web", "multiprocess-web"])
def test_1_who_is_calling_http(
    request: pytest.FixtureRequest,
    lab: Lab,
    lab_network: Network,
    client_a: Container,
    service: str,
) -> None:
    """The server's client_ip:client_port is the client container's address and the port its
    kernel picked from net.ipv4.ip_local_port_range."""
    server = request.getfixturevalue("web" if service == "threaded-web" else "mp_web")
    with lab.logs_on_failure(server, client_a):
        seen = lab.python(client_a, WHOAMI, service, str(WEB_PORT))
        doc = seen["answer"]
        assert doc["client_ip"] == lab.ip(client_a, lab_network) == seen["local"][0]
        assert doc["client_port"] == seen["local"][1]
        low, high = seen["range"]
        assert low <= doc["client_port"] <= high, f"not an ephemeral port of {low}-{high}"
        assert doc["server_ip"] == lab.ip(server, lab_network)
        assert doc["server_port"] == WEB_PORT


def test_1_who_is_calling_udp_chat(
    lab: Lab, lab_network: Network, chat: DockerContainer, client_a: Container
) -> None:
    """WELCOME names the address the chat server saw: the client container's IP and the port
    the kernel bound the client's socket to at its first sendto."""
    with lab.logs_on_failure(chat, client_a):
        seen = lab.python(client_a, CHAT_JOIN, "udp-chat", str(CHAT_PORT), "who")
        assert seen["welcome"], "no WELCOME after three JOINs"
        verb, nick, address, *_ = seen["welcome"].split()
        assert (verb, nick) == ("WELCOME", "who")
        ip, port = address.rsplit(":", 1)
        assert ip == lab.ip(client_a, lab_network)
        assert int(port) == seen["local"][1]
        low, high = seen["range"]
        assert low <= int(port) <= high


# --- 2. published versus internal -----------------------------------------------------------


def test_2_published_port_is_seen_from_the_gateway(
    lab: Lab, lab_network: Network, web: DockerContainer, client_a: Container
) -> None:
    """From the host through the published port, the server does not see this machine's
    127.0.0.1 nor our socket's port: it sees the network's gateway, because the connection it
    accepts was opened by Docker on the host side of the bridge. With the userland proxy (the
    default for ports published on 127.0.0.1), docker-proxy accepts our connection and opens
    a new one from the gateway address; without it, iptables DNAT plus MASQUERADE rewrite the
    source to the same gateway address. From a container on the network, the server sees that
    container's own address: no translation in between."""
    host_port = lab.host_port(web, WEB_PORT)
    gateway = _network_gateway(lab, lab_network)
    proxy = _docker_proxy_for(host_port)
    with lab.logs_on_failure(web, client_a):
        outside = _whoami_from_host(host_port)
        seen = outside["answer"]
        why = "docker-proxy" if proxy else "NAT (no docker-proxy found on this machine)"
        assert seen["client_ip"] == gateway, f"expected the gateway {gateway} ({why})"
        assert seen["client_ip"] != "127.0.0.1"
        if proxy:
            # docker-proxy's own outgoing connection, not ours: its port is its kernel's choice.
            assert seen["client_port"] != outside["local_port"], "the proxy's port, not ours"
        inside = lab.python(client_a, WHOAMI, "threaded-web", str(WEB_PORT))
        assert inside["answer"]["client_ip"] == lab.ip(client_a, lab_network) != gateway
        assert inside["answer"]["client_port"] == inside["local"][1]


# --- 3. names -------------------------------------------------------------------------------


def test_3_names_and_aliases_resolve_to_container_ips(
    lab: Lab,
    lab_network: Network,
    web: DockerContainer,
    client_a: Container,
    client_b: Container,
) -> None:
    """Docker's DNS (127.0.0.11 on a user-defined network) answers each container's network
    aliases with its address on that network; an alias is just another name for it."""
    names: dict[str, Container | DockerContainer] = {
        "threaded-web": web,
        "www": web,
        "client-b": client_b,
        "client-a": client_a,
    }
    with lab.logs_on_failure(web, client_a):
        resolved = lab.python(client_a, RESOLVE, *names)
        for name, container in names.items():
            assert resolved[name] == lab.ip(container, lab_network), name
        # The same answer straight from the DNS server, as `dig` shows it.
        dig = lab.exec(client_a, ["dig", "+short", "+time=2", "+tries=1", "@127.0.0.11", "www"])
        assert dig.stdout.split() == [lab.ip(web, lab_network)]
        assert "nameserver 127.0.0.11" in lab.exec(client_a, ["cat", "/etc/resolv.conf"]).stdout


# --- 4. isolation ---------------------------------------------------------------------------


def test_4_outsider_on_another_network_cannot_reach_the_lab_until_connected(
    request: pytest.FixtureRequest, lab: Lab, lab_network: Network
) -> None:
    """A container on another bridge network neither resolves the lab's names nor reaches its
    addresses (Docker drops traffic between bridges); connected to the lab's network as well,
    it reaches every service, and they see its address there."""
    targets = {
        "web": ("tcp", "threaded-web", WEB_PORT),
        "mp_web": ("tcp", "multiprocess-web", SHARED_PORT),
        "chat": ("udp", "udp-chat", CHAT_PORT),
    }
    servers = {fixture: request.getfixturevalue(fixture) for fixture in targets}
    by_ip = [
        f"{kind}:{lab.ip(servers[fixture], lab_network)}:{port}"
        for fixture, (kind, _, port) in targets.items()
    ]
    by_name = [f"{kind}:{name}:{port}" for kind, name, port in targets.values()]
    with fresh_network() as othernet, lab.client_container(othernet, "outsider") as outsider:
        with lab.logs_on_failure(outsider, *servers.values()):
            before = lab.python(outsider, PROBE, str(ANSWER_TIMEOUT), *by_ip, *by_name)
            for target in by_ip:
                assert before[target] in ("timeout", "refused") or before[target].startswith(
                    "unreachable"
                ), f"{target} answered from another network: {before}"
            for target in by_name:
                assert before[target] == "unresolved", f"{target}: {before}"

            assert outsider.id is not None
            lab_network.connect(outsider.id, ["outsider"])
            after = lab.python(outsider, PROBE, str(ANSWER_TIMEOUT), *by_ip, *by_name)
            assert after == dict.fromkeys([*by_ip, *by_name], "ok"), after
            seen = lab.python(outsider, WHOAMI, "threaded-web", str(WEB_PORT))
            assert seen["answer"]["client_ip"] == lab.ip(outsider, lab_network)
            assert lab.ip(outsider, lab_network) != lab.ip(outsider, othernet)


# --- 5. ports belong to hosts ---------------------------------------------------------------


def test_5_two_hosts_listen_on_one_port_number(
    lab: Lab,
    lab_network: Network,
    web: DockerContainer,
    mp_web: DockerContainer,
    client_a: Container,
) -> None:
    """Port 8080 is in use twice: once in each container's own network namespace."""
    with lab.logs_on_failure(web, mp_web):
        answers = {
            name: lab.python(client_a, WHOAMI, name, str(SHARED_PORT))["answer"]
            for name in ("threaded-web", "multiprocess-web")
        }
        assert {a["server_port"] for a in answers.values()} == {SHARED_PORT}
        assert answers["threaded-web"]["server_ip"] == lab.ip(web, lab_network)
        assert answers["multiprocess-web"]["server_ip"] == lab.ip(mp_web, lab_network)
        for server in (web, mp_web):
            listening = lab.exec(server.get_wrapped_container(), ["ss", "-Htln"]).stdout
            assert f":{SHARED_PORT} " in listening, listening


def test_5_in_one_host_a_port_is_taken_until_reuseaddr(lab: Lab, client_a: Container) -> None:
    """Inside one container: a second bind to a listening port fails with EADDRINUSE; after
    the listener closed, its old connection in TIME_WAIT still blocks a plain bind, and
    SO_REUSEADDR binds at once."""
    seen = lab.python(client_a, REUSEADDR)
    assert seen["while_listening"] == "EADDRINUSE", seen
    assert seen["after_close_without_reuseaddr"] == "EADDRINUSE", seen
    assert seen["after_close_with_reuseaddr"] == "bound", seen


# --- 6. keep-alive --------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["threaded-web", "multiprocess-web"])
def test_6_keep_alive_is_visible(
    request: pytest.FixtureRequest, lab: Lab, client_a: Container, service: str
) -> None:
    """One persistent connection: one client_port, request_index 1, 2, 3. With
    ``Connection: close`` each request has a connection, so a port, of its own."""
    server = request.getfixturevalue("web" if service == "threaded-web" else "mp_web")
    with lab.logs_on_failure(server, client_a):
        seen = lab.python(client_a, KEEPALIVE, service, str(WEB_PORT))
        persistent, closing = seen["persistent"], seen["closing"]
        assert [a["request_index"] for a in persistent] == [1, 2, 3]
        assert len({a["client_port"] for a in persistent}) == 1, persistent
        assert persistent[0]["client_port"] == persistent[0]["local_port"]
        assert [a["request_index"] for a in closing] == [1, 1, 1]
        assert len({a["client_port"] for a in closing}) == 3, closing
        assert [a["client_port"] for a in closing] == [a["local_port"] for a in closing]
        assert all((a["connection"] or "").lower() == "close" for a in closing), closing


# --- 7. threads versus processes ------------------------------------------------------------


def test_7_threaded_web_serves_parallel_requests_in_threads_of_one_process(
    lab: Lab, web: DockerContainer, client_a: Container
) -> None:
    """Requests in progress at the same time (each connection holds a half-sent head) are each
    served by a thread of its own, all in the server's one process (PID 1)."""
    with lab.logs_on_failure(web, client_a):
        answers = lab.python(client_a, HELD_REQUESTS, "threaded-web", str(WEB_PORT), str(PARALLEL))
        assert [a["status"] for a in answers] == ["200"] * PARALLEL
        assert {a["body"]["pid"] for a in answers} == {1}
        threads = [a["body"]["thread"] for a in answers]
        assert len(set(threads)) == PARALLEL, f"threads {threads}"


def test_7_multiprocess_web_serves_parallel_requests_in_different_processes(
    lab: Lab, mp_web: DockerContainer, client_a: Container
) -> None:
    """Simultaneous slow requests are answered by different worker PIDs, in about the time of
    one request."""
    with lab.logs_on_failure(mp_web, client_a):
        seen = lab.python(
            client_a,
            PARALLEL_DELAYS,
            "multiprocess-web",
            str(SHARED_PORT),
            str(PARALLEL),
            f"{DELAY:g}",
        )
        answers = seen["answers"]
        assert [a["status"] for a in answers] == [200] * PARALLEL, answers
        pids = [a["pid"] for a in answers]
        assert None not in pids, f"no X-Worker-Pid header: {answers}"
        assert len(set(pids)) == PARALLEL, f"worker PIDs {pids}"
        assert seen["elapsed"] < 2 * DELAY, f"{seen['elapsed']:.2f} s: not in parallel"


# --- 8. UDP has no connection ---------------------------------------------------------------


def test_8_udp_chat_survives_a_server_restart_only_by_rejoining(
    lab: Lab,
    lab_network: Network,
    chat: DockerContainer,
    client_a: Container,
    client_b: Container,
) -> None:
    """Restart the chat server in the middle of a conversation. The clients' sockets do not
    notice (there is no connection to break): each gets the server's farewell BYE, then the new
    server, which remembers nobody, refuses alice's next MSG with ERR 401 and relays nothing.
    Both JOIN again from the same ip:port and the chat goes on, sequence numbers from 1."""
    alice, bob = ChatAgent(lab, client_a, "alice"), ChatAgent(lab, client_b, "bob")
    wrapped = chat.get_wrapped_container()
    with lab.logs_on_failure(chat, client_a, client_b):
        alice.start("udp-chat", CHAT_PORT)
        bob.start("udp-chat", CHAT_PORT)
        alice.send("JOIN alice")
        welcome_alice = alice.wait_for("WELCOME alice ")
        bob.send("JOIN bob")
        welcome_bob = bob.wait_for("WELCOME bob ")
        alice.wait_for("JOINED bob")
        assert welcome_alice.split()[2] == f"{lab.ip(client_a, lab_network)}:{alice.port()}"
        assert welcome_bob.split()[2] == f"{lab.ip(client_b, lab_network)}:{bob.port()}"
        alice.send("MSG before the restart")
        assert bob.wait_for("MSG alice ") == "MSG alice 1 before the restart"

        server_ip = lab.ip(chat, lab_network)
        wrapped.restart(timeout=10)
        lab.wait_healthy(chat)
        assert lab.ip(chat, lab_network) == server_ip, "restart kept the server's address"
        alice.wait_for("BYE")
        bob.wait_for("BYE")

        mark_a, mark_b = len(alice.lines()), len(bob.lines())
        alice.send("MSG lost")
        refusal = alice.wait_for("ERR", after=mark_a)
        assert refusal.startswith("ERR 401"), f"not joined on the new server: {refusal!r}"
        time.sleep(ANSWER_TIMEOUT)  # bob must not get it: give it the time it would take
        assert not any(line.startswith("RECV MSG") for line in bob.lines()[mark_b:]), bob.lines()

        alice.send("JOIN alice")
        assert alice.wait_for("WELCOME alice ", after=mark_a).split()[2] == welcome_alice.split()[2]
        bob.send("JOIN bob")
        assert bob.wait_for("WELCOME bob ", after=mark_b).split()[2] == welcome_bob.split()[2]
        alice.wait_for("JOINED bob", after=mark_a)
        alice.send("MSG after the restart")
        assert bob.wait_for("MSG alice ", after=mark_b) == "MSG alice 1 after the restart"
        alice.send("LEAVE")
        bob.send("LEAVE")


# --- 9. TCP close ---------------------------------------------------------------------------


def test_9_server_logs_the_disconnect_with_the_clients_address(
    lab: Lab, lab_network: Network, web: DockerContainer, client_a: Container
) -> None:
    """The client closes a kept-alive connection: the server's read returns no bytes, and
    threaded-web (at debug level) logs ``ip:port closed after 1 requests``. The side that
    closed first holds the connection in TIME_WAIT: here, the client."""
    wrapped = web.get_wrapped_container()
    with lab.logs_on_failure(web, client_a):
        seen = lab.python(client_a, REQUEST_THEN_CLOSE, "threaded-web", str(WEB_PORT))
        client_ip, client_port = seen["local"]
        assert client_ip == lab.ip(client_a, lab_network)
        assert seen["client_port"] == client_port
        wanted = f"{client_ip}:{client_port} closed after 1 requests"
        wait_until(
            lambda: wanted in wrapped.logs().decode("utf-8", "replace"),
            LOG_WAIT,
            f"no {wanted!r} in the server's log",
            interval=0.1,
        )
        assert f"{client_ip}:{client_port} connected" in wrapped.logs().decode()
        server = f"{lab.ip(web, lab_network)}:{WEB_PORT}"
        time_wait = lab.exec(client_a, ["ss", "-Htn", "state", "time-wait"]).stdout
        assert any(
            line.split()[-2:] == [f"{client_ip}:{client_port}", server]
            for line in time_wait.splitlines()
        ), f"no TIME_WAIT for {client_ip}:{client_port} -> {server}:\n{time_wait}"
