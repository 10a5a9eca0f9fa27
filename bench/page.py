"""The browser against ``wget --page-requisites``: one page with 30 resources, wall time.

The page (:func:`write_site`) has 9 stylesheets, 10 scripts, 10 images and an icon, each a few
KiB. Both clients are run as a person runs them, a fresh process each time, and timed from
start to exit; they alternate, so drift on a busy machine touches both alike. The page is served
by nginx, so that the clients are what is measured.

Two times are kept for each run. *Page load*: from the first request's arrival to the last
response's end, as nginx logged them -- the same clock and the same resolution (1 ms) for both
clients, and what "loading the page" means. *Process*: from the start of the process to its
exit, what a person at a terminal waits, which adds the interpreter's start-up for the browser.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from . import machine
from .parsing import median, nginx_window_ms
from .servers import PYTHON, REPO, SERVICES, Running

STYLESHEETS: Final = 9
SCRIPTS: Final = 10
IMAGES: Final = 10
RESOURCES: Final = STYLESHEETS + SCRIPTS + IMAGES + 1  # + the icon
PAGE: Final = "/page30/index.html"
CLIENT_TIMEOUT: Final = 60.0
# As in bench.run: wait for a quiet machine before each pair of runs.
QUIET_BUSY: Final = 0.25
QUIET_SLACK: Final = 0.3
QUIET_WAIT: Final = 5.0
QUIET_BUDGET: Final = 30.0


def write_site(root: Path) -> None:
    """The 30-resource page under ``root/page30``."""
    site = root / "page30"
    for sub in ("css", "js", "img"):
        (site / sub).mkdir(parents=True, exist_ok=True)
    head = ['<link rel="icon" href="img/icon.png">']
    body = []
    for i in range(STYLESHEETS):
        (site / "css" / f"s{i}.css").write_text(
            "".join(f".c{i}-{j} {{ margin: {j}px; color: #{j:06x}; }}\n" for j in range(60))
        )
        head.append(f'<link rel="stylesheet" href="css/s{i}.css">')
    for i in range(SCRIPTS):
        (site / "js" / f"a{i}.js").write_text(
            "".join(f"function f{i}_{j}(x) {{ return x * {j} + {i}; }}\n" for j in range(60))
        )
        body.append(f'<script src="js/a{i}.js"></script>')
    for i in range(IMAGES):
        (site / "img" / f"p{i}.png").write_bytes(bytes((i * 7 + j) % 256 for j in range(4096)))
        body.append(f'<img src="img/p{i}.png" alt="picture {i}">')
    (site / "img" / "icon.png").write_bytes(bytes(range(256)) * 4)
    (site / "index.html").write_text(
        "<!doctype html>\n<html><head><meta charset=utf-8><title>30 resources</title>\n"
        + "\n".join(head)
        + "\n</head><body>\n<h1>A page with 30 resources</h1>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


@dataclass
class ClientTimes:
    """Seconds per run for one client: process wall time and the page load as nginx saw it."""

    name: str
    runs: list[float]
    loads: list[float]
    requests: int

    def summary(self) -> dict[str, float | int | None]:
        return {
            "page_load_ms": _ms(median(self.loads)),
            "page_load_best_ms": _ms(min(self.loads) if self.loads else None),
            "process_ms": _ms(median(self.runs)),
            "process_best_ms": _ms(min(self.runs) if self.runs else None),
            "requests": self.requests,
            "errors": 0,
        }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _browser(url: str) -> float:
    env = dict(os.environ, PYTHONPATH=str(SERVICES))
    start = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-m", "socketlab.browser", "--json", url],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
        check=False,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"browser failed ({done.returncode}): {done.stderr[-2000:]}")
    page = json.loads(done.stdout.splitlines()[0])
    if page["summary"]["failed"]:
        raise RuntimeError(f"the browser could not load every resource: {page['summary']}")
    return wall


def _wget(url: str) -> float:
    target = Path(tempfile.mkdtemp(prefix="bench-wget-"))
    try:
        start = time.perf_counter()
        done = subprocess.run(
            [
                "wget",
                "--page-requisites",
                "--no-verbose",
                "-e",
                "robots=off",
                "--directory-prefix",
                str(target),
                url,
            ],
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT,
            check=False,
        )
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"wget failed ({done.returncode}): {done.stderr[-2000:]}")
        return wall
    finally:
        shutil.rmtree(target, ignore_errors=True)


def run(server: Running, access_log: Path, repeats: int) -> tuple[ClientTimes, ClientTimes]:
    """Both clients ``repeats`` times each, alternating, after one untimed run of each."""
    url = server.url(PAGE)
    _browser(url)
    _wget(url)
    ours = ClientTimes("socketlab browser", [], [], 0)
    theirs = ClientTimes("wget --page-requisites", [], [], 0)
    gate = machine.Quiet(QUIET_BUSY, QUIET_SLACK, QUIET_WAIT, QUIET_BUDGET)
    for _ in range(repeats):
        gate.wait()
        for times, client in ((ours, _browser), (theirs, _wget)):
            offset = access_log.stat().st_size
            wall = client(url)
            time.sleep(0.05)  # nginx writes a line after the response: let the last one land
            with open(access_log) as handle:
                handle.seek(offset)
                window = nginx_window_ms(handle.read())
            if window is None:
                raise RuntimeError(f"nginx logged no request of {times.name}")
            times.runs.append(wall)
            times.loads.append(window[0] / 1000)
            times.requests = window[1]
    return ours, theirs
