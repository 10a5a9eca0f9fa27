"""Run the exercises of docs/labs/ against the running lab (``make up``), as a learner would.

These tests are the promises of the exercise texts: each observation a text promises carries a
marker ``<!-- check: test_name -->`` naming the test here that asserts it (tests/unit/
test_labs_markers.py keeps the two in step). They run the texts' commands with the docker CLI
(``docker exec`` is what ``docker compose exec`` does) in the lab's containers, found by the
compose labels, so Compose v1 and v2 containers alike. Scripts the texts feed to
``python3 -`` are read from docs/labs/scripts/, the very files the texts name.

Run them with ``make check-labs``; they never start or stop the lab themselves.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "docs" / "labs" / "scripts"
PROJECT = os.environ.get("COMPOSE_PROJECT_NAME", "socketlab")
# The lab's subnet and network name, as compose.yaml takes them from the environment (or .env's
# defaults, which the exercise texts show): check-labs then checks a second lab on the same
# engine too (make check-labs COMPOSE_PROJECT_NAME=lab2 LAB_SUBNET_PREFIX=10.31.80 ...).
LAB_PREFIX = os.environ.get("LAB_SUBNET_PREFIX", "10.30.80")
LABNET = os.environ.get("LABNET_NAME", "labnet")
# The services `make up` starts; the exercises use every one of them.
SERVICES = ("threaded-web", "multiprocess-web", "udp-chat", "browser", "outsider")
# Seconds one command may take; the exercises' commands finish in a few seconds.
COMMAND_TIMEOUT = 60.0


@dataclass
class Result:
    """What a command printed, and its exit status."""

    returncode: int
    stdout: str
    stderr: str


def run(args: list[str], *, input: str | None = None, timeout: float = COMMAND_TIMEOUT) -> Result:
    """Run a command on this machine (the docker CLI, mostly); never raises on a non-zero exit."""
    # Bytes, decoded here: text mode would turn the CRLF of HTTP messages into LF.
    done = subprocess.run(
        args,
        input=None if input is None else input.encode(),
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return Result(
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
    ) -> Result:
        """``docker compose exec [-u USER] SERVICE CMD...``; with ``check``, fail unless 0."""
        args = ["docker", "exec"]
        if input is not None:
            args.append("-i")
        if user:
            args += ["-u", user]
        result = run([*args, self.id(service), *cmd], input=input, timeout=timeout)
        if check and result.returncode != 0:
            pytest.fail(
                f"`{' '.join(cmd)}` in {service} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}",
                False,
            )
        return result

    def script(self, service: str, name: str, *args: str) -> str:
        """``docker compose exec -T SERVICE python3 - ARGS < docs/labs/scripts/NAME``."""
        source = (SCRIPTS / name).read_text()
        return self.exec(service, "python3", "-", *args, input=source).stdout

    def logs(self, service: str, since: str | None = None) -> str:
        args = ["docker", "logs", *(["--since", since] if since else []), self.id(service)]
        result = run(args)
        return result.stdout + result.stderr


@pytest.fixture(scope="session")
def lab() -> RunningLab:
    """The running lab; fails (not skips) when a service is missing: run ``make up`` first."""
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
