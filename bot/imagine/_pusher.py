"""Latest-state-wins, throttled updates of a job's message.

The engine reports progress every step and the queue reports position changes; Discord allows an edit every
few seconds per token. :class:`StatePusher` keeps only the newest state, edits at most once per ``interval_s``
(the first edit goes out at once) and never lets an intermediate edit land after :meth:`close` returns, so the
final state written afterwards is the last word.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import discord

from bot.replies import Attachment, StatusMessage

log = logging.getLogger(__name__)


class StatePusher:
    def __init__(self, status: StatusMessage, *, interval_s: float) -> None:
        self._status = status
        self._interval_s = interval_s
        self._pending: tuple[str, Sequence[Attachment], discord.ui.View | None] | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self.edits = 0

    def push(
        self, content: str, *, attachments: Sequence[Attachment] = (), view: discord.ui.View | None = None
    ) -> None:
        """Schedule ``content`` as the message's next intermediate state (replacing any not yet sent)."""
        if self._closed:
            return
        self._pending = (content, attachments, view)
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="imaginebot-status-edits")

    async def _loop(self) -> None:
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            state, self._pending = self._pending, None
            if state is None:
                continue
            content, attachments, view = state
            self._idle.clear()
            try:
                if await self._status.show(content, attachments=attachments, view=view):
                    self.edits += 1
            except Exception:
                log.exception("status edit failed")
            finally:
                self._idle.set()
            await asyncio.sleep(self._interval_s)

    async def close(self, wait_s: float = 10.0) -> None:
        """Drop pending states and wait (bounded) for an edit in flight, so the final state comes last."""
        self._closed = True
        task, self._task = self._task, None
        if task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), wait_s)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
