"""Snowflake ids and tokens shaped like Discord's, so discord.py's helpers (e.g. creation times) work on
them."""

from __future__ import annotations

import itertools
import secrets
import time

DISCORD_EPOCH_MS = 1_420_070_400_000


class SnowflakeFactory:
    """Monotonic snowflakes: milliseconds since Discord's epoch in the high bits, a counter in the low 22."""

    def __init__(self) -> None:
        self._counter = itertools.count()
        self._last = 0

    def next(self) -> int:
        now_ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        candidate = (now_ms << 22) | (next(self._counter) & 0x3FFFFF)
        self._last = max(candidate, self._last + 1)
        return self._last


def new_token(prefix: str) -> str:
    """An unguessable token, like an interaction or webhook token."""
    return f"{prefix}.{secrets.token_urlsafe(24)}"
