"""Per-address rate limiting with bounded memory, without I/O (the caller passes the time).

A :class:`TokenBucket` per source address lets a member send ``burst`` datagrams at once and
``rate`` per second on average; what exceeds it is dropped before it is parsed, so one flooding
member cannot drown the others. Members keep their bucket in their member record; addresses that
have not joined share a :class:`BoundedTable` whose size is fixed, so a flood from ever new
(possibly spoofed) source addresses costs a fixed amount of memory: the least recently heard
address is forgotten first, which only hands it a fresh bucket.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar


@dataclass
class TokenBucket:
    """``rate`` tokens per second up to ``burst``; one datagram costs one token."""

    rate: float
    burst: float
    tokens: float = -1.0
    stamp: float = 0.0
    #: Set when the first datagram over the limit was answered with ERR 429, so that a flood is
    #: told once, not once per datagram (which would make the server a reflector).
    warned: bool = False
    dropped: int = 0

    def take(self, now: float) -> bool:
        """Spend a token if there is one; False means the datagram should be dropped."""
        if self.tokens < 0:  # first use
            self.tokens, self.stamp = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.warned = False
            return True
        self.dropped += 1
        return False


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedTable(Generic[K, V]):
    """A mapping of at most ``capacity`` entries that forgets the least recently used one."""

    def __init__(self, capacity: int, factory: Callable[[], V]) -> None:
        self.capacity = capacity
        self.factory = factory
        self.entries: OrderedDict[K, V] = OrderedDict()
        self.evicted = 0

    def get(self, key: K) -> V:
        """The entry for ``key``, created (and the oldest evicted if full) when missing."""
        value = self.entries.get(key)
        if value is not None:
            self.entries.move_to_end(key)
            return value
        if len(self.entries) >= self.capacity:
            self.entries.popitem(last=False)
            self.evicted += 1
        value = self.factory()
        self.entries[key] = value
        return value

    def pop(self, key: K) -> V | None:
        return self.entries.pop(key, None)

    def __len__(self) -> int:
        return len(self.entries)
