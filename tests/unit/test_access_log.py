"""The access log's fast path (logs.ACCESS): the same line as the logging record, and no line
lost when a server stops -- at a normal exit, at SIGTERM, and when a prefork worker exits. The
connection ledger's lines take the same path (one per connection: per request without
keep-alive), so they are held to the same.

The process tests set ``logs.FLUSH_INTERVAL`` to an hour in the server's own process, so the
flusher thread never writes in time: every line in the file got there by the exit path, and a
line that path dropped is missing. Request loops are bounded in count; waits are on state.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from socketlab import ledger, logs
from socketlab.http import connection
from socketlab.http.parser import Headers, Request
from tests.support import processes
from tests.support.multiprocess import server_process
from tests.support.paths import REPO, WWW
from tests.support.waiting import wait_until

REQUESTS = 150  # per test: more than one batch's worth, few enough to stay quick
START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0
HOLD_LINES = "from socketlab import logs\nlogs.FLUSH_INTERVAL = 3600.0\n"
LINE = re.compile(
    r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO socketlab\.access \S+ "GET /healthz\?i=(\d+) '
    r'HTTP/1\.1" 200 3 \d+\.\dms ',
    re.MULTILINE,
)


@pytest.fixture
def stdout_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], io.StringIO]]:
    """logs.setup() on a StringIO stdout, called by the test itself (pytest swaps sys.stdout
    and the root logger's handlers for each phase); the root logger is put back after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)

    def setup() -> io.StringIO:
        stream = io.StringIO()
        monkeypatch.setattr(sys, "stdout", stream)
        logs.setup("info")
        return stream

    try:
        yield setup
    finally:
        logs.ACCESS.flush()
        logs.ACCESS._handler = None
        root.handlers[:], root.level = saved


class _Keep(logging.Handler):
    """Keeps the records it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class _Peer:
    """The little of a connection an exchange and its access line read."""

    peer = "127.0.0.1:5555"
    client = ("127.0.0.1", 5555)
    server = ("127.0.0.1", 8080)


def _exchange(target: str, status: int | None, note: str = "") -> connection.Exchange:
    request = Request("GET", target, (1, 1), Headers())
    exchange = connection.Exchange(_Peer(), request, 1)  # type: ignore[arg-type]
    exchange.status = status
    exchange.body_bytes = 1024
    exchange.note = note
    return exchange


def test_the_fast_line_is_the_line_logging_writes(
    stdout_logging: Callable[[], io.StringIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    now = 1764633600.25  # fixed, so both lines carry the same time
    monkeypatch.setattr(time, "time", lambda: now)  # the clock logs.py reads
    out = stdout_logging()
    assert logs.ACCESS.target() is logs.ACCESS
    cases = [("/a?b=c", 200, ""), ("/\x1b[2J\r\nforged", None, "error=boom")]
    for target, status, note in cases:
        connection.log_access(_exchange(target, status, note), "pid=1 thread=worker-1")
    logs.ACCESS.flush()
    fast = out.getvalue().splitlines()

    slow = []
    formatter = logging.Formatter(logs.LOG_FORMAT)
    fast_handler = logs.ACCESS._handler
    for target, status, note in cases:
        handler = _Keep()
        logs.ACCESS._handler = None  # the logging path, as caplog sees it
        connection.access_log.addHandler(handler)
        try:
            connection.log_access(_exchange(target, status, note), "pid=1 thread=worker-1")
        finally:
            connection.access_log.removeHandler(handler)
            logs.ACCESS._handler = fast_handler
        record = handler.records[0]
        record.created, record.msecs = now, 250.0
        slow.append(formatter.format(record))
    # The duration differs by the microseconds between the calls: compare around it.
    duration = re.compile(r" \d+\.\dms ")
    assert [duration.sub(" Dms ", line) for line in fast] == [
        duration.sub(" Dms ", line) for line in slow
    ]
    assert "\\x1b[2J\\x0d\\x0aforged" in fast[1]  # escaped, as ever


@pytest.mark.parametrize(
    "target",
    [
        "/a/b.css?v=1",
        "/" + "x" * 199,  # 200 characters: kept whole
        "/" + "x" * 200,  # 201: cut, and marked
        "/back\\slash",
        "/tab\there",
        "/del\x7f",
        "/caf\xe9",  # a latin-1 byte of the request line, not ASCII
        "/" + "\x01" * 300,
    ],
)
def test_a_target_in_the_line_is_escaped_as_printable_escapes_it(
    stdout_logging: Callable[[], io.StringIO], target: str
) -> None:
    # log_access keeps a clean target as it is, without printable(): the text must not change.
    out = stdout_logging()
    connection.log_access(_exchange(target, 200), "pid=1 thread=worker-1")
    logs.ACCESS.flush()
    expected = logs.printable(target.encode("latin-1"))
    assert f'"GET {expected} HTTP/1.1" 200 ' in out.getvalue()


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.0995, 0.25, 0.5004, 0.999, 0.9999999])
def test_the_fast_lines_time_is_the_time_logging_writes(
    stdout_logging: Callable[[], io.StringIO], monkeypatch: pytest.MonkeyPatch, fraction: float
) -> None:
    # The milliseconds come from a table, not a format: each must read as logging's asctime.
    now = 1764633600 + fraction
    monkeypatch.setattr(time, "time", lambda: now)  # read by logs.py and by LogRecord alike
    out = stdout_logging()
    logs.ACCESS.write("hello")
    logs.ACCESS.flush()
    record = logging.LogRecord(connection.access_log.name, logging.INFO, "", 0, "hello", (), None)
    assert out.getvalue() == logging.Formatter(logs.LOG_FORMAT).format(record) + "\n"


@pytest.mark.parametrize("version", [(1, 0), (1, 1), (1, 9), (0, 9)])
def test_a_requests_version_reads_as_its_request_line_wrote_it(version: tuple[int, int]) -> None:
    request = Request("GET", "/", version, Headers())
    assert request.http_version == f"HTTP/{version[0]}.{version[1]}"


@pytest.mark.parametrize(
    "text",
    ["/a/b.css?v=1", "x" * 200, "x" * 201, "back\\slash", "tab\there", "del\x7f", " ~[]{}", ""],
)
def test_printable_gives_ascii_text_what_it_gives_its_bytes(text: str) -> None:
    # The str fast path (clean ASCII returned as it is) must not change a single character.
    assert logs.printable(text) == logs.printable(text.encode("ascii"))
    assert logs.printable(text, limit=5) == logs.printable(text.encode("ascii"), limit=5)


def test_other_records_come_after_the_access_lines_logged_before_them(
    stdout_logging: Callable[[], io.StringIO],
) -> None:
    out = stdout_logging()
    connection.log_access(_exchange("/first", 200), "w")
    logging.getLogger("socketlab.test").warning("then this")
    connection.log_access(_exchange("/last", 200), "w")
    logs.ACCESS.flush()
    text = out.getvalue()
    assert text.index("/first") < text.index("then this") < text.index("/last")


def test_a_ledger_line_on_the_fast_path_is_the_line_logging_writes(
    stdout_logging: Callable[[], io.StringIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    now = 1764633600.9996  # fixed (and near a second's end: the stamp's rounding carries)
    monkeypatch.setattr(time, "time", lambda: now)
    out = stdout_logging()
    ledger.configure("multiprocess-web")
    assert logs.ACCESS.target(ledger.LOGGER) is logs.ACCESS
    local, remote = ("127.0.0.1", 8888), ("127.0.0.1", 40000)
    ledger.Tally(local, remote, requests=1, started_wall=now).close()
    logs.ACCESS.flush()
    (fast,) = out.getvalue().splitlines()

    handler = _Keep()
    ledger.LOGGER.addHandler(handler)  # a handler of its own: the logging path
    try:
        assert logs.ACCESS.target(ledger.LOGGER) is None
        ledger.Tally(local, remote, requests=1, started_wall=now).close()
    finally:
        ledger.LOGGER.removeHandler(handler)
    record = handler.records[0]
    record.created, record.msecs = now, 999.0
    slow = logging.Formatter(logs.LOG_FORMAT).format(record)
    duration = re.compile(r'"duration_ms": [\d.]+')
    assert duration.sub("D", fast) == duration.sub("D", slow)
    assert json.loads(fast.split(" ledger ", 1)[1])["start"] == "2025-12-02T00:00:00.999Z"


def test_caplog_sees_access_records_as_before(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger=logs.ACCESS_LOGGER):
        connection.log_access(_exchange("/seen", 200), "w")
    assert [r.getMessage().split('"')[1] for r in caplog.records] == ["GET /seen HTTP/1.1"]


def test_no_line_is_lost_at_a_normal_exit(tmp_path: Path) -> None:
    script = (
        HOLD_LINES + "import time\nfrom socketlab.http import connection\nlogs.setup('info')\n"
        "for i in range(%d):\n"
        "    logs.ACCESS.write(f'127.0.0.1:1 \"GET /healthz?i={i} HTTP/1.1\" 200 3 0.1ms w')\n"
    ) % REQUESTS
    out = tmp_path / "out.log"
    with out.open("wb") as sink:
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO,
            env=processes.service_env(),
            stdout=sink,
            check=True,
            timeout=STOP_TIMEOUT,
        )
    assert _numbers(out.read_text()) == list(range(REQUESTS))


def _numbers(text: str) -> list[int]:
    return sorted(int(i) for i in LINE.findall(text))


def _get_many(port: int, count: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for i in range(count):
            conn.request("GET", f"/healthz?i={i}")
            answer = conn.getresponse()
            answer.read()
            assert answer.status == 200
    finally:
        conn.close()


def _listening_server(command: list[str], out: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``command`` with its output in ``out``; its process and port once it listens."""
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            command, cwd=REPO, env=processes.service_env(), stdout=sink, stderr=subprocess.STDOUT
        )
    listening = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
    try:
        match = wait_until(
            lambda: listening.search(out.read_text()) or proc.poll() is not None,
            START_TIMEOUT,
            lambda: f"no listening line:\n{out.read_text()}",
        )
        assert isinstance(match, re.Match), out.read_text()
    except BaseException:
        processes.stop_process(proc)  # type: ignore[arg-type]
        raise
    return proc, int(match.group(1))


@pytest.mark.parametrize(
    ("module", "extra"),
    [("threaded_web", []), ("coroutine_web.__main__", ["--app", ""])],
)
def test_no_line_is_lost_at_sigterm(tmp_path: Path, module: str, extra: list[str]) -> None:
    args = ["--host", "127.0.0.1", "--port", "0", "--root", str(WWW), "--log-level", "info"]
    script = (
        f"{HOLD_LINES}import sys\nfrom socketlab.{module} import main\n"
        f"sys.exit(main({[*args, *extra]!r}))\n"
    )
    out = tmp_path / "server.log"
    proc, port = _listening_server([sys.executable, "-c", script], out)
    try:
        _get_many(port, REQUESTS)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(STOP_TIMEOUT) == 0
    finally:
        processes.stop_process(proc)  # type: ignore[arg-type]
    assert _numbers(out.read_text()) == list(range(REQUESTS))


def test_a_prefork_workers_lines_are_written_when_it_exits(tmp_path: Path) -> None:
    with server_process(tmp_path, preamble=HOLD_LINES, mode="prefork", workers=2) as srv:
        srv.workers(2)
        _get_many(srv.port, REQUESTS)
        srv.signal(signal.SIGTERM)
        assert srv.wait() == 0
        log = srv.log()
    assert _numbers(log) == list(range(REQUESTS))


def test_a_prefork_workers_ledger_lines_are_written_when_it_exits(tmp_path: Path) -> None:
    connections = 60  # a connection each, as ab makes them: a ledger line each
    with server_process(tmp_path, preamble=HOLD_LINES, mode="prefork", workers=2) as srv:
        srv.workers(2)
        ports = set()
        for i in range(connections):
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            try:
                conn.request("GET", f"/healthz?i={i}", headers={"Connection": "close"})
                ports.add(conn.sock.getsockname()[1])
                answer = conn.getresponse()
                answer.read()
                assert answer.status == 200
            finally:
                conn.close()
        srv.signal(signal.SIGTERM)
        assert srv.wait() == 0
        log = srv.log()
    lines = [
        json.loads(line.split(" ledger ", 1)[1]) for line in log.splitlines() if " ledger " in line
    ]
    served = {int(line["remote"].rsplit(":", 1)[1]) for line in lines if line["requests"] == 1}
    assert served == ports


def test_coroutine_web_flushes_on_its_loop_and_stays_one_thread(tmp_path: Path) -> None:
    """coroutine-web is one thread by design: its access lines are written by the event loop's
    timer, not by a flusher thread, and they arrive while it runs (not only at exit)."""
    out = tmp_path / "server.log"
    args = ["--host", "127.0.0.1", "--port", "0", "--root", str(WWW), "--log-level", "info"]
    proc, port = _listening_server(
        [*processes.service_command("coroutine_web", *args), "--app", ""], out
    )
    try:
        _get_many(port, REQUESTS)
        wait_until(
            lambda: _numbers(out.read_text()) == list(range(REQUESTS)),
            START_TIMEOUT,
            lambda: f"lines missing while it runs:\n{out.read_text()[-2000:]}",
        )
        assert psutil.Process(proc.pid).num_threads() == 1
    finally:
        processes.stop_process(proc)  # type: ignore[arg-type]
