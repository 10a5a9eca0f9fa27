"""Config files people can write: any subset of keys, every problem at once, with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from socketlab import settings
from socketlab.settings import Setting, SettingsError, key_lines

TABLE = (
    Setting("host", str, "127.0.0.1", "address"),
    settings.port_setting(8080, "port"),
    Setting("workers", int, 4, "workers", minimum=1, maximum=64),
    Setting("mode", str, "prefork", "mode", choices=("fork", "prefork")),
    Setting("timeout", float, 30.0, "seconds", minimum=1),
    Setting("app_path", list, [], "dirs"),
    Setting("reuse", bool, False, "flag"),
)


def load_text(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> SettingsError:
    path = tmp_path / "lab.toml"
    path.write_text(text)
    with pytest.raises(SettingsError) as caught:
        settings.resolve(TABLE, config=settings.read_config(path), environ=environ or {})
    return caught.value


# --- finding the line of a key --------------------------------------------------------------------


def test_key_lines_for_flat_keys_comments_and_blank_lines() -> None:
    text = "# comment\n\nhost = 'x'  # trailing\n  port=1\nworkers =2\n"
    assert key_lines(text) == {("host",): 3, ("port",): 4, ("workers",): 5}


def test_key_lines_for_tables_dotted_and_quoted_keys() -> None:
    text = (
        "top = 1\n"
        "a.b = 2\n"
        '"quoted key" = 3\n'
        "[server]\n"
        "port = 4\n"
        '[ "x y" . z ]\n'
        "'lit' . deep . er = 5\n"
        "[[pages]]\n"
        "url = '/'\n"
        "[[pages]]\n"
        "url = '/b'\n"
    )
    lines = key_lines(text)
    assert lines[("top",)] == 1
    assert lines[("a",)] == 2
    assert lines[("a", "b")] == 2
    assert lines[("quoted key",)] == 3
    assert lines[("server",)] == 4
    assert lines[("server", "port")] == 5
    assert lines[("x y",)] == 6
    assert lines[("x y", "z", "lit", "deep", "er")] == 7
    assert lines[("pages",)] == 8
    assert lines[("pages", "url")] == 9  # the first of the array's tables


def test_key_lines_skip_multiline_strings_and_arrays() -> None:
    text = (
        'doc = """\n'
        "port = 1 (inside the string)\n"
        '"""\n'
        "app_path = [\n"
        '  "a",  # port = 2 is a comment\n'
        '  "]",\n'
        "]\n"
        "lit = '''\n"
        "workers = 3\n"
        "'''\n"
        "inline = { x = [1,\n"
        "  2] }\n"
        "port = 9\n"
    )
    assert key_lines(text) == {
        ("doc",): 1,
        ("app_path",): 4,
        ("lit",): 8,
        ("inline",): 11,
        ("port",): 13,
    }


def test_key_lines_single_line_triple_quoted_string() -> None:
    assert key_lines('a = """one line"""\nb = 2\n') == {("a",): 1, ("b",): 2}


# --- any subset of keys ---------------------------------------------------------------------------


def test_an_empty_file_keeps_every_default(tmp_path: Path) -> None:
    path = tmp_path / "empty.toml"
    path.write_text("# nothing to change\n")
    values = settings.resolve(TABLE, config=settings.read_config(path), environ={})
    assert values == {s.name: s.default for s in TABLE}


def test_one_key_changes_only_that_key(tmp_path: Path) -> None:
    path = tmp_path / "one.toml"
    path.write_text("workers = 8\n")
    values = settings.resolve(TABLE, config=settings.read_config(path), environ={})
    assert values["workers"] == 8
    assert values["port"] == 8080


# --- every problem at once ------------------------------------------------------------------------


def test_every_problem_is_listed_with_its_line(tmp_path: Path) -> None:
    error = load_text(
        tmp_path,
        "# header\n"
        'port = "abc"\n'
        "wokers = 2\n"
        "mode = 'threads'\n"
        "timeout = 0\n"
        "app_path = 'apps'\n"
        'reuse = "yes"\n'
        "zzz_unrelated = 1\n",
    )
    path = tmp_path / "lab.toml"
    assert error.problems == (
        f"{path}:2: 'port' expects an integer from 0 to 65535, got 'abc'",
        f"{path}:3: unknown key 'wokers' (did you mean 'workers'?)",
        f"{path}:4: 'mode' expects one of 'fork', 'prefork', got 'threads'",
        f"{path}:5: 'timeout' expects a number of at least 1, got 0 (int)",
        f"{path}:6: 'app_path' expects a list of strings, got 'apps'",
        f"{path}:7: 'reuse' expects true or false, got 'yes'",
        f"{path}:8: unknown key 'zzz_unrelated' (known keys: app_path, host, mode, port, "
        "reuse, timeout, workers)",
    )
    assert str(error) == "\n".join(error.problems)


def test_a_string_in_the_file_is_not_parsed_as_a_number(tmp_path: Path) -> None:
    # The environment's strings are parsed; a TOML file has types, so "8080" is a string there.
    error = load_text(tmp_path, 'port = "8080"\n')
    assert error.problems == (
        f"{tmp_path / 'lab.toml'}:1: 'port' expects an integer from 0 to 65535, got '8080'",
    )


def test_a_table_where_keys_are_flat_is_named_as_a_table(tmp_path: Path) -> None:
    error = load_text(tmp_path, "workers = 2\n\n[server]\nport = 1\n[workers2]\n")
    path = tmp_path / "lab.toml"
    assert error.problems == (
        f"{path}:3: unknown table 'server' (known keys: app_path, host, mode, port, reuse, "
        "timeout, workers)",
        f"{path}:5: unknown table 'workers2' (did you mean 'workers'?)",
    )


def test_a_known_key_given_as_a_table_is_a_type_error_at_the_header(tmp_path: Path) -> None:
    error = load_text(tmp_path, "\n[port]\nnumber = 1\n")
    assert error.problems == (
        f"{tmp_path / 'lab.toml'}:2: 'port' expects an integer from 0 to 65535, "
        "got {'number': 1} (dict)",
    )


def test_file_environment_and_flag_problems_come_together(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    path.write_text("workers = 0\n")
    with pytest.raises(SettingsError) as caught:
        settings.resolve(
            TABLE,
            config=settings.read_config(path),
            environ={"SOCKETLAB_MODE": "threads"},
            flags={"port": "http"},
        )
    assert caught.value.problems == (
        f"{path}:1: 'workers' expects an integer from 1 to 64, got 0 (int)",
        "environment variable SOCKETLAB_MODE: 'mode' expects one of 'fork', 'prefork', "
        "got 'threads'",
        "flag --port: 'port' expects an integer from 0 to 65535, got 'http'",
    )


def test_load_prints_one_line_per_problem_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "lab.toml"
    path.write_text("prot = 1\nworkers = 'x'\n")
    with pytest.raises(SystemExit) as caught:
        settings.load(
            TABLE, ["--config", str(path)], prog="svc", description="", config_flag=True, environ={}
        )
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err == (
        f"svc: error: {path}:1: unknown key 'prot' (did you mean 'port'?)\n"
        f"svc: error: {path}:2: 'workers' expects an integer from 1 to 64, got 'x'\n"
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"port = \n", "not valid TOML: "),
        (b"port = 1\nport = 2\n", "not valid TOML: "),
        (b"port = 1\xff\n", "not valid TOML: the file is not UTF-8"),
    ],
)
def test_a_broken_file_is_one_problem(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "lab.toml"
    path.write_bytes(content)
    with pytest.raises(SettingsError, match=expected):
        settings.read_config(path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="config file not found"):
        settings.read_config(tmp_path / "nope.toml")


def test_a_missing_directory_is_reported_with_the_other_problems(tmp_path: Path) -> None:
    table = (*TABLE, Setting("root", str, "", "dir", check=settings.check_directory))
    path = tmp_path / "lab.toml"
    path.write_text(f'root = "{tmp_path / "nope"}"\nworkers = 0\n')
    with pytest.raises(SettingsError) as caught:
        settings.resolve(table, config=settings.read_config(path), environ={})
    assert caught.value.problems == (
        f"{path}:1: 'root' expects an existing directory, got '{tmp_path / 'nope'}'",
        f"{path}:2: 'workers' expects an integer from 1 to 64, got 0 (int)",
    )
    path.write_text(f'root = "{tmp_path}"\n')
    assert settings.resolve(table, config=settings.read_config(path), environ={})["root"] == str(
        tmp_path
    )
