"""A page load's process imports only what a page load needs (issue 17: start to exit <= 50 ms).

The budget is checked by what is imported, never by a timing: ``python3 -m socketlab.browser
URL`` is a short process whose start-up is most of it, so each module below costs every run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.inprocess_servers import threaded_web
from tests.support.paths import REPO

# What a plain page load (URL, --json or the table) must not import; the modules that need them
# import them where they are used.
HEAVY = [
    "typing",  # for the type checker only (TYPE_CHECKING = False, see socketlab.structs)
    "dataclasses",  # and inspect, ast, dis, tokenize: structs.record instead
    "inspect",
    "ast",
    "asyncio",  # the browser's loop is its own (browser.loop)
    "email",
    "http",  # http.HTTPStatus: the servers' reason phrases only (http.writer)
    "http.client",
    "urllib.request",
    "ssl",
    "tomllib",  # --scenario and config files only
    "difflib",  # a misspelt config key only
    "tempfile",  # --har only
    "pathlib",  # config files, --scenario, --har, --heartbeat only
    "datetime",  # ledger.stamp uses time.gmtime
    "zipfile",
    "html.parser",  # browser.htmlscan reads the pages html.parser would (it, for the others)
    "_markupbase",
    "signal",  # _signal: the same handlers without signal.py's enums (browser.cli, logs)
    "socket",  # _socket: the same sockets without socket.py's enums (browser.transport)
    "urllib.parse",  # urls reads plain URLs and references itself (urllib for the others)
    "ipaddress",  # urllib.parse imports it; urls.is_ip_address reads IPv4 itself
    "argparse",  # a plain command line is read by settings.scan_plain; argparse for the rest
    "shutil",  # argparse imports it (and bz2, lzma) for the terminal width: settings gives one
    "bz2",
    "lzma",
    "socketlab.browser.scenario",
    "socketlab.browser.har",
    "socketlab.browser.liveness",
]

# The modules are reported by an atexit handler: the browser's __main__ ends the process with
# os._exit after running those handlers (cli.exit_fast), so code after run_module never runs;
# the exit status is the process's own.
PROBE = """
import atexit, json, sys
sys.argv = ["socketlab.browser"] + sys.argv[1:]
atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))
import runpy
runpy.run_module("socketlab.browser", run_name="__main__")
"""


def _modules_of_a_run(*args: str) -> tuple[int, set[str]]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "services"))
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    modules = json.loads(done.stderr.strip().splitlines()[-1])
    return done.returncode, set(modules)


@pytest.mark.parametrize("flags", [[], ["--json"]], ids=["table", "json"])
def test_a_page_load_imports_nothing_heavy(flags: list[str]) -> None:
    with threaded_web() as base:  # the lab's page with its stylesheets, scripts and images
        code, modules = _modules_of_a_run(*flags, "--total-timeout", "30", f"{base}/index.html")
    assert code == 0
    assert {"socketlab.browser.browser", "socketlab.browser.report"} <= modules  # it loaded
    assert sorted(m for m in HEAVY if m in modules) == []


def test_the_probe_sees_what_a_run_imports() -> None:
    # --scenario imports the scenario module (and tomllib) before it reads the file: the probe
    # reports them, so the test above would see a heavy import if a page load made one.
    code, modules = _modules_of_a_run("--scenario", str(REPO / "no-such-scenario.toml"))
    assert code == 2
    assert {"socketlab.browser.scenario", "tomllib"} <= modules


def _browser_process(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "services"))
    return subprocess.run(
        [sys.executable, "-m", "socketlab.browser", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=False,
    )


def test_the_fast_exit_loses_no_output() -> None:
    # cli.exit_fast skips the interpreter's teardown: the page's JSON (stdout) and the ledger's
    # line per connection (stderr, through logging's handler) must all be out by then.
    with threaded_web() as base:
        done = _browser_process("--json", "--total-timeout", "30", f"{base}/index.html")
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    page = json.loads(line)
    assert page["ok"]
    assert len(page["entries"]) > 1  # the page and its resources
    ledger = [json.loads(x.split(" ledger ", 1)[1]) for x in done.stderr.splitlines()]
    assert {x["ledger"] for x in ledger} == {"tcp"}
    assert sum(x["requests"] for x in ledger) == len(page["entries"])


def test_the_fast_exit_keeps_the_exit_status() -> None:
    done = _browser_process("--json")  # no URL: a usage error, which main returns as 2
    assert done.returncode == 2
    assert "give at least one URL" in done.stderr
