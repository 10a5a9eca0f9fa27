"""The grader's command: build and cage a submission (or find a target), check it, report.

    PYTHONPATH=services python3 -m socketlab.grader --kind http-static --submission DIR
    PYTHONPATH=services python3 -m socketlab.grader --kind http-static --target threaded-web:8080
    PYTHONPATH=services python3 -m socketlab.grader --list

Exit status: 0 when every MUST check passed, 1 when one did not, 2 for bad usage (an unknown
kind, no such directory, a submission that does not build, Docker missing).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from . import docroot, report, sandbox
from .checker import OUTPUT_NAME, grade_server
from .checks import Result, must_passed
from .http_static import HttpTarget
from .kinds import KINDS, Kind, listing
from .target import ServerTarget, parse_address

PROG: Final = "python3 -m socketlab.grader"
REPO: Final = Path(__file__).resolve().parents[3]
LAB_SITE: Final = REPO / "services" / "www"  # what the lab's web servers serve
PORTS: Final = (20000, 30000)  # the grader picks the submission's port here, at random


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Grade a socket program: build it, run it caged on a lab network, check it "
        "over real sockets from another container, and report check by check.",
        epilog="exit status: 0 every MUST check passed, 1 one did not, 2 bad usage",
    )
    p.add_argument("--list", action="store_true", help="list the kinds and their checks")
    p.add_argument("--kind", help="what to grade: " + ", ".join(KINDS))
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--submission",
        type=Path,
        metavar="DIR",
        help="a directory with a Dockerfile, or server.py (client.py)",
    )
    where.add_argument("--target", metavar="HOST:PORT", help="grade a server already running")
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="where the reports go (default grades/<kind>-<time>/)",
    )
    p.add_argument(
        "--network",
        help="--target: the Docker network to join (default: the "
        "network of the compose project's service HOST)",
    )
    p.add_argument(
        "--project",
        default=None,
        help="--target: compose project (default $COMPOSE_PROJECT_NAME or socketlab)",
    )
    p.add_argument(
        "--root",
        type=Path,
        metavar="DIR",
        help=f"http-static --target: the directory it serves (default {LAB_SITE})",
    )
    p.add_argument(
        "--in-process",
        action="store_true",
        help="--target: check from this process, not from a container (for a server "
        "on this machine, e.g. --target 127.0.0.1:8000)",
    )
    p.add_argument("--checker-image", default=sandbox.CHECKER_IMAGE)
    p.add_argument(
        "--base-image",
        default=sandbox.BASE_IMAGE,
        help="what a submission without a Dockerfile runs on",
    )
    p.add_argument("--keep-image", action="store_true", help="keep the submission's image")
    p.add_argument(
        "--startup",
        type=float,
        default=15.0,
        help="seconds the first connection keeps being tried (default 15)",
    )
    return p


def fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.list:
        print(listing())
        return 0
    if args.kind is None:
        print(listing(), file=sys.stderr)
        return fail("--kind is required (one of " + ", ".join(KINDS) + ")")
    kind = KINDS.get(args.kind)
    if kind is None:
        return fail(f"unknown kind {args.kind!r}; the kinds are " + ", ".join(KINDS))
    if (args.submission is None) == (args.target is None):
        return fail(
            "give exactly one of --submission DIR (SUBMISSION=) and --target HOST:PORT (TARGET=)"
        )
    if args.submission is not None and not args.submission.is_dir():
        return fail(f"--submission {args.submission}: no such directory")
    if args.target is not None and kind.role == "client":
        return fail(
            f"{kind.name} grades a client you give with --submission; --target is for servers"
        )
    if args.in_process and args.target is None:
        return fail("--in-process grades a --target only: a submission always runs caged")
    if args.target is not None:
        try:
            parse_address(args.target)
        except ValueError as exc:
            return fail(f"--target {exc}")
    out: Path = args.out or Path("grades") / (
        f"{kind.name}-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    )
    started = time.monotonic()
    try:
        if args.in_process:
            results, about = grade_in_process(kind, args)
        else:
            if shutil.which("docker") is None:
                return fail("docker is not installed (or not on PATH)")
            if not sandbox.image_exists(args.checker_image):
                return fail(f"the checker image {args.checker_image} is missing: make image-grader")
            out.mkdir(parents=True, exist_ok=True)
            if args.submission is not None:
                results, about = grade_submission(kind, args, out)
            else:
                results, about = grade_target(kind, args, out)
    except (sandbox.UsageError, sandbox.DockerError, ValueError) as exc:
        return fail(str(exc))
    about["seconds"] = round(time.monotonic() - started, 1)
    graded = report.build(kind.name, results, **about)
    report.write(out, graded)
    print(report.table(graded))
    for note in about.get("notes", []):
        print(f"note: {note}")
    print(f"reports: {out}/ (report.json, junit.xml, results.json)")
    return 0 if must_passed(results) else 1


def grade_in_process(kind: Kind, args: argparse.Namespace) -> tuple[list[Result], dict[str, Any]]:
    address = parse_address(args.target)
    target: ServerTarget
    if kind.name == "http-static":
        target = HttpTarget(address, args.startup, docroot.scan(args.root or LAB_SITE))
    else:
        target = ServerTarget(address, args.startup)
    return grade_server(kind.name, target), {"target": args.target, "notes": []}


def _results(verdict: dict[str, Any]) -> list[Result]:
    return [Result.from_dict(r) for r in verdict["results"]]


def grade_target(
    kind: Kind, args: argparse.Namespace, out: Path
) -> tuple[list[Result], dict[str, Any]]:
    host, _ = parse_address(args.target)
    project = args.project or os.environ.get("COMPOSE_PROJECT_NAME") or "socketlab"
    network = args.network or sandbox.compose_network(project, host)
    checker_args = ["--kind", kind.name, "--target", args.target, "--startup", str(args.startup)]
    with tempfile.TemporaryDirectory(prefix="slgrade-") as tmp, sandbox.run_context() as run:
        mounts = []
        if kind.name == "http-static":
            site = docroot.scan(args.root or LAB_SITE)
            (Path(tmp) / "site.json").write_text(site.to_json())
            Path(tmp).chmod(0o755)
            (Path(tmp) / "site.json").chmod(0o644)
            mounts.append(f"{tmp}:/grader:ro")
            checker_args += ["--site", "/grader/site.json"]
        verdict = sandbox.run_checker(run, args.checker_image, network, checker_args,
                                      mounts=mounts, log=out / "checker.log")  # fmt: skip
    return _results(verdict), {"target": args.target, "network": network, "notes": []}


def grade_submission(
    kind: Kind, args: argparse.Namespace, out: Path
) -> tuple[list[Result], dict[str, Any]]:
    submission: Path = args.submission.resolve()
    with tempfile.TemporaryDirectory(prefix="slgrade-") as tmp_name, \
            sandbox.run_context(args.keep_image) as run:  # fmt: skip
        tmp = Path(tmp_name)
        tmp.chmod(0o755)
        run.image = f"{sandbox.SUBMISSION_IMAGE}:{run.id}"
        print(f"grade: building {submission} ...", file=sys.stderr)
        sandbox.build(kind, submission, run.image, out / "build.log", args.base_image)
        run.create_network()
        about: dict[str, Any] = {"submission": str(args.submission), "notes": []}
        if kind.role == "client":
            results = _grade_client(kind, args, run, tmp, out)
        else:
            results = _grade_server(kind, args, run, tmp, out, about)
        return results, about


def _grade_server(
    kind: Kind,
    args: argparse.Namespace,
    run: sandbox.Run,
    tmp: Path,
    out: Path,
    about: dict[str, Any],
) -> list[Result]:
    port = PORTS[0] + secrets.randbelow(PORTS[1] - PORTS[0])
    _, workdir = sandbox.command_of(run.image)
    env = {"PORT": str(port)}
    mounts: list[str] = []
    checker_args = ["--kind", kind.name, "--target", f"submission:{port}",
                    "--startup", str(args.startup)]  # fmt: skip
    checker_mounts: list[str] = []
    if kind.name == "http-static":
        site_dir = out / "site"
        if site_dir.exists():
            shutil.rmtree(site_dir)
        site = docroot.generate(site_dir)
        assert site.secret_name is not None
        (tmp / "site.json").write_text(site.to_json())
        (tmp / "site.json").chmod(0o644)
        base = workdir.rstrip("/")
        env["ROOT"] = f"{sandbox.SITE_MOUNT}/{docroot.ROOT_DIR}"
        mounts += [
            f"{site_dir.resolve()}:{sandbox.SITE_MOUNT}:ro",
            f"{(site_dir / docroot.ROOT_DIR).resolve()}:{base}/static:ro",
            f"{(site_dir / site.secret_name).resolve()}:{base}/{site.secret_name}:ro",
        ]
        checker_mounts.append(f"{tmp}:/grader:ro")
        checker_args += ["--site", "/grader/site.json"]
    if kind.name == "udp-chat":
        env["IDLE_TIMEOUT"] = sandbox.UDP_IDLE_TIMEOUT
    container = sandbox.start_submission(run, run.image, env=env, mounts=mounts,
                                         args=[str(port)])  # fmt: skip
    print(f"grade: {container} was told port {port}; checking ...", file=sys.stderr)
    time.sleep(0.5)
    if not sandbox.container_state(container).startswith("running"):  # no point in waiting
        checker_args[checker_args.index("--startup") + 1] = "1"
    try:
        verdict = sandbox.run_checker(run, args.checker_image, run.network, checker_args,
                                      mounts=checker_mounts, log=out / "checker.log")  # fmt: skip
    finally:
        state = sandbox.container_state(container)
        sandbox.save_logs(container, out / "submission.log")
    if not state.startswith("running"):
        about["notes"].append(
            f"the submission is not running any more ({state}); its output: {out}/submission.log"
        )
    about["submission_state"] = state
    return _results(verdict)


def _grade_client(
    kind: Kind, args: argparse.Namespace, run: sandbox.Run, tmp: Path, out: Path
) -> list[Result]:
    port = PORTS[0] + secrets.randbelow(PORTS[1] - PORTS[0])
    runs = tmp / "runs"
    runs.mkdir()
    runs.chmod(0o755)

    def on_line(line: str) -> None:
        _, name, url = line.split(" ", 2)
        print(f"grade: running the client with {url}", file=sys.stderr)
        done = sandbox.run_client(run, run.image, name, url, runs / name,
                                  out / f"client-{name}.log")  # fmt: skip
        if done.saved is not None:
            (out / f"client-{name}-{OUTPUT_NAME}").write_bytes(done.saved)
        info = {"exit_code": done.exit_code, "timed_out": done.timed_out, "note": done.note}
        (runs / f"{name}.json").write_text(json.dumps(info))

    verdict = sandbox.run_checker(
        run, args.checker_image, run.network,
        ["--kind", kind.name, "--listen", str(port), "--public", f"grader:{port}", "--runs",
         "/runs"],
        mounts=[f"{runs}:/runs:ro"], log=out / "checker.log", on_line=on_line,
    )  # fmt: skip
    return _results(verdict)
