"""The application object every view module registers on (kept apart to avoid import cycles)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

from ..framework import App, Request

SERVICE: Final = "multiprocess-web"
TEMPLATES: Final = Path(__file__).resolve().parent / "templates"

app = App(template_folder=TEMPLATES)


def page(request: Request, title: str, **values: Any) -> dict[str, Any]:
    """The values every page template uses (title, who served it) plus the page's own."""
    return {
        "title": title,
        "path": request.path,
        "pid": os.getpid(),
        "mode": request.environ.get("socketlab.mode", "wsgi"),
        **values,
    }
