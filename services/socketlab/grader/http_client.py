"""http-client: a socket "browser", graded by the requests it sends and the bytes it saves.

The grader runs a small recording HTTP server and runs the submission twice, with a URL of its
own each time (the only argument, and ``$URL``); the client saves the page's body to the file
named by ``$OUTPUT``. Run ``a`` serves a page with Content-Length, in two pieces 0.3 s apart
(one recv() is not enough), with an image in it; run ``b`` serves a page in chunks. Then the
checks look at what was recorded. They follow docs/labs/16-write-your-own-browser.md.
"""

from __future__ import annotations

import dataclasses
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Final

from .checks import Failed, Level, Suite
from .docroot import png

DOC: Final = "docs/labs/16-write-your-own-browser.md"
RUN_TIMEOUT: Final = 30.0  # one run of the client: fetch a page, an image and the favicon
HOLD: Final = 6.0  # an idle kept-alive connection is closed by the server after this long
PIECE_PAUSE: Final = 0.3
MAX_REQUEST_HEAD: Final = 16 * 1024
RUNS: Final = ("a", "b")


@dataclasses.dataclass
class ClientRun:
    """What one run of the client did, as the launcher saw it."""

    exit_code: int | None
    timed_out: bool
    saved: bytes | None  # the file at $OUTPUT, None if there is none
    note: str = ""


# (run name, URL) -> what the client did. In the grader's container the host runs the client in
# its own container; in tests it is a subprocess.
Launcher = Callable[[str, str], ClientRun]


@dataclasses.dataclass
class Recorded:
    connection: int
    run: str
    raw: bytes
    line: str
    fields: list[tuple[str, str]]

    def field(self, name: str) -> str | None:
        return next((v for k, v in self.fields if k.lower() == name.lower()), None)

    @property
    def path(self) -> str:
        parts = self.line.split(" ")
        return parts[1] if len(parts) == 3 else ""


@dataclasses.dataclass
class Page:
    path: str
    body: bytes
    chunked: bool


class Site:
    """What the recording server serves; every path and byte random per grading."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.image_path = f"/{token}/img/{secrets.token_hex(4)}.png"
        self.image = png(32, 32, secrets.token_bytes(32 * 32 * 3))
        self.favicon = png(16, 16, secrets.token_bytes(16 * 16 * 3))
        lines = "\n".join(f"<p>{n}: {secrets.token_urlsafe(60)}</p>" for n in range(40))
        page_a = (
            f"<!doctype html>\n<html><head><title>a {token}</title></head><body>\n"
            f'<h1>run a</h1>\n<img src="{self.image_path}" alt="x">\n{lines}\n</body></html>\n'
        ).encode()
        page_b = (
            f"<!doctype html>\n<html><head><title>b {token}</title></head><body>\n"
            f"<h1>run b, chunked</h1>\n{lines[::-1]}\n</body></html>\n"
        ).encode()
        self.pages = {
            "a": Page(f"/{token}/a/index.html", page_a, chunked=False),
            "b": Page(f"/{token}/b/chunked.html", page_b, chunked=True),
        }


@dataclasses.dataclass
class Connection:
    number: int
    run: str
    closed_by: str = ""  # "client" or "server (idle)"
    asked_close: bool = False
    sent_complete: list[str] = dataclasses.field(default_factory=list)


class Recorder:
    """A threaded HTTP/1.1 server that records every request and connection it sees."""

    def __init__(self, site: Site, listen: tuple[str, int], hold: float = HOLD) -> None:
        self.site = site
        self.hold = hold
        self.sock = socket.create_server(listen, reuse_port=False)
        self.address = self.sock.getsockname()[:2]
        self.requests: list[Recorded] = []
        self.connections: list[Connection] = []
        self.run = ""
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, name="recorder", daemon=True)

    def __enter__(self) -> Recorder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.sock.close()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                if len(self.connections) >= 64:  # bounded: a client that loops gets no more
                    conn.close()
                    continue
                record = Connection(len(self.connections) + 1, self.run)
                self.connections.append(record)
            threading.Thread(target=self._serve, args=(conn, record), daemon=True).start()

    def _serve(self, conn: socket.socket, record: Connection) -> None:
        buffer = b""
        try:
            conn.settimeout(self.hold)
            while len(self.requests) < 200:
                while b"\r\n\r\n" not in buffer:
                    try:
                        chunk = conn.recv(65536)
                    except TimeoutError:
                        record.closed_by = "server (idle)"
                        return
                    if not chunk:
                        record.closed_by = "client"
                        return
                    buffer += chunk
                    if len(buffer) > MAX_REQUEST_HEAD:
                        return
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                recorded = self._record(record, head)
                if not self._answer(conn, record, recorded):
                    return
                if record.asked_close:
                    record.closed_by = record.closed_by or "server (Connection: close)"
                    return
        except OSError:
            record.closed_by = record.closed_by or "client (reset)"
        finally:
            conn.close()

    def _record(self, record: Connection, head: bytes) -> Recorded:
        text = head.decode("latin-1")
        line, *rest = text.split("\r\n")
        fields = []
        for item in rest:
            name, _, value = item.partition(":")
            fields.append((name.strip(), value.strip()))
        recorded = Recorded(record.number, record.run, head + b"\r\n\r\n", line, fields)
        connection = ",".join(v.lower() for k, v in fields if k.lower() == "connection")
        # RFC 9112 §9.3: HTTP/1.1 is persistent unless "close"; HTTP/1.0 only with "keep-alive"
        if "close" in connection or (line.endswith("HTTP/1.0") and "keep-alive" not in connection):
            record.asked_close = True
        with self.lock:
            self.requests.append(recorded)
        return recorded

    def _answer(self, conn: socket.socket, record: Connection, request: Recorded) -> bool:
        path = request.path.split("?", 1)[0]
        page = next((p for p in self.site.pages.values() if p.path == path), None)
        closing = "Connection: close\r\n" if record.asked_close else ""
        if page is not None and page.chunked:
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                + closing.encode()
                + b"Transfer-Encoding: chunked\r\n\r\n"
            )
            third = len(page.body) // 3
            for part in (page.body[:third], page.body[third : 2 * third], page.body[2 * third :]):
                conn.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                time.sleep(PIECE_PAUSE / 2)
            conn.sendall(b"0\r\n\r\n")
        elif page is not None:
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                f"Content-Length: {len(page.body)}\r\n{closing}\r\n"
            ).encode()
            conn.sendall(head + page.body[:700])
            time.sleep(PIECE_PAUSE)  # one recv() now holds the head and 700 bytes at most
            conn.sendall(page.body[700:])
        elif path in (self.site.image_path, "/favicon.ico"):
            body = self.site.image if path == self.site.image_path else self.site.favicon
            conn.sendall(
                "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n"
                f"Content-Length: {len(body)}\r\n{closing}\r\n".encode()
                + body
            )
        else:
            body = b"not found\n"
            conn.sendall(
                f"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(body)}\r\n{closing}\r\n".encode()
                + body
            )
        record.sent_complete.append(path)
        return True


@dataclasses.dataclass
class ClientTarget:
    """Where the recording server listens, what URL host the client is told, how to run it."""

    listen: tuple[str, int]
    # "grader:23456": the URL's host and port, and the Host field expected; "" means the
    # address the recording server listens on (tests listen on 127.0.0.1 port 0)
    public_host: str
    launcher: Launcher
    token: str = dataclasses.field(default_factory=lambda: secrets.token_hex(6))
    hold: float = HOLD  # seconds an idle kept-alive connection stays open


@dataclasses.dataclass
class Session:
    target: ClientTarget
    public_host: str
    site: Site
    runs: dict[str, ClientRun]
    requests: list[Recorded]
    connections: list[Connection]

    def url(self, run: str) -> str:
        return f"http://{self.public_host}{self.site.pages[run].path}"

    def of_run(self, run: str) -> list[Recorded]:
        return [r for r in self.requests if r.run == run]

    def page_request(self, run: str) -> Recorded | None:
        path = self.site.pages[run].path
        return next((r for r in self.of_run(run) if r.path == path), None)

    def connection(self, number: int) -> Connection:
        return self.connections[number - 1]


def record_session(target: ClientTarget) -> Session:
    """Serve, run the client once per run, and return everything that happened."""
    site = Site(target.token)
    runs: dict[str, ClientRun] = {}
    with Recorder(site, target.listen, target.hold) as recorder:
        public = target.public_host or "{}:{}".format(*recorder.address)
        for run in RUNS:
            recorder.run = run
            url = f"http://{public}{site.pages[run].path}"
            runs[run] = target.launcher(run, url)
            time.sleep(0.2)  # let the last connection's close be recorded
        with recorder.lock:
            return Session(
                target, public, site, runs, list(recorder.requests), list(recorder.connections)
            )


suite: Suite[Session] = Suite("http-client", DOC)


def _run_note(session: Session, run: str) -> str:
    done = session.runs[run]
    if done.timed_out:
        return f" (the client did not finish within {RUN_TIMEOUT:g} s and was stopped)"
    if done.exit_code not in (0, None):
        said = f": {done.note}" if done.note else ""
        return f" (the client exited with status {done.exit_code}{said})"
    return ""


def _first_request(session: Session, run: str) -> Recorded:
    requests = session.of_run(run)
    if not requests:
        raise Failed(
            f"run {run}: the client sent no request to {session.url(run)}" + _run_note(session, run)
        )
    return requests[0]


@suite.check(
    "request-line",
    "the request line names the URL's path",
    rationale="RFC 9112 §3: method SP request-target SP HTTP-version CRLF; the target is the "
    "path of the URL (with its query), not the whole URL and not always '/'.",
    expected="GET <the URL's path> HTTP/1.1 (or HTTP/1.0), lines ending in CRLF",
)
def request_line(session: Session) -> str:
    first = _first_request(session, "a")
    want = session.site.pages["a"].path
    if first.line not in (f"GET {want} HTTP/1.1", f"GET {want} HTTP/1.0"):
        raise Failed(f"{first.line!r}", f"'GET {want} HTTP/1.1'")
    if b"\n" in first.raw.replace(b"\r\n", b""):
        raise Failed("a line of the request ends in a bare LF", "CRLF after every line")
    return repr(first.line)


@suite.check(
    "host-header",
    "the Host field names the URL's host and port",
    rationale="RFC 9112 §3.2: every HTTP/1.1 request carries Host; one server address serves "
    "many sites, and the port is part of it when it is not 80.",
    expected="Host: <the URL's host:port>",
    requires=("request-line",),
)
def host_header(session: Session) -> str:
    first = _first_request(session, "a")
    want = session.public_host
    got = first.field("Host")
    if got is None:
        raise Failed("no Host field", f"Host: {want}")
    if got.lower() != want.lower():
        raise Failed(f"Host: {got}", f"Host: {want}")
    return f"Host: {got}"


def _body_of(saved: bytes) -> bytes:
    """The saved bytes without a response head, if the client saved one too."""
    if saved.startswith(b"HTTP/") and b"\r\n\r\n" in saved:
        return saved.split(b"\r\n\r\n", 1)[1]
    return saved


def _saved(session: Session, run: str) -> bytes:
    done = session.runs[run]
    if done.saved is None:
        raise Failed(f"run {run}: nothing was saved at $OUTPUT" + _run_note(session, run))
    return done.saved


@suite.check(
    "reads-content-length",
    "the client reads exactly Content-Length bytes",
    rationale="RFC 9112 §6.3: the body is Content-Length bytes, however many recv() calls they "
    "take; waiting for the server to close a kept-alive connection hangs the client.",
    expected="all the page's bytes, read without waiting for the server to close",
    requires=("request-line",),
)
def reads_content_length(session: Session) -> str:
    page = session.site.pages["a"]
    body = _body_of(_saved(session, "a"))
    if body != page.body:
        raise Failed(
            f"run a: {len(body)} bytes saved of the {len(page.body)} sent (in two pieces "
            f"{PIECE_PAUSE} s apart)" + _run_note(session, "a"),
            f"the {len(page.body)} bytes of the body",
        )
    request = session.page_request("a")
    if request is not None:
        conn = session.connection(request.connection)
        if conn.closed_by == "server (idle)":
            raise Failed(
                "the client kept waiting until the server closed the connection after "
                f"{session.target.hold:g} s"
                " (it reads until close instead of counting Content-Length bytes)"
            )
    return f"{len(body)} bytes, as Content-Length said"


@suite.check(
    "reads-chunked",
    "the client decodes a chunked body",
    rationale="RFC 9112 §7.1: a body of unknown length comes in chunks, each after its size in "
    "hex; the sizes and CRLFs are framing, not content.",
    expected="the page's bytes without the chunk framing",
    requires=("request-line",),
)
def reads_chunked(session: Session) -> str:
    page = session.site.pages["b"]
    _first_request(session, "b")
    body = _body_of(_saved(session, "b"))
    if body != page.body:
        framed = body.startswith(f"{len(page.body) // 3:x}\r\n".encode())
        raise Failed(
            f"run b: {len(body)} bytes saved of the {len(page.body)} of the body"
            + (", with the chunk sizes still in them" if framed else "")
            + _run_note(session, "b"),
            f"the {len(page.body)} bytes of the body",
        )
    return f"{len(body)} bytes from 3 chunks"


@suite.check(
    "fetches-image",
    "the client fetches the image the page shows",
    rationale="A page is not done when its HTML is: a browser reads <img src=...> and requests "
    "each image (the seeds' test.jpg).",
    expected="GET <the img src> after the page, read to its end",
    requires=("reads-content-length",),
)
def fetches_image(session: Session) -> str:
    image = session.site.image_path
    asked = [r for r in session.of_run("a") if r.path == image]
    if not asked:
        paths = [r.path for r in session.of_run("a")]
        raise Failed(f"requests in run a: {paths}", f"GET {image}")
    conn = session.connection(asked[0].connection)
    if image not in conn.sent_complete:
        raise Failed("the client closed the connection before the image was sent")
    return f"GET {image}"


@suite.check(
    "fetches-favicon",
    "the client asks for /favicon.ico",
    rationale="Browsers ask every site for /favicon.ico, the icon of the tab (the seeds saw it "
    "in the server's log).",
    expected="GET /favicon.ico in run a",
    requires=("request-line",),
)
def fetches_favicon(session: Session) -> str:
    if not any(r.path == "/favicon.ico" for r in session.of_run("a")):
        raise Failed(f"requests in run a: {[r.path for r in session.of_run('a')]}")
    return "GET /favicon.ico"


@suite.check(
    "saves-page",
    "the file saved is the page's body, byte for byte",
    rationale="The head is for the client; the file is the content. Save the body in binary "
    "mode ('wb'), without the status line and fields.",
    expected="the file at $OUTPUT holds exactly the page's body",
    requires=("request-line",),
)
def saves_page(session: Session) -> str:
    page = session.site.pages["a"]
    saved = _saved(session, "a")
    if saved == page.body:
        return f"{len(saved)} bytes, identical"
    if saved.startswith(b"HTTP/"):
        raise Failed(f"the file starts with the response head: {saved[:40]!r}", "the body only")
    raise Failed(f"{len(saved)} bytes, not the {len(page.body)} of the body")


@suite.check(
    "keep-alive",
    "the image comes on the page's connection",
    rationale="RFC 9112 §9.3: an HTTP/1.1 connection stays open; reusing it saves a handshake "
    "per resource.",
    expected="the image requested on the same connection as the page",
    requires=("fetches-image",),
    level=Level.SHOULD,
)
def keep_alive(session: Session) -> str:
    page = session.page_request("a")
    image = next(r for r in session.of_run("a") if r.path == session.site.image_path)
    if page is None or page.connection != image.connection:
        raise Failed("the page and the image came on different connections")
    return f"page and image on connection {image.connection}"
