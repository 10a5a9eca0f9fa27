"""Templates from a ``templates/`` folder, HTML-escaped by default. Nothing is ever evaluated.

The language is a small subset of Jinja's, enough for pages and forms::

    {{ user.name }}                  a value, HTML-escaped (& < > " ' become entities)
    {{ page_html|safe }}             a value trusted as HTML, inserted as it is
    {{ items|length }}               filters: safe, length, upper, lower
    {% if user %}...{% elif x %}...{% else %}...{% endif %}     (also: if not x)
    {% for key, value in pairs %}...{% else %}(nothing){% endfor %}   (loop.index, loop.first,
                                                                        loop.last inside)
    {% include "_header.html" %}     another template, with the same variables
    {# a comment #}

An expression is a name with dotted lookups: ``a.b`` is ``a["b"]`` for a mapping, ``a[0]`` for
``a.0`` on a sequence, and the attribute ``b`` otherwise; names starting with ``_`` are refused,
so a template cannot reach ``__class__`` and climb from there. There are no calls, no operators,
no literals: logic belongs in the view, and a template author (or an attacker who can edit one)
cannot run code -- unlike the seed's framework, whose configuration went through ``eval``.

A name the context does not define is an error naming the template and line, not a silent empty
string: a misspelled variable shows up the first time the page is rendered.
"""

from __future__ import annotations

import html
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

MAX_INCLUDE_DEPTH: Final = 10
"""Includes nested deeper than this are an error: a template including itself must fail, not
recurse until the stack runs out."""

TEMPLATE_NAME: Final = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*")
"""What a template name may look like: relative, no ``..`` segment start, no backslash."""

_TOKEN: Final = re.compile(r"(\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\})", re.S)
_NAME: Final = r"[A-Za-z_][A-Za-z0-9_]*"
_EXPR: Final = re.compile(rf"{_NAME}(?:\.(?:{_NAME}|[0-9]+))*")
_FOR: Final = re.compile(rf"for\s+({_NAME}(?:\s*,\s*{_NAME})*)\s+in\s+(.+)")
_INCLUDE: Final = re.compile(r"""include\s+(?:"([^"]+)"|'([^']+)')""")


class Markup(str):
    """A string that is already HTML: it is inserted without escaping."""

    def __html__(self) -> str:
        return str(self)


def escape(value: object) -> Markup:
    """HTML-escape ``value`` (quotes included, for attribute values) unless it is Markup."""
    if hasattr(value, "__html__"):
        return Markup(value.__html__())
    return Markup(html.escape("" if value is None else str(value), quote=True))


class TemplateError(Exception):
    """A template cannot be found, parsed or rendered; the message names it and the line."""


FILTERS: Final[dict[str, Callable[[Any], Any]]] = {
    "safe": lambda v: Markup("" if v is None else str(v)),
    "length": len,
    "upper": lambda v: str(v).upper(),
    "lower": lambda v: str(v).lower(),
}


# -- the parsed form -------------------------------------------------------------------------------


@dataclass
class _Expr:
    path: list[str]
    filters: list[str]
    negate: bool
    line: int


@dataclass
class _Text:
    text: str


@dataclass
class _Output:
    expr: _Expr


@dataclass
class _If:
    branches: list[tuple[_Expr, list[Any]]]
    otherwise: list[Any] = field(default_factory=list)


@dataclass
class _For:
    targets: list[str]
    expr: _Expr
    body: list[Any] = field(default_factory=list)
    otherwise: list[Any] = field(default_factory=list)


@dataclass
class _Include:
    name: str
    line: int


@dataclass
class _Loop:
    """``loop`` inside a for block."""

    index: int
    length: int

    @property
    def first(self) -> bool:
        return self.index == 1

    @property
    def last(self) -> bool:
        return self.index == self.length


class Template:
    """One parsed template; render it with :meth:`render`."""

    def __init__(
        self, source: str, name: str = "<string>", loader: Templates | None = None
    ) -> None:
        self.name = name
        self.loader = loader
        self.nodes = _Parser(source, name).parse()

    def render(self, context: Mapping[str, Any] | None = None, /, **values: Any) -> Markup:
        scope = dict(context or {})
        scope.update(values)
        out: list[str] = []
        self._render(self.nodes, [scope], out, 0)
        return Markup("".join(out))

    # -- rendering ----------------------------------------------------------------------------

    def _render(
        self, nodes: list[Any], scopes: list[dict[str, Any]], out: list[str], depth: int
    ) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                out.append(node.text)
            elif isinstance(node, _Output):
                out.append(escape(self._value(node.expr, scopes)))
            elif isinstance(node, _If):
                for cond, body in node.branches:
                    if self._truth(cond, scopes):
                        self._render(body, scopes, out, depth)
                        break
                else:
                    self._render(node.otherwise, scopes, out, depth)
            elif isinstance(node, _For):
                self._render_for(node, scopes, out, depth)
            elif isinstance(node, _Include):
                self._include(node, scopes, out, depth)

    def _render_for(
        self, node: _For, scopes: list[dict[str, Any]], out: list[str], depth: int
    ) -> None:
        items = self._value(node.expr, scopes)
        try:
            sequence = list(items)
        except TypeError:
            raise self._error(node.expr.line, f"cannot loop over {type(items).__name__}") from None
        if not sequence:
            self._render(node.otherwise, scopes, out, depth)
            return
        for index, item in enumerate(sequence, 1):
            layer: dict[str, Any] = {"loop": _Loop(index, len(sequence))}
            if len(node.targets) == 1:
                layer[node.targets[0]] = item
            else:
                try:
                    values = list(item)
                except TypeError:
                    values = []
                if len(values) != len(node.targets):
                    raise self._error(
                        node.expr.line, f"cannot unpack {item!r} into {', '.join(node.targets)}"
                    )
                layer.update(zip(node.targets, values, strict=True))
            self._render(node.body, [*scopes, layer], out, depth)

    def _include(
        self, node: _Include, scopes: list[dict[str, Any]], out: list[str], depth: int
    ) -> None:
        if self.loader is None:
            raise self._error(node.line, "include needs a template folder")
        if depth >= MAX_INCLUDE_DEPTH:
            raise self._error(node.line, f"includes nested deeper than {MAX_INCLUDE_DEPTH}")
        other = self.loader.get(node.name)
        other._render(other.nodes, scopes, out, depth + 1)

    def _truth(self, expr: _Expr, scopes: list[dict[str, Any]]) -> bool:
        value = bool(self._value(expr, scopes))
        return not value if expr.negate else value

    def _value(self, expr: _Expr, scopes: list[dict[str, Any]]) -> Any:
        head, *rest = expr.path
        for scope in reversed(scopes):
            if head in scope:
                value = scope[head]
                break
        else:
            raise self._error(expr.line, f"{head!r} is not defined")
        for part in rest:
            value = self._lookup(value, part, expr)
        for name in expr.filters:
            value = FILTERS[name](value)
        return value

    def _lookup(self, value: Any, part: str, expr: _Expr) -> Any:
        if isinstance(value, Mapping):
            if part in value:
                return value[part]
        elif part.isdigit() and isinstance(value, Sequence) and not isinstance(value, str):
            index = int(part)
            if index < len(value):
                return value[index]
        elif not part.startswith("_") and hasattr(value, part):
            return getattr(value, part)
        raise self._error(
            expr.line, f"{'.'.join(expr.path)!r}: no {part!r} in {type(value).__name__}"
        )

    def _error(self, line: int, message: str) -> TemplateError:
        return TemplateError(f"{self.name}, line {line}: {message}")


class _Parser:
    def __init__(self, source: str, name: str) -> None:
        self.source = source
        self.name = name

    def parse(self) -> list[Any]:
        root: list[Any] = []
        # Each open block: (kind, node, the list now being filled, line where it opened).
        stack: list[tuple[str, Any, list[Any], int]] = []
        current = root
        line = 1
        for piece in _TOKEN.split(self.source):
            here = line
            line += piece.count("\n")
            if not piece:
                continue
            if piece.startswith("{#") and piece.endswith("#}"):
                continue
            if piece.startswith("{{") and piece.endswith("}}"):
                current.append(_Output(self._expr(piece[2:-2], here)))
                continue
            if not (piece.startswith("{%") and piece.endswith("%}")):
                current.append(_Text(piece))
                continue
            tag = piece[2:-2].strip()
            word = tag.split(None, 1)[0] if tag else ""
            if word == "if":
                node = _If([(self._expr(tag[2:], here), [])])
                current.append(node)
                stack.append(("if", node, current, here))
                current = node.branches[0][1]
            elif word == "elif":
                node = self._top(stack, ("if",), "elif", here)[1]
                if current is node.otherwise:
                    raise self._error(here, "elif after else")
                body: list[Any] = []
                node.branches.append((self._expr(tag[4:], here), body))
                current = body
            elif word == "else":
                node = self._top(stack, ("if", "for"), "else", here)[1]
                if current is node.otherwise:
                    raise self._error(here, "a second else")
                current = node.otherwise
            elif word == "for":
                match = _FOR.fullmatch(tag)
                if match is None:
                    raise self._error(here, f"expected 'for name in expression', got {tag!r}")
                targets = [t.strip() for t in match.group(1).split(",")]
                loop = _For(targets, self._expr(match.group(2), here))
                current.append(loop)
                stack.append(("for", loop, current, here))
                current = loop.body
            elif word in ("endif", "endfor"):
                kind = word[3:]
                self._top(stack, (kind,), word, here)
                _, _, current, _ = stack.pop()
            elif word == "include":
                match = _INCLUDE.fullmatch(tag)
                if match is None:
                    raise self._error(here, f'expected include "name.html", got {tag!r}')
                current.append(_Include(match.group(1) or match.group(2), here))
            else:
                raise self._error(here, f"unknown tag {{% {tag} %}}")
        if stack:
            kind, _, _, opened = stack[-1]
            raise self._error(opened, f"{{% {kind} %}} is never closed with {{% end{kind} %}}")
        return root

    def _top(
        self,
        stack: list[tuple[str, Any, list[Any], int]],
        kinds: tuple[str, ...],
        tag: str,
        line: int,
    ) -> tuple[str, Any, list[Any], int]:
        if not stack or stack[-1][0] not in kinds:
            raise self._error(line, f"{{% {tag} %}} outside of " + " or ".join(kinds))
        return stack[-1]

    def _expr(self, text: str, line: int) -> _Expr:
        text = text.strip()
        negate = False
        if text.startswith("not "):
            negate, text = True, text[4:].strip()
        path_text, *filters = [part.strip() for part in text.split("|")]
        if not _EXPR.fullmatch(path_text):
            raise self._error(line, f"expected a name like user.name, got {text!r}")
        path = path_text.split(".")
        if any(part.startswith("_") for part in path[1:]):
            raise self._error(line, f"names starting with '_' are private: {path_text!r}")
        for name in filters:
            if name not in FILTERS:
                raise self._error(
                    line, f"unknown filter {name!r} (known: {', '.join(sorted(FILTERS))})"
                )
        return _Expr(path, filters, negate, line)

    def _error(self, line: int, message: str) -> TemplateError:
        return TemplateError(f"{self.name}, line {line}: {message}")


class Templates:
    """Templates loaded from one folder by name, parsed once and reparsed when the file changes."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder).resolve()
        self._cache: dict[str, tuple[int, Template]] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Template:
        if not TEMPLATE_NAME.fullmatch(name) or ".." in name.split("/"):
            raise TemplateError(f"invalid template name {name!r}")
        path = (self.folder / name).resolve()
        if not path.is_relative_to(self.folder):
            raise TemplateError(f"template {name!r} is outside {self.folder}")
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            raise TemplateError(f"no template {name!r} in {self.folder}") from None
        with self._lock:
            hit = self._cache.get(name)
            if hit is not None and hit[0] == mtime:
                return hit[1]
        template = Template(path.read_text(encoding="utf-8"), name, self)
        with self._lock:
            self._cache[name] = (mtime, template)
        return template

    def render(
        self, name: str, context: Mapping[str, Any] | None = None, /, **values: Any
    ) -> Markup:
        return self.get(name).render(context, **values)
