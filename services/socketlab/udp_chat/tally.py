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
    """What one receiver saw of one sender's numbered messages.

    ``floor``: numbers at or below it were sent before we could see them, so they are not
    expected. ``missing``: numbers in (floor, highest] not seen (yet): the losses so far.
    """

    received: int = 0
    duplicates: int = 0
    reordered: int = 0
    missing: int = 0
    highest: int = 0
    floor: int = 0
    ended: bool = False  # the sender left: if it joins again it numbers from 1 again
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
            self.missing += seq - max(self.highest, self.floor) - 1
            self.highest = seq
            return "new"
        self.reordered += 1
        if seq > self.floor:
            self.missing -= 1  # it had been counted as missing
        return "late"

    def expect_from(self, first: int) -> None:
        """Numbers from ``first`` on are expected: those not seen below the floor are missing."""
        if first <= self.floor:
            self.missing += sum(1 for s in range(first, self.floor + 1) if s not in self.seen)
            self.floor = first - 1


@dataclass
class Tally:
    """Per-sender tallies, keyed by nickname."""

    senders: dict[str, SenderTally] = field(default_factory=dict)

    def joined(self, nick: str) -> None:
        """``JOINED nick``: it joined after us, so its numbering starts at 1 and all count.

        For a sender already there when we joined, the first seq we see is the baseline. The
        announcement may arrive after the sender's first messages (reliable mode delivers
        out of order): then the baseline is lowered, not reset. A sender that left and joins
        again numbers from 1 again; its counts so far are kept.
        """
        tally = self.senders.get(nick)
        if tally is None:
            self.senders[nick] = SenderTally()
        elif tally.ended:
            tally.ended = False
            tally.highest = tally.floor = 0
            tally.seen = set()
        else:
            tally.expect_from(1)

    def left(self, nick: str) -> None:
        tally = self.senders.get(nick)
        if tally is not None:
            tally.ended = True

    def record(self, nick: str, seq: int) -> str:
        tally = self.senders.get(nick)
        if tally is None:
            tally = self.senders[nick] = SenderTally(highest=seq - 1, floor=seq - 1)
        return tally.record(seq)

    def totals(self) -> SenderTally:
        total = SenderTally()
        for tally in self.senders.values():
            total.received += tally.received
            total.duplicates += tally.duplicates
            total.reordered += tally.reordered
            total.missing += tally.missing
        return total
