"""udp-chat: a multi-user chat relay over UDP and its terminal client.

Layers, from the wire up (each importable and testable without a socket unless noted):

* :mod:`.protocol` — datagrams to commands and events and back; the limits and their reasons;
* :mod:`.errors` — the refusals (``ERR <code> <reason>``);
* :mod:`.reliable` — acknowledgements, retransmission with backoff, duplicate suppression;
* :mod:`.ratelimit` — per-address token buckets in a bounded table;
* :mod:`.tally` — loss, duplicates and reordering counted from ``seq``;
* :mod:`.relay` — the server's state machine (members, rules), no I/O;
* :mod:`.server` and :mod:`.client` — the socket loops (these do I/O).

The protocol is specified in docs/udp-chat-protocol.md.
"""

from .errors import ChatError, ProtocolError
from .protocol import (
    MAX_DATAGRAM,
    MAX_NICK,
    MAX_TEXT,
    format_addr,
    parse_command,
    parse_event,
    parse_request,
)
from .relay import Relay, RelayConfig, Send
from .reliable import ReplayWindow, Retransmitter
from .tally import Tally

__all__ = [
    "MAX_DATAGRAM",
    "MAX_NICK",
    "MAX_TEXT",
    "ChatError",
    "ProtocolError",
    "Relay",
    "RelayConfig",
    "ReplayWindow",
    "Retransmitter",
    "Send",
    "Tally",
    "format_addr",
    "parse_command",
    "parse_event",
    "parse_request",
]
