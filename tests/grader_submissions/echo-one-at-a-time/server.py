# An echo server that serves one client at a time: right for each client, but the second
# client waits until the first has gone.
import socket
import sys

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("", int(sys.argv[1])))
server.listen(5)
while True:
    conn, addr = server.accept()
    print("connected by", addr)
    try:
        while True:
            data = conn.recv(1024)
            if not data:
                break
            conn.sendall(data)
    except OSError as exc:
        print("client", addr, "went away:", exc)
    conn.close()
