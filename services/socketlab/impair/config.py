"""configs/impair.toml: the proxies the relay runs, each with its toxics.

::

    [proxies.slow-web]
    listen = ":8080"                 # [host]:port the relay listens on (":8080" = every address)
    upstream = "threaded-web:8080"   # where it connects for each client
    protocol = "tcp"                 # or "udp"
    stream = "downstream"            # the direction the toxic keys below apply to (or both)
    latency_ms = 100

Every key not named above is a toxic (:class:`~socketlab.impair.toxics.ToxicSettings`). The file
is data, read with tomllib; a bad value names the proxy and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..settings import SettingsError, read_config_file
from .relay import STREAMS, ProxySpec, stream_names
from .toxics import ToxicSettings

PROXY_KEYS = ("listen", "upstream", "protocol", "stream")


def parse_address(text: object, where: str, *, default_host: str | None = None) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``:port`` (every address: ``default_host``)."""
    if not isinstance(text, str) or ":" not in text:
        raise SettingsError(f"{where}: expects 'host:port', got {text!r}")
    host, _, port_text = text.rpartition(":")
    host = host.strip("[]")
    if not host:
        if default_host is None:
            raise SettingsError(f"{where}: expects a host before ':{port_text}'")
        host = default_host
    try:
        port = int(port_text)
    except ValueError:
        raise SettingsError(f"{where}: port {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise SettingsError(f"{where}: port {port} is out of range 0-65535")
    return host, port


def load_proxies(path: Path) -> list[ProxySpec]:
    return parse_proxies(read_config_file(path), str(path))


def parse_proxies(doc: dict[str, Any], name: str) -> list[ProxySpec]:
    unknown = sorted(set(doc) - {"proxies"})
    if unknown:
        raise SettingsError(f"{name}: unknown table or key {unknown} (expected [proxies.<name>])")
    tables = doc.get("proxies", {})
    if not isinstance(tables, dict) or not tables:
        raise SettingsError(f"{name}: no [proxies.<name>] table")
    specs = []
    for proxy, table in tables.items():
        where = f"{name}: [proxies.{proxy}]"
        if not isinstance(table, dict):
            raise SettingsError(f"{where}: expects a table")
        unknown = sorted(set(table) - set(PROXY_KEYS) - set(ToxicSettings.KEYS))
        if unknown:
            keys = ", ".join((*PROXY_KEYS, *ToxicSettings.KEYS))
            raise SettingsError(f"{where}: unknown key {unknown} (known keys: {keys})")
        for key in ("listen", "upstream"):
            if key not in table:
                raise SettingsError(f"{where}: missing key '{key}'")
        protocol = table.get("protocol", "tcp")
        if protocol not in ("tcp", "udp"):
            raise SettingsError(f"{where}: 'protocol' expects 'tcp' or 'udp', got {protocol!r}")
        try:
            streams = stream_names(table.get("stream", "downstream"), where)
            settings = ToxicSettings.from_mapping(table, where)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        toxics = {s: settings if s in streams else ToxicSettings() for s in STREAMS}
        specs.append(
            ProxySpec(
                proxy,
                protocol,
                parse_address(table["listen"], f"{where} 'listen'", default_host="0.0.0.0"),
                parse_address(table["upstream"], f"{where} 'upstream'"),
                toxics,
            )
        )
    listens = [(s.protocol, s.listen) for s in specs]
    for spec in specs:
        if spec.listen[1] and listens.count((spec.protocol, spec.listen)) > 1:
            raise SettingsError(f"{name}: two proxies listen on {spec.protocol} {spec.listen}")
    return specs
