"""A page load's process imports only what a page load needs (issue 17: start to exit <= 50 ms).

The budget is checked by what is imported, never by a timing: ``python3 -m socketlab.browser
URL`` is a short process whose start-up is most of it, so each module below costs every run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

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
    "json",  # and json.decoder, json.scanner: socketlab.jsontext writes, /whoami alone reads
    "selectors",  # browser.loop polls its sockets itself
    "heapq",  # _heapq: the same functions (browser.loop)
    "socketlab.browser.scenario",
    "socketlab.browser.har",
    "socketlab.browser.liveness",
]

# The modules are reported by an atexit handler: the browser's __main__ ends the process with
# os._exit after running those handlers (cli.exit_fast), so code after run_module never runs;
# the exit status is the process's own.
PROBE = """
import atexit, sys
sys.argv = ["socketlab.browser"] + sys.argv[1:]
atexit.register(lambda: print("modules:", *sorted(sys.modules), file=sys.stderr))
import runpy
runpy.run_module("socketlab.browser", run_name="__main__")
"""


# What a plain --json page load must not import either: its ledger lines go to stderr without
# logging (socketlab.ledger), and logging is imported at the first record the level lets through
# (browser.cli's log). These come with logging; the table's ledger goes through it (to stdout).
# re, enum and threading come with logging too; without it, a page load needs none of them
# (urls, cssscan, htmlscan and the HTTP core read text with str and bytes methods).
LOGGING = [
    *("logging", "traceback", "linecache", "tokenize", "textwrap", "string", "weakref"),
    *("re", "enum"),
    "threading",  # browser.threads: a flag and daemon threads on _thread
]


def _modules_of_a_run(*args: str) -> tuple[int, set[str]]:
    done, modules = _probe(*args)
    return done.returncode, modules


def _probe(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
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
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("modules: "), done.stderr[-2000:]
    return done, set(last.split()[1:])


@pytest.mark.parametrize("flags", [[], ["--json"]], ids=["table", "json"])
def test_a_page_load_imports_nothing_heavy(flags: list[str]) -> None:
    with threaded_web() as base:  # the lab's page with its stylesheets, scripts and images
        code, modules = _modules_of_a_run(*flags, "--total-timeout", "30", f"{base}/index.html")
    assert code == 0
    assert {"socketlab.browser.browser", "socketlab.browser.report"} <= modules  # it loaded
    assert sorted(m for m in HEAVY if m in modules) == []


def test_a_json_page_load_imports_no_logging() -> None:
    with threaded_web() as base:
        done, modules = _probe("--json", "--total-timeout", "30", f"{base}/index.html")
    assert done.returncode == 0
    assert "socketlab.browser.report" in modules  # it loaded
    assert sorted(m for m in LOGGING if m in modules) == []
    assert " INFO ledger {" in done.stderr  # and its ledger was written all the same


LOG_LINE = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (["--heartbeat", "{missing}/beat"], "WARNING socketlab.browser cannot write heartbeat "),
        (["--har", "{missing}/page.har"], "ERROR socketlab.browser cannot write HAR "),
        (["--log-level", "info"], "INFO socketlab.browser visit 1/1: 1 pages, "),
    ],
    ids=["warning", "error", "info"],
)
def test_a_json_run_that_logs_imports_logging_then(
    flags: list[str], line: str, tmp_path: Path
) -> None:
    # The record goes where logs.setup sends every record, stdout, in logging's format.
    flags = [f.format(missing=tmp_path / "missing") for f in flags]
    with threaded_web() as base:
        done, modules = _probe("--json", *flags, "--total-timeout", "30", f"{base}/index.html")
    assert "logging" in modules
    assert re.search(LOG_LINE + re.escape(line), done.stdout, re.MULTILINE), done.stdout
    (page,) = [x for x in done.stdout.splitlines() if x.startswith("{")]
    assert json.loads(page)["ok"]  # the page's JSON is there too


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
    # line per connection (stderr, written by socketlab.ledger itself) must all be out by then.
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
