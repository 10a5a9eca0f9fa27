"""UDP keeps message boundaries, TCP is a byte stream (exercise 04).

    docker compose exec -T browser python3 - < docs/labs/scripts/boundaries.py

Both halves send the same three pieces in three calls, then the receiver reads after a short
pause until nothing more comes, counting its calls: UDP hands back one datagram per
recvfrom(), as many as were sent; TCP hands back the bytes, in as few recv() calls as they fit.
Every number printed is counted, none is written in.
"""

import socket
import time

PIECES = [b"one", b"two", b"three"]
PAUSE = 0.2  # seconds for everything sent on loopback to have arrived
QUIET = 0.5  # seconds of silence that mean nothing more is coming

# UDP: each sendto() is one datagram, and each recvfrom() returns exactly one.
receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
receiver.bind(("127.0.0.1", 0))
sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sends = 0
for piece in PIECES:
    sender.sendto(piece, receiver.getsockname())
    sends += 1
time.sleep(PAUSE)
receiver.settimeout(QUIET)
datagrams = []
while True:
    try:
        datagrams.append(receiver.recvfrom(2048)[0])
    except TimeoutError:
        break
print(f"udp: {sends} sendto() -> {len(datagrams)} recvfrom(): {datagrams}")

# TCP: three send() calls, one stream; the reader counts the recv() calls that returned bytes
# until the sender's close (EOF).
listener = socket.create_server(("127.0.0.1", 0))
client = socket.create_connection(listener.getsockname(), timeout=2)
conn, _ = listener.accept()
sends = 0
for piece in PIECES:
    client.sendall(piece)
    sends += 1
client.close()
time.sleep(PAUSE)
conn.settimeout(QUIET)
chunks = []
while chunk := conn.recv(2048):
    chunks.append(chunk)
print(f"tcp: {sends} send() -> {len(chunks)} recv(): {b''.join(chunks)!r}")
