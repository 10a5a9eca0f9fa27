"""Toxics: what the relay does to the data of one direction, one small class each.

A direction (``upstream``: client to server, ``downstream``: server to client) carries
:class:`Chunk` objects: the bytes of one ``recv()`` (TCP) or one datagram (UDP), stamped with
when the relay received them. A chain of toxics turns each chunk into zero or more chunks and
sets the time each may leave (``due``); the relay sleeps until then and sends. So latency is
added to the time a chunk *arrived*, not to the time the previous one left: chunks that arrive
together leave together, 100 ms later, as on a long cable (Toxiproxy's latency toxic works from
the same timestamp).

The toxics, in the order a chain applies them:

* :class:`Timeout` -- nothing passes; the connection closes after ``timeout_ms`` (0: never):
  a server that accepts and never answers;
* :class:`Latency`, :class:`Jitter` -- every chunk waits ``latency_ms``, plus or minus up to
  ``jitter_ms`` (order is kept: a chunk never overtakes the one before it);
* :class:`Bandwidth` -- at most ``bandwidth`` bytes per second (TCP chunks are cut into slices of
  a tenth of a second each, so the rate is smooth);
* :class:`Loss` -- each UDP datagram is dropped with probability ``loss`` (TCP cannot lose data:
  the kernels retransmit below the relay, so this toxic ignores TCP);
* :class:`ResetAfter` -- after ``reset_after`` bytes the connection is reset (RST, not FIN);
* :class:`SlowClose` -- the end of the stream (FIN) is passed on ``slow_close_ms`` late.

Nothing here touches a socket: a chain is bytes and times in, bytes and times out, so every toxic
is a unit test without a network.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, ClassVar, Final

MAX_MS: Final = 600_000
"""Upper bound of every time setting: ten minutes of delay is already far past any lesson."""

BANDWIDTH_SLICE: Final = 0.1
"""Seconds of data per slice when bandwidth cuts a TCP chunk: smooth enough to watch."""


@dataclass
class Chunk:
    """Bytes of one direction. ``eof`` marks the end of the stream (FIN), ``reset`` an abort."""

    data: bytes
    due: float
    eof: bool = False
    reset: bool = False


@dataclass(frozen=True)
class ToxicSettings:
    """The toxics of one direction; the zero values mean "off" (``timeout_ms`` -1 is off)."""

    latency_ms: float = 0
    jitter_ms: float = 0
    bandwidth: int = 0
    loss: float = 0
    reset_after: int = 0
    slow_close_ms: float = 0
    timeout_ms: float = -1

    KEYS: ClassVar[tuple[str, ...]] = (
        "latency_ms",
        "jitter_ms",
        "bandwidth",
        "loss",
        "reset_after",
        "slow_close_ms",
        "timeout_ms",
    )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str) -> ToxicSettings:
        """Read toxic keys (others are the caller's); a bad value raises ValueError naming it."""
        return cls().updated(values, where)

    def updated(self, values: Mapping[str, Any], where: str) -> ToxicSettings:
        changes: dict[str, Any] = {}
        types = {f.name: f.type for f in fields(self)}
        for key in self.KEYS:
            if key not in values:
                continue
            raw = values[key]
            changes[key] = _check(key, raw, types[key] in ("int", int), where)
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def active(self) -> dict[str, Any]:
        """Only the toxics that are on, for a short description."""
        off = ToxicSettings()
        return {k: v for k, v in self.as_dict().items() if v != getattr(off, k)}


def _check(key: str, raw: Any, integer: bool, where: str) -> float:
    if isinstance(raw, str) and key == "loss" and raw.strip().endswith("%"):
        try:
            raw = float(raw.strip()[:-1]) / 100
        except ValueError:
            raise ValueError(f"{where}: '{key}' expects a fraction or a percentage") from None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise ValueError(f"{where}: '{key}' expects a number, got {raw!r}")
    if integer and not float(raw).is_integer():
        raise ValueError(f"{where}: '{key}' expects a whole number, got {raw!r}")
    low, high = _BOUNDS[key]
    if not low <= raw <= high:
        raise ValueError(f"{where}: '{key}' expects a number from {low} to {high}, got {raw!r}")
    return int(raw) if integer else float(raw)


_BOUNDS: Final[dict[str, tuple[float, float]]] = {
    "latency_ms": (0, MAX_MS),
    "jitter_ms": (0, MAX_MS),
    "bandwidth": (0, 10**10),
    "loss": (0, 1),
    "reset_after": (0, 10**12),
    "slow_close_ms": (0, MAX_MS),
    "timeout_ms": (-1, MAX_MS),
}


class Toxic:
    """One stage of a chain: :meth:`apply` turns one chunk into the chunks that go on."""

    def apply(self, chunk: Chunk, datagram: bool) -> list[Chunk]:
        raise NotImplementedError

    def close_at(self) -> float | None:
        """When this toxic closes the connection by itself (only :class:`Timeout` does)."""
        return None


class Timeout(Toxic):
    def __init__(self, ms: float, started: float) -> None:
        self.deadline = None if ms == 0 else started + ms / 1000

    def apply(self, chunk: Chunk, datagram: bool) -> list[Chunk]:
        return []  # accepted, never answered: nothing passes, not even the end of the stream

    def close_at(self) -> float | None:
        return self.deadline


class Latency(Toxic):
    def __init__(self, ms: float) -> None:
        self.delay = ms / 1000

    def apply(self, chunk: Chunk, datagram: bool) -> list[Chunk]:
        chunk.due += self.delay
        return [chunk]


class Jitter(Toxic):
    def __init__(self, ms: float, rng: random.Random) -> None:
        self.spread = ms / 1000
        self.rng = rng
        self.last = 0.0

    def apply(self, chunk: Chunk, datagram: bool) -> list[Chunk]:
        arrived = chunk.due
        chunk.due = max(arrived, chunk.due + self.rng.uniform(-self.spread, self.spread))
        if not datagram:  # a byte stream keeps its order; datagrams may be reordered
            chunk.due = max(chunk.due, self.last)
        self.last = chunk.due
        return [chunk]


class Bandwidth(Toxic):
    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.free_at = 0.0  # when the "wire" is free again
        self.slice = max(1, int(rate * BANDWIDTH_SLICE))

    def apply(self, chunk: Chunk, datagram: bool) -> list[Chunk]:
        if not chunk.data:
            chunk.due = max(chunk.due, self.free_at)
            return [chunk]
        pieces = (
            [chunk.data]
            if datagram
            else [chunk.data[i : i + self.slice] for i in range(0, len(chunk.data), self.slice)]
        )
        out = []
        start = max(chunk.due, self.free_at)
        for piece in pieces:
            # A piece leaves once the wire has carried it: its own size at the rate.
            start += len(piece) / self.rate
            out.append(Chunk(piece, start))
        self.free_at = start
        return out


class Loss(Toxic):
    def __init__(self, probability: float, rng: random.Random) -> None:
        self.probability = probability
        self.rng = rng
        self.dropped = 0

    def apply(self, chunk: Chunk, datagram: bool) -> list[Chunk]:
        if datagram and self.rng.random() < self.probability:
            self.dropped += 1
            return []
        return [chunk]


class ResetAfter(Toxic):
    def __init__(self, limit: int) -> None:
        self.left = limit
        self.done = False

    def apply(self, chunk: Chunk, datagram: bool) -> list[Chunk]:
        if self.done:
            return []
        if chunk.eof or len(chunk.data) < self.left:
            self.left -= len(chunk.data)
            return [chunk]
        self.done = True
        head = chunk.data[: self.left]
        return [Chunk(head, chunk.due, reset=True)]


class SlowClose(Toxic):
    def __init__(self, ms: float) -> None:
        self.delay = ms / 1000

    def apply(self, chunk: Chunk, datagram: bool) -> list[Chunk]:
        if chunk.eof:
            chunk.due += self.delay
        return [chunk]


class Chain:
    """The toxics of one direction of one connection (or one UDP peer), built from settings.

    Stateful toxics (bandwidth's wire, reset's byte count, timeout's clock) live here, per
    connection; :meth:`rebuild` starts them afresh when the settings change at run time.
    """

    def __init__(
        self, settings: ToxicSettings, started: float, rng: random.Random | None = None
    ) -> None:
        self.rng = rng or random.Random()  # noqa: S311 - impairment, not cryptography
        self.settings = settings
        self.toxics: list[Toxic] = list(self._build(settings, started))

    def _build(self, s: ToxicSettings, started: float) -> Iterator[Toxic]:
        if s.timeout_ms >= 0:
            yield Timeout(s.timeout_ms, started)
        if s.latency_ms:
            yield Latency(s.latency_ms)
        if s.jitter_ms:
            yield Jitter(s.jitter_ms, self.rng)
        if s.bandwidth:
            yield Bandwidth(s.bandwidth)
        if s.loss:
            yield Loss(s.loss, self.rng)
        if s.reset_after:
            yield ResetAfter(s.reset_after)
        if s.slow_close_ms:
            yield SlowClose(s.slow_close_ms)

    def rebuild(self, settings: ToxicSettings, now: float) -> None:
        if settings != self.settings:
            self.settings = settings
            self.toxics = list(self._build(settings, now))

    def apply(self, chunk: Chunk, datagram: bool = False) -> list[Chunk]:
        chunks = [chunk]
        for toxic in self.toxics:
            chunks = [out for one in chunks for out in toxic.apply(one, datagram)]
        return chunks

    def close_at(self) -> float | None:
        times = [t for toxic in self.toxics if (t := toxic.close_at()) is not None]
        return min(times) if times else None

    @property
    def dropped(self) -> int:
        return sum(t.dropped for t in self.toxics if isinstance(t, Loss))
