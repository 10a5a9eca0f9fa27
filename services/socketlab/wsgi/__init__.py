"""WSGI for the lab's servers: the PEP 3333 gateway and the ``module:callable`` loader.

* :mod:`.gateway` -- :class:`WSGIGateway`, an HTTP-core handler that runs a WSGI application;
* :mod:`.apploader` -- :func:`load_app`, which imports an application named as gunicorn names
  it (``package.module:callable``).

A library, not a service: multiprocess-web runs it in its workers, and the unit tests run it on
threaded-web's server.
"""

from .apploader import AppLoadError, check_spec, load_app
from .gateway import SERVER_SOFTWARE, WSGIApp, WSGIGateway

__all__ = ["SERVER_SOFTWARE", "AppLoadError", "WSGIApp", "WSGIGateway", "check_spec", "load_app"]
