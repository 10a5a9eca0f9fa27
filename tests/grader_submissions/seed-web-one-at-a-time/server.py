# A better static web server that still serves one client at a time: it reads the head until
# the blank line, refuses "..", sends Content-Length and Content-Type, and closes.
import os
import socket
import sys
import urllib.parse

TYPES = {".html": "text/html", ".css": "text/css", ".png": "image/png", ".js": "text/javascript"}
ROOT = os.environ.get("ROOT", "static")


def answer(client, status, body, ctype="text/plain"):
    head = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
    client.sendall((head + "Connection: close\r\n\r\n").encode() + body)


def handle(client):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(1024)
        if not chunk:
            return
        data += chunk
    parts = data.split(b"\r\n")[0].split(b" ")
    if len(parts) != 3 or not parts[1].startswith(b"/"):
        answer(client, "400 Bad Request", b"bad request\n")
        return
    path = urllib.parse.unquote(parts[1].decode("latin-1"))
    if path.endswith("/"):
        path += "index.html"
    if ".." in path.split("/"):
        answer(client, "404 Not Found", b"not found\n")
        return
    try:
        with open(ROOT + path, "rb") as f:
            body = f.read()
    except OSError:
        answer(client, "404 Not Found", b"not found\n")
        return
    answer(client, "200 OK", body, TYPES.get(os.path.splitext(path)[1], "application/octet-stream"))


def main():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("", int(sys.argv[1])))
    server.listen(16)
    while True:
        client, _ = server.accept()
        try:
            handle(client)
        except OSError as exc:
            print("client error:", exc)
        finally:
            client.close()


if __name__ == "__main__":
    main()
