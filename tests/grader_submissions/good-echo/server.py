# A right echo server: a thread per client, recv until the client is done, sendall, and a
# client that vanishes ends only its own thread.
import socket
import sys
import threading


def handle(conn, addr):
    with conn:
        try:
            while data := conn.recv(65536):
                conn.sendall(data)
        except OSError as exc:
            print(addr, "went away:", exc, flush=True)


server = socket.create_server(("", int(sys.argv[1])), reuse_port=False, backlog=64)
while True:
    conn, addr = server.accept()
    threading.Thread(target=handle, args=(conn, addr), daemon=True).start()
