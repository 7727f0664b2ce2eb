"""Image bytes in and out: decoding source tiles, PNG encoding, and the 2×2 grid."""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence

from PIL import Image

from engine.errors import InvalidRequest

MAX_SOURCE_PIXELS = 4096 * 4096
PNG_COMPRESS_LEVEL = 3


def decode_source(data: bytes) -> Image.Image:
    """Decode PNG/JPEG/WebP bytes into RGB, refusing empty, corrupt or enormous images."""
    if not data:
        raise InvalidRequest("The source image is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_SOURCE_PIXELS:
                raise InvalidRequest(f"The source image is too large ({image.width}×{image.height}).")
            image.load()
    except InvalidRequest:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise InvalidRequest(
            "The source image could not be read (expected a PNG, JPEG or WebP image)."
        ) from None
    return image.convert("RGB")


def encode_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def grid_image(tiles: Sequence[Image.Image]) -> Image.Image:
    """Tiles laid out two per row: 1 top-left, 2 top-right, 3 bottom-left, 4 bottom-right."""
    if not tiles:
        raise ValueError("no tiles")
    width, height = tiles[0].size
    columns = 1 if len(tiles) == 1 else 2
    rows = (len(tiles) + columns - 1) // columns
    grid = Image.new("RGB", (columns * width, rows * height))
    for index, tile in enumerate(tiles):
        grid.paste(tile, ((index % columns) * width, (index // columns) * height))
    return grid
