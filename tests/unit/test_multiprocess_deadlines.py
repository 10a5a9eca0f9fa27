"""The deadline table: written by a child, read by its parent, through shared memory."""

from __future__ import annotations

import os
import time
import warnings

import pytest

from socketlab.multiprocess_web.deadlines import TARGET_BYTES, DeadlineTable


def test_a_forked_child_writes_what_the_parent_reads() -> None:
    table = DeadlineTable(3)
    try:
        table.idle(0, 1.0)
        table.idle(2, 2.0)
        with warnings.catch_warnings():
            # Python 3.12+ warns when forking a process with threads (an earlier test's server
            # may still be winding down); the child here only writes memory and exits.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: report a request in slot 1, then leave at once
            code = 0
            try:
                table.busy(1, 123.5, "GET /delay/5")
                table.idle(2, 7.0)
            except BaseException:  # noqa: BLE001 -- any failure becomes the exit status
                code = 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        beat = table.read(1)
        assert beat.deadline == 123.5
        assert beat.busy
        assert beat.request == "GET /delay/5"
        assert 0 < time.monotonic() - beat.busy_since < 60
        assert table.read(2).deadline == 7.0
        assert not table.read(2).busy
        assert table.read(0).deadline == 1.0  # neighbours untouched
    finally:
        table.close()


def test_long_request_lines_are_cut_and_slots_checked() -> None:
    table = DeadlineTable(1)
    try:
        table.busy(0, 1.0, "GET /" + "x" * 500)
        assert len(table.read(0).request.encode()) == TARGET_BYTES
        with pytest.raises(ValueError, match="at least one slot"):
            DeadlineTable(0)
    finally:
        table.close()
