"""Canvases for outpainting and inpainting: where the source lands, what is redrawn, and the final composite.

Torch-free geometry on PIL images. A :class:`Canvas` is the starting image of an edit (the source placed on
it, the unknown part pre-filled by stretching the source's edge pixels outwards, which gives the sampler the
right colours to start from) and the mask (255 = redraw); its size is the output size. :func:`composite` puts
the kept pixels back exactly, so whatever the VAE round trip did to them, they leave the engine unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from engine.api import REGION_CELLS, OutpaintMode, PanDirection
from engine.errors import InvalidRequest
from engine.local.sizes import MAX_ASPECT, MAX_SIDE_FACTOR

GRID_SIDE = 3  # Vary (Region) cells per row and column


@dataclass(frozen=True, slots=True)
class Canvas:
    """``image``: the starting picture (output size); ``mask``: ``L`` image, 255 where pixels are drawn."""

    image: Image.Image
    mask: Image.Image

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


def _ceil_to(value: float, multiple: int) -> int:
    return max(multiple, math.ceil(value / multiple) * multiple)


def _placed(source: Image.Image, size: tuple[int, int], box: tuple[int, int]) -> Canvas:
    """``source`` pasted at ``box`` (left, top) on a canvas of ``size``; the rest edge-filled and masked."""
    width, height = size
    left, top = box
    pixels = np.asarray(source.convert("RGB"))
    pad = ((top, height - top - source.height), (left, width - left - source.width), (0, 0))
    image = Image.fromarray(np.pad(pixels, pad, mode="edge"))
    mask = Image.new("L", size, 255)
    mask.paste(0, (left, top, left + source.width, top + source.height))
    return Canvas(image, mask)


def check_outpaint_size(width: int, height: int, *, native: int, what: str) -> None:
    """Refuse results beyond the aspect limit or the largest side the engine renders."""
    ratio = max(width / height, height / width)
    if ratio > MAX_ASPECT + 1e-9:
        raise InvalidRequest(
            f"{what} would make the image {width}×{height} ({ratio:.2g}:1), beyond the "
            f"{MAX_ASPECT:g}:1 aspect limit."
        )
    limit = native * MAX_SIDE_FACTOR
    if max(width, height) > limit:
        raise InvalidRequest(
            f"{what} would make the image {width}×{height}, larger than {limit} px on a side."
        )


def zoom_canvas(source: Image.Image, factor: float) -> Canvas:
    """The source shrunk ``factor`` times into the centre of a canvas of its own size."""
    width, height = source.size
    inner = (max(1, round(width / factor)), max(1, round(height / factor)))
    small = source if inner == source.size else source.resize(inner, Image.Resampling.LANCZOS)
    return _placed(small, (width, height), ((width - inner[0]) // 2, (height - inner[1]) // 2))


def pan_canvas(source: Image.Image, direction: PanDirection, *, multiple: int, native: int) -> Canvas:
    """The source extended by half its width/height towards ``direction`` (rounded up to ``multiple``)."""
    width, height = source.size
    horizontal = direction in ("left", "right")
    extra = _ceil_to((width if horizontal else height) / 2, multiple)
    size = (width + extra, height) if horizontal else (width, height + extra)
    check_outpaint_size(*size, native=native, what=f"Panning {direction}")
    box = {"left": (extra, 0), "right": (0, 0), "up": (0, extra), "down": (0, 0)}[direction]
    return _placed(source, size, box)


def square_canvas(source: Image.Image, *, native: int) -> Canvas:
    """The short side extended on both sides to a square (the long side's length)."""
    width, height = source.size
    if width == height:
        raise InvalidRequest("The image is already square.")
    side = max(width, height)
    check_outpaint_size(side, side, native=native, what="Making it square")
    return _placed(source, (side, side), ((side - width) // 2, (side - height) // 2))


def outpaint_canvas(
    source: Image.Image,
    mode: OutpaintMode,
    *,
    zoom: float = 2.0,
    direction: PanDirection | None = None,
    multiple: int,
    native: int,
) -> Canvas:
    if mode == "zoom":
        return zoom_canvas(source, zoom)
    if mode == "pan":
        if direction is None:
            raise InvalidRequest("Panning needs a direction.")
        return pan_canvas(source, direction, multiple=multiple, native=native)
    return square_canvas(source, native=native)


def region_mask(size: tuple[int, int], regions: tuple[int, ...]) -> Image.Image:
    """255 inside the chosen cells of a 3×3 grid (1 top-left … 9 bottom-right), 0 elsewhere."""
    width, height = size
    mask = Image.new("L", size, 0)
    for cell in regions:
        if not 1 <= cell <= REGION_CELLS:
            raise InvalidRequest(f"Regions are cells 1 to {REGION_CELLS}; got {cell}.")
        row, column = divmod(cell - 1, GRID_SIDE)
        box = (
            round(column * width / GRID_SIDE),
            round(row * height / GRID_SIDE),
            round((column + 1) * width / GRID_SIDE),
            round((row + 1) * height / GRID_SIDE),
        )
        mask.paste(255, box)
    return mask


def user_mask(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A mask image (white = redraw) resized to ``size`` and made binary; refuses an empty or full mask."""
    grey = image.convert("L")
    if grey.size != size:
        grey = grey.resize(size, Image.Resampling.NEAREST)
    mask = grey.point(lambda value: 255 if value > 127 else 0)
    values = np.asarray(mask)
    if not values.any():
        raise InvalidRequest("The mask is empty: paint the part to redraw white.")
    if values.all():
        raise InvalidRequest("The mask covers the whole image; that is a plain variation.")
    return mask


def composite(generated: Image.Image, canvas: Canvas) -> Image.Image:
    """Generated pixels inside the mask, the canvas's own pixels (exactly) outside it."""
    if generated.size != canvas.size:
        generated = generated.resize(canvas.size, Image.Resampling.LANCZOS)
    return Image.composite(generated.convert("RGB"), canvas.image, canvas.mask)
