"""UDP keeps message boundaries, TCP is a byte stream (exercise 04).

    docker compose exec -T browser python3 - < docs/labs/scripts/boundaries.py

Both halves send the same three pieces in three calls, then the receiver reads after a short
pause: UDP hands back three datagrams, one per recvfrom(); TCP hands back the bytes, in as
few recv() calls as they fit.
"""

import socket
import time

PIECES = [b"one", b"two", b"three"]

# UDP: three sendto() calls are three datagrams, and each recvfrom() returns exactly one.
receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
receiver.bind(("127.0.0.1", 0))
sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for piece in PIECES:
    sender.sendto(piece, receiver.getsockname())
time.sleep(0.2)
receiver.settimeout(1)
datagrams = [receiver.recvfrom(2048)[0] for _ in PIECES]
print(f"udp: {len(PIECES)} sendto() -> {len(datagrams)} recvfrom(): {datagrams}")

# TCP: three send() calls, one stream; a single recv() after the pause gets all the bytes.
listener = socket.create_server(("127.0.0.1", 0))
client = socket.create_connection(listener.getsockname(), timeout=2)
conn, _ = listener.accept()
for piece in PIECES:
    client.sendall(piece)
time.sleep(0.2)
conn.settimeout(1)
chunk = conn.recv(2048)
print(f"tcp: {len(PIECES)} send() -> 1 recv(): {chunk!r}")
