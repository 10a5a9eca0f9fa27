"""The minimal relay udp-chat is measured against: ``recvfrom``, then ``sendto`` every other
address heard from. No parsing, no limits, no logging, no membership rules.

``python3 -m bench.udp_echo --port P``

A datagram starting with ``JOIN`` only registers its source (so that the load client can make
its members known before it starts counting, as it does with the chat); every other datagram
goes to every other registered address, as the chat relays a ``MSG``.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.host, args.port))
    members: list[tuple[str, int]] = []
    known: set[tuple[str, int]] = set()
    recvfrom, sendto = sock.recvfrom, sock.sendto
    while True:
        data, source = recvfrom(2048)
        if source not in known:
            known.add(source)
            members.append(source)
        if data[:4] == b"JOIN":
            continue
        for member in members:
            if member != source:
                sendto(data, member)


if __name__ == "__main__":
    sys.exit(main())
