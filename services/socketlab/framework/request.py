"""The request as a view sees it: a thin, read-only layer over the WSGI ``environ``.

Bodies are read lazily and only up to :data:`MAX_BODY` bytes; forms and query strings keep at
most :data:`MAX_FIELDS` fields. Both limits turn into 413 / 400 answers, never into memory
growth: a view cannot be made to buffer whatever a client cares to send.
"""

from __future__ import annotations

import json
from typing import Any, Final
from urllib.parse import parse_qsl

from ..http import errors

MAX_BODY: Final = 1024 * 1024
"""Largest request body a view may read (form, JSON, raw), 1 MiB: far above any form of the
lab, far below the server's own 10 MiB parser limit."""

MAX_FIELDS: Final = 100
"""Most fields in a form or query string (Django's DATA_UPLOAD_MAX_NUMBER_FIELDS is 1000; the
lab's forms have five)."""

FORM_TYPE: Final = "application/x-www-form-urlencoded"
JSON_TYPE: Final = "application/json"


class UnsupportedMediaType(errors.HTTPError):
    """415: the body is in a format this view does not read."""

    status = 415


class Request:
    """Method, path, query, headers and body of one request, from its ``environ``."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.method: str = environ["REQUEST_METHOD"]
        # PATH_INFO holds the raw octets as latin-1 (PEP 3333); the lab's URLs are UTF-8.
        raw = environ.get("PATH_INFO", "") or "/"
        self.path = raw.encode("latin-1").decode("utf-8", "replace")
        self.query_string: str = environ.get("QUERY_STRING", "")
        self.remote_addr: str = environ.get("REMOTE_ADDR", "")
        self._body: bytes | None = None

    # -- head ------------------------------------------------------------------------------------

    @property
    def headers(self) -> dict[str, str]:
        """Request headers, names in the usual Title-Case (``User-Agent``)."""
        out: dict[str, str] = {}
        for key, value in self.environ.items():
            if key.startswith("HTTP_"):
                out[key[5:].replace("_", "-").title()] = value
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if self.environ.get(key):
                out[key.replace("_", "-").title()] = self.environ[key]
        return out

    @property
    def args(self) -> list[tuple[str, str]]:
        """The query string's fields in order (repeats kept)."""
        return _parse_fields(self.query_string)

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower case (``application/json``)."""
        value: str = self.environ.get("CONTENT_TYPE", "")
        return value.split(";", 1)[0].strip().lower()

    @property
    def url(self) -> str:
        """The URL as the client asked for it (PEP 3333's URL reconstruction)."""
        env = self.environ
        host = env.get("HTTP_HOST") or f"{env.get('SERVER_NAME', '')}:{env.get('SERVER_PORT', '')}"
        url: str = f"{env.get('wsgi.url_scheme', 'http')}://{host}{env.get('SCRIPT_NAME', '')}"
        url += str(env.get("PATH_INFO", ""))
        if self.query_string:
            url += "?" + self.query_string
        return url

    # -- body ------------------------------------------------------------------------------------

    def body(self) -> bytes:
        """The whole request body (at most MAX_BODY bytes, else 413)."""
        if self._body is None:
            length_text = self.environ.get("CONTENT_LENGTH", "")
            stream = self.environ["wsgi.input"]
            if length_text:
                try:
                    length = int(length_text)
                except ValueError:
                    raise errors.BadRequest("invalid Content-Length") from None
                if length > MAX_BODY:
                    raise errors.PayloadTooLarge(f"bodies here are limited to {MAX_BODY} bytes")
                self._body = stream.read(length)
            elif self.environ.get("wsgi.input_terminated"):
                # Chunked: the server ends the stream with the body; read one byte past the
                # limit to know whether it was crossed.
                data = stream.read(MAX_BODY + 1)
                if len(data) > MAX_BODY:
                    raise errors.PayloadTooLarge(f"bodies here are limited to {MAX_BODY} bytes")
                self._body = data
            else:
                self._body = b""  # PEP 3333: without a length, do not read at all
        return self._body

    def form(self) -> list[tuple[str, str]]:
        """Fields of an ``application/x-www-form-urlencoded`` body, in order (else 415)."""
        if self.content_type != FORM_TYPE:
            raise UnsupportedMediaType(f"expected a form ({FORM_TYPE})")
        try:
            text = self.body().decode("utf-8")
        except UnicodeDecodeError:
            raise errors.BadRequest("form is not valid UTF-8") from None
        return _parse_fields(text)

    def json(self) -> Any:
        """The body parsed as JSON (400 if it is not JSON)."""
        try:
            return json.loads(self.body())
        except ValueError:
            raise errors.BadRequest("body is not valid JSON") from None


def _parse_fields(text: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise errors.BadRequest(f"more than {MAX_FIELDS} fields") from None
