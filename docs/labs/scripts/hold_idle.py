"""Open COUNT connections to HOST:PORT, make one request on each, then hold them all, silent.

    python3 - HOST PORT [COUNT] [SECONDS] < hold_idle.py

Every connection sends ``GET /healthz`` and waits (3 s at most, all together) for its answer;
then all of them stay open and say nothing for SECONDS, like a crowd of browsers' idle
keep-alive connections. It prints how many were answered, and "holding" while it holds them.
"""

import selectors
import socket
import sys
import time

host, port = sys.argv[1], int(sys.argv[2])
count = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
hold = float(sys.argv[4]) if len(sys.argv) > 4 else 30.0
request = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()

selector = selectors.DefaultSelector()
socks = []
for _ in range(count):
    sock = socket.socket()
    sock.setblocking(False)
    try:
        sock.connect((host, port))
    except BlockingIOError:
        pass
    socks.append(sock)
    selector.register(sock, selectors.EVENT_WRITE)
    if len(socks) % 200 == 0:
        time.sleep(0.05)  # a burst of a thousand SYNs would overflow the listen queue

answered = 0
deadline = time.monotonic() + 3 + count / 1000
waiting = len(socks)
while waiting and time.monotonic() < deadline:
    for key, events in selector.select(0.2):
        sock = key.fileobj
        if events & selectors.EVENT_WRITE:
            try:
                sock.send(request)
                selector.modify(sock, selectors.EVENT_READ)
            except OSError:
                selector.unregister(sock)
                waiting -= 1
        else:
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            selector.unregister(sock)
            waiting -= 1
            if data.startswith(b"HTTP/1.1 200"):
                answered += 1
selector.close()
print(f"{count} connections to {host}:{port}: {answered} answered", flush=True)
print(f"holding them for {hold:g} s", flush=True)
time.sleep(hold)
for sock in socks:
    sock.close()
print("released", flush=True)
