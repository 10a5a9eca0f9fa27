"""``python3 -m soak``: the fault suite of issue 13, on 127.0.0.1, bounded (about 10 minutes).

Cases, each against the lab's servers run as plain processes (like ``make bench``):

* ``slow-clients`` -- slowhttptest's slowloris (-H), slow body (-B) and slow read (-X) against
  threaded-web, multiprocess-web prefork and fork mode, and the peers where they apply
  (gunicorn gthread, waitress, nginx), with a normal client's p50/p99/failures during each;
* ``churn`` -- 10,000 connections opened and closed at full speed: descriptors, threads and
  zombies before and after;
* ``idle`` -- 10,000 idle keep-alive connections held by threaded-web: memory per connection
  (bench/idle.py's measure);
* ``sigkill`` -- SIGKILL of a prefork worker every second under load: how long until the pool
  is full again, and what the load saw;
* ``sigterm`` -- SIGTERM while requests are in flight: every one of them answered, exit 0;
* ``udp-flood`` -- 100,000 datagrams from one member at udp-chat: the other members lose
  nothing, the flood is rate-limited, memory stays flat;
* ``docker-restart`` -- a lab of the project's own containers (its own project name, subnets
  and ports: ``soak/restart.py``), each service restarted while the browser container loads
  its page: healthy again within its healthcheck's window, and the browser's next page loads.
  ``--no-docker`` leaves it out (the unit tests' short run).

Writes docs/reliability.json and docs/RELIABILITY.md (the part between the markers).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

from bench.servers import (
    GUNICORN_GTHREAD,
    NGINX,
    OURS_STATIC,
    WAITRESS,
    Server,
    _py,
    multiprocess_web,
    running,
)

from . import attacks, faults, restart
from .report import write_markdown

REPO: Final = Path(__file__).resolve().parents[1]
WWW: Final = REPO / "services" / "www"
P99_TARGET_MS: Final = 50.0


def _multiprocess(mode: str) -> Server:
    """multiprocess-web as the lab runs it: its own site (labapp, /post reads a body) and the
    static files, with bench's command line (the benchmark's row runs hello:app instead)."""
    return Server(
        f"multiprocess-web {mode}",
        multiprocess_web(mode, "--static-root", "{root}"),
        ready_path="/healthz",
        description=f"socketlab multiprocess-web, {mode} mode, the lab's WSGI site",
    )


THREADED: Final = OURS_STATIC
PREFORK: Final = _multiprocess("prefork")
FORK: Final = _multiprocess("fork")

OURS: Final = (THREADED, PREFORK, FORK)
PEERS: Final = (GUNICORN_GTHREAD, WAITRESS, NGINX)

# The normal client's path, and where the slow-body attack aims, per server.
NORMAL_PATH: Final = {
    "threaded-web": "/",
    "multiprocess-web prefork": "/",
    "multiprocess-web fork": "/",
    "gunicorn gthread": "/",
    "waitress": "/",
    "nginx": "/1k.bin",
}
BODY_PATH: Final = {"multiprocess-web prefork": "/post", "multiprocess-web fork": "/post"}


def make_root(work: Path) -> Path:
    root = work / "www"
    shutil.copytree(WWW, root)
    (root / "1k.bin").write_bytes(b"x" * 1024)
    return root


def slow_clients(
    servers: tuple[Server, ...], root: Path, work: Path, *, short: bool
) -> list[dict[str, Any]]:
    rows = []
    measure = 2.0 if short else 8.0
    for server in servers:
        for attack in attacks.ATTACKS:
            if server in PEERS and attack is not attacks.SLOWLORIS and short:
                continue
            connections = min(attack.connections, 100) if short else None
            ramp = 1.5 if short else attacks.RAMP
            with running(server, root, work) as run:
                measured = attacks.run(
                    attack,
                    run.port,
                    NORMAL_PATH[server.name],
                    work,
                    server.name.replace(" ", "_"),
                    measure=measure,
                    connections=connections,
                    attack_path=BODY_PATH.get(server.name, "/")
                    if attack is attacks.SLOW_BODY
                    else None,
                    ramp=ramp,
                )
                run.check_alive()
            rows.append(
                {
                    "server": server.name,
                    "peer": server in PEERS,
                    "attack": attack.name,
                    "attack_connections": connections or attack.connections,
                    "attack_connected": attacks.attack_connected(measured.attack_log),
                    "requests": measured.requests,
                    "failures": measured.failures,
                    "p50_ms": _round(measured.percentile(50)),
                    "p99_ms": _round(measured.percentile(99)),
                }
            )
            print(f"soak: {rows[-1]}", flush=True)
    return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def churn_case(root: Path, work: Path, *, short: bool) -> list[dict[str, Any]]:
    rows = []
    for server in OURS:
        with running(server, root, work) as run:
            time.sleep(0.5)
            # threaded-web makes its pool's threads on demand: up to 128, plus the poller
            bound = 129 if server is THREADED else 0
            result = faults.churn(
                run.port, run.pid, 500 if short else faults.CHURN, thread_bound=bound
            )
            run.check_alive()
        rows.append({"server": server.name, **asdict(result), "leak_free": result.leak_free})
        print(f"soak: {rows[-1]}", flush=True)
    return rows


def idle_case(root: Path, work: Path, *, short: bool) -> dict[str, Any]:
    from bench import idle

    with running(THREADED, root, work) as run:
        result = idle.run(run, 2.0 if short else 5.0, 500 if short else idle.CONNECTIONS)
    summary = idle.summary(result)
    print(f"soak: idle {summary}", flush=True)
    return {"server": THREADED.name, **summary}


def sigkill_case(root: Path, work: Path, *, short: bool) -> dict[str, Any]:
    with running(PREFORK, root, work) as run:
        time.sleep(0.5)
        workers = len(faults.worker_pids(run.pid))
        result = faults.kill_workers(run.port, run.pid, workers, 3.0 if short else 10.0, "/")
        run.check_alive()
    row = {
        "server": PREFORK.name,
        "workers": workers,
        **asdict(result),
        "worst_recovery_ms": result.worst_recovery_ms,
    }
    print(f"soak: sigkill {row}", flush=True)
    return row


def sigterm_case(root: Path, work: Path) -> list[dict[str, Any]]:
    rows = []
    for server, path in ((PREFORK, "/delay/1"), (FORK, "/delay/1"), (THREADED, "/")):
        with running(server, root, work) as run:
            result = faults.sigterm_under_load(run.port, run.process, path)
        rows.append({"server": server.name, "path": path, **asdict(result)})
        print(f"soak: sigterm {rows[-1]}", flush=True)
    return rows


def merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A partial run (``--only``) replaces the rows it measured in the last full run's
    document and keeps the others (rows are matched by server, and attack)."""
    out = {**old, **{k: v for k, v in new.items() if not isinstance(v, list) and k != "seconds"}}
    for key, rows in new.items():
        if not isinstance(rows, list):
            continue
        fresh = {(r.get("server"), r.get("attack")) for r in rows}
        kept = [r for r in old.get(key, []) if (r.get("server"), r.get("attack")) not in fresh]
        out[key] = [*kept, *rows] if key != "slow_clients" else _in_order(kept, rows)
    out["partial_reruns"] = [
        *old.get("partial_reruns", []),
        [k for k, v in new.items() if isinstance(v, list)],
    ]
    return out


def _in_order(kept: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    order = {s.name: i for i, s in enumerate((*OURS, *PEERS))}
    names = [a.name for a in attacks.ATTACKS]
    return sorted(
        [*kept, *rows], key=lambda r: (order.get(r["server"], 99), names.index(r["attack"]))
    )


UDP_CHAT: Final = Server(
    "udp-chat",
    _py("socketlab.udp_chat", "--host", "127.0.0.1", "--port", "{port}", "--log-level", "error"),
    kind="udp",
    description="socketlab udp-chat with its default limits (20 datagrams/s, burst 40)",
)


def udp_flood_case(root: Path, work: Path, *, short: bool) -> dict[str, Any]:
    with running(UDP_CHAT, root, work) as run:
        result = faults.udp_flood(run.port, run.pid, 10_000 if short else 100_000)
        run.check_alive()
    row = {"server": UDP_CHAT.name, **asdict(result), "held": result.held}
    print(f"soak: udp flood {row}", flush=True)
    return row


def restart_case(work: Path, *, short: bool) -> list[dict[str, Any]]:
    rows = []
    for result in restart.restarts(work, short=short):
        rows.append({**asdict(result), "held": result.held})
        print(f"soak: docker restart {rows[-1]}", flush=True)
    return rows


def judge(doc: dict[str, Any]) -> list[str]:
    """What the issue requires that this run did not show (empty: all held)."""
    problems = []
    for row in doc["slow_clients"]:
        if row["peer"] or row["server"] == FORK.name:
            continue  # the peers are for comparison, fork mode's weakness is kept on purpose
        if row["failures"]:
            problems.append(f"{row['server']} under {row['attack']}: {row['failures']} failures")
        if row["p99_ms"] is None or row["p99_ms"] > P99_TARGET_MS:
            problems.append(f"{row['server']} under {row['attack']}: p99 {row['p99_ms']} ms")
    for row in doc["churn"]:
        if not row["leak_free"]:
            problems.append(f"{row['server']}: leak after churn ({row})")
    kill = doc.get("sigkill")
    if kill and (kill["worst_recovery_ms"] or 0) > 1000:
        problems.append(f"prefork pool not back within 1 s: {kill['worst_recovery_ms']} ms")
    flood = doc.get("udp_flood")
    if flood and not flood["held"]:
        problems.append(
            f"udp-chat flood: member loss {flood['member_loss']}, flood relayed "
            f"{flood['flooder_relayed']} of at most {flood['flooder_allowed']}"
        )
    for row in doc.get("sigterm", []):
        if row["cut_off"] or row["exit_code"] != 0:
            problems.append(f"{row['server']}: SIGTERM cut off {row['cut_off']} requests")
    for row in doc.get("docker_restart", []):
        if not row["held"]:
            problems.append(
                f"docker restart {row['service']}: healthy after {row['healthy_after_s']} s "
                f"(window {row['window_s']} s), next page loaded: {row['next_page']}"
            )
    return problems


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for tool, args in (("slowhttptest", ["-h"]), ("nginx", ["-v"])):
        path = shutil.which(tool)
        if path:
            done = subprocess.run([path, *args], capture_output=True, text=True, check=False)
            text = (done.stdout + done.stderr).strip().splitlines()
            out[tool] = (text[0] if text else "?").rsplit("version", 1)[-1].strip(" :/")
    for module in ("gunicorn", "waitress"):
        try:
            out[module] = importlib.metadata.version(module)
        except importlib.metadata.PackageNotFoundError:
            out[module] = "missing"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m soak", description=__doc__.split("\n")[0])
    parser.add_argument("--short", action="store_true", help="a short version of each case")
    parser.add_argument("--only", default="", help="comma-separated cases")
    parser.add_argument("--no-peers", action="store_true", help="skip gunicorn, waitress, nginx")
    parser.add_argument(
        "--no-docker", action="store_true", help="skip docker-restart (needs Docker and make up)"
    )
    parser.add_argument("--servers", default="", help="slow-clients: only these (comma-separated)")
    parser.add_argument("--out-md", type=Path, default=REPO / "docs" / "RELIABILITY.md")
    parser.add_argument("--out-json", type=Path, default=REPO / "docs" / "reliability.json")
    args = parser.parse_args(argv)
    only = set(filter(None, args.only.split(",")))
    if (not only or "slow-clients" in only) and not shutil.which("slowhttptest"):
        print("soak: slowhttptest is missing (apt-get install slowhttptest)", file=sys.stderr)
        return 2
    peers: tuple[Server, ...] = () if args.no_peers else PEERS
    peers = tuple(p for p in peers if p is not NGINX or shutil.which("nginx"))
    if not all(importlib.util.find_spec(m) for m in ("gunicorn", "waitress")):
        peers = tuple(p for p in peers if p is NGINX)  # not in this venv: make soak's has them
    started = time.monotonic()
    doc: dict[str, Any] = {"short": args.short, "versions": versions()}
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        work = Path(tmp)
        root = make_root(work)
        if not only or "slow-clients" in only:
            chosen = tuple(
                s for s in (*OURS, *peers) if not args.servers or s.name in args.servers.split(",")
            )
            doc["slow_clients"] = slow_clients(chosen, root, work, short=args.short)
        if not only or "churn" in only:
            doc["churn"] = churn_case(root, work, short=args.short)
        if not only or "idle" in only:
            doc["idle"] = idle_case(root, work, short=args.short)
        if not only or "sigkill" in only:
            doc["sigkill"] = sigkill_case(root, work, short=args.short)
        if not only or "sigterm" in only:
            doc["sigterm"] = sigterm_case(root, work)
        if not only or "udp-flood" in only:
            doc["udp_flood"] = udp_flood_case(root, work, short=args.short)
        if (not only or "docker-restart" in only) and not args.no_docker:
            doc["docker_restart"] = restart_case(work, short=args.short)
    if only and args.out_json.exists():
        doc = merged(json.loads(args.out_json.read_text()), doc)
    doc.setdefault("slow_clients", [])
    doc.setdefault("churn", [])
    doc["seconds"] = round(time.monotonic() - started, 1)
    doc["problems"] = judge(doc)
    args.out_json.write_text(json.dumps(doc, indent=2) + "\n")
    write_markdown(args.out_md, doc)
    print(f"soak: {doc['seconds']} s; wrote {args.out_json} and {args.out_md}")
    for problem in doc["problems"]:
        print(f"soak: NOT MET: {problem}")
    return 1 if doc["problems"] else 0
