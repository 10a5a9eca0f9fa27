"""``--json``'s entries: ``report.entry_to_dict`` is written for speed (issue 17); it must give
what the plain reading of the records gives, for entries of every kind of outcome."""

from __future__ import annotations

import itertools
import random
from typing import Any

from socketlab.browser import errors, report
from socketlab.browser.records import Entry, Timings


def _reference(entry: Entry) -> dict[str, Any]:
    """The plain reading: every value from the records' own properties."""
    return {
        "id": entry.id,
        "method": entry.method,
        "url": entry.url,
        "status": entry.status,
        "reason": entry.reason,
        "type": entry.kind,
        "mime_type": entry.mime_type,
        "size": len(entry.body),
        "transferred": entry.wire_bytes,
        "time_ms": round(entry.timings.total, 3),
        "timings": {k: round(v, 3) for k, v in vars(entry.timings).items()},
        "remote_ip": entry.remote[0] if entry.remote else None,
        "remote_port": entry.remote[1] if entry.remote else None,
        "local_ip": entry.local[0] if entry.local else None,
        "local_port": entry.local[1] if entry.local else None,
        "connection": entry.connection_id,
        "reused": entry.reused,
        "retried": entry.retried,
        "initiator": entry.initiator,
        "optional": entry.optional,
        "redirect_to": entry.redirect_to or None,
        "error": entry.problem or None,
        "failed": entry.counts_as_failure,
    }


ERRORS: list[errors.BrowserError | None] = [
    None,
    errors.ReadTimeout("server sent nothing for 10 s"),
    errors.ConnectError("connection refused"),
    errors.Cancelled("the browser is stopping"),
]


def _entries() -> list[Entry]:
    rnd = random.Random(17)
    out = []
    for number, (status, error, optional, expected) in enumerate(
        itertools.product([0, 200, 304, 404, 500], ERRORS, [False, True], [False, True])
    ):
        timing_values = [-1.0, 0.0, 0.0005, 1.2345678, 12.3456, 1e-9, 2500.0001]
        entry = Entry(
            id=number,
            page_id="page_1",
            method="GET",
            url=f"http://127.0.0.1:8080/r{number}",
            kind=rnd.choice(["document", "stylesheet", "image", "icon"]),
            initiator=rnd.choice(["", "http://127.0.0.1:8080/"]),
            optional=optional,
            status_expected=expected,
            status=status,
            reason={0: "", 200: "OK", 304: "Not Modified", 404: "Not Found"}.get(status, ""),
            response_headers=rnd.choice(
                [[], [("Content-Type", "text/CSS; charset=utf-8")], [("content-type", " x/y ")]]
            ),
            body=b"x" * rnd.randrange(100),
            wire_bytes=rnd.randrange(1000),
            timings=Timings(*(rnd.choice(timing_values) for _ in range(6))),
            remote=rnd.choice([None, ("127.0.0.1", 8080), ("::1", 8443)]),
            local=rnd.choice([None, ("127.0.0.1", 40000)]),
            connection_id=rnd.choice([None, 1, 2]),
            reused=rnd.random() < 0.5,
            retried=rnd.random() < 0.2,
            redirect_to=rnd.choice(["", "http://127.0.0.1:8080/next"]),
            error=error,
        )
        out.append(entry)
    return out


def test_every_entry_reads_as_the_records_say() -> None:
    entries = _entries()
    assert {e.counts_as_failure for e in entries} == {True, False}  # both kinds are here
    assert {bool(e.problem) for e in entries} == {True, False}
    for entry in entries:
        got = report.entry_to_dict(entry)
        assert got == _reference(entry), entry
        assert list(got) == list(_reference(entry))  # the keys in the same order
        assert list(got["timings"]) == list(vars(entry.timings))
