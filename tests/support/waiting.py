"""The one polling loop of the tests: wait for a condition, or fail saying what did not happen.

Every wait in the tests is bounded; a wait that times out raises :class:`WaitTimeout` (an
``AssertionError``, so pytest reports it as a failed check) with the caller's message, which may
be a function so that it can show the state at the moment of failure (a log, a process list).
:func:`in_parallel` runs calls at once in threads and fails, rather than returning a gap, when
one of them does not finish in time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

# Seconds between two looks: short enough that a test does not wait much longer than needed,
# long enough that polling a process table or a log file costs nothing on a loaded machine.
INTERVAL = 0.02


class WaitTimeout(AssertionError):
    """A condition did not hold within its timeout."""


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float,
    message: str | Callable[[], str],
    *,
    interval: float = INTERVAL,
) -> T:
    """Call ``predicate`` until it returns a true value, and return that value.

    Raises :class:`WaitTimeout` with ``message`` (called, if it is a function) and the timeout
    once ``timeout`` seconds have passed; the predicate is always tried at least once, and once
    more at the deadline, so a slow machine never fails a condition that holds by then.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            value = predicate()
            if value:
                return value
            text = message() if callable(message) else message
            raise WaitTimeout(f"after {timeout:g} s: {text}")
        time.sleep(interval)


def in_parallel(calls: Sequence[Callable[[], T]], timeout: float = 30.0) -> list[T]:
    """Run the calls in threads at once; return their results in order.

    A call that raises re-raises in the caller; a call still running after ``timeout`` seconds
    (counted for the whole batch) fails the caller with :class:`WaitTimeout`: a result is never
    silently missing.
    """
    results: dict[int, T] = {}
    failures: list[BaseException] = []

    def run(index: int) -> None:
        try:
            results[index] = calls[index]()
        except BaseException as exc:  # noqa: BLE001 -- handed to the calling thread below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    if failures:
        raise failures[0]
    running = [i for i, thread in enumerate(threads) if thread.is_alive()]
    if running:
        raise WaitTimeout(f"{len(running)} of {len(calls)} calls still running after {timeout:g} s")
    return [results[i] for i in range(len(calls))]
