"""coroutine-web's settings: one table for flags, SOCKETLAB_<NAME> and the TOML file
(configs/coroutine-web.toml)."""

from __future__ import annotations

from typing import Final

from .. import logs, settings
from ..http.settings import max_connections_setting, server_settings, status_allow_setting
from ..settings import Setting
from ..static import CACHE_CONTROL_SETTING
from ..wsgi.apploader import APP_SPEC
from .server import GRACEFUL_TIMEOUT, MAX_CONNECTIONS

DEFAULT_APP: Final = "socketlab.coroutine_web.labapp:app"


def check_app(spec: str) -> None:
    """'' (no application: static files only) or module:callable."""
    if spec and not APP_SPEC.fullmatch(spec):
        raise ValueError("expects 'module:callable' (or '' for none), for example " + DEFAULT_APP)


def check_root_path(value: str) -> None:
    if value and (not value.startswith("/") or value.endswith("/")):
        raise ValueError("expects '' or a path like '/app' (a leading slash, no trailing one)")


SETTINGS: Final = (
    *server_settings(host="0.0.0.0", port=8081, graceful_timeout=GRACEFUL_TIMEOUT),
    Setting(
        "root",
        str,
        "services/www",
        "document root: files served as they are ('' serves none)",
        metavar="DIR",
        check=settings.check_directory,
    ),
    CACHE_CONTROL_SETTING,
    Setting(
        "app",
        str,
        DEFAULT_APP,
        "the ASGI 3 application, as module:callable ('' serves static files only)",
        check=check_app,
        metavar="MODULE:CALLABLE",
    ),
    Setting(
        "app_path",
        list,
        [],
        "directories searched first for the application's module",
        metavar="DIR,...",
    ),
    Setting(
        "root_path",
        str,
        "",
        "the ASGI root_path: where the application is mounted",
        check=check_root_path,
        metavar="PATH",
    ),
    Setting(
        "lifespan",
        str,
        "auto",
        "the ASGI lifespan scope: on (a failure stops the server), off, or auto "
        "(on unless the application does not support it)",
        choices=("auto", "on", "off"),
    ),
    max_connections_setting(MAX_CONNECTIONS),
    status_allow_setting(),
    logs.level_setting(),
)
