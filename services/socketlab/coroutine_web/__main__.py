"""``python3 -m socketlab.coroutine_web``: parse the settings, load the app, serve until SIGTERM.

A bad setting anywhere (file, environment, flag), a missing document root or an application
that cannot be loaded is one line on stderr and exit status 2; a port that cannot be bound is
exit 1; a failed lifespan startup is exit 3. SIGTERM or SIGINT: the graceful stop, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Final

from .. import ledger, logs, settings, status
from ..asgi import ASGIApp, Lifespan
from ..http.settings import connection_config
from ..listener import open_listener, raise_descriptor_limit
from ..static import StaticFiles, parse_cache_rules
from ..wsgi.apploader import AppLoadError, load_app
from .config import SETTINGS
from .server import CoroutineServer
from .site import SERVICE, Site

PROG: Final = "python3 -m socketlab.coroutine_web"
log = logging.getLogger("socketlab.coroutine_web")


async def serve(
    args: argparse.Namespace,
    app: ASGIApp | None,
    static: StaticFiles | None,
    listener: socket.socket,
) -> int:
    """Run the lifespan startup, the server until a signal, then the lifespan shutdown."""
    lifespan = Lifespan(app, args.lifespan) if app is not None else None
    state = None
    if lifespan is not None and lifespan.supported:
        failure = await lifespan.startup()
        if failure:
            log.error("%s; not serving", failure)
            listener.close()
            return 3
        state = lifespan.state if lifespan.supported else None
    board = status.Scoreboard(SERVICE)
    site = Site(
        app,
        static,
        board,
        status.parse_allow(args.status_allow),
        root_path=args.root_path,
        state=state,
    )
    server = CoroutineServer(
        listener,
        site,
        connection_config(args),
        scoreboard=board,
        max_connections=args.max_connections,
        graceful_timeout=args.graceful_timeout,
        backlog=args.backlog,
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        # Only recorded: the server's serve() acts on it, on the loop.
        loop.add_signal_handler(signum, server.stop, signal.Signals(signum).name)
    gc.freeze()  # what exists now lives until exit: keep it out of every collection
    await server.serve()
    if lifespan is not None:
        await lifespan.shutdown()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = settings.load(
        SETTINGS,
        argv,
        prog=PROG,
        description=(__doc__ or "").split("\n\n")[0],
        config_flag=True,
    )
    logs.setup(args.log_level)
    ledger.configure(SERVICE, args.ledger)
    static: StaticFiles | None = None
    if args.root:
        try:
            static = StaticFiles(args.root, parse_cache_rules(args.cache_control))
        except OSError as exc:
            print(
                f"coroutine_web: error: document root {args.root!r}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return 2
    app: ASGIApp | None = None
    if args.app:
        try:
            app = load_app(args.app, args.app_path)
        except AppLoadError as exc:
            print(f"coroutine_web: error: {exc}", file=sys.stderr)
            return 2
    try:
        listener = open_listener(args.host, args.port, args.backlog)
    except OSError as exc:
        print(
            f"coroutine_web: error: cannot listen on {args.host}:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    soft, hard = raise_descriptor_limit()
    if soft < args.max_connections:
        log.warning(
            "open-file limit %d (hard %d) caps connections below max_connections %d",
            soft,
            hard,
            args.max_connections,
        )
    log.info(
        "serving %s (root %s, pid %d, open-file limit %d)",
        args.app or "no application",
        static.root if static else "none",
        os.getpid(),
        soft,
    )
    return asyncio.run(serve(args, app, static, listener))


if __name__ == "__main__":
    sys.exit(main())
