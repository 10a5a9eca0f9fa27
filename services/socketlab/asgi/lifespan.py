"""The ASGI 3 ``lifespan`` scope (django/asgiref ``specs/lifespan.rst``).

:class:`Lifespan` runs the scope once per process: startup before the first connection is
accepted, shutdown after the last one is done, with a state dict that every request's scope
gets a shallow copy of. An application that raises at once on that scope does not support it,
and with ``mode = "auto"`` the server goes on without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Final

from .types import ASGIApp, Message, Scope

log = logging.getLogger("socketlab.asgi")

LIFESPAN_VERSION: Final = {"version": "3.0", "spec_version": "2.0"}

LIFESPAN_TIMEOUT: Final = 30.0
"""Seconds an application's startup or shutdown may take (uvicorn has no bound; a lab server
that hangs forever at start helps nobody)."""


class Lifespan:
    """The ``lifespan`` scope: one task that lives from startup to shutdown."""

    def __init__(self, app: ASGIApp, mode: str = "auto") -> None:
        self.app = app
        self.mode = mode  # "on": a failure stops the server; "auto": unsupported is fine
        self.state: dict[str, Any] = {}
        self.supported = mode != "off"
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._sent_any = False

    async def _run(self) -> None:
        scope: Scope = {"type": "lifespan", "asgi": LIFESPAN_VERSION, "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except Exception as exc:
            if not self._sent_any and self.mode == "auto":
                log.info("the application does not support the lifespan scope (%s)", exc)
            else:
                log.exception("the application's lifespan failed")
            self.supported = False
            await self._from_app.put({"type": "lifespan.gone"})
        else:
            await self._from_app.put({"type": "lifespan.gone"})

    async def _receive(self) -> Message:
        return await self._to_app.get()

    async def _send(self, message: Message) -> None:
        self._sent_any = True
        kind = message.get("type")
        if kind not in (
            "lifespan.startup.complete",
            "lifespan.startup.failed",
            "lifespan.shutdown.complete",
            "lifespan.shutdown.failed",
        ):
            raise RuntimeError(f"unknown ASGI message type {kind!r} for a lifespan scope")
        await self._from_app.put(message)

    async def startup(self) -> str | None:
        """Run the startup; the failure message (to exit with) or None when it may go on."""
        if not self.supported:
            return None
        self._task = asyncio.get_running_loop().create_task(self._run(), name="lifespan")
        await self._to_app.put({"type": "lifespan.startup"})
        try:
            answer = await asyncio.wait_for(self._from_app.get(), LIFESPAN_TIMEOUT)
        except TimeoutError:
            return f"the application's startup took more than {LIFESPAN_TIMEOUT:g} s"
        kind = answer["type"]
        if kind == "lifespan.startup.complete":
            return None
        if kind == "lifespan.startup.failed":
            return "the application's startup failed: " + str(answer.get("message", ""))
        if self.mode == "on":
            return "the application's lifespan ended during startup"
        return None

    async def shutdown(self) -> None:
        if not self.supported or self._task is None or self._task.done():
            return
        await self._to_app.put({"type": "lifespan.shutdown"})
        try:
            answer = await asyncio.wait_for(self._from_app.get(), LIFESPAN_TIMEOUT)
        except TimeoutError:
            log.error("the application's shutdown took more than %g s", LIFESPAN_TIMEOUT)
            self._task.cancel()
            return
        if answer["type"] == "lifespan.shutdown.failed":
            log.error("the application's shutdown failed: %s", answer.get("message", ""))
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(self._task, 1.0)
