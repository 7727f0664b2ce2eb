"""U1–U4 and Upscale (Subtle): a Lanczos resize with steeper edges."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from engine.local.faithful import sharpened


def _circle(size: int = 128) -> Image.Image:
    image = Image.new("RGB", (size, size), (30, 60, 220))
    ImageDraw.Draw(image).ellipse((size // 4, size // 4, size * 3 // 4, size * 3 // 4), fill=(220, 30, 30))
    return image


def test_sharpened_resize_has_steeper_edges_than_lanczos() -> None:
    small = _circle(64)
    lanczos = np.asarray(small.resize((128, 128), Image.Resampling.LANCZOS).convert("L"), dtype=float)
    sharp = np.asarray(sharpened(small, (128, 128)).convert("L"), dtype=float)
    assert np.abs(np.diff(sharp, axis=1)).max() > np.abs(np.diff(lanczos, axis=1)).max()
