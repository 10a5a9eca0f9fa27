"""Sample requests with their expected outcome: the parser's corpus (STYLE.md point 10).

test_http_parser.py feeds each case to the I/O-free parser whole, by line, by byte and in random
chunks; test_web_servers.py sends each over a socket to every web server. ``SMALL`` are the
limits both use, so the over-limit cases are short.
"""

from __future__ import annotations

from socketlab.http.parser import Limits

SMALL = Limits(
    max_request_line=64, max_header_line=64, max_headers=5, max_head_bytes=256, max_body=32
)

# (name, raw bytes, expected): expected is a list of (method, target, body) for every complete
# request, or an int: the status of the HTTPError the parser must raise.
CORPUS: list[tuple[str, bytes, list[tuple[str, str, bytes]] | int]] = [
    ("simple get", b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n", [("GET", "/", b"")]),
    ("bare LF line ends (nc)", b"GET /a HTTP/1.1\nHost: lab\n\n", [("GET", "/a", b"")]),
    ("leading empty line", b"\r\nGET / HTTP/1.1\r\nHost: lab\r\n\r\n", [("GET", "/", b"")]),
    ("http/1.0 without host", b"GET /x HTTP/1.0\r\n\r\n", [("GET", "/x", b"")]),
    (
        "query kept",
        b"GET /get?a=1&b=%20 HTTP/1.1\r\nHost: l\r\n\r\n",
        [("GET", "/get?a=1&b=%20", b"")],
    ),
    (
        "absolute form",
        b"GET http://lab:8080/p?q HTTP/1.1\r\nHost: lab:8080\r\n\r\n",
        [("GET", "http://lab:8080/p?q", b"")],
    ),
    ("options asterisk", b"OPTIONS * HTTP/1.1\r\nHost: l\r\n\r\n", [("OPTIONS", "*", b"")]),
    (
        "ows and empty value",
        b"GET / HTTP/1.1\r\nHost:   lab  \r\nX-Empty:\r\n\r\n",
        [("GET", "/", b"")],
    ),
    (
        "pipelined",
        b"GET /1 HTTP/1.1\r\nHost: l\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: l\r\n\r\n"
        b"GET /3 HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n",
        [("GET", "/1", b""), ("HEAD", "/2", b""), ("GET", "/3", b"")],
    ),
    (
        "content-length body",
        b"POST /f HTTP/1.1\r\nHost: l\r\nContent-Length: 5\r\n\r\nhello",
        [("POST", "/f", b"hello")],
    ),
    (
        "repeated identical content-length",
        b"POST /f HTTP/1.1\r\nHost: l\r\nContent-Length: 2, 2\r\n\r\nhi",
        [("POST", "/f", b"hi")],
    ),
    (
        "chunked body",
        b"POST /c HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
        [("POST", "/c", b"hello world")],
    ),
    (
        "chunked with trailer then pipelined",
        b"POST /c HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\nGET /n HTTP/1.1\r\nHost: l\r\n\r\n",
        [("POST", "/c", b"abc"), ("GET", "/n", b"")],
    ),
    (
        "body then pipelined",
        b"PUT /p HTTP/1.1\r\nHost: l\r\nContent-Length: 3\r\n\r\nxyz"
        b"GET / HTTP/1.1\r\nHost: l\r\n\r\n",
        [("PUT", "/p", b"xyz"), ("GET", "/", b"")],
    ),
    # --- invalid ---------------------------------------------------------------------------
    ("http/0.9", b"GET /\r\n\r\n", 400),
    ("http/2.0", b"GET / HTTP/2.0\r\nHost: l\r\n\r\n", 505),
    ("http/3", b"GET / HTTP/3\r\nHost: l\r\n\r\n", 505),
    ("lowercase version", b"GET / http/1.1\r\nHost: l\r\n\r\n", 400),
    ("missing host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("two hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("invalid host", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("space before colon", b"GET / HTTP/1.1\r\nHost : l\r\n\r\n", 400),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: l\r\nX: a\r\n  b\r\n\r\n", 400),
    ("no colon", b"GET / HTTP/1.1\r\nHost: l\r\nnonsense\r\n\r\n", 400),
    ("bad method token", b"G@T / HTTP/1.1\r\nHost: l\r\n\r\n", 400),
    ("unknown method", b"BREW /pot HTTP/1.1\r\nHost: l\r\n\r\n", 501),
    ("double space", b"GET  / HTTP/1.1\r\nHost: l\r\n\r\n", 400),
    ("target without slash", b"GET index.html HTTP/1.1\r\nHost: l\r\n\r\n", 400),
    ("nul in value", b"GET / HTTP/1.1\r\nHost: l\r\nX: a\x00b\r\n\r\n", 400),
    ("bare cr in value", b"GET / HTTP/1.1\r\nHost: l\r\nX: a\rb\r\n\r\n", 400),
    ("request line too long", b"GET /" + b"a" * 100 + b" HTTP/1.1\r\nHost: l\r\n\r\n", 414),
    ("endless request line", b"GET /" + b"a" * 300, 414),
    ("header line too long", b"GET / HTTP/1.1\r\nHost: l\r\nX: " + b"v" * 80 + b"\r\n\r\n", 431),
    (
        "too many headers",
        b"GET / HTTP/1.1\r\nHost: l\r\n" + b"".join(b"X%d: v\r\n" % i for i in range(6)) + b"\r\n",
        431,
    ),
    ("endless head", b"GET / HTTP/1.1\r\n" + b"X: v\r\n" * 60, 431),
    (
        "content-length not a number",
        b"POST / HTTP/1.1\r\nHost: l\r\nContent-Length: 5x\r\n\r\n",
        400,
    ),
    ("negative content-length", b"POST / HTTP/1.1\r\nHost: l\r\nContent-Length: -1\r\n\r\n", 400),
    (
        "conflicting content-length",
        b"POST / HTTP/1.1\r\nHost: l\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        400,
    ),
    (
        "te and cl (smuggling)",
        b"POST / HTTP/1.1\r\nHost: l\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
        400,
    ),
    (
        "te not ending in chunked",
        b"POST / HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: gzip\r\n\r\n",
        400,
    ),
    (
        "te gzip then chunked",
        b"POST / HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        501,
    ),
    ("chunked in http/1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (
        "bad chunk size",
        b"POST / HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
    ),
    (
        "chunk without crlf",
        b"POST / HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n",
        400,
    ),
    ("body over limit", b"POST / HTTP/1.1\r\nHost: l\r\nContent-Length: 33\r\n\r\n", 413),
    (
        "chunked over limit",
        b"POST / HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: chunked\r\n\r\n21\r\n"
        + b"a" * 33
        + b"\r\n0\r\n\r\n",
        413,
    ),
    ("truncated body", b"POST / HTTP/1.1\r\nHost: l\r\nContent-Length: 10\r\n\r\nshort", 400),
    (
        "truncated chunked",
        b"POST / HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        400,
    ),
]
