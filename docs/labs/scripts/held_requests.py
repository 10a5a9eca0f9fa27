"""Several requests in progress at once on threaded-web: one thread each (exercise 06).

    docker compose exec -T browser python3 - < docs/labs/scripts/held_requests.py

threaded-web has no slow page, so this client makes its requests slow itself: it opens three
connections and sends each only the first half of a request head; the server must keep all
three requests open at the same time. Then it completes the heads and prints, for each, which
process and which thread of the server answered.
"""

import json
import socket
import sys
import time

HOST, PORT, CONNECTIONS = "threaded-web", 8080, 3

socks = [socket.create_connection((HOST, PORT), timeout=10) for _ in range(CONNECTIONS)]
for sock in socks:
    sock.sendall(b"GET /whoami HTTP/1.1\r\nHost: threaded-web\r\n")  # no blank line yet
time.sleep(0.5)  # all three requests are now half-sent, and each is waited on by the server
for n, sock in enumerate(socks, 1):
    sock.sendall(b"Connection: close\r\n\r\n")
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
