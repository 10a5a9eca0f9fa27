"""A mini WSGI framework: routes declared with a decorator, templates escaped by default.

It grew out of the seed exercise's ``mini_frame`` (a chain of ``if path == '/index.py'``
returning file contents) into the few pieces every small framework has, each in its module:

* :mod:`.app` -- :class:`App`, the WSGI callable, and its ``@app.route(...)`` decorator;
* :mod:`.routing` -- URL patterns with bounded, typed parameters (``/status/<int:code>``);
* :mod:`.request` -- :class:`Request`, a read-only view of ``environ`` with body limits;
* :mod:`.response` -- :class:`Response` and helpers for JSON, text and redirects;
* :mod:`.templates` -- :class:`Templates` from a folder, a small Jinja-like language that
  escapes every value unless it is marked safe, and never evaluates anything.

Standard library only, like the rest of the lab.
"""

from .app import App, error_response, to_response
from .request import MAX_BODY, MAX_FIELDS, Request, UnsupportedMediaType
from .response import Response, json_response, redirect, status_line, text_response
from .routing import Route, Router
from .templates import Markup, Template, TemplateError, Templates, escape

__all__ = [
    "MAX_BODY",
    "MAX_FIELDS",
    "App",
    "Markup",
    "Request",
    "Response",
    "Route",
    "Router",
    "Template",
    "TemplateError",
    "Templates",
    "UnsupportedMediaType",
    "error_response",
    "escape",
    "json_response",
    "redirect",
    "status_line",
    "text_response",
    "to_response",
]
