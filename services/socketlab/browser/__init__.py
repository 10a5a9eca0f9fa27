"""browser: a scripted, browser-like HTTP/1.1 client on raw sockets, reporting like a Network panel.

One module per concern:

* :mod:`.urls` -- URL parsing, validation (http:// only; no spaces, control characters, CR/LF)
  and joining;
* :mod:`.extract` -- what HTML and CSS make a browser fetch; :mod:`.htmlscan` -- a document's
  tags and text as :mod:`html.parser` reads them, with str methods; :mod:`.cssscan` -- a
  stylesheet's ``@import``, ``url()`` and ``@font-face``, likewise;
* :mod:`.transport` -- one TCP connection and one exchange on it (the socket adapter around the
  shared :mod:`socketlab.http` parser);
* :mod:`.pool` -- keep-alive connections, at most 6 per host;
* :mod:`.loop` -- the event loop every request of a page runs on (coroutines over
  non-blocking sockets, one thread);
* :mod:`.redirects`, :mod:`.cookies`, :mod:`.limits` (deadlines and caps), :mod:`.errors`;
* :mod:`.browser` -- loading a page with its resources in parallel;
* :mod:`.records`, :mod:`.report`, :mod:`.har` -- what a load leaves and how it is shown;
* :mod:`.scenario` -- scripted visits from TOML; :mod:`.cli` -- the command line;
  :mod:`.liveness` -- the container's healthcheck.
"""

from .browser import USER_AGENT, Browser, Fetch, Options
from .errors import BrowserError, InvalidURL
from .limits import Caps, Deadlines
from .records import ConnectionInfo, Entry, Expectation, PageLoad, Timings
from .urls import URL

__all__ = [
    "URL",
    "USER_AGENT",
    "Browser",
    "BrowserError",
    "Caps",
    "ConnectionInfo",
    "Deadlines",
    "Entry",
    "Expectation",
    "Fetch",
    "InvalidURL",
    "Options",
    "PageLoad",
    "Timings",
]
