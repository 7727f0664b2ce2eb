"""Output sizes: aspect ratios within a model's native pixel budget, on the grid the model needs."""

from __future__ import annotations

import math

from engine.api import MAX_ASPECT, check_aspect
from engine.errors import InvalidRequest

__all__ = ["check_aspect", "check_explicit_size", "fit_source", "size_for_aspect"]

MAX_SIDE_FACTOR = 4  # an explicit width/height may be at most 4× the native side


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


def size_for_aspect(aspect: tuple[int, int], *, native: int, multiple: int) -> tuple[int, int]:
    """``(w, h)``, both multiples of ``multiple``, with at most ``native²`` pixels: the closest ratio
    to ``aspect`` in the same orientation, preferring sizes that use more of the budget."""
    w, h = aspect
    check_aspect(w, h)
    budget = native * native
    ratio = w / h
    best: tuple[float, int, int] | None = None
    for width in range(multiple, native * int(MAX_ASPECT) + multiple, multiple):
        exact = width / ratio / multiple
        for height in {max(1, math.floor(exact)) * multiple, max(1, math.ceil(exact)) * multiple}:
            if width * height > budget:
                continue
            score = abs(math.log(width / height / ratio)) + 0.5 * (1 - width * height / budget)
            if (width > height) != (w > h) or (width < height) != (w < h):
                score += 10  # keep the orientation (landscape, portrait, square) whenever the grid allows
            if best is None or score < best[0]:
                best = (score, width, height)
    if best is None:
        return multiple, multiple
    return best[1], best[2]


def check_explicit_size(width: int, height: int, *, native: int, multiple: int) -> tuple[int, int]:
    """Validate an explicit ``width``×``height``: multiples of ``multiple``, sane ratio, bounded size."""
    limit = native * MAX_SIDE_FACTOR
    for name, value in (("width", width), ("height", height)):
        if value % multiple or not multiple <= value <= limit:
            raise InvalidRequest(
                f"The {name} must be a multiple of {multiple} from {multiple} to {limit} pixels; got {value}."
            )
    check_aspect(width, height)
    return width, height


def fit_source(width: int, height: int, *, native: int, multiple: int, scale: float = 1.0) -> tuple[int, int]:
    """Size for an image-to-image pass on a ``width``×``height`` source, enlarged ``scale`` times: the
    scaled source shrunk into ``(scale·native)²`` pixels if bigger, rounded to ``multiple``."""
    check_aspect(width, height)
    budget = (native * scale) ** 2
    target_w, target_h = width * scale, height * scale
    if target_w * target_h > budget:
        shrink = math.sqrt(budget / (target_w * target_h))
        target_w, target_h = target_w * shrink, target_h * shrink
    return _round_to(target_w, multiple), _round_to(target_h, multiple)
