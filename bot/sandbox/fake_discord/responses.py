"""JSON responses exactly as Discord sends them.

discord.py parses a body as JSON only when `Content-Type` is exactly `application/json` (no charset), so
aiohttp's `json_response` (which appends `; charset=utf-8`) cannot be used.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def json_response(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    all_headers = {"Content-Type": "application/json"}
    all_headers.update(headers or {})
    return web.Response(body=json.dumps(data).encode(), status=status, headers=all_headers)


def error_response(status: int, message: str, code: int = 0) -> web.Response:
    return json_response({"message": message, "code": code}, status=status)
