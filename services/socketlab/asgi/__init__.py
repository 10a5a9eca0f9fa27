"""ASGI 3 on the lab's HTTP core: a library for asyncio servers, as :mod:`socketlab.wsgi` is
for the blocking ones.

* :mod:`.types` -- ``Scope``, ``Message``, ``Receive``, ``Send``, ``ASGIApp``;
* :mod:`.http` -- the ``http`` scope: :func:`run_http` runs an application for one request
  through an :class:`~socketlab.http.connection.Exchange`, checking its messages;
* :mod:`.lifespan` -- the ``lifespan`` scope: :class:`Lifespan`.

The application is loaded by name with :func:`socketlab.wsgi.load_app` (a name is a name,
whatever the callable speaks).
"""

from .http import ASGI_VERSION, ClientDisconnected, Wire, build_scope, run_http
from .lifespan import Lifespan
from .types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ASGI_VERSION",
    "ASGIApp",
    "ClientDisconnected",
    "Lifespan",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "Wire",
    "build_scope",
    "run_http",
]
