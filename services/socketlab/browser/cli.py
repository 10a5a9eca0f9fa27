"""socketlab browser: load pages like a browser on raw sockets and report every request.

Run it from the repository root::

    PYTHONPATH=services python3 -m socketlab.browser http://127.0.0.1:8080/
    PYTHONPATH=services python3 -m socketlab.browser --scenario configs/browser/*.toml \\
        --repeat 3 --interval 10 --har run.har

Each page gets a Network-panel table and a summary (``--json``: one JSON object per page and
line instead). A visit loads every URL given, then every scenario, each scenario as a new
visitor (fresh connections and cookies); ``--repeat N --interval S`` makes N visits, starting
one every S seconds. Exit status: 0 when every page loaded and every expectation held, 1
otherwise, 2 for bad usage (a bad flag, URL or scenario file). SIGTERM or SIGINT stops after
the requests in flight.
"""

from __future__ import annotations

import atexit
import itertools
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from types import FrameType

from .. import jsontext, ledger, logs, settings
from ..settings import Setting
from ..structs import replace

# har, liveness and scenario are imported where --har, --heartbeat and --scenario need them:
# a plain `python3 -m socketlab.browser URL` is a short process, and its start-up is most of it.
from . import urls
from .browser import USER_AGENT, Browser, Options
from .errors import InvalidURL
from .limits import (
    CONNECT_TIMEOUT,
    MAX_BYTES,
    MAX_CONNECTIONS_PER_HOST,
    MAX_REDIRECTS,
    MAX_RESOURCES,
    READ_TIMEOUT,
    TOTAL_TIMEOUT,
    Caps,
    Deadlines,
)
from .records import PageLoad
from .report import format_page, page_to_dict
from .threads import Flag, start

TYPE_CHECKING = False  # typing is for the type checker only: see socketlab.structs
if TYPE_CHECKING:
    import argparse
    import logging
    from types import SimpleNamespace
    from typing import Final, NoReturn, TypeAlias

    from .scenario import Scenario

    Args: TypeAlias = argparse.Namespace | SimpleNamespace  # settings.load or scan_plain

    import signal as _signal  # the same functions, typed: typeshed has no _signal
else:
    # _signal, the C module, not signal: signal.py wraps it in enums (Signals, Handlers,
    # Sigmasks), some 3 million instructions at every start (issue 17); the handlers, the
    # signal numbers and what signal() returns are the same, less the enums.
    import _signal


class _LazyLog:
    """The browser's logger, ``socketlab.browser``: with ``--json``, logging is imported and
    set up (:func:`socketlab.logs.setup`) at the first record the log level lets through.

    A page load logs nothing at the default level (warning): its ledger lines go to stderr
    without logging (:mod:`socketlab.ledger`), and importing logging cost every run some 19
    million instructions, a tenth of a page load's (issue 17, callgrind). Without ``--json``
    logging is set up at once, as before: the ledger's lines go through it to stdout.
    """

    _NAME: Final = "socketlab.browser"
    _LEVELS: Final = {"debug": 10, "info": 20, "warning": 30, "error": 40}  # logging's numbers

    def __init__(self) -> None:
        self._level: str | None = None  # None: logging as the process has it (no main())
        self._logger: logging.Logger | None = None

    def setup(self, level: str, *, now: bool) -> None:
        """Log at ``level``: set logging up ``now``, or at the first record that passes."""
        self._level = level
        self._logger = None
        if now:
            self._get()

    def _get(self) -> logging.Logger:
        if self._logger is None:
            import logging

            if self._level is not None:
                logs.setup(self._level)
            self._logger = logging.getLogger(self._NAME)
        return self._logger

    def _passes(self, levelno: int) -> bool:
        """Whether a record of ``levelno`` may get past the level. Before logging is set up the
        setting decides, as the root logger's level would then; after it, logging decides."""
        if self._logger is not None or self._level is None:
            return True
        return levelno >= self._LEVELS[self._level]

    # stacklevel=2: the record's caller is the browser's code, not these methods.
    def info(self, msg: str, *args: object) -> None:
        if self._passes(20):
            self._get().info(msg, *args, stacklevel=2)

    def warning(self, msg: str, *args: object) -> None:
        if self._passes(30):
            self._get().warning(msg, *args, stacklevel=2)

    def error(self, msg: str, *args: object) -> None:
        if self._passes(40):
            self._get().error(msg, *args, stacklevel=2)

    def exception(self, msg: str, *args: object) -> None:
        """An error with the exception being handled (call it in an ``except`` block)."""
        if self._passes(40):
            self._get().exception(msg, *args, stacklevel=2)


log: Final = _LazyLog()

PROG: Final = "python3 -m socketlab.browser"

MAX_REPEAT: Final = 1_000_000
"""Visits in one run: with the lab's 20 s interval that is about 230 days, so a scheduled
visitor is bounded yet never runs out during a course."""


def _check_base(value: str) -> None:
    if value:
        try:
            urls.parse(value)
        except InvalidURL as exc:
            raise ValueError(f"expects an http:// URL ({exc})") from None


SETTINGS: Final = (
    Setting(
        "connect_timeout",
        float,
        CONNECT_TIMEOUT,
        "seconds for a TCP connect",
        minimum=0.01,
        maximum=300,
        metavar="SECONDS",
    ),
    Setting(
        "read_timeout",
        float,
        READ_TIMEOUT,
        "seconds of silence tolerated while a response is awaited or arrives",
        minimum=0.01,
        maximum=3600,
        metavar="SECONDS",
    ),
    Setting(
        "total_timeout",
        float,
        TOTAL_TIMEOUT,
        "seconds for a whole page and its resources",
        minimum=0.01,
        maximum=3600,
        metavar="SECONDS",
    ),
    Setting(
        "max_resources",
        int,
        MAX_RESOURCES,
        "subresources fetched per page",
        minimum=0,
        maximum=10_000,
        metavar="N",
    ),
    Setting(
        "max_bytes",
        int,
        MAX_BYTES,
        "body bytes per page, all resources together",
        minimum=1,
        maximum=1 << 34,
        metavar="BYTES",
    ),
    Setting(
        "max_redirects",
        int,
        MAX_REDIRECTS,
        "redirects followed per request",
        minimum=0,
        maximum=100,
        metavar="N",
    ),
    Setting(
        "max_connections_per_host",
        int,
        MAX_CONNECTIONS_PER_HOST,
        "parallel keep-alive connections per host:port",
        minimum=1,
        maximum=64,
        metavar="N",
    ),
    Setting(
        "subresources", bool, True, "fetch what pages reference (--no-subresources: documents only)"
    ),
    Setting(
        "probe_whoami",
        bool,
        False,
        "after each page, GET /whoami on every open connection to show the server's view",
    ),
    Setting(
        "base",
        str,
        "",
        "base URL for scenario pages (overrides the files' 'base')",
        check=_check_base,
        metavar="URL",
    ),
    Setting("repeat", int, 1, "visits to make", minimum=1, maximum=MAX_REPEAT, metavar="N"),
    Setting(
        "interval",
        float,
        0.0,
        "seconds from the start of one visit to the next",
        minimum=0,
        maximum=86_400,
        metavar="SECONDS",
    ),
    Setting(
        "har", str, "", "write every page of the run as HTTP Archive 1.2 to FILE", metavar="FILE"
    ),
    Setting("json", bool, False, "print one JSON object per page (and line) instead of tables"),
    Setting(
        "heartbeat",
        str,
        "",
        "rewrite FILE after each visit (the container healthcheck)",
        metavar="FILE",
    ),
    Setting("user_agent", str, USER_AGENT, "User-Agent header", metavar="TEXT"),
    logs.level_setting("warning"),
    ledger.SETTING,
)


def _positionals(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("urls", nargs="*", metavar="URL", help="http:// page to load")
    parser.add_argument(
        "--scenario",
        nargs="+",
        action="extend",
        default=[],
        metavar="FILE",
        help="scenario TOML file(s) or a directory of them (configs/browser/*.toml); "
        "give URLs before this flag",
    )


def options_from(args: Args) -> Options:
    return Options(
        deadlines=Deadlines(args.connect_timeout, args.read_timeout, args.total_timeout),
        caps=Caps(
            args.max_resources, args.max_bytes, args.max_redirects, args.max_connections_per_host
        ),
        user_agent=args.user_agent,
        subresources=args.subresources,
        probe_whoami=args.probe_whoami,
    )


def _usage_error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


class Run:
    """The visits of one invocation: what to load, how to print it, when to stop."""

    def __init__(self, args: Args, scenarios: list[Scenario]) -> None:
        self.args = args
        self.scenarios = scenarios
        self.options = options_from(args)
        self.stop = Flag()
        self.page_numbers: Iterator[int] = itertools.count(1)
        self.har_pages: list[PageLoad] = []
        self.ok = True
        self.current: Browser | None = None
        self.done = Flag()
        self.watcher_gone = Flag()

    def watch(self) -> None:
        """Watcher thread: when a signal has set ``stop``, abort the browser at work so that
        requests in flight end now. (The signal handler itself only records the signal.)
        :meth:`run` sets ``stop`` too once it is over, after ``done``, to end this thread at
        once: polling every half second made every run last up to 0.5 s longer."""
        try:
            self.stop.wait()
            if self.done.is_set():
                return
            current = self.current
            if current is not None:
                current.abort()
        finally:
            self.watcher_gone.set()

    def emit(self, page: PageLoad, visit: int) -> None:
        if self.args.heartbeat:
            self.beat(f"visit {visit}: {page.id} {'loaded' if page.ok else 'NOT OK'}")
        if self.args.json:
            doc = page_to_dict(page)
            doc["visit"] = visit
            print(jsontext.dumps(doc), flush=True)
        else:
            print(format_page(page) + "\n", flush=True)

    def visit(self, number: int) -> list[PageLoad]:
        pages: list[PageLoad] = []

        def browser(options: Options) -> Browser:
            self.current = Browser(options, cancel=self.stop, page_numbers=self.page_numbers)
            return self.current

        def keep(page: PageLoad) -> None:
            pages.append(page)
            self.emit(page, number)

        if self.args.urls:
            with browser(self.options) as b:
                for url in self.args.urls:
                    if self.stop.is_set():
                        break
                    keep(b.load(url))
        for item in self.scenarios:
            if self.stop.is_set():
                break
            options = replace(
                self.options, probe_whoami=self.options.probe_whoami or item.probe_whoami
            )
            from . import scenario

            with browser(options) as b:
                scenario.run(item, b, self.args.base, on_page=keep, stop=self.stop)
        return pages

    def run(self) -> int:
        start(self.watch)
        try:
            return self._visits()
        finally:
            self.done.set()
            self.stop.set()  # wakes the watcher, which sees `done` and leaves
            self.watcher_gone.wait(1.0)

    def _visits(self) -> int:
        repeat, interval = self.args.repeat, self.args.interval
        for number in range(1, repeat + 1):
            started = time.monotonic()
            try:
                pages = self.visit(number)
            except Exception:
                log.exception("visit %d failed unexpectedly", number)
                pages, self.ok = [], False
            self.finish_visit(number, pages)
            if self.stop.is_set() or number == repeat:
                break
            self.stop.wait(max(0.0, started + interval - time.monotonic()))
            if self.stop.is_set():
                break
        return 0 if self.ok else 1

    def beat(self, line: str) -> None:
        from . import liveness

        try:
            liveness.beat(self.args.heartbeat, line)
        except OSError as exc:
            log.warning("cannot write heartbeat %s: %s", self.args.heartbeat, exc)

    def finish_visit(self, number: int, pages: list[PageLoad]) -> None:
        loaded = sum(1 for p in pages if p.ok)
        held = sum(1 for p in pages for x in p.expectations if x.held)
        checks = sum(len(p.expectations) for p in pages)
        requests = sum(len(p.entries) for p in pages)
        all_ok = bool(pages) and loaded == len(pages)
        self.ok = self.ok and all_ok
        line = (
            f"visit {number}/{self.args.repeat}: {len(pages)} pages, {requests} requests, "
            f"{loaded}/{len(pages)} pages loaded, {held}/{checks} expectations held"
            + ("" if all_ok else " -- NOT OK")
        )
        if not self.args.json and (self.args.repeat > 1 or self.scenarios):
            print(line + "\n", flush=True)
        log.info("%s", line)
        if self.args.heartbeat:
            self.beat(line)
        if self.args.har:
            from . import har

            self.har_pages.extend(pages)
            try:
                har.write(self.args.har, self.har_pages)
            except OSError as exc:
                log.error("cannot write HAR %s: %s", self.args.har, exc)
                self.ok = False


def parse_args(argv: Sequence[str] | None = None) -> Args:
    """The command line's settings, URLs and scenario files. A plain one (URLs and settings'
    flags) is read without argparse (settings.scan_plain); argparse reads every other one, and
    prints the usage, the help and the errors."""
    args = settings.scan_plain(SETTINGS, argv, positional="urls", defaults={"scenario": []})
    if args is not None:
        return args
    return settings.load(
        SETTINGS, argv, prog=PROG, description=__doc__.split("\n\n")[0], extra=_positionals
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    log.setup(args.log_level, now=not args.json)
    ledger.configure("browser", args.ledger, to_stderr=args.json)
    if not args.urls and not args.scenario:
        return _usage_error("give at least one URL or --scenario FILE")
    for url in args.urls:
        try:
            urls.parse(url)
        except InvalidURL as exc:
            return _usage_error(str(exc))
    scenarios: list[Scenario] = []
    if args.scenario:
        from . import scenario

        try:
            scenarios = scenario.load_all(args.scenario)
            for item in scenarios:
                for step in item.steps:
                    scenario.step_url(item, step, args.base)
        except scenario.ScenarioError as exc:
            return _usage_error(str(exc))

    run = Run(args, scenarios)
    handler = _stopper(run.stop)
    previous = {sig: _signal.signal(sig, handler) for sig in (_signal.SIGTERM, _signal.SIGINT)}
    try:
        return run.run()
    finally:
        for sig, old in previous.items():
            _signal.signal(sig, old)


def _stopper(stop: Flag) -> Callable[[int, FrameType | None], None]:
    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()  # only record it: the visit loop and the page loads act on it

    return on_signal


def exit_fast(code: int) -> NoReturn:
    """End the process with status ``code`` as ``sys.exit(code)`` does, without the interpreter's
    teardown: what ``python3 -m socketlab.browser`` runs after :func:`main` has returned.

    A page load's process is short, and tearing down the interpreter (freeing every module,
    object and the collector's last pass) took about a tenth of its instructions: some 28
    million of 330 on the 100-resource page (issue 17, ``callgrind``). Nothing of it is output.
    What an exit must still do is done first, as ``sys.exit`` would: the ``atexit`` handlers
    (the access writer's flush; logging's shutdown where logging was imported: the ledger's
    lines on stderr with ``--json`` are written and flushed one by one) and a
    flush of stdout and stderr. When that cannot be the whole exit -- a thread that is not a
    daemon still runs (``sys.exit`` would wait for it), or a flush fails (a closed pipe, which
    ``sys.exit`` reports) -- this is ``sys.exit(code)``, with its teardown.
    """
    threading = sys.modules.get("threading")  # not imported: no thread of it runs
    if threading is not None:
        others = [t for t in threading.enumerate() if t is not threading.current_thread()]
        if not all(t.daemon for t in others):
            sys.exit(code)  # which waits for them before the atexit handlers, as ever
    atexit._run_exitfuncs()  # runs and clears them: sys.exit below would not run them twice
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe or stream: let sys.exit report it
        sys.exit(code)
    os._exit(code)
