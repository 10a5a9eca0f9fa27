"""udp-chat settings: the config file, the environment and flags read through one table."""

from __future__ import annotations

import tomllib

import pytest

from socketlab import settings
from socketlab.udp_chat import client, server
from tests.support.paths import REPO

CONFIG = REPO / "configs" / "udp-chat.toml"


def test_config_file_names_every_server_setting_with_its_default() -> None:
    with CONFIG.open("rb") as handle:
        values = tomllib.load(handle)
    table = {s.name: s for s in server.SETTINGS}
    assert set(values) == set(table)
    for key, value in values.items():  # the file documents the defaults: keep them in step
        assert table[key].convert(value, str(CONFIG)) == table[key].default, key


def test_environment_overrides_the_file_and_flags_override_both() -> None:
    args = settings.load(
        server.SETTINGS,
        ["--config", str(CONFIG), "--rate", "7"],
        prog="udp_chat",
        description="",
        config_flag=True,
        environ={"SOCKETLAB_IDLE_TIMEOUT": "5", "SOCKETLAB_RATE": "3"},
    )
    config = server.config_from(args)
    assert config.idle_timeout == 5.0
    assert config.rate == 7.0
    assert config.max_members == 64


@pytest.mark.parametrize(
    ("table", "argv"),
    [
        (server.SETTINGS, ["--idle-timeout", "0"]),
        (server.SETTINGS, ["--port", "70000"]),
        (server.SETTINGS, ["--log-level", "loud"]),
        (client.SETTINGS, ["--server", "no-port"]),
        (client.SETTINGS, ["--server", "host:99999"]),
        (client.SETTINGS, ["--loss", "1"]),
        (client.SETTINGS, ["--bind", "[::1"]),
    ],
)
def test_bad_values_exit_with_status_2(
    table: tuple[settings.Setting, ...], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        settings.load(table, argv, prog="p", description="", environ={})
    assert info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1  # one line says what is wrong
