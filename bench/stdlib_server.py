"""The standard library's static file server, tuned fairly: the peer threaded-web is measured
against.

``python3 -m bench.stdlib_server --port P --root DIR [--log]``

``ThreadingHTTPServer`` with ``SimpleHTTPRequestHandler`` as shipped, with three settings changed
that would otherwise measure a misconfiguration rather than the design:

* ``protocol_version = "HTTP/1.1"``: the handler speaks HTTP/1.0 by default and closes every
  connection, so keep-alive would not happen at all;
* ``disable_nagle_algorithm = True`` (TCP_NODELAY): the head and the body go out in separate
  writes, and Nagle holds the body back for the client's delayed ACK (about 40 ms on Linux);
* ``request_queue_size = 1024``: socketserver's backlog of 5 drops SYNs from 50 concurrent
  clients, which then wait for the 1 s SYN retransmission.

Its per-request log line goes to stderr like the stock server's, only when ``--log`` is given
(the benchmark runs every server with its access log on, or every one with it off).
"""

from __future__ import annotations

import argparse
import functools
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class TunedHandler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    log_requests = False

    def log_message(self, format: str, *args: Any) -> None:
        if self.log_requests:
            super().log_message(format, *args)


class TunedServer(ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--log", action="store_true", help="log one line per request to stderr")
    args = parser.parse_args(argv)
    handler = type("Handler", (TunedHandler,), {"log_requests": args.log})
    server = TunedServer((args.host, args.port), functools.partial(handler, directory=args.root))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
