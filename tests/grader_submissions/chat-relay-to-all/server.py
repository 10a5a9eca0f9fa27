# A learner's udp-chat core: JOIN, MSG, WHO, LEAVE and the refusals, but every MSG goes to
# every member (the sender too), and a stranger is told off at length.
import socket
import sys

members = {}  # address -> nick
seqs = {}


def send(sock, text, addr):
    sock.sendto(text.encode(), addr)


def main():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("", int(sys.argv[1])))
    while True:
        data, addr = sock.recvfrom(65535)
        if len(data) > 508:
            send(sock, "ERR 413 too long", addr)
            continue
        try:
            text = data.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            send(sock, "ERR 400 not UTF-8", addr)
            continue
        verb, _, rest = text.partition(" ")
        verb = verb.upper()
        if verb == "JOIN":
            if rest in members.values() and members.get(addr) != rest:
                send(sock, "ERR 409 nick taken", addr)
                continue
            members[addr] = rest
            seqs[addr] = 0
            send(sock, f"WELCOME {rest} {addr[0]}:{addr[1]} 60", addr)
            for other in members:
                if other != addr:
                    send(sock, f"JOINED {rest}", other)
        elif addr not in members:
            send(sock, "ERR 401 you must JOIN before you can do anything here", addr)
        elif verb == "MSG":
            seqs[addr] += 1
            for other in members:  # everyone, the sender too
                send(sock, f"MSG {members[addr]} {seqs[addr]} {rest}", other)
        elif verb == "WHO":
            names = " ".join(f"{n}@{a[0]}:{a[1]}" for a, n in members.items())
            send(sock, f"ROSTER 1/1 {names}", addr)
        elif verb == "LEAVE":
            nick = members.pop(addr)
            send(sock, "BYE left", addr)
            for other in members:
                send(sock, f"LEFT {nick} leave", other)
        elif verb == "PING":
            send(sock, text.replace("PING", "PONG", 1), addr)
        else:
            send(sock, "ERR 501 unknown command", addr)


main()
