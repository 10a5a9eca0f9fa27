"""The lab's images and containers for the integration tests (testcontainers 4.x, docker-py).

Importing this module sets testcontainers' environment first (its configuration reads the
environment at import time), so import it before testcontainers itself:

* Ryuk (testcontainers' reaper) is off: it would have to be pulled, and no registry is
  reachable. Cleanup is ours instead: ``with``/``finally`` around every container and network
  (containers first), a session finalizer, and a sweep at the start that removes what a killed
  earlier run left behind (:func:`remove_labelled`). Everything created here carries
  :data:`RUN_LABEL`.
* Containers are published on 127.0.0.1 only, on host ports Docker picks; tests read the mapping.

:class:`Images` builds each service image from ``services/`` on first use, with the network off,
exactly as ``make images`` does. :class:`Lab` starts a service on a network with an alias, reads
its IP there and its published host port, runs commands in a "client" container on the same
network, and puts container logs into failure messages. The fixtures that hand these out are in
tests/integration/conftest.py.
"""

from __future__ import annotations

import os

# Before testcontainers is imported (its configuration reads the environment at import time).
# Ryuk would be pulled from a registry; there is none. "true" is what `make test` sets as well.
os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"
# Containers are published on 127.0.0.1. Without this, testcontainers notices /.dockerenv (this
# machine is itself a container) and would address containers through the default gateway.
os.environ.setdefault("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")

import contextlib
import json
import socket
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import docker.errors
import pytest
from docker.models.containers import Container
from testcontainers.core.container import DockerContainer
from testcontainers.core.labels import SESSION_ID
from testcontainers.core.network import Network

from docker import DockerClient
from tests.support.paths import REPO, SERVICES
from tests.support.processes import CommandResult, is_running
from tests.support.waiting import wait_until

REPO_ROOT = REPO
SERVICES_DIR = SERVICES
# The service images are <prefix>/<service>:latest, built from this tree. Where several
# working trees share one engine, each can build and test its own images under its own prefix
# (SOCKETLAB_TEST_IMAGE_PREFIX) without retagging the others'. The base image is shared.
IMAGE_PREFIX = os.environ.get("SOCKETLAB_TEST_IMAGE_PREFIX", "socketlab")
BASE_IMAGE = os.environ.get("BASE_IMAGE", "socketlab/base:latest")
# Every container and network the tests create is named <prefix><what>-<random>, so that a
# listing (docker ps) shows whose they are; SOCKETLAB_TEST_NAME_PREFIX chooses the prefix.
NAME_PREFIX = os.environ.get("SOCKETLAB_TEST_NAME_PREFIX", "socketlab-test-")

# Every container and network the tests create carries this label: "<host>:<pid>:<session>".
# The sweep removes labelled objects whose creating process on this host is gone.
RUN_LABEL = "socketlab.tests.run"
RUN_ID = f"{socket.gethostname()}:{os.getpid()}:{SESSION_ID}"
# Images built here carry the same label as `make images` puts on its builds, so the dangling
# leftovers of rebuilds can be pruned by it (docker image prune --filter label=...).
# The prefix label scopes the prune to this tree's images (the Makefile says why).
BUILD_LABELS = {"socketlab.built-by": "make", "socketlab.image-prefix": IMAGE_PREFIX}
PRUNE_FILTERS = {
    "label": [f"{key}={value}" for key, value in BUILD_LABELS.items()],
    "dangling": True,
}

# Seconds for a service to report healthy. The image checks every 5 s after a 10 s start
# period; the tests shorten the interval (see HEALTH_INTERVAL_NS), so a few seconds is normal
# and 60 leaves room for a loaded 2-core CI machine.
STARTUP_TIMEOUT = 60.0
# Docker merges a container's healthcheck with the image's field by field: giving only the
# interval keeps the image's own probe command, which is what is under test.
HEALTH_INTERVAL_NS = 500_000_000
# Seconds between two looks at a starting container's health (each look is an API call).
HEALTH_POLL = 0.2
# Seconds one `docker exec` in the client container may take.
EXEC_TIMEOUT = 30.0
# Lines of a container's log put into a failure message.
LOG_TAIL = 80


def unique_name(what: str) -> str:
    """A container or network name: NAME_PREFIX, what it is, and a random part."""
    return f"{NAME_PREFIX}{what}-{uuid.uuid4().hex[:8]}"


def run_alive(run_id: str) -> bool:
    """Whether the test run that made an object (label value ``host:pid:session``) still runs.

    A killed run can linger as a zombie until its parent reaps it: that counts as gone.
    """
    host, _, rest = run_id.partition(":")
    pid_text, _, _ = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True  # another machine's engine, or not ours to judge: leave it alone
    return is_running(int(pid_text))


def remove_labelled(client: DockerClient, keep: Callable[[str], bool]) -> list[str]:
    """Remove containers, then networks, labelled RUN_LABEL for which ``keep(label)`` is false."""
    removed: list[str] = []
    for container in client.containers.list(all=True, filters={"label": RUN_LABEL}):
        if not keep(container.labels.get(RUN_LABEL, "")):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
                removed.append(f"container {container.name}")
    for network in client.networks.list(filters={"label": RUN_LABEL}):
        if not keep(network.attrs.get("Labels", {}).get(RUN_LABEL, "")):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                network.remove()
                removed.append(f"network {network.name}")
    return removed


@dataclass
class Images:
    """Builds service images on first use, once per session."""

    client: DockerClient
    built: dict[str, str] = field(default_factory=dict)

    def tag(self, service: str) -> str:
        """``<IMAGE_PREFIX>/<service>:latest``, built from services/docker/<service>.Dockerfile."""
        if service in self.built:
            return self.built[service]
        tag = f"{IMAGE_PREFIX}/{service}:latest"
        dockerfile = f"docker/{service}.Dockerfile"
        if not (SERVICES_DIR / dockerfile).is_file():
            pytest.fail(f"no services/{dockerfile}: unknown service {service!r}", False)
        if os.environ.get("SOCKETLAB_SKIP_IMAGE_BUILD") == "1":
            try:
                self.client.images.get(tag)
            except docker.errors.ImageNotFound:
                pytest.fail(f"{tag} is missing (SOCKETLAB_SKIP_IMAGE_BUILD=1): make images", False)
        else:
            self._build(tag, dockerfile)
        self.built[service] = tag
        return tag

    def _build(self, tag: str, dockerfile: str) -> None:
        try:
            # The same build as `make images`: context services/, network off, classic builder
            # (docker-py speaks the engine's classic /build API; BuildKit is not involved).
            self.client.images.build(
                path=str(SERVICES_DIR),
                dockerfile=dockerfile,
                tag=tag,
                network_mode="none",
                buildargs={"BASE_IMAGE": BASE_IMAGE},
                labels=BUILD_LABELS,
                rm=True,
                forcerm=True,
            )
        except docker.errors.BuildError as exc:
            parts = (part.get("stream") or part.get("error") or "" for part in exc.build_log)
            log = "".join(str(part) for part in parts)
            pytest.fail(f"building {tag} from services/{dockerfile}: {exc}\n{log[-4000:]}", False)


# --- the Lab helper ---------------------------------------------------------------------------


def _unwrap(container: Container | DockerContainer) -> Container:
    """The docker-py container behind a testcontainers wrapper (or the container itself)."""
    if isinstance(container, DockerContainer):
        return container.get_wrapped_container()
    return container


def logs_of(container: Container | DockerContainer, tail: int = LOG_TAIL) -> str:
    """The last ``tail`` lines of a container's output (stdout and stderr), for failure messages."""
    wrapped = _unwrap(container)
    try:
        text: str = wrapped.logs(tail=tail).decode("utf-8", "replace")
    except docker.errors.APIError as exc:
        return f"(no logs: {exc})"
    return text


def describe(container: Container | DockerContainer) -> str:
    """Name, state, last health probes and logs of a container: what a failure message needs."""
    wrapped = _unwrap(container)
    with contextlib.suppress(docker.errors.APIError):
        wrapped.reload()
    state = wrapped.attrs.get("State", {})
    probes = [
        f"  probe exit {p.get('ExitCode')}: {str(p.get('Output', '')).strip()}"
        for p in (state.get("Health") or {}).get("Log", [])[-3:]
    ]
    return "\n".join(
        [
            f"--- container {wrapped.name} ({wrapped.image.tags if wrapped.image else '?'}): "
            f"status {state.get('Status')}, exit code {state.get('ExitCode')}, "
            f"health {(state.get('Health') or {}).get('Status', 'none')}",
            *probes,
            f"--- last {LOG_TAIL} log lines:",
            logs_of(wrapped),
        ]
    )


@dataclass
class Lab:
    """Helpers to run the lab's services in tests. Obtain it through the ``lab`` fixture."""

    client: DockerClient
    images: Images

    describe = staticmethod(describe)
    logs = staticmethod(logs_of)

    @contextlib.contextmanager
    def service(
        self,
        service: str,
        network: Network,
        alias: str | None = None,
        *,
        publish: Sequence[int | str] = (8080,),
        command: list[str] | None = None,
        env: dict[str, str] | None = None,
        wait_healthy: bool = True,
        extra_aliases: Sequence[str] = (),
        healthcheck_test: list[str] | None = None,
        volumes: Sequence[tuple[Path, str]] = (),
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> Iterator[DockerContainer]:
        """Run the ``<service>`` image on ``network`` under ``alias`` (default: the service name).

        The container's hostname is the alias too, as in compose.yaml; ``extra_aliases`` are
        more DNS names for it on ``network``. Each port in ``publish``
        (``8080`` or ``"9999/udp"``) is published on 127.0.0.1 at a port Docker picks; read it
        with :meth:`host_port`. Waits until the image's HEALTHCHECK reports healthy; on failure
        the container's state and logs are in the message (``startup_timeout``). Removed on
        exit, whatever happens. ``healthcheck_test`` replaces the image's probe command (a server
        moved to another port); each of ``volumes`` mounts a folder of this machine read-only
        at a path in the container, as compose.yaml does.
        """
        alias = alias or service
        healthcheck: dict[str, Any] = {"interval": HEALTH_INTERVAL_NS}
        if healthcheck_test is not None:
            healthcheck["test"] = healthcheck_test
        container = (
            DockerContainer(self.images.tag(service), env=env or {})
            .with_name(unique_name(alias))
            .with_network(network)
            .with_network_aliases(alias, *extra_aliases)
            .with_kwargs(
                labels={RUN_LABEL: RUN_ID},
                hostname=alias,
                healthcheck=healthcheck,
            )
        )
        if command is not None:
            container.with_command(command)
        for host_path, container_path in volumes:
            container.with_volume_mapping(str(host_path), container_path, "ro")
        # testcontainers' with_bind_ports cannot name a host IP; docker-py takes (ip, port)
        # tuples, and port None lets Docker choose. Loopback only: nothing else can reach it.
        for port in publish:
            container.ports[str(port)] = ("127.0.0.1", None)  # type: ignore[assignment]
        try:
            container.start()
            if wait_healthy:
                self.wait_healthy(container, startup_timeout)
            yield container
        finally:
            container.stop()  # removes it (force), volumes included

    def wait_healthy(self, container: DockerContainer, timeout: float = STARTUP_TIMEOUT) -> None:
        """Poll the container's health until it is "healthy"; fail with its logs otherwise."""
        wrapped = container.get_wrapped_container()
        name = wrapped.name

        def healthy() -> bool:
            wrapped.reload()
            state = wrapped.attrs["State"]
            health = (state.get("Health") or {}).get("Status")
            if state.get("Status") in ("exited", "dead"):
                pytest.fail(f"{name} exited before being healthy\n{describe(wrapped)}", False)
            if health is None:
                pytest.fail(f"{name} has no HEALTHCHECK\n{describe(wrapped)}", False)
            if health == "unhealthy":
                pytest.fail(f"{name} is unhealthy\n{describe(wrapped)}", False)
            return bool(health == "healthy")

        wait_until(
            healthy,
            timeout,
            lambda: f"{name} not healthy\n{describe(wrapped)}",
            interval=HEALTH_POLL,
        )

    @contextlib.contextmanager
    def client_container(
        self,
        network: Network,
        alias: str = "client",
        *,
        image: str = BASE_IMAGE,
        user: str | None = "lab",
    ) -> Iterator[Container]:
        """``image`` idling (``sleep infinity``) on ``network``: run commands from there.

        Its hostname and DNS name are ``alias``; it runs as ``user`` (None: the image's USER).
        An image's own HEALTHCHECK (a service image probing a server that is not started) is
        switched off. ``sleep`` as PID 1 ignores SIGTERM, so cleanup removes it with force
        (SIGKILL) at once.
        """
        options: dict[str, Any] = {
            "labels": {RUN_LABEL: RUN_ID},
            "hostname": alias,
            "healthcheck": {"test": ["NONE"]},
        }
        if user is not None:
            options["user"] = user
        container = (
            DockerContainer(image)
            .with_name(unique_name(alias))
            .with_command(["sleep", "infinity"])
            .with_network(network)
            .with_network_aliases(alias)
            .with_kwargs(**options)
        )
        try:
            container.start()
            wrapped = container.get_wrapped_container()
            wrapped.reload()
            if wrapped.status != "running":
                pytest.fail(f"{alias}'s container did not start\n{describe(wrapped)}", False)
            yield wrapped
        finally:
            container.stop()

    @staticmethod
    @contextlib.contextmanager
    def logs_on_failure(*containers: Container | DockerContainer) -> Iterator[None]:
        """Append each container's state and logs to an assertion or ``pytest.fail`` message
        raised inside the block: a failed cross-container check shows what each side saw."""
        try:
            yield
        except (AssertionError, pytest.fail.Exception) as exc:
            context = "\n".join(describe(container) for container in containers)
            raise AssertionError(f"{exc}\n{context}") from None

    def exec(self, container: Container, cmd: list[str], *, check: bool = True) -> CommandResult:
        """Run ``cmd`` in ``container``; with ``check``, fail (with its output) unless it exits 0.

        docker exec has no timeout of its own: commands given here must bound themselves (the
        probes and scripts in these tests use socket timeouts); EXEC_TIMEOUT is what they use.
        """
        exit_code, output = container.exec_run(cmd, demux=True)
        # With demux, the output is (stdout, stderr), each None when the command wrote nothing.
        out, err = cast("tuple[bytes | None, bytes | None]", output)
        result = CommandResult(
            exit_code if exit_code is not None else -1,
            (out or b"").decode("utf-8", "replace"),
            (err or b"").decode("utf-8", "replace"),
        )
        if check and result.exit_code != 0:
            pytest.fail(result.failure(f"in {container.name}: {cmd!r}"), False)
        return result

    def python(self, container: Container, script: str, *args: str) -> Any:
        """Run a ``python3 -c`` script in ``container`` and parse the JSON it prints last."""
        result = self.exec(container, ["python3", "-c", script, *args])
        try:
            return json.loads(result.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError) as exc:
            pytest.fail(f"script printed no JSON ({exc}):\n{result.stdout}\n{result.stderr}", False)

    @staticmethod
    def ip(container: Container | DockerContainer, network: Network) -> str:
        """The container's IPv4 address on ``network`` (fresh from the engine)."""
        wrapped = _unwrap(container)
        wrapped.reload()
        address: str = wrapped.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        assert address, f"{wrapped.name} has no address on {network.name}"
        return address

    @staticmethod
    def host_port(container: DockerContainer, port: int | str, proto: str = "tcp") -> int:
        """The host port (on 127.0.0.1) that Docker published for the container's ``port``."""
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        key = str(port) if "/" in str(port) else f"{port}/{proto}"
        bindings = wrapped.attrs["NetworkSettings"]["Ports"].get(key) or []
        for binding in bindings:
            if binding.get("HostIp") == "127.0.0.1" and binding.get("HostPort"):
                return int(binding["HostPort"])
        pytest.fail(f"{wrapped.name}: {key} is not published on 127.0.0.1 ({bindings})", False)


def fresh_network() -> Network:
    """A new user-defined bridge network (Docker picks the subnet), labelled for the sweep.

    Use it as a context manager; remove the containers on it first."""
    network = Network(docker_network_kw={"driver": "bridge", "labels": {RUN_LABEL: RUN_ID}})
    network.name = unique_name("net")  # what create() names it
    return network
