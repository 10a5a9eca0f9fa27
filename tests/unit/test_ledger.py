"""The connection ledger: the lines each side writes, and scripts/ledger_table.py joining them.

End to end without Docker: the real browser (its CLI, with a HAR) loads the lab site from the
real threaded-web server, once directly and once through the impair relay, all on 127.0.0.1 in
this process; the table must pair every browser connection with the server's line, through the
relay where there was one, and say where an address changed."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scripts import ledger_table

from socketlab import ledger, logs
from socketlab.browser.cli import main as browser_main
from socketlab.impair.relay import ProxySpec, TcpProxy
from socketlab.listener import open_listener
from socketlab.static import StaticFiles
from socketlab.threaded_web.server import LabSite, ThreadedServer

REPO = Path(__file__).resolve().parents[2]
FAST = ["--connect-timeout", "2", "--read-timeout", "3", "--total-timeout", "10"]


def lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "ledger"]


def test_udp_sessions_end_after_silence_and_at_close() -> None:
    now = [100.0]
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    ledger.configure("udp-chat")
    ledger.LOGGER.addHandler(handler)
    try:
        sessions = ledger.UdpSessions(("10.30.80.30", 9999), idle=60, clock=lambda: now[0])
        sessions.received(("10.30.80.200", 4000), 20)
        sessions.sent(("10.30.80.200", 4000), 30)
        sessions.sent(("10.30.80.200", 4000), 31)
        sessions.received(("10.30.80.201", 4001), 5)
        now[0] = 150.0
        sessions.received(("10.30.80.201", 4001), 5)
        now[0] = 161.0
        sessions.expire()  # the first peer was silent for 61 s: its session ends
        assert len(records) == 1
        sessions.close()  # the second one ends with the socket
    finally:
        ledger.LOGGER.removeHandler(handler)
    first, second = (json.loads(r.getMessage()) for r in records)
    assert first["remote"] == "10.30.80.200:4000"
    assert first["local"] == "10.30.80.30:9999"
    assert (first["datagrams_in"], first["datagrams_out"]) == (1, 2)
    assert (first["bytes_in"], first["bytes_out"]) == (20, 61)
    assert first["ended"] == "idle"
    assert second["datagrams_in"] == 2
    assert second["duration_ms"] == 50_000.0
    assert second["ended"] == "closed"


def test_the_ledger_can_be_turned_off(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ledger"):
        ledger.configure("x", enabled=False)
        ledger.Tally(("127.0.0.1", 1), ("127.0.0.1", 2)).close()
        ledger.configure("x", enabled=True)
        ledger.Tally(("127.0.0.1", 1), ("127.0.0.1", 3)).close()
    assert [line["remote"] for line in lines(caplog)] == ["127.0.0.1:3"]


@pytest.mark.parametrize(
    "now", [1764633600.9996, 1764633601.0, 1764633601.0005, 1764633601.4567891, 1764633659.999]
)
def test_a_line_on_stderr_is_the_line_logging_wrote(
    now: float, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The browser's --json writes its ledger to stderr without logging (configure(to_stderr)):
    # the text must be what logging's StreamHandler with LOG_FORMAT wrote there, time and all.
    monkeypatch.setattr(time, "time", lambda: now)
    monkeypatch.setattr(time, "time_ns", lambda: round(now * 1e9))  # LogRecord's on 3.13
    monkeypatch.setattr(time, "monotonic", lambda: 50.0)
    ledger.configure("browser", to_stderr=True)
    ledger.Tally(("127.0.0.1", 1), ("127.0.0.1", 2), role="client", thread="loop").close()
    ledger.Tally(("127.0.0.1", 3), ("127.0.0.1", 2), role="client", thread="loop").close()
    written = capsys.readouterr()
    assert written.out == ""

    expected = io.StringIO()
    handler = logging.StreamHandler(expected)
    handler.setFormatter(logging.Formatter(logs.LOG_FORMAT))
    for local in ("127.0.0.1:1", "127.0.0.1:3"):
        fields: dict[str, object] = {"ledger": "tcp", "service": "browser", "role": "client"}
        fields |= {"pid": os.getpid(), "thread": "loop", "local": local, "remote": "127.0.0.1:2"}
        fields |= {"requests": 0, "bytes_in": 0, "bytes_out": 0}
        fields |= {"start": ledger.stamp(now), "duration_ms": 0.0}
        record = logging.LogRecord(
            "ledger", logging.INFO, __file__, 1, "%s", (json.dumps(fields),), None
        )
        handler.emit(record)
    assert written.err == expected.getvalue()


def test_the_ledger_on_stderr_can_be_turned_off(capsys: pytest.CaptureFixture[str]) -> None:
    ledger.configure("browser", enabled=False, to_stderr=True)  # --json --no-ledger
    assert not ledger.enabled()
    ledger.Tally(("127.0.0.1", 1), ("127.0.0.1", 2)).close()
    assert capsys.readouterr() == ("", "")


@pytest.fixture
def web() -> Iterator[ThreadedServer]:
    server = ThreadedServer(
        open_listener("127.0.0.1", 0), LabSite(StaticFiles(REPO / "services" / "www"))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.stop()
    thread.join(10)


def test_an_http_connection_counts_its_requests_and_bytes(
    web: ThreadedServer, caplog: pytest.LogCaptureFixture
) -> None:
    ledger.configure("threaded-web")
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with caplog.at_level(logging.INFO, logger="ledger"):
        with socket.create_connection(web.address, timeout=5) as sock:
            sock.sendall(request * 2 + last)
            got = b""
            while piece := sock.recv(65536):
                got += piece
            mine = sock.getsockname()
        web.stop()  # joins nothing here, but the worker has closed the connection by now
        for _ in range(100):
            if lines(caplog):
                break
            threading.Event().wait(0.02)
    (line,) = lines(caplog)
    assert line["service"] == "threaded-web"
    assert line["role"] == "server"
    assert line["remote"] == ledger.show(mine)
    assert line["requests"] == 3
    assert line["bytes_in"] == len(request) * 2 + len(last)
    assert line["bytes_out"] == len(got)
    assert line["thread"].startswith("worker-")


def test_the_table_joins_browser_relay_and_server(
    web: ThreadedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    relay = TcpProxy(ProxySpec("slow-web", "tcp", ("127.0.0.1", 0), web.address))
    relay.start()
    har = tmp_path / "page.har"
    direct = "http://{}:{}/".format(*web.address)
    relayed = "http://{}:{}/".format(*relay.address)
    out = ""
    try:
        # The browser's main() sets up logging to stdout, as in its container: read it there.
        assert browser_main([*FAST, "--har", str(har), direct, relayed]) == 0
        for _ in range(250):  # the servers' lines follow the browser's closes within moments
            out += capsys.readouterr().out
            records = list(ledger_table.read_lines(out.splitlines()))
            roles = [r["role"] for r in records]
            if roles.count("server") == roles.count("client") and roles.count("relay") >= 1:
                threading.Event().wait(0.2)
                out += capsys.readouterr().out
                break
            threading.Event().wait(0.02)
    finally:
        relay.stop()
    records = list(ledger_table.read_lines(out.splitlines()))
    rows = ledger_table.join(records, json.loads(har.read_text()))
    browser_ports = {r["local"] for r in records if r["role"] == "client"}
    assert len(rows) == len(browser_ports)  # one row per browser connection, nothing left over
    via_relay = [r for r in rows if r.via]
    plain = [r for r in rows if not r.via]
    assert via_relay
    assert plain
    for row in plain:
        assert row.note == "same addresses on both sides"
        assert row.har  # the HAR entries found their connection by the local port
    for row in via_relay:
        assert row.note.startswith("address changed")
        assert len(row.services) == 3
        assert row.requests is not None
        assert row.requests >= 1
    har_urls = sorted(u for r in rows for u in r.har)
    entries = json.loads(har.read_text())["log"]["entries"]
    assert har_urls == sorted(e["request"]["url"] for e in entries)


def test_a_published_port_shows_as_an_address_change(capsys: pytest.CaptureFixture[str]) -> None:
    log = (
        'socketlab-threaded-web-1  | 2026-12-01 21:40:02,118 INFO ledger {"ledger": "tcp", '
        '"service": "threaded-web", "role": "server", "pid": 1, "thread": "worker-1", '
        '"local": "10.30.80.10:8080", "remote": "10.30.80.1:50412", "requests": 1, '
        '"bytes_in": 78, "bytes_out": 2278, "start": "2026-12-01T21:40:02.100Z", '
        '"duration_ms": 3.1}\n'
        "socketlab-threaded-web-1  | an ordinary log line\n"
    )
    records = list(ledger_table.read_lines(log.splitlines()))
    (row,) = ledger_table.join(records)
    assert row.via == ["docker-proxy (published port)"]
    assert "the gateway 10.30.80.1:50412" in row.note
    ledger_table.render([row], __import__("sys").stdout)
    assert "1 conversations, 1 where an address changed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wall",
    [0.0, 1.9995, 1764711601.0, 1764711601.874, 1764711601.9999996, 2475379792.1679993]
    + [1_700_000_000 + i * 0.3333337 for i in range(200)],
)
def test_stamp_is_what_datetime_writes(wall: float) -> None:
    # ledger.stamp formats with time.gmtime (datetime costs the browser's start-up a
    # millisecond); its text must stay the one datetime gave, rounding included.
    from datetime import UTC, datetime

    expected = datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert ledger.stamp(wall) == expected
