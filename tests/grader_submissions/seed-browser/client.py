# The lessons' socket "browser": one request with Connection: close, one recv for the answer,
# and everything it got written to the file.
import os
import socket
import sys
from urllib.parse import urlsplit

url = urlsplit(sys.argv[1])
client = socket.socket()
client.connect((url.hostname, url.port or 80))
client.send(f"GET {url.path} HTTP/1.1\r\nHost:{url.hostname}\r\nConnection:close\r\n\r\n".encode())
recv_data = client.recv(1024 * 100)
with open(os.environ.get("OUTPUT", "page.html"), "wb") as f:
    f.write(recv_data)
client.close()
