"""Upscale (Subtle)'s guard: the model's pass is taken only along edges and only within a few levels."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from engine.local.faithful import LIMITS, edge_band, keep_faithful, sharpened

LIMIT = LIMITS["standard"]


def _circle(size: int = 128) -> Image.Image:
    image = Image.new("RGB", (size, size), (30, 60, 220))
    ImageDraw.Draw(image).ellipse((size // 4, size // 4, size * 3 // 4, size * 3 // 4), fill=(220, 30, 30))
    return image


def test_sharpened_resize_has_steeper_edges_than_lanczos() -> None:
    small = _circle(64)
    lanczos = np.asarray(small.resize((128, 128), Image.Resampling.LANCZOS).convert("L"), dtype=float)
    sharp = np.asarray(sharpened(small, (128, 128)).convert("L"), dtype=float)
    assert np.abs(np.diff(sharp, axis=1)).max() > np.abs(np.diff(lanczos, axis=1)).max()


def test_edges_get_crisper_but_do_not_move_and_flat_areas_stay() -> None:
    crisp = _circle()
    soft = sharpened(_circle(32), (128, 128))  # a sharpened Lanczos upscale
    noisy = np.asarray(crisp, dtype=float) + np.random.default_rng(0).normal(0, 60, (128, 128, 3))
    generated = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    out = np.asarray(keep_faithful(soft, generated, limit=LIMIT), dtype=float)
    start, target = np.asarray(soft, dtype=float), np.asarray(crisp, dtype=float)
    band = edge_band(soft)[..., 0] > 0
    assert band.any() and not band.all()
    assert np.array_equal(out[~band], start[~band]), "flat areas stay exactly as they were"
    assert np.abs(out - start).max() <= LIMIT
    crisper = np.asarray(keep_faithful(soft, crisp, limit=LIMIT), dtype=float)
    assert np.abs(crisper - target)[band].mean() < np.abs(start - target)[band].mean(), "edges get crisper"
    # An edge the model would move 6 px outwards: no pixel crosses to the other side.
    moved = Image.new("RGB", (128, 128), (30, 60, 220))
    ImageDraw.Draw(moved).ellipse((26, 26, 102, 102), fill=(220, 30, 30))
    red_side = start[..., 0] > 125
    kept = np.asarray(keep_faithful(soft, moved, limit=LIMIT), dtype=float)
    assert ((kept[..., 0] > 125) == red_side).all()
