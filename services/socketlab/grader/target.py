"""What a server check needs to know about the program it grades: where it listens."""

from __future__ import annotations

import dataclasses
from typing import Final

from .wire import Address

# How long `connect` (and udp-chat's `join`) keeps trying while the program starts: a Python
# server in a fresh container is up in well under a second, a compiled one may need a build.
STARTUP_GRACE: Final = 15.0


@dataclasses.dataclass
class ServerTarget:
    address: Address
    startup: float = STARTUP_GRACE

    @property
    def host_field(self) -> str:
        host, port = self.address
        return f"{host}:{port}"


def parse_address(text: str) -> Address:
    """``host:port`` (``[v6]:port`` too) as a tuple; ValueError with the reason otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not HOST:PORT")
    host = host.strip("[]")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
    return host, int(port)
