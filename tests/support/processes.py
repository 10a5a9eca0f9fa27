"""Running the lab's services as processes from the tests, and reading facts about processes.

One environment for every service a test starts (:func:`service_env`): the developer's
``SOCKETLAB_*`` settings never leak in, ``PYTHONPATH`` points at ``services/`` exactly as the
images set it, and output is unbuffered so a test can read a log line as soon as it is written.

Process facts (children and their states, open descriptors, command lines) come from psutil
rather than from hand-parsed ``/proc`` files.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import psutil

from tests.support.paths import REPO, SERVICES

# Seconds a service run to completion (``--help``, a refused config, a probe) may take.
RUN_TIMEOUT = 30.0
# Seconds a started service gets to exit after SIGTERM, or after SIGKILL.
STOP_TIMEOUT = 15.0


@dataclass
class CommandResult:
    """What a command printed, and its exit status (here, in a container, or in the lab)."""

    exit_code: int
    stdout: str
    stderr: str

    def failure(self, what: str) -> str:
        """A failure message: ``what`` exited N, then both outputs."""
        return f"{what} exited {self.exit_code}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


def service_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without ``SOCKETLAB_*``, with the services importable.

    ``extra`` comes last, so a test sets exactly the ``SOCKETLAB_*`` variables it is about.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCKETLAB_")}
    env.update(PYTHONPATH=str(SERVICES), PYTHONUNBUFFERED="1")
    env.update(extra or {})
    return env


def service_command(module: str, *args: str) -> list[str]:
    """``python3 -m socketlab.<module> ARGS`` with this interpreter."""
    return [sys.executable, "-m", f"socketlab.{module}", *args]


def start_service(
    module: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    stderr: int = subprocess.STDOUT,
    stdin: int | None = None,
) -> subprocess.Popen[str]:
    """Start a service from the repository root, its stdout (and stderr, by default) piped."""
    return subprocess.Popen(
        service_command(module, *args),
        cwd=REPO,
        env=service_env(env),
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


@contextlib.contextmanager
def started_service(
    module: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    stderr: int = subprocess.STDOUT,
) -> Iterator[subprocess.Popen[str]]:
    """:func:`start_service` for the length of a block; killed on the way out if still running."""
    proc = start_service(module, *args, env=env, stderr=stderr)
    try:
        yield proc
    finally:
        stop_process(proc)


def run_service(
    module: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = RUN_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run a service to completion; its output is captured as text. Killed after ``timeout``
    seconds (``subprocess.TimeoutExpired``)."""
    with started_service(module, *args, env=env, stderr=subprocess.PIPE) as proc:
        stdout, stderr = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def stop_process(proc: subprocess.Popen[str]) -> None:
    """Kill ``proc`` if it still runs and collect it (the test ended before the process did)."""
    if proc.poll() is None:
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.communicate(timeout=STOP_TIMEOUT)


# --- process facts ------------------------------------------------------------------------------


def children_of(pid: int) -> dict[int, str]:
    """PID -> psutil status (``psutil.STATUS_ZOMBIE``, ``STATUS_SLEEPING``...) of each child."""
    out: dict[int, str] = {}
    try:
        children = psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return out
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            out[child.pid] = child.status()
    return out


def live_children(pid: int) -> set[int]:
    """The children of ``pid`` that are not zombies."""
    return {child for child, status in children_of(pid).items() if status != psutil.STATUS_ZOMBIE}


def zombie_children(pid: int) -> set[int]:
    """The children of ``pid`` that exited and were not reaped yet."""
    return {child for child, status in children_of(pid).items() if status == psutil.STATUS_ZOMBIE}


def open_fd_count(pid: int) -> int:
    """How many file descriptors ``pid`` has open."""
    return psutil.Process(pid).num_fds()


def is_running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (exited, waiting for its parent to reap it)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # someone else's process: it exists


def command_lines() -> Iterator[list[str]]:
    """The argument vector of every process on this machine that shows one."""
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline")
        if cmdline:
            yield list(cmdline)
