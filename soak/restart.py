"""The ``docker-restart`` case of ``make soak``: each service of a lab restarted under load.

A lab of the project's own containers is started with ``make up`` under a project name of its
own (``<COMPOSE_PROJECT_NAME>-soak``: never the lab a learner runs), its own subnets
(``SOAK_LAB_SUBNET_PREFIX``/``SOAK_OTHER_SUBNET_PREFIX``, 10.36.80 and 10.36.90 unless set)
and free host ports, from images named ``<SOCKETLAB_TEST_IMAGE_PREFIX>/<service>`` (the lab's
own ``socketlab/`` when unset); ``make down`` removes it afterwards, whatever happened.

For each service: the browser container loads the service's page in a loop (the load, a
visit every :data:`LOAD_INTERVAL` s, a bounded number of visits), ``docker restart`` is issued
meanwhile, and the case measures how long after the container started again Docker reports it
healthy. That must be within its healthcheck's window -- ``start_period + interval x retries``,
read from the container: the time Docker gives it before it would call it unhealthy. Then the
browser's next page must load. udp-chat has no page: only its health is judged.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parents[1]

PAGES: Final = {
    "threaded-web": "http://threaded-web:8080/",
    "multiprocess-web": "http://multiprocess-web:8888/",
    "coroutine-web": "http://coroutine-web:8081/",
    "impair": "http://impair:8080/",  # threaded-web through the relay (configs/impair.toml)
    "udp-chat": "",
}
"""The services restarted, in order, and the page the browser loads from each ("" for none)."""

SHORT_SERVICES: Final = ("threaded-web",)

LOAD_INTERVAL: Final = 0.25
"""Seconds from the start of one of the load's visits to the next."""

LOAD_SECONDS: Final = 20.0
"""How long the load runs around each restart (a restart and the first healthy probe take
5 to 15 s here); the short run's is half. The number of visits is fixed from it."""

UP_TIMEOUT: Final = 600.0
"""Seconds for ``make up``: image builds (cached: seconds) and every service healthy."""

DOWN_TIMEOUT: Final = 180.0
"""Seconds for ``make down`` (stop_grace_period is at most 20 s a service)."""

SUBNETS: Final = ("10.36.80", "10.36.90")
"""The soak lab's subnets unless SOAK_LAB_SUBNET_PREFIX / SOAK_OTHER_SUBNET_PREFIX say."""


class LabFailed(RuntimeError):
    """The soak's lab did not come up, or a docker command failed."""


@dataclass
class Restart:
    service: str
    window_s: float  # start_period + interval x retries of its healthcheck
    restart_s: float  # how long `docker restart` took (stop, then start)
    healthy_after_s: float | None  # from the start to the first healthy probe (None: never)
    load_ok: int  # the load's pages that loaded, during the restart and around it
    load_failed: int
    next_page: bool | None  # the browser's next page after it was healthy (None: no page)
    failure_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def held(self) -> bool:
        return (
            self.healthy_after_s is not None
            and self.healthy_after_s <= self.window_s
            and self.next_page is not False
        )


@dataclass
class Lab:
    project: str
    env: dict[str, str]

    def container(self, service: str) -> str:
        out = _docker(
            "ps",
            "--quiet",
            "--filter",
            f"label=com.docker.compose.project={self.project}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        ).split()
        if len(out) != 1:
            raise LabFailed(f"{self.project}: {len(out)} running containers for {service}")
        return out[0]


def _docker(*args: str, timeout: float = 120.0) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise LabFailed(f"docker {' '.join(args[:3])}: {done.stderr.strip()[-500:]}")
    return done.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def lab_env() -> dict[str, str]:
    """compose.yaml's variables for the soak's own lab (see the module's docstring)."""
    project = os.environ.get("COMPOSE_PROJECT_NAME") or "socketlab"
    project = f"{project}-soak"
    lab, other = (
        os.environ.get("SOAK_LAB_SUBNET_PREFIX") or SUBNETS[0],
        os.environ.get("SOAK_OTHER_SUBNET_PREFIX") or SUBNETS[1],
    )
    return {
        "COMPOSE_PROJECT_NAME": project,
        "LABNET_NAME": f"{project}-labnet",
        "OTHERNET_NAME": f"{project}-othernet",
        "LAB_SUBNET_PREFIX": lab,
        "OTHER_SUBNET_PREFIX": other,
        "IMAGE_PREFIX": os.environ.get("SOCKETLAB_TEST_IMAGE_PREFIX") or "socketlab",
        **{
            name: str(_free_port())
            for name in (
                "THREADED_WEB_PORT",
                "MULTIPROCESS_WEB_PORT",
                "COROUTINE_WEB_PORT",
                "UDP_CHAT_PORT",
                "IMPAIR_API_PORT",
            )
        },
    }


def _make(target: str, env: dict[str, str], timeout: float, log: Path) -> None:
    with open(log, "ab") as out:
        done = subprocess.run(
            ["make", "--no-print-directory", target, f"IMAGE_PREFIX={env['IMAGE_PREFIX']}"],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    if done.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-30:]
        raise LabFailed(f"make {target} failed ({done.returncode}):\n" + "\n".join(tail))


@contextlib.contextmanager
def running_lab(work: Path) -> Iterator[Lab]:
    """A whole lab of the project's containers (``make up``), removed when the block ends."""
    env = lab_env()
    log = work / "soak-lab.log"
    try:
        _make("up", env, UP_TIMEOUT, log)
        yield Lab(env["COMPOSE_PROJECT_NAME"], env)
    finally:
        _make("down", env, DOWN_TIMEOUT, log)


def health_window(container: str) -> float:
    """start_period + interval x retries of the container's healthcheck, in seconds."""
    check = json.loads(_docker("inspect", "--format", "{{json .Config.Healthcheck}}", container))
    nanoseconds = check.get("StartPeriod", 0) + check.get("Interval", 0) * check.get("Retries", 0)
    return round(float(nanoseconds) / 1e9, 1)


def health(container: str) -> str:
    return _docker("inspect", "--format", "{{.State.Health.Status}}", container).strip()


def started_at(container: str) -> str:
    return _docker("inspect", "--format", "{{.State.StartedAt}}", container).strip()


class BrowserLoad:
    """The browser container loading ``url`` every LOAD_INTERVAL s, ``visits`` times (then its
    process ends by itself: nothing is left running in the container)."""

    def __init__(self, browser: str, url: str, visits: int) -> None:
        self.ok = 0
        self.failed = 0
        self.kinds: dict[str, int] = {}
        argv = [
            "docker",
            "exec",
            browser,
            "python3",
            "-m",
            "socketlab.browser",
            "--json",
            "--log-level",
            "error",
            "--repeat",
            str(visits),
            "--interval",
            str(LOAD_INTERVAL),
            url,
        ]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                page = json.loads(line)
            except ValueError:
                continue
            if page.get("ok"):
                self.ok += 1
            else:
                self.failed += 1
                what = str(page.get("status") or "no answer")
                self.kinds[what] = self.kinds.get(what, 0) + 1

    def wait(self, timeout: float) -> None:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def page_loads(browser: str, url: str) -> bool:
    """The browser's next page: one load of ``url`` from the browser container."""
    done = subprocess.run(
        ["docker", "exec", browser, "python3", "-m", "socketlab.browser", "--json", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    pages = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return done.returncode == 0 and bool(pages) and all(page.get("ok") for page in pages)


def restart_one(lab: Lab, service: str, load_seconds: float) -> Restart:
    container = lab.container(service)
    browser = lab.container("browser")
    window = health_window(container)
    url = PAGES[service]
    load = BrowserLoad(browser, url, int(load_seconds / LOAD_INTERVAL)) if url else None
    time.sleep(2 * LOAD_INTERVAL)  # the load is under way before the restart
    before = started_at(container)
    issued = time.monotonic()
    _docker("restart", container, timeout=60)
    restarted = time.monotonic()
    if started_at(container) == before:
        raise LabFailed(f"{service}: docker restart did not restart it")
    healthy_after: float | None = None
    deadline = restarted + window + 10
    while time.monotonic() < deadline:
        if health(container) == "healthy":
            healthy_after = round(time.monotonic() - restarted, 2)
            break
        time.sleep(0.1)
    if load is not None:
        load.wait(load_seconds + 30)
    next_page = page_loads(browser, url) if url and healthy_after is not None else None
    if url and healthy_after is None:
        next_page = False
    return Restart(
        service,
        window,
        round(restarted - issued, 2),
        healthy_after,
        load.ok if load else 0,
        load.failed if load else 0,
        next_page,
        load.kinds if load else {},
    )


def restarts(work: Path, *, short: bool) -> list[Restart]:
    services = SHORT_SERVICES if short else tuple(PAGES)
    load_seconds = LOAD_SECONDS / 2 if short else LOAD_SECONDS
    with running_lab(work) as lab:
        return [restart_one(lab, service, load_seconds) for service in services]
