"""The checker: runs one kind's checks from inside the grader's container (or in-process).

    python3 -m socketlab.grader.checker --kind http-static --target submission:23456 \\
        --site /grader/site.json
    python3 -m socketlab.grader.checker --kind http-client --listen 23456 \\
        --public grader:23456 --runs /runs

It prints progress to stderr and, as its last line on stdout, one JSON object:
``{"kind": ..., "target": ..., "results": [...]}``. For http-client it first prints
``RUN <name> <url>`` for each run and waits until ``<runs>/<name>.json`` appears (the host
writes it, with the client's exit status, once the client's container has ended; the saved page
is ``<runs>/<name>/page.html``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from . import http_client
from .checks import Result
from .docroot import SiteMap
from .http_static import HttpTarget
from .kinds import KINDS
from .target import STARTUP_GRACE, ServerTarget, parse_address

OUTPUT_NAME: Final = "page.html"  # where a client run's $OUTPUT points, inside /output


def grade_server(kind: str, target: ServerTarget, progress: bool = True) -> list[Result]:
    def say(result: Result) -> None:
        if progress:
            print(f"check {result.id}: {result.status} ({result.seconds:.1f} s)", file=sys.stderr)

    return KINDS[kind].suite.run(target, progress=say)


def grade_client(target: http_client.ClientTarget, progress: bool = True) -> list[Result]:
    session = http_client.record_session(target)

    def say(result: Result) -> None:
        if progress:
            print(f"check {result.id}: {result.status}", file=sys.stderr)

    return http_client.suite.run(session, progress=say)


class FileLauncher:
    """Asks the host to run the client (a line on stdout) and waits for its verdict file."""

    def __init__(self, runs: Path) -> None:
        self.runs = runs

    def __call__(self, run: str, url: str) -> http_client.ClientRun:
        print(f"RUN {run} {url}", flush=True)
        done = self.runs / f"{run}.json"
        end = time.monotonic() + http_client.RUN_TIMEOUT + 60
        while not done.exists():
            if time.monotonic() > end:
                return http_client.ClientRun(None, True, None, "the host never reported the run")
            time.sleep(0.1)
        time.sleep(0.05)
        info = json.loads(done.read_text())
        saved = self.runs / run / OUTPUT_NAME
        return http_client.ClientRun(
            info.get("exit_code"),
            bool(info.get("timed_out")),
            saved.read_bytes() if saved.is_file() else None,
            str(info.get("note", "")),
        )


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python3 -m socketlab.grader.checker")
    parser.add_argument("--kind", required=True, choices=sorted(KINDS))
    parser.add_argument("--target", help="HOST:PORT of the server to grade")
    parser.add_argument("--site", type=Path, help="http-static: the site map (JSON) to check")
    parser.add_argument(
        "--startup",
        type=float,
        default=STARTUP_GRACE,
        help="seconds to keep trying the first connection",
    )
    parser.add_argument("--listen", type=int, help="http-client: port of the recording server")
    parser.add_argument("--public", help="http-client: the host:port the client is told")
    parser.add_argument("--runs", type=Path, help="http-client: directory shared with the host")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    results: list[Result]
    if args.kind == "http-client":
        if args.listen is None or args.public is None or args.runs is None:
            print("checker: http-client needs --listen, --public and --runs", file=sys.stderr)
            return 2
        target = http_client.ClientTarget(
            ("0.0.0.0", args.listen), args.public, FileLauncher(args.runs)
        )
        results = grade_client(target)
        where = args.public
    else:
        if args.target is None:
            print(f"checker: {args.kind} needs --target HOST:PORT", file=sys.stderr)
            return 2
        address = parse_address(args.target)
        server: ServerTarget
        if args.kind == "http-static":
            if args.site is None:
                print("checker: http-static needs --site", file=sys.stderr)
                return 2
            server = HttpTarget(address, args.startup, SiteMap.from_json(args.site.read_text()))
        else:
            server = ServerTarget(address, args.startup)
        results = grade_server(args.kind, server)
        where = args.target
    report: dict[str, Any] = {
        "kind": args.kind,
        "target": where,
        "results": [r.as_dict() for r in results],
    }
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
