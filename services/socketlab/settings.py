"""Settings declared once, as a table, and read from a TOML file, the environment and flags.

Every service describes its options as a tuple of :class:`Setting` rows (name, type, default,
help). :func:`load` builds the ``argparse`` parser from that table, so ``--help`` explains every
option, and resolves each value with this precedence (lowest first)::

    default  <  config file (TOML, read with tomllib)  <  SOCKETLAB_<NAME>  <  --flag

A bad value anywhere names the key, where it came from and what was expected, and
:func:`load` exits with status 2 (the ``argparse`` convention for usage errors). A config file is
data: it is parsed with :mod:`tomllib`, never evaluated.
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

ENV_PREFIX = "SOCKETLAB_"

_TYPE_NAMES: dict[type, str] = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "true or false",
    list: "a list of strings",
}

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class SettingsError(Exception):
    """A setting has a bad value; the message names the key and what was expected."""


@dataclass(frozen=True)
class Setting:
    """One option: its key in the config file, its flag and its environment variable.

    ``name`` uses underscores (``max_children``); the flag is ``--max-children`` and the
    environment variable ``SOCKETLAB_MAX_CHILDREN``. ``minimum``/``maximum`` bound numbers,
    ``choices`` bounds strings, and ``check`` may reject a value with a ``ValueError`` whose text
    says what is expected.
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    check: Callable[[Any], None] | None = None
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    def expected(self) -> str:
        """Describe what a valid value looks like, for error messages."""
        text = _TYPE_NAMES[self.type]
        if self.choices:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.minimum is not None and self.maximum is not None:
            text += f" from {_num(self.minimum)} to {_num(self.maximum)}"
        elif self.minimum is not None:
            text += f" of at least {_num(self.minimum)}"
        elif self.maximum is not None:
            text += f" of at most {_num(self.maximum)}"
        return text

    def convert(self, raw: Any, origin: str) -> Any:
        """Turn a raw value (a TOML value, or a string from env/argv) into this setting's type."""
        value = self._coerce(raw, origin)
        if value is None:
            raise SettingsError(
                f"{origin}: '{self.name}' expects {self.expected()}, got {_show(raw)}"
            )
        if self.choices and value not in self.choices:
            raise SettingsError(
                f"{origin}: '{self.name}' expects {self.expected()}, got {_show(raw)}"
            )
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and (
                (self.minimum is not None and value < self.minimum)
                or (self.maximum is not None and value > self.maximum)
            )
        ):
            raise SettingsError(
                f"{origin}: '{self.name}' expects {self.expected()}, got {_show(raw)}"
            )
        if self.check is not None:
            try:
                self.check(value)
            except ValueError as exc:
                raise SettingsError(f"{origin}: '{self.name}' {exc}, got {_show(raw)}") from None
        return value

    def _coerce(self, raw: Any, origin: str) -> Any:
        from_text = isinstance(raw, str) and not origin.endswith(".toml")
        if self.type is bool:
            if isinstance(raw, bool):
                return raw
            if from_text:
                low = raw.strip().lower()
                if low in _TRUE:
                    return True
                if low in _FALSE:
                    return False
            return None
        if self.type is int:
            if isinstance(raw, int) and not isinstance(raw, bool):
                return raw
            if from_text:
                try:
                    return int(raw.strip(), 10)
                except ValueError:
                    return None
            return None
        if self.type is float:
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                return float(raw)
            if from_text:
                try:
                    return float(raw.strip())
                except ValueError:
                    return None
            return None
        if self.type is str:
            return raw if isinstance(raw, str) else None
        if self.type is list:
            if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
                return list(raw)
            if from_text:
                return [item.strip() for item in raw.split(",") if item.strip()]
            return None
        raise TypeError(f"unsupported setting type {self.type!r}")  # a bug in the table


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _show(raw: Any) -> str:
    if isinstance(raw, str):
        return repr(raw)
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return f"{raw!r} ({type(raw).__name__})"


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a missing or malformed file raises SettingsError."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"{path}: config file not found") from None
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read config file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None


def resolve(
    table: Sequence[Setting],
    *,
    file_values: Mapping[str, Any] | None = None,
    file_name: str = "config",
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
    required: Sequence[str] = (),
) -> dict[str, Any]:
    """Merge defaults, file, environment and flags; raise SettingsError on a bad value.

    Unknown keys in the file are errors (a typo must not be silently ignored). ``required`` names
    keys that must come from the file when a file is given (the config file documents the
    service, so it must be complete).
    """
    by_name = {s.name: s for s in table}
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {s.name: s.default for s in table}

    if file_values is not None:
        for key in file_values:
            if key not in by_name:
                known = ", ".join(sorted(by_name))
                raise SettingsError(f"{file_name}: unknown key '{key}' (known keys: {known})")
        for key in required:
            if key not in file_values:
                setting = by_name[key]
                raise SettingsError(
                    f"{file_name}: missing key '{key}': expected {setting.expected()}"
                )
        for key, raw in file_values.items():
            values[key] = by_name[key].convert(raw, file_name)

    for setting in table:
        if setting.env in environ:
            values[setting.name] = setting.convert(
                environ[setting.env], f"environment variable {setting.env}"
            )

    for key, raw in (flags or {}).items():
        if raw is not None:
            values[key] = by_name[key].convert(raw, f"flag {by_name[key].flag}")
    return values


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(
    table: Sequence[Setting], *, prog: str, description: str, config_flag: bool
) -> argparse.ArgumentParser:
    """An argparse parser whose flags are the table's rows (all default to None: 'not given')."""
    parser = _Parser(
        prog=prog,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "Every option can also be set in the environment as SOCKETLAB_<NAME> "
            "(for example SOCKETLAB_PORT=8080)"
            + (" or in the TOML file given with --config" if config_flag else "")
            + "; flags win over the environment, which wins over the file."
        ),
    )
    if config_flag:
        parser.add_argument(
            "--config",
            metavar="FILE",
            default=os.environ.get(ENV_PREFIX + "CONFIG"),
            help="TOML config file whose keys are the option names below (env SOCKETLAB_CONFIG)",
        )
    for setting in table:
        help_text = f"{setting.help} (default: {_default_text(setting)}; env {setting.env})"
        if setting.type is bool:
            parser.add_argument(
                setting.flag,
                dest=setting.name,
                default=None,
                action=argparse.BooleanOptionalAction,
                help=help_text,
            )
        else:
            parser.add_argument(
                setting.flag,
                dest=setting.name,
                default=None,
                metavar=setting.metavar or setting.name.upper(),
                help=help_text,
            )
    return parser


def _default_text(setting: Setting) -> str:
    if setting.type is bool:
        return "on" if setting.default else "off"
    if setting.type is list:
        return ",".join(setting.default) or "none"
    return str(setting.default)


def load(
    table: Sequence[Setting],
    argv: Sequence[str] | None = None,
    *,
    prog: str,
    description: str,
    config_flag: bool = False,
    required_in_file: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """Parse ``argv`` for a service and return its settings; exit 2 with one line on a bad value.

    ``extra`` may add positional arguments or flags that are not settings (they are returned
    unchanged in the namespace).
    """
    parser = build_parser(table, prog=prog, description=description, config_flag=config_flag)
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    names = {s.name for s in table}
    flags = {k: v for k, v in vars(args).items() if k in names}
    try:
        file_values = None
        file_name = "config"
        config = getattr(args, "config", None)
        if config_flag and config:
            path = Path(config)
            file_values = read_config_file(path)
            file_name = str(path)
        values = resolve(
            table,
            file_values=file_values,
            file_name=file_name,
            environ=environ,
            flags=flags,
            required=required_in_file,
        )
    except SettingsError as exc:
        parser.exit(2, f"{prog}: error: {exc}\n")
    for key, value in values.items():
        setattr(args, key, value)
    return args


def port_setting(default: int, help: str, name: str = "port") -> Setting:
    """A TCP or UDP port; 0 asks the kernel for a free one (tests use that, never a fixed port)."""
    return Setting(name, int, default, help, minimum=0, maximum=65535, metavar="PORT")
