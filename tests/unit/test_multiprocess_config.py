"""multiprocess-web's config file, environment and flags: one table, one-line errors, exit 2."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from socketlab import settings
from socketlab.multiprocess_web import PROG, SETTINGS
from socketlab.wsgi.apploader import AppLoadError, load_app
from tests.support.multiprocess import START_TIMEOUT, config_values, toml_text
from tests.support.paths import REPO
from tests.support.processes import children_of, live_children, run_service, start_service
from tests.support.raw_http import get
from tests.support.waiting import wait_until

CONFIG = REPO / "configs" / "multiprocess-web.toml"
RUN_TIMEOUT = 20.0  # seconds for a server that must refuse to start


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_service("multiprocess_web", *args, env=env, timeout=RUN_TIMEOUT)


def write_config(tmp_path: Path, values: dict[str, Any]) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(toml_text(values))
    return path


# --- the shipped file ---------------------------------------------------------------------------


def test_shipped_config_sets_every_key_with_a_comment_above_it() -> None:
    args = settings.load(
        SETTINGS,
        ["--config", str(CONFIG)],
        prog=PROG,
        description="",
        config_flag=True,
        environ={},
    )
    assert args.mode == "prefork"
    assert args.app == "socketlab.labapp:app"
    lines = CONFIG.read_text().splitlines()
    for setting in SETTINGS:
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{setting.name} = "))
        assert lines[index - 1].startswith("#"), f"{setting.name} has no comment above it"


def test_shipped_config_values_are_the_documented_defaults() -> None:
    args = settings.load(
        SETTINGS,
        ["--config", str(CONFIG)],
        prog=PROG,
        description="",
        config_flag=True,
        environ={},
    )
    for setting in SETTINGS:
        if setting.name == "host":
            continue  # loopback in the file; the container passes --host 0.0.0.0
        assert getattr(args, setting.name) == setting.default, setting.name


# --- bad values: one line, exit 2 -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"prot": 8888}, r"bad.toml:\d+: unknown key 'prot' \(did you mean 'port'\?\)"),
        ({"workers": "four"}, r"'workers' expects an integer from 1 to 64, got 'four'"),
        ({"workers": 0}, r"'workers' expects an integer from 1 to 64, got 0"),
        ({"mode": "threads"}, r"'mode' expects one of 'fork', 'prefork', got 'threads'"),
        ({"timeout": "30s"}, r"'timeout' expects a number"),
        ({"app": "no colon here"}, r"'app' expects 'module:callable'"),
        ({"app": "__import__('os').system('id'):x"}, r"'app' expects 'module:callable'"),
        ({"app_path": "apps"}, r"'app_path' expects a list of strings"),
        ({"port": 70000}, r"'port' expects an integer from 0 to 65535"),
    ],
)
def test_bad_value_is_one_line_naming_the_key(
    tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    path = write_config(tmp_path, config_values(**change))
    result = run(["--config", str(path)])
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert re.search(expected, result.stderr), result.stderr


def test_a_file_may_set_any_subset_of_keys(tmp_path: Path) -> None:
    path = tmp_path / "short.toml"
    path.write_text('# only what differs from the defaults\nmode = "fork"\nmax_children = 3\n')
    args = settings.load(
        SETTINGS, ["--config", str(path)], prog=PROG, description="", config_flag=True, environ={}
    )
    assert (args.mode, args.max_children) == ("fork", 3)
    for setting in SETTINGS:
        if setting.name not in ("mode", "max_children"):
            assert getattr(args, setting.name) == setting.default, setting.name


def test_a_lone_bad_port_is_a_type_error_not_a_missing_key(tmp_path: Path) -> None:
    path = tmp_path / "port.toml"
    path.write_text('port = "abc"\n')
    result = run(["--config", str(path)])
    assert result.returncode == 2
    assert result.stderr == (
        f"{PROG}: error: {path}:1: 'port' expects an integer from 0 to 65535, got 'abc'\n"
    )


def test_every_problem_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "many.toml"
    path.write_text(
        '# three mistakes\nworker = 4\nmode = "threads"\n\ntimeout = "30s"\nport = 8080\n'
    )
    result = run(["--config", str(path)])
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"{PROG}: error: {path}:2: unknown key 'worker' (did you mean 'workers'?)",
        f"{PROG}: error: {path}:3: 'mode' expects one of 'fork', 'prefork', got 'threads'",
        f"{PROG}: error: {path}:5: 'timeout' expects a number from 1 to 3600, got '30s'",
    ]


def test_config_is_data_never_code(tmp_path: Path) -> None:
    path = tmp_path / "seed-style.conf"
    marker = tmp_path / "pwned"
    path.write_text(f'{{"port": __import__("pathlib").Path("{marker}").touch()}}\n')
    result = run(["--config", str(path)])
    assert result.returncode == 2
    assert "not valid TOML" in result.stderr
    assert not marker.exists()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"app": "no_such_module_here:app"}, "no module named 'no_such_module_here'"),
        ({"app": "socketlab.labapp:nothing"}, "socketlab.labapp has no attribute 'nothing'"),
        ({"app": "socketlab.labapp:SERVICE_X"}, "has no attribute"),
        ({"app": "socketlab.labapp.site:SERVICE"}, "is a str, not callable"),
        (
            {"static_root": "/no/such/dir"},
            "'static_root' expects an existing directory, got '/no/such/dir'",
        ),
        ({"app_path": ["/no/such/dir"]}, "app search path entry '/no/such/dir'"),
    ],
)
def test_unusable_app_or_root_is_one_line_too(
    tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    result = run(["--config", str(write_config(tmp_path, config_values(**change)))])
    assert result.returncode == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_flag_and_environment_errors_exit_2_as_well() -> None:
    assert run(["--workers", "many"]).returncode == 2
    result = run([], env={"SOCKETLAB_MODE": "threads"})
    assert result.returncode == 2
    assert "environment variable SOCKETLAB_MODE: 'mode' expects one of" in result.stderr


# --- precedence: file < environment < flags -------------------------------------------------------


def start(args: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], int]:
    proc = start_service("multiprocess_web", *args, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    for line in proc.stdout:
        match = re.search(r"(\w+) mode: listening on [^ ]+:(\d+)", line)
        if match:
            return proc, int(match.group(2))
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise AssertionError("server did not start")


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=RUN_TIMEOUT)
    assert proc.returncode == 0
    return out


def test_flags_override_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "apps"
    folder.mkdir()
    (folder / "hello.py").write_text(
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'hello from ' + environ['socketlab.mode'].encode()]\n"
    )
    proc, port = start(
        [
            "--config",
            str(CONFIG),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--mode",
            "fork",
            "--app",
            "hello:application",
            "--app-path",
            str(folder),
        ]
    )
    try:
        answer = get(port, "/")
        assert answer.body == b"hello from fork"
    finally:
        stop(proc)


def test_environment_overrides_the_file() -> None:
    proc, port = start(
        ["--config", str(CONFIG), "--port", "0"],
        env={"SOCKETLAB_WORKERS": "3", "SOCKETLAB_MODE": "prefork"},
    )
    try:
        wait_until(
            lambda: len(live_children(proc.pid)) == 3,
            START_TIMEOUT,
            lambda: f"not 3 workers: {children_of(proc.pid)}",
        )
        assert get(port, "/healthz").status == 200
    finally:
        stop(proc)


# --- the loader on its own ------------------------------------------------------------------------


def test_load_app_from_the_search_path_without_eval(tmp_path: Path) -> None:
    (tmp_path / "pkgapp").mkdir()
    (tmp_path / "pkgapp" / "__init__.py").write_text("")
    (tmp_path / "pkgapp" / "web.py").write_text(
        "class Api:\n    def wsgi_app(self, environ, start_response):\n        return []\n"
        "api = Api()\n"
    )
    app = load_app("pkgapp.web:api.wsgi_app", [str(tmp_path)])
    assert app.__name__ == "wsgi_app"
    with pytest.raises(AppLoadError, match="expected 'module:callable'"):
        load_app("pkgapp.web:api.wsgi_app()", [str(tmp_path)])


def test_a_broken_app_module_keeps_its_traceback(tmp_path: Path) -> None:
    (tmp_path / "brokenapp.py").write_text("import no_such_dependency_xyz\n")
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz"):
        load_app("brokenapp:app", [str(tmp_path)])
