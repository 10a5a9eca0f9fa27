"""The lab's dynamic site for multiprocess-web, written with the mini framework.

``socketlab.labapp:app`` is the WSGI application multiprocess-web loads by default. It has the
seed exercise's pages (index, about, contact, single, register, login), each at its seed URL
(``/about.py``) and at a clean one (``/about``), and the lab's instruments, in the manner of
httpbin: ``/whoami``, ``/headers``, ``/get``, ``/post``, ``/status/<code>``, ``/delay/<seconds>``,
``/bytes/<n>`` and ``/stream/<n>`` (their limits are in :mod:`.instruments`).
"""

from . import instruments, pages  # noqa: F401 -- importing them registers their routes
from .site import app

__all__ = ["app"]
