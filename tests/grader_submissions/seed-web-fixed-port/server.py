# The lessons' server with its port written in: it ignores the port it is given.
import socket

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("", 8888))
server.listen(128)
print("------server started on 8888-----")
while True:
    client, address = server.accept()
    request = client.recv(1024)
    with open("static/index.html", "rb") as f:
        client.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + f.read())
    client.close()
