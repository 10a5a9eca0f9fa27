"""What the tests share: the raw HTTP client, processes, waiting, servers and lab helpers.

Imported as ``tests.support.<module>`` (pytest's ``pythonpath`` holds the repository root) from
unit, integration and labs tests alike. Nothing here runs at import time except what a module's
docstring says (``containers`` sets testcontainers' environment before importing it).

* :mod:`.paths`: where the repository, the services and the site are.
* :mod:`.waiting`: :func:`~.waiting.wait_until`, the one polling loop, which fails clearly.
* :mod:`.processes`: the environment a service runs in, and process facts (children, states,
  open descriptors) read through psutil.
* :mod:`.raw_http`: requests as exact bytes, answers read with the lab's own response parser.
* :mod:`.multiprocess`: ``python3 -m socketlab.multiprocess_web`` as a real process tree.
* :mod:`.inprocess_servers`: threaded-web and the WSGI gateway served in the test's process.
* :mod:`.web_servers`: threaded-web and coroutine-web started alike, for the suites they share.
* :mod:`.http_corpus`: the parser's corpus of requests and their expected outcome.
* :mod:`.asgi_validate`: an ASGI checking wrapper, as wsgiref.validate is for WSGI.
* :mod:`.starlette_site`: a Starlette application for coroutine-web's tests.
* :mod:`.scripted_server`: a server whose answers are exact bytes (the browser's tests).
* :mod:`.containers`: the lab's images and containers for the integration tests.
* :mod:`.running_lab`: the lab that ``make up`` started, for the labs tests.
"""
