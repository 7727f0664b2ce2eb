"""Upscale (Subtle)'s guard: the model's pass is taken only along edges and only within a few levels."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from engine.local.faithful import EDGE_LIMIT, edge_band, keep_faithful, sharpened


def _circle(size: int = 128) -> Image.Image:
    image = Image.new("RGB", (size, size), (30, 60, 220))
    ImageDraw.Draw(image).ellipse((32, 32, 96, 96), fill=(220, 30, 30))
    return image


def test_sharpened_resize_has_steeper_edges_than_lanczos() -> None:
    small = _circle(64)
    lanczos = np.asarray(small.resize((128, 128), Image.Resampling.LANCZOS).convert("L"), dtype=float)
    sharp = np.asarray(sharpened(small, (128, 128)).convert("L"), dtype=float)
    assert np.abs(np.diff(sharp, axis=1)).max() > np.abs(np.diff(lanczos, axis=1)).max()


def test_changes_are_kept_only_near_edges_and_bounded() -> None:
    base = _circle()
    noisy = np.asarray(base, dtype=float) + np.random.default_rng(0).normal(0, 80, (128, 128, 3))
    generated = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    out = np.asarray(keep_faithful(base, generated), dtype=float)
    start = np.asarray(base, dtype=float)
    band = edge_band(base)[..., 0] > 0
    assert band.any() and not band.all()
    assert np.array_equal(out[~band], start[~band]), "flat areas stay exactly as they were"
    assert np.abs(out - start).max() <= EDGE_LIMIT
    assert np.abs(out[band] - start[band]).mean() > 1, "edges take the model's pass"
