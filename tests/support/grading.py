"""Running the grader's command from integration tests, and checking the verdicts it gives.

Each test module grades all its programs at once, four at a time, from one module-scoped
fixture (a grading takes 5-15 s, mostly building and starting containers), then its tests
assert the verdict of every check, program by program.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.paths import REPO

SUBMISSIONS = REPO / "tests" / "grader_submissions"
STARTERS = REPO / "docs" / "labs" / "starters"
PARALLEL = 4  # gradings at once: most of a grading is waiting on Docker and on pauses
GRADE_TIMEOUT = 240.0


@dataclass
class Graded:
    name: str
    exit_code: int
    report: dict[str, Any] | None
    output: str

    def verdicts(self) -> dict[str, str]:
        assert self.report is not None, (
            f"{self.name}: no report (exit {self.exit_code})\n{self.output}"
        )
        return {c["id"]: c["status"] for c in self.report["checks"]}

    def explain(self) -> str:
        return f"{self.name} (exit {self.exit_code}):\n{self.output[-3000:]}"


def grade(name: str, *args: str) -> Graded:
    """Run ``python3 -m socketlab.grader ARGS --out <tmp>``; the report is read back."""
    with tempfile.TemporaryDirectory(prefix="slgrade-test-") as out:
        env = {**os.environ, "PYTHONPATH": str(REPO / "services")}
        try:
            done = subprocess.run(
                [sys.executable, "-m", "socketlab.grader", *args, "--out", out],
                capture_output=True, text=True, timeout=GRADE_TIMEOUT, env=env, cwd=REPO,
                check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            return Graded(name, -1, None, f"the grader took more than {GRADE_TIMEOUT} s: {exc}")
        path = Path(out) / "report.json"
        report = json.loads(path.read_text()) if path.exists() else None
        for name_ in ("junit.xml", "results.json"):
            if report is not None:
                assert (Path(out) / name_).is_file(), f"{name}: no {name_}"
        return Graded(name, done.returncode, report, done.stdout + done.stderr)


def lab_submission(name: str, where: Path, base: str) -> Path:
    """A copy of tests/grader_submissions/<name> whose Dockerfile starts FROM ``base``.

    The submissions wrap the lab's own images; the tests build those under their own prefix
    (SOCKETLAB_TEST_IMAGE_PREFIX), so the copy names the image this run built."""
    copy = where / name
    shutil.copytree(SUBMISSIONS / name, copy)
    dockerfile = copy / "Dockerfile"
    text = re.sub(r"(?m)^(ARG IMAGE=|FROM )socketlab/[a-z-]+:latest$", rf"\g<1>{base}",
                  dockerfile.read_text())  # fmt: skip
    dockerfile.write_text(text)
    return copy


def grade_all(jobs: Iterable[tuple[str, list[str]]]) -> dict[str, Graded]:
    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = {name: pool.submit(grade, name, *args) for name, args in jobs}
        return {name: future.result() for name, future in futures.items()}


def only_failing(graded: Graded, **statuses: str) -> None:
    """Every check passed except those named (ids with _ for -), which have these statuses."""
    got = graded.verdicts()
    want = dict.fromkeys(got, "passed")
    want.update({k.replace("_", "-"): v for k, v in statuses.items()})
    assert got == want, graded.explain()
    assert graded.report is not None
    must_failed = any(
        c["status"] != "passed" for c in graded.report["checks"] if c["level"] == "MUST"
    )
    assert graded.exit_code == (1 if must_failed else 0), graded.explain()
