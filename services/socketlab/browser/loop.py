"""The browser's event loop: coroutines over non-blocking sockets, one selector, one thread.

This is the classic select() loop of network programming, with coroutines instead of
callbacks. Each request of a page is a coroutine (``async def``) run as a :class:`Task`; it
suspends only on the awaitables made here, and the loop resumes it when

* its socket is ready (:func:`readable`, :func:`writable`),
* a :class:`Wait` it waits on is settled (a connection handed over, a name looked up, a
  request finished),
* its timeout passes (``TimeoutError`` is raised where it waits; :func:`sleep` just ends),
* or it is cancelled (:class:`TaskCancelled` is raised where it waits).

Why not asyncio: the browser used it first, and on a page of 30 small resources the loop's own
machinery (handles, timer objects, reader callbacks: some 4,300 Python calls per page) was a
quarter of the browser's CPU time, and the browser is CPU-bound on a fast network. This loop
does only what the browser needs: about 1,100 Python calls per page, a tenth of the browser's
time under the same profiler.

Every wait has a *token*: waking a task bumps it, so a late wake-up from a timer, a selector
event or a :class:`Wait` for a wait that already ended is recognised and ignored.
"""

from __future__ import annotations

import _socket  # not socket: see transport
import _thread  # not threading: see threads
import collections
import contextlib
import itertools
import select
import time
from _heapq import heappop, heappush  # heapq's own C functions, without heapq.py's import
from collections.abc import Callable, Coroutine, Generator

TYPE_CHECKING = False  # typing is for the type checker only: see socketlab.structs
if TYPE_CHECKING:
    from typing import Any, Final, Generic, TypeVar

    T = TypeVar("T")
else:  # at run time a type parameter is only written, never looked at

    class Generic:
        def __class_getitem__(cls, _param: object) -> type:
            return cls

    T = "T"

READ: Final = select.POLLIN
WRITE: Final = select.POLLOUT


class _Poll:
    """poll(2) over the loop's sockets, each with its data: what ``selectors.PollSelector``
    did here, without importing selectors (with math and its classes: some 2.5 million
    instructions at every start, issue 17). An error or a hang-up on a socket wakes whoever
    waits on it, whatever it waits for, as it did with the selector."""

    __slots__ = ("_data", "_fds", "_poll")

    def __init__(self) -> None:
        self._poll = select.poll()
        self._fds: dict[_socket.socket, int] = {}  # the descriptor each had when registered
        self._data: dict[int, Any] = {}

    def register(self, sock: _socket.socket, events: int, data: Any) -> None:
        fd = sock.fileno()
        if fd < 0:
            raise ValueError(f"cannot wait on a closed socket: {sock!r}")
        if fd in self._data:
            raise KeyError(f"{sock!r} (FD {fd}) is already registered")
        self._poll.register(fd, events)
        self._fds[sock] = fd
        self._data[fd] = data

    def unregister(self, sock: _socket.socket) -> None:
        fd = self._fds.pop(sock)  # the socket may have been closed since: not its fileno()
        del self._data[fd]
        self._poll.unregister(fd)

    def select(self, timeout: float | None) -> list[Any]:
        """The data of every socket with an event, waiting at most ``timeout`` seconds (None:
        until one has); milliseconds are rounded up, so a timer is never woken early."""
        if timeout is None:
            ms = None
        elif timeout <= 0:
            ms = 0
        else:
            ms = int(timeout * 1e3)
            if ms < timeout * 1e3:
                ms += 1
        data = self._data
        return [data[fd] for fd, _event in self._poll.poll(ms) if fd in data]

    def close(self) -> None:
        self._fds.clear()
        self._data.clear()


class TaskCancelled(BaseException):
    """Raised inside a task where it waits when it is cancelled (a BaseException, so that an
    ``except Exception`` in between cannot swallow it)."""


class _Trap:
    """What a waiting coroutine hands the loop: a socket and the event it waits for, or a
    :class:`Wait`; and when to give up (a ``time.monotonic()`` value, or None)."""

    __slots__ = ("events", "sock", "wait", "when")

    def __init__(
        self, sock: _socket.socket | None, events: int, wait: Wait[Any] | None, when: float | None
    ) -> None:
        self.sock = sock
        self.events = events
        self.wait = wait
        self.when = when

    def __await__(self) -> Generator[_Trap, Any, Any]:
        return (yield self)


def readable(sock: _socket.socket, timeout: float) -> _Trap:
    """``await readable(sock, seconds)``: until ``sock`` has data (or EOF, or an error);
    ``TimeoutError`` after ``seconds``."""
    return _Trap(sock, READ, None, time.monotonic() + timeout)


def writable(sock: _socket.socket, timeout: float) -> _Trap:
    """``await writable(sock, seconds)``: until ``sock`` can take more (or a connect ended)."""
    return _Trap(sock, WRITE, None, time.monotonic() + timeout)


def sleep(seconds: float) -> _Trap:
    """``await sleep(seconds)``: let the loop run other tasks for that long."""
    return _Trap(None, 0, None, time.monotonic() + seconds)


class Wait(Generic[T]):
    """A value some task will have one day, set once (by :meth:`set` or :meth:`fail`) from
    the loop's thread; any number of tasks may ``await wait.get(timeout)`` it."""

    __slots__ = ("_error", "_value", "_waiters", "abandoned", "done")

    def __init__(self) -> None:
        self.done = False
        self.abandoned = False  # given up on by its one waiter: a later set() goes nowhere
        self._value: T | None = None
        self._error: BaseException | None = None
        self._waiters: list[tuple[Task[Any], int]] = []

    def set(self, value: T) -> None:
        self._settle(value, None)

    def fail(self, error: BaseException) -> None:
        self._settle(None, error)

    def _settle(self, value: T | None, error: BaseException | None) -> None:
        if self.done:
            return
        self.done, self._value, self._error = True, value, error
        waiters, self._waiters = self._waiters, []
        for task, token in waiters:
            task.loop._wake(task, token, value, error)

    def result(self) -> T:
        """The value (or the error raised); only once :attr:`done`."""
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    async def get(self, timeout: float | None = None) -> T:
        """The value, waiting for it at most ``timeout`` seconds (``TimeoutError``)."""
        if not self.done:
            when = None if timeout is None else time.monotonic() + timeout
            await _Trap(None, 0, self, when)
        return self.result()


class Channel(Generic[T]):
    """Items put from the loop's thread, taken in order by one task (``await get()``)."""

    def __init__(self) -> None:
        self._items: collections.deque[T] = collections.deque()
        self._signal: Wait[None] | None = None

    def put(self, item: T) -> None:
        self._items.append(item)
        if self._signal is not None:
            self._signal.set(None)
            self._signal = None

    async def get(self, timeout: float | None = None) -> T:
        """The next item; ``TimeoutError`` if none comes within ``timeout`` seconds."""
        if not self._items:
            self._signal = Wait()
            await self._signal.get(timeout)
        return self._items.popleft()


class Task(Generic[T]):
    """A coroutine run by the loop. ``await task`` gives its result or raises its error."""

    def __init__(self, loop: Loop, coro: Coroutine[Any, Any, T]) -> None:
        self.loop = loop
        self.coro = coro
        self.token = 0  # bumped at every wake-up: older wake-ups are stale
        self.trap: _Trap | None = None  # what it waits for (None: ready to run, or done)
        self.must_cancel = False
        self.finished: Wait[T] = Wait()
        self._callbacks: list[Callable[[Task[T]], None]] = []

    @property
    def done(self) -> bool:
        return self.finished.done

    def result(self) -> T:
        return self.finished.result()

    def add_done_callback(self, callback: Callable[[Task[T]], None]) -> None:
        if self.done:
            callback(self)
        else:
            self._callbacks.append(callback)

    def cancel(self) -> None:
        """Raise :class:`TaskCancelled` where the task waits (at its next step if it is ready)."""
        if self.done:
            return
        if self.trap is None:
            self.must_cancel = True
        else:
            self.loop._wake(self, self.token, None, TaskCancelled())

    def _finish(self, value: T | None, error: BaseException | None) -> None:
        if error is None:
            self.finished.set(value)  # type: ignore[arg-type]
        else:
            self.finished.fail(error)
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def __await__(self) -> Generator[Any, Any, T]:
        return self.finished.get().__await__()


class Loop:
    """Runs tasks on the thread that calls :meth:`run`; :meth:`call_soon_threadsafe` is the
    only method other threads may call."""

    def __init__(self) -> None:
        # poll(2): a page has a handful of sockets, and registering one costs no system call
        # (epoll would make two per wait, to add and remove it).
        self._selector = _Poll()
        self._ready: collections.deque[tuple[Task[Any], Any, BaseException | None]] = (
            collections.deque()
        )
        self._timers: list[tuple[float, int, Task[Any], int]] = []
        self._order = itertools.count()
        self._calls: collections.deque[Callable[[], None]] = collections.deque()
        self._calls_lock = _thread.allocate_lock()  # threading.Lock itself
        self._wake_r, self._wake_w = _socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, READ, None)
        self.closed = False
        self._tasks: set[Task[Any]] = set()

    # -- tasks -----------------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, T]) -> Task[T]:
        """Start ``coro`` as a task (it first runs at the loop's next turn)."""
        task = Task(self, coro)
        self._tasks.add(task)
        self._ready.append((task, None, None))
        return task

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` (and whatever it spawns) until ``coro`` returns; its result."""
        if self.closed:
            coro.close()
            raise RuntimeError("the loop is closed")
        main = self.spawn(coro)
        while not main.done:
            self._turn()
        return main.result()

    def call_soon_threadsafe(self, call: Callable[[], None]) -> None:
        """Run ``call`` on the loop's thread at its next turn; from any thread."""
        if self.closed:
            raise RuntimeError("the loop is closed")
        with self._calls_lock:
            self._calls.append(call)
        # A full pipe means a wake-up is pending anyway; a closed one, that the loop closed.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def close(self) -> None:
        """Close the selector; tasks that never finished are closed without running."""
        if self.closed:
            return
        self.closed = True
        for task in list(self._tasks):
            task.coro.close()
        self._tasks.clear()
        self._ready.clear()
        self._timers.clear()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    # -- the loop --------------------------------------------------------------------------------

    def _turn(self) -> None:
        """Wait for the next event (not at all if a task is ready), wake its task, run the
        ready ones."""
        if self._ready:
            timeout: float | None = 0.0
        elif self._timers:
            timeout = max(0.0, self._timers[0][0] - time.monotonic())
        else:
            timeout = None
        for data in self._selector.select(timeout):
            if data is None:
                self._run_calls()
            else:
                task, token = data
                self._wake(task, token, True, None)
        if self._timers:
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _when, _order, task, token = heappop(self._timers)
                trap = task.trap
                sleeping = trap is not None and trap.sock is None and trap.wait is None
                self._wake(task, token, None, None if sleeping else TimeoutError())
        for _ in range(len(self._ready)):
            task, value, error = self._ready.popleft()
            self._step(task, value, error)

    def _run_calls(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(4096):
                pass
        with self._calls_lock:
            calls, self._calls = self._calls, collections.deque()
        for call in calls:
            call()

    def _wake(self, task: Task[Any], token: int, value: Any, error: BaseException | None) -> None:
        """Make ``task`` ready, with ``value`` or ``error``, if it still waits for the wait
        ``token`` names; undo that wait."""
        if token != task.token or task.trap is None:
            return  # stale: the task was woken already
        trap = task.trap
        task.trap = None
        task.token += 1
        if trap.sock is not None:
            self._selector.unregister(trap.sock)
        self._ready.append((task, value, error))

    def _step(self, task: Task[Any], value: Any, error: BaseException | None) -> None:
        if task.must_cancel:
            task.must_cancel = False
            value, error = None, TaskCancelled()
        try:
            trap = task.coro.send(value) if error is None else task.coro.throw(error)
        except StopIteration as stop:
            self._tasks.discard(task)
            task._finish(stop.value, None)
            return
        except BaseException as exc:  # noqa: BLE001 -- the task's error is its result
            self._tasks.discard(task)
            task._finish(None, exc)
            return
        if not isinstance(trap, _Trap):
            self._tasks.discard(task)
            task.coro.close()
            task._finish(None, TypeError(f"a browser task awaited {trap!r}, not the loop's"))
            return
        task.trap = trap
        if trap.sock is not None:
            self._selector.register(trap.sock, trap.events, (task, task.token))
        elif trap.wait is not None:
            trap.wait._waiters.append((task, task.token))
        if trap.when is not None:
            heappush(self._timers, (trap.when, next(self._order), task, task.token))
