"""http-static: a static HTTP/1.1 file server, checked over raw sockets.

The grader generates the document root (:mod:`.docroot`), so it knows every byte a right answer
holds. Requests are written by hand, byte for byte, because the interesting cases are the ones
a library would never send: a head in pieces, a 6 KiB head, garbage, ``..`` in a path.
The checks follow docs/labs/14-write-your-own-web-server.md, one section per check id.
"""

from __future__ import annotations

import dataclasses
import re
import socket
import time
from typing import Final

from . import wire
from .checks import Failed, Level, NoAnswer, Suite, reason
from .docroot import SiteFile, SiteMap
from .target import ServerTarget

DOC: Final = "docs/labs/14-write-your-own-web-server.md"
ANSWER_WITHIN: Final = 5.0  # a static file on a LAN takes milliseconds; 5 s is for a slow host
PAUSE: Final = 0.4  # between the pieces of a head: long enough for a server to read each alone
LARGE_HEAD: Final = 6 * 1024  # within every common server's limit (8 KiB) but over recv(1024)
STATUS_LINE: Final = re.compile(rb"HTTP/1\.[01] [1-5][0-9][0-9] [\x20-\x7e\t]*")
PASSWD: Final = b"root:x:0:0"


@dataclasses.dataclass
class HttpTarget(ServerTarget):
    site: SiteMap | None = None

    @property
    def sitemap(self) -> SiteMap:
        assert self.site is not None
        return self.site


suite: Suite[HttpTarget] = Suite("http-static", DOC)


def _get(target: HttpTarget, path: str, *fields: str, method: str = "GET") -> wire.Response:
    data = wire.request(method, path, target.host_field, *fields)
    return wire.exchange(target.address, data, ANSWER_WITHIN, head_request=method == "HEAD")


def _same_body(what: SiteFile, answer: wire.Response) -> None:
    if answer.status != 200:
        raise Failed(
            f"GET {what.path}: {answer.describe()}", f"200 and the file's {len(what.data)} bytes"
        )
    if answer.body == what.data:
        return
    got, want = answer.body, what.data
    first = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
    where = (
        f"they differ from byte {first} on ({got[first : first + 16]!r} instead of "
        f"{want[first : first + 16]!r})"
        if first is not None
        else "one is a prefix of the other"
    )
    raise Failed(
        f"GET {what.path}: {len(got)} body bytes, {where}",
        f"the file's {len(want)} bytes exactly",
    )


@suite.check(
    "connect",
    "the server accepts a TCP connection on the port it was given",
    rationale="The grader chooses the port (argv[1] and $PORT); a server with a port written "
    "into it cannot be run next to another one, nor graded.",
    expected="a TCP connection to the given port is accepted",
)
def connect(target: HttpTarget) -> str:
    with wire.connect_retrying(target.address, target.startup):
        return f"connected to {target.host_field}"


@suite.check(
    "get-root",
    "GET / answers 200 with index.html",
    rationale="A directory's URL is answered with its index.html, read from the document root "
    "the grader gave (static/ in the working directory, or $ROOT), not from text in the program.",
    expected="200 and the bytes of index.html",
    requires=("connect",),
)
def get_root(target: HttpTarget) -> str:
    answer = _get(target, "/")
    _same_body(target.sitemap.index, answer)
    return f"200, {len(answer.body)} bytes, the same as index.html"


@suite.check(
    "status-line",
    "the status line and the head are well formed",
    rationale="RFC 9112 §4: the first line is HTTP-version SP status-code SP reason, and every "
    "line of the head ends in CRLF; 'HTTP/1.x' or a bare LF breaks strict clients.",
    expected="'HTTP/1.1 200 OK' (or HTTP/1.0) and CRLF after every line",
    requires=("get-root",),
)
def status_line(target: HttpTarget) -> str:
    answer = _get(target, "/")
    if not STATUS_LINE.fullmatch(answer.status_line):
        raise Failed(f"status line {answer.status_line[:80]!r}")
    head = answer.raw_head[:-4]
    if b"\n" in head.replace(b"\r\n", b""):
        raise Failed(f"a line of the head ends in a bare LF: {head[:120]!r}")
    return repr(answer.status_line.decode("latin-1"))


@suite.check(
    "framing",
    "the client can tell where the body ends",
    rationale="RFC 9112 §6.3: a body ends after Content-Length bytes, or the last chunk, or when "
    "the server closes. A wrong length, or none on a connection left open, hangs the client.",
    expected="a right Content-Length, or chunked, or no length and the connection closed",
    requires=("get-root",),
)
def framing(target: HttpTarget) -> str:
    page = target.sitemap.page
    with wire.connect(target.address) as sock:  # HTTP/1.1 and no "Connection: close"
        sock.sendall(wire.request("GET", page.path, target.host_field, close=False))
        answer = wire.Reader(sock).response(wire.Deadline(ANSWER_WITHIN))
        length = answer.field("Content-Length")
        if answer.framing == "content-length" and int(length or 0) != len(page.data):
            extra = wire.quiet_for(sock, 0.3)
            raise Failed(
                f"Content-Length: {length}, but the file has {len(page.data)} bytes"
                + (f" ({len(extra)} more bytes followed)" if extra else ""),
                f"Content-Length: {len(page.data)}",
            )
        if answer.framing == "content-length" and wire.quiet_for(sock, 0.3):
            raise Failed("more bytes came after Content-Length bytes")
    _same_body(page, answer)
    return f"{answer.framing}, {len(answer.body)} bytes"


def _expect_type(target: HttpTarget, file: SiteFile) -> str:
    answer = _get(target, file.path)
    got = answer.field("Content-Type")
    if got is None:
        raise Failed(
            f"GET {file.path}: no Content-Type field", f"Content-Type: {file.content_type}"
        )
    if got.split(";")[0].strip().lower() != file.content_type:
        raise Failed(f"GET {file.path}: Content-Type: {got}", f"Content-Type: {file.content_type}")
    return f"{file.path.rsplit('.', 1)[-1]}: {got}"


@suite.check(
    "content-type",
    "each file is sent with its media type",
    rationale="RFC 9110 §8.3: without Content-Type the browser guesses (sniffs); a stylesheet "
    "sent as text/html is not applied, an image shows as text.",
    expected="text/html for .html, text/css for .css, image/png for .png",
    requires=("get-root",),
)
def content_type(target: HttpTarget) -> str:
    site = target.sitemap
    return "; ".join(_expect_type(target, f) for f in (site.page, site.stylesheet, site.image))


@suite.check(
    "binary-file",
    "an image comes byte for byte",
    rationale="An image is bytes, not text: open it in 'rb' mode and send it as it is; decoding "
    "or encoding it as UTF-8 corrupts every byte over 127.",
    expected="200 and the image's bytes exactly",
    requires=("get-root",),
)
def binary_file(target: HttpTarget) -> str:
    image = target.sitemap.image
    answer = _get(target, image.path)
    _same_body(image, answer)
    return f"{len(answer.body)} bytes, identical"


@suite.check(
    "not-found",
    "a missing file is 404 with a body",
    rationale="RFC 9110 §15.5.5: 404 says the file is not there; a body says so to a person. A "
    "server that crashes or answers 200 for a missing file misleads every client.",
    expected="404 and a non-empty body",
    requires=("get-root",),
)
def not_found(target: HttpTarget) -> str:
    missing = target.sitemap.missing
    answer = _get(target, missing)
    if answer.status != 404 or not answer.body:
        raise Failed(f"GET {missing}: {answer.describe()}")
    return f"404, {len(answer.body)} body bytes"


def _send_in_pieces(sock: socket.socket, pieces: list[bytes], pause: float = PAUSE) -> None:
    """Send ``pieces`` with pauses; Failed if the server answers before the head is complete."""
    for number, piece in enumerate(pieces, 1):
        sock.sendall(piece)
        if number < len(pieces):
            early = wire.quiet_for(sock, pause)
            if early:
                raise Failed(
                    f"the server answered after piece {number} of {len(pieces)}, before the "
                    f"head was complete: {early[:60]!r}",
                    "no answer until the blank line that ends the head",
                )


@suite.check(
    "split-head",
    "a head that arrives in pieces is read whole",
    rationale="TCP delivers a stream, not messages: one recv(1024) may hold half a request. A "
    "server reads until the blank line (CRLF CRLF) before it answers.",
    expected="no answer until the last of 3 pieces, then 200 and the page",
    requires=("get-root",),
)
def split_head(target: HttpTarget) -> str:
    page = target.sitemap.page
    data = wire.request("GET", page.path, target.host_field)
    cut = [len(b"GET ") + len(page.path) // 2, data.index(b"\r\n") + 6]
    pieces = [data[: cut[0]], data[cut[0] : cut[1]], data[cut[1] :]]
    with wire.connect(target.address) as sock:
        _send_in_pieces(sock, pieces)
        answer = wire.Reader(sock).response(wire.Deadline(ANSWER_WITHIN))
    _same_body(page, answer)
    return f"3 pieces {PAUSE} s apart, then 200 and the page"


@suite.check(
    "large-head",
    "a 6 KiB head is read whole",
    rationale="Browsers send heads of several KiB (cookies); a server that reads 1024 bytes "
    "answers before the request has arrived and leaves the rest unread.",
    expected="no answer before the 6 KiB head is complete, then 200 and the page",
    requires=("get-root",),
)
def large_head(target: HttpTarget) -> str:
    page = target.sitemap.page
    fillers = [f"X-Filler-{n:02d}: {'f' * 90}" for n in range(LARGE_HEAD // 104)]
    data = wire.request("GET", page.path, target.host_field, *fillers)
    with wire.connect(target.address) as sock:
        # A longer pause than split-head's: a one-recv server answers 200 here, so only its
        # early answer tells it apart, and a loaded host must not hide that.
        _send_in_pieces(sock, [data[: len(data) - 200], data[len(data) - 200 :]], 2 * PAUSE)
        answer = wire.Reader(sock).response(wire.Deadline(ANSWER_WITHIN))
    _same_body(page, answer)
    return f"a {len(data)}-byte head, then 200 and the page"


@suite.check(
    "concurrent",
    "a stalled client does not block the others",
    rationale="A client that connects and then says nothing (or half a head) must not stop the "
    "server: each connection needs its own thread or process, or a select() loop.",
    expected="with one silent and one half-sent connection open, a third client gets 200 "
    "within 5 s",
    requires=("get-root",),
)
def concurrent(target: HttpTarget) -> str:
    silent = wire.connect(target.address)
    half = wire.connect(target.address)
    try:
        half.sendall(f"GET / HTTP/1.1\r\nHost: {target.host_field}\r\n".encode())
        time.sleep(0.2)
        try:
            answer = _get(target, "/")
        except NoAnswer:
            raise Failed(
                f"no answer within {ANSWER_WITHIN:g} s while another client was stalled",
            ) from None
        if answer.status != 200:
            raise Failed(f"the third client got {answer.describe()}")
    finally:
        silent.close()
        half.close()
    return "the third client got 200 while two others stalled"


@suite.check(
    "bad-request",
    "garbage gets 400 or a close, and the server keeps serving",
    rationale="RFC 9112 §3: a request line that does not parse is answered 400 (Bad Request); "
    "never 200 or 404 as if it were a request, and never a crash.",
    expected="400 (or the connection closed), then GET / still answers 200",
    requires=("get-root",),
)
def bad_request(target: HttpTarget) -> str:
    garbage = b"\x00\x01\x02 this is not HTTP \xff\xfe\r\n\r\n"
    with wire.connect(target.address) as sock:
        sock.sendall(garbage)
        reader = wire.Reader(sock)
        try:
            answer = reader.response(wire.Deadline(ANSWER_WITHIN))
        except NoAnswer:
            raise Failed(
                f"no answer and no close within {ANSWER_WITHIN:g} s after garbage"
            ) from None
        except wire.Closed:
            seen = "the connection was closed"
        except ConnectionResetError:
            seen = "the connection was reset"
        else:
            if answer.status != 400:
                raise Failed(f"garbage got {answer.describe()}")
            seen = "400"
    try:
        after = _get(target, "/")
    except (Failed, OSError) as exc:
        raise Failed(f"garbage got {seen}; then GET /: {reason(exc)}") from None
    if after.status != 200:
        raise Failed(f"garbage got {seen}; then GET / got {after.describe()}")
    return f"garbage got {seen}; GET / still answers 200"


def _traversal_paths(site: SiteMap) -> list[str]:
    paths = []
    if site.secret_name is not None:
        name = site.secret_name
        paths += [
            f"/../{name}",
            f"/%2e%2e/{name}",
            f"/..%2f{name}",
            f"/%2E%2E%2F{name}",
            f"/img/../../{name}",
        ]
    return [*paths, "/../../../../../../../../etc/passwd", "/%2e%2e/" * 8 + "etc/passwd"]


@suite.check(
    "traversal",
    "no file outside the document root can be read",
    rationale="open('static' + path) with path '/../secret' opens a file outside the root, "
    "plainly or percent-encoded (%2e%2e). Normalise the decoded path and refuse what escapes.",
    expected="no answer carries the file above the root nor /etc/passwd (404, 403 or 400)",
    requires=("get-root",),
)
def traversal(target: HttpTarget) -> str:
    site = target.sitemap
    statuses = []
    for path in _traversal_paths(site):
        try:
            answer = _get(target, path)
        except NoAnswer:
            raise Failed(f"GET {path}: no answer within {ANSWER_WITHIN:g} s") from None
        except (Failed, OSError) as exc:
            statuses.append(f"{path}: {reason(exc)}")
            continue
        leaked = (site.secret is not None and site.secret in answer.body) or PASSWD in answer.body
        if leaked or answer.status == 200:
            raise Failed(
                f"GET {path} got {answer.status} and "
                + ("the file outside the root" if leaked else f"{len(answer.body)} bytes")
            )
        statuses.append(str(answer.status))
    return f"{len(statuses)} attempts refused: " + ", ".join(sorted(set(statuses)))


@suite.check(
    "head",
    "HEAD answers the head of GET, without a body",
    rationale="RFC 9110 §9.3.2: HEAD is GET without the body; clients use it to check a file's "
    "size and date without downloading it.",
    expected="200, the page's Content-Length (if any), and no body bytes",
    requires=("get-root",),
    level=Level.SHOULD,
)
def head(target: HttpTarget) -> str:
    page = target.sitemap.page
    with wire.connect(target.address) as sock:
        sock.sendall(wire.request("HEAD", page.path, target.host_field))
        reader = wire.Reader(sock)
        answer = reader.response(wire.Deadline(ANSWER_WITHIN), head_request=True)
        if answer.status != 200:
            raise Failed(f"HEAD {page.path}: {answer.describe()}")
        rest = reader.until_close(wire.Deadline(ANSWER_WITHIN), "the end after a HEAD answer")
    if rest:
        raise Failed(f"{len(rest)} body bytes followed the head of a HEAD answer", "no body")
    length = answer.field("Content-Length")
    if length is not None and length != str(len(page.data)):
        raise Failed(f"Content-Length: {length}", f"Content-Length: {len(page.data)}")
    return f"200, Content-Length {length or 'absent'}, no body"


@suite.check(
    "keep-alive",
    "three requests on one connection",
    rationale="RFC 9112 §9.3: HTTP/1.1 connections are persistent unless one side says "
    "'Connection: close'; a page with 10 images would otherwise cost 11 handshakes.",
    expected="three GETs on one connection, each answered with its file",
    requires=("framing",),
    level=Level.SHOULD,
)
def keep_alive(target: HttpTarget) -> str:
    site = target.sitemap
    with wire.connect(target.address) as sock:
        reader = wire.Reader(sock)
        for number, file in enumerate((site.page, site.page2, site.stylesheet), 1):
            try:
                sock.sendall(wire.request("GET", file.path, target.host_field, close=False))
                answer = reader.response(wire.Deadline(ANSWER_WITHIN))
            except (Failed, OSError) as exc:
                raise Failed(f"request {number} of 3: {reason(exc)}") from None
            _same_body(file, answer)
            if number == 1 and answer.framing == "close":
                raise Failed("the first answer ended by closing the connection")
    return "3 requests answered on one connection"


@suite.check(
    "if-modified-since",
    "a file not modified since is 304",
    rationale="RFC 9110 §13.1.3: a cache sends back the Last-Modified date it got; 304 Not "
    "Modified without a body saves sending the file again.",
    expected="Last-Modified on the answer, then 304 and no body for If-Modified-Since",
    requires=("get-root",),
    level=Level.SHOULD,
)
def if_modified_since(target: HttpTarget) -> str:
    sheet = target.sitemap.stylesheet
    first = _get(target, sheet.path)
    modified = first.field("Last-Modified")
    if modified is None:
        raise Failed(f"GET {sheet.path}: no Last-Modified field")
    again = _get(target, sheet.path, f"If-Modified-Since: {modified}")
    if again.status != 304 or again.body:
        raise Failed(f"If-Modified-Since: {modified} got {again.describe()}")
    return f"304 for If-Modified-Since: {modified}"
