"""The relay's rules, driven without sockets: datagrams and the time in, datagrams out."""

from __future__ import annotations

import logging
import random

import pytest

from socketlab.udp_chat.protocol import MAX_DATAGRAM, Addr
from socketlab.udp_chat.relay import Fanout, Relay, RelayConfig, Send, spell_out

ALICE: Addr = ("10.0.0.1", 40001)
BOB: Addr = ("10.0.0.2", 40002)
CAROL: Addr = ("10.0.0.3", 40003)
MALLORY: Addr = ("10.0.0.66", 6666)


def to(sends: list[Send], addr: Addr) -> list[bytes]:
    return [s.data for s in sends if s.addr == addr]


@pytest.fixture
def relay() -> Relay:
    """A relay with alice, bob and carol joined (plain mode) at t=0; their WELCOMEs discarded."""
    r = Relay(RelayConfig(idle_timeout=30, rate=1000, burst=1000))
    for nick, addr in (("alice", ALICE), ("bob", BOB), ("carol", CAROL)):
        r.datagram(f"JOIN {nick}".encode(), addr, 0.0)
    return r


def test_join_is_welcomed_with_the_address_the_server_saw() -> None:
    r = Relay()
    sends = r.datagram(b"JOIN alice", ALICE, 0.0)
    assert sends == [Send(ALICE, b"WELCOME alice 10.0.0.1:40001 60")]


def test_join_is_announced_to_the_others(relay: Relay) -> None:
    sends = relay.datagram(b"JOIN dave", ("10.0.0.4", 4), 1.0)
    for addr in (ALICE, BOB, CAROL):
        assert to(sends, addr) == [b"JOINED dave"]


def test_msg_is_relayed_to_every_other_member_with_a_per_sender_seq(relay: Relay) -> None:
    first = relay.datagram(b"MSG hello", ALICE, 1.0)
    assert to(first, ALICE) == []  # no echo to the sender
    assert to(first, BOB) == to(first, CAROL) == [b"MSG alice 1 hello"]
    second = relay.datagram(b"MSG again", ALICE, 2.0)
    assert to(second, BOB) == [b"MSG alice 2 again"]
    bobs = relay.datagram(b"MSG mine", BOB, 3.0)
    assert to(bobs, ALICE) == [b"MSG bob 1 mine"]  # seq counts each sender separately


def test_tell_reaches_the_named_member_only(relay: Relay) -> None:
    sends = relay.datagram(b"TELL Carol psst", ALICE, 1.0)  # nicks match ignoring case
    assert sends == [Send(CAROL, b"TELL alice psst")]


def test_tell_to_nobody_is_refused(relay: Relay) -> None:
    assert relay.datagram(b"TELL dave hi", ALICE, 1.0) == [
        Send(ALICE, b"ERR 404 no such nick dave")
    ]


def test_who_lists_every_member_with_the_address_seen(relay: Relay) -> None:
    (send,) = relay.datagram(b"WHO", BOB, 1.0)
    assert send.addr == BOB
    assert send.data == (b"ROSTER 1/1 alice@10.0.0.1:40001 bob@10.0.0.2:40002 carol@10.0.0.3:40003")


def test_leave_says_bye_and_is_announced(relay: Relay) -> None:
    sends = relay.datagram(b"LEAVE", BOB, 1.0)
    assert to(sends, BOB) == [b"BYE left"]
    assert to(sends, ALICE) == to(sends, CAROL) == [b"LEFT bob leave"]
    # bob is a stranger again: the refusal is cut to the size of what he sent
    assert relay.datagram(b"MSG still here?", BOB, 2.0) == [Send(BOB, b"ERR 401 join")]


def test_nick_belongs_to_the_address_that_joined(relay: Relay) -> None:
    # Another address cannot take the nick over ...
    sends = relay.datagram(b"JOIN alice", MALLORY, 1.0)
    assert to(sends, MALLORY) == [b"ERR 409"]  # cut: MALLORY has not joined (anti-amplification)
    assert to(sends, ALICE) == []
    # ... nor speak as alice: there is no way to name a sender, the address is the identity.
    sends = relay.datagram(b"MSG I am alice", MALLORY, 1.0)
    assert to(sends, BOB) == to(sends, CAROL) == []
    assert relay.roster()[0] == ("alice", "10.0.0.1:40001")


def test_a_member_cannot_take_a_second_nick(relay: Relay) -> None:
    sends = relay.datagram(b"JOIN bob", ALICE, 1.0)
    assert sends == [Send(ALICE, b"ERR 409 already joined as alice")]
    sends = relay.datagram(b"JOIN alice2", ALICE, 1.0)
    assert sends == [Send(ALICE, b"ERR 409 already joined as alice")]


def test_repeated_join_repeats_the_welcome_only(relay: Relay) -> None:
    sends = relay.datagram(b"JOIN alice", ALICE, 1.0)
    assert sends == [Send(ALICE, b"WELCOME alice 10.0.0.1:40001 30")]  # no second JOINED


def test_nicks_are_unique_ignoring_case(relay: Relay) -> None:
    assert to(relay.datagram(b"JOIN ALICE", MALLORY, 1.0), MALLORY) == [b"ERR 409"]


def test_a_refused_reliable_join_is_not_acknowledged_and_is_cut(relay: Relay) -> None:
    stranger = ("10.0.0.5", 5)
    sends = relay.datagram(b"REL 9 JOIN bob", stranger, 1.0)
    assert sends == [Send(stranger, b"ERR 409 nick")]  # 12 bytes for the 14 it sent
    assert stranger not in relay.by_addr


def test_server_full() -> None:
    r = Relay(RelayConfig(max_members=2))
    r.datagram(b"JOIN a", ("10.0.0.1", 1), 0)
    r.datagram(b"JOIN b", ("10.0.0.2", 1), 0)
    sends = r.datagram(b"JOIN c-long-nick-16", ("10.0.0.3", 1), 0)
    assert sends == [Send(("10.0.0.3", 1), b"ERR 503 server full")]
    assert len(r.by_addr) == 2


# --- bad input: never stops the relay, never relayed ------------------------------------------

BAD_DATAGRAMS = [
    b"",
    b"\n",
    b"x" * (MAX_DATAGRAM + 1),
    b"x" * 65507,
    b"MSG \xff\xfe",
    b"MSG \x1b[2J\x1b[H",
    b"MSG a\x00b",
    b"MSG a\r\nLEFT alice",
    "MSG \u202eevil".encode(),
    b"FOO",
    b"MSG",
    b"TELL",
    b"TELL bob",
    b"JOIN",
    b"REL",
    b"REL 1",
    b"REL 0 MSG x",
    b"REL 1 REL 2 MSG nested",
    b"ACK x",
    b"\xc0\xaf",
]


@pytest.mark.parametrize("data", BAD_DATAGRAMS)
def test_bad_input_from_a_member_is_refused_and_never_relayed(relay: Relay, data: bytes) -> None:
    sends = relay.datagram(data, ALICE, 1.0)
    assert to(sends, BOB) == to(sends, CAROL) == []
    replies = [s for s in to(sends, ALICE) if not s.startswith(b"ACK ")]  # a REL id is ACKed
    assert len(replies) == 1
    assert replies[0].startswith(b"ERR ")
    assert len(relay.by_addr) == 3  # nobody was dropped, the relay goes on
    assert to(relay.datagram(b"MSG fine", ALICE, 2.0), BOB) == [b"MSG alice 1 fine"]


@pytest.mark.parametrize("data", [*BAD_DATAGRAMS, b"MSG hi", b"WHO", b"LEAVE", b"TELL bob hi"])
def test_commands_from_addresses_that_have_not_joined_are_never_relayed(
    relay: Relay, data: bytes
) -> None:
    sends = relay.datagram(data, MALLORY, 1.0)
    assert all(s.addr == MALLORY for s in sends)
    assert sum(len(s.data) for s in sends) <= len(data)


def test_refusals_are_logged_with_the_peer_address_and_escaped(
    relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="socketlab.udp_chat"):
        relay.datagram(b"MSG \x1b[2J\r\nforged line", MALLORY, 1.0)
    (record,) = caplog.records
    line = record.getMessage()
    assert line.startswith("10.0.0.66:6666 ")
    assert "\x1b" not in line
    assert "\r" not in line
    assert "\n" not in line
    assert "\\x1b[2J" in line


def test_one_log_line_per_datagram(relay: Relay, caplog: pytest.LogCaptureFixture) -> None:
    datagrams = [b"MSG a", b"WHO", b"TELL bob x", b"FOO", b"PING", b"", b"REL 1 MSG r", b"LEAVE"]
    with caplog.at_level(logging.DEBUG, logger="socketlab.udp_chat"):
        for data in datagrams:
            relay.datagram(data, ALICE, 1.0)
    assert len(caplog.records) == len(datagrams)
    assert all(r.getMessage().startswith("10.0.0.1:40001 ") for r in caplog.records)


def test_a_relayed_msg_is_logged_at_info_with_its_fanout(
    relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="socketlab.udp_chat"):
        relay.datagram(b"MSG hello", ALICE, 1.0)
    assert [r.getMessage() for r in caplog.records] == [
        "10.0.0.1:40001 9 B MSG alice seq=1 5 B -> 2"
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="socketlab.udp_chat"):
        relay.datagram(b"MSG quiet", ALICE, 2.0)
    assert caplog.records == []


def test_nc_users_get_one_event_per_line() -> None:
    # `nc -u` sends every line with "\n"; a member that joined that way gets "\n" back, so its
    # terminal shows one event per line. Programs that send bare datagrams get bare datagrams.
    r = Relay()
    assert r.datagram(b"JOIN human\n", ALICE, 0.0) == [
        Send(ALICE, b"WELCOME human 10.0.0.1:40001 60\n")
    ]
    r.datagram(b"JOIN program", BOB, 0.0)
    assert to(r.datagram(b"MSG hi", BOB, 1.0), ALICE) == [b"MSG program 1 hi\n"]
    assert to(r.datagram(b"MSG hi\n", ALICE, 1.0), BOB) == [b"MSG human 1 hi"]
    assert r.datagram(b"PING\n", MALLORY, 1.0) == [Send(MALLORY, b"PONG\n")]  # same length
    assert r.datagram(b"WHO\n", MALLORY, 1.0) == []  # "ERR 401" + newline would be 8 > 4 bytes
    assert r.datagram(b"MSG hello\n", MALLORY, 1.0) == [Send(MALLORY, b"ERR 401\n")]
    assert to(r.datagram(b"LEAVE\n", ALICE, 2.0), ALICE) == [b"BYE left\n"]


# --- the fan-out fast path: Relay.receive() -----------------------------------------------------


def test_receive_hands_a_msg_to_the_plain_members_as_one_fanout(relay: Relay) -> None:
    outgoing = relay.receive(b"MSG hello", ALICE, 1.0)
    assert outgoing == [Fanout((BOB, CAROL), b"MSG alice 1 hello")]  # in joining order
    assert spell_out(outgoing) == [
        Send(BOB, b"MSG alice 1 hello"),
        Send(CAROL, b"MSG alice 1 hello"),
    ]
    assert relay.counters.relayed == 2


def test_receive_and_datagram_send_the_same_to_every_kind_of_member() -> None:
    # plain, nc -u (newline) and reliable members, each as a sender and as a receiver
    dave: Addr = ("10.0.0.4", 40004)
    r = Relay(RelayConfig(rate=1000, burst=1000))
    r.datagram(b"JOIN alice", ALICE, 0.0)
    r.datagram(b"JOIN bob\n", BOB, 0.0)
    r.datagram(b"REL 1 JOIN carol", CAROL, 0.0)
    r.datagram(b"JOIN dave", dave, 0.0)
    r.datagram(b"ACK 1", CAROL, 0.0)
    r.datagram(b"ACK 2", CAROL, 0.0)  # JOINED dave
    outgoing = r.receive(b"MSG one", ALICE, 1.0)
    assert outgoing == [
        Fanout((dave,), b"MSG alice 1 one"),
        Fanout((BOB,), b"MSG alice 1 one\n"),
        Send(CAROL, b"REL 3 MSG alice 1 one"),
    ]
    sends = r.datagram(b"MSG two", ALICE, 2.0)
    assert sorted(sends) == sorted(
        [
            Send(dave, b"MSG alice 2 two"),
            Send(BOB, b"MSG alice 2 two\n"),
            Send(CAROL, b"REL 4 MSG alice 2 two"),
        ]
    )
    # a reliable sender gets its ACK first; its MSG goes to everybody else, never to itself
    sends = r.datagram(b"REL 2 MSG three", CAROL, 3.0)
    assert sends[0] == Send(CAROL, b"ACK 2")
    assert sorted(sends[1:]) == sorted(
        [
            Send(ALICE, b"MSG carol 1 three"),
            Send(BOB, b"MSG carol 1 three\n"),
            Send(dave, b"MSG carol 1 three"),
        ]
    )
    assert r.counters.relayed == 9


def test_the_fanout_follows_every_change_of_membership(relay: Relay) -> None:
    dave: Addr = ("10.0.0.4", 40004)

    def receivers(sender: Addr, now: float) -> list[Addr]:
        return sorted(s.addr for s in relay.datagram(b"MSG x", sender, now))

    assert receivers(ALICE, 1.0) == [BOB, CAROL]
    relay.datagram(b"JOIN dave", dave, 2.0)
    assert receivers(ALICE, 2.0) == [BOB, CAROL, dave]
    relay.datagram(b"LEAVE", BOB, 3.0)
    assert receivers(ALICE, 3.0) == [CAROL, dave]
    assert receivers(dave, 3.0) == [ALICE, CAROL]
    relay.datagram(b"PING", ALICE, 40.0)
    relay.datagram(b"PING", dave, 40.0)
    relay.tick(40.0)  # carol dropped as idle
    assert receivers(ALICE, 41.0) == [dave]
    relay.shutdown()
    relay.datagram(b"JOIN alice", ALICE, 50.0)
    relay.datagram(b"JOIN bob", BOB, 50.0)
    assert receivers(ALICE, 51.0) == [BOB]
    assert receivers(BOB, 51.0) == [ALICE]


def test_a_lone_member_relays_to_nobody() -> None:
    r = Relay()
    r.datagram(b"JOIN alice", ALICE, 0.0)
    assert r.receive(b"MSG anyone?", ALICE, 1.0) == []
    assert r.counters.relayed == 0


# --- anti-amplification -----------------------------------------------------------------------


def test_ping_is_answered_to_anyone_with_no_more_bytes() -> None:
    r = Relay()
    assert r.datagram(b"PING", MALLORY, 0.0) == [Send(MALLORY, b"PONG")]
    assert r.datagram(b"PING abc", MALLORY, 0.0) == [Send(MALLORY, b"PONG abc")]
    assert r.by_addr == {}  # a PING creates no member


def test_no_amplification_to_strangers_whatever_they_send() -> None:
    rng = random.Random(4)
    r = Relay(RelayConfig(rate=1e6, burst=1_000_000))
    r.datagram(b"JOIN alice", ALICE, 0)
    r.datagram(b"JOIN bob", BOB, 0)
    words = [b"JOIN", b"MSG", b"TELL", b"WHO", b"PING", b"LEAVE", b"ACK", b"REL", b"1", b"bob"]
    for i in range(3000):
        parts = [rng.choice(words) for _ in range(rng.randint(0, 4))]
        if rng.random() < 0.2:
            parts.append(bytes(rng.randrange(256) for _ in range(rng.randint(0, 8))))
        data = b" ".join(parts)
        addr = ("10.9.0.1", 1000 + i)
        joined_before = addr in r.by_addr
        sends = r.datagram(data, addr, 1.0)
        if not joined_before and addr not in r.by_addr:
            sent_back = sum(len(s.data) for s in sends if s.addr == addr)
            assert sent_back <= len(data), (data, sends)
            assert all(s.addr == addr for s in sends)


# --- idle drop --------------------------------------------------------------------------------


def test_silent_members_are_dropped_and_announced(relay: Relay) -> None:
    relay.datagram(b"PING", ALICE, 20.0)  # any datagram counts as a sign of life
    relay.datagram(b"MSG hi", BOB, 25.0)
    assert relay.next_deadline() == 30.0  # carol, silent since t=0
    assert relay.tick(29.0) == []
    sends = relay.tick(31.0)
    assert to(sends, CAROL) == [b"BYE idle"]
    assert to(sends, ALICE) == to(sends, BOB) == [b"LEFT carol idle"]
    assert [nick for nick, _ in relay.roster()] == ["alice", "bob"]
    assert relay.counters.dropped_idle == 1
    # carol's nick is free again, for any address
    assert relay.datagram(b"JOIN carol", MALLORY, 32.0)[0].data.startswith(b"WELCOME carol")


# --- rate limit -------------------------------------------------------------------------------


def test_a_flooding_member_is_limited_and_told_once() -> None:
    r = Relay(RelayConfig(rate=2, burst=5))
    r.datagram(b"JOIN alice", ALICE, 0.0)  # costs one token
    r.datagram(b"JOIN bob", BOB, 0.0)
    relayed = 0
    errs = []
    for i in range(100):
        sends = r.datagram(f"MSG flood {i}".encode(), ALICE, 0.0)
        relayed += len(to(sends, BOB))
        errs += to(sends, ALICE)
    assert relayed == 4  # the burst, less the JOIN
    assert errs == [b"ERR 429 slow down, over 2/s"]
    # bob is not affected by alice's flood
    assert to(r.datagram(b"MSG bob speaks", BOB, 0.0), ALICE) == [b"MSG bob 1 bob speaks"]
    # after a second alice has two tokens again
    assert len(to(r.datagram(b"MSG later", ALICE, 1.0), BOB)) == 1
    assert r.counters.rate_limited == 96


def test_memory_stays_bounded_however_many_source_addresses() -> None:
    r = Relay(RelayConfig(max_strangers=100, max_members=10))
    for i in range(20_000):
        addr = (f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 1024 + i % 50000)
        r.datagram(b"JOIN x" if i % 7 else b"PING", addr, i / 1000)
    assert len(r.strangers) <= 100
    assert len(r.by_addr) <= 10
    assert r.strangers.evicted > 0


# --- reliable links ---------------------------------------------------------------------------


def test_reliable_join_is_acknowledged_and_events_are_framed() -> None:
    r = Relay(RelayConfig(rto=1.0))
    sends = r.datagram(b"REL 1 JOIN alice", ALICE, 0.0)
    assert sends == [Send(ALICE, b"ACK 1"), Send(ALICE, b"REL 1 WELCOME alice 10.0.0.1:40001 60")]
    r.datagram(b"JOIN bob", BOB, 0.0)
    sends = r.datagram(b"MSG hi", BOB, 0.1)
    assert sends == [Send(ALICE, b"REL 3 MSG bob 1 hi")]  # REL 2 was "JOINED bob"


def test_duplicate_rel_is_acknowledged_again_but_not_relayed_twice() -> None:
    r = Relay()
    r.datagram(b"REL 1 JOIN alice", ALICE, 0.0)
    r.datagram(b"JOIN bob", BOB, 0.0)
    first = r.datagram(b"REL 2 MSG once", ALICE, 1.0)
    again = r.datagram(b"REL 2 MSG once", ALICE, 1.5)  # our ACK was lost; alice resent
    assert to(first, ALICE) == [b"ACK 2"]
    assert to(first, BOB) == [b"MSG alice 1 once"]
    assert again == [Send(ALICE, b"ACK 2")]


def test_refused_rel_body_is_still_acknowledged() -> None:
    r = Relay()
    r.datagram(b"REL 1 JOIN alice", ALICE, 0.0)
    sends = r.datagram(b"REL 2 FROB", ALICE, 1.0)
    assert sends == [Send(ALICE, b"ACK 2"), Send(ALICE, b"ERR 501 unknown command FROB")]


def test_rel_from_a_stranger_must_be_a_join() -> None:
    r = Relay()
    assert r.datagram(b"REL 1 MSG hello", MALLORY, 0.0) == [Send(MALLORY, b"ERR 401 join")]


def test_unacknowledged_events_are_retransmitted_with_backoff_then_given_up() -> None:
    r = Relay(RelayConfig(idle_timeout=1000, rto=1.0, max_attempts=3))
    r.datagram(b"REL 1 JOIN alice", ALICE, 0.0)
    # The WELCOME is acknowledged after 1/3 s: srtt 1/3, rttvar 1/6, RTO = srtt + 4 rttvar = 1 s.
    r.datagram(b"ACK 1", ALICE, 1 / 3)
    r.datagram(b"JOIN bob", BOB, 1.0)  # JOINED bob: REL 2, never acknowledged
    assert r.next_deadline() == pytest.approx(2.0)
    assert r.tick(1.9) == []
    assert r.tick(2.0) == [Send(ALICE, b"REL 2 JOINED bob")]  # attempt 2, next after 2 s
    assert r.tick(3.9) == []
    assert r.tick(4.0) == [Send(ALICE, b"REL 2 JOINED bob")]  # attempt 3, the last
    assert r.tick(20.0) == []
    member = r.by_addr[ALICE]
    assert member.link is not None
    assert member.link.given_up == 1
    assert member.link.retransmitted == 2


def test_acknowledged_events_are_not_retransmitted() -> None:
    r = Relay(RelayConfig(idle_timeout=1000))
    r.datagram(b"REL 1 JOIN alice", ALICE, 0.0)
    r.datagram(b"ACK 1", ALICE, 0.05)
    assert r.tick(100.0) == []


def test_shutdown_says_bye_to_every_member(relay: Relay) -> None:
    sends = relay.shutdown()
    assert sorted(sends) == sorted(Send(a, b"BYE shutdown") for a in (ALICE, BOB, CAROL))
    assert relay.by_addr == {}
