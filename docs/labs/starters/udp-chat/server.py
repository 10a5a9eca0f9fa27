"""A UDP chat relay: the core of the protocol in docs/udp-chat-protocol.md.

Exercise: docs/labs/15-write-your-own-udp-chat.md. Fill in the TODOs, then, from the
repository root:

    make grade KIND=udp-chat SUBMISSION=docs/labs/starters/udp-chat

As it is, the server refuses every datagram with ERR 501: the grader says which checks fail
and which section to read.
"""

import os
import socket
import sys

MAX_DATAGRAM = 508  # protocol section 1
IDLE = float(os.environ.get("IDLE_TIMEOUT", "60"))  # the grader sets it, to drop members fast

members = {}  # (ip, port) -> nick: the source address is the identity


def reply(sock, address, text):
    sock.sendto(text.encode("utf-8"), address)


def handle(sock, data, address):
    # TODO (bad-input): a datagram over MAX_DATAGRAM bytes gets "ERR 413 ...", invalid UTF-8
    #   gets "ERR 400 ...", and an unknown verb "ERR 501 ...".
    text = data.decode("utf-8", "replace").rstrip("\r\n")
    verb, _, rest = text.partition(" ")
    verb = verb.upper()
    # TODO (join): JOIN <nick> -> members[address] = nick, and to the joiner
    #   f"WELCOME {nick} {address[0]}:{address[1]} {IDLE:g}" (the address recvfrom() gave you);
    #   "JOINED <nick>" to every other member.
    # TODO (nick-taken): a nick another address holds gets "ERR 409 ...".
    # TODO (not-member): anything but JOIN and PING from an address not in members gets
    #   "ERR 401": but see no-amplification: never longer than the datagram that caused it.
    # TODO (relay, seq): MSG <text> -> f"MSG {nick} {seq} {text}" to every member except the
    #   sender; seq counts that member's messages 1, 2, 3, ...
    # TODO (who): WHO -> "ROSTER 1/1 nick@ip:port nick@ip:port ..."
    # TODO (leave): LEAVE -> "BYE left" to the leaver, "LEFT <nick> leave" to the others.
    # TODO (tell, idle-drop): TELL <nick> <text>; drop members silent for more than IDLE s.
    if verb == "PING":
        reply(sock, address, "PONG" + text[4:])  # exactly as long as the PING
        return
    reply(sock, address, "ERR 501"[: len(data)])  # never longer than what came


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("PORT", "9999"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", port))
    print("chat relay on udp port", port, flush=True)
    while True:
        data, address = sock.recvfrom(65535)  # 65535: an oversize datagram is seen whole
        try:
            handle(sock, data, address)
        except Exception as exc:  # a bad datagram must never stop the relay
            print("datagram from", address, "failed:", exc, flush=True)


if __name__ == "__main__":
    main()
