"""Image work for posting results. Every function here is blocking: call it with ``asyncio.to_thread``.

Full-size PNG tiles (and the PNG grid) are kept on disk under ``images_dir/<job id>/``; Discord gets the PNG
itself when it fits the interaction's attachment size limit, and a JPEG only when it has to, to fit.
"""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from engine.api import GenerationResult

DEFAULT_SIZE_LIMIT = 10 * 1024 * 1024
_QUALITIES = (90, 80, 70, 55, 40)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True, slots=True)
class SavedImage:
    tile: int
    seed: int
    path: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class SavedResult:
    images: tuple[SavedImage, ...]
    grid_path: str | None


def save_result(images_dir: Path, job_id: int, result: GenerationResult) -> SavedResult:
    """Write every output image as PNG (``tile-<n>.png``, ``grid.png``) and return their paths."""
    folder = images_dir / str(job_id)
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[SavedImage] = []
    for index, data in enumerate(result.images, start=1):
        path = folder / f"tile-{index}.png"
        _write(path, data)
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
        seed = result.seeds[index - 1] if index - 1 < len(result.seeds) else result.seeds[-1]
        saved.append(SavedImage(tile=index, seed=seed, path=str(path.resolve()), width=width, height=height))
    grid_path: str | None = None
    if result.grid is not None:
        grid = folder / "grid.png"
        _write(grid, result.grid)
        grid_path = str(grid.resolve())
    return SavedResult(images=tuple(saved), grid_path=grid_path)


def discard_result(images_dir: Path, job_id: int) -> None:
    """Remove the files of a result that was not recorded (cancelled or failed meanwhile)."""
    shutil.rmtree(images_dir / str(job_id), ignore_errors=True)


def _write(path: Path, data: bytes) -> None:
    partial = path.with_suffix(path.suffix + ".part")
    partial.write_bytes(data)
    partial.replace(path)


def read_image(path: str) -> bytes:
    return Path(path).read_bytes()


def _budget(limit: int) -> int:
    return max(limit - 16 * 1024, 64 * 1024)  # room for the multipart envelope


def attachment(image_bytes: bytes, limit: int, *, name: str) -> tuple[str, bytes]:
    """``(filename, bytes)`` to post: the PNG itself when it fits ``limit``, else a JPEG made to fit."""
    if image_bytes.startswith(_PNG_SIGNATURE) and len(image_bytes) <= _budget(limit):
        return f"{name}.png", image_bytes
    return compact(image_bytes, limit, name=name)


def attachment_from_file(path: str, limit: int, *, name: str) -> tuple[str, bytes]:
    """:func:`attachment` of a stored image (posting a recorded result after a restart)."""
    return attachment(read_image(path), limit, name=name)


def compact(image_bytes: bytes, limit: int, *, name: str) -> tuple[str, bytes]:
    """``(filename, JPEG bytes)`` under ``limit`` bytes: lower quality first, then smaller sizes."""
    with Image.open(io.BytesIO(image_bytes)) as opened:
        image = opened.convert("RGB")
    budget = _budget(limit)
    while True:
        for quality in _QUALITIES:
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=quality, optimize=True)
            if buffer.tell() <= budget:
                return f"{name}.jpg", buffer.getvalue()
        if min(image.size) <= 64:
            return f"{name}.jpg", buffer.getvalue()
        image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.Resampling.LANCZOS)
