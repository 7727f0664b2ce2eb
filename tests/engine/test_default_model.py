"""The shipped default model through the engine: the name ``default`` loads it, grids are 2×2 of its
native size, previews have the prompt's colours, and variations/upscales come back at the right sizes."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.api import GenerateRequest, Progress, UpscaleRequest, VariationRequest
from engine.local import LocalEngine

MODEL = Path(__file__).resolve().parents[2] / "engine" / "models" / "default"
pytestmark = pytest.mark.skipif(not (MODEL / "model_index.json").exists(), reason="no shipped model")


@pytest.fixture(scope="module")
def default_engine() -> Iterator[LocalEngine]:
    local = LocalEngine(model=None, device="cpu", threads=1, preview_every=4, preload=True)
    yield local
    asyncio.run(local.close())


def _rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32)


async def test_default_name_loads_the_shipped_model_and_draws_the_prompt(default_engine: LocalEngine) -> None:
    assert default_engine.default_model == "default"
    progress: list[Progress] = []
    result = await default_engine.run(
        GenerateRequest(prompt="a large red circle in the center on a blue background", seed=7),
        job_id="default-grid",
        on_progress=progress.append,
    )
    assert (result.width, result.height) == (128, 128) and result.steps == 16
    assert Image.open(io.BytesIO(result.grid or b"")).size == (256, 256)
    assert [p.step for p in progress] == list(range(1, 17))
    for tile in result.images:
        r, g, b = _rgb(tile).transpose(2, 0, 1)
        red = ((r > b + 80) & (r > g + 80)).mean()
        blue = ((b > r + 80) & (b > g + 20)).mean()
        assert blue > 0.4, f"mostly blue background expected, got {blue:.0%} blue pixels"
        assert 0.03 < red < 0.6, f"a red shape expected, got {red:.0%} red pixels"
    previews = [p.preview for p in progress if p.preview is not None]
    assert previews, "the shipped model's previews must be produced"
    last = _rgb(previews[-1])
    assert last[..., 2].mean() > last[..., 1].mean(), "the preview approximates the blue background"


async def test_variation_and_upscale_sizes_on_the_shipped_model(default_engine: LocalEngine) -> None:
    grid = await default_engine.run(
        GenerateRequest(prompt="a small white square on a black background", seed=3, tile_indices=(2,)),
        job_id="default-source",
    )
    tile = grid.images[0]
    varied = await default_engine.run(
        VariationRequest(source=tile, prompt="a small white square on a black background", seed=5),
        job_id="default-vary",
    )
    assert len(varied.images) == 4 and Image.open(io.BytesIO(varied.grid or b"")).size == (256, 256)
    upscaled = await default_engine.run(
        UpscaleRequest(source=tile, prompt="a small white square on a black background", seed=5),
        job_id="default-upscale",
    )
    assert Image.open(io.BytesIO(upscaled.images[0])).size == (256, 256)
    big = _rgb(upscaled.images[0])
    assert big[:20, :20].mean() < 80, "the upscale keeps the black background"
