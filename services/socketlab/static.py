"""Static files under a document root, answered through an ``Exchange`` (GET and HEAD).

One implementation for both web servers. What it guarantees:

* No request reads outside the root: the path is percent-decoded strictly (bad escapes, NUL,
  encoded slashes and invalid UTF-8 are refused), ``..`` segments are refused, dot-files are
  hidden, and the final path is resolved with symlinks and must still lie under the root.
* ``Content-Type`` from a fixed table (never the host's /etc/mime.types, so every image answers
  the same), ``charset=utf-8`` for text; ``Last-Modified`` and a strong ``ETag``; the
  preconditions of RFC 9110 §13.2.2 in their order (If-Match and If-Unmodified-Since give 412,
  If-None-Match and If-Modified-Since 304).
* Range requests (RFC 9110 §14): ``Accept-Ranges: bytes``; one range of a GET (``bytes=0-99``,
  ``bytes=500-``, the suffix ``bytes=-500``) is answered 206 with ``Content-Range``, a range
  wholly past the end 416 with ``Content-Range: bytes */<size>``, and ``If-Range`` (an ETag or
  the Last-Modified date) turns a stale client's range into the whole file. Several ranges are
  answered with the whole file (200). HEAD ignores Range (§14.2 defines it for GET only), so a
  HEAD shows what a plain GET gets. ``curl -C -`` resumes, a video element seeks.
* ``Cache-Control`` from rules (``PATTERN=VALUE``, the first whose pattern matches the file's
  path under the root wins, see :func:`parse_cache_rules`); none by default.
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Final

from .http import errors
from .http.conditional import ByteRange, RangeNotSatisfiable, byte_range, precondition
from .http.connection import Exchange
from .http.writer import FieldBlock, check_field, http_date
from .settings import Setting

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
    # Media: a <video> or <audio> element seeks with Range requests (answered 206).
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".ogv": "video/ogg",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".wav": "audio/wav",
    ".har": "application/json",
    ".toml": "text/plain; charset=utf-8",
    ".py": "text/plain; charset=utf-8",
}
DEFAULT_TYPE: Final = "application/octet-stream"

_HEX = frozenset(b"0123456789abcdefABCDEF")


@dataclass(frozen=True)
class CacheRule:
    """``Cache-Control: value`` for files whose path under the root matches ``pattern``.

    The pattern is an fnmatch pattern (case-sensitive) against the path with a leading slash:
    ``*.css``, ``/img/*`` (``*`` also matches ``/``, so that is everything below /img/),
    ``/index.html``. A directory's index is matched as ``/dir/index.html``.
    """

    pattern: str
    value: str

    def matches(self, path: str) -> bool:
        return fnmatchcase(path, self.pattern)


def parse_cache_rules(entries: Iterable[str]) -> tuple[CacheRule, ...]:
    """Rules from ``PATTERN=VALUE`` texts (split at the first ``=``); ValueError says what is
    wrong with a bad one (no ``=``, an empty side, a value that cannot be a field value)."""
    rules = []
    for entry in entries:
        pattern, equals, value = entry.partition("=")
        pattern, value = pattern.strip(), value.strip()
        if not equals or not pattern or not value:
            raise ValueError(
                f"expects PATTERN=VALUE entries such as '*.css=max-age=3600', not {entry!r}"
            )
        try:
            check_field("Cache-Control", value)
        except ValueError:
            raise ValueError(
                f"has a Cache-Control value that is not a valid field value: {value!r}"
            ) from None
        rules.append(CacheRule(pattern, value))
    return tuple(rules)


def check_cache_rules(entries: list[str]) -> None:
    """A settings ``check``: raise ValueError for a bad rule (see :func:`parse_cache_rules`)."""
    parse_cache_rules(entries)


CACHE_CONTROL_SETTING: Final = Setting(
    "cache_control",
    list,
    [],
    "Cache-Control per static file, as PATTERN=VALUE rules, the first match wins "
    "('*.css=max-age=3600'; as text, rules are separated by ';')",
    check=check_cache_rules,
    metavar="PATTERN=VALUE;...",
    separator=";",
)
"""The setting both web servers share: none by default, so no answer carries Cache-Control."""


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
    """Answers GET and HEAD for files under ``root``, with ``Cache-Control`` from ``cache_rules``
    (the first rule that matches a file's path under the root; none matching, no field)."""

    def __init__(self, root: str | os.PathLike[str], cache_rules: Sequence[CacheRule] = ()) -> None:
        self.cache_rules = tuple(cache_rules)
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

    def in_memory(self, raw_path: str) -> bool:
        """True when a request for ``raw_path`` was resolved less than RESOLVE_TTL ago to a
        small file whose bytes the cache holds: answering it reads nothing from disk (but one
        stat(), to see that the file is unchanged) and never waits. A hint, not a promise: the
        file may change meanwhile, and serve() then reads it again."""
        if raw_path.endswith("/"):
            raw_path += INDEX_FILE
        hit = self._resolved.get(raw_path)
        if hit is None or hit[0] <= time.monotonic():
            return False
        entry = self._cache.get(hit[1])
        return entry is not None and entry.body is not None

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
        verdict = precondition(request.method, headers, entry.etag, st.st_mtime)
        if verdict == 304:
            # §15.4.5: the fields a 200 would carry that describe the representation.
            exchange.respond(304, entry.headers)
            return
        if verdict == 412:
            exchange.note = "precondition failed"
            exchange.respond(
                412,
                [("Content-Type", "text/plain; charset=utf-8")],
                b"412 Precondition Failed: the file is not the version the request names\n",
            )
            return
        part = None
        if request.method == "GET":  # §14.2: range handling is defined for GET only
            try:
                part = byte_range(headers, entry.size, entry.etag, st.st_mtime)
            except RangeNotSatisfiable as exc:
                exchange.note = "range not satisfiable"
                exchange.respond(
                    416,
                    [
                        ("Content-Range", exc.content_range),
                        ("Content-Type", "text/plain; charset=utf-8"),
                    ],
                    f"416 Range Not Satisfiable: the file has {exc.size} bytes\n".encode(),
                )
                return
        self._send(exchange, 200, path, entry, part)

    def _send(
        self,
        exchange: Exchange,
        status: int,
        path: str,
        entry: _Entry,
        part: ByteRange | None = None,
    ) -> None:
        if part is not None:
            status = 206
            headers: FieldBlock | list[tuple[str, str]] = [
                *entry.headers,
                ("Content-Range", part.content_range),
            ]
        else:
            headers = entry.headers
        if entry.body is not None:
            body = entry.body if part is None else entry.body[part.first : part.last + 1]
            exchange.respond(status, headers, body)
            return
        try:
            handle = open(path, "rb")  # noqa: SIM115 -- closed below, after sendfile
        except OSError:
            raise errors.NotFound("file vanished") from None
        with handle:
            size = os.fstat(handle.fileno()).st_size
            if part is None:
                offset, count = 0, size
            elif part.size != size:
                # Changed between stat() and open(): the range named the old file, and a part
                # of the new one under the old validators would be a torn answer.
                raise errors.NotFound("file changed while being opened")
            else:
                offset, count = part.first, part.length
            exchange.start(status, headers, length=count)
            exchange.send_file(handle, offset, count)

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
        fields = [
            ("Content-Type", content_type(path)),
            ("Last-Modified", http_date(st.st_mtime)),
            ("ETag", etag),
            ("Accept-Ranges", "bytes"),
        ]
        if self.cache_rules:
            relative = "/" + os.path.relpath(path, self._root).replace(os.sep, "/")
            rule = next((r for r in self.cache_rules if r.matches(relative)), None)
            if rule is not None:
                fields.append(("Cache-Control", rule.value))
        # A FieldBlock: checked and encoded once here, copied into every response for the file.
        headers = FieldBlock(fields)
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
