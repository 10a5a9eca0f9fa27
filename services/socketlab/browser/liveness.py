"""A liveness file for the browser container, and the healthcheck that reads it.

A client has no port to probe, so "healthy" means "the visit loop is alive": after every page
and every visit the browser rewrites a small file (``--heartbeat FILE``) with what it just did,
and the container's HEALTHCHECK runs::

    python3 -m socketlab.browser.liveness FILE MAX_AGE_SECONDS

which exits 0 while the file is younger than MAX_AGE, 1 otherwise (with the reason on stderr,
kept by Docker in ``State.Health.Log``). MAX_AGE must exceed one page's total deadline plus the
interval between visits. A page that failed still counts as a beat: the servers being down is
their health problem, not the browser's; a hung or crashed loop is not.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def beat(path: str | os.PathLike[str], line: str) -> None:
    """Record one finished visit (atomically: the healthcheck never reads half a line)."""
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(f"{time.time():.3f} {line}\n", encoding="utf-8")
    os.replace(tmp, target)


def age(path: str | os.PathLike[str]) -> float:
    """Seconds since the last beat; raises OSError if there was none."""
    return time.time() - Path(path).stat().st_mtime


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python3 -m socketlab.browser.liveness FILE MAX_AGE_SECONDS", file=sys.stderr)
        return 2
    try:
        max_age = float(args[1])
    except ValueError:
        print(f"liveness: MAX_AGE_SECONDS must be a number, got {args[1]!r}", file=sys.stderr)
        return 2
    try:
        seconds = age(args[0])
        # "<epoch> <what happened>": the age comes from the file's mtime, show only the words.
        last = Path(args[0]).read_text(encoding="utf-8").strip().partition(" ")[2]
    except OSError as exc:
        print(f"unhealthy: no page finished yet ({args[0]}: {exc.strerror})", file=sys.stderr)
        return 1
    if seconds > max_age:
        print(
            f"unhealthy: last page or visit finished {seconds:.0f} s ago (limit {max_age:g} s)",
            file=sys.stderr,
        )
        return 1
    print(f"healthy: last beat {seconds:.0f} s ago: {last}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
