"""multiprocess-web as a real process tree: a supervisor and its workers, started by a test.

:class:`ServerProcess` runs ``python3 -m socketlab.multiprocess_web`` with a config file written
for the test and its log in a file, and answers questions about the tree (its children, their
states, its open descriptors) through :mod:`tests.support.processes`. It is always stopped, by
SIGKILL (the supervisor and every child) if need be.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from socketlab.multiprocess_web import SETTINGS
from tests.support import processes
from tests.support.paths import REPO, WWW
from tests.support.raw_http import RawResponse, get
from tests.support.waiting import wait_until

# Seconds a test waits for the server to start listening (it takes about 0.1 s), and for a
# pool to reach its size. Generous for a loaded 2-core CI machine.
START_TIMEOUT = 15.0
# Seconds a server may take to exit after SIGTERM once nothing is in flight.
STOP_TIMEOUT = processes.STOP_TIMEOUT


def config_values(**overrides: Any) -> dict[str, Any]:
    """Every key of the server's settings table, at test-friendly values, with overrides."""
    values = {s.name: s.default for s in SETTINGS}
    values.update(host="127.0.0.1", port=0, workers=2, static_root=str(WWW), log_level="info")
    values.update(overrides)
    return values


def toml_text(values: dict[str, Any]) -> str:
    """A TOML document for flat str/int/float/bool/list-of-str values (enough for our config)."""
    return "".join(f"{key} = {_toml_value(value)}\n" for key, value in values.items())


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


_LISTENING = re.compile(r"listening on [^ ]+:(\d+) \(supervisor pid (\d+)\)")


@dataclass
class ServerProcess:
    """``python3 -m socketlab.multiprocess_web`` with a generated config, logging to a file."""

    workdir: Path
    config: dict[str, Any] = field(default_factory=dict)
    preamble: str = ""  # Python run before the server's main() (e.g. to make fork() fail)
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self) -> ServerProcess:
        """Start the server and wait until its log says where it listens."""
        config_path = self.workdir / "multiprocess-web.toml"
        config_path.write_text(toml_text(config_values(**self.config)))
        args = ["--config", str(config_path)]
        if self.preamble:
            # The preamble must run in the server's own process, before main(): hence -c.
            script = (
                f"{self.preamble}\nimport sys\nfrom socketlab.multiprocess_web import main\n"
                f"sys.exit(main({args!r}))\n"
            )
            command = [sys.executable, "-c", script]
        else:
            command = processes.service_command("multiprocess_web", *args)
        with self.log_path.open("wb") as log_file:
            self.proc = subprocess.Popen(
                command,
                cwd=REPO,
                env=processes.service_env(),
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        match = wait_until(
            self._listening, START_TIMEOUT, lambda: f"no listening line:\n{self.log()}"
        )
        self.port = int(match.group(1))
        return self

    def _listening(self) -> re.Match[str] | None:
        match = _LISTENING.search(self.log())
        if match is None and self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
        return match

    def get(self, target: str, **kwargs: Any) -> RawResponse:
        return get(self.port, target, **kwargs)

    def working(self) -> int:
        """Requests being worked on now, by the server's own /server-status (every worker's
        row of the shared board; published at most a quarter of a second late). Asked on a
        connection of its own, so some worker or child other than the busy ones must answer."""
        answer = self.get("/server-status")
        assert answer.status == 200, f"/server-status answered {answer.status}\n{self.log()}"
        return int(answer.json()["states"]["working"])

    def wait_working(self, count: int = 1, timeout: float = START_TIMEOUT) -> None:
        """Wait until at least ``count`` requests are in the application."""
        wait_until(
            lambda: self.working() >= count,
            timeout,
            lambda: f"fewer than {count} requests in flight\n{self.log()}",
        )

    # -- the process tree ----------------------------------------------------------------------

    def children(self) -> dict[int, str]:
        """PID -> psutil status of every child of the server process (zombies included)."""
        return processes.children_of(self.pid)

    def zombies(self) -> set[int]:
        """The children that exited and were not reaped yet."""
        return processes.zombie_children(self.pid)

    def workers(self, count: int, timeout: float = START_TIMEOUT) -> set[int]:
        """The live (non-zombie) children once there are exactly ``count`` of them."""

        def pool() -> set[int] | None:
            live = processes.live_children(self.pid)
            return live if len(live) == count else None

        return wait_until(
            pool,
            timeout,
            lambda: f"expected {count} workers, have {self.children()}\n{self.log()}",
        )

    def replacements(self, gone: set[int], count: int, timeout: float = START_TIMEOUT) -> set[int]:
        """The live children once there are exactly ``count`` of them and none is in ``gone``.

        A worker that was just killed can still be listed for an instant after its socket
        closed (it has not exited, or not been reaped, yet): wait for the pool without it.
        """

        def pool() -> set[int] | None:
            live = processes.live_children(self.pid)
            return live if len(live) == count and live.isdisjoint(gone) else None

        return wait_until(
            pool,
            timeout,
            lambda: (
                f"expected {count} workers, none of {sorted(gone)}, have {self.children()}\n"
                f"{self.log()}"
            ),
        )

    def wait_no_children(self, timeout: float) -> None:
        """Wait until every child has exited and been reaped."""
        wait_until(
            lambda: not self.children(),
            timeout,
            lambda: f"children left: {self.children()}\n{self.log()}",
        )

    def kill_child(self, pid: int, signum: int) -> None:
        """Send ``signum`` to one of the server's children (and only to one of them)."""
        assert pid in self.children(), f"{pid} is not a child of the server"
        os.kill(pid, signum)

    def fd_count(self) -> int:
        """How many descriptors the supervisor has open."""
        return processes.open_fd_count(self.pid)

    # -- stopping ------------------------------------------------------------------------------

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL the server and every child it still has (the test failed half-way)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for pid in self.children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.kill()
        self.proc.wait(STOP_TIMEOUT)


@contextlib.contextmanager
def server_process(workdir: Path, preamble: str = "", **config: Any) -> Iterator[ServerProcess]:
    """A started ServerProcess, stopped with SIGTERM (SIGKILL if it hangs) when the block ends."""
    server = ServerProcess(workdir, config, preamble)
    try:
        server.start()
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.signal(signal.SIGTERM)
            try:
                server.wait()
            except subprocess.TimeoutExpired:
                server.kill()
