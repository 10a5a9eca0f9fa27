"""The pieces under the chat: reliable links, rate limits, and the loss/dup/reorder tally."""

from __future__ import annotations

import pytest

from socketlab.udp_chat.ratelimit import BoundedTable, TokenBucket
from socketlab.udp_chat.reliable import ReplayWindow, Retransmitter
from socketlab.udp_chat.tally import SEEN_WINDOW, Tally

# --- ReplayWindow: duplicate suppression -------------------------------------------------------


def test_replay_window_accepts_each_id_once_in_any_order() -> None:
    window = ReplayWindow(size=8)
    assert [window.accept(i) for i in (1, 2, 4, 3, 3, 2, 5, 4)] == [
        True,
        True,
        True,
        True,
        False,
        False,
        True,
        False,
    ]
    assert window.duplicates == 3


def test_replay_window_treats_ids_older_than_the_window_as_duplicates() -> None:
    window = ReplayWindow(size=8)
    assert window.accept(100)
    assert window.accept(93)  # 7 behind: still inside
    assert not window.accept(92)  # 8 behind: too old to tell, so not delivered again
    assert window.accept(200)  # a big jump clears the bitmap
    assert window.accept(199)


# --- Retransmitter ----------------------------------------------------------------------------


def test_retransmitter_numbers_and_forgets_acknowledged() -> None:
    link = Retransmitter(initial_rto=1.0)
    assert link.send("MSG a", 0.0) == b"REL 1 MSG a"
    assert link.send("MSG b", 0.0) == b"REL 2 MSG b"
    assert link.ack(1, 0.1)
    assert not link.ack(1, 0.2)  # duplicate ACK
    assert link.stale_acks == 1
    assert link.in_flight() == 1
    assert link.next_deadline() == 1.0


def test_retransmitter_backs_off_exponentially_and_gives_up() -> None:
    link = Retransmitter(initial_rto=1.0, max_rto=100.0, max_attempts=4)
    link.send("MSG a", 0.0)
    times = []
    now = 0.0
    while link.in_flight():
        deadline = link.next_deadline()
        assert deadline is not None
        now = deadline
        if link.due(now):
            times.append(now)
    assert times == [1.0, 3.0, 7.0]  # waits of 1, 2 and 4 s (RFC 6298 5.5: double each time)
    assert link.retransmitted == 3
    assert link.given_up == 1


def test_retransmitter_backoff_is_capped() -> None:
    link = Retransmitter(initial_rto=1.0, max_rto=2.0, max_attempts=5)
    link.send("x", 0.0)
    link.due(1.0)
    link.due(3.0)
    assert link.next_deadline() == 5.0  # 2 s, not 4


def test_retransmitter_learns_the_round_trip_time_but_not_from_retransmissions() -> None:
    link = Retransmitter(initial_rto=1.0, min_rto=0.01)
    link.send("a", 0.0)
    link.ack(1, 0.1)
    assert link.srtt == pytest.approx(0.1)
    assert link.rto == pytest.approx(0.1 + 4 * 0.05)
    link.send("b", 1.0)
    link.due(5.0)  # retransmitted: its ACK is ambiguous (Karn's algorithm)
    link.ack(2, 5.01)
    assert link.srtt == pytest.approx(0.1)


def test_retransmitter_abandon_gives_up_everything_in_flight() -> None:
    link = Retransmitter()
    link.send("JOIN taken", 0.0)
    assert link.abandon() == 1
    assert link.due(100.0) == []
    assert link.given_up == 1


def test_retransmitter_outbox_is_bounded() -> None:
    link = Retransmitter(capacity=4)
    for i in range(10):
        link.send(f"MSG {i}", 0.0)
    assert link.in_flight() == 4
    assert link.given_up == 6
    assert list(link.outbox) == [7, 8, 9, 10]


# --- TokenBucket and BoundedTable ----------------------------------------------------------------


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=10, burst=3)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(0.05)  # half a token
    assert bucket.take(0.1)
    assert bucket.take(10.0)
    assert bucket.tokens == pytest.approx(2.0)  # refilled to the burst, not beyond
    assert bucket.dropped == 2


def test_bounded_table_evicts_the_least_recently_used() -> None:
    table: BoundedTable[str, list[int]] = BoundedTable(2, list)
    table.get("a").append(1)
    table.get("b")
    table.get("a")  # a is now the most recent
    table.get("c")  # evicts b
    assert list(table.entries) == ["a", "c"]
    assert table.get("a") == [1]
    assert table.evicted == 1
    assert table.pop("zzz") is None


# --- Tally --------------------------------------------------------------------------------------


def test_tally_counts_loss_duplicates_and_reordering() -> None:
    tally = Tally()
    tally.joined("bob")  # bob joined after us: his first message is seq 1
    verdicts = [tally.record("bob", s) for s in (1, 2, 4, 3, 3, 6, 7, 7)]
    assert verdicts == ["new", "new", "new", "late", "duplicate", "new", "new", "duplicate"]
    t = tally.senders["bob"]
    assert (t.received, t.missing, t.duplicates, t.reordered) == (6, 1, 2, 1)  # 5 never came


def test_tally_takes_the_first_seq_as_baseline_for_senders_already_there() -> None:
    tally = Tally()
    tally.record("alice", 41)  # alice talked before we joined: 1..40 are not losses
    tally.record("alice", 43)
    assert tally.senders["alice"].missing == 1
    tally.record("alice", 39)  # late, and below the baseline: not a loss made good
    t = tally.senders["alice"]
    assert (t.received, t.missing, t.reordered) == (3, 1, 1)


def test_tally_counts_a_lost_first_message_of_a_new_member() -> None:
    tally = Tally()
    tally.joined("carol")
    tally.record("carol", 2)
    assert tally.senders["carol"].missing == 1


def test_tally_joined_announced_after_the_first_messages() -> None:
    # Reliable mode delivers out of order: MSG 2 and 3, then JOINED, then MSG 1.
    tally = Tally()
    tally.record("dave", 2)
    tally.record("dave", 3)
    tally.joined("dave")
    t = tally.senders["dave"]
    assert t.missing == 1  # 1 is now expected and not seen yet
    assert tally.record("dave", 1) == "late"
    assert (t.received, t.missing, t.duplicates, t.reordered) == (3, 0, 0, 1)


def test_tally_restarts_numbering_when_a_sender_rejoins() -> None:
    tally = Tally()
    tally.joined("bob")
    tally.record("bob", 1)
    tally.record("bob", 2)
    tally.left("bob")
    tally.joined("bob")
    assert tally.record("bob", 1) == "new"
    t = tally.senders["bob"]
    assert (t.received, t.duplicates, t.missing) == (3, 0, 0)


def test_tally_memory_is_bounded() -> None:
    tally = Tally()
    for seq in range(1, 5 * SEEN_WINDOW):
        tally.record("bob", seq)
    assert len(tally.senders["bob"].seen) <= SEEN_WINDOW + 1
    assert tally.record("bob", 1) == "duplicate"  # far too old: not counted as a new message
    totals = tally.totals()
    assert totals.received == 5 * SEEN_WINDOW - 1
    assert totals.missing == 0
