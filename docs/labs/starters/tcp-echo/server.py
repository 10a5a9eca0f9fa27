"""A TCP echo server: everything a client sends comes back, to many clients at once.

Exercise: docs/labs/13-write-your-own-tcp-echo.md. Fill in the TODOs, then, from the
repository root:

    make grade KIND=tcp-echo SUBMISSION=docs/labs/starters/tcp-echo

As it is, this server accepts connections and closes them at once: the grader says which
checks fail and which section to read.
"""

import os
import socket
import sys


def serve_client(conn, address):
    """Send back every byte this client sends, until it closes its side."""
    with conn:
        print("client", address, flush=True)
        # TODO (echo, split-message, large-message): in a loop, data = conn.recv(65536);
        #   stop when data is b"" (the client closed); else conn.sendall(data). One recv() is
        #   not "the message": TCP is a stream and hands you whatever has arrived.
        # TODO (client-close): a client may vanish; recv() then raises ConnectionResetError.
        #   Catch OSError here so that only this client's conversation ends.


def main():
    # The grader chooses the port: it is the only argument, and $PORT.
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("PORT", "8000"))
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", port))  # every address of this host, not only 127.0.0.1
    server.listen(16)
    print("echo server listening on port", port, flush=True)
    while True:
        conn, address = server.accept()
        # TODO (many-clients): serve each client on a thread of its own
        #   (threading.Thread(target=serve_client, args=(conn, address), daemon=True).start()),
        #   so that one client that stays connected does not make the others wait.
        serve_client(conn, address)


if __name__ == "__main__":
    main()
