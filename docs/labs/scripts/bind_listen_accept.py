"""What bind(), listen() and accept() each do, shown step by step with `ss` (exercise 03).

Run it inside a lab container, from the repository root:
    docker compose exec -T browser python3 - < docs/labs/scripts/bind_listen_accept.py
Standard library only; every step prints one line and what `ss` shows at that moment.
"""

import errno
import socket
import subprocess

PORT = 7100  # any free port of this container; the exercise names it
HOST = "127.0.0.1"


def ss(state_filter: str) -> str:
    """The `ss` lines for our port: Recv-Q, Send-Q, local and peer address."""
    out = subprocess.run(
        ["ss", "-Htan", *state_filter.split(), f"( sport = :{PORT} )"],
        capture_output=True,
        text=True,
        timeout=5,
        check=True,
    ).stdout
    return " | ".join(" ".join(line.split()) for line in out.splitlines()) or "(nothing)"


def try_connect() -> str:
    try:
        socket.create_connection((HOST, PORT), timeout=2).close()
    except ConnectionRefusedError:
        return "refused"
    return "connected"


def try_bind(reuse: bool) -> str:
    sock = socket.socket()
    if reuse:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, PORT))
    except OSError as exc:
        return errno.errorcode[exc.errno]
    finally:
        sock.close()
    return "bound"


server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((HOST, PORT))
print(f"[bind] bound to {server.getsockname()}; ss listening: {ss('state listening')}")
print(f"[bind] a client tries to connect: {try_connect()}")

server.listen(8)
print(f"[listen] ss listening: {ss('state listening')}")
clients = [socket.create_connection((HOST, PORT), timeout=2) for _ in range(3)]
print(f"[listen] 3 clients connected before any accept(); ss listening: {ss('state listening')}")

conn, peer = server.accept()
print(f"[accept] new socket {conn.getsockname()} <-> {peer}; the listener still listens")
print(f"[accept] ss listening: {ss('state listening')}")
print(f"[accept] ss established: {ss('state established')}")
print(f"[bind-again] another socket binds port {PORT}: {try_bind(reuse=True)}")

conn.close()  # the server side closes first: its end of this connection goes to TIME_WAIT
for client in clients:
    client.close()
server.close()
print(f"[closed] ss time-wait: {ss('state time-wait')}")
print(f"[closed] bind without SO_REUSEADDR: {try_bind(reuse=False)}")
print(f"[closed] bind with SO_REUSEADDR: {try_bind(reuse=True)}")
