"""Counting what UDP lost, duplicated and reordered, from the per-sender ``seq`` numbers.

The server numbers each member's messages 1, 2, 3, ... (``MSG <nick> <seq> <text>``). A receiver
that sees 1, 2, 4, 3, 3 knows that 3 came late (reordered) and once too often (duplicate); a gap
that never fills is counted as lost. Messages after the last one received cannot be known to be
missing, so losses at the very end are not counted: that is what acknowledgements are for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Sequence numbers remembered per sender to recognise duplicates. A late datagram older than
#: this is counted as a duplicate; memory per sender stays bounded.
SEEN_WINDOW = 1024


@dataclass
class SenderTally:
    """What one receiver saw of one sender's numbered messages."""

    received: int = 0
    duplicates: int = 0
    reordered: int = 0
    missing: int = 0  # gaps below the highest seq seen that have not (yet) been filled
    highest: int = 0
    seen: set[int] = field(default_factory=set)

    def record(self, seq: int) -> str:
        """Account for one message; returns ``new``, ``late`` or ``duplicate``."""
        if seq in self.seen or seq <= self.highest - SEEN_WINDOW:
            self.duplicates += 1
            return "duplicate"
        self.received += 1
        self.seen.add(seq)
        if len(self.seen) > SEEN_WINDOW:
            self.seen = {s for s in self.seen if s > self.highest - SEEN_WINDOW}
        if seq > self.highest:
            self.missing += seq - self.highest - 1
            self.highest = seq
            return "new"
        self.reordered += 1
        self.missing -= 1
        return "late"


@dataclass
class Tally:
    """Per-sender tallies, keyed by nickname."""

    senders: dict[str, SenderTally] = field(default_factory=dict)

    def expect_from_start(self, nick: str) -> None:
        """``nick`` joined after us: its numbering starts at 1, so a lost first message counts.

        For a sender already there when we joined, the first seq we see is the baseline.
        A sender that leaves and joins again starts again at 1; its counts so far are kept.
        """
        tally = self.senders.setdefault(nick, SenderTally())
        tally.highest = 0
        tally.seen = set()

    def record(self, nick: str, seq: int) -> str:
        tally = self.senders.get(nick)
        if tally is None:
            tally = self.senders[nick] = SenderTally(highest=seq - 1)
        return tally.record(seq)

    def totals(self) -> SenderTally:
        total = SenderTally()
        for tally in self.senders.values():
            total.received += tally.received
            total.duplicates += tally.duplicates
            total.reordered += tally.reordered
            total.missing += tally.missing
        return total
