"""HTTP Archive 1.2 (HAR), the format browsers' developer tools export and HAR viewers load.

Spec: http://www.softwareishard.com/blog/har-12-spec/ (W3C Web Performance draft). Every
required field is written; ``time`` of an entry is the sum of its timings that are not -1, as
the spec demands. ``serverIPAddress`` is the remote address, ``connection`` our connection id
(the same ``#n`` as the table; the spec allows "client or server port number" or any unique
id), and the local port is kept in the custom field ``_localPort`` (custom fields start with an
underscore). A failed request has status 0 and its reason in ``_error``, as Chromium exports it.
Response text is included for textual types up to :data:`MAX_TEXT` bytes.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from .. import __version__
from .cookies import parse_set_cookie
from .errors import InvalidURL
from .records import Entry, PageLoad
from .urls import parse

MAX_TEXT: Final = 256 * 1024
"""Largest response body copied into the archive as text; larger ones keep only their size."""

_TEXTUAL: Final = (
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "image/svg+xml",
    "application/xhtml+xml",
)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def _ms(value: float) -> float:
    return round(value, 3) if value >= 0 else -1


def _headers(headers: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in headers]


def _request_cookies(headers: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    out = []
    for name, value in headers:
        if name.lower() == "cookie":
            for pair in value.split(";"):
                key, _, val = pair.strip().partition("=")
                out.append({"name": key, "value": val})
    return out


def _response_cookies(entry: Entry) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    try:
        url = parse(entry.url)
    except InvalidURL:
        return out
    for name, value in entry.response_headers:
        if name.lower() != "set-cookie":
            continue
        cookie = parse_set_cookie(value, url, entry.started)
        if cookie is not None:
            item: dict[str, Any] = {
                "name": cookie.name,
                "value": cookie.value,
                "path": cookie.path,
                "domain": cookie.domain,
                "httpOnly": cookie.http_only,
                "secure": False,
            }
            if cookie.expires is not None:
                item["expires"] = _iso(cookie.expires)
            out.append(item)
    return out


def _request_head_size(entry: Entry) -> int:
    if not entry.request_headers:
        return -1
    path = urlsplit(entry.url)
    target = (path.path or "/") + ("?" + path.query if path.query else "")
    size = len(f"{entry.method} {target} HTTP/1.1\r\n")
    size += sum(len(n) + len(v) + 4 for n, v in entry.request_headers)
    return size + 2


def entry_to_har(entry: Entry) -> dict[str, Any]:
    query = urlsplit(entry.url).query
    request: dict[str, Any] = {
        "method": entry.method,
        "url": entry.url,
        "httpVersion": "HTTP/1.1",
        "cookies": _request_cookies(entry.request_headers),
        "headers": _headers(entry.request_headers),
        "queryString": [
            {"name": k, "value": v} for k, v in parse_qsl(query, keep_blank_values=True)
        ],
        "headersSize": _request_head_size(entry),
        "bodySize": len(entry.request_body),
    }
    if entry.request_body:
        content_type = next(
            (v for n, v in entry.request_headers if n.lower() == "content-type"),
            "application/octet-stream",
        )
        request["postData"] = {
            "mimeType": content_type,
            "text": entry.request_body.decode("utf-8", "replace"),
        }
    mime = entry.content_type or "x-unknown"
    content: dict[str, Any] = {"size": len(entry.body), "mimeType": mime}
    if entry.body and len(entry.body) <= MAX_TEXT and entry.mime_type.startswith(_TEXTUAL):
        content["text"] = entry.body.decode("utf-8", "replace")
    body_wire = entry.wire_bytes - entry.head_bytes if entry.head_bytes >= 0 else -1
    response: dict[str, Any] = {
        "status": entry.status,
        "statusText": entry.reason,
        "httpVersion": entry.http_version if entry.status else "",
        "cookies": _response_cookies(entry),
        "headers": _headers(entry.response_headers),
        "content": content,
        "redirectURL": entry.redirect_to,
        "headersSize": entry.head_bytes if entry.status else -1,
        "bodySize": body_wire if entry.status else -1,
    }
    if entry.problem and entry.error is not None:
        response["_error"] = entry.problem
    t = entry.timings
    timings = {
        "blocked": _ms(t.blocked),
        "dns": _ms(t.dns),
        "connect": _ms(t.connect),
        "send": _ms(max(t.send, 0)),
        "wait": _ms(max(t.wait, 0)),
        "receive": _ms(max(t.receive, 0)),
        "ssl": -1,
    }
    har: dict[str, Any] = {
        "pageref": entry.page_id,
        "startedDateTime": _iso(entry.started),
        "time": round(sum(v for k, v in timings.items() if v >= 0 and k != "ssl"), 3),
        "request": request,
        "response": response,
        "cache": {},
        "timings": timings,
        "_resourceType": entry.kind,
    }
    if entry.remote is not None:
        har["serverIPAddress"] = entry.remote[0]
    if entry.connection_id is not None:
        har["connection"] = str(entry.connection_id)
    if entry.local is not None:
        har["_localPort"] = entry.local[1]
    return har


def page_to_har(page: PageLoad) -> dict[str, Any]:
    return {
        "startedDateTime": _iso(page.started),
        "id": page.id,
        "title": page.title or page.url,
        "pageTimings": {
            "onContentLoad": _ms(page.content_loaded_ms),
            "onLoad": _ms(page.load_ms),
        },
    }


def build(pages: Sequence[PageLoad]) -> dict[str, Any]:
    """The whole archive for ``pages`` (their ids must be unique within it)."""
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "socketlab-browser", "version": __version__},
            "browser": {"name": "socketlab-browser", "version": __version__},
            "pages": [page_to_har(p) for p in pages],
            "entries": [entry_to_har(e) for p in pages for e in p.entries],
        }
    }


def write(path: str | os.PathLike[str], pages: Sequence[PageLoad]) -> None:
    """Write the archive atomically: a viewer (or an interrupted run) never sees half a file."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=".har-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(build(pages), handle, indent=1)
            handle.write("\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
