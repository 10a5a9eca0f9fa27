"""A datagram is lost when the receiver's buffer is full, and nobody is told (exercise 04).

    docker compose exec -T browser python3 - < docs/labs/scripts/udp_loss.py

A receiver with a small receive buffer does not read while a sender sends a burst of
datagrams as fast as it can; then the receiver reads what is left. Every sendto() succeeds;
the kernel drops what does not fit and only counts it (Udp RcvbufErrors in /proc/net/snmp).
"""

import socket

BURST = 2000  # datagrams in the burst: far more than the small buffer below can hold
SIZE = 100  # bytes each


def rcvbuf_errors() -> int:
    """The kernel's count of UDP datagrams dropped for a full receive buffer (this host)."""
    with open("/proc/net/snmp") as f:
        header, values = [line.split() for line in f if line.startswith("Udp:")][:2]
    return int(values[header.index("RcvbufErrors")])


receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel doubles it
receiver.bind(("127.0.0.1", 0))
sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
before = rcvbuf_errors()
sent = sum(sender.sendto(b"x" * SIZE, receiver.getsockname()) == SIZE for _ in range(BURST))
receiver.setblocking(False)
received = 0
while True:
    try:
        receiver.recv(2048)
    except BlockingIOError:
        break
    received += 1
dropped = rcvbuf_errors() - before
print(f"sent {sent} datagrams, every sendto() succeeded")
print(f"received {received}, lost {sent - received}")
print(f"kernel counted {dropped} dropped for a full receive buffer (Udp RcvbufErrors)")
