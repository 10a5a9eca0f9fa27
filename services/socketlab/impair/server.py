"""impair: the lab's impairment relay, a TCP and UDP proxy with toxics.

Run it from the repository root::

    PYTHONPATH=services python3 -m socketlab.impair --profiles configs/impair.toml

It starts every proxy of the profiles file (``[proxies.<name>]``: listen, upstream, protocol,
toxics) and the control API on ``--host``/``--port`` (``GET /proxies``, ``POST
/proxies/<name>``). SIGTERM or SIGINT: stop accepting, close, exit 0.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Final

from .. import ledger, logs, settings
from ..listener import open_listener
from ..settings import Setting, SettingsError
from .config import load_proxies
from .control import ControlServer, ControlSite
from .relay import Proxy, make_proxy

log = logging.getLogger("socketlab.impair")

SERVICE: Final = "impair"
PROG: Final = "python3 -m socketlab.impair"

CONTROL_PORT: Final = 8474
"""The control API's port: the one Toxiproxy's API uses, so the number means the same thing."""

SETTINGS: Final = (
    Setting("host", str, "0.0.0.0", "address the control API listens on", metavar="ADDR"),
    settings.port_setting(CONTROL_PORT, "TCP port of the control API (0 picks a free one)"),
    Setting(
        "profiles",
        str,
        "configs/impair.toml",
        "TOML file of [proxies.<name>] tables: listen, upstream, protocol and toxics",
        metavar="FILE",
    ),
    logs.level_setting(),
    ledger.SETTING,
)


def start_proxies(path: Path) -> dict[str, Proxy]:
    """Read the profiles and start every proxy; SettingsError or OSError if one cannot."""
    proxies: dict[str, Proxy] = {}
    try:
        for spec in load_proxies(path):
            proxy = make_proxy(spec)
            proxy.start()
            proxies[spec.name] = proxy
    except BaseException:
        for proxy in proxies.values():
            proxy.stop()
        raise
    return proxies


def main(argv: Sequence[str] | None = None) -> int:
    args = settings.load(SETTINGS, argv, prog=PROG, description=__doc__.split("\n\n")[0])
    logs.setup(args.log_level)
    ledger.configure(SERVICE, args.ledger)
    try:
        proxies = start_proxies(Path(args.profiles))
    except SettingsError as exc:
        print(f"impair: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"impair: error: cannot start a proxy: {exc}", file=sys.stderr)
        return 1
    try:
        listener = open_listener(args.host, args.port)
    except OSError as exc:
        print(f"impair: error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    control = ControlServer(listener, ControlSite(proxies))
    control.start()
    log.info("control API on %s:%d: GET /proxies", *control.address)

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stop.wait()
    control.stop()
    for proxy in proxies.values():
        proxy.stop()
    log.info("stopped")
    return 0
