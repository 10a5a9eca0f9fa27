"""The browser's event loop on its own: sockets, timeouts, waits, cancellation, other threads."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from socketlab.browser.loop import Channel, Loop, TaskCancelled, Wait, readable, sleep, writable


@pytest.fixture
def loop() -> Iterator[Loop]:
    """A loop, closed after the test."""
    running = Loop()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """Two connected non-blocking sockets."""
    left, right = socket.socketpair()
    left.setblocking(False)
    right.setblocking(False)
    try:
        yield left, right
    finally:
        left.close()
        right.close()


def test_a_task_waits_for_its_socket(loop: Loop, pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair

    async def reader() -> bytes:
        await readable(left, 5.0)
        return left.recv(100)

    async def main() -> bytes:
        task = loop.spawn(reader())
        right.send(b"hello")
        return await task

    assert loop.run(main()) == b"hello"


def test_a_wait_on_a_silent_socket_times_out(
    loop: Loop, pair: tuple[socket.socket, socket.socket]
) -> None:
    left, _ = pair

    async def main() -> float:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await readable(left, 0.05)
        return time.monotonic() - started

    assert 0.04 < loop.run(main()) < 1.0


def test_writable_and_many_tasks_at_once(loop: Loop) -> None:
    """Ten pairs, ten tasks: each gets its own message back, in any order of readiness."""
    pairs = [socket.socketpair() for _ in range(10)]
    for a, b in pairs:
        a.setblocking(False)
        b.setblocking(False)

    async def echo(index: int, a: socket.socket, b: socket.socket) -> bytes:
        await writable(a, 5.0)
        a.send(f"m{index}".encode())
        await readable(b, 5.0)
        return b.recv(100)

    async def main() -> list[bytes]:
        tasks = [loop.spawn(echo(i, a, b)) for i, (a, b) in enumerate(pairs)]
        return [await task for task in tasks]

    try:
        assert loop.run(main()) == [f"m{i}".encode() for i in range(10)]
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_a_wait_wakes_every_waiter_with_its_value_or_its_error(loop: Loop) -> None:
    async def main() -> list[object]:
        good: Wait[int] = Wait()
        bad: Wait[int] = Wait()
        waiters = [loop.spawn(good.get(5.0)) for _ in range(3)]
        failing = loop.spawn(bad.get(5.0))
        good.set(42)
        bad.fail(ValueError("no"))
        results: list[object] = [await task for task in waiters]
        with pytest.raises(ValueError, match="no"):
            await failing
        results.append(await good.get())  # settled already: no wait at all
        return results

    assert loop.run(main()) == [42, 42, 42, 42]


def test_a_wait_gives_up_after_its_timeout_and_a_late_value_goes_nowhere(loop: Loop) -> None:
    async def main() -> bool:
        wait: Wait[int] = Wait()
        with pytest.raises(TimeoutError):
            await wait.get(0.02)
        wait.set(1)  # the waiter is gone: nothing happens
        return wait.done

    assert loop.run(main())


def test_cancel_raises_where_the_task_waits(
    loop: Loop, pair: tuple[socket.socket, socket.socket]
) -> None:
    left, _ = pair
    seen: list[str] = []

    async def victim() -> None:
        try:
            await readable(left, 30.0)
        except TaskCancelled:
            seen.append("cancelled")
            raise

    async def main() -> None:
        task = loop.spawn(victim())
        await sleep(0.01)  # let it start waiting
        task.cancel()
        with pytest.raises(TaskCancelled):
            await task

    started = time.monotonic()
    loop.run(main())
    assert seen == ["cancelled"]
    assert time.monotonic() - started < 1.0


def test_a_task_cancelled_before_it_starts_never_runs(loop: Loop) -> None:
    ran: list[bool] = []

    async def never() -> None:
        ran.append(True)

    async def main() -> None:
        task = loop.spawn(never())
        task.cancel()
        with pytest.raises(TaskCancelled):
            await task

    loop.run(main())
    assert ran == []


def test_a_value_handed_over_as_the_waiter_is_cancelled_is_still_there(loop: Loop) -> None:
    """The pool's race: a connection is handed to a waiter in the same turn the waiter is
    cancelled. The waiter sees TaskCancelled, and the Wait still holds the value to pass on."""
    wait: Wait[str] = Wait()

    async def waiter() -> str:
        return await wait.get(5.0)

    async def main() -> str:
        task = loop.spawn(waiter())
        await sleep(0.01)
        wait.set("connection")
        task.cancel()
        with pytest.raises(TaskCancelled):
            await task
        return wait.result()

    assert loop.run(main()) == "connection"


def test_another_thread_wakes_the_loop(loop: Loop) -> None:
    async def main() -> str:
        wait: Wait[str] = Wait()
        threading.Timer(0.05, lambda: loop.call_soon_threadsafe(lambda: wait.set("hi"))).start()
        return await wait.get(5.0)

    assert loop.run(main()) == "hi"


def test_a_channel_hands_items_over_in_order(loop: Loop) -> None:
    async def main() -> list[int]:
        channel: Channel[int] = Channel()
        channel.put(1)
        threading.Timer(0.02, lambda: loop.call_soon_threadsafe(lambda: channel.put(2))).start()
        got = [await channel.get(5.0), await channel.get(5.0)]
        with pytest.raises(TimeoutError):
            await channel.get(0.01)
        return got

    assert loop.run(main()) == [1, 2]


def test_a_task_that_awaits_something_foreign_fails_clearly(loop: Loop) -> None:
    class Foreign:
        def __await__(self):  # type: ignore[no-untyped-def]
            yield "not the loop's"

    async def confused() -> None:
        await Foreign()

    async def main() -> None:
        with pytest.raises(TypeError, match="not the loop's"):
            await loop.spawn(confused())

    loop.run(main())


def test_a_closed_loop_refuses_work() -> None:
    loop = Loop()
    loop.close()

    async def nothing() -> None:
        return None

    with pytest.raises(RuntimeError, match="closed"):
        loop.run(nothing())
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_soon_threadsafe(lambda: None)
