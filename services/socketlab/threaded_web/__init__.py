"""threaded-web: the lab's static HTTP/1.1 server on raw sockets (:mod:`.server`).

``python3 -m socketlab.threaded_web --help`` lists its settings.
"""

from .server import SERVICE, SETTINGS, LabSite, ThreadedServer, main

__all__ = ["SERVICE", "SETTINGS", "LabSite", "ThreadedServer", "main"]
