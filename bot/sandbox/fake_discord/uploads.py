"""Request bodies as Discord reads them: a JSON object, or multipart with `payload_json` and `files[n]`
parts."""

from __future__ import annotations

import json
import mimetypes
import re
import struct
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

_FILE_FIELD = re.compile(r"^files\[(\d+)\]$|^file(\d*)$")


@dataclass(frozen=True)
class UploadedFile:
    index: int
    filename: str
    data: bytes
    content_type: str


class BadRequest(Exception):
    """A body Discord would refuse (400); `code` and `message` follow Discord's JSON error format."""

    def __init__(self, message: str, *, code: int = 50035, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


async def read_body(request: web.Request) -> tuple[dict[str, Any], list[UploadedFile]]:
    """The JSON payload of a request and its uploaded files (empty for a JSON body)."""
    if request.content_type.startswith("multipart/"):
        return await _read_multipart(request)
    if not request.can_read_body:
        return {}, []
    raw = await request.read()
    if not raw:
        return {}, []
    if request.content_type != "application/json":
        raise BadRequest(f"expected Content-Type application/json, got {request.content_type!r}", code=50109)
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}", code=50109) from None
    if not isinstance(payload, dict):
        raise BadRequest("the request body must be a JSON object", code=50109)
    return payload, []


async def _read_multipart(request: web.Request) -> tuple[dict[str, Any], list[UploadedFile]]:
    reader = await request.multipart()
    payload: dict[str, Any] = {}
    files: list[UploadedFile] = []
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise BadRequest("nested multipart bodies are not supported")
        name = part.name or ""
        if name == "payload_json":
            try:
                payload = json.loads(await part.text())
            except ValueError as exc:
                raise BadRequest(f"payload_json is not valid JSON: {exc}") from None
            continue
        match = _FILE_FIELD.match(name)
        if match is None:
            raise BadRequest(f"unexpected multipart field {name!r}")
        index = int(match.group(1) if match.group(1) is not None else (match.group(2) or 0))
        filename = part.filename or f"file{index}"
        data = bytes(await part.read(decode=False))
        content_type = part.headers.get("Content-Type") or ""
        if not content_type or content_type == "application/octet-stream":
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        files.append(UploadedFile(index=index, filename=filename, data=data, content_type=content_type))
    return payload, files


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, GIF, JPEG or WebP image, read from its header; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return _webp_size(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    offset = 2
    while offset + 9 < len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        length = int.from_bytes(data[offset + 2 : offset + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            height, width = struct.unpack(">HH", data[offset + 5 : offset + 9])
            return int(width), int(height)
        offset += 2 + length
    return None
