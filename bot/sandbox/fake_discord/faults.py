"""Errors injected into the next matching REST request (rate limits, server errors)."""

from __future__ import annotations

import re
from dataclasses import dataclass
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


class FaultInjector:
    def __init__(self) -> None:
        self.rules: list[InjectedError] = []

    def add(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        retry_after: float = 0.5,
        is_global: bool = False,
        times: int = 1,
    ) -> InjectedError:
        rule = InjectedError(
            method=method.upper(),
            path=re.compile(path_regex),
            status=status,
            retry_after=retry_after,
            is_global=is_global,
            remaining=times,
        )
        self.rules.append(rule)
        return rule

    def take(self, method: str, path: str) -> web.Response | None:
        for rule in self.rules:
            if rule.matches(method, path):
                return rule.response()
        return None
