"""A static web server: files from a directory, over HTTP/1.1, to many clients at once.

Exercise: docs/labs/14-write-your-own-web-server.md. Fill in the TODOs, then, from the
repository root:

    make grade KIND=http-static SUBMISSION=docs/labs/starters/http-static

The grader gives the server a document root of random files, at static/ in the working
directory and in $ROOT. As it is, this server answers every request with 501: the grader says
which checks fail and which section to read.
"""

import os
import socket
import sys

ROOT = os.environ.get("ROOT", "static")
MAX_HEAD = 16 * 1024  # refuse heads larger than this (the lab's servers allow 8 KiB)


def read_head(conn):
    """The request head: every byte up to and including the blank line (CRLF CRLF)."""
    # TODO (split-head, large-head): one recv() is not a request. Loop: add what recv(4096)
    #   returns to a buffer until b"\r\n\r\n" is in it; give up (return None) when recv()
    #   returns b"" or the buffer grows past MAX_HEAD.
    return conn.recv(1024)


def send_answer(conn, status, body, content_type="text/plain; charset=utf-8"):
    """Send a whole response: status line, fields, blank line, body."""
    head = (
        f"HTTP/1.1 {status}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        "\r\n"
    )
    conn.sendall(head.encode("latin-1") + body)


def handle(conn):
    head = read_head(conn)
    if not head:
        return
    # TODO (bad-request): the first line is "METHOD TARGET VERSION"; anything else gets
    #   send_answer(conn, "400 Bad Request", b"bad request\n") and nothing more.
    # TODO (traversal): percent-decode the target (urllib.parse.unquote), then refuse any path
    #   that leaves ROOT: os.path.realpath(os.path.join(ROOT, path.lstrip("/"))) must stay
    #   inside os.path.realpath(ROOT). Never open(ROOT + path) as it comes.
    # TODO (get-root): a path ending in "/" means its index.html.
    # TODO (binary-file, not-found): open the file in "rb" mode and send its bytes; a file that
    #   is not there gets "404 Not Found" with a short body.
    # TODO (content-type): text/html for .html, text/css for .css, image/png for .png, ...
    send_answer(conn, "501 Not Implemented", b"this server is not written yet\n")


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("PORT", "8000"))
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", port))
    server.listen(64)
    print("web server on port", port, "serving", ROOT, flush=True)
    while True:
        conn, address = server.accept()
        # TODO (concurrent): one thread per connection, so that a client that connects and
        #   says nothing does not stop everyone else.
        try:
            handle(conn)
        except OSError as exc:  # a client that vanished: end its connection only
            print("client", address, "error:", exc, flush=True)
        finally:
            conn.close()


if __name__ == "__main__":
    main()
