"""A pixel judge for ``shapes`` images: reads background colour, object colour, shape, size and position.

- background: the palette colour most border pixels are nearest to;
- object: the pixels clearly unlike the background, cleaned by a 3×3 opening, then the largest blob;
- object colour: the palette colour nearest the median of the blob's inner pixels;
- size and position: from the blob's bounding box (the same geometry the generator draws with);
- shape: the best intersection-over-union of the blob, scaled to its bounding box, with each shape's template.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from engine.training import shapes

TEMPLATE = 32
_OBJECT_THRESHOLD = 60.0  # RGB distance from the background colour that counts as "object"
_MIN_AREA = 0.004  # fraction of the image an object must cover to be read at all


@dataclass(frozen=True, slots=True)
class Reading:
    """What the judge reads from one image; ``None`` object fields mean no object was found."""

    background: str
    colour: str | None
    shape: str | None
    size: str | None
    position: str | None
    shape_iou: float = 0.0

    def attributes(self) -> dict[str, str | None]:
        return {
            "size": self.size,
            "colour": self.colour,
            "shape": self.shape,
            "position": self.position,
            "background": self.background,
        }


def _nearest(rgb: np.ndarray, palette: Mapping[str, tuple[int, int, int]]) -> str:
    names = list(palette)
    colours = np.array([palette[n] for n in names], dtype=np.float32)
    return names[int(np.argmin(((colours - rgb) ** 2).sum(1)))]


@cache
def _templates() -> dict[str, np.ndarray]:
    out = {}
    for shape in shapes.SHAPES:
        big = TEMPLATE * 4
        image = Image.new("L", (big, big), 0)
        shapes.draw_shape(ImageDraw.Draw(image), shape, (0, 0, big - 1, big - 1), 255)
        out[shape] = np.asarray(image.resize((TEMPLATE, TEMPLATE), Image.Resampling.BOX)) > 127
    return out


def _largest_blob(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected component of ``mask`` (a small flood fill; images are ≤ a few hundred px)."""
    labels = np.zeros(mask.shape, dtype=np.int32)
    best_label, best_size, current = 0, 0, 0
    height, width = mask.shape
    for y, x in zip(*np.nonzero(mask), strict=True):
        if labels[y, x]:
            continue
        current += 1
        stack = [(y, x)]
        labels[y, x] = current
        size = 0
        while stack:
            cy, cx = stack.pop()
            size += 1
            for ny, nx in ((cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)):
                if 0 <= ny < height and 0 <= nx < width and mask[ny, nx] and not labels[ny, nx]:
                    labels[ny, nx] = current
                    stack.append((ny, nx))
        if size > best_size:
            best_label, best_size = current, size
    return labels == best_label if best_size else np.zeros_like(mask)


def _open(mask: np.ndarray) -> np.ndarray:
    image = Image.fromarray(mask.astype(np.uint8) * 255)
    image = image.filter(ImageFilter.MinFilter(3)).filter(ImageFilter.MaxFilter(3))
    return np.asarray(image) > 127


def read(image: np.ndarray | Image.Image) -> Reading:
    """Read the attributes of one RGB image (any square size)."""
    pixels = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image).astype(np.float32)
    side = pixels.shape[0]
    ring = max(2, side // 32)
    border = np.concatenate(
        [
            pixels[:ring].reshape(-1, 3),
            pixels[-ring:].reshape(-1, 3),
            pixels[:, :ring].reshape(-1, 3),
            pixels[:, -ring:].reshape(-1, 3),
        ]
    )
    palette = shapes.BACKGROUND_COLOURS
    names = list(palette)
    colours = np.array([palette[n] for n in names], dtype=np.float32)
    votes = np.bincount(((border[:, None, :] - colours[None]) ** 2).sum(-1).argmin(1), minlength=len(names))
    background = names[int(votes.argmax())]
    bg_rgb = np.median(
        border[((border - colours[votes.argmax()]) ** 2).sum(1).argsort()[: len(border) // 2]], 0
    )
    distance = np.sqrt(((pixels - bg_rgb) ** 2).sum(-1))
    mask = _largest_blob(_open(distance > _OBJECT_THRESHOLD))
    if mask.sum() < _MIN_AREA * side * side:
        return Reading(background, None, None, None, None)
    inner = _open(_open(mask)) if mask.sum() > 64 else mask
    colour_pixels = pixels[inner if inner.any() else mask]
    colour = _nearest(np.median(colour_pixels, 0), shapes.OBJECT_COLOURS)
    ys, xs = np.nonzero(mask)
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    extent = max(bottom - top, right - left) / side
    small, large = shapes.SIZE_EXTENTS["small"], shapes.SIZE_EXTENTS["large"]
    size = "small" if extent < (small + large) / 2 else "large"
    cx, cy = (left + right) / 2 / side, (top + bottom) / 2 / side
    position = min(
        shapes.POSITION_CENTRES,
        key=lambda p: (shapes.POSITION_CENTRES[p][0] - cx) ** 2 + (shapes.POSITION_CENTRES[p][1] - cy) ** 2,
    )
    crop = Image.fromarray(mask[top:bottom, left:right].astype(np.uint8) * 255)
    scaled = np.asarray(crop.resize((TEMPLATE, TEMPLATE), Image.Resampling.BILINEAR)) > 127
    ious = {
        name: float((scaled & template).sum() / max(1, (scaled | template).sum()))
        for name, template in _templates().items()
    }
    shape = max(ious, key=ious.__getitem__)
    return Reading(background, colour, shape, size, position, ious[shape])


def score(reading: Reading, mentioned: Mapping[str, str]) -> dict[str, bool]:
    """Per mentioned attribute: did the image get it right?"""
    got = reading.attributes()
    return {key: got[key] == value for key, value in mentioned.items()}
