"""multiprocess-web as a real process tree on 127.0.0.1, port 0: both modes, supervision, stop.

Every server here is started from a generated config file and stopped in ``finally`` (SIGTERM,
then SIGKILL for the whole tree if it hangs). Request loops are bounded in count and in time.
Process facts (children, zombies, descriptors) are read through psutil (tests/support).
"""

from __future__ import annotations

import functools
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.multiprocess import START_TIMEOUT, ServerProcess, server_process
from tests.support.raw_http import (
    HTTP_TIMEOUT,
    RawResponse,
    closed_by_peer,
    get,
    read_responses,
    request,
)
from tests.support.waiting import in_parallel, wait_until

# Seconds: how long the slow requests in these tests take, and the bounds the server must meet.
SLOW = 0.6
REPLACE_WITHIN = 2.0  # a SIGKILLed worker is back within this
TIMEOUT = 1.0  # the worker timeout used where a hung request must be killed
KILL_WITHIN = 4.5  # timeout + supervisor tick + ABORT_GRACE + slack: a hung request is over
CONNECTIONS = 300  # "some hundreds" for the zombie and descriptor test
PARALLEL = 10  # connections in flight at once in that test
LOAD_BUDGET = 60.0  # seconds the whole loop may take before the test gives up


APP_MODULE = '''
"""Test applications for multiprocess-web, loaded by module:callable from the app search path."""
import json
import os
import pathlib
import time
import urllib.parse


def announced(environ, start_response):
    """/delay?s=SECONDS&mark=FILE: creates FILE as it starts (the test then knows the request
    is in the application), sleeps, answers {"delay": SECONDS}."""
    query = urllib.parse.parse_qs(environ["QUERY_STRING"])
    pathlib.Path(query["mark"][0]).touch()
    seconds = float(query["s"][0])
    time.sleep(seconds)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"delay": seconds}).encode()]


def boom(environ, start_response):
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError("the application broke")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]


def stubborn(environ, start_response):
    """Ignores the worker timeout's SIGABRT: only SIGKILL ends it."""
    if environ["PATH_INFO"] == "/hang":
        while True:
            try:
                time.sleep(60)
            except BaseException:
                pass
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
'''


@pytest.fixture
def apps(tmp_path: Path) -> Path:
    """A directory holding testapps.py, to put on the server's app search path."""
    folder = tmp_path / "apps"
    folder.mkdir()
    (folder / "testapps.py").write_text(APP_MODULE)
    return folder


# --- the two modes --------------------------------------------------------------------------------


def test_fork_mode_serves_concurrent_requests_in_distinct_children(tmp_path: Path) -> None:
    with server_process(tmp_path, mode="fork") as srv:
        started = time.monotonic()
        answers = in_parallel([lambda: srv.get(f"/delay/{SLOW}")] * 4)
        elapsed = time.monotonic() - started
        pids = {a.pid for a in answers}
        assert all(a.status == 200 for a in answers)
        assert len(pids) == 4, pids
        assert srv.pid not in pids
        assert all(a.json()["parent_pid"] == srv.pid for a in answers)
        assert elapsed < 4 * SLOW  # in parallel, not one after the other
        # Each child served its connection and is gone (reaped: no zombie left behind).
        srv.wait_no_children(5)


def test_prefork_pids_come_from_the_pool(tmp_path: Path) -> None:
    with server_process(tmp_path, mode="prefork", workers=3) as srv:
        pool = srv.workers(3)
        assert srv.pid not in pool
        concurrent = in_parallel([lambda: srv.get(f"/delay/{SLOW}")] * 3)
        assert {a.pid for a in concurrent} == pool  # three at once: each worker took one
        sequential = [srv.get("/whoami") for _ in range(12)]
        assert {a.pid for a in sequential} <= pool
        assert all(a.json()["mode"] == "prefork" for a in sequential)
        assert srv.workers(3) == pool  # nobody was replaced


def test_keep_alive_stays_with_one_worker(tmp_path: Path) -> None:
    with server_process(tmp_path, mode="prefork", workers=2) as srv:
        raw = b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n" * 3
        answers = request(srv.port, raw, ["GET"] * 3)
        assert len({a.pid for a in answers}) == 1
        assert [a.json()["request_index"] for a in answers] == [1, 2, 3]


def test_cap_on_live_children_makes_connections_wait(tmp_path: Path) -> None:
    with server_process(tmp_path, mode="fork", max_children=1) as srv:
        started = time.monotonic()
        answers = in_parallel([lambda: srv.get(f"/delay/{SLOW}")] * 2)
        elapsed = time.monotonic() - started
        assert [a.status for a in answers] == [200, 200]
        assert elapsed >= 2 * SLOW * 0.95  # served one after the other
        assert "all 1 children busy" in srv.log()


# --- supervision ---------------------------------------------------------------------------------


def test_sigkilled_worker_is_replaced_within_seconds(tmp_path: Path) -> None:
    with server_process(tmp_path, mode="prefork", workers=2) as srv:
        pool = srv.workers(2)
        victim = min(pool)
        killed_at = time.monotonic()
        srv.kill_child(victim, signal.SIGKILL)
        replaced = srv.replacements({victim}, 2, timeout=REPLACE_WITHIN)
        took = time.monotonic() - killed_at
        assert took < REPLACE_WITHIN
        assert len(replaced - pool) == 1
        assert all(a.pid in replaced for a in (srv.get("/whoami") for _ in range(6)))
        assert f"worker {victim} killed by SIGKILL" in srv.log()


@pytest.mark.parametrize("mode", ["prefork", "fork"])
def test_hung_request_is_stopped_after_the_timeout(tmp_path: Path, mode: str) -> None:
    with server_process(tmp_path, mode=mode, workers=1, timeout=TIMEOUT) as srv:
        started = time.monotonic()
        answer = srv.get("/delay/8")
        took = time.monotonic() - started
        assert answer.status == 504
        assert b"did not answer within 1 s" in answer.body
        assert TIMEOUT <= took < KILL_WITHIN
        # The server goes on: a fresh worker answers the next request.
        after = srv.get("/whoami")
        assert after.status == 200
        assert after.pid != answer.pid
        assert "past the 1 s timeout: SIGABRT" in srv.log()


def test_request_that_ignores_sigabrt_is_killed(tmp_path: Path, apps: Path) -> None:
    with server_process(
        tmp_path,
        mode="prefork",
        workers=1,
        timeout=TIMEOUT,
        app="testapps:stubborn",
        app_path=[str(apps)],
    ) as srv:
        pool = srv.workers(1)
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", srv.port), timeout=HTTP_TIMEOUT) as sock:
            sock.sendall(b"GET /hang HTTP/1.1\r\nHost: t\r\n\r\n")
            assert closed_by_peer(sock, KILL_WITHIN + 1)
        assert time.monotonic() - started < KILL_WITHIN + 1
        srv.replacements(pool, 1)  # the stubborn worker is gone and another took its place
        assert "still running 2 s after SIGABRT: SIGKILL" in srv.log()
        assert srv.get("/").status == 200


def test_app_exception_is_a_500_and_the_worker_goes_on(tmp_path: Path, apps: Path) -> None:
    with server_process(
        tmp_path, mode="prefork", workers=1, app="testapps:boom", app_path=[str(apps)]
    ) as srv:
        failed = srv.get("/boom")
        after = srv.get("/fine")
        assert failed.status == 500
        assert b"the application broke" not in failed.body
        assert b"Traceback" not in failed.body
        assert after.status == 200
        assert after.body == str(failed.pid).encode()
        log = srv.log()
        assert "application failed on GET /boom" in log
        assert "RuntimeError: the application broke" in log  # the traceback, for the operator


def test_no_zombies_and_flat_descriptors_after_hundreds_of_connections(tmp_path: Path) -> None:
    with server_process(tmp_path, mode="fork", max_children=PARALLEL) as srv:
        srv.get("/healthz")  # warm up whatever the first request opens
        srv.wait_no_children(5)
        fds_before = srv.fd_count()
        deadline = time.monotonic() + LOAD_BUDGET
        done = 0
        zombies_seen = 0
        while done < CONNECTIONS and time.monotonic() < deadline:
            batch = in_parallel([lambda: srv.get("/healthz")] * PARALLEL)
            assert all(a.status == 200 for a in batch)
            done += len(batch)
            zombies_seen = max(zombies_seen, len(srv.zombies()))
        assert done >= CONNECTIONS, f"only {done} connections within {LOAD_BUDGET} s"
        srv.wait_no_children(5)  # every child exited and was reaped
        # A leak grows with the connections (hundreds here). Fewer than before is no leak: the
        # parent closes its copy of an accepted socket after fork(), and the warm-up's child
        # can answer, exit and be reaped before it has (seen once in a fresh-clone run: 7, then 6).
        assert srv.fd_count() <= fds_before
        # Between connections a child may be a zombie for a moment, until SIGCHLD is handled;
        # never more than the batch that just finished.
        assert zombies_seen <= PARALLEL


def test_prefork_descriptors_stay_flat_across_replacements(tmp_path: Path) -> None:
    with server_process(tmp_path, mode="prefork", workers=2) as srv:
        pool = srv.workers(2)
        fds_before = srv.fd_count()
        for _ in range(5):
            victim = next(iter(pool))
            srv.kill_child(victim, signal.SIGKILL)
            pool = srv.replacements({victim}, 2)
        assert srv.fd_count() == fds_before
        assert not srv.zombies()


# --- stopping -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["prefork", "fork"])
def test_sigterm_drains_an_in_flight_delay_then_exits(
    tmp_path: Path, apps: Path, mode: str
) -> None:
    app: dict[str, Any] = {"app": "testapps:announced", "app_path": [str(apps)]}
    with server_process(tmp_path, mode=mode, workers=2, **app) as srv:
        result: list[RawResponse] = []
        mark = tmp_path / "started"
        client = threading.Thread(
            target=lambda: result.append(srv.get(f"/delay?s=1.5&mark={mark}"))
        )
        client.start()
        in_the_application(mark, srv)
        srv.signal(signal.SIGTERM)
        wait_until(lambda: not listening(srv.port), 5, "still accepting after SIGTERM")
        client.join(HTTP_TIMEOUT)
        assert result, srv.log()
        assert result[0].status == 200, srv.log()
        assert result[0].json()["delay"] == 1.5
        assert result[0].header("Connection") == "close"
        assert srv.wait() == 0
        assert "SIGTERM: stopping" in srv.log()


def test_sigterm_closes_idle_keep_alive_connections_at_once(tmp_path: Path) -> None:
    with (
        server_process(tmp_path, mode="prefork", workers=1) as srv,
        socket.create_connection(("127.0.0.1", srv.port), timeout=HTTP_TIMEOUT) as sock,
    ):
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_responses(sock, ["GET"])[0].status == 200
        started = time.monotonic()
        srv.signal(signal.SIGTERM)
        assert closed_by_peer(sock, 5)
        assert srv.wait() == 0
        assert time.monotonic() - started < 3  # not the 15 s idle timeout


def test_graceful_timeout_bounds_the_stop(tmp_path: Path, apps: Path) -> None:
    app: dict[str, Any] = {"app": "testapps:announced", "app_path": [str(apps)]}
    with server_process(tmp_path, mode="prefork", workers=1, graceful_timeout=0.5, **app) as srv:
        mark = tmp_path / "started"
        with socket.create_connection(("127.0.0.1", srv.port), timeout=HTTP_TIMEOUT) as sock:
            sock.sendall(f"GET /delay?s=5&mark={mark} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            in_the_application(mark, srv)
            started = time.monotonic()
            srv.signal(signal.SIGTERM)
            assert srv.wait() == 0
            assert time.monotonic() - started < 3
            assert closed_by_peer(sock, 2)
        assert "still busy after 0.5 s: SIGKILL" in srv.log()


def in_the_application(mark: Path, srv: ServerProcess) -> None:
    """Wait until the announced request has created ``mark``: it is in the application."""
    wait_until(mark.exists, START_TIMEOUT, lambda: f"the request never started\n{srv.log()}")


def listening(port: int) -> bool:
    """Whether 127.0.0.1:``port`` still accepts connections."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return False
    return True


# --- failed fork ----------------------------------------------------------------------------------

FAIL_FORK = """
import errno, os
_real_fork = os.fork
_calls = [0]
def _failing_fork():
    _calls[0] += 1
    if _calls[0] == {n}:
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
    return _real_fork()
os.fork = _failing_fork
"""


def test_fork_mode_survives_a_failed_fork(tmp_path: Path) -> None:
    with server_process(tmp_path, preamble=FAIL_FORK.format(n=1), mode="fork") as srv:
        refused = srv.get("/whoami")
        assert refused.status == 503
        assert refused.header("Retry-After") == "1"
        assert refused.pid == srv.pid  # the parent answered this one itself
        time.sleep(0.6)  # the parent pauses accepting for FORK_RETRY_PAUSE
        served = srv.get("/whoami")
        assert served.status == 200
        assert srv.proc is not None
        assert srv.proc.poll() is None
        assert "fork() for connection" in srv.log()
        assert "Resource temporarily" in srv.log()


def test_prefork_survives_a_failed_fork(tmp_path: Path) -> None:
    with server_process(tmp_path, preamble=FAIL_FORK.format(n=2), mode="prefork", workers=2) as srv:
        assert len(srv.workers(2, timeout=5)) == 2  # the empty slot was filled later
        assert srv.get("/healthz").status == 200
        assert "fork() for worker failed" in srv.log()


# --- what every answer carries, and where answers come from ------------------------------------


def test_worker_pid_on_every_answer_and_in_the_access_log(tmp_path: Path) -> None:
    with server_process(tmp_path, mode="prefork", workers=2) as srv:
        pool = srv.workers(2)
        static = srv.get("/css/site.css")
        dynamic = srv.get("/about.py")
        missing = srv.get("/nothing/here")
        broken = request(srv.port, b"GET / HTTP/1.1\r\n\r\n")[0]  # no Host: the core's 400
        for answer in (static, dynamic, missing, broken):
            assert answer.pid in pool
        assert static.status == 200
        assert dynamic.status == 200
        assert missing.status == 404
        assert broken.status == 400
        line = f'"GET /css/site.css HTTP/1.1" 200 {len(static.body)}'
        # Access lines are written in batches (logs.FLUSH_INTERVAL): wait for them.
        wait_until(lambda: f"pid={dynamic.pid}" in srv.log(), 5.0, srv.log)
        log = srv.log()
        assert line in log
        assert f"pid={static.pid}" in log
        assert f"pid={dynamic.pid}" in log


def test_dispatch_between_static_files_and_the_application(tmp_path: Path) -> None:
    with server_process(tmp_path, mode="prefork", workers=1) as srv:
        home = srv.get("/")
        assert home.status == 200
        assert b"multiprocess-web" in home.body
        assert srv.get("/index.py").body.count(b"Seed URL") == 1
        static_index = srv.get("/index.html")
        assert b"served by threaded-web" in static_index.body  # the shared static site
        assert srv.get("/js/site.js").header("Content-Type") == "text/javascript; charset=utf-8"
        assert srv.get("/nothing.py").status == 404  # .py is always the application's
        for attack in ("/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/css/../../etc/passwd"):
            answer = srv.get(attack)
            assert answer.status in (400, 404), attack
            assert b"root:" not in answer.body
        health = srv.get("/healthz")
        assert health.status == 200
        assert health.body == b"ok\n"


def test_many_requests_across_the_pool_stay_correct(tmp_path: Path) -> None:
    """Forty requests at once on two workers: each answer is its own request's, and the pool
    shares them. Four of them take SLOW s each, so one worker alone would keep the others
    waiting for seconds: both workers answer."""
    with server_process(tmp_path, mode="prefork", workers=2) as srv:
        pool = srv.workers(2)
        slow = [functools.partial(get, srv.port, f"/delay/{SLOW}")] * 4
        quick = [functools.partial(get, srv.port, f"/get?i={i}") for i in range(40)]
        answers = in_parallel(slow + quick)
        assert all(a.status == 200 for a in answers)
        assert sorted(int(a.json()["args"]["i"]) for a in answers[len(slow) :]) == list(range(40))
        assert {a.pid for a in answers} == pool, "one worker answered everything"


def test_prefork_scoreboard_counts_a_worker_in_a_long_request_as_working(
    tmp_path: Path, apps: Path
) -> None:
    """A worker publishes its counts between requests; one that went from idle into a long
    request is still shown working (the deadline table says it is in one)."""
    app: dict[str, Any] = {"app": "testapps:announced", "app_path": [str(apps)]}
    with server_process(tmp_path, mode="prefork", workers=2, **app) as srv:
        srv.workers(2)
        mark = tmp_path / "started"
        client = threading.Thread(target=lambda: srv.get(f"/delay?s=2&mark={mark}"))
        client.start()
        try:
            in_the_application(mark, srv)
            doc = srv.get("/server-status").json()
            others = [w for w in doc["workers"] if w["pid"] != doc["pid"]]
            assert [w["states"]["working"] for w in others] == [1], doc
            assert doc["states"]["working"] == 2, doc  # that one, and the status request
        finally:
            client.join(HTTP_TIMEOUT)
