"""The lab that ``make up`` started, as the labs tests drive it: the docker CLI, by compose labels.

Commands run as a learner's would (``docker exec`` is what ``docker compose exec`` does), in the
lab's containers found by the compose labels, so Compose v1 and v2 containers alike. Scripts the
exercise texts feed to ``python3 -`` are read from docs/labs/scripts/, the very files they name.
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import pytest

from tests.support.paths import LAB_SCRIPTS as SCRIPTS
from tests.support.processes import CommandResult

PROJECT = os.environ.get("COMPOSE_PROJECT_NAME", "socketlab")
# The lab's subnet and network name, as compose.yaml takes them from the environment (or .env's
# defaults, which the exercise texts show): check-labs then checks a second lab on the same
# engine too (make check-labs COMPOSE_PROJECT_NAME=lab2 LAB_SUBNET_PREFIX=10.31.80 ...).
LAB_PREFIX = os.environ.get("LAB_SUBNET_PREFIX", "10.30.80")
LABNET = os.environ.get("LABNET_NAME", "labnet")
# The services `make up` starts; the exercises use every one of them.
SERVICES = (
    "threaded-web",
    "multiprocess-web",
    "coroutine-web",
    "udp-chat",
    "browser",
    "outsider",
    "impair",
)
# Seconds one command may take; the exercises' commands finish in a few seconds.
COMMAND_TIMEOUT = 60.0
# Seconds any long-running command of the tests (nc, tcpdump) may live: `timeout` ends it in the
# container even if the test dies (killing the docker CLI would not stop the process inside).
LIFETIME = "20"
# Seconds a test waits for the next line of such a command.
LINE_WAIT = 10.0


def run(
    args: list[str], *, input: str | None = None, timeout: float = COMMAND_TIMEOUT
) -> CommandResult:
    """Run a command on this machine (the docker CLI, mostly); never raises on a non-zero exit."""
    # Bytes, decoded here: text mode would turn the CRLF of HTTP messages into LF.
    done = subprocess.run(
        args,
        input=None if input is None else input.encode(),
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return CommandResult(
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


@dataclass
class RunningLab:
    """The lab that ``make up`` started: its containers by service name."""

    containers: dict[str, str]

    def id(self, service: str) -> str:
        return self.containers[service]

    def exec(
        self,
        service: str,
        *cmd: str,
        user: str | None = None,
        input: str | None = None,
        timeout: float = COMMAND_TIMEOUT,
        check: bool = True,
    ) -> CommandResult:
        """``docker compose exec [-u USER] SERVICE CMD...``; with ``check``, fail unless 0."""
        args = ["docker", "exec"]
        if input is not None:
            args.append("-i")
        if user:
            args += ["-u", user]
        result = run([*args, self.id(service), *cmd], input=input, timeout=timeout)
        if check and result.exit_code != 0:
            pytest.fail(result.failure(f"`{' '.join(cmd)}` in {service}"), False)
        return result

    def script(self, service: str, name: str, *args: str) -> str:
        """``docker compose exec -T SERVICE python3 - ARGS < docs/labs/scripts/NAME``."""
        source = (SCRIPTS / name).read_text()
        return self.exec(service, "python3", "-", *args, input=source).stdout

    def logs(self, service: str, since: str | None = None) -> str:
        args = ["docker", "logs", *(["--since", since] if since else []), self.id(service)]
        result = run(args)
        return result.stdout + result.stderr


def find_lab() -> RunningLab:
    """The running lab's containers; fails (not skips) when a service is missing."""
    containers: dict[str, str] = {}
    for service in SERVICES:
        found = run(
            [
                "docker",
                "ps",
                "--quiet",
                "--filter",
                f"label=com.docker.compose.project={PROJECT}",
                "--filter",
                f"label=com.docker.compose.service={service}",
            ]
        ).stdout.split()
        if len(found) != 1:
            pytest.fail(
                f"the lab is not running ({service}: {len(found)} containers): `make up` first",
                False,
            )
        containers[service] = found[0]
    return RunningLab(containers)


# --- commands kept running, talked to through pipes ---------------------------------------


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

    def next(self, timeout: float = LINE_WAIT) -> str:
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
            proc.wait(LINE_WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def say(proc: subprocess.Popen[bytes], line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line.encode() + b"\n")
    proc.stdin.flush()
