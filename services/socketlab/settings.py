"""Settings declared once, as a table, and read from a TOML file, the environment and flags.

Every service describes its options as a tuple of :class:`Setting` rows (name, type, default,
help). :func:`load` builds the ``argparse`` parser from that table, so ``--help`` explains every
option, and resolves each value with this precedence (lowest first)::

    default  <  config file (TOML, read with tomllib)  <  SOCKETLAB_<NAME>  <  --flag

A config file may set any subset of the keys; the others keep their defaults (or what the
environment and flags say). Every problem is reported at once, one line each, naming the key,
where it came from (``file:line`` for a config file: :func:`key_lines` finds the line, since
:mod:`tomllib` gives no positions) and what was expected; an unknown key names the closest known
one ("did you mean 'workers'?"). Then :func:`load` exits with status 2 (the ``argparse``
convention for usage errors). A config file is data: it is parsed with :mod:`tomllib`, never
evaluated.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace

from .structs import record

TYPE_CHECKING = False  # typing is for the type checker only: see socketlab.structs
if TYPE_CHECKING:
    # argparse is imported where a parser is built: a plain command line (scan_plain) needs
    # none, and argparse's import and a parser of some 20 flags cost about 23 million
    # instructions, some 7 ms, of the browser's start to exit (issue 17).
    import argparse
    from pathlib import Path  # read_config's callers make one; a command line needs none
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
    """One or more settings are wrong; each problem is one line naming the key and what was
    expected (``problems``), and ``str()`` of the error is those lines joined."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems: tuple[str, ...] = problems


@record(frozen=True)
class Setting:
    """One option: its key in the config file, its flag and its environment variable.

    ``name`` uses underscores (``max_children``); the flag is ``--max-children`` and the
    environment variable ``SOCKETLAB_MAX_CHILDREN``. ``minimum``/``maximum`` bound numbers,
    ``choices`` bounds strings, and ``check`` may reject a value with a ``ValueError`` whose text
    says what is expected. A list given as text (environment, flag) is split at ``separator``.
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
    separator: str = ","

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

    def convert(self, raw: Any, origin: str, *, typed: bool = False) -> Any:
        """Turn a raw value into this setting's type; raise SettingsError naming ``origin``.

        ``typed``: the value comes from a TOML file, which has types of its own, so a string
        there is never parsed as a number (``port = "8080"`` is an error); strings from the
        environment and from flags are parsed.
        """
        value = self._coerce(raw, from_text=isinstance(raw, str) and not typed)
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

    def _coerce(self, raw: Any, *, from_text: bool) -> Any:
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
                return [item.strip() for item in raw.split(self.separator) if item.strip()]
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


@record(frozen=True)
class ConfigFile:
    """A parsed TOML config file: its values, and the line each key is set on (for errors)."""

    name: str
    values: dict[str, Any]
    lines: dict[tuple[str, ...], int]

    def where(self, *key: str) -> str:
        """``name:line`` for a key (``name`` alone if the line cannot be found)."""
        line = self.lines.get(key)
        return f"{self.name}:{line}" if line is not None else self.name


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a missing or malformed file raises SettingsError."""
    return read_config(path).values


def read_config(path: Path) -> ConfigFile:
    """Parse a TOML file and find the line of every key; SettingsError if it is unusable."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise SettingsError(f"{path}: config file not found") from None
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read config file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{path}: not valid TOML: the file is not UTF-8") from None
    import tomllib  # here, not at the top: a command run without a config file never needs it

    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    return ConfigFile(str(path), values, key_lines(text))


# A TOML key: bare (A-Za-z0-9_-), "basic" or 'literal', joined by dots (TOML 1.0 §Keys).
_KEY_PART = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\')'
_DOTTED_KEY = rf"{_KEY_PART}(?:[ \t]*\.[ \t]*{_KEY_PART})*"
# Pattern text, compiled (and cached by re) when a config file is read, and re imported only
# then: compiling them with the module cost every command about 1 ms of start-up, config file
# or not, and importing re (with enum) a page load of the browser more (issue 17).
_KEY_LINE = rf"[ \t]*({_DOTTED_KEY})[ \t]*="
_TABLE_LINE = rf"[ \t]*(\[\[?)[ \t]*({_DOTTED_KEY})[ \t]*\]\]?"
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


def _key_parts(dotted: str) -> tuple[str, ...]:
    import re  # only with a config file: see _KEY_LINE

    parts = []
    for match in re.finditer(_KEY_PART, dotted):
        part = match.group()
        if part.startswith('"'):
            part = re.sub(
                r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)",
                lambda m: (
                    chr(int(m.group(1)[1:], 16))
                    if m.group(1)[0] in "uU"
                    else _ESCAPES.get(m.group(1), m.group(1))
                ),
                part[1:-1],
            )
        elif part.startswith("'"):
            part = part[1:-1]
        parts.append(part)
    return tuple(parts)


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """The 1-based line where each key path is first defined, from the TOML source text.

    tomllib reports no positions, so the text is scanned: ``[table]`` and ``[[array]]`` headers
    set the current table (an array of tables is not indexed: its keys map to their first
    occurrence), ``a.b = 1`` defines ``a`` and ``a.b`` (prefixed by the current table), and lines
    inside multi-line strings and multi-line arrays are skipped. The result is only used to
    point at a line in an error message; a key the scan cannot place is reported without one.
    """
    found: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    in_string: str | None = None  # the closing quote of the multi-line string we are inside
    depth = 0  # open brackets of a multi-line array (or inline table) value
    import re  # only with a config file: see _KEY_LINE

    key_line, table_line = re.compile(_KEY_LINE), re.compile(_TABLE_LINE)
    for number, line in enumerate(text.splitlines(), start=1):
        if in_string is not None:
            if line.count(in_string) % 2 == 1:
                in_string = None
            continue
        if depth > 0:
            depth = max(0, depth + _bracket_balance(line))
            continue
        header = table_line.match(line)
        if header is not None and not key_line.match(line):
            table = _key_parts(header.group(2))
            for end in range(1, len(table) + 1):
                found.setdefault(table[:end], number)
            continue
        match = key_line.match(line)
        if match is None:
            continue
        path = table + _key_parts(match.group(1))
        for end in range(len(table) + 1, len(path) + 1):
            found.setdefault(path[:end], number)
        value = line[match.end() :]
        for quote in ('"""', "'''"):
            if value.lstrip().startswith(quote) and value.count(quote) % 2 == 1:
                in_string = quote
                break
        else:
            depth = max(0, _bracket_balance(value))
    return found


def _bracket_balance(text: str) -> int:
    """Opening minus closing brackets and braces outside strings and comments."""
    balance = 0
    quote = ""
    escaped = False
    for char in text:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote == '"':
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#":
            break
        elif char in "[{":
            balance += 1
        elif char in "]}":
            balance -= 1
    return balance


def _unknown_key(key: str, known: Sequence[str], is_table: bool) -> str:
    what = "table" if is_table else "key"
    import difflib  # only for a key that is wrong: a correct command line never needs it

    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"unknown {what} '{key}' (did you mean '{close[0]}'?)"
    return f"unknown {what} '{key}' (known keys: {', '.join(sorted(known))})"


def resolve(
    table: Sequence[Setting],
    *,
    file_values: Mapping[str, Any] | None = None,
    file_name: str = "config",
    config: ConfigFile | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Merge defaults, file, environment and flags; raise SettingsError listing every problem.

    The file (``config``, or bare ``file_values`` named ``file_name``) may set any subset of the
    keys. Unknown keys are errors (a typo must not be silently ignored), each with the closest
    known key as a suggestion.
    """
    by_name = {s.name: s for s in table}
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {s.name: s.default for s in table}
    problems: list[str] = []
    if config is None and file_values is not None:
        config = ConfigFile(file_name, dict(file_values), {})

    if config is not None:
        for key, raw in config.values.items():
            where = config.where(key)
            if key not in by_name:
                problems.append(
                    f"{where}: " + _unknown_key(key, list(by_name), isinstance(raw, dict))
                )
                continue
            try:
                values[key] = by_name[key].convert(raw, where, typed=True)
            except SettingsError as exc:
                problems.extend(exc.problems)

    for setting in table:
        if setting.env in environ:
            try:
                values[setting.name] = setting.convert(
                    environ[setting.env], f"environment variable {setting.env}"
                )
            except SettingsError as exc:
                problems.extend(exc.problems)

    for key, raw in (flags or {}).items():
        if raw is not None:
            try:
                values[key] = by_name[key].convert(raw, f"flag {by_name[key].flag}")
            except SettingsError as exc:
                problems.extend(exc.problems)
    if problems:
        raise SettingsError(*problems)
    return values


def _parser_class() -> type[argparse.ArgumentParser]:
    """The parser class every service's :func:`build_parser` makes (argparse imported here)."""
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            self.print_usage(sys.stderr)
            self.exit(2, f"{self.prog}: error: {message}\n")

        def _get_formatter(self) -> argparse.HelpFormatter:
            # argparse makes a formatter on every add_argument (to check the metavar), and
            # without a width the formatter imports shutil, and with it bz2, lzma and zlib, for
            # the terminal's width: most of a millisecond per module for a command that never
            # prints help. The width is the one shutil.get_terminal_size would give, less the 2
            # argparse takes off.
            make: Callable[..., argparse.HelpFormatter] = self.formatter_class
            return make(prog=self.prog, width=_terminal_columns() - 2)

    return _Parser


def _terminal_columns(fallback: int = 80) -> int:
    """$COLUMNS if it is a positive number, else stdout's terminal's width, else ``fallback``
    (shutil.get_terminal_size's rule for the columns)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    stdout = sys.__stdout__
    if stdout is None:
        return fallback
    try:
        return os.get_terminal_size(stdout.fileno()).columns or fallback
    except (AttributeError, ValueError, OSError):
        return fallback


def build_parser(
    table: Sequence[Setting], *, prog: str, description: str, config_flag: bool
) -> argparse.ArgumentParser:
    """An argparse parser whose flags are the table's rows (all default to None: 'not given')."""
    import argparse

    parser = _parser_class()(
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
    environ: Mapping[str, str] | None = None,
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """Parse ``argv`` for a service and return its settings; on bad values exit 2 with one
    line per problem (every problem at once, no traceback).

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
        config = None
        config_path = getattr(args, "config", None)
        if config_flag and config_path:
            from pathlib import Path  # only with --config: see read_config

            config = read_config(Path(config_path))
        values = resolve(table, config=config, environ=environ, flags=flags)
    except SettingsError as exc:
        parser.exit(2, "".join(f"{prog}: error: {problem}\n" for problem in exc.problems))
    for key, value in values.items():
        setattr(args, key, value)
    return args


def scan_plain(
    table: Sequence[Setting],
    argv: Sequence[str] | None = None,
    *,
    positional: str,
    defaults: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> SimpleNamespace | None:
    """What :func:`load` returns for a plain command line, read without argparse; ``None`` for
    any other command line, which the caller then gives to :func:`load`.

    Plain is: the table's flags spelt in full (``--name VALUE``, ``--name=VALUE``, ``--flag``
    and ``--no-flag`` for a bool) and one run of words for the ``positional`` (``nargs="*"``)
    before, after or between them, each value right. Anything else -- ``--help``, an
    abbreviated or unknown flag, ``--``, a value or a word that starts with ``-``, words in two
    runs, a bad value -- is for argparse and :func:`resolve` to read and report, so usage and
    error messages stay theirs. ``defaults`` are the namespace's other attributes (what the
    caller's ``extra`` arguments default to).
    """
    argv = sys.argv[1:] if argv is None else argv
    by_flag = {setting.flag: setting for setting in table}
    flags: dict[str, Any] = {}
    words: list[str] = []
    runs = 0  # runs of words: argparse gives a "*" positional the first run only
    in_run = False
    index = 0
    while index < len(argv):
        token = argv[index]
        index += 1
        if not token.startswith("-"):
            if not in_run:
                runs, in_run = runs + 1, True
                if runs > 1:
                    return None
            words.append(token)
            continue
        in_run = False
        flag, equals, value = token.partition("=")
        setting = by_flag.get(flag)
        if setting is not None and setting.type is not bool:
            if not equals:
                if index == len(argv) or argv[index].startswith("-"):
                    return None
                value = argv[index]
                index += 1
            flags[setting.name] = value
            continue
        if equals:
            return None
        if setting is not None:
            flags[setting.name] = True
            continue
        negated = by_flag.get("--" + flag[5:]) if flag.startswith("--no-") else None
        if negated is None or negated.type is not bool:
            return None
        flags[negated.name] = False
    try:
        values = resolve(table, environ=environ, flags=flags)
    except SettingsError:
        return None
    return SimpleNamespace(**(defaults or {}), **values, **{positional: words})


def check_directory(value: str) -> None:
    """A ``check`` for a directory setting: it must exist ('' is allowed: "none"), so that a
    wrong path in a file is reported with the file's other problems, not after them."""
    if value and not os.path.isdir(value):
        raise ValueError("expects an existing directory")


def port_setting(default: int, help: str, name: str = "port") -> Setting:
    """A TCP or UDP port; 0 asks the kernel for a free one (tests use that, never a fixed port)."""
    return Setting(name, int, default, help, minimum=0, maximum=65535, metavar="PORT")
