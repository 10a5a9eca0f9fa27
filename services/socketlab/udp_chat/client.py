"""The udp-chat terminal client: interactive, scripted, and optionally reliable.

``PYTHONPATH=services python3 -m socketlab.udp_chat.client --server HOST:PORT --nick NAME``

* Interactive (stdin is a terminal): typed lines are sent as ``MSG``; ``/who``, ``/tell <nick>
  <text>``, ``/quit`` (``/help`` lists the rest). A network thread prints what arrives while you
  type. The banner shows the local address and the address the server saw: behind Docker's port
  publishing or a NAT they differ, which is the point.
* Scripted (``--script FILE``, or lines on a stdin that is not a terminal): the same lines, sent
  in order with optional pauses (``/sleep``, ``/wait-for``, ``--interval``); every datagram sent
  and received is printed with a timestamp; after ``--linger`` seconds it leaves and prints a
  summary with per-sender loss, duplicates and reordering counted from ``seq``.
* ``--reliable`` frames what it sends as ``REL <id>`` and retransmits until ``ACK <id>``; the
  server does the same towards it (see :mod:`socketlab.udp_chat.reliable`). ``--loss`` drops a share
  of datagrams on purpose so that both modes can be watched failing and recovering.

The socket is ``connect()``-ed to the server: the kernel then drops datagrams from any other
source, and an ICMP port-unreachable (server not running) surfaces as ConnectionRefusedError.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from .. import settings
from ..settings import Setting
from .errors import MEANINGS, ChatError, ProtocolError
from .protocol import (
    Ack,
    Bye,
    Error,
    Event,
    Join,
    Joined,
    Leave,
    Left,
    Msg,
    Ping,
    Pong,
    Private,
    Rel,
    Relayed,
    Request,
    Roster,
    Tell,
    Welcome,
    Who,
    check_nick,
    check_text,
    escape_controls,
    format_addr,
    parse_event,
    split_host_port,
)
from .reliable import RELIABILITY_SETTINGS, ReplayWindow, Retransmitter
from .tally import Tally

#: Receive buffer: the largest UDP payload, so nothing the server sends is ever cut.
RECV_BUFFER = 65_507

#: Seconds between plain JOIN (and LEAVE) attempts: a lost JOIN or WELCOME is simply retried
#: (JOIN is idempotent for the address that holds the nick).
RETRY_INTERVAL = 1.0

#: LEAVE attempts in plain mode before giving up (the server's idle timeout then cleans up).
LEAVE_ATTEMPTS = 3

#: Keep-alive when the server does not announce its idle timeout: well under the default 60 s.
DEFAULT_PING_INTERVAL = 20.0

#: Longest sleep of the network thread: bounds how late a stop is noticed.
MAX_WAIT = 0.5

#: Extra seconds a reliable client waits for outstanding ACKs before leaving.
DRAIN_TIME = 5.0


def _check_server(value: str) -> None:
    split_host_port(value)


def _check_bind(value: str) -> None:
    if value:
        split_host_port(value, default_port=0)


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "server",
        str,
        "127.0.0.1:9999",
        "chat server as HOST:PORT",
        check=_check_server,
        metavar="HOST:PORT",
    ),
    Setting("nick", str, "", "nickname (required): 1-16 of A-Z a-z 0-9 _ -", metavar="NAME"),
    Setting(
        "script",
        str,
        "",
        "run the lines of FILE ('-': stdin) instead of the terminal; a stdin that is not a "
        "terminal is a script too",
        metavar="FILE",
    ),
    Setting("interval", float, 0.0, "pause between script lines, seconds", minimum=0, maximum=3600),
    Setting(
        "linger",
        float,
        2.0,
        "seconds to keep listening after the script ends",
        minimum=0,
        maximum=3600,
    ),
    Setting("reliable", bool, False, "acknowledge and retransmit (REL/ACK) in both directions"),
    Setting("keepalive", bool, True, "send PING so that the server does not drop us as idle"),
    Setting(
        "ping_interval",
        float,
        0.0,
        "seconds between keep-alive PINGs (0: a third of the server's idle timeout)",
        minimum=0,
        maximum=3600,
    ),
    Setting("trace", bool, False, "print every datagram sent and received (on with a script)"),
    *RELIABILITY_SETTINGS,
    Setting(
        "loss",
        float,
        0.0,
        "drop this share of datagrams sent and received on purpose (0.2: one in five)",
        minimum=0,
        maximum=0.9,
    ),
    Setting("seed", int, 0, "random seed for --loss (0: a different run each time)", minimum=0),
    Setting(
        "bind",
        str,
        "",
        "local HOST[:PORT] to send from (default: any address, a free port)",
        check=_check_bind,
        metavar="HOST:PORT",
    ),
    Setting(
        "wait_timeout",
        float,
        15.0,
        "longest wait of a /wait-for line, seconds",
        minimum=0,
        maximum=3600,
    ),
    Setting(
        "join_timeout",
        float,
        5.0,
        "give up when no WELCOME came within this many seconds",
        minimum=0.1,
        maximum=600,
    ),
)

PROG = "python3 -m socketlab.udp_chat.client"

DESCRIPTION = """\
Terminal client of the udp-chat relay. Interactive on a terminal; otherwise it runs a script:
one line per message, or a command:
  /who                 ask for the roster (nick@ip:port as the server sees each member)
  /tell NICK TEXT      private message
  /sleep SECONDS       pause
  /wait-for NICK...    wait until these nicks are members (asks WHO every half second)
  /wait-left NICK      wait until the server announces that NICK left
  /raw LINE            send LINE as it is, unchecked (try what the server refuses)
  /stats               print the counters so far
  /quit                stop (also the end of the script)
  # ...                a comment"""

HELP = "type a line to send it to everyone; /who, /tell NICK TEXT, /raw LINE, /stats, /quit"


def now_stamp() -> str:
    return datetime.datetime.now().strftime("%H:%M:%S.%f")[:-3]


def show_bytes(data: bytes) -> str:
    """A received or sent datagram as one safe line (invalid UTF-8 as \\xNN)."""
    return escape_controls(data.decode("utf-8", "backslashreplace"))


class Console:
    """Where the client writes. Interactive: redraw the prompt and what is being typed after
    each incoming line. Scripted: every line gets a timestamp."""

    def __init__(self, stream: TextIO, *, interactive: bool, trace: bool) -> None:
        self.stream = stream
        self.interactive = interactive
        self.tracing = trace
        self.prompt = "> "
        self.reading = False  # input() is waiting: a shown line must redraw prompt and typing
        self.lock = threading.Lock()
        self._readline: object | None = None
        if interactive:
            try:
                import readline

                self._readline = readline
            except ImportError:  # not every Python has it; lines are still shown, just not redrawn
                pass

    def show(self, text: str) -> None:
        with self.lock:
            if not self.interactive:
                self.stream.write(f"{now_stamp()} {text}\n")
            elif self._readline is not None and self.reading:
                typed = self._readline.get_line_buffer()  # type: ignore[attr-defined]
                self.stream.write(f"\r\x1b[2K{text}\n{self.prompt}{typed}")
            else:
                self.stream.write(f"{text}\n")
            self.stream.flush()

    def trace(self, arrow: str, data: bytes, note: str = "") -> None:
        if self.tracing:
            self.show(f"{arrow} {show_bytes(data)}{note}")

    def plain(self, text: str) -> None:
        with self.lock:
            self.stream.write(text + "\n")
            self.stream.flush()


@dataclass
class Counts:
    msg_sent: int = 0
    tell_sent: int = 0
    datagrams_sent: int = 0
    datagrams_received: int = 0
    msg_received: int = 0
    tell_received: int = 0
    unreadable: int = 0
    lost_out: int = 0  # dropped on purpose by --loss
    lost_in: int = 0
    unreachable: int = 0  # ICMP port unreachable: nobody listens at the server address


@dataclass
class State:
    """What the client knows; guarded by ChatClient.lock."""

    nick: str = ""
    seen_as: str = ""
    idle_timeout: int = 0
    refused: str = ""  # ERR received while joining
    bye: str = ""
    members: list[tuple[str, str]] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)  # nicks announced LEFT (lower case)
    roster_version: int = 0
    roster_pages: dict[int, Roster] = field(default_factory=dict)


class ChatClient:
    """One member of the chat: a connected UDP socket, a network thread and the chat state."""

    def __init__(self, args: argparse.Namespace, console: Console) -> None:
        self.args = args
        self.console = console
        self.lock = threading.RLock()
        self.state = State(nick=args.nick)
        self.counts = Counts()
        self.tally = Tally()
        self.link = (
            Retransmitter(initial_rto=args.rto, max_attempts=args.max_attempts)
            if args.reliable
            else None
        )
        self.replay = ReplayWindow()
        self.rng = random.Random(args.seed or None)  # noqa: S311 - simulated loss, not crypto
        self.welcomed = threading.Event()
        self.answered = threading.Event()  # WELCOME or a refusal came: join() stops waiting
        self.finished = threading.Event()  # BYE received: we are no member any more
        self.stopping = threading.Event()
        self.sock: socket.socket | None = None
        self.thread: threading.Thread | None = None
        self.local = ""  # our address as the kernel chose it, once connected
        self.server = ""  # the server's address as resolved
        self.next_ping = float("inf")
        self.on_bye: Callable[[], None] | None = None
        self._given_up_shown = 0
        self._unreachable_shown = False

    # --- life cycle ---------------------------------------------------------------------------

    def open(self) -> None:
        """Resolve the server, connect a UDP socket to it and start the network thread."""
        host, port = split_host_port(self.args.server)
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        sock = socket.socket(family, kind, proto)
        if self.args.bind:
            sock.bind(split_host_port(self.args.bind, default_port=0))
        # connect() on UDP sends nothing: it fixes the peer, so send() needs no address, the
        # kernel filters out datagrams from anyone else, and ICMP errors are reported to us.
        sock.connect(addr)
        self.sock = sock
        self.local = format_addr(sock.getsockname())
        self.server = format_addr(addr)
        self.thread = threading.Thread(target=self._network, name="chat-network", daemon=True)
        self.thread.start()

    def join(self) -> bool:
        """Send JOIN until WELCOME (or a refusal, or ``--join-timeout``); True when joined."""
        deadline = time.monotonic() + self.args.join_timeout
        self.send(Join(self.args.nick))
        while not self.answered.wait(min(RETRY_INTERVAL, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                break
            if self.link is None:  # a reliable JOIN is retransmitted by the link
                self.send(Join(self.args.nick))
        if self.welcomed.is_set():
            return True
        with self.lock:
            if self.link is not None:  # stop resending a JOIN that was refused
                self.link.abandon()
        return False

    def leave(self) -> None:
        """Say LEAVE and wait (briefly) for BYE; the server's idle timeout covers a lost LEAVE."""
        if self.finished.is_set() or self.sock is None or not self.welcomed.is_set():
            return
        if self.link is not None:
            self._drain()
        for _ in range(1 if self.link else LEAVE_ATTEMPTS):
            self.send(Leave())
            if self.finished.wait(RETRY_INTERVAL * (3 if self.link else 1)):
                return

    def close(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=2 * MAX_WAIT + 1)
        if self.sock is not None:
            self.sock.close()

    def _drain(self) -> None:
        """Reliable mode: wait until what we sent is acknowledged (bounded by DRAIN_TIME)."""
        assert self.link is not None
        end = time.monotonic() + DRAIN_TIME
        while time.monotonic() < end:
            with self.lock:
                if not self.link.in_flight():
                    return
            time.sleep(0.05)

    # --- sending ------------------------------------------------------------------------------

    def send(self, request: Request) -> None:
        """Send a request; in reliable mode framed as REL (PING and ACK never are)."""
        with self.lock:
            if self.link is not None and not isinstance(request, (Ping, Ack)):
                data = self.link.send(request.encode().decode(), time.monotonic())
            else:
                data = request.encode()
            if isinstance(request, Msg):
                self.counts.msg_sent += 1
            elif isinstance(request, Tell):
                self.counts.tell_sent += 1
            self._transmit(data)

    def send_raw(self, data: bytes) -> None:
        with self.lock:
            self._transmit(data)

    def _transmit(self, data: bytes) -> None:
        assert self.sock is not None
        if self.args.loss and self.rng.random() < self.args.loss:
            self.counts.lost_out += 1
            self.console.trace("->", data, "   (dropped on purpose: --loss)")
            return
        try:
            self.sock.send(data)
        except ConnectionRefusedError:
            self._unreachable()
        except OSError as exc:
            self.console.show(f"! send failed: {exc.strerror}")
            return
        self.counts.datagrams_sent += 1
        self.console.trace("->", data)

    def _unreachable(self) -> None:
        self.counts.unreachable += 1
        if not self._unreachable_shown:
            self._unreachable_shown = True
            self.console.show(
                f"! {self.server} answered ICMP port unreachable: is the server running?"
            )

    # --- receiving: the network thread --------------------------------------------------------

    def _network(self) -> None:
        assert self.sock is not None
        while not self.stopping.is_set():
            try:
                ready, _, _ = select.select([self.sock], [], [], self._wait())
                if ready:
                    data = self.sock.recv(RECV_BUFFER)
                    with self.lock:
                        self._on_datagram(data)
            except ConnectionRefusedError:
                with self.lock:
                    self._unreachable()
            except OSError:
                if self.stopping.is_set():
                    return
                raise
            with self.lock:
                self._timers(time.monotonic())

    def _wait(self) -> float:
        with self.lock:
            deadline = min(self.next_ping, (self.link and self.link.next_deadline()) or 1e18)
        return max(0.0, min(MAX_WAIT, deadline - time.monotonic()))

    def _timers(self, now: float) -> None:
        if now >= self.next_ping:
            self.next_ping = now + self._ping_interval()
            self._transmit(Ping().encode())
        if self.link is None:
            return
        for data in self.link.due(now):
            self._transmit(data)
        if self.link.given_up > self._given_up_shown:
            count = self.link.given_up - self._given_up_shown
            self._given_up_shown = self.link.given_up
            self.console.show(f"! gave up {count} datagram(s) that were never acknowledged")

    def _ping_interval(self) -> float:
        if self.args.ping_interval:
            return float(self.args.ping_interval)
        if self.state.idle_timeout:
            return self.state.idle_timeout / 3
        return DEFAULT_PING_INTERVAL

    def _on_datagram(self, data: bytes) -> None:
        if self.args.loss and self.rng.random() < self.args.loss:
            self.counts.lost_in += 1
            self.console.trace("<-", data, "   (dropped on purpose: --loss)")
            return
        self.counts.datagrams_received += 1
        self.console.trace("<-", data)
        try:
            event = parse_event(data)
            if isinstance(event, Rel):
                self._transmit(Ack(event.id).encode())
                if not self.replay.accept(event.id):
                    return  # a retransmission of something delivered: ACKed again, not shown
                event = parse_event(event.body.encode())
                if isinstance(event, (Rel, Ack)):
                    raise ProtocolError("REL inside REL")
        except ProtocolError as exc:
            self.counts.unreadable += 1
            self.console.show(f"! unreadable datagram from the server ({exc}): {show_bytes(data)}")
            return
        self._on_event(event)

    def _on_event(self, event: Event) -> None:
        show = self.console.show
        state = self.state
        if isinstance(event, Welcome):
            first = not self.welcomed.is_set()
            state.nick, state.seen_as = event.nick, event.addr
            state.idle_timeout = event.idle_timeout
            if first:
                if self.args.keepalive:
                    self.next_ping = time.monotonic() + self._ping_interval()
                self.welcomed.set()
                self.answered.set()
                show(
                    f"* welcome {event.nick}: you are {self.local} here, the server "
                    f"{self.server} sees you as {event.addr}"
                )
        elif isinstance(event, Joined):
            self.tally.joined(event.nick)
            state.gone.discard(event.nick.lower())
            show(f"* {event.nick} joined")
        elif isinstance(event, Left):
            self.tally.left(event.nick)
            state.gone.add(event.nick.lower())
            show(f"* {event.nick} left ({escape_controls(event.why)})")
        elif isinstance(event, Relayed):
            self.counts.msg_received += 1
            verdict = self.tally.record(event.nick, event.seq)
            note = {"new": "", "late": "  (late)", "duplicate": "  (duplicate)"}[verdict]
            show(f"<{event.nick} #{event.seq}> {escape_controls(event.text)}{note}")
        elif isinstance(event, Private):
            self.counts.tell_received += 1
            show(f"<{event.sender} to you> {escape_controls(event.text)}")
        elif isinstance(event, Roster):
            self._roster(event)
        elif isinstance(event, Error):
            reason = escape_controls(event.reason)
            meaning = MEANINGS.get(event.code, "")
            if meaning and not reason.startswith(meaning):
                reason = f"{reason} ({meaning})".lstrip()
            if not self.welcomed.is_set():
                state.refused = f"{event.code} {reason}"
                self.answered.set()
            show(f"! server refused: {event.code} {reason}")
        elif isinstance(event, Bye):
            state.bye = escape_controls(event.why)
            show(f"* server says BYE ({state.bye}): no longer a member")
            self.finished.set()
            if self.on_bye is not None:
                self.on_bye()
        elif isinstance(event, Ack):
            if self.link is not None:
                self.link.ack(event.id, time.monotonic())
        elif isinstance(event, Pong):
            pass

    def _roster(self, page: Roster) -> None:
        pages = self.state.roster_pages
        if any(p.pages != page.pages for p in pages.values()):
            pages.clear()  # pages of an older answer: start over
        pages[page.page] = page
        if len(pages) < page.pages:
            return
        self.state.members = [m for i in sorted(pages) for m in pages[i].members]
        self.state.roster_version += 1
        pages.clear()
        entries = ", ".join(f"{nick}@{addr}" for nick, addr in self.state.members)
        self.console.show(f"* {len(self.state.members)} member(s): {entries}")

    # --- what a user or script line does ------------------------------------------------------

    def handle_line(self, line: str) -> bool:
        """Act on one typed or scripted line; False means stop (``/quit``)."""
        line = line.rstrip("\r\n")
        if not line.strip() or line.startswith("#"):
            return True
        if not line.startswith("/"):
            return self._checked(lambda: Msg(check_text(line)))
        command, _, rest = line[1:].partition(" ")
        if command == "quit":
            return False
        if command == "who":
            self.send(Who())
        elif command == "tell":
            nick, _, text = rest.partition(" ")
            return self._checked(lambda: Tell(check_nick(nick), check_text(text)))
        elif command == "raw":
            self.send_raw(rest.encode("utf-8"))
        elif command == "sleep":
            try:
                time.sleep(_seconds(rest))
            except ValueError as exc:
                self.console.show(f"! {exc}")
        elif command == "wait-for":
            self.wait_for(rest.split())
        elif command == "wait-left":
            self.wait_left(rest.strip())
        elif command == "stats":
            for text in self.summary():
                self.console.show(text)
        elif command == "help":
            self.console.show(HELP)
        else:
            self.console.show(f"! unknown command /{command}: {HELP}")
        return True

    def _checked(self, make: Callable[[], Request]) -> bool:
        try:
            request = make()
        except ChatError as exc:
            self.console.show(f"! not sent: {exc.reason} (/raw sends anything)")
            return True
        self.send(request)
        return True

    def wait_for(self, nicks: Iterable[str]) -> bool:
        """Ask WHO every half second until all ``nicks`` are members (``--wait-timeout``)."""
        wanted = {n.lower() for n in nicks}
        end = time.monotonic() + self.args.wait_timeout
        while time.monotonic() < end and not self.finished.is_set():
            with self.lock:
                version = self.state.roster_version
            self.send(Who())
            limit = min(end, time.monotonic() + 0.5)
            while time.monotonic() < limit:
                with self.lock:
                    if self.state.roster_version != version:
                        if wanted <= {n.lower() for n, _ in self.state.members}:
                            return True
                        break
                time.sleep(0.02)
            time.sleep(max(0.0, limit - time.monotonic()))
        self.console.show(f"! gave up waiting for {' '.join(sorted(wanted))}")
        return False

    def wait_left(self, nick: str) -> bool:
        """Wait until ``LEFT nick`` arrives (``--wait-timeout``): a receiver stays till the end."""
        end = time.monotonic() + self.args.wait_timeout
        while time.monotonic() < end and not self.finished.is_set():
            with self.lock:
                if nick.lower() in self.state.gone:
                    return True
            time.sleep(0.02)
        self.console.show(f"! gave up waiting for {nick} to leave")
        return False

    # --- the summary --------------------------------------------------------------------------

    def summary(self) -> list[str]:
        """Counters as ``summary <topic> key=value ...`` lines (stable, so tests read them)."""
        with self.lock:
            c, s = self.counts, self.state
            lines = [
                f"summary self nick={s.nick} local={self.local} seen_as={s.seen_as or '-'} "
                f"server={self.server}",
                f"summary sent msg={c.msg_sent} tell={c.tell_sent} datagrams={c.datagrams_sent}"
                f" dropped_on_purpose={c.lost_out} unreachable={c.unreachable}",
                f"summary received msg={c.msg_received} tell={c.tell_received} "
                f"datagrams={c.datagrams_received} dropped_on_purpose={c.lost_in} "
                f"unreadable={c.unreadable}",
            ]
            for nick, t in sorted(self.tally.senders.items()):
                lines.append(
                    f"summary sender={nick} received={t.received} lost={t.missing} "
                    f"duplicates={t.duplicates} reordered={t.reordered}"
                )
            t = self.tally.totals()
            lines.append(
                f"summary total received={t.received} lost={t.missing} "
                f"duplicates={t.duplicates} reordered={t.reordered}"
            )
            if self.link is not None:
                srtt = f"{self.link.srtt * 1000:.1f}" if self.link.srtt is not None else "-"
                lines.append(
                    f"summary reliable sent={self.link.sent} "
                    f"retransmitted={self.link.retransmitted} acked={self.link.acked} "
                    f"given_up={self.link.given_up} in_flight={self.link.in_flight()} "
                    f"duplicates_suppressed={self.replay.duplicates} srtt_ms={srtt} "
                    f"rto_ms={self.link.rto * 1000:.0f}"
                )
            return lines


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        raise ValueError(f"/sleep needs seconds from 0 to 3600, got {text!r}")
    return value


# --- the two modes --------------------------------------------------------------------------


def run_interactive(client: ChatClient) -> int:
    console = client.console
    console.prompt = f"{client.args.nick}> "
    console.show(HELP)
    main_thread = threading.main_thread()

    def bye() -> None:
        # The server ended our membership while input() may be blocked: interrupt it.
        if threading.current_thread() is not main_thread:
            os.kill(os.getpid(), signal.SIGINT)

    client.on_bye = bye
    try:
        while not client.finished.is_set():
            console.reading = True
            try:
                line = input(console.prompt)
            except EOFError:
                break
            finally:
                console.reading = False
            if not client.handle_line(line):
                break
    except KeyboardInterrupt:
        console.plain("")
    finally:
        client.on_bye = None  # our own LEAVE is answered with BYE too: no interrupt for that
    return 0


def run_script(client: ChatClient, lines: Iterable[str]) -> int:
    for line in lines:
        if client.finished.is_set():
            break
        if not client.handle_line(line):
            break
        if client.args.interval:
            time.sleep(client.args.interval)
    client.finished.wait(client.args.linger)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = settings.load(SETTINGS, argv, prog=PROG, description=DESCRIPTION)
    try:
        check_nick(args.nick)
    except ChatError:
        rule = "1-16 of A-Z a-z 0-9 _ -"
        problem = f"must be {rule}, got {args.nick!r}" if args.nick else f"is required: {rule}"
        sys.stderr.write(f"udp_chat.client: error: --nick {problem}\n")
        return 2
    script: Iterable[str] | None = None
    if args.script and args.script != "-":
        try:
            with open(args.script, encoding="utf-8") as handle:
                script = handle.readlines()
        except OSError as exc:
            sys.stderr.write(f"udp_chat.client: error: cannot read {args.script}: {exc.strerror}\n")
            return 2
    elif args.script == "-" or not sys.stdin.isatty():
        script = sys.stdin
    interactive = script is None
    console = Console(sys.stdout, interactive=interactive, trace=args.trace or not interactive)
    client = ChatClient(args, console)
    try:
        client.open()
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"udp_chat.client: error: cannot reach {args.server}: {exc}\n")
        return 1
    console.show(f"* udp socket {client.local} -> {client.server}; joining as {args.nick}")
    status = 0
    try:
        if not client.join():
            with client.lock:
                why = client.state.refused or f"no WELCOME within {args.join_timeout:g} s"
            console.show(f"! could not join: {why}")
            status = 1
        elif interactive:
            status = run_interactive(client)
        else:
            assert script is not None
            status = run_script(client, script)
        client.leave()
    except KeyboardInterrupt:
        client.leave()
    finally:
        client.close()
        for line in client.summary():
            console.plain(line)
    return status


if __name__ == "__main__":
    sys.exit(main())
