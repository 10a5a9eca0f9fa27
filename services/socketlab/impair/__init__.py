"""impair: a TCP and UDP relay that adds latency, jitter, bandwidth limits, loss, resets, slow
closes and timeouts (toxics) between a client and a server, with an HTTP control API."""

from .relay import Proxy, ProxySpec, TcpProxy, UdpProxy, make_proxy
from .server import SERVICE, SETTINGS, main, start_proxies
from .toxics import Chain, Chunk, ToxicSettings

__all__ = [
    "SERVICE",
    "SETTINGS",
    "Chain",
    "Chunk",
    "Proxy",
    "ProxySpec",
    "TcpProxy",
    "ToxicSettings",
    "UdpProxy",
    "main",
    "make_proxy",
    "start_proxies",
]
