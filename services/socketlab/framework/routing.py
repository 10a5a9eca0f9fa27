"""URL patterns with typed parameters: ``/status/<int:code>``, ``/delay/<float:seconds>``.

A pattern is literal text with ``<type:name>`` parts (``<name>`` alone means ``str``). Each
type is a bounded regular expression plus a conversion, so a parameter can never be huge:
an ``int`` has at most 9 digits, a ``str`` at most :data:`MAX_SEGMENT` characters and no slash.
Matching is against the percent-decoded path, exactly; a trailing slash is a different path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from ..http import errors

MAX_SEGMENT: Final = 200
"""Longest ``str`` parameter: one path segment, not a file upload."""

CONVERTERS: Final[dict[str, tuple[str, Callable[[str], Any]]]] = {
    "int": (r"[0-9]{1,9}", int),
    "float": (r"[0-9]{1,9}(?:\.[0-9]{1,6})?", float),
    "str": (rf"[^/]{{1,{MAX_SEGMENT}}}", str),
}

_PARAM: Final = re.compile(r"<(?:([a-z]+):)?([A-Za-z_][A-Za-z0-9_]*)>")

View = Callable[..., Any]


@dataclass
class Route:
    """One pattern, its view and the methods it answers (HEAD comes with GET)."""

    pattern: str
    view: View
    methods: frozenset[str]
    regex: re.Pattern[str] = field(init=False)
    converters: dict[str, Callable[[str], Any]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if not self.pattern.startswith("/"):
            raise ValueError(f"route {self.pattern!r} must start with /")
        parts: list[str] = []
        pos = 0
        for match in _PARAM.finditer(self.pattern):
            kind = match.group(1) or "str"
            if kind not in CONVERTERS:
                raise ValueError(
                    f"route {self.pattern!r}: unknown type {kind!r} "
                    f"(known: {', '.join(CONVERTERS)})"
                )
            name = match.group(2)
            regex, convert = CONVERTERS[kind]
            parts.append(re.escape(self.pattern[pos : match.start()]))
            parts.append(f"(?P<{name}>{regex})")
            self.converters[name] = convert
            pos = match.end()
        parts.append(re.escape(self.pattern[pos:]))
        self.regex = re.compile("".join(parts))

    def match(self, path: str) -> dict[str, Any] | None:
        found = self.regex.fullmatch(path)
        if found is None:
            return None
        return {name: self.converters[name](text) for name, text in found.groupdict().items()}


class Router:
    """Routes in the order they were added; the first whose pattern matches wins."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, pattern: str, view: View, methods: tuple[str, ...]) -> Route:
        wanted = {m.upper() for m in methods}
        if "GET" in wanted:
            wanted.add("HEAD")  # RFC 9110 §9.3.2: HEAD is GET without the body
        route = Route(pattern, view, frozenset(wanted))
        self.routes.append(route)
        return route

    def match(self, path: str, method: str) -> tuple[Route, dict[str, Any]]:
        """The route and parameters for ``path``; NotFound, or 405 with the methods that fit."""
        allowed: set[str] = set()
        for route in self.routes:
            params = route.match(path)
            if params is None:
                continue
            if method in route.methods:
                return route, params
            allowed |= route.methods
        if allowed:
            raise errors.MethodNotAllowed(tuple(sorted(allowed)), f"{method} is not allowed here")
        raise errors.NotFound(f"no page at {path}")
