"""The whole benchmark: every workload, every server, one after another; then the report.

``python3 -m bench [--seconds 4] [--repeats 3] [--only static-1k-keepalive,...]``

Run it with the bench venv's interpreter (``make bench`` does): gunicorn and waitress live
there, and every Python server is started with that same interpreter. Each load aims at
127.0.0.1 only and is bounded in time; the default run (5 repeats of 3 s, fewer for the
workloads whose figures are steady, each after the machine looked quiet for a moment) takes
about 20 minutes (1,168 s in the fresh-clone run of 2026-12-02).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from . import http_loads, idle, machine, page, report, servers, udp
from .parsing import median
from .servers import REPO, Server

SMALL: Final = "/1k.bin"
LARGE: Final = "/100k.bin"


@dataclass(frozen=True)
class Workload:
    id: str
    title: str
    how: str
    kind: str  # "wrk", "ab", "oha", "chat", "idle", "browser"
    path: str
    servers: tuple[Server, ...]
    access_log: bool = False
    repeats: int = 0
    """Runs of each server at most (0: --repeats): fewer where the figure is stable across runs
    or the comparison is far from its bound, so that make bench stays near 10-12 minutes."""
    share: float = 0.0
    """For "oha": the request rate offered, as a share of gunicorn sync's closed-loop capacity;
    for "browser": the impairment relay's latency in ms (0: none)."""


STATIC_PEERS: Final = (
    servers.OURS_STATIC,
    servers.OURS_COROUTINE_STATIC,
    servers.STDLIB_STATIC,
    servers.NGINX,
)
ASGI_PEERS: Final = (
    servers.OURS_ASGI,
    servers.UVICORN_H11,
    servers.UVICORN_HTTPTOOLS,
    servers.UVICORN_UVLOOP,
    servers.HYPERCORN,
)
WSGI_PEERS: Final = (
    servers.OURS_WSGI,
    servers.GUNICORN_SYNC,
    servers.GUNICORN_GTHREAD,
    servers.WAITRESS,
)

WORKLOADS: Final = (
    Workload(
        "static-1k-keepalive",
        "Static file, 1 KiB, keep-alive (access logs off)",
        "`wrk -t2 -c50 --latency` on a 1 KiB file; every server with its per-request log off. "
        "nginx also runs with one worker process, as threaded-web is one process.",
        "wrk",
        SMALL,
        (*STATIC_PEERS, servers.NGINX_ONE_WORKER, servers.OURS_STATIC_THREADS_ONLY),
    ),
    Workload(
        "static-1k-keepalive-logged",
        "Static file, 1 KiB, keep-alive (access logs on)",
        "The same load with each server's usual per-request log on, written to a file: "
        "threaded-web at `--log-level info`, the stdlib handler's `log_message` to stderr, "
        "nginx's `access_log`. The difference to the table above is what logging costs.",
        "wrk",
        SMALL,
        (servers.OURS_STATIC_LOGGING, servers.STDLIB_STATIC_LOGGING, servers.NGINX_LOGGING),
        access_log=True,
    ),
    Workload(
        "access-log-static",
        "What the access log costs: static file, 1 KiB, keep-alive, log off and on",
        "`wrk -t2 -c50 --latency` on the 1 KiB file; each of our static servers at "
        "`--log-level warning` (no access log) and at `--log-level info` (one line per "
        "request, to a file), alternating.",
        "wrk",
        SMALL,
        (
            servers.OURS_STATIC,
            servers.OURS_STATIC_LOGGED,
            servers.OURS_COROUTINE_STATIC,
            servers.OURS_COROUTINE_STATIC_LOGGED,
        ),
    ),
    Workload(
        "access-log-wsgi",
        "What the access log costs: WSGI hello-world, keep-alive, log off and on",
        f"`wrk -t2 -c50 --latency` on `bench/apps/hello.py`, multiprocess-web prefork with "
        f"{servers.WSGI_WORKERS} workers at `--log-level warning` and at `--log-level info` "
        "(one line per request, to a file), alternating.",
        "wrk",
        "/",
        (servers.OURS_WSGI, servers.OURS_WSGI_LOGGED),
    ),
    Workload(
        "static-1k-close",
        "Static file, 1 KiB, a new connection per request",
        "`ab -c50` (HTTP/1.0, no keep-alive) on the 1 KiB file; access logs off.",
        "ab",
        SMALL,
        STATIC_PEERS,
    ),
    Workload(
        "static-100k",
        "Static file, 100 KiB, keep-alive: bytes per second",
        "`wrk -t2 -c50 --latency` on a 100 KiB file; access logs off.",
        "wrk",
        LARGE,
        STATIC_PEERS,
    ),
    Workload(
        "wsgi-keepalive",
        "WSGI hello-world, keep-alive",
        f"`wrk -t2 -c50 --latency` on `bench/apps/hello.py` (14 bytes, Content-Length), "
        f"{servers.WSGI_WORKERS} worker processes for each prefork server; no access "
        "logs. gunicorn's sync worker does not keep connections alive: it answers "
        "`Connection: close` and wrk reconnects.",
        "wrk",
        "/",
        WSGI_PEERS,
    ),
    Workload(
        "wsgi-rate-50",
        "WSGI hello-world, open loop at 50% of gunicorn sync's capacity",
        "`oha -q RATE --latency-correction -c50` (open loop: a fixed request rate whatever the "
        "server does, each request timed from when it was due, so coordinated omission does not "
        "hide a stall) on the same application, RATE being half of gunicorn sync's closed-loop "
        "requests/s (its median in the table above, or measured first with wrk when that "
        "workload is not run). Both servers get the same RATE; no access logs.",
        "oha",
        "/",
        (servers.OURS_WSGI, servers.GUNICORN_SYNC),
        repeats=3,
        share=0.5,
    ),
    Workload(
        "wsgi-rate-90",
        "WSGI hello-world, open loop at 90% of gunicorn sync's capacity",
        "The same open-loop load at 90% of gunicorn sync's closed-loop requests/s.",
        "oha",
        "/",
        (servers.OURS_WSGI, servers.GUNICORN_SYNC),
        repeats=3,
        share=0.9,
    ),
    Workload(
        "wsgi-close",
        "WSGI hello-world, a new connection per request",
        "`ab -c50` on the same application; no access logs.",
        "ab",
        "/",
        WSGI_PEERS,
        repeats=3,  # 1.62x and 1.76x against the 1.3x asked in the last runs: far from it
    ),
    Workload(
        "asgi-keepalive",
        "ASGI hello-world, keep-alive",
        "`wrk -t2 -c50 --latency` on `bench/apps/asgi_hello.py` (14 bytes, Content-Length), "
        "each server one process on one event loop; no access logs.",
        "wrk",
        "/",
        ASGI_PEERS,
    ),
    Workload(
        "idle-10k",
        "10,000 idle keep-alive connections and a normal client",
        f"{idle.CONNECTIONS:,} connections each make one request and then stay open and "
        f"silent; meanwhile a normal client opens a new connection for a GET every "
        f"{idle.INTERVAL * 1000:g} ms. 'held' counts the idle connections still open after "
        "all were made; memory is the server's RSS growth divided by them; latency is the "
        "normal client's.",
        "idle",
        "/healthz",
        (servers.OURS_ASGI, servers.UVICORN_H11),
        repeats=3,  # 10,000 connections held or not, and KiB each: the same in every run
    ),
    Workload(
        "udp-chat",
        "UDP chat relaying to 50 members",
        f"{udp.MEMBERS} members on loopback take turns sending; every message goes to the "
        f"other {udp.MEMBERS - 1}. At most {udp.WINDOW} messages in flight; latency is "
        "from the sender's `sendto` to each receiver's `recvfrom`. udp-chat runs with its "
        "rate limit lifted and its log at warning (the echo loop logs nothing).",
        "chat",
        "",
        (servers.OURS_CHAT, servers.UDP_ECHO),
    ),
    Workload(
        "browser-page",
        f"The browser loading a page with {page.RESOURCES} resources",
        f"A page with {page.STYLESHEETS} stylesheets, {page.SCRIPTS} scripts, {page.IMAGES} "
        f"images and an icon ({page.RESOURCES + 1} requests with the page), served from memory "
        "by the bench's own page server, which stamps each request in microseconds; each "
        "client runs as a fresh process, alternating. Page load is from the first request's "
        "first byte to the last response's end at that server; process is from start to exit, "
        "interpreter start-up included (the services' bytecode written first with compileall, "
        "as an installed package has it: PYTHONDONTWRITEBYTECODE is set here).",
        "browser",
        page.PAGE,
        (),
    ),
    Workload(
        "browser-page-latency",
        f"The browser loading the {page.RESOURCES}-resource page {page.LATENCY_MS} ms away",
        f"The same page through the lab's impairment relay (`python3 -m socketlab.impair` on "
        f"127.0.0.1) with {page.LATENCY_MS} ms of latency on every chunk from the server to the "
        "client. Page load is timed at the page server as above, so the last response's "
        f"{page.LATENCY_MS} ms in the relay is left out for both clients alike.",
        "browser",
        page.PAGE,
        (),
        repeats=2,  # wget takes 10 s a load, the browser under 2: far apart in every run
        share=page.LATENCY_MS,
    ),
)


def make_root(work: Path) -> Path:
    """The document root every static server serves: the two files and the 100-resource page."""
    root = work / "root"
    root.mkdir()
    (root / "1k.bin").write_bytes(bytes(i % 251 for i in range(1024)))
    (root / "100k.bin").write_bytes(bytes(i % 251 for i in range(100 * 1024)))
    page.write_site(root)
    return root


QUIET_BUSY: Final = 0.25
"""Before each run, wait until less than this share of the machine's CPU is busy: other
work on the machine (tests, builds) is invisible to us but takes cores from the run."""

QUIET_SLACK: Final = 0.3
"""... and until the speed probe (machine.probe: a round trip between two processes) is within
30% of the fastest it has been in this run: other guests on the host slow this virtual machine
down without any of it showing in /proc/stat."""

QUIET_WAIT: Final = 10.0
"""Longest wait for a quiet machine before running anyway (every wait is in the JSON)."""

QUIET_BUDGET: Final = 240.0
"""Seconds of such waiting in a whole run at most: make bench stays within about 15 minutes."""

_gate: machine.Quiet | None = None


def _quiet() -> dict[str, float]:
    global _gate
    if _gate is None:
        _gate = machine.Quiet(QUIET_BUSY, QUIET_SLACK, QUIET_WAIT, QUIET_BUDGET)
    return _gate.wait()


CONNTRACK_WAIT: Final = 150.0
"""Longest wait for room in the connection-tracking table before a run of ab (its entries for
closed connections expire 120 s after they close)."""


CAPACITY_RUNS: Final = 3
"""wrk runs of gunicorn sync that give its capacity when wsgi-keepalive is not run (median)."""

_capacity: dict[str, Any] = {}
"""gunicorn sync's closed-loop requests/s in this run: the open-loop workloads' reference."""


def note_capacity(workload_doc: dict[str, Any]) -> None:
    """Take gunicorn sync's capacity from wsgi-keepalive's results (wrk -c50, closed loop)."""
    for r in workload_doc["results"]:
        rps = r["summary"].get("requests_per_second")
        if r["server"] == servers.GUNICORN_SYNC.name and rps:
            _capacity.update(
                requests_per_second=rps,
                source="wsgi-keepalive: gunicorn sync's median requests/s under wrk -c50",
            )


def gunicorn_capacity(
    root: Path, work: Path, seconds: float, say: Callable[[str], None]
) -> dict[str, Any]:
    """gunicorn sync's closed-loop requests/s: from wsgi-keepalive, else measured now."""
    if not _capacity:
        rates = []
        for _ in range(CAPACITY_RUNS):
            _quiet()
            with servers.running(servers.GUNICORN_SYNC, root, work) as srv:
                rates.append(http_loads.wrk(srv, "/", seconds).load.requests_per_second)
        _capacity.update(
            requests_per_second=median(rates),
            source=f"gunicorn sync's median requests/s in {CAPACITY_RUNS} runs of wrk -c50",
            runs=rates,
        )
        rps = _capacity["requests_per_second"]
        say(f"  gunicorn sync's capacity: {rps:,.0f}/s ({_capacity['source']})")
    return dict(_capacity)


def _http_run(
    wl: Workload, server: Server, root: Path, work: Path, seconds: float, rate: float = 0.0
) -> dict[str, Any]:
    room: dict[str, float] = {}
    if wl.kind == "ab":
        room = machine.wait_for_conntrack_room(http_loads.AB_CONNECTIONS_PER_RUN, CONNTRACK_WAIT)
    quiet = _quiet() | room
    with servers.running(server, root, work, access_log=wl.access_log) as srv:
        if wl.kind == "wrk":
            m = http_loads.wrk(srv, wl.path, seconds)
        elif wl.kind == "oha":
            m = http_loads.oha(srv, wl.path, seconds, rate)
        else:
            m = http_loads.ab(srv, wl.path, seconds)
    load = m.load
    return {
        "offered_per_second": rate or None,
        "requests": load.requests,
        "seconds": load.seconds,
        "requests_per_second": load.requests_per_second,
        "bytes_per_second": load.bytes_per_second,
        "p50_ms": load.p50_ms,
        "p99_ms": load.p99_ms,
        "errors": load.errors,
        "error_detail": load.error_detail,
        "cpu_seconds": m.cpu_seconds,
        "cpu_us_per_request": m.cpu_us_per_request,
        "server_cores": m.server_cores,
        "machine": quiet,
    }


def _idle_run(server: Server, root: Path, work: Path, seconds: float) -> dict[str, Any]:
    quiet = _quiet()
    with servers.running(server, root, work) as srv:
        r = idle.run(srv, seconds)
    out: dict[str, Any] = dict(idle.summary(r))
    out.update(
        {
            "bytes_per_second": None,
            "server_cores": r.cpu_seconds / r.seconds if r.seconds else None,
            "cpu_us_per_request": None,
            "machine": quiet,
        }
    )
    return out


def _chat_run(server: Server, root: Path, work: Path, seconds: float) -> dict[str, Any]:
    quiet = _quiet()
    with servers.running(server, root, work) as srv:
        r = udp.run(srv, seconds, chat=server is servers.OURS_CHAT)
    return {
        "requests": r.copies_delivered,
        "seconds": r.seconds,
        "requests_per_second": r.delivered_per_second,
        "bytes_per_second": None,
        "p50_ms": r.p50_ms,
        "p99_ms": r.p99_ms,
        "errors": r.lost,
        "messages_sent": r.messages_sent,
        "copies_expected": r.copies_expected,
        "cpu_seconds": r.cpu_seconds,
        "cpu_us_per_request": r.cpu_us_per_delivered,
        "server_cores": r.cpu_seconds / r.seconds if r.seconds else None,
        "machine": quiet,
    }


def run_workload(
    wl: Workload, root: Path, work: Path, seconds: float, repeats: int, say: Callable[[str], None]
) -> dict[str, Any]:
    if wl.repeats:
        repeats = min(repeats, wl.repeats)
    runs: dict[str, list[dict[str, Any]]] = {s.name: [] for s in wl.servers}
    extra: dict[str, Any] = {"repeats": repeats}
    rate = 0.0
    if wl.kind == "oha":
        capacity = gunicorn_capacity(root, work, seconds, say)
        rate = wl.share * capacity["requests_per_second"]
        extra |= {"share": wl.share, "capacity": capacity, "offered_per_second": rate}
        say(f"  offering {rate:,.0f} requests/s ({wl.share:.0%} of gunicorn sync's capacity)")
    if wl.kind == "browser":
        latency = int(wl.share)
        # A local load takes a few ms: more pairs of them, for a steadier median.
        count = repeats if latency else max(5, 2 * repeats)
        times = page.run(root, work, count, latency)
        for t in times:
            summary = t.summary()
            load = summary["page_load_ms"]
            say(
                f"  {t.name}: "
                + (f"page load {load:.2f} ms, " if load is not None else "no page, ")
                + f"process {summary['process_ms'] or 0:.1f} ms ({len(t.runs)} runs, "
                f"{t.requests} requests each)"
            )
        return _workload_doc(wl, page.results(times)) | extra | {"latency_ms": latency}
    for attempt in range(repeats):
        for server in wl.servers:
            try:
                if wl.kind == "chat":
                    result = _chat_run(server, root, work, seconds)
                elif wl.kind == "idle":
                    result = _idle_run(server, root, work, max(seconds, 3.0))
                else:
                    result = _http_run(wl, server, root, work, seconds, rate)
            except (http_loads.LoadFailed, servers.ServerFailed) as exc:
                # One failed run is a result too (counted as an error), not the end of the run.
                say(f"  [{attempt + 1}/{repeats}] {server.name}: FAILED: {exc}")
                runs[server.name].append(
                    {"failed": str(exc), "errors": 1, "requests": 0, "messages_sent": 0}
                )
                continue
            runs[server.name].append(result)
            cpu = result["cpu_us_per_request"]
            waited = result["machine"]["waited_s"]
            room = result["machine"].get("conntrack_wait_s", 0)
            say(
                f"  [{attempt + 1}/{repeats}] {server.name}: "
                f"{result['requests_per_second']:,.0f}/s, p99 "
                f"{result['p99_ms'] or 0:.2f} ms, errors {result['errors']}, CPU "
                f"{cpu or 0:.1f} µs each"
                + (f" (waited {waited:g} s for quiet)" if waited else "")
                + (f" (waited {room:g} s for conntrack room)" if room else "")
            )
    results = []
    for server in wl.servers:
        summary = report.summarize(runs[server.name])
        if wl.kind == "chat":
            summary["messages_sent"] = sum(r["messages_sent"] for r in runs[server.name])
        results.append(
            {
                "server": server.name,
                "description": server.description,
                "runs": runs[server.name],
                "summary": summary,
            }
        )
    return _workload_doc(wl, results) | extra


def _workload_doc(wl: Workload, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": wl.id,
        "title": wl.title,
        "how": wl.how,
        "kind": wl.kind,
        "path": wl.path,
        "results": results,
    }


def checkout() -> dict[str, Any]:
    """Where this run ran from: the commit, whether tracked files had local changes, and how
    long ago the checkout was cloned (git writes .git/description once, at clone time)."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    changed = [
        line[3:]
        for line in git("status", "--porcelain", "--untracked-files=no").splitlines()
        if line[3:] not in ("docs/BENCHMARKS.md", "docs/benchmarks.json")
    ]
    common = git("rev-parse", "--path-format=absolute", "--git-common-dir")
    try:
        age: float | None = time.time() - (Path(common) / "description").stat().st_mtime
    except OSError:
        age = None
    commit = git("rev-parse", "HEAD")
    return {
        "commit": commit or None,
        "tree_clean": bool(commit) and not changed,
        "changed": changed[:20],
        "clone_age_s": age,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each load run")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each server")
    parser.add_argument("--only", default="", help="comma-separated workload ids")
    parser.add_argument("--out-md", type=Path, default=REPO / "docs" / "BENCHMARKS.md")
    parser.add_argument("--out-json", type=Path, default=REPO / "docs" / "benchmarks.json")
    parser.add_argument("--keep-work", action="store_true", help="keep logs and files")
    args = parser.parse_args(argv)
    if not 0.5 <= args.seconds <= 60 or not 1 <= args.repeats <= 10:
        parser.error("--seconds must be 0.5-60 and --repeats 1-10 (every load is bounded)")
    chosen = [w for w in WORKLOADS if not args.only or w.id in args.only.split(",")]
    missing = [tool for tool in ("wrk", "ab", "nginx", "wget") if shutil.which(tool) is None]
    if missing:
        print(
            f"bench: missing tools: {', '.join(missing)} (make bench installs them)",
            file=sys.stderr,
        )
        return 2
    if any(w.kind == "oha" for w in chosen) and not http_loads.OHA.exists():
        print(f"bench: missing {http_loads.OHA} (make bench installs it)", file=sys.stderr)
        return 2

    def say(text: str) -> None:
        print(text, flush=True)

    work = Path(tempfile.mkdtemp(prefix="socketlab-bench-"))
    started = time.time()
    doc: dict[str, Any] = {
        "command": "make bench" + (f" BENCH_ARGS='{' '.join(argv)}'" if argv else ""),
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)),
        "machine": machine.describe(),
        "load_before": machine.load_average(),
        "settings": {"seconds": args.seconds, "repeats": args.repeats},
        "checkout": checkout(),
        # Only a run of every workload counts towards "three runs in a row".
        "complete": len(chosen) == len(WORKLOADS),
        "workloads": {},
    }
    say(f"bench: work directory {work}; load average {doc['load_before']}")
    try:
        root = make_root(work)
        for wl in chosen:
            say(f"{wl.id}: {wl.title}")
            began = time.monotonic()
            doc["workloads"][wl.id] = run_workload(wl, root, work, args.seconds, args.repeats, say)
            doc["workloads"][wl.id]["duration_s"] = round(time.monotonic() - began, 1)
            if wl.id == "wsgi-keepalive":
                note_capacity(doc["workloads"][wl.id])
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    doc["load_after"] = machine.load_average()
    doc["duration_s"] = time.time() - started
    doc["targets"] = report.judge(doc["workloads"])
    previous = None
    if args.out_json.exists():
        try:
            previous = json.loads(args.out_json.read_text())
        except ValueError:
            say(f"bench: {args.out_json} is not JSON: its history starts again with this run")
    doc["history"] = report.history(previous, doc)
    args.out_json.parent.mkdir(parents=True, exist_ok=True)
    args.out_json.write_text(json.dumps(doc, indent=1) + "\n")
    report.write_markdown(args.out_md, report.render(doc))
    for t in doc["targets"]:
        verdict = {True: "met", False: "MISSED", None: "-"}[t["met"]]
        ratio = "-" if t["ratio"] is None else f"{t['ratio']:.2f}"
        say(f"target {verdict:6} ratio {ratio:>6}: {t['target']}")
    say(f"bench: wrote {args.out_md} and {args.out_json} in {doc['duration_s']:.0f} s")
    return 0
