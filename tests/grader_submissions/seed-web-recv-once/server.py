# A static web server in the style of the lessons: a thread per client, one recv(1024) taken
# for the whole request, the path glued to "static", and a bare "200 OK" head.
import re
import socket
import sys
import threading


def handle(client):
    try:
        request = client.recv(1024).decode("utf8")
        path = re.match(r"[^/]+(/[^ ]*)", request.splitlines()[0]).group(1)
        if path == "/":
            path = "/index.html"
        f = open("static" + path, "rb")
    except Exception:
        client.send(b"HTTP/1.1 404 NOT FOUND\r\n\r\n-----not found-----")
    else:
        body = f.read()
        f.close()
        client.send(b"HTTP/1.1 200 OK\r\n\r\n" + body)
    client.close()


def main():
    port = int(sys.argv[1])
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("", port))
    server.listen(128)
    print("server started on", port)
    while True:
        client, address = server.accept()
        threading.Thread(target=handle, args=(client,)).start()


if __name__ == "__main__":
    main()
