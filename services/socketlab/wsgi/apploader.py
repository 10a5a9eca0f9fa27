"""Load a WSGI application named ``module:callable``, the way gunicorn does.

``app = "socketlab.labapp:app"`` imports ``socketlab.labapp`` and takes its attribute ``app``;
``"mysite.wsgi:application"`` or ``"pkg.web:api.wsgi_app"`` (a dotted attribute path) work the
same. The directories of the *app search path* are put in front of ``sys.path`` first, so an
application can live outside the lab's own tree (the seed's ``dynamic_path``).

Only names are looked up: nothing is evaluated, so a config file cannot run code through this
key (unlike the seed, whose config was read with ``eval``). Calling a factory
(``module:create_app()``) is not supported for the same reason: export the application object.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Sequence
from typing import Any, Final

APP_SPEC: Final = re.compile(
    r"(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):(?P<attr>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)"
)


class AppLoadError(Exception):
    """The application cannot be loaded; the message is one line for the operator."""


def check_spec(spec: str) -> None:
    """Raise ValueError unless ``spec`` looks like ``module:callable`` (for the settings table)."""
    if not APP_SPEC.fullmatch(spec):
        raise ValueError("expects 'module:callable', for example 'socketlab.labapp:app'")


def load_app(spec: str, search_path: Sequence[str] = ()) -> Any:
    """Import and return the callable ``spec`` names, after prepending ``search_path``.

    Raises :class:`AppLoadError` when the module or attribute does not exist or is not callable.
    An exception raised *inside* the application's module while it is imported is not caught
    here: its traceback is what the operator needs.
    """
    match = APP_SPEC.fullmatch(spec)
    if match is None:
        raise AppLoadError(f"app {spec!r}: expected 'module:callable'")
    for entry in reversed(search_path):
        path = os.path.abspath(entry)
        if not os.path.isdir(path):
            raise AppLoadError(f"app search path entry {entry!r} is not a directory")
        if path not in sys.path:
            sys.path.insert(0, path)
    module_name, attr_path = match.group("module"), match.group("attr")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only "that module is not there" is a configuration error; a module that is there but
        # imports something missing is the application's bug and keeps its traceback.
        if exc.name is None or not (
            module_name == exc.name or module_name.startswith(exc.name + ".")
        ):
            raise
        where = ", ".join(search_path) or "sys.path only"
        raise AppLoadError(
            f"app {spec!r}: no module named {exc.name!r} (app search path: {where})"
        ) from None
    obj: Any = module
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppLoadError(
                f"app {spec!r}: {module_name} has no attribute {attr_path!r}"
            ) from None
    if not callable(obj):
        raise AppLoadError(f"app {spec!r}: {attr_path} is a {type(obj).__name__}, not callable")
    return obj
