"""The browser's plain command lines are read without argparse (settings.scan_plain, issue 17),
into what argparse would have read; every other command line is left to argparse."""

from __future__ import annotations

import contextlib
import io
import random
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from socketlab import settings
from socketlab.browser import cli

WORDS = [
    "http://127.0.0.1:8080/",
    "http://h/x?a=1",
    "--json",
    "--no-json",
    "--subresources",
    "--no-subresources",
    "--max-bytes",
    "100",
    "--max-bytes=7",
    "--max-bytes=-1",
    "--max-bytes=",
    "--total-timeout",
    "0.5",
    "-5",
    "--js",
    "--json=1",
    "--no-max-bytes",
    "--help",
    "-h",
    "--",
    "-",
    "--scenario",
    "f.toml",
    "--log-level",
    "debug",
    "--log-level=loud",
    "--ledger",
    "--no-ledger",
    "--repeat",
    "0",
    "--user-agent",
    "a=b",
    "--base=http://h/",
    "--base",
    "ftp://h/",
]

ENVIRONS: list[dict[str, str]] = [
    {},
    {"SOCKETLAB_JSON": "yes", "SOCKETLAB_MAX_RESOURCES": "3"},
    {"SOCKETLAB_MAX_BYTES": "lots"},
]


def _scan(argv: Sequence[str], environ: Mapping[str, str]) -> dict[str, Any] | None:
    args = settings.scan_plain(
        cli.SETTINGS, argv, positional="urls", defaults={"scenario": []}, environ=environ
    )
    return None if args is None else vars(args)


def _argparse(argv: Sequence[str], environ: Mapping[str, str]) -> dict[str, Any] | None:
    """What settings.load reads, or None when it exits (usage, help, an error)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            args = settings.load(
                cli.SETTINGS,
                argv,
                prog=cli.PROG,
                description="d",
                extra=cli._positionals,
                environ=environ,
            )
        except SystemExit:
            return None
    return vars(args)


def test_random_command_lines_read_as_argparse_reads_them() -> None:
    rng = random.Random(17)
    scanned = declined = 0
    for _ in range(1500):
        argv = [rng.choice(WORDS) for _ in range(rng.randrange(7))]
        environ = rng.choice(ENVIRONS)
        fast = _scan(argv, environ)
        if fast is None:
            declined += 1
            continue
        scanned += 1
        assert fast == _argparse(argv, environ), argv
    # both kinds are common, so the comparison above is not empty
    assert scanned > 150
    assert declined > 150


@pytest.mark.parametrize(
    "argv",
    [
        ["http://h/"],
        ["--json", "http://h/"],
        ["http://h/", "http://h/2", "--json"],
        ["--max-bytes", "10", "http://h/", "--no-subresources"],
        ["--total-timeout=30", "--json", "http://h/", "http://h/3"],
        ["--user-agent", "", "http://h/"],
        ["--user-agent=-x", "http://h/"],
        [],
    ],
)
def test_plain_command_lines_are_scanned(argv: list[str]) -> None:
    fast = _scan(argv, {})
    assert fast is not None
    assert fast == _argparse(argv, {})


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["-h"],
        ["--js", "http://h/"],  # argparse's abbreviation: its to read
        ["http://h/", "--json", "http://h/2"],  # a second run of words: argparse refuses it
        ["--", "http://h/"],
        ["--max-bytes", "-5", "http://h/"],
        ["--max-bytes", "lots", "http://h/"],  # an error: load reports it
        ["--max-bytes"],
        ["--json=yes", "http://h/"],
        ["--no-max-bytes", "http://h/"],
        ["--scenario", "f.toml"],
        ["-", "http://h/"],
        ["--base", "ftp://h/", "http://h/"],
    ],
)
def test_other_command_lines_are_left_to_argparse(argv: list[str]) -> None:
    assert _scan(argv, {}) is None


def test_a_bad_environment_variable_is_left_to_argparse() -> None:
    assert _scan(["http://h/"], {"SOCKETLAB_MAX_BYTES": "lots"}) is None
    assert _scan(["http://h/"], {"SOCKETLAB_MAX_BYTES": "12"}) == _argparse(
        ["http://h/"], {"SOCKETLAB_MAX_BYTES": "12"}
    )


def test_usage_messages_stay_argparse_s(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.parse_args(["--js", "http://h/", "--bogus"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python3 -m socketlab.browser")
    assert "error: unrecognized arguments: --bogus" in err
