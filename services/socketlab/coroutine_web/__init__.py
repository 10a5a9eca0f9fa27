"""coroutine-web: the lab's third concurrency model, an asyncio server that runs ASGI apps.

Run it from the repository root::

    PYTHONPATH=services python3 -m socketlab.coroutine_web --config configs/coroutine-web.toml

One process, one thread, one event loop; every connection is a task (:mod:`.connection`), the
HTTP is the lab's shared I/O-free core, and an ASGI 3 application (:mod:`.asgi`) answers what
the server does not (:mod:`.site`). Where threaded-web spends a thread on each connection and
multiprocess-web a process, this one spends a few objects: a waiting connection is a suspended
coroutine, and a request that waits (``/delay``) lets all the others run.
"""

from ..asgi import ASGIApp, Lifespan, run_http
from .connection import HTTPConnection
from .server import CoroutineServer
from .site import SERVICE, Site

__all__ = [
    "SERVICE",
    "ASGIApp",
    "CoroutineServer",
    "HTTPConnection",
    "Lifespan",
    "Site",
    "run_http",
]
