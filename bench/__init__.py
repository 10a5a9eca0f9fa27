"""``make bench``: socketlab's servers measured side by side with the ones people already know.

Every server runs as a plain process on 127.0.0.1 (a free port picked for each run), one after
another, and is loaded by ``wrk``, ``ab`` or a small Python client for a bounded time; the server's
CPU time is read from ``/proc/<pid>/stat`` before and after the load (children included, so a
prefork pool counts whole). The results go to ``docs/BENCHMARKS.md`` (between its markers; the
hand-written analysis around them is kept) and ``docs/benchmarks.json``.

Modules: :mod:`.procstat` (CPU accounting), :mod:`.parsing` (wrk and ab output),
:mod:`.machine` (what it ran on), :mod:`.servers` (starting and stopping each peer),
:mod:`.http_loads` (wrk and ab), :mod:`.udp` (the chat load), :mod:`.page` (browser against
wget), :mod:`.report` (targets and the Markdown), :mod:`.run` (the whole sequence).
"""
