"""Summarise a packet capture: who talked to whom, handshakes, resets, retransmissions, UDP.

``make capture`` runs this on every file it writes; by hand::

    .venv/bin/python scripts/pcap_summary.py captures/threaded-web-20261201T214000Z.pcap [--json]

The file is read with scapy's streaming reader (``PcapReader``: one packet at a time, so a
large capture never has to fit in memory). For each TCP connection and each UDP pair of
endpoints it prints the packets, bytes and duration; for TCP also the handshake and its round
trip times as the capture point saw them (SYN to SYN-ACK, SYN-ACK to ACK), the HTTP requests
that went over it (keep-alive reuse: more than one; a retransmitted one counts once), the FINs,
resets and retransmissions (a data segment whose sequence number and length were already seen
in the same direction); for UDP the datagrams each endpoint sent and received.

Host-side tool: it may use PyPI packages (scapy is pinned in pyproject.toml's group test); the
lab's images never run it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.packet import Packet
from scapy.utils import PcapReader

HTTP_METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ")
"""A TCP payload that starts like this is counted as one HTTP request (keep-alive reuse)."""

Endpoint = tuple[str, int]

# TCP flag bits (RFC 9293 section 3.1).
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


def show(endpoint: Endpoint) -> str:
    host, port = endpoint
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class Conversation:
    proto: str
    a: Endpoint  # who sent the first packet we saw (for TCP with a SYN: the client)
    b: Endpoint
    first: float
    last: float
    packets: int = 0
    bytes: int = 0
    syn: float | None = None
    syn_ack: float | None = None
    ack: float | None = None
    fins: int = 0
    resets: int = 0
    retransmissions: int = 0
    requests: int = 0
    datagrams: dict[Endpoint, int] = field(default_factory=dict)
    seen: set[tuple[Endpoint, int, int]] = field(default_factory=set)

    def handshake(self) -> dict[str, float] | None:
        if self.syn is None or self.syn_ack is None:
            return None
        out = {"syn_to_synack_ms": round((self.syn_ack - self.syn) * 1000, 3)}
        if self.ack is not None:
            out["synack_to_ack_ms"] = round((self.ack - self.syn_ack) * 1000, 3)
            out["rtt_ms"] = round((self.ack - self.syn) * 1000, 3)
        return out

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "proto": self.proto,
            "a": show(self.a),
            "b": show(self.b),
            "packets": self.packets,
            "bytes": self.bytes,
            "start": self.first,
            "duration_ms": round((self.last - self.first) * 1000, 3),
        }
        if self.proto == "tcp":
            doc.update(
                handshake=self.handshake(),
                requests=self.requests,
                fins=self.fins,
                resets=self.resets,
                retransmissions=self.retransmissions,
            )
        else:
            doc["datagrams"] = {show(e): n for e, n in self.datagrams.items()}
        return doc


@dataclass
class Summary:
    packets: int = 0
    other: int = 0  # not IP, or neither TCP nor UDP (ARP, ICMP...)
    conversations: dict[tuple[str, Endpoint, Endpoint], Conversation] = field(default_factory=dict)

    def add(self, packet: Packet) -> None:
        self.packets += 1
        ip = packet.getlayer(IP) or packet.getlayer(IPv6)
        if ip is None:
            self.other += 1
            return
        layer = ip.getlayer(TCP) or ip.getlayer(UDP)
        if layer is None:
            self.other += 1
            return
        proto = "tcp" if isinstance(layer, TCP) else "udp"
        src: Endpoint = (str(ip.src), int(layer.sport))
        dst: Endpoint = (str(ip.dst), int(layer.dport))
        when = float(packet.time)
        key = (proto, *sorted((src, dst)))
        conv = self.conversations.get(key)  # type: ignore[arg-type]
        if conv is None:
            conv = Conversation(proto, src, dst, when, when)
            self.conversations[key] = conv  # type: ignore[index]
        conv.last = when
        conv.packets += 1
        conv.bytes += len(packet)
        payload = bytes(layer.payload)
        if proto == "udp":
            conv.datagrams[src] = conv.datagrams.get(src, 0) + 1
            return
        self._tcp(conv, layer, src, when, payload)

    @staticmethod
    def _tcp(conv: Conversation, tcp: Any, src: Endpoint, when: float, payload: bytes) -> None:
        flags = int(tcp.flags)
        if flags & SYN and not flags & ACK:
            conv.a, conv.b = src, conv.b if src == conv.a else conv.a  # the SYN names the client
            if conv.syn is None:
                conv.syn = when
        elif flags & SYN and flags & ACK:
            if conv.syn_ack is None:
                conv.syn_ack = when
        elif flags & ACK and conv.syn_ack is not None and conv.ack is None and src == conv.a:
            conv.ack = when
        if flags & FIN:
            conv.fins += 1
        if flags & RST:
            conv.resets += 1
        if payload:
            mark = (src, int(tcp.seq), len(payload))
            if mark in conv.seen:
                conv.retransmissions += 1
            else:
                conv.seen.add(mark)
                if payload.startswith(HTTP_METHODS):
                    conv.requests += 1

    def as_dict(self) -> dict[str, Any]:
        convs = sorted(self.conversations.values(), key=lambda c: c.first)
        tcp = [c for c in convs if c.proto == "tcp"]
        udp = [c for c in convs if c.proto == "udp"]
        per_endpoint: dict[str, dict[str, int]] = {}
        for conv in udp:
            for end, other in ((conv.a, conv.b), (conv.b, conv.a)):
                row = per_endpoint.setdefault(show(end), {"sent": 0, "received": 0})
                row["sent"] += conv.datagrams.get(end, 0)
                row["received"] += conv.datagrams.get(other, 0)
        return {
            "packets": self.packets,
            "other_packets": self.other,
            "tcp_connections": len(tcp),
            "handshakes": sum(1 for c in tcp if c.handshake() is not None),
            "resets": sum(c.resets for c in tcp),
            "retransmissions": sum(c.retransmissions for c in tcp),
            "conversations": [c.as_dict() for c in convs],
            "udp_endpoints": per_endpoint,
        }


MAGICS = (
    b"\xa1\xb2\xc3\xd4",
    b"\xd4\xc3\xb2\xa1",
    b"\xa1\xb2\x3c\x4d",
    b"\x4d\x3c\xb2\xa1",
    b"\x0a\x0d\x0d\x0a",
)
"""The first four bytes of pcap (microsecond and nanosecond, either byte order) and pcapng
files. Checked before scapy opens the file: its reader leaks the open file when it refuses one."""


def summarise(path: Path) -> Summary:
    with path.open("rb") as handle:
        if handle.read(4) not in MAGICS:
            raise ValueError("not a pcap or pcapng file")
    summary = Summary()
    with PcapReader(str(path)) as reader:
        for packet in reader:
            summary.add(packet)
    return summary


def render(doc: dict[str, Any], name: str) -> Iterable[str]:
    yield (
        f"{name}: {doc['packets']} packets, {doc['tcp_connections']} TCP connections "
        f"({doc['handshakes']} handshakes seen), {doc['resets']} resets, "
        f"{doc['retransmissions']} retransmissions"
    )
    convs = doc["conversations"]
    if not convs:
        yield "  (no TCP or UDP packets)"
        return
    yield (
        f"  {'proto':5} {'from':>22}    {'to':<22} {'pkts':>5} {'bytes':>8} {'ms':>9} "
        f"{'handshake rtt':>13} {'reqs':>4} {'fin':>3} {'rst':>3} {'retx':>4}"
    )
    for c in convs:
        if c["proto"] == "tcp":
            hs = c["handshake"]
            rtt = "-" if not hs or "rtt_ms" not in hs else f"{hs['rtt_ms']:.3f} ms"
            tail = f" {rtt:>13} {c['requests']:>4} {c['fins']:>3} {c['resets']:>3} "
            tail += f"{c['retransmissions']:>4}"
        else:
            tail = "  datagrams " + ", ".join(f"{e}: {n}" for e, n in c["datagrams"].items())
        yield (
            f"  {c['proto']:5} {c['a']:>22} -> {c['b']:<22} {c['packets']:>5} {c['bytes']:>8} "
            f"{c['duration_ms']:>9.1f}{tail}"
        )
    if doc["udp_endpoints"]:
        yield "  UDP datagrams per endpoint:"
        for end, row in sorted(doc["udp_endpoints"].items()):
            yield f"    {end:>22}  sent {row['sent']:>5}  received {row['received']:>5}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pcap_summary", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE.pcap")
    parser.add_argument("--json", action="store_true", help="one JSON object per file")
    args = parser.parse_args(argv)
    status = 0
    for path in args.files:
        try:
            doc = summarise(path).as_dict()
        except OSError as exc:
            print(f"pcap_summary: {path}: cannot read it: {exc.strerror}", file=sys.stderr)
            status = 1
            continue
        except ValueError as exc:
            print(f"pcap_summary: {path}: {exc}", file=sys.stderr)
            status = 1
            continue
        if args.json:
            print(json.dumps({"file": str(path), **doc}))
        else:
            print("\n".join(render(doc, str(path))))
    return status


if __name__ == "__main__":
    sys.exit(main())
