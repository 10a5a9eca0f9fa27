"""The mini framework's application object: routes by decorator, templates, error pages.

A site is written like this (the lab's own site, :mod:`socketlab.labapp`, is the full example)::

    app = App(template_folder=Path(__file__).parent / "templates")

    @app.route("/about", "/about.py")          # one view, several URLs
    def about(request):
        return app.render("about.html", title="About")

    @app.route("/status/<int:code>", methods=("GET", "POST"))
    def status(request, code):
        return Response(status=code)

The :class:`App` is a plain WSGI callable, so any WSGI server runs it (multiprocess-web,
``wsgiref``, gunicorn). A view returns a :class:`~.response.Response`, a ``str`` (an HTML page),
or a ``dict``/``list`` (JSON). Raising one of the core's
:class:`~socketlab.http.errors.HTTPError` (``NotFound``, ``BadRequest``...) gives that status
with a small, escaped error page. Any other exception is left to the server, which logs it and
answers 500 without details: a framework that printed tracebacks into pages would hand them to
every visitor.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from ..http import errors
from .request import Request
from .response import HTML, Response, json_response
from .routing import Router, View
from .templates import Templates

StartResponse = Callable[..., Any]


class App:
    """A WSGI application made of routes; ``template_folder`` holds its ``.html`` templates."""

    def __init__(self, template_folder: str | os.PathLike[str] | None = None) -> None:
        self.router = Router()
        self.templates = Templates(template_folder) if template_folder is not None else None

    def route(self, *patterns: str, methods: tuple[str, ...] = ("GET",)) -> Callable[[View], View]:
        """Register the decorated view for every pattern given (``/about``, ``/about.py``)."""
        if not patterns:
            raise ValueError("route() needs at least one URL pattern")

        def register(view: View) -> View:
            for pattern in patterns:
                self.router.add(pattern, view, methods)
            return view

        return register

    def render(self, name: str, /, status: int = 200, **context: Any) -> Response:
        """An HTML response from the template ``name``, its values HTML-escaped."""
        if self.templates is None:
            raise RuntimeError("this App has no template_folder")
        return Response(self.templates.render(name, context), status, content_type=HTML)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            route, params = self.router.match(request.path, request.method)
            response = to_response(route.view(request, **params))
        except errors.HTTPError as exc:
            response = error_response(exc)
        return response(start_response)


def to_response(result: Any) -> Response:
    """What a view returned, as a Response."""
    if isinstance(result, Response):
        return result
    if isinstance(result, str):  # Markup included
        return Response(result, content_type=HTML)
    if isinstance(result, (dict, list)):
        return json_response(result)
    raise TypeError(
        f"a view returned {type(result).__name__}; expected a Response, str, dict or list"
    )


def error_response(exc: errors.HTTPError) -> Response:
    """The error's status, its headers (Allow, Retry-After...) and the core's escaped page."""
    return Response(exc.render_html(), exc.status, list(exc.headers), HTML)
