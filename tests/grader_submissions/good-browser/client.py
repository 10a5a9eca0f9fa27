# A right socket browser: one kept-alive connection, Content-Length and chunked bodies, the
# page's images and the favicon, and the page's body saved as it came.
import os
import re
import socket
import sys
from urllib.parse import urljoin, urlsplit


class Connection:
    def __init__(self, host, port):
        self.host = f"{host}:{port}" if port != 80 else host
        self.sock = socket.create_connection((host, port), timeout=10)
        self.buffer = b""

    def fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed early")
        self.buffer += chunk

    def take(self, size):
        while len(self.buffer) < size:
            self.fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def line(self):
        while b"\r\n" not in self.buffer:
            self.fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def get(self, path):
        request = f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: good-browser\r\n\r\n"
        self.sock.sendall(request.encode())
        status = self.line()
        fields = {}
        while line := self.line():
            name, _, value = line.decode("latin-1").partition(":")
            fields[name.strip().lower()] = value.strip()
        if "chunked" in fields.get("transfer-encoding", ""):
            body = b""
            while size := int(self.line().split(b";")[0], 16):
                body += self.take(size)
                self.take(2)
            while self.line():
                pass
        else:
            body = self.take(int(fields.get("content-length", "0")))
        return status, body


def main():
    url = sys.argv[1]
    parts = urlsplit(url)
    conn = Connection(parts.hostname, parts.port or 80)
    status, page = conn.get(parts.path or "/")
    with open(os.environ.get("OUTPUT", "page.html"), "wb") as f:
        f.write(page)
    for src in re.findall(rb'<img[^>]+src="([^"]+)"', page):
        target = urlsplit(urljoin(url, src.decode()))
        _, image = conn.get(target.path)
        print("image", target.path, len(image), "bytes")
    _, icon = conn.get("/favicon.ico")
    print("page", status.decode(), len(page), "bytes; favicon", len(icon), "bytes")


main()
