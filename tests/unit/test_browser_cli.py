"""The command line and scripted visits: exit statuses, --json, --har, scenarios, repeats."""

from __future__ import annotations

import html
import json
import logging
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from socketlab import logs
from socketlab.browser import cli, liveness, scenario
from socketlab.browser.cli import main
from tests.support.inprocess_servers import threaded_web
from tests.support.paths import REPO
from tests.support.processes import run_service, started_service
from tests.support.scripted_server import Answer, ScriptedServer, Seen, http_response, scripted
from tests.support.waiting import wait_until

FAST = ["--connect-timeout", "2", "--read-timeout", "3", "--total-timeout", "10"]

REGISTER_FORM = b"""<!doctype html><title>Register</title><link rel=icon href="data:,">
<form method="post" action="/register.py"><input name="username"><input name="pass"></form>"""


def mini_site(request: Seen) -> Answer:
    """Pages like multiprocess-web's: a form that echoes what it received, escaped."""
    page = [("Content-Type", "text/html; charset=utf-8")]
    if request.target == "/":
        return Answer(http_response(200, b"<title>Home</title><p>Welcome home</p>", page))
    if request.target == "/register.py" and request.method == "GET":
        return Answer(http_response(200, REGISTER_FORM, page))
    if request.target == "/register.py" and request.method == "POST":
        form = parse_qs(request.body.decode())
        name = html.escape(form.get("username", ["?"])[0])
        body = f"<title>Registered</title><p>Registered {name}</p>".encode()
        return Answer(http_response(200, body, page))
    if request.target.startswith("/get"):
        return Answer(
            http_response(
                200,
                json.dumps({"target": request.target}).encode(),
                [("Content-Type", "application/json")],
            )
        )
    return Answer(http_response(404, b"<title>404</title>", page, reason="Not Found"))


@pytest.fixture
def site() -> Iterator[ScriptedServer]:
    with scripted(mini_site) as server:
        yield server


def write_scenario(tmp_path: Path, text: str, name: str = "visit.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


VISIT = """
name = "mini"
base = "http://never-used.invalid:1/"

[[pages]]
url = "/"
expect_status = 200
expect_text = "Welcome home"

[[pages]]
name = "register form"
url = "/register.py"

[[pages]]
name = "register"
url = "/register.py"
method = "POST"
form = { username = "<visitor>", pass = "s3cret" }
expect_text = ["Registered <visitor>"]

[[pages]]
url = "/get"
query = { q = "socket lab", n = 1 }
expect_text = ["q=socket+lab&n=1"]

[[pages]]
url = "/missing"
expect_status = 404
"""


def test_scenario_passes(
    tmp_path: Path, site: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_scenario(tmp_path, VISIT)
    status = main([*FAST, "--base", site.base, "--scenario", path])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "visit 1/1: 5 pages" in out
    assert "5/5 pages loaded, 5/5 expectations held" in out
    post = next(s for s in site.seen if s.method == "POST")
    assert post.body == b"username=%3Cvisitor%3E&pass=s3cret"
    assert post.headers["content-type"] == "application/x-www-form-urlencoded"
    assert any(s.target == "/get?q=socket+lab&n=1" for s in site.seen)
    assert "[mini: register] POST" in out


def test_scenario_expectation_failure_exits_1(
    tmp_path: Path, site: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_scenario(
        tmp_path,
        """
[[pages]]
url = "/"
expect_status = [201, 202]
expect_text = ["Welcome home", "not there"]
""",
    )
    status = main([*FAST, "--base", site.base, "--scenario", path])
    out = capsys.readouterr().out
    assert status == 1
    assert "FAIL status 201 or 202: got 200" in out
    assert "ok   text 'Welcome home'" in out
    assert "FAIL text 'not there': not on the page" in out


def test_json_lines_and_har(
    tmp_path: Path, site: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    har_path = tmp_path / "out.har"
    status = main(
        [*FAST, "--json", "--har", str(har_path), site.base + "/", site.base + "/missing"]
    )
    lines = capsys.readouterr().out.splitlines()
    assert status == 1  # the second page is a 404
    docs = [json.loads(line) for line in lines]
    assert [d["status"] for d in docs] == [200, 404]
    assert [d["ok"] for d in docs] == [True, False]
    assert docs[0]["entries"][0]["local_port"] == docs[0]["connections"][0]["local_port"]
    assert docs[0]["summary"]["requests"] == 2  # the page and /favicon.ico
    archive = json.loads(har_path.read_text())
    assert [p["id"] for p in archive["log"]["pages"]] == ["page_1", "page_2"]


def test_repeat_interval_and_heartbeat(
    tmp_path: Path, site: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    beat = tmp_path / "beat"
    started = time.monotonic()
    status = main(
        [*FAST, "--repeat", "3", "--interval", "0.2", "--heartbeat", str(beat), site.base + "/"]
    )
    elapsed = time.monotonic() - started
    out = capsys.readouterr().out
    assert status == 0
    assert [line.split(":")[0] for line in out.splitlines() if line.startswith("visit ")] == [
        "visit 1/3",
        "visit 2/3",
        "visit 3/3",
    ]
    assert elapsed >= 0.4
    assert liveness.main([str(beat), "60"]) == 0
    assert "visit 3/3" in beat.read_text()
    # Each visit is a new visitor: three connections for three visits.
    assert site.connections == 3


def test_scenario_directory(
    tmp_path: Path, site: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    write_scenario(tmp_path, '[[pages]]\nurl = "/"\n', "b.toml")
    write_scenario(tmp_path, '[[pages]]\nurl = "/register.py"\n', "a.toml")
    assert main([*FAST, "--base", site.base, "--scenario", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.index("[a: GET /register.py]") < out.index("[b: GET /]")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give at least one URL or --scenario FILE"),
        (["https://example.test/"], "only http:// URLs are followed"),
        (["http://h/a b"], "URL contains a space"),
        (["http://h/a\r\nX: y"], "URL contains CR"),
        (["--repeat", "0", "http://h/"], "'repeat' expects an integer from 1"),
        (["--interval", "soon", "http://h/"], "'interval' expects a number"),
        (["--base", "ftp://x/", "http://h/"], "'base' expects an http:// URL"),
        (["--scenario", "/no/such/file.toml"], "scenario file not found"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert exit_status(argv) == 2
    assert message in capsys.readouterr().err


def exit_status(argv: list[str]) -> int:
    """main()'s status, whether it returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pages = []", "'pages' expects at least one [[pages]] table"),
        ("[[pages]]\nurl = '/'\nexpect_satus = 200", "unknown key 'expect_satus'"),
        ("colour = 1\n[[pages]]\nurl = '/'", "unknown key 'colour'"),
        ("[[pages]]\nmethod = 'GET'", "'url' expects a URL or a path"),
        ("[[pages]]\nurl = '/a b'", "'url' URL contains a space"),
        ("[[pages]]\nurl = '/'\nmethod = 'DELETE'", "'method' expects one of GET, HEAD, POST"),
        ("[[pages]]\nurl = '/'\nform = { a = '1' }", "'form' needs method = \"POST\""),
        ("[[pages]]\nurl = '/'\nmethod = 'POST'\nform = { a = [1] }", "'form.a' expects"),
        ("[[pages]]\nurl = '/'\nexpect_status = 'ok'", "'expect_status' expects a status"),
        ("[[pages]]\nurl = '/'\nexpect_status = 99", "'expect_status' expects a status"),
        ("[[pages]]\nurl = '/'\nexpect_text = 3", "'expect_text' expects a string"),
        ("base = 'https://x/'\n[[pages]]\nurl = '/'", "'base' only http://"),
        ("probe_whoami = 'yes'\n[[pages]]\nurl = '/'", "'probe_whoami' expects true or false"),
        ("[[pages]\nurl = '/'", "not valid TOML"),
        ("[[pages]]\nurl = '/'", "not an absolute URL"),  # no base anywhere
    ],
)
def test_bad_scenarios_exit_2(
    tmp_path: Path, text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_scenario(tmp_path, text)
    assert main(["--scenario", path]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1  # one line


def test_shipped_scenarios_parse() -> None:
    """configs/browser/*.toml are valid, and every page URL joins to its base."""
    scenarios = scenario.load_all([str(REPO / "configs" / "browser")])
    assert {s.name for s in scenarios} >= {"threaded-web", "multiprocess-web"}
    for item in scenarios:
        assert item.base.startswith("http://")
        for step in item.steps:
            scenario.step_url(item, step)
    mp = next(s for s in scenarios if s.name == "multiprocess-web")
    post = next(step for step in mp.steps if step.method == "POST")
    assert dict(post.form or ()).keys() == {"username", "pass"}


def test_shipped_threaded_web_scenario_against_threaded_web(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with threaded_web() as base:
        status = main(
            [
                *FAST,
                "--base",
                base,
                "--scenario",
                str(REPO / "configs" / "browser" / "threaded-web.toml"),
            ]
        )
    out = capsys.readouterr().out
    assert status == 0, out
    assert "server saw 127.0.0.1:" in out


def run_module(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return run_service("browser", *args, env=env, timeout=timeout)


def test_python_m_entry_point(site: ScriptedServer) -> None:
    ok = run_module(*FAST, site.base + "/")
    assert ok.returncode == 0, ok.stderr
    assert "result: loaded" in ok.stdout
    bad = run_module("http://h/\x01")
    assert bad.returncode == 2
    assert "control character 0x01" in bad.stderr
    usage = run_module("--help")
    assert usage.returncode == 0
    assert "SOCKETLAB_REPEAT" in usage.stdout


def test_environment_variables_configure(site: ScriptedServer) -> None:
    env = {"SOCKETLAB_JSON": "true", "SOCKETLAB_SUBRESOURCES": "false"}
    done = run_module(site.base + "/", env=env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["summary"]["requests"] == 1


def test_sigterm_stops_a_long_schedule(site: ScriptedServer, tmp_path: Path) -> None:
    """As PID 1 in its container the browser gets SIGTERM from `docker stop`: it finishes the
    page in flight and exits at once instead of sleeping out its interval."""
    beat = tmp_path / "beat"
    args = [*FAST, "--repeat", "1000", "--interval", "60", "--heartbeat", str(beat)]
    with started_service("browser", *args, site.base + "/", stderr=subprocess.PIPE) as proc:
        wait_until(beat.exists, 15, "no visit finished", interval=0.05)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    assert time.monotonic() - started < 5
    assert proc.returncode == 0
    assert "visit 1/1000" in out
    assert "visit 2/1000" not in out


def test_sigterm_ends_a_page_in_flight(tmp_path: Path) -> None:
    """SIGTERM while a server takes its time: the request in flight is cancelled at once
    (the watcher shuts its socket down) rather than waiting out a 20 s read timeout."""
    with (
        scripted(lambda _: Answer(http_response(200, b"late"), delay=30)) as server,
        started_service(
            "browser", "--read-timeout", "20", "--json", server.base + "/", stderr=subprocess.PIPE
        ) as proc,
    ):
        wait_until(lambda: server.seen, 15, "the request never arrived", interval=0.05)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert time.monotonic() - started < 3, err
    assert proc.returncode == 1
    doc = json.loads(out)
    assert doc["entries"][0]["error"] == "cancelled: the browser is stopping"


def test_heartbeat_health(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    beat = tmp_path / "beat"
    assert liveness.main([str(beat), "10"]) == 1
    assert "no page finished yet" in capsys.readouterr().err
    liveness.beat(beat, "visit 1/1: ok")
    assert liveness.main([str(beat), "10"]) == 0
    old = time.time() - 100
    os.utime(beat, (old, old))
    assert liveness.main([str(beat), "10"]) == 1
    assert "last page or visit finished 100 s ago" in capsys.readouterr().err
    assert liveness.main([str(beat)]) == 2
    assert liveness.main([str(beat), "x"]) == 2


def test_an_unexpected_failure_is_logged_with_its_traceback_under_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # With --json, logging is set up at the first record that passes the level (cli.log): an
    # exception in a visit must still come out as logging's ERROR line and the traceback.
    def broken(_run: object, _number: int) -> list[object]:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli.Run, "visit", broken)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        assert main(["--json", "http://127.0.0.1:9/"]) == 1
        logs.ACCESS.flush()
    finally:
        logs.ACCESS._handler = None
        root.handlers[:], root.level = saved
    out = capsys.readouterr().out
    assert re.search(
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ERROR socketlab.browser visit 1 failed "
        r"unexpectedly\nTraceback \(most recent call last\):\n",
        out,
        re.MULTILINE,
    ), out
    assert out.endswith("RuntimeError: boom\n")
