"""A parent reading a slot while its child rewrites it never sees a deadline that was not written.

struct.pack_into() zero-fills its target before writing the fields; a parent that read the slot
in that instant saw deadline 0.0 and killed a healthy worker. Bounded: the child writes for at
most WRITE_FOR seconds, the parent reads for READ_FOR.
"""

from __future__ import annotations

import os
import time
import warnings

from socketlab.multiprocess_web.deadlines import DeadlineTable

WRITE_FOR = 0.6
READ_FOR = 0.4


def test_reads_racing_writes_see_only_written_deadlines() -> None:
    table = DeadlineTable(2)
    try:
        table.idle(1, 1000.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
            pid = os.fork()
        if pid == 0:  # the child: alternate busy and idle beats, as a worker does per request
            code = 0
            try:
                end = time.monotonic() + WRITE_FOR
                while time.monotonic() < end:
                    table.busy(1, 2000.0, "GET /")
                    table.idle(1, 1000.0)
            except BaseException:  # noqa: BLE001 -- any failure becomes the exit status
                code = 1
            os._exit(code)
        seen: set[float] = set()
        end = time.monotonic() + READ_FOR
        while time.monotonic() < end:
            seen.add(table.read(1).deadline)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert seen <= {1000.0, 2000.0}, sorted(seen)
    finally:
        table.close()
