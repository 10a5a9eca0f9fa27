"""The benchmark's own logic: reading wrk, ab, /proc and nginx output, medians, targets, the
report. Saved outputs only: no load, no server, no timing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import machine, parsing, procstat, report, servers

WRK = """\
Running 4s test @ http://127.0.0.1:18080/1k.bin
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.04ms    8.05ms 125.89ms   94.48%
    Req/Sec     7.95k     3.62k   18.54k    73.75%
  Latency Distribution
     50%  950.00us
     75%    4.41ms
     90%    7.91ms
     99%    1.20s
  63998 requests in 4.06s, 75.56MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 12
Requests/sec:  15756.54
Transfer/sec:     18.60MB
"""

AB = """\
This is ApacheBench, Version 2.3 <$Revision$>

Server Software:        socketlab
Document Path:          /1k.bin
Concurrency Level:      5
Time taken for tests:   0.083 seconds
Complete requests:      300
Failed requests:        4
   (Connect: 0, Receive: 1, Length: 3, Exceptions: 0)
Non-2xx responses:      2
Total transferred:      376800 bytes
Requests per second:    3628.23 [#/sec] (mean)

Percentage of the requests served within a certain time (ms)
  50%      1
  66%      1
  99%      3
 100%      4 (longest request)
"""

AB_CSV = "Percentage served,Time in ms\n0,0.484\n1,0.501\n50,1.250\n99,3.125\n100,4.000\n"


def test_wrk_output() -> None:
    r = parsing.parse_wrk(WRK)
    assert r.requests == 63998
    assert r.seconds == pytest.approx(4.06)
    assert r.requests_per_second == pytest.approx(15756.54)
    assert r.bytes_per_second == pytest.approx(75.56 * 2**20 / 4.06)
    assert r.p50_ms == pytest.approx(0.95)
    assert r.p99_ms == pytest.approx(1200.0)
    assert r.error_detail == {"read": 3, "timeout": 2, "non-2xx/3xx": 12}
    assert r.errors == 17


def test_wrk_output_without_errors_or_with_a_failure() -> None:
    clean = WRK.replace("  Socket errors: connect 0, read 3, write 0, timeout 2\n", "").replace(
        "  Non-2xx or 3xx responses: 12\n", ""
    )
    assert parsing.parse_wrk(clean).errors == 0
    with pytest.raises(parsing.ParseError):
        parsing.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


@pytest.mark.parametrize(
    ("text", "ms"), [("950.00us", 0.95), ("2.07ms", 2.07), ("1.20s", 1200.0), ("1.00m", 60000.0)]
)
def test_durations(text: str, ms: float) -> None:
    assert parsing.duration_ms(text) == pytest.approx(ms)


def test_sizes_are_binary() -> None:
    assert parsing.size_bytes("1.50KB") == 1536
    assert parsing.size_bytes("2.00GB") == 2 * 2**30
    with pytest.raises(parsing.ParseError):
        parsing.size_bytes("12 apples")


def test_ab_output_with_csv_percentiles() -> None:
    r = parsing.parse_ab(AB, AB_CSV)
    assert r.requests == 300
    assert r.requests_per_second == pytest.approx(3628.23)
    assert r.bytes_per_second == pytest.approx(376800 / 0.083)
    assert (r.p50_ms, r.p99_ms) == (1.25, 3.125)
    assert r.error_detail == {"failed": 4, "failed/receive": 1, "failed/length": 3, "non-2xx": 2}
    assert r.errors == 6  # the breakdown of "failed" is not counted twice


def test_ab_output_alone_uses_its_whole_millisecond_table() -> None:
    r = parsing.parse_ab(AB.replace("Failed requests:        4", "Failed requests:        0"))
    assert (r.p50_ms, r.p99_ms) == (1.0, 3.0)
    with pytest.raises(parsing.ParseError):
        parsing.parse_ab("apr_socket_recv: Connection refused (111)\n")


def test_percentiles_and_medians() -> None:
    values = [float(v) for v in range(1, 101)]
    assert parsing.percentile(values, 99) == 99.0
    assert parsing.percentile(values, 50) == 50.0
    assert parsing.percentile([5.0], 99) == 5.0
    assert parsing.percentile([], 99) is None
    assert parsing.median([3.0, 1.0, 2.0]) == 2.0
    assert parsing.median([4.0, 1.0, 3.0, 2.0]) == 2.0  # a measured value, not an average
    assert parsing.median([]) is None


def test_nginx_window() -> None:
    log = "1700000000.120 0.020 200 /a\n1700000000.150 0.001 200 /b\nnot a line\n"
    window, count = parsing.nginx_window_ms(log) or (0.0, 0)
    assert window == pytest.approx(50.0, abs=0.01)
    assert count == 2
    assert parsing.nginx_window_ms("") is None


SPIN = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass\n"
"""A child that burns ``seconds`` of CPU time."""


def test_cpu_seconds_counts_reaped_children() -> None:
    """A child that ran and was reaped moves its time into the parent's children_* times."""
    me = os.getpid()
    before = procstat.cpu_seconds(me)
    subprocess.run([sys.executable, "-c", SPIN.format(seconds=0.3)], check=True)
    assert procstat.cpu_seconds(me) - before >= 0.25


def test_cpu_seconds_counts_live_descendants() -> None:
    me = os.getpid()
    code = SPIN.format(seconds=0.3) + "import sys\nprint('spun', flush=True)\nsys.stdin.read()\n"
    with subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdin is not None
        assert child.stdout is not None
        try:
            assert child.stdout.readline() == "spun\n"
            alone = procstat.cpu_seconds(child.pid)
            assert alone >= 0.25  # the live child's own time
            assert procstat.cpu_seconds(me) >= alone  # counted in its parent's tree as it runs
        finally:
            child.stdin.close()
            child.wait(timeout=10)
    assert procstat.cpu_seconds(child.pid) == 0.0  # gone


@pytest.mark.parametrize(
    ("banner", "version"),
    [
        ("wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer", "4.1.0-3+b2"),
        ("This is ApacheBench, Version 2.3 <$Revision$>", "2.3"),
        ("nginx version: nginx/1.22.1", "1.22.1"),
        ("GNU Wget 1.21.3 built on linux-gnu.", "1.21.3"),
        ("not installed", "not installed"),
    ],
)
def test_tool_versions(banner: str, version: str) -> None:
    assert machine.version_in(banner) == version


def test_cpu_times_count_idle_and_iowait_as_idle() -> None:
    stat = "cpu  100 5 50 800 40 3 2 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"
    assert machine.cpu_times(stat) == (160, 1000)


def test_cpu_model() -> None:
    text = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: AMD\n"
    assert machine.cpu_model(text) == "AMD EPYC 7B13"


def run(rps: float, cpu: float, p99: float = 1.0, errors: int = 0) -> dict[str, Any]:
    return {
        "requests_per_second": rps,
        "bytes_per_second": rps * 1024,
        "p50_ms": 0.5,
        "p99_ms": p99,
        "cpu_us_per_request": cpu,
        "server_cores": 1.0,
        "errors": errors,
        "requests": int(rps),
    }


def workload(
    ours: str,
    peer: str,
    a: list[dict[str, Any]],
    b: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "results": [
            {"server": ours, "summary": report.summarize(a), "runs": a},
            {"server": peer, "summary": report.summarize(b), "runs": b},
        ]
    }


def test_summaries_take_each_metrics_median_and_sum_errors() -> None:
    s = report.summarize([run(100, 9), run(300, 1, errors=2), run(200, 5)])
    assert s["requests_per_second"] == 200
    assert s["cpu_us_per_request"] == 5
    assert (s["rps_min"], s["rps_max"], s["errors"], s["runs"]) == (100, 300, 2, 3)


def test_targets_are_judged_as_ratios_to_the_peer() -> None:
    tw, std = "threaded-web", "stdlib ThreadingHTTPServer"
    mp, gs = "multiprocess-web prefork", "gunicorn sync"
    workloads = {
        "static-1k-keepalive": workload(tw, std, [run(30000, 30)], [run(9000, 100)]),
        "static-1k-close": workload(tw, std, [run(1000, 30)], [run(600, 100)]),
        "wsgi-keepalive": workload(mp, gs, [run(8000, 50, p99=9.0)], [run(7000, 90, p99=8.0)]),
        "udp-chat": workload("udp-chat", "minimal echo loop", [run(90, 1)], [run(100, 1)]),
    }
    judged = {t["workload"]: t for t in report.judge(workloads) if t["met"] is not None}
    rows = [t for t in report.judge(workloads) if t["workload"] == "static-1k-keepalive"]
    # 3.33x the rate, 0.30 of the CPU; nginx with one worker did not run
    assert [t["met"] for t in rows] == [True, True, None]
    assert rows[0]["ratio"] == pytest.approx(30000 / 9000)
    assert judged["static-1k-close"]["met"] is False  # 1.67x < 2x
    assert judged["wsgi-keepalive"]["met"] is False  # faster, but 1.14x < 1.3x
    assert judged["udp-chat"]["met"] is True
    not_run = [t for t in report.judge(workloads) if t["workload"] == "static-100k"]
    assert not_run[0]["note"] == "not run"


def test_every_pair_targets_fail_on_one_bad_pair_the_median_hides() -> None:
    tw, std = "threaded-web", "stdlib ThreadingHTTPServer"
    ours = [run(30000, 25), run(31000, 26), run(20000, 40)]  # the last pair: 2.2x, 0.40
    peer = [run(9000, 100), run(9000, 100), run(9000, 100)]
    judged = report.judge({"static-1k-keepalive": workload(tw, std, ours, peer)})
    rows = [t for t in judged if t["workload"] == "static-1k-keepalive" and t["met"] is not None]
    assert rows[0]["ratio"] == pytest.approx(30000 / 9000)  # the medians alone would pass
    assert [t["met"] for t in rows] == [False, False]
    assert rows[0]["note"] == "2 of 3 pairs hold"


def test_the_access_log_target_is_logged_cpu_against_the_same_server_log_off() -> None:
    on = "threaded-web" + servers.ACCESS_LOG_ON
    cheap = workload(on, "threaded-web", [run(9000, 60)], [run(10000, 50)])  # 1.20x
    dear = workload(on, "threaded-web", [run(6000, 87)], [run(10000, 51)])  # 1.71x
    for wl, met in ((cheap, True), (dear, False)):
        rows = [
            t
            for t in report.judge({"access-log-static": wl})
            if t["target"].startswith("threaded-web: the access log")
        ]
        assert [t["met"] for t in rows] == [met]


def test_each_repeat_gets_its_own_ratio() -> None:
    tw, std = "threaded-web", "stdlib ThreadingHTTPServer"
    wl = workload(tw, std, [run(300, 1), run(100, 1)], [run(100, 1), run(100, 1)])
    wl["results"][0]["runs"] = [run(300, 1), run(100, 1)]
    wl["results"][1]["runs"] = [run(100, 1), run(100, 1)]
    (row, _, _) = [
        t
        for t in report.judge({"static-1k-keepalive": wl})
        if t["workload"] == "static-1k-keepalive"
    ]
    assert row["paired"] == [3.0, 1.0]
    assert "| 3.00, 1.00 |" in "\n".join(report._target_table([row]))


def test_markdown_keeps_the_hand_written_text_around_the_markers(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    report.write_markdown(path, f"{report.BEGIN}\nfirst\n{report.END}")
    text = path.read_text()
    assert "## Analysis" in text
    path.write_text(text.replace("## Analysis", "## Analysis\n\nMine, by hand."))
    report.write_markdown(path, f"{report.BEGIN}\nsecond\n{report.END}")
    text = path.read_text()
    assert "second" in text
    assert "first" not in text
    assert "Mine, by hand." in text


def test_a_failed_run_counts_as_an_error_and_is_left_out_of_the_medians() -> None:
    failed = {"failed": "could not read the tool's output: ...", "errors": 1, "requests": 0}
    s = report.summarize([run(100, 9), failed, run(300, 5)])
    assert s["errors"] == 1
    assert s["requests_per_second"] == 100  # the lower middle of the two real runs
    assert (s["rps_min"], s["rps_max"], s["runs"]) == (100, 300, 3)


def _conntrack_files(tmp_path: Path, count: int, limit: int) -> str:
    (tmp_path / "nf_conntrack_count").write_text(f"{count}\n")
    (tmp_path / "nf_conntrack_max").write_text(f"{limit}\n")
    return str(tmp_path) + "/nf_conntrack_"


def test_conntrack_reads_the_table_or_says_there_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(machine, "CONNTRACK", _conntrack_files(tmp_path, 23_242, 262_144))
    assert machine.conntrack() == (23_242, 262_144)
    monkeypatch.setattr(machine, "CONNTRACK", str(tmp_path / "absent_"))
    assert machine.conntrack() is None
    assert machine.wait_for_conntrack_room(10**9, max_wait=5.0) == {}


def test_conntrack_room_runs_at_once_when_the_run_fits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(machine, "CONNTRACK", _conntrack_files(tmp_path, 100_000, 262_144))
    seen = machine.wait_for_conntrack_room(26_000, max_wait=5.0)
    assert seen == {"conntrack_wait_s": 0.0, "conntrack_entries": 100_000, "conntrack_max": 262_144}


def test_conntrack_room_waits_for_entries_to_expire_and_gives_up_at_its_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(machine, "CONNTRACK", _conntrack_files(tmp_path, 230_000, 262_144))
    sleeps: list[float] = []
    clock = iter(float(t) for t in range(100))
    monkeypatch.setattr("bench.machine.time.sleep", sleeps.append)
    monkeypatch.setattr("bench.machine.time.monotonic", lambda: next(clock))
    seen = machine.wait_for_conntrack_room(26_000, max_wait=3.0)
    assert seen["conntrack_wait_s"] == 3.0  # still full: it runs anyway, and says so
    assert sleeps == [1.0, 1.0]


def test_the_report_says_what_waiting_for_conntrack_room_cost() -> None:
    gates: list[dict[str, Any]] = [
        {"waited_s": 0.0, "conntrack_wait_s": 0.0, "conntrack_entries": 50_000},
        {"waited_s": 0.0, "conntrack_wait_s": 41.0, "conntrack_entries": 230_000},
        {"waited_s": 0.0},  # a wrk run: no table check
    ]
    line = report._conntrack_line({"conntrack_max": 262_144}, gates)[0]
    assert "a table of 262,144 entries" in line
    assert "1 of 2 ab runs waited, 41 s in all" in line
    assert "the fullest start had 230,000 entries" in line
    assert report._conntrack_line({"conntrack_max": None}, gates) == []


def test_the_machine_line_names_the_interpreter_build_every_python_server_ran_on() -> None:
    info = machine.describe()
    assert info["python_executable"] == os.path.realpath(sys._base_executable)  # type: ignore[attr-defined]
    assert isinstance(info["python_shared"], bool)
    assert report._interpreter({"python_executable": "/usr/bin/python3.11"}) == (
        " (/usr/bin/python3.11, libpython linked in)"
    )
    shared = {"python_executable": "/opt/py/bin/python3.11", "python_shared": True}
    assert report._interpreter(shared) == " (/opt/py/bin/python3.11, a shared libpython)"
    assert report._interpreter({}) == ""  # an older run's record: nothing made up


def idle_run(held: int, per_connection: float, p99: float, errors: int = 0) -> dict[str, Any]:
    return {
        "held": held,
        "bytes_per_idle_connection": per_connection,
        "p50_ms": 1.0,
        "p99_ms": p99,
        "errors": errors,
        "requests": 150,
    }


@pytest.mark.parametrize(
    ("held", "size", "p99", "errors", "fast", "small"),
    [
        (10_000, 6000.0, 7.0, 0, True, True),
        (9_999, 6000.0, 7.0, 0, False, True),  # one connection short of 10,000
        (10_000, 9000.0, 49.0, 0, True, False),  # over 8 KiB each
        (10_000, 6000.0, 50.0, 0, False, True),  # p99 must be under 50 ms
        (10_000, 6000.0, 7.0, 1, False, True),  # a failed normal request
    ],
)
def test_the_idle_targets_are_absolute_bounds(
    held: int, size: float, p99: float, errors: int, fast: bool, small: bool
) -> None:
    wl = workload(
        "coroutine-web",
        "uvicorn h11",
        [idle_run(held, size, p99, errors)],
        [idle_run(10_000, 7000.0, 5.0)],
    )
    rows = [t for t in report.judge({"idle-10k": wl}) if t["workload"] == "idle-10k"]
    assert [t["met"] for t in rows] == [fast, small]
    assert "KiB each" in rows[1]["note"]
    table = "\n".join(report._idle_table({"results": wl["results"]}))
    assert f"| {held:,} |" in table


def test_the_asgi_targets_compare_with_uvicorn_h11() -> None:
    wl = workload("coroutine-web", "uvicorn h11", [run(9000, 50)], [run(4000, 100)])
    rows = [t for t in report.judge({"asgi-keepalive": wl}) if t["workload"] == "asgi-keepalive"]
    assert [t["met"] for t in rows] == [True, True]
    slower = workload("coroutine-web", "uvicorn h11", [run(3000, 120)], [run(4000, 100)])
    rows = [
        t for t in report.judge({"asgi-keepalive": slower}) if t["workload"] == "asgi-keepalive"
    ]
    assert [t["met"] for t in rows] == [False, False]


OHA = """{"summary": {"successRate": 1.0, "total": 3.004, "slowest": 0.02, "fastest": 0.0002,
 "average": 0.0011, "requestsPerSec": 998.7, "totalData": 42000, "sizePerRequest": 14,
 "sizePerSec": 13981.4},
 "latencyPercentiles": {"p10": 0.0004, "p25": 0.0006, "p50": 0.0009, "p75": 0.0012,
  "p90": 0.0019, "p95": 0.0031, "p99": 0.0125, "p99.9": 0.019, "p99.99": 0.02},
 "statusCodeDistribution": {"200": 2995, "503": 3},
 "errorDistribution": {"aborted due to deadline": 7, "connection reset": 2}}"""


def test_oha_output() -> None:
    r = parsing.parse_oha(OHA, 3.0)
    assert (r.tool, r.requests) == ("oha", 2998)
    assert r.requests_per_second == pytest.approx(2998 / 3)
    assert r.p50_ms == pytest.approx(0.9)
    assert r.p99_ms == pytest.approx(12.5)
    # a 503 and a reset are errors; the requests cut off by -z are not
    assert r.errors == 5
    assert r.error_detail == {"status 503": 3, "connection reset": 2}
    with pytest.raises(parsing.ParseError):
        parsing.parse_oha("error: connection refused", 3.0)


def open_run(offered: float, answered: float, p99: float, errors: int = 0) -> dict[str, Any]:
    return run(answered, 50, p99=p99, errors=errors) | {"offered_per_second": offered}


@pytest.mark.parametrize(
    ("ours", "theirs", "met"),
    [
        (open_run(1000, 999, 4.0), open_run(1000, 998, 5.0), True),
        (open_run(1000, 999, 6.0), open_run(1000, 998, 5.0), False),  # a worse p99
        (open_run(1000, 900, 4.0), open_run(1000, 999, 5.0), False),  # the rate not served
        (open_run(1000, 999, 4.0), open_run(1000, 600, 900.0), True),  # the peer fell behind
        (open_run(1000, 999, 4.0, errors=1), open_run(1000, 999, 5.0), False),
    ],
)
def test_the_open_loop_targets_compare_p99_at_the_offered_rate(
    ours: dict[str, Any], theirs: dict[str, Any], met: bool
) -> None:
    wl = workload("multiprocess-web prefork", "gunicorn sync", [ours], [theirs])
    rows = [t for t in report.judge({"wsgi-rate-90": wl}) if t["workload"] == "wsgi-rate-90"]
    assert [t["met"] for t in rows] == [met]
    assert rows[0]["ratio"] == pytest.approx(ours["p99_ms"] / theirs["p99_ms"])
    assert "1,000/s offered" in rows[0]["note"]


def page_summary(load: float, process: float, requests: int = 101) -> dict[str, Any]:
    return {"page_load_ms": load, "process_ms": process, "requests": requests, "errors": 0}


def test_the_browser_targets() -> None:
    def rows(ours: dict[str, Any], peer: dict[str, Any]) -> list[Any]:
        wl = {
            "results": [
                {"server": "socketlab browser", "summary": ours},
                {"server": "wget --page-requisites", "summary": peer},
            ]
        }
        judged = report.judge({"browser-page": wl})
        return [t["met"] for t in judged if t["workload"] == "browser-page"]

    assert rows(page_summary(20, 45), page_summary(30, 40)) == [True, True]
    assert rows(page_summary(31, 51), page_summary(30, 40)) == [False, False]
    # the same time is not faster, and fewer requests is no race
    assert rows(page_summary(30, 45), page_summary(30, 40)) == [False, True]
    assert rows(page_summary(20, 45, 90), page_summary(30, 40)) == [False, True]


def test_the_interpreter_alone_is_a_row_of_the_page_and_named_by_the_process_target() -> None:
    from bench import page

    times = [
        page.ClientTimes("socketlab browser", [0.060, 0.050, 0.070], [0.02] * 3, 101, [0.05] * 3),
        page.ClientTimes("wget --page-requisites", [0.065] * 3, [0.05] * 3, 101, [0.04] * 3),
        page.ClientTimes(page.FLOOR, [0.030, 0.020, 0.025], [], 0, [0.02] * 3),
    ]
    rows = page.results(times)
    floor = rows[-1]
    assert floor["server"] == page.FLOOR
    assert floor["summary"]["process_ms"] == pytest.approx(25.0)
    assert floor["summary"]["page_load_ms"] is None  # it loads no page
    assert "no page" in floor["description"]
    assert rows[0]["summary"]["interpreter_ms"] == pytest.approx(25.0)
    judged = report.judge({"browser-page": {"results": rows}})
    (process,) = [t for t in judged if t["metric"] == "process_ms"]
    assert "python3 alone 25.0 ms" in process["note"]
    assert report._browser_table({"results": rows})[-1].startswith(f"| {page.FLOOR} | - |")


def a_run(started: str, met: bool, *, complete: bool = True, fresh: bool = True) -> dict[str, Any]:
    rows = [
        {
            "target": t.text,
            "metric": t.metric,
            "need": t.need,
            "ratio": 1.5,
            "ours": 3.0,
            "met": met,
        }
        for t in report.TARGETS
    ]
    return {
        "started": started,
        "command": "make bench",
        "complete": complete,
        "checkout": {
            "commit": "abcdef1234",
            "tree_clean": True,
            "clone_age_s": 60 if fresh else 1e6,
        },
        "targets": rows,
        "workloads": {},
    }


def test_every_run_is_kept_and_an_old_file_becomes_the_first_run() -> None:
    old = a_run("2026-11-21", False)
    first = report.history(old, a_run("2026-12-01", True))
    assert [r["started"] for r in first] == ["2026-11-21", "2026-12-01"]
    second = report.history({"history": first}, a_run("2026-12-02", True))
    assert [r["started"] for r in second] == ["2026-11-21", "2026-12-01", "2026-12-02"]
    assert report.history(None, a_run("x", True))[0]["started"] == "x"


def test_the_runs_table_shows_three_runs_and_says_three_in_a_row_only_when_true() -> None:
    runs = [a_run(f"day {i}", True) for i in range(4)]
    table = "\n".join(report.runs_table(runs))
    assert "day 0" not in table
    assert "day 3" in table
    assert "Three consecutive runs meet every target" in table
    assert table.count("1.50 met") == 3 * (len(report.TARGETS) - 3)  # ratio targets
    missed = "\n".join(report.runs_table([*runs[:3], a_run("day 4", False)]))
    assert "Three consecutive" not in missed
    assert "1 met every target" not in missed
    assert "**missed**" in missed
    assert "2 met every target" in missed
    stale = "\n".join(report.runs_table([a_run(f"d{i}", True, fresh=i != 1) for i in range(3)]))
    assert "Three consecutive" not in stale
    assert "2 were from a fresh clone" in stale
    partial = report.runs_table([*runs[:3], a_run("now", False, complete=False)])
    assert "partial (--only), not counted" in partial[0]
    assert "Three consecutive runs meet every target" in "\n".join(partial)


def test_a_run_outside_a_git_checkout_is_shown_with_commit_unknown() -> None:
    """A plain copy of the tree has no commit (bench.run.checkout() says None): the table
    still renders, and such a run is never counted as from a fresh clone."""
    run = a_run("copy", True)
    run["checkout"] = {"commit": None, "tree_clean": False, "changed": [], "clone_age_s": None}
    table = "\n".join(report.runs_table([run]))
    assert "commit unknown, not a fresh clone" in table


def test_the_page_server_answers_from_memory_and_stamps_each_request(tmp_path: Path) -> None:
    import socket
    import threading

    from bench import page

    page.write_site(tmp_path)
    server = page.PageServer(tmp_path)
    ours, theirs = socket.socketpair()
    worker = threading.Thread(target=server._serve, args=(theirs,))
    worker.start()
    with ours:
        ours.sendall(
            b"GET /page100/css/s0.css HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /page100/index.html HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
        )
        got = b""
        while chunk := ours.recv(65536):
            got += chunk
    worker.join(5)
    server.settled(1)
    assert got.count(b"HTTP/1.1 200 OK") == 1
    assert b"HTTP/1.1 404" in got
    assert b"HTTP/1.1 400" in got  # a body: bad input, the connection closed
    assert [e[2] for e in server.log] == [200, 404, 400]
    span, count = page.window_us(server.log)
    assert count == 3
    assert span >= 0
    assert all(first <= done for first, done, _, _ in server.log)
    assert page.window_us([]) == (0, 0)
    server._listener.close()
