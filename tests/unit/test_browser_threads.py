"""socketlab.browser.threads: the browser's stop flag and daemon threads without threading
(issue 17), and the ledger's thread names where threading was never imported."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from socketlab.browser import threads
from tests.support.paths import REPO


def test_a_flag_is_down_until_set_and_stays_set() -> None:
    flag = threads.Flag()
    assert not flag.is_set()
    assert flag.wait(0.01) is False
    assert flag.wait(0) is False
    flag.set()
    assert flag.is_set()
    assert flag.wait() is True
    assert flag.wait(0) is True
    flag.set()  # twice is no error
    assert flag.wait(0.01) is True


def test_set_on_another_thread_wakes_every_waiter() -> None:
    flag = threads.Flag()
    woke: list[bool] = []
    lock = threading.Lock()

    def waiter() -> None:
        got = flag.wait(10)
        with lock:
            woke.append(got)

    waiters = [threading.Thread(target=waiter) for _ in range(8)]
    for t in waiters:
        t.start()
    time.sleep(0.05)
    assert woke == []
    flag.set()
    for t in waiters:
        t.join(10)
    assert woke == [True] * 8


def test_a_signal_handler_may_set_the_flag_the_main_thread_waits_on() -> None:
    # What browser.cli does: SIGTERM's handler sets the flag the visits wait on.
    flag = threads.Flag()
    previous = signal.signal(signal.SIGUSR1, lambda *_: flag.set())
    try:
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR1)).start()
        started = time.monotonic()
        assert flag.wait(10) is True
        assert time.monotonic() - started < 5
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_start_runs_the_target_on_another_thread() -> None:
    ran = threads.Flag()
    idents: list[int] = []

    def target() -> None:
        idents.append(threading.get_ident())
        ran.set()

    threads.start(target)
    assert ran.wait(10)
    assert idents != [threading.get_ident()]


PROBE = """
import sys
from socketlab import ledger
from socketlab.browser import threads
names = [ledger._thread_name()]
done = threads.Flag()
threads.start(lambda: (names.append(ledger._thread_name()), done.set()))
done.wait(10)
print("threading" in sys.modules, *names, sep="|")
"""


def test_ledger_names_the_threads_of_a_process_without_threading() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO / "services")),
        timeout=60,
        check=True,
    )
    imported, main, other = done.stdout.strip().split("|")
    assert imported == "False"
    assert main == "MainThread"
    assert other.startswith("thread ")
    assert other != "thread 0"


def test_ledger_uses_threading_s_names_where_threading_runs() -> None:
    from socketlab import ledger

    names: list[str] = []
    t = threading.Thread(target=lambda: names.append(ledger._thread_name()), name="worker-7")
    t.start()
    t.join(10)
    assert names == ["worker-7"]
    assert ledger._thread_name() == threading.current_thread().name
