"""The report: a Network-panel table per page, a summary, and the same as JSON.

The table has one row per request in the order they started: method, status, type, size (body
bytes), time, the remote ip:port, our local port and the connection that carried it (``#3``,
``*`` when the request reused it). A failed request keeps its row; the reason follows the URL
after ``!!``. Then the summary (requests, bytes, connections opened and reused, load times),
the connections with both ends' view of them, and the scenario's expectations.

Everything from the server (URLs, reasons, titles) goes through :func:`socketlab.logs.printable`
before it is printed, so a page cannot drive the terminal with escape sequences.
"""

from __future__ import annotations

from ..logs import printable
from .errors import InvalidURL
from .records import Entry, PageLoad
from .urls import URL, parse, relative_to

TYPE_CHECKING = False  # typing is for the type checker only: see socketlab.structs
if TYPE_CHECKING:
    from typing import Any

COLUMNS = ("#", "method", "status", "type", "size", "time", "remote", "local", "conn", "url")


def _addr(addr: tuple[str, int] | None) -> str:
    if addr is None:
        return "-"
    host = f"[{addr[0]}]" if ":" in addr[0] else addr[0]
    return f"{host}:{addr[1]}"


def _status(entry: Entry) -> str:
    if entry.error is not None and not entry.status:
        return "(failed)"
    return str(entry.status)


def _size(entry: Entry) -> str:
    return f"{len(entry.body)} B" if entry.status else "-"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value >= 0 else "-"


def _page_url(page: PageLoad) -> URL | None:
    try:
        return parse(page.document.url if page.document else page.url)
    except InvalidURL:
        return None


def summary(page: PageLoad) -> dict[str, Any]:
    """The figures of the summary line, for the table and for JSON."""
    entries = page.entries
    with_conn = [e for e in entries if e.connection_id is not None]
    return {
        "requests": len(entries),
        "failed": len(page.failures),
        "content_bytes": sum(len(e.body) for e in entries),
        "transferred_bytes": sum(e.wire_bytes for e in entries),
        "connections_opened": len({e.connection_id for e in with_conn if not e.reused}),
        "connections_used": len({e.connection_id for e in with_conn}),
        "requests_on_reused_connections": sum(1 for e in with_conn if e.reused),
        "skipped_by_cap": page.skipped,
        "content_loaded_ms": round(page.content_loaded_ms, 3),
        "load_ms": round(page.load_ms, 3),
        "ok": page.ok,
    }


def format_page(page: PageLoad) -> str:
    """The human report of one page: table, summary, connections, expectations."""
    base = _page_url(page)
    title = f'  "{printable(page.title, 80)}"' if page.title else ""
    label = f"[{printable(page.label, 60)}] " if page.label else ""
    lines = [f"{page.id} {label}{page.method} {printable(page.url)}{title}"]
    rows = [list(COLUMNS)]
    for entry in page.entries:
        url = printable(relative_to(entry.url, base), 120)
        problem = entry.problem
        if problem:
            url += f"  !! {printable(problem, 160)}"
            if entry.optional:
                url += " (ignored: optional)"
            elif entry.status_expected and entry.error is None:
                url += " (judged by the scenario's expect_status)"
        if entry.redirect_to:
            url += f"  -> {printable(relative_to(entry.redirect_to, base), 120)}"
        if entry.retried:
            url += "  (retried on a new connection: the kept-alive one had been closed)"
        conn = (
            "-"
            if entry.connection_id is None
            else (f"#{entry.connection_id}" + ("*" if entry.reused else ""))
        )
        rows.append(
            [
                str(entry.id),
                entry.method,
                _status(entry),
                entry.kind,
                _size(entry),
                _ms(entry.timings.total),
                _addr(entry.remote),
                str(entry.local[1]) if entry.local else "-",
                conn,
                url,
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
    right = {4, 5}  # size and time read better right-aligned
    for row in rows:
        cells = [row[i].rjust(w) if i in right else row[i].ljust(w) for i, w in enumerate(widths)]
        lines.append("  " + "  ".join(cells) + "  " + row[-1])
    s = summary(page)
    failed = f" ({s['failed']} failed)" if s["failed"] else ""
    skipped = (
        f" | {s['skipped_by_cap']} resources not fetched (resource cap)"
        if s["skipped_by_cap"]
        else ""
    )
    lines.append(
        f"summary: {_n(s['requests'], 'request')}{failed} | {s['content_bytes']} B of content, "
        f"{s['transferred_bytes']} B transferred | "
        f"{_n(s['connections_opened'], 'connection')} opened, "
        f"{_n(s['requests_on_reused_connections'], 'request')} on reused ones | "
        f"DOMContentLoaded {_ms(page.content_loaded_ms)}, load {_ms(page.load_ms)}{skipped}"
    )
    if page.connections:
        lines.append("connections:")
        for info in page.connections:
            seen = ""
            if info.server_view is not None:
                same = info.server_view == (info.local[0], info.local[1])
                pid = f" (pid {info.server_pid})" if info.server_pid is not None else ""
                seen = f"  server saw {_addr(info.server_view)}{pid}" + (
                    "" if same else " -- not our address: NAT or a proxy in between"
                )
            lines.append(
                f"  #{info.id} {_addr(info.local)} -> {_addr(info.remote)}  "
                f"{_n(info.requests, 'request')}{seen}"
            )
    if page.expectations:
        lines.append("expectations:")
        for x in page.expectations:
            detail = f": {printable(x.detail, 160)}" if x.detail else ""
            lines.append(f"  {'ok  ' if x.held else 'FAIL'} {printable(x.what, 120)}{detail}")
    lines.append("result: " + ("loaded" if page.ok else "NOT OK"))
    return "\n".join(lines)


def entry_to_dict(entry: Entry) -> dict[str, Any]:
    """One entry as plain data for ``--json``.

    Written for a page of a hundred entries, where this was a tenth of the page load's
    instructions (issue 17): the timings and addresses are read once, and an entry that did
    not fail (``Entry.failed``) has no problem to ask for and does not count as a failure."""
    t = entry.timings
    blocked, dns, connect, send, wait, receive = (
        t.blocked,
        t.dns,
        t.connect,
        t.send,
        t.wait,
        t.receive,
    )
    total = sum(x for x in (blocked, dns, connect, send, wait, receive) if x >= 0)  # Timings.total
    remote, local = entry.remote, entry.local
    error, status = entry.error, entry.status
    failed = error is not None or status >= 400  # Entry.failed
    return {
        "id": entry.id,
        "method": entry.method,
        "url": entry.url,
        "status": status,
        "reason": entry.reason,
        "type": entry.kind,
        "mime_type": entry.mime_type,
        "size": len(entry.body),
        "transferred": entry.wire_bytes,
        "time_ms": round(total, 3),
        "timings": {
            "blocked": round(blocked, 3),
            "dns": round(dns, 3),
            "connect": round(connect, 3),
            "send": round(send, 3),
            "wait": round(wait, 3),
            "receive": round(receive, 3),
        },
        "remote_ip": remote[0] if remote else None,
        "remote_port": remote[1] if remote else None,
        "local_ip": local[0] if local else None,
        "local_port": local[1] if local else None,
        "connection": entry.connection_id,
        "reused": entry.reused,
        "retried": entry.retried,
        "initiator": entry.initiator,
        "optional": entry.optional,
        "redirect_to": entry.redirect_to or None,
        "error": (entry.problem or None) if failed else None,
        "failed": entry.counts_as_failure if failed else False,  # never one if it did not fail
    }


def page_to_dict(page: PageLoad) -> dict[str, Any]:
    """The page as plain data for ``--json``."""
    return {
        "page": page.id,
        "label": page.label,
        "method": page.method,
        "url": page.url,
        "final_url": page.document.url if page.document else None,
        "status": page.document.status if page.document else None,
        "title": page.title,
        "ok": page.ok,
        "entries": [entry_to_dict(e) for e in page.entries],
        "summary": summary(page),
        "connections": [
            {
                "id": c.id,
                "local_ip": c.local[0],
                "local_port": c.local[1],
                "remote_ip": c.remote[0],
                "remote_port": c.remote[1],
                "requests": c.requests,
                "server_saw": None
                if c.server_view is None
                else {
                    "client_ip": c.server_view[0],
                    "client_port": c.server_view[1],
                    "pid": c.server_pid,
                },
            }
            for c in page.connections
        ],
        "expectations": [vars(x) for x in page.expectations],
    }
