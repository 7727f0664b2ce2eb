"""Shared test helpers for the database tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.db import JobRecord

GUILD = 1000
CHANNEL = 2000
ADMIN = 9
Submit = Callable[..., Awaitable[JobRecord]]


class Clock:
    """An injectable clock the tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)
