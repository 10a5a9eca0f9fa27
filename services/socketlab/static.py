"""Static files under a document root, answered through an ``Exchange`` (GET and HEAD).

One implementation for both web servers. What it guarantees:

* No request reads outside the root: the path is percent-decoded strictly (bad escapes, NUL,
  encoded slashes and invalid UTF-8 are refused), ``..`` segments are refused, dot-files are
  hidden, and the final path is resolved with symlinks and must still lie under the root.
* ``Content-Type`` from a fixed table (never the host's /etc/mime.types, so every image answers
  the same), ``charset=utf-8`` for text; ``Last-Modified`` and a strong ``ETag`` with 304 answers
  to ``If-None-Match`` and ``If-Modified-Since`` (RFC 9110 §13).
* Small files are kept in a bounded in-memory cache (checked against size and mtime on every
  request) and sent together with the head in one send; large files are streamed with
  ``sendfile(2)`` and never read into memory.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Final

from .http import errors
from .http.connection import Exchange
from .http.writer import FieldBlock, http_date

ALLOWED_METHODS: Final = ("GET", "HEAD")

SMALL_FILE: Final = 256 * 1024
"""Files up to this size are cached and sent with one send(); above it, sendfile(2) streams them
(copying a small file through Python costs less than the extra system calls of sendfile)."""

CACHE_BYTES: Final = 32 * 1024 * 1024
"""Memory the small-file cache may hold in all; least recently used entries go first."""

CACHE_ENTRIES: Final = 4096
"""Files whose headers (and, if small, bytes) are remembered at most."""

RESOLVE_TTL: Final = 1.0
"""Seconds a request path's resolved location is reused: a symlink changed under the root is
followed within a second, and realpath()'s lstat per path component is saved meanwhile."""

RESOLVE_ENTRIES: Final = 4096
"""Request paths whose resolution is remembered at most."""

INDEX_FILE: Final = "index.html"
NOT_FOUND_PAGE: Final = "404.html"

CONTENT_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".xml": "application/xml",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".pdf": "application/pdf",
    ".wasm": "application/wasm",
    ".har": "application/json",
    ".toml": "text/plain; charset=utf-8",
    ".py": "text/plain; charset=utf-8",
}
DEFAULT_TYPE: Final = "application/octet-stream"

_HEX = frozenset(b"0123456789abcdefABCDEF")


def content_type(name: str) -> str:
    return CONTENT_TYPES.get(os.path.splitext(name)[1].lower(), DEFAULT_TYPE)


def decode_path(raw: str) -> list[str]:
    """Percent-decode a request path into its segments, refusing anything ambiguous.

    Raises BadRequest for malformed escapes, NUL, invalid UTF-8 and backslashes, and NotFound for
    ``..``, encoded slashes and dot-files: a path that tries to leave the root is reported as
    simply not found, which tells an attacker nothing.
    """
    if not raw.startswith("/"):
        raise errors.BadRequest("path must start with /")
    data = raw.encode("latin-1")
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        c = data[i]
        if c == 0x25:  # '%'
            if i + 2 >= n or data[i + 1] not in _HEX or data[i + 2] not in _HEX:
                raise errors.BadRequest("malformed percent-encoding in path")
            byte = int(data[i + 1 : i + 3], 16)
            if byte == 0x2F:
                raise errors.NotFound("encoded slash in path")
            out.append(byte)
            i += 3
        else:
            out.append(c)
            i += 1
    if 0 in out:
        raise errors.BadRequest("NUL in path")
    try:
        text = out.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.BadRequest("path is not valid UTF-8") from None
    if "\\" in text:
        raise errors.BadRequest("backslash in path")
    segments = []
    for segment in text.split("/"):
        if segment in ("", "."):
            continue
        if segment == ".." or segment.startswith("."):
            raise errors.NotFound("path leaves the document root or names a hidden file")
        segments.append(segment)
    return segments


@dataclass(frozen=True)
class _Entry:
    """What is known about one file at one (size, mtime): its headers, and its bytes if small."""

    size: int
    mtime_ns: int
    etag: str
    headers: FieldBlock | list[tuple[str, str]]
    body: bytes | None


class StaticFiles:
    """Answers GET and HEAD for files under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve(strict=True)
        if not self.root.is_dir():
            raise NotADirectoryError(f"document root {self.root} is not a directory")
        self._root = str(self.root)
        self._root_prefix = self._root + os.sep
        self._resolved: dict[str, tuple[float, str]] = {}
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._cache_bytes = 0
        self._cache_lock = threading.Lock()

    # -- path resolution -------------------------------------------------------------------------

    def _real_path(self, raw_path: str) -> str:
        """The symlink-free path a request path names, checked to lie under the root.

        realpath() costs an lstat() per path component, so the answer is remembered for
        RESOLVE_TTL seconds; what is cached is an already verified path inside the root.
        """
        now = time.monotonic()
        hit = self._resolved.get(raw_path)
        if hit is not None and hit[0] > now:
            return hit[1]
        segments = decode_path(raw_path)
        real = os.path.realpath(os.path.join(self._root, *segments))
        if real != self._root and not real.startswith(self._root_prefix):
            raise errors.NotFound("symlink leads outside the document root")
        if len(self._resolved) >= RESOLVE_ENTRIES:
            self._resolved.clear()  # crude but bounded: a scan of random paths cannot grow it
        self._resolved[raw_path] = (now + RESOLVE_TTL, real)
        return real

    def resolve(self, raw_path: str) -> tuple[str, os.stat_result, bool]:
        """Map a request path to (file path, stat, is_directory_redirect).

        Raises NotFound when nothing servable is there. A directory requested without its
        trailing slash is reported with redirect=True so the caller can answer 301 (relative
        links in its index page then resolve correctly).
        """
        real = self._real_path(raw_path)
        try:
            st = os.stat(real)
        except (FileNotFoundError, NotADirectoryError):
            raise errors.NotFound("no such file") from None
        except OSError:
            raise errors.NotFound("file not accessible") from None
        if stat.S_ISDIR(st.st_mode):
            if not raw_path.endswith("/"):
                return real, st, True
            # index.html may itself be a symlink: resolve and check it like any other path.
            real = self._real_path(raw_path + INDEX_FILE)
            try:
                st = os.stat(real)
            except OSError:
                raise errors.NotFound("directory has no index.html") from None
        if not stat.S_ISREG(st.st_mode):
            raise errors.NotFound("not a regular file")
        return real, st, False

    # -- answering -----------------------------------------------------------------------------

    def serve(self, exchange: Exchange) -> None:
        """Answer the exchange's request from the document root (including 404 and 405)."""
        request = exchange.request
        if request.method not in ALLOWED_METHODS:
            raise errors.MethodNotAllowed(ALLOWED_METHODS, f"{request.method} is not allowed here")
        try:
            path, st, redirect = self.resolve(request.path)
        except errors.NotFound as exc:
            self.not_found(exchange, exc.detail)
            return
        if redirect:
            location = request.path + "/" + ("?" + request.query if request.query else "")
            exchange.respond(
                301,
                [("Location", location), ("Content-Type", "text/plain; charset=utf-8")],
                b"Moved to " + location.encode("latin-1") + b"\n",
            )
            return
        entry = self._entry(path, st)
        headers = request.headers
        if _not_modified(
            headers.get("if-none-match"),
            headers.get("if-modified-since"),
            entry.etag,
            st.st_mtime,
        ):
            exchange.respond(304, entry.headers)
            return
        self._send(exchange, 200, path, entry)

    def _send(self, exchange: Exchange, status: int, path: str, entry: _Entry) -> None:
        if entry.body is not None:
            exchange.respond(status, entry.headers, entry.body)
            return
        try:
            handle = open(path, "rb")  # noqa: SIM115 -- closed below, after sendfile
        except OSError:
            raise errors.NotFound("file vanished") from None
        with handle:
            size = os.fstat(handle.fileno()).st_size
            exchange.start(status, entry.headers, length=size)
            exchange.send_file(handle, 0, size)

    def not_found(self, exchange: Exchange, detail: str = "") -> None:
        """Answer 404 with the site's own 404.html when there is one."""
        exchange.note = "error=" + detail if detail else ""
        exchange.keep_alive = False  # the rule: Connection: close after any error
        page = os.path.join(self._root, NOT_FOUND_PAGE)
        try:
            st = os.stat(page)
        except OSError:
            exchange.respond_error(errors.NotFound(detail or "not found"))
            return
        entry = self._entry(page, st)
        self._send(
            exchange,
            404,
            page,
            _Entry(
                entry.size,
                entry.mtime_ns,
                entry.etag,
                [("Content-Type", "text/html; charset=utf-8")],
                entry.body,
            ),
        )

    def _entry(self, path: str, st: os.stat_result) -> _Entry:
        """The cached entry for this file if it is still current, else a fresh one."""
        with self._cache_lock:
            hit = self._cache.get(path)
            if hit is not None and hit.size == st.st_size and hit.mtime_ns == st.st_mtime_ns:
                self._cache.move_to_end(path)
                return hit
        etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
        # A FieldBlock: checked and encoded once here, copied into every response for the file.
        headers = FieldBlock(
            (
                ("Content-Type", content_type(path)),
                ("Last-Modified", http_date(st.st_mtime)),
                ("ETag", etag),
            )
        )
        body = None
        if st.st_size <= SMALL_FILE:
            try:
                with open(path, "rb") as handle:
                    body = handle.read(SMALL_FILE + 1)
            except OSError:
                body = None
            if body is not None and len(body) != st.st_size:
                body = None  # changed while we read it: stream it rather than cache a torn copy
        entry = _Entry(st.st_size, st.st_mtime_ns, etag, headers, body)
        with self._cache_lock:
            old = self._cache.pop(path, None)
            if old is not None and old.body is not None:
                self._cache_bytes -= len(old.body)
            self._cache[path] = entry
            if body is not None:
                self._cache_bytes += len(body)
            while self._cache_bytes > CACHE_BYTES or len(self._cache) > CACHE_ENTRIES:
                _, evicted = self._cache.popitem(last=False)
                if evicted.body is not None:
                    self._cache_bytes -= len(evicted.body)
        return entry


def _not_modified(
    if_none_match: str | None, if_modified_since: str | None, etag: str, mtime: float
) -> bool:
    """RFC 9110 §13.2.2: If-None-Match wins; If-Modified-Since only counts without it."""
    if if_none_match is not None:
        tags = [t.strip() for t in if_none_match.split(",")]
        # Weak comparison (§8.8.3.2) for If-None-Match: W/"x" matches "x".
        return "*" in tags or any(t.removeprefix("W/") == etag for t in tags)
    if if_modified_since is not None:
        try:
            since = parsedate_to_datetime(if_modified_since).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False  # §13.1.3: an invalid date is ignored
        return int(mtime) <= since
    return False
