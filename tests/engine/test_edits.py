"""Zoom Out, Pan, Make Square and Vary (Region) on the tiny model: exact sizes on the model's size multiple,
the kept pixels exactly kept, four seeded tiles in one batched call, progress, previews and cancellation."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from engine.api import GenerateRequest, InpaintRequest, OutpaintRequest, Progress
from engine.errors import Cancelled, InvalidRequest
from engine.local import LocalEngine
from engine.local.canvas import region_mask, zoom_canvas


def _rgb(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


@pytest.fixture
async def tile(engine: LocalEngine) -> bytes:
    result = await engine.run(
        GenerateRequest(prompt="a red circle", seed=4, aspect=(3, 2)), job_id="edit-src"
    )
    assert (result.width, result.height) == (72, 48)
    return result.images[0]


@pytest.mark.parametrize(
    ("mode", "direction", "size", "box"),
    [
        ("pan", "left", (112, 48), (40, 0)),
        ("pan", "right", (112, 48), (0, 0)),
        ("pan", "up", (72, 72), (0, 24)),
        ("pan", "down", (72, 72), (0, 0)),
        ("square", None, (72, 72), (0, 12)),
    ],
)
async def test_outpaint_keeps_the_source_exactly_at_exact_sizes(
    engine: LocalEngine,
    tile: bytes,
    mode: str,
    direction: str | None,
    size: tuple[int, int],
    box: tuple[int, int],
) -> None:
    request = OutpaintRequest(source=tile, prompt="a red circle", seed=30, mode=mode, direction=direction)  # type: ignore[arg-type]
    result = await engine.run(request, job_id=f"out-{mode}-{direction}")
    assert result.kind == "outpaint" and result.seeds == (30, 31, 32, 33)
    assert (result.width, result.height) == size
    assert result.grid is not None and Image.open(io.BytesIO(result.grid)).size == (2 * size[0], 2 * size[1])
    source = _rgb(tile)
    left, top = box
    for image in result.images:
        pixels = _rgb(image)
        assert pixels.shape[:2] == (size[1], size[0])
        assert np.array_equal(pixels[top : top + 48, left : left + 72], source)
    assert len({bytes(image) for image in result.images}) == 4, "four different seeds, four different tiles"


async def test_zoom_out_shrinks_the_tile_into_the_centre(engine: LocalEngine, tile: bytes) -> None:
    request = OutpaintRequest(source=tile, prompt="a red circle", seed=5, mode="zoom", zoom=2.0)
    result = await engine.run(request, job_id="zoom-2")
    again = await engine.run(request, job_id="zoom-2-again")
    assert (result.width, result.height) == (72, 48)
    assert result.images == again.images, "the same seed gives the same tiles"
    expected = np.asarray(zoom_canvas(Image.open(io.BytesIO(tile)).convert("RGB"), 2.0).image).astype(int)
    for image in result.images:
        pixels = _rgb(image)
        assert np.array_equal(pixels[12:36, 18:54], expected[12:36, 18:54])
        assert not np.array_equal(pixels, expected), "the surroundings are redrawn"
    custom = await engine.run(
        OutpaintRequest(source=tile, prompt="a red circle", seed=5, mode="zoom", zoom=1.25),
        job_id="zoom-1.25",
    )
    assert (custom.width, custom.height) == (72, 48) and custom.images != result.images


async def test_vary_region_changes_only_the_chosen_cells(engine: LocalEngine, tile: bytes) -> None:
    result = await engine.run(
        InpaintRequest(source=tile, prompt="a blue square", seed=8, regions=(1, 5)), job_id="region"
    )
    assert result.kind == "inpaint" and (result.width, result.height) == (72, 48) and len(result.images) == 4
    inside = np.asarray(region_mask((72, 48), (1, 5))) > 0
    source = _rgb(tile)
    for image in result.images:
        pixels = _rgb(image)
        assert np.array_equal(pixels[~inside], source[~inside])
        assert np.abs(pixels[inside] - source[inside]).mean() > 1.0


async def test_vary_region_takes_a_mask_image(engine: LocalEngine, tile: bytes) -> None:
    mask = Image.new("L", (72, 48), 0)
    mask.paste(255, (36, 0, 72, 48))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    result = await engine.run(
        InpaintRequest(source=tile, prompt="a red circle", seed=2, mask=buffer.getvalue()), job_id="mask"
    )
    source = _rgb(tile)
    for image in result.images:
        assert np.array_equal(_rgb(image)[:, :36], source[:, :36])


async def test_edits_report_progress_with_previews_and_cancel(engine: LocalEngine, tile: bytes) -> None:
    seen: list[Progress] = []
    await engine.run(
        OutpaintRequest(source=tile, prompt="a red circle", seed=1, mode="pan", direction="right"),
        job_id="pan-progress",
        on_progress=seen.append,
    )
    assert seen and seen[-1].step == seen[-1].total
    assert any(p.preview for p in seen), "previews every 2 steps on the session engine"

    def cancel_at_first_step(progress: Progress) -> None:
        engine.cancel("zoom-cancel")

    with pytest.raises(Cancelled):
        await engine.run(
            OutpaintRequest(source=tile, prompt="a red circle", seed=1, mode="zoom"),
            job_id="zoom-cancel",
            on_progress=cancel_at_first_step,
        )


async def test_edits_refuse_clearly(engine: LocalEngine) -> None:
    wide = await engine.run(
        GenerateRequest(prompt="a red circle", seed=4, aspect=(4, 1), tile_indices=(1,)), job_id="wide"
    )
    with pytest.raises(InvalidRequest, match="beyond the 4:1 aspect limit"):
        await engine.run(
            OutpaintRequest(source=wide.images[0], prompt="x", seed=1, mode="pan", direction="left"),
            job_id="too-wide",
        )
    with pytest.raises(InvalidRequest, match="could not be read"):
        await engine.run(OutpaintRequest(source=b"junk", prompt="x", seed=1, mode="square"), job_id="junk")
