"""scripts/pcap_summary.py reads a capture made here with scapy's writer: a client's
handshake, two keep-alive requests, one retransmitted segment, the FINs; a reset connection;
UDP datagrams both ways. The summary must count each of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.utils import wrpcap
from scripts import pcap_summary

CLIENT, SERVER = "10.30.80.40", "10.30.80.10"


def tcp(
    t: float,
    src: str,
    sport: int,
    dst: str,
    dport: int,
    flags: str,
    seq: int,
    ack: int = 0,
    data: bytes = b"",
) -> Packet:
    packet = (
        Ether()
        / IP(src=src, dst=dst)
        / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack)
    )
    if data:
        packet = packet / Raw(data)
    packet.time = t
    return packet


def page_load() -> list[Packet]:
    c, s = (CLIENT, 50000), (SERVER, 8080)
    req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    req2 = b"GET /css/site.css HTTP/1.1\r\nHost: x\r\n\r\n"
    packets = [
        tcp(1.000, *c, *s, "S", 100),
        tcp(1.001, *s, *c, "SA", 900, 101),
        tcp(1.003, *c, *s, "A", 101, 901),
        tcp(1.004, *c, *s, "PA", 101, 901, req),
        tcp(1.010, *s, *c, "PA", 901, 101 + len(req), b"HTTP/1.1 200 OK\r\n\r\n"),
        tcp(1.020, *c, *s, "PA", 101 + len(req), 921, req2),
        tcp(1.220, *c, *s, "PA", 101 + len(req), 921, req2),  # the same segment again
        tcp(1.300, *c, *s, "FA", 101 + len(req) + len(req2), 921),
        tcp(1.301, *s, *c, "FA", 921, 102 + len(req) + len(req2)),
        # a second connection, reset by the server
        tcp(2.000, CLIENT, 50001, *s, "S", 5),
        tcp(2.001, *s, CLIENT, 50001, "R", 0),
    ]
    for n, t in enumerate((3.0, 3.1, 3.2)):
        udp = Ether() / IP(src=CLIENT, dst="10.30.80.30") / UDP(sport=40000, dport=9999)
        udp = udp / Raw(b"MSG %d" % n)
        udp.time = t
        packets.append(udp)
    back = Ether() / IP(src="10.30.80.30", dst=CLIENT) / UDP(sport=9999, dport=40000) / Raw(b"OK")
    back.time = 3.3
    packets.append(back)
    return packets


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    path = tmp_path / "page.pcap"
    wrpcap(str(path), page_load())
    return path


def test_the_summary_counts_what_the_capture_holds(capture: Path) -> None:
    doc = pcap_summary.summarise(capture).as_dict()
    assert doc["packets"] == 15
    assert doc["tcp_connections"] == 2
    assert doc["resets"] == 1
    assert doc["retransmissions"] == 1
    first, reset, udp = doc["conversations"]
    assert (first["a"], first["b"]) == (f"{CLIENT}:50000", f"{SERVER}:8080")
    assert first["requests"] == 2  # the retransmitted request is counted once
    assert first["fins"] == 2
    assert first["handshake"] == {
        "syn_to_synack_ms": pytest.approx(1.0, abs=0.01),
        "synack_to_ack_ms": pytest.approx(2.0, abs=0.01),
        "rtt_ms": pytest.approx(3.0, abs=0.01),
    }
    assert reset["handshake"] is None
    assert reset["resets"] == 1
    assert udp["datagrams"] == {f"{CLIENT}:40000": 3, "10.30.80.30:9999": 1}
    assert doc["udp_endpoints"][f"{CLIENT}:40000"] == {"sent": 3, "received": 1}


def test_the_command_prints_a_table_and_json(
    capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pcap_summary.main([str(capture)]) == 0
    out = capsys.readouterr().out
    assert "2 TCP connections (1 handshakes seen), 1 resets, 1 retransmissions" in out
    assert f"{CLIENT}:50000 -> {SERVER}:8080" in out
    assert pcap_summary.main([str(capture), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["handshakes"] == 1


def test_a_file_that_is_not_a_capture_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "notes.pcap"
    bad.write_text("not a pcap\n")
    assert pcap_summary.main([str(bad), str(tmp_path / "missing.pcap")]) == 1
    err = capsys.readouterr().err
    assert "notes.pcap" in err
    assert "missing.pcap" in err
