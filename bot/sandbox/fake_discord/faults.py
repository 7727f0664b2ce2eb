"""Faults injected into the next matching REST requests: rate limits and server errors, dropped connections
(the client sees a network error, no HTTP answer), and holds (a request waits, before or after Discord applied
it, until the test releases it: "the bot died here" when the test kills the bot meanwhile)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .responses import json_response


@dataclass
class InjectedError:
    method: str
    path: re.Pattern[str]
    status: int
    retry_after: float
    is_global: bool
    remaining: int
    hits: int = 0
    disconnect: bool = False

    def matches(self, method: str, path: str) -> bool:
        return self.remaining > 0 and self.method in ("*", method) and self.path.search(path) is not None

    def response(self) -> web.Response:
        self.remaining -= 1
        self.hits += 1
        if self.status == 429:
            body: dict[str, Any] = {
                "message": "You are being rate limited.",
                "retry_after": self.retry_after,
                "global": self.is_global,
                "code": 0,
            }
            headers = {
                # discord.py treats a 429 without `Via` as a Cloudflare ban and does not retry.
                "Via": "1.1 google",
                "Retry-After": str(max(1, round(self.retry_after))),
                "X-RateLimit-Scope": "global" if self.is_global else "user",
            }
            if self.is_global:
                headers["X-RateLimit-Global"] = "true"
            return json_response(body, status=429, headers=headers)
        body = {"message": f"{self.status}: injected error", "code": 0}
        return json_response(body, status=self.status)


@dataclass
class Hold:
    """Holds the first request matching ``method`` and ``path`` (multipart ones only with ``multipart``):
    with ``apply`` Discord applies it and holds only the answer. ``reached`` is set when it is held."""

    method: str
    path: re.Pattern[str]
    multipart: bool
    apply: bool
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    _released: asyncio.Event = field(default_factory=asyncio.Event)
    used: bool = False
    dropped: bool = False

    def matches(self, method: str, path: str, content_type: str) -> bool:
        if self.used or self.method not in ("*", method) or self.path.search(path) is None:
            return False
        return not self.multipart or content_type.startswith("multipart/")

    async def wait(self) -> None:
        self.reached.set()
        await self._released.wait()

    def release(self, *, drop: bool = False) -> None:
        """Let the held request go on; with ``drop`` (the client is gone) a request held before Discord saw
        it is never applied, and one held after it was applied loses its answer (the connection drops)."""
        self.dropped = self.dropped or drop
        self._released.set()


class FaultInjector:
    def __init__(self) -> None:
        self.rules: list[InjectedError] = []
        self.holds: list[Hold] = []

    def hold(self, method: str, path_regex: str, *, multipart: bool = False, apply: bool = False) -> Hold:
        rule = Hold(method=method.upper(), path=re.compile(path_regex), multipart=multipart, apply=apply)
        self.holds.append(rule)
        return rule

    def take_hold(self, method: str, path: str, content_type: str) -> Hold | None:
        for rule in self.holds:
            if rule.matches(method, path, content_type):
                rule.used = True
                return rule
        return None

    def release_all(self) -> None:
        for rule in self.holds:
            rule.release(drop=True)

    def add(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        retry_after: float = 0.5,
        is_global: bool = False,
        times: int = 1,
        disconnect: bool = False,
    ) -> InjectedError:
        rule = InjectedError(
            method=method.upper(),
            path=re.compile(path_regex),
            status=status,
            retry_after=retry_after,
            is_global=is_global,
            remaining=times,
            disconnect=disconnect,
        )
        self.rules.append(rule)
        return rule

    def take(self, method: str, path: str) -> InjectedError | None:
        """The rule that answers this request (call its ``response()``), if any."""
        for rule in self.rules:
            if rule.matches(method, path):
                return rule
        return None
