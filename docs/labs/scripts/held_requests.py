"""Several requests in progress at once on threaded-web: one thread each (exercise 06).

    docker compose exec -T browser python3 - < docs/labs/scripts/held_requests.py

threaded-web serves each request in a worker thread, and only while the request is worked on
(a connection that waits for its client waits in the server's poller, not in a thread). Its
pages are answered in microseconds, so this client asks for ``/whoami?delay=1``: the answer
after one second of work, in a thread. It sends the three requests on three connections at
once, then reads the three answers and prints, for each, which process and which thread of the
server answered.
"""

import json
import socket
import sys

HOST, PORT, CONNECTIONS = "threaded-web", 8080, 3

socks = [socket.create_connection((HOST, PORT), timeout=10) for _ in range(CONNECTIONS)]
for sock in socks:
    sock.sendall(b"GET /whoami?delay=1 HTTP/1.1\r\nHost: threaded-web\r\nConnection: close\r\n\r\n")
for n, sock in enumerate(socks, 1):
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    answer = json.loads(data.partition(b"\r\n\r\n")[2])
    print(
        f"connection {n}: client port {answer['client_port']}, "
        f"pid {answer['pid']}, thread {answer['thread']}"
    )
sys.exit(0)
