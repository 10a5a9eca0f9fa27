"""Exercise 9 (docs/labs/09-processes-threads-coroutines.md): what a connection costs in each
model, and who answers slow requests while a crowd of idle connections is held.

For each server, once: its processes and threads at rest, then the browser container holds
1,000 idle connections to it (docs/labs/scripts/hold_idle.py) while its processes and threads
are read again from inside its container and, for the two servers with /delay, ten slow
requests are sent (delay_every.py). The checks compare what the exercise says they compare.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from typing import Final

import pytest

from tests.support.paths import LAB_SCRIPTS
from tests.support.running_lab import RunningLab, run

pytestmark = pytest.mark.labs

CROWD: Final = 1000
HOLD_SECONDS: Final = 15
SERVERS: Final = {"coroutine-web": 8081, "threaded-web": 8080, "multiprocess-web": 8888}
MODULES: Final = {
    "coroutine-web": "socketlab.coroutine_web",
    "threaded-web": "socketlab.threaded_web",
    "multiprocess-web": "socketlab.multiprocess_web",
}
RESTART_WAIT: Final = 60.0
PS: Final = ("ps", "-o", "pid=,ppid=,nlwp=,rss=,args=", "-e")


@dataclass
class Proc:
    pid: int
    ppid: int
    threads: int
    rss_kib: int


@dataclass
class Seen:
    before: list[Proc]
    during: list[Proc]
    answered: int
    delays: list[tuple[float, float, str]]  # (sent at, took, status)

    @staticmethod
    def total(procs: list[Proc]) -> tuple[int, int]:
        return sum(p.rss_kib for p in procs), sum(p.threads for p in procs)


def server_procs(lab: RunningLab, service: str) -> list[Proc]:
    """The server's own processes (not a healthcheck probe that happens to run)."""
    out = lab.exec(service, *PS).stdout
    procs = []
    for line in out.splitlines():
        fields = line.split(None, 4)
        if len(fields) == 5 and MODULES[service] in fields[4]:
            procs.append(Proc(*(int(x) for x in fields[:4])))
    assert procs, out
    return procs


def restart(lab: RunningLab, service: str) -> None:
    """Restart the service and wait until it answers: it starts again with few threads."""
    assert run(["docker", "restart", "-t", "15", lab.id(service)], timeout=60).exit_code == 0
    deadline = time.monotonic() + RESTART_WAIT
    probe = (
        "python3",
        "-m",
        "socketlab.healthcheck",
        f"http://127.0.0.1:{SERVERS[service]}/healthz",
    )
    while lab.exec(service, *probe, check=False).exit_code != 0:
        assert time.monotonic() < deadline, f"{service} did not come back"
        time.sleep(0.5)


def visit(lab: RunningLab, service: str) -> Seen:
    port = SERVERS[service]
    restart(lab, service)
    before = server_procs(lab, service)
    holder = subprocess.Popen(
        [
            "docker",
            "exec",
            "-i",
            lab.id("browser"),
            "python3",
            "-",
            service,
            str(port),
            str(CROWD),
            str(HOLD_SECONDS),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert holder.stdin is not None
        assert holder.stdout is not None
        holder.stdin.write((LAB_SCRIPTS / "hold_idle.py").read_text())
        holder.stdin.close()
        first = holder.stdout.readline()
        match = re.search(r": (\d+) answered", first)
        assert match, first + holder.stdout.read()
        assert "holding" in holder.stdout.readline()
        during = server_procs(lab, service)
        delays: list[tuple[float, float, str]] = []
        if service != "threaded-web":
            out = lab.script("browser", "delay_every.py", service, str(port), "10")
            pattern = re.compile(r"request \d+: sent at ([\d.]+) s, answer (\S+) after ([\d.]+) s")
            delays = [(float(m[1]), float(m[3]), m[2]) for m in pattern.finditer(out)]
            assert len(delays) == 10, out
        holder.wait(timeout=HOLD_SECONDS + 30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    return Seen(before, during, int(match.group(1)), delays)


@pytest.fixture(scope="module")
def seen(lab: RunningLab) -> dict[str, Seen]:
    """Each server under the crowd, one after the other (about 20 s each)."""
    return {service: visit(lab, service) for service in SERVERS}


def test_coroutine_web_holds_a_thousand_on_one_thread(seen: dict[str, Seen]) -> None:
    co = seen["coroutine-web"]
    assert co.answered == CROWD
    assert [(p.pid, p.threads) for p in co.during] == [(1, 1)]
    grown_kib = co.during[0].rss_kib - co.before[0].rss_kib
    assert grown_kib < 16 * 1024, f"RSS grew {grown_kib} KiB for {CROWD} connections"


def per_connection_kib(seen: dict[str, Seen]) -> dict[str, float]:
    co, th, mp = seen["coroutine-web"], seen["threaded-web"], seen["multiprocess-web"]
    co_rss = Seen.total(co.during)[0] - Seen.total(co.before)[0]
    th_rss_before, th_threads_before = Seen.total(th.before)
    th_rss_during, th_threads_during = Seen.total(th.during)
    added = th_threads_during - th_threads_before
    # Each thread that was added serves one connection (the server was restarted first, so it
    # had to add them).
    th_cost = (th_rss_during - th_rss_before) / max(added, 1)
    workers = [p for p in mp.during if p.ppid == 1]
    return {
        "coroutine-web": max(co_rss, 0) / max(co.answered, 1),
        "threaded-web": th_cost,
        "multiprocess-web": min(p.rss_kib for p in workers),
    }


def test_a_task_costs_less_than_a_thread_and_a_thread_less_than_a_process(
    seen: dict[str, Seen],
) -> None:
    cost = per_connection_kib(seen)
    print(cost, {k: (v.before, v.during, v.answered) for k, v in seen.items()})  # -s shows it
    th, mp = seen["threaded-web"], seen["multiprocess-web"]
    assert Seen.total(th.during)[1] > Seen.total(th.before)[1], "threaded-web added no thread"
    assert len(mp.during) == len(mp.before) == 5  # the parent and its 4 workers, crowd or not
    assert cost["coroutine-web"] < cost["threaded-web"] < cost["multiprocess-web"], cost


def test_under_the_crowd_the_event_loop_answers_every_slow_request(
    seen: dict[str, Seen],
) -> None:
    co, mp = seen["coroutine-web"], seen["multiprocess-web"]
    co_ok = [d for d in co.delays if d[2] == "200"]
    mp_ok = [d for d in mp.delays if d[2] == "200"]
    assert len(co_ok) == 10, co.delays
    # they overlapped: the second was sent before the first was answered
    (sent1, took1, _), (sent2, _, _) = co.delays[0], co.delays[1]
    assert sent2 < sent1 + took1
    assert all(0.9 <= took < 4.0 for _, took, _ in co_ok), co.delays
    assert len(mp_ok) <= len(co_ok), mp.delays
