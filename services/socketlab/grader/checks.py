"""The check engine: checks that depend on checks, each with its rationale and its help.

A :class:`Suite` holds the checks of one kind in the order they run. A check is a function that
takes the kind's context and either returns (it passed; what it saw may be returned as the
``actual`` text) or raises :class:`Failed` with what it expected and what it saw. A check whose
prerequisite did not pass is ``skipped`` naming that prerequisite, so one cause is reported once
(the idea of check50's ``@check(dependency)``). A SHOULD check that fails is a ``warning``: it
costs its points but not the exit status.

Every check runs on a thread of its own with a hard time limit: a check blocked on a silent peer
past its limit is ``failed`` with "no answer within N s", and the grader goes on.
"""

from __future__ import annotations

import dataclasses
import enum
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any, Final, Generic, TypeVar

Ctx = TypeVar("Ctx")

# A check waits at most this long for its peer, whatever its own socket timeouts say. Generous:
# the slowest check (large-message, 1 MiB each way) takes well under a second on a LAN.
DEFAULT_TIME_LIMIT: Final = 20.0


class Level(enum.StrEnum):
    MUST = "MUST"
    SHOULD = "SHOULD"


class Status(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    WARNING = "warning"
    SKIPPED = "skipped"


class Failed(Exception):
    """The peer did not do what the check expects: ``expected`` versus ``actual``."""

    def __init__(self, actual: str, expected: str | None = None) -> None:
        super().__init__(actual)
        self.actual = actual
        self.expected = expected


class NoAnswer(Failed):
    """The peer stayed silent past a deadline."""

    def __init__(self, seconds: float, what: str = "an answer", expected: str | None = None):
        super().__init__(f"no answer within {seconds:g} s (waiting for {what})", expected)


@dataclasses.dataclass(frozen=True)
class Check(Generic[Ctx]):
    id: str
    title: str
    level: Level
    points: int
    rationale: str
    expected: str
    help: str
    requires: tuple[str, ...]
    run: Callable[[Ctx], str | None]
    time_limit: float = DEFAULT_TIME_LIMIT


@dataclasses.dataclass
class Result:
    """One check's verdict, as report.json carries it."""

    id: str
    title: str
    level: str
    status: str
    points: int
    max_points: int
    rationale: str
    expected: str
    actual: str
    help: str
    seconds: float = 0.0
    cause: str = ""  # a skipped check: the failed check at the root of the chain

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})


class Suite(Generic[Ctx]):
    """The checks of one kind, in the order they run; ids are unique and a contract."""

    def __init__(self, kind: str, doc: str) -> None:
        self.kind = kind
        self.doc = doc  # the exercise text whose sections the checks' help points to
        self._checks: dict[str, Check[Ctx]] = {}

    def check(
        self,
        id: str,  # the report's key is "id"
        title: str,
        *,
        rationale: str,
        expected: str,
        level: Level = Level.MUST,
        points: int = 1,
        requires: tuple[str, ...] = (),
        time_limit: float = DEFAULT_TIME_LIMIT,
    ) -> Callable[[Callable[[Ctx], str | None]], Callable[[Ctx], str | None]]:
        """Register the decorated function as check ``id``; prerequisites must come first."""
        if id in self._checks:
            raise ValueError(f"check {id!r} registered twice in {self.kind}")
        for need in requires:
            if need not in self._checks:
                raise ValueError(f"check {id!r} requires {need!r}, which is not registered yet")

        def register(func: Callable[[Ctx], str | None]) -> Callable[[Ctx], str | None]:
            self._checks[id] = Check(
                id=id,
                title=title,
                level=level,
                points=points,
                rationale=rationale,
                expected=expected,
                help=f"{self.doc}#{id}",
                requires=requires,
                run=func,
                time_limit=time_limit,
            )
            return func

        return register

    def __iter__(self) -> Iterator[Check[Ctx]]:
        return iter(self._checks.values())

    def __len__(self) -> int:
        return len(self._checks)

    def ids(self) -> list[str]:
        return list(self._checks)

    def get(self, check_id: str) -> Check[Ctx]:
        return self._checks[check_id]

    def run(
        self,
        ctx: Ctx,
        *,
        only: set[str] | None = None,
        progress: Callable[[Result], None] | None = None,
    ) -> list[Result]:
        """Run every check (or those in ``only``, which skips the rest) and return the verdicts."""
        verdicts: dict[str, Result] = {}
        cause: dict[str, str] = {}  # a skipped check -> the failed check that is the reason
        for check in self:
            if only is not None and check.id not in only:
                result = self._result(check, Status.SKIPPED, "not selected (--only)")
            else:
                blocker = next(
                    (n for n in check.requires if verdicts[n].status != Status.PASSED), None
                )
                if blocker is None:
                    result = run_one(check, ctx)
                elif blocker in cause:
                    cause[check.id] = cause[blocker]
                    result = self._result(
                        check,
                        Status.SKIPPED,
                        f"skipped: it needs {blocker!r}, skipped because {cause[blocker]!r} "
                        f"{verdicts[cause[blocker]].status}",
                    )
                    result.cause = cause[blocker]
                else:
                    cause[check.id] = blocker
                    result = self._result(
                        check,
                        Status.SKIPPED,
                        f"skipped: it needs {blocker!r}, which {verdicts[blocker].status}",
                    )
                    result.cause = blocker
            verdicts[check.id] = result
            if progress is not None:
                progress(result)
        return list(verdicts.values())

    @staticmethod
    def _result(check: Check[Ctx], status: Status, actual: str, seconds: float = 0.0) -> Result:
        return Result(
            id=check.id,
            title=check.title,
            level=str(check.level),
            status=str(status),
            points=check.points if status == Status.PASSED else 0,
            max_points=check.points,
            rationale=check.rationale,
            expected=check.expected,
            actual=actual,
            help=check.help,
            seconds=round(seconds, 3),
        )


def run_one(check: Check[Ctx], ctx: Ctx) -> Result:
    """Run one check on a thread of its own, bounded by its time limit."""
    outcome: list[tuple[Status, str, str | None]] = []

    def target() -> None:
        try:
            seen = check.run(ctx)
        except Failed as failure:
            outcome.append((Status.FAILED, failure.actual, failure.expected))
        except OSError as exc:  # the peer reset, refused, unreachable: a fact about it
            outcome.append((Status.FAILED, f"socket error: {describe_os_error(exc)}", None))
        except Exception:  # noqa: BLE001 - a bug in a check must not sink the whole report
            last = traceback.format_exc().strip().splitlines()[-1]
            outcome.append((Status.FAILED, f"grader error (please report): {last}", None))
        else:
            outcome.append((Status.PASSED, seen or "as expected", None))

    started = time.monotonic()
    worker = threading.Thread(target=target, name=f"check-{check.id}", daemon=True)
    worker.start()
    worker.join(check.time_limit)
    seconds = time.monotonic() - started
    if not outcome:
        status, actual, expected = (
            Status.FAILED,
            f"no answer within {check.time_limit:g} s (the check was stopped)",
            None,
        )
    else:
        status, actual, expected = outcome[0]
    if status == Status.FAILED and check.level == Level.SHOULD:
        status = Status.WARNING
    result = Suite._result(check, status, actual, seconds)
    if expected is not None:
        result.expected = expected
    return result


def describe_os_error(exc: OSError) -> str:
    names = {
        ConnectionRefusedError: "connection refused (nothing listens on that port)",
        ConnectionResetError: "connection reset by the peer",
        BrokenPipeError: "the peer closed the connection while the grader was sending",
        TimeoutError: "timed out",
    }
    for kind, text in names.items():
        if isinstance(exc, kind):
            return text
    return exc.strerror or str(exc) or type(exc).__name__


def reason(exc: BaseException) -> str:
    """What a failure says, whether the check raised Failed or the socket raised OSError."""
    if isinstance(exc, Failed):
        return exc.actual
    if isinstance(exc, OSError):
        return f"socket error: {describe_os_error(exc)}"
    return str(exc)


def score(results: list[Result]) -> tuple[int, int]:
    return sum(r.points for r in results), sum(r.max_points for r in results)


def must_passed(results: list[Result]) -> bool:
    return all(r.status == Status.PASSED for r in results if r.level == Level.MUST)
