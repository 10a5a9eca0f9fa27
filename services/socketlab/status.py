"""``/server-status``: a scoreboard of the open connections, Apache mod_status's idea.

A server keeps one :class:`Scoreboard`; each open connection is a :class:`Slot` on it that the
server moves between the states below as the connection goes (one attribute write: nothing on
the hot path allocates). ``GET /server-status`` answers with every row (peer ip:port, state,
age, who serves it, requests served on it) and the count per state: JSON by default, an HTML
table that refreshes itself for a browser (``?html`` or ``Accept: text/html``).

The scoreboard shows who talks to the server, so it is only for clients in ``allow`` (by
default loopback and the lab's two networks; a setting of each server). Anyone else gets 403.
"""

from __future__ import annotations

import html
import ipaddress
import json
import os
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any, Final

from .http import errors
from .http.connection import Exchange

PATH: Final = "/server-status"

READING_HEAD: Final = "reading-head"
WORKING: Final = "working"
SENDING: Final = "sending"
IDLE: Final = "idle"
STATES: Final = (READING_HEAD, WORKING, SENDING, IDLE)
"""mod_status's letters R (reading request), W (working; Apache folds our "sending" into W) and
K (keep-alive, here "idle"): a connection is in exactly one of them."""

DEFAULT_ALLOW: Final = ("127.0.0.0/8", "::1/128", "10.30.80.0/24", "10.30.90.0/24")
"""Who may read the scoreboard: loopback and the lab's networks (labnet, othernet)."""

REFRESH_SECONDS: Final = 2
"""How often the HTML page reloads itself (mod_status's ?refresh=N, fixed here)."""

MAX_ROWS: Final = 2000
"""Most rows in one answer: 10,000 idle connections must not make a 2 MB page each refresh.
The counts always cover every connection."""

_HOSTNAME: Final = socket.gethostname()


class Slot:
    """One open connection on the scoreboard; its server sets ``state`` and ``requests``."""

    __slots__ = ("opened", "peer", "requests", "since", "state", "worker")

    def __init__(self, peer: str, worker: str) -> None:
        self.peer = peer
        self.worker = worker
        self.state = READING_HEAD
        self.requests = 0
        self.opened = self.since = time.monotonic()

    def set(self, state: str) -> None:
        """Move to ``state`` and restart the time in state."""
        self.state = state
        self.since = time.monotonic()


class Scoreboard:
    """The open connections of one server process (safe to use from several threads)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.started = time.monotonic()
        self._slots: set[Slot] = set()
        self._lock = threading.Lock()

    def open(self, peer: str, worker: str) -> Slot:
        slot = Slot(peer, worker)
        with self._lock:
            self._slots.add(slot)
        return slot

    def close(self, slot: Slot) -> None:
        with self._lock:
            self._slots.discard(slot)

    def __len__(self) -> int:
        return len(self._slots)

    def snapshot(self) -> dict[str, Any]:
        """The scoreboard as a JSON-ready document (the rows oldest first)."""
        now = time.monotonic()
        with self._lock:
            slots = sorted(self._slots, key=lambda s: s.opened)
        counts = dict.fromkeys(STATES, 0)
        for slot in slots:
            counts[slot.state] = counts.get(slot.state, 0) + 1
        pid = os.getpid()
        return {
            "service": self.service,
            "hostname": _HOSTNAME,
            "pid": pid,
            "uptime": round(now - self.started, 3),
            "connections": len(slots),
            "states": counts,
            "rows_shown": min(len(slots), MAX_ROWS),
            "rows": [
                {
                    "peer": slot.peer,
                    "state": slot.state,
                    "age": round(now - slot.opened, 3),
                    "in_state": round(now - slot.since, 3),
                    "worker": slot.worker,
                    "pid": pid,
                    "requests": slot.requests,
                }
                for slot in slots[:MAX_ROWS]
            ],
        }


Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def parse_allow(entries: Iterable[str]) -> Networks:
    """The networks of an ``allow`` setting; ValueError names a bad entry."""
    nets = []
    for entry in entries:
        try:
            nets.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"expects networks like '10.30.80.0/24', not {entry!r}") from None
    return tuple(nets)


def check_allow(entries: Sequence[str]) -> None:
    """For a settings table's ``check``."""
    parse_allow(entries)


def allowed(client_ip: str, nets: Networks) -> bool:
    try:
        address = ipaddress.ip_address(client_ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in nets)


def wants_html(exchange: Exchange) -> bool:
    request = exchange.request
    query = request.query.split("&")
    if "html" in query or any(part.startswith("html=") for part in query):
        return True
    accept = request.headers.get("accept") or ""
    return "text/html" in accept.lower()


def respond(exchange: Exchange, board: Scoreboard, nets: Networks) -> None:
    """Answer ``GET /server-status`` (403 for a client outside ``nets``)."""
    if exchange.request.method not in ("GET", "HEAD"):
        raise errors.MethodNotAllowed(("GET", "HEAD"))
    if not allowed(exchange.client[0], nets):
        raise errors.Forbidden("the scoreboard is for the lab's networks only")
    doc = board.snapshot()
    headers = [("Cache-Control", "no-store")]
    if wants_html(exchange):
        body = render_html(doc).encode()
        headers.append(("Content-Type", "text/html; charset=utf-8"))
    else:
        body = json.dumps(doc, indent=1).encode() + b"\n"
        headers.append(("Content-Type", "application/json"))
    exchange.respond(200, headers, body)


def render_html(doc: dict[str, Any]) -> str:
    esc = html.escape
    counts = " ".join(f"{esc(state)}: {n}" for state, n in doc["states"].items())
    rows = "\n".join(
        "<tr>"
        + "".join(
            f"<td>{esc(str(row[key]))}</td>"
            for key in ("peer", "state", "age", "in_state", "worker", "pid", "requests")
        )
        + "</tr>"
        for row in doc["rows"]
    )
    more = doc["connections"] - doc["rows_shown"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<title>{esc(doc["service"])} server status</title>
<style>body{{font-family:sans-serif}}td,th{{padding:0 .6em;text-align:left}}</style>
</head><body>
<h1>{esc(doc["service"])} on {esc(doc["hostname"])} (pid {doc["pid"]})</h1>
<p>up {doc["uptime"]:.0f} s; {doc["connections"]} connections open; {esc(counts)}</p>
<table><tr><th>peer</th><th>state</th><th>age s</th><th>in state s</th><th>served by</th>
<th>pid</th><th>requests</th></tr>
{rows}
</table>{f"<p>and {more} more</p>" if more > 0 else ""}
</body></html>
"""
