"""Refusals of the chat protocol: each knows its code, its reason and how to render itself.

A :class:`ChatError` always means *the peer* broke a rule (bad bytes, unknown command, a nickname
that is taken); it becomes one ``ERR <code> <reason>`` datagram. Failures of the server itself are
``OSError`` and friends, logged by the socket loop, never sent to a peer. The codes borrow the
meaning of the HTTP status codes of the same number (RFC 9110 §15) so that they read familiarly.
"""

from __future__ import annotations


class ChatError(Exception):
    """A datagram was refused; ``str()`` is the reason, :meth:`line` the ``ERR`` reply."""

    code = 400
    default_reason = "bad request"

    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason or self.default_reason
        super().__init__(self.reason)

    def line(self) -> str:
        return f"ERR {self.code} {self.reason}"


class BadRequest(ChatError):
    """Not a well-formed command: empty, invalid UTF-8, control characters, missing argument."""

    code = 400


class NotJoined(ChatError):
    """The command needs membership and the sending address has not joined."""

    code = 401
    default_reason = "join first"


class NoSuchNick(ChatError):
    """``TELL`` names a nickname nobody holds."""

    code = 404
    default_reason = "no such nick"


class Conflict(ChatError):
    """The nickname belongs to another address, or this address already holds another one."""

    code = 409
    default_reason = "nick in use"


class TooLong(ChatError):
    """The datagram or its text is over the protocol's size limit."""

    code = 413
    default_reason = "too long"


class BadNick(ChatError):
    """The nickname breaks the nickname rules (length, characters)."""

    code = 422
    default_reason = "bad nick"


class RateLimited(ChatError):
    """The address sends faster than its rate limit; datagrams are being dropped."""

    code = 429
    default_reason = "slow down"


class UnknownCommand(ChatError):
    """The first word is no command of this protocol."""

    code = 501
    default_reason = "unknown command"


class ServerFull(ChatError):
    """The member table is full (it is bounded so that memory is)."""

    code = 503
    default_reason = "server full"


#: What each code means, for a client to explain a reason that was cut short (a refusal to an
#: address that has not joined is cut to the size of what it sent: anti-amplification).
MEANINGS: dict[int, str] = {
    cls.code: cls.default_reason
    for cls in (
        BadRequest,
        NotJoined,
        NoSuchNick,
        Conflict,
        TooLong,
        BadNick,
        RateLimited,
        UnknownCommand,
        ServerFull,
    )
}


class ProtocolError(Exception):
    """A datagram from the *server* that the client cannot understand (client side only)."""
