"""A cookie jar for one visitor, after RFC 6265 (§5.2 parsing, §5.3 storage, §5.4 sending).

What it does: ``Set-Cookie`` from every response (redirects included) is stored; each request
gets a ``Cookie`` header with the cookies whose domain and path match, longest path first.
``Max-Age`` wins over ``Expires``; an expiry in the past deletes the cookie. Without ``Domain``
a cookie is host-only; with it, it also goes to subdomains, and a ``Domain`` that does not
domain-match the host is rejected (on an IP address only the address itself matches).

What it leaves out, knowingly: the Public Suffix List (the lab has no registrable domains),
``SameSite`` (every request here is same-site), and ``Secure`` cookies, which RFC 6265bis §5.7
says a non-secure origin must not set -- this browser speaks only http://, so it ignores them.
A page's requests use the jar from the browser's event loop; the lock keeps it safe for a
caller that reads it from another thread while a page loads.
"""

from __future__ import annotations

import _thread
import time

from ..structs import record
from .urls import URL, is_ip_address

TYPE_CHECKING = False  # typing is for the type checker only: see socketlab.structs
if TYPE_CHECKING:
    from typing import Final

MAX_COOKIE_BYTES: Final = 4096
"""Name, value and attributes of one cookie: RFC 6265 §6.1 asks for at least 4096 bytes."""

MAX_COOKIES_PER_HOST: Final = 50
"""RFC 6265 §6.1: at least 50 cookies per domain. Past it the oldest is evicted."""

MAX_COOKIES: Final = 3000
"""RFC 6265 §6.1: at least 3000 cookies in total."""


@record
class Cookie:
    name: str
    value: str
    domain: str
    path: str
    host_only: bool
    expires: float | None  # epoch seconds; None: a session cookie
    http_only: bool
    created: float

    def matches(self, url: URL, now: float) -> bool:
        if self.expires is not None and self.expires <= now:
            return False
        if self.host_only:
            if url.host != self.domain:
                return False
        elif not domain_match(url.host, self.domain):
            return False
        return path_match(url.path, self.path)


def domain_match(host: str, domain: str) -> bool:
    """RFC 6265 §5.1.3: identical, or ``host`` ends with ``.domain`` and is not an IP."""
    if host == domain:
        return True
    return host.endswith("." + domain) and not _is_ip(host)


def path_match(request_path: str, cookie_path: str) -> bool:
    """RFC 6265 §5.1.4."""
    if request_path == cookie_path:
        return True
    if request_path.startswith(cookie_path):
        return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
    return False


def default_path(request_path: str) -> str:
    """RFC 6265 §5.1.4: the request path up to, not including, its last '/'; at least '/'."""
    if not request_path.startswith("/") or request_path.count("/") <= 1:
        return "/"
    return request_path[: request_path.rfind("/")]


def _is_ip(host: str) -> bool:
    return is_ip_address(host)


def parse_set_cookie(header: str, url: URL, now: float | None = None) -> Cookie | None:
    """One ``Set-Cookie`` value as RFC 6265 §5.2 reads it; None when it must be ignored."""
    now = time.time() if now is None else now
    if len(header.encode("utf-8", "replace")) > MAX_COOKIE_BYTES:
        return None
    pair, *attributes = header.split(";")
    name, eq, value = pair.partition("=")
    name, value = name.strip(), value.strip()
    if not eq or not name:
        return None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name + value):
        return None
    domain = ""
    path = ""
    expires: float | None = None
    max_age: float | None = None
    http_only = False
    for attribute in attributes:
        key, _, raw = attribute.partition("=")
        key, raw = key.strip().lower(), raw.strip()
        if key == "expires":
            try:
                # email.utils (and the email package under it) only for a cookie that has
                # Expires: most pages set none, and the import is a noticeable part of start-up.
                from email.utils import parsedate_to_datetime

                expires = parsedate_to_datetime(raw).timestamp()
            except (TypeError, ValueError, IndexError, OverflowError):
                continue  # an unparseable date is ignored, the cookie is kept
        elif key == "max-age":
            digits = raw[1:] if raw[:1] == "-" else raw  # -?[0-9]{1,18}, without re
            if 0 < len(digits) <= 18 and digits.isascii() and digits.isdigit():
                seconds = int(raw)
                max_age = now + seconds if seconds > 0 else 0.0
        elif key == "domain":
            domain = raw.lstrip(".").lower()
        elif key == "path":
            path = raw if raw.startswith("/") else ""
        elif key == "secure":
            return None  # a non-secure origin cannot set a Secure cookie (RFC 6265bis §5.7)
        elif key == "httponly":
            http_only = True
    if domain:
        if not domain_match(url.host, domain):
            return None
        host_only = False
    else:
        domain, host_only = url.host, True
    return Cookie(
        name=name,
        value=value,
        domain=domain,
        path=path or default_path(url.path),
        host_only=host_only,
        expires=max_age if max_age is not None else expires,
        http_only=http_only,
        created=now,
    )


class CookieJar:
    """Cookies of one visitor, safe to use from several threads."""

    def __init__(self) -> None:
        self._cookies: dict[tuple[str, str, str], Cookie] = {}
        self._lock = _thread.allocate_lock()  # threading.Lock itself

    def store(self, url: URL, set_cookie_headers: list[str], now: float | None = None) -> None:
        """Store (or delete, when expired) what a response to ``url`` set."""
        now = time.time() if now is None else now
        with self._lock:
            for header in set_cookie_headers:
                cookie = parse_set_cookie(header, url, now)
                if cookie is None:
                    continue
                key = (cookie.domain, cookie.path, cookie.name)
                old = self._cookies.pop(key, None)
                if cookie.expires is not None and cookie.expires <= now:
                    continue  # RFC 6265 §5.3 step 11/12: an expired cookie only deletes
                if old is not None:
                    cookie.created = old.created  # §5.3 step 11.3: keep the creation time
                self._cookies[key] = cookie
                self._evict(cookie.domain)

    def _evict(self, domain: str) -> None:
        same = [c for c in self._cookies.values() if c.domain == domain]
        for cookie in sorted(same, key=lambda c: c.created)[
            : max(0, len(same) - MAX_COOKIES_PER_HOST)
        ]:
            del self._cookies[(cookie.domain, cookie.path, cookie.name)]
        if len(self._cookies) > MAX_COOKIES:
            oldest = min(self._cookies.values(), key=lambda c: c.created)
            del self._cookies[(oldest.domain, oldest.path, oldest.name)]

    def header_for(self, url: URL, now: float | None = None) -> str | None:
        """The ``Cookie`` header value for a request to ``url``, or None (RFC 6265 §5.4)."""
        now = time.time() if now is None else now
        with self._lock:
            chosen = [c for c in self._cookies.values() if c.matches(url, now)]
        if not chosen:
            return None
        chosen.sort(key=lambda c: (-len(c.path), c.created))
        return "; ".join(f"{c.name}={c.value}" for c in chosen)

    def all(self) -> list[Cookie]:
        with self._lock:
            return list(self._cookies.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._cookies)
