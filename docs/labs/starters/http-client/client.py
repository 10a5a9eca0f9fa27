"""A socket browser: fetch a page, its images and the favicon, and save the page.

Exercise: docs/labs/16-write-your-own-browser.md. Fill in the TODOs, then, from the
repository root:

    make grade KIND=http-client SUBMISSION=docs/labs/starters/http-client

The grader runs this program with a URL as its only argument (and in $URL) and reads the file
named by $OUTPUT. As it is, it sends a request without Host, reads once, and saves the whole
answer, head included: the grader says which checks fail and which section to read.
"""

import os
import socket
import sys
from urllib.parse import urlsplit


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ["URL"]
    output = os.environ.get("OUTPUT", "page.html")
    parts = urlsplit(url)
    host, port, path = parts.hostname, parts.port or 80, parts.path or "/"

    sock = socket.create_connection((host, port), timeout=10)
    # TODO (host-header): HTTP/1.1 requires a Host field: f"Host: {host}:{port}\r\n".
    request = f"GET {path} HTTP/1.1\r\n\r\n"
    sock.sendall(request.encode("latin-1"))

    # TODO (reads-content-length): read until the blank line that ends the head, then exactly
    #   Content-Length more bytes: recv() returns what has arrived, not the whole body.
    # TODO (reads-chunked): with "Transfer-Encoding: chunked", read "<size in hex>\r\n",
    #   then that many bytes and "\r\n", until a chunk of size 0.
    answer = sock.recv(4096)

    # TODO (saves-page): save the body only, not the status line and the fields.
    with open(output, "wb") as f:
        f.write(answer)

    # TODO (fetches-image, keep-alive): find every <img src="..."> in the page and GET it,
    #   on the same connection (HTTP/1.1 keeps it open).
    # TODO (fetches-favicon): GET /favicon.ico, as every browser does.
    sock.close()


if __name__ == "__main__":
    main()
