"""The tests' own waiting helpers: a wait that times out fails, with the caller's message."""

from __future__ import annotations

import functools
import threading
import time

import pytest

from tests.support.waiting import WaitTimeout, in_parallel, wait_until


def test_wait_until_returns_the_first_true_value() -> None:
    answers = iter([None, 0, "", "ready"])
    assert wait_until(lambda: next(answers), 5, "never ready", interval=0) == "ready"


def test_wait_until_fails_with_the_message_of_the_moment() -> None:
    seen: list[int] = []

    def never() -> bool:
        seen.append(len(seen))
        return False

    with pytest.raises(WaitTimeout, match=r"after 0\.05 s: tried \d+ times"):
        wait_until(never, 0.05, lambda: f"tried {len(seen)} times", interval=0.01)
    assert len(seen) >= 2  # tried at the start and again at the deadline


def test_a_wait_timeout_is_an_assertion_error() -> None:
    """pytest reports it as a failed check, like an assert."""
    with pytest.raises(AssertionError, match="nothing came"):
        wait_until(lambda: None, 0.01, "nothing came")


def test_in_parallel_returns_results_in_order() -> None:
    barrier = threading.Barrier(3, timeout=5)

    def call(i: int) -> int:
        barrier.wait()  # all three run at the same time, or this breaks
        return i * 10

    assert in_parallel([functools.partial(call, i) for i in range(3)]) == [0, 10, 20]


def test_in_parallel_re_raises_a_failure() -> None:
    def boom() -> int:
        raise ValueError("broke")

    with pytest.raises(ValueError, match="broke"):
        in_parallel([lambda: 1, boom])


def test_in_parallel_fails_when_a_call_outlives_the_timeout() -> None:
    release = threading.Event()
    try:
        with pytest.raises(WaitTimeout, match=r"1 of 2 calls still running after 0\.1 s"):
            in_parallel([lambda: 1, lambda: release.wait(5)], timeout=0.1)
    finally:
        release.set()


def test_in_parallel_counts_its_timeout_for_the_whole_batch() -> None:
    release = threading.Event()
    started = time.monotonic()
    try:
        with pytest.raises(WaitTimeout, match="5 of 5 calls"):
            in_parallel([lambda: release.wait(30)] * 5, timeout=0.2)
    finally:
        release.set()
    assert time.monotonic() - started < 10  # one 0.2 s timeout, not the calls' 30 s each
