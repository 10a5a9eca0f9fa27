"""multiprocess-web: a WSGI server made of processes, in two models.

One module per concern:

* :mod:`.server` -- the settings, what a request gets (:class:`Site`), ``main``;
* :mod:`.supervisor` -- what both models' parent does: reap, replace, kill the stuck, stop;
* :mod:`.forking` -- ``mode = "fork"``: the parent accepts and forks a child per connection;
* :mod:`.prefork` -- ``mode = "prefork"``: a fixed pool of children that accept themselves;
* :mod:`.worker` -- what a child does with its connections (the HTTP core, one at a time);
* :mod:`.deadlines` -- the shared-memory table in which each child says when it must check in.

``python3 -m socketlab.multiprocess_web --help`` lists its settings.
"""

from .server import PROG, SERVICE, SETTINGS, Site, build_server, main

__all__ = ["PROG", "SERVICE", "SETTINGS", "Site", "build_server", "main"]
