"""Exercise 8 (docs/labs/08-what-a-browser-does.md): one page, many requests, few connections."""

from __future__ import annotations

import re

import pytest

from tests.support.running_lab import LAB_PREFIX, RunningLab

pytestmark = pytest.mark.labs

ROW = re.compile(
    r"\s*(?P<n>\d+)\s+GET\s+(?P<status>\d{3})\s+(?P<type>\S+)\s+\d+ B\s+[\d.]+ ms\s+"
    r"(?P<remote>\S+)\s+(?P<local>\d+)\s+#(?P<conn>\d+)(?P<reused>\*?)\s+(?P<url>\S+)"
)
SUMMARY = re.compile(r"summary: (\d+) requests .*\| (\d+) connections opened")


@pytest.fixture(scope="module")
def report(lab: RunningLab) -> tuple[str, float]:
    """The browser's report of one visit, and when it started (for the server's log)."""
    started = lab.exec("browser", "date", "+%s").stdout.strip()
    out = lab.exec(
        "browser",
        "python3",
        "-m",
        "socketlab.browser",
        "--repeat",
        "1",
        "http://threaded-web:8080/",
    ).stdout
    return out, float(started)


def test_browser_loads_the_page_and_its_resources_over_fewer_connections(
    report: tuple[str, float],
) -> None:
    out, _ = report
    rows = [m.groupdict() for line in out.splitlines() if (m := ROW.fullmatch(line))]
    assert rows, out
    assert rows[0]["type"] == "document", out
    assert {row["type"] for row in rows} == {"document", "stylesheet", "script", "image", "icon"}
    assert {row["status"] for row in rows} == {"200"}
    assert {row["remote"] for row in rows} == {f"{LAB_PREFIX}.10:8080"}
    assert any(row["url"] == "/favicon.ico" for row in rows)
    summary = SUMMARY.search(out)
    assert summary, out
    requests, connections = int(summary.group(1)), int(summary.group(2))
    assert requests == len(rows) == 5
    assert connections < requests
    assert any(row["reused"] == "*" for row in rows)
    assert connections <= 6


def test_server_log_shows_the_browsers_connections(
    lab: RunningLab, report: tuple[str, float]
) -> None:
    """Every request of the browser's report is a line in threaded-web's access log, with the
    browser's address and the very client port its report shows for that request."""
    out, started = report
    rows = [m.groupdict() for line in out.splitlines() if (m := ROW.fullmatch(line))]
    assert len(rows) == 5, f"not the page's five requests in the report:\n{out}"
    log = lab.logs("threaded-web", since=str(int(started) - 1))
    for row in rows:
        wanted = f'{LAB_PREFIX}.40:{row["local"]} "GET {row["url"]} HTTP/1.1" 200'
        assert wanted in log, f"no {wanted!r} in threaded-web's log"
