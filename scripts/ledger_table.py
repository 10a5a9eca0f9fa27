"""Join the lab's connection ledgers into one table of who talked to whom (``make ledger``).

Every service writes one JSON line per finished TCP connection or UDP peer session on its
``ledger`` logger (``services/socketlab/ledger.py``), each with the addresses as *that side* saw
them. This tool reads those lines from `docker compose logs` (or any files, ``-`` for stdin),
optionally a browser HAR, and pairs the two ends of each conversation:

* a client's line and a server's line with the same two addresses are one connection, and
  nothing changed on the way;
* a client's line whose remote is the impair relay, the relay's line (``remote`` the client,
  ``upstream_local`` its own leg) and the server's line whose remote is that leg are one
  relayed connection: the server saw the relay's address, not the client's;
* a server's line whose remote is its network's gateway (``x.y.z.1``) came from outside the lab
  through a published port: docker-proxy opened a new connection, so the server never saw the
  real client (exercise 01's lesson);
* a HAR's entries are matched to the browser's line by the local port (``_localPort``).

Usage: ``docker compose logs --no-color | python3 scripts/ledger_table.py - [--har FILE] [--json]``
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

MARK = " ledger {"


def read_lines(stream: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The ledger records in a log stream (compose prefixes and timestamps are skipped)."""
    for line in stream:
        at = line.find(MARK)
        if at < 0:
            continue
        try:
            doc = json.loads(line[at + len(MARK) - 1 :])
        except json.JSONDecodeError:
            continue  # a line cut by the log driver: nothing to join
        if isinstance(doc, dict) and doc.get("ledger") in ("tcp", "udp"):
            yield doc


def host_of(addr: str) -> str:
    return addr.rpartition(":")[0].strip("[]")


def port_of(addr: str) -> int:
    try:
        return int(addr.rpartition(":")[2])
    except ValueError:
        return -1


def is_loopback(addr: str) -> bool:
    host = host_of(addr)
    return host.startswith("127.") or host == "::1"


def is_gateway(addr: str) -> bool:
    """Docker's bridge gateway: the first address of the network (the lab's are x.y.z.1)."""
    host = host_of(addr)
    return host.count(".") == 3 and host.endswith(".1") and not is_loopback(addr)


WILDCARDS = ("0.0.0.0", "::")
"""A UDP server bound to every address sees its own address as one of these."""


@dataclass
class Row:
    kind: str
    client: str
    server: str
    services: list[str]
    requests: int | None
    bytes_up: int
    bytes_down: int
    duration_ms: float
    start: str
    via: list[str] = field(default_factory=list)
    note: str = ""
    har: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def join(records: list[dict[str, Any]], har: dict[str, Any] | None = None) -> list[Row]:
    servers = [r for r in records if r.get("role") == "server"]
    clients = [r for r in records if r.get("role") == "client"]
    relays = [r for r in records if r.get("role") == "relay"]
    by_pair: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in servers:
        local = r["local"]
        if host_of(local) in WILDCARDS:  # matched by its port: any address of the host
            local = f"*:{port_of(local)}"
        by_pair[(r["ledger"], local, r["remote"])] = r
    relay_by_client = {(r["ledger"], r["remote"], r["local"]): r for r in relays}
    used: set[int] = set()
    rows: list[Row] = []
    har_by_port = _har_by_port(har)

    def take(record: dict[str, Any] | None) -> dict[str, Any] | None:
        if record is None or id(record) in used:
            return None
        used.add(id(record))
        return record

    def server_for(kind: str, local: object, remote: object) -> dict[str, Any] | None:
        """The server's line for a connection to ``local`` from ``remote``, if there is one."""
        if not isinstance(local, str) or not isinstance(remote, str):
            return None
        exact = take(by_pair.get((kind, local, remote)))
        return exact or take(by_pair.get((kind, f"*:{port_of(local)}", remote)))

    for client in clients:
        kind = client["ledger"]
        relay = take(relay_by_client.get((kind, client["local"], client["remote"])))
        if relay is not None:
            server = server_for(kind, relay.get("upstream_remote"), relay.get("upstream_local"))
            row = _row(client, server, relay)
            row.via = [f"impair {relay['local']} -> {relay.get('upstream_local', '?')}"]
            row.note = (
                f"address changed: {row.server.split()[0]} saw the relay's "
                f"{relay.get('upstream_local')}, not {client['local']}"
            )
        else:
            server = server_for(kind, client["remote"], client["local"])
            row = _row(client, server, None)
            row.note = (
                "same addresses on both sides"
                if server
                else "no line from the server side (not a lab service, or not finished)"
            )
        used.add(id(client))
        row.har = har_by_port.get(port_of(client["local"]), [])
        rows.append(row)
    for relay in relays:
        if id(relay) in used:
            continue
        used.add(id(relay))
        kind = relay["ledger"]
        server = server_for(kind, relay.get("upstream_remote"), relay.get("upstream_local"))
        row = _row(None, server, relay)
        row.via = [f"impair {relay['local']} -> {relay.get('upstream_local', '?')}"]
        row.note = (
            f"address changed: the relay took {relay['remote']}'s connection on and the "
            f"server saw {relay.get('upstream_local')}"
        )
        if is_gateway(relay["remote"]):
            row.note += "; the client came through a published port (docker-proxy)"
        rows.append(row)
    for server in servers:
        if id(server) in used:
            continue
        row = _row(None, server, None)
        if is_loopback(server["remote"]):
            row.note = "inside the container itself (a healthcheck or docker exec)"
        elif is_gateway(server["remote"]):
            row.via = ["docker-proxy (published port)"]
            row.note = (
                f"address changed: from outside the lab; the server saw the gateway "
                f"{server['remote']}, not the real client"
            )
        else:
            row.note = "no line from the client side (not a lab service, or not finished)"
        rows.append(row)
    rows.sort(key=lambda r: r.start)
    return rows


def _row(
    client: dict[str, Any] | None, server: dict[str, Any] | None, relay: dict[str, Any] | None
) -> Row:
    first = client or relay or server
    assert first is not None
    services = [r["service"] for r in (client, relay, server) if r is not None]
    if client is not None:
        up, down = client["bytes_out"], client["bytes_in"]
        client_addr = f"{client['local']} ({client['service']})"
    elif relay is not None:
        up, down = relay["bytes_in"], relay["bytes_out"]
        client_addr = relay["remote"]
    else:
        assert server is not None
        up, down = server["bytes_in"], server["bytes_out"]
        client_addr = server["remote"]
    if server is not None:
        server_addr = f"{server['local']} ({server['service']})"
        requests = server.get("requests", server.get("datagrams_in"))
    elif relay is not None:
        server_addr = str(relay.get("upstream_remote", "?"))
        requests = client.get("requests") if client else None
    else:
        assert client is not None
        server_addr = client["remote"]
        requests = client.get("requests", client.get("datagrams_out"))
    return Row(
        kind=first["ledger"],
        client=client_addr,
        server=server_addr,
        services=services,
        requests=requests,
        bytes_up=up,
        bytes_down=down,
        duration_ms=max(float(r["duration_ms"]) for r in (client, relay, server) if r),
        start=min(str(r["start"]) for r in (client, relay, server) if r),
    )


def _har_by_port(har: dict[str, Any] | None) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    if not har:
        return out
    for entry in har.get("log", {}).get("entries", []):
        port = entry.get("_localPort")
        if isinstance(port, int):
            out.setdefault(port, []).append(entry.get("request", {}).get("url", "?"))
    return out


def render(rows: list[Row], out: TextIO, *, everything: bool = False) -> None:
    hidden = 0
    if not everything:
        shown = [r for r in rows if not r.note.startswith("inside the container")]
        hidden, rows = len(rows) - len(shown), shown
    if not rows:
        print("ledger: no ledger lines found (is the lab running? make up)", file=out)
        return
    print(
        f"{'start':23} {'kind':4} {'client (as it saw itself)':38} {'via':34} "
        f"{'server (as it saw itself)':36} {'reqs':>4} {'up':>7} {'down':>8} {'ms':>8}",
        file=out,
    )
    for r in rows:
        via = ", ".join(r.via) or "-"
        reqs = "-" if r.requests is None else str(r.requests)
        print(
            f"{r.start:23} {r.kind:4} {r.client:38} {via:34} {r.server:36} {reqs:>4} "
            f"{r.bytes_up:>7} {r.bytes_down:>8} {r.duration_ms:>8.1f}",
            file=out,
        )
        if r.note and not r.note.startswith("same"):
            print(f"{'':28} ^ {r.note}", file=out)
        if r.har:
            print(f"{'':28} ^ HAR: {len(r.har)} request(s): {', '.join(r.har[:4])}", file=out)
    changed = sum(1 for r in rows if r.note.startswith("address changed"))
    print(
        f"ledger: {len(rows)} conversations, {changed} where an address changed on the way"
        + (f"; {hidden} inside a container (healthchecks) not shown: --all" if hidden else ""),
        file=out,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ledger_table", description=__doc__.split("\n\n")[0])
    parser.add_argument("logs", nargs="*", default=["-"], help="log files; - for stdin")
    parser.add_argument("--har", type=Path, help="a browser HAR to match by local port")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON lines")
    parser.add_argument(
        "--all", action="store_true", help="also the conversations inside one container"
    )
    args = parser.parse_args(argv)
    records: list[dict[str, Any]] = []
    for name in args.logs:
        if name == "-":
            records.extend(read_lines(sys.stdin))
            continue
        try:
            with open(name, encoding="utf-8", errors="replace") as handle:
                records.extend(read_lines(handle))
        except OSError as exc:
            print(f"ledger: {name}: {exc.strerror}", file=sys.stderr)
            return 1
    har = None
    if args.har:
        try:
            har = json.loads(args.har.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            print(f"ledger: {args.har}: not a readable HAR: {exc}", file=sys.stderr)
            return 1
    rows = join(records, har)
    if args.json:
        for row in rows:
            print(json.dumps(row.as_dict()))
    else:
        render(rows, sys.stdout, everything=args.all)
    return 0


if __name__ == "__main__":
    sys.exit(main())
