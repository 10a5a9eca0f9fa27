"""A WSGI app for multiprocess-web: a directory's URL is its index.html under $ROOT."""

import os
import posixpath


def application(environ, start_response):
    path = posixpath.normpath(environ.get("PATH_INFO") or "/")
    index = os.path.join(os.environ["ROOT"], path.lstrip("/"), "index.html")
    root = os.path.realpath(os.environ["ROOT"])
    if not os.path.realpath(index).startswith(root + os.sep) or not os.path.isfile(index):
        body = b"404: no such page\n"
        start_response("404 Not Found", [("Content-Type", "text/plain"),
                                         ("Content-Length", str(len(body)))])
        return [body]
    with open(index, "rb") as f:
        body = f.read()
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]
