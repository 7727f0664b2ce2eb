"""Variations and upscales reuse the loaded model through image-to-image."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from engine.api import GenerateRequest, UpscaleRequest, VariationRequest
from engine.errors import InvalidRequest
from engine.local import LocalEngine


def size(png: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(png)).size


@pytest.fixture
async def tile(engine: LocalEngine) -> bytes:
    result = await engine.run(GenerateRequest(prompt="a red circle", seed=4, aspect=(3, 2)), job_id="source")
    return result.images[1]


async def test_variations_are_four_batched_tiles_of_the_source_size(engine: LocalEngine, tile: bytes) -> None:
    subtle = await engine.run(
        VariationRequest(source=tile, prompt="a red circle", seed=20, strength="subtle"), job_id="v-subtle"
    )
    strong = await engine.run(
        VariationRequest(source=tile, prompt="a red circle", seed=20, strength="strong"), job_id="v-strong"
    )
    again = await engine.run(
        VariationRequest(source=tile, prompt="a red circle", seed=20, strength="subtle"), job_id="v-again"
    )
    assert subtle.kind == "variation" and subtle.seeds == (20, 21, 22, 23)
    assert [size(t) for t in subtle.images] == [(72, 48)] * 4
    assert subtle.grid is not None and size(subtle.grid) == (144, 96)
    assert len({bytes(t) for t in subtle.images}) == 4
    assert subtle.images == again.images
    assert subtle.images != strong.images


async def test_variation_shares_the_loaded_weights(engine: LocalEngine, loaded) -> None:  # type: ignore[no-untyped-def]
    img2img = loaded.img2img
    assert img2img.unet is loaded.pipe.unet
    assert img2img.vae is loaded.pipe.vae
    assert img2img.text_encoder is loaded.pipe.text_encoder


async def test_upscale_doubles_the_tile(engine: LocalEngine, tile: bytes) -> None:
    result = await engine.run(UpscaleRequest(source=tile, prompt="a red circle", seed=5), job_id="u")
    assert result.kind == "upscale" and result.grid is None and result.seeds == (5,)
    assert (result.width, result.height) == (144, 96)
    assert len(result.images) == 1 and size(result.images[0]) == (144, 96)
    source = np.asarray(Image.open(io.BytesIO(tile)).resize((144, 96))).astype(float)
    upscaled = np.asarray(Image.open(io.BytesIO(result.images[0]))).astype(float)
    assert not np.array_equal(source, upscaled), "the high-resolution pass must change the pixels"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"not an image at all", "could not be read"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "could not be read"),
    ],
)
async def test_corrupt_source_images_are_invalid_requests(
    engine: LocalEngine, data: bytes, message: str
) -> None:
    for index, request in enumerate(
        (VariationRequest(source=data, prompt="x", seed=1), UpscaleRequest(source=data, prompt="x", seed=1))
    ):
        with pytest.raises(InvalidRequest, match=message):
            await engine.run(request, job_id=f"corrupt-{index}")


async def test_truncated_png_is_an_invalid_request(engine: LocalEngine, tile: bytes) -> None:
    with pytest.raises(InvalidRequest, match="could not be read"):
        await engine.run(VariationRequest(source=tile[: len(tile) // 2], prompt="x", seed=1), job_id="half")


async def test_upscale_modes(engine: LocalEngine, tile: bytes) -> None:
    from engine.local.faithful import sharpened

    subtle = await engine.run(
        UpscaleRequest(source=tile, prompt="a red circle", seed=5, mode="subtle"), job_id="us"
    )
    creative = await engine.run(
        UpscaleRequest(source=tile, prompt="a red circle", seed=5, mode="creative"), job_id="uc"
    )
    assert size(subtle.images[0]) == size(creative.images[0]) == (144, 96)
    assert subtle.images[0] != creative.images[0]
    base = np.asarray(sharpened(Image.open(io.BytesIO(tile)).convert("RGB"), (144, 96))).astype(float)
    standard = await engine.run(UpscaleRequest(source=tile, prompt="a red circle", seed=5), job_id="u")
    for result in (subtle, standard):  # U1–U4 and Upscale (Subtle): the sharpened resize, no model pass
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(result.images[0]))).astype(float), base)
        assert result.steps == 0
