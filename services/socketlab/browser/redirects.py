"""Following redirects the way browsers do (RFC 9110 §15.4, and the Fetch standard).

* 301 and 302: repeat the request at ``Location``; a POST becomes a GET without its body. RFC
  9110 §15.4.2/§15.4.3 allow this "for historical reasons" and every browser does it (Fetch
  standard, HTTP-redirect fetch, step 12).
* 303 See Other: always a GET (HEAD stays HEAD), without a body -- the POST/redirect/GET pattern.
* 307 and 308: the same method and the same body, by definition.

A 3xx without ``Location`` is a final response (there is nowhere to go). ``Location`` may be
relative; it is resolved against the URL that was requested. A ``Location`` that is not
``http://`` is refused with a reason rather than followed.
"""

from __future__ import annotations

from ..structs import record
from . import urls
from .errors import InvalidURL, RedirectRefused
from .urls import URL

TYPE_CHECKING = False  # typing is for the type checker only: see socketlab.structs
if TYPE_CHECKING:
    from typing import Final

REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})


@record(frozen=True)
class Hop:
    """The request to make next."""

    method: str
    url: URL
    body: bytes
    content_type: str | None


def is_redirect(status: int, location: str | None) -> bool:
    return status in REDIRECT_STATUSES and bool(location and location.strip())


def next_hop(
    method: str, url: URL, status: int, location: str, body: bytes, content_type: str | None
) -> Hop:
    """Where a redirect response sends the request; raises :class:`RedirectRefused`."""
    try:
        target = urls.join(url, location)
    except InvalidURL as exc:
        raise RedirectRefused(
            f"{status} to {location.strip()[:120]!r} not followed: {exc}"
        ) from None
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        return Hop("GET", target, b"", None)
    return Hop(method, target, body, content_type)
