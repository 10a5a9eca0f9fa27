"""Read what ``wrk``, ``ab`` and ``oha`` print into numbers. No I/O: tests feed saved outputs.

wrk (``--latency``) prints sizes with binary prefixes (``75.56MB`` is 75.56 MiB) and latencies
with a unit each (``950.00us``, ``2.07ms``, ``1.20s``). ab prints its percentiles rounded to whole
milliseconds; its ``-e`` CSV file has them to the microsecond, so that is what p50 and p99 come
from when it is given.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Final

_SIZE_UNITS: Final = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_TIME_UNITS: Final = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


class ParseError(ValueError):
    """The tool's output lacks a line the benchmark needs (it failed, or its format changed)."""


@dataclass
class LoadResult:
    """One load run as the tool saw it. Latencies in milliseconds."""

    tool: str
    requests: int
    seconds: float
    requests_per_second: float
    bytes_per_second: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int
    error_detail: dict[str, int] = field(default_factory=dict)


def size_bytes(text: str) -> float:
    """``'75.56MB'`` -> bytes (wrk's prefixes are powers of 1024)."""
    match = re.fullmatch(r"([0-9.]+)([KMGT]?B)", text.strip())
    if match is None:
        raise ParseError(f"not a size: {text!r}")
    return float(match.group(1)) * _SIZE_UNITS[match.group(2)]


def duration_ms(text: str) -> float:
    """``'950.00us'``, ``'2.07ms'``, ``'1.20s'``, ``'1.00m'`` -> milliseconds."""
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text.strip())
    if match is None:
        raise ParseError(f"not a duration: {text!r}")
    return float(match.group(1)) * _TIME_UNITS[match.group(2)]


def parse_wrk(output: str) -> LoadResult:
    """Parse ``wrk --latency`` output."""
    done = re.search(r"^\s*(\d+) requests in ([0-9.]+\w+), ([0-9.]+[KMGT]?B) read", output, re.M)
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", output, re.M)
    if done is None or rps is None:
        raise ParseError("wrk output has no 'requests in' or 'Requests/sec' line")
    seconds = duration_ms(done.group(2)) / 1000
    read = size_bytes(done.group(3))
    percentiles = {
        m.group(1): duration_ms(m.group(2))
        for m in re.finditer(r"^\s+(50|75|90|99)(?:\.0+)?%\s+([0-9.]+\w+)\s*$", output, re.M)
    }
    detail: dict[str, int] = {}
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sock is not None:
        for name, value in zip(("connect", "read", "write", "timeout"), sock.groups(), strict=True):
            if int(value):
                detail[name] = int(value)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx is not None and int(non2xx.group(1)):
        detail["non-2xx/3xx"] = int(non2xx.group(1))
    return LoadResult(
        tool="wrk",
        requests=int(done.group(1)),
        seconds=seconds,
        requests_per_second=float(rps.group(1)),
        bytes_per_second=read / seconds if seconds else 0.0,
        p50_ms=percentiles.get("50"),
        p99_ms=percentiles.get("99"),
        errors=sum(detail.values()),
        error_detail=detail,
    )


def parse_ab_csv(text: str) -> dict[int, float]:
    """ab's ``-e`` file: ``Percentage served,Time in ms`` then one row per percent (0-100)."""
    out: dict[int, float] = {}
    for line in text.splitlines()[1:]:
        pct, _, ms = line.partition(",")
        if ms:
            out[int(float(pct))] = float(ms)
    return out


def parse_ab(output: str, csv: str | None = None) -> LoadResult:
    """Parse ``ab`` output (and its ``-e`` percentile file when given)."""

    def number(label: str, default: str | None = None) -> str:
        match = re.search(rf"^{re.escape(label)}:\s+([0-9.]+)", output, re.M)
        if match is None:
            if default is not None:
                return default
            raise ParseError(f"ab output has no {label!r} line")
        return match.group(1)

    complete = int(number("Complete requests"))
    seconds = float(number("Time taken for tests"))
    transferred = int(number("Total transferred", "0"))
    detail: dict[str, int] = {}
    failed = int(number("Failed requests", "0"))
    if failed:
        detail["failed"] = failed
        # "Failed requests: 3\n   (Connect: 0, Receive: 0, Length: 3, Exceptions: 0)"
        kinds = re.search(
            r"\(Connect: (\d+), Receive: (\d+), Length: (\d+), Exceptions: (\d+)\)", output
        )
        if kinds is not None:
            names = ("connect", "receive", "length", "exceptions")
            detail.update(
                {
                    f"failed/{n}": int(v)
                    for n, v in zip(names, kinds.groups(), strict=True)
                    if int(v)
                }
            )
    for label, key in (("Write errors", "write"), ("Non-2xx responses", "non-2xx")):
        value = int(number(label, "0"))
        if value:
            detail[key] = value
    if csv is not None:
        table = parse_ab_csv(csv)
        p50, p99 = table.get(50), table.get(99)
    else:
        rows = dict(re.findall(r"^\s+(\d+)%\s+(\d+)", output, re.M))
        p50 = float(rows["50"]) if "50" in rows else None
        p99 = float(rows["99"]) if "99" in rows else None
    errors = sum(v for k, v in detail.items() if "/" not in k)
    return LoadResult(
        tool="ab",
        requests=complete,
        seconds=seconds,
        requests_per_second=float(number("Requests per second")),
        bytes_per_second=transferred / seconds if seconds else 0.0,
        p50_ms=p50,
        p99_ms=p99,
        errors=errors,
        error_detail=detail,
    )


def percentile(values: list[float], pct: float) -> float | None:
    """The nearest-rank percentile (pct in 0-100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil(n * pct / 100), at least 1
    return ordered[int(rank) - 1]


def median(values: list[float]) -> float | None:
    """The middle value (the lower of the two middles for an even count: a value that was
    measured, not an average of two runs)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def nginx_window_ms(log_text: str) -> tuple[float, int] | None:
    """From nginx lines ``$msec $request_time $status $uri``: milliseconds from the first
    request's arrival to the last response's end, and how many requests; None if none.

    ``$msec`` is when the response was finished (seconds, millisecond resolution) and
    ``$request_time`` how long the request took, so a request began at their difference.
    """
    starts: list[float] = []
    ends: list[float] = []
    for line in log_text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        try:
            end, took = float(parts[0]), float(parts[1])
        except ValueError:
            continue
        starts.append(end - took)
        ends.append(end)
    if not ends:
        return None
    return (max(ends) - min(starts)) * 1000, len(ends)


OHA_DEADLINE_ERROR: Final = "aborted due to deadline"
"""oha's name for the requests still in flight when ``-z`` ran out: an artefact of stopping
the run, not a failure of the server."""


def parse_oha(output: str, seconds: float) -> LoadResult:
    """Parse ``oha --output-format json`` (its summary, latency percentiles in seconds, and the
    status code and error distributions). ``requests`` counts answered requests of any status;
    ``errors`` counts non-2xx answers and failed requests, not the ones cut off at the deadline.
    ``seconds`` is the run's length as asked (``-z``): oha's own ``total`` includes the wait for
    the in-flight requests at the end."""
    try:
        doc = json.loads(output[output.index("{") :])
        summary = doc["summary"]
        percentiles = doc["latencyPercentiles"]
        statuses = {str(k): int(v) for k, v in doc.get("statusCodeDistribution", {}).items()}
        failures = {str(k): int(v) for k, v in doc.get("errorDistribution", {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ParseError(f"oha output is not its JSON summary ({exc})") from None
    answered = sum(statuses.values())
    detail = {f"status {k}": v for k, v in statuses.items() if not k.startswith("2")}
    detail.update({k: v for k, v in failures.items() if k != OHA_DEADLINE_ERROR})
    total_data = summary.get("totalData") or 0

    def ms(key: str) -> float | None:
        value = percentiles.get(key)
        return None if value is None else float(value) * 1000

    return LoadResult(
        tool="oha",
        requests=answered,
        seconds=seconds,
        requests_per_second=answered / seconds if seconds else 0.0,
        bytes_per_second=float(total_data) / seconds if seconds else 0.0,
        p50_ms=ms("p50"),
        p99_ms=ms("p99"),
        errors=sum(detail.values()),
        error_detail=detail,
    )
