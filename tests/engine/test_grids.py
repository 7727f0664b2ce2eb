"""Grids from the tiny model: size, layout, determinism, tile reproducibility, prompt knobs."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from engine.api import GenerateRequest, GenerationResult
from engine.local import LocalEngine
from engine.prompt import parse_prompt


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


async def imagine(engine: LocalEngine, text: str, job_id: str, **changes: object) -> GenerationResult:
    from dataclasses import replace

    request = replace(parse_prompt(text).request, **changes)
    return await engine.run(request, job_id=job_id)


async def test_grid_is_four_tiles_laid_out_two_by_two(engine: LocalEngine) -> None:
    result = await imagine(engine, "a red circle --ar 3:2 --seed 7", "layout")
    assert result.kind == "imagine"
    assert result.seeds == (7, 8, 9, 10)
    assert (result.width, result.height) == (72, 48)
    assert len(result.images) == 4
    assert result.grid is not None
    grid = pixels(result.grid)
    assert grid.shape == (96, 144, 3)
    w, h = result.width, result.height
    corners = {1: (0, 0), 2: (w, 0), 3: (0, h), 4: (w, h)}
    for index, (x, y) in corners.items():
        tile = pixels(result.images[index - 1])
        assert tile.shape == (h, w, 3)
        assert np.array_equal(grid[y : y + h, x : x + w], tile), f"tile {index} misplaced"
    assert len({bytes(t) for t in result.images}) == 4, "the four seeds must give four different tiles"
    assert {"queued", "load", "render", "encode", "total"} <= result.timings.keys()


async def test_same_seed_gives_identical_tiles_and_another_seed_does_not(engine: LocalEngine) -> None:
    first = await imagine(engine, "a blue square --seed 42", "same-1")
    second = await imagine(engine, "a blue square --seed 42", "same-2")
    other = await imagine(engine, "a blue square --seed 43", "same-3")
    assert [pixels(t).tolist() for t in first.images] == [pixels(t).tolist() for t in second.images]
    assert not np.array_equal(pixels(first.images[0]), pixels(other.images[0]))
    # seed 43's first tile is seed 42's second tile
    assert np.abs(pixels(first.images[1]) - pixels(other.images[0])).max() <= 2


@pytest.mark.parametrize("text", ["a green star --seed 5", "a green star --seed 5 --chaos 60 --no blur"])
async def test_tile_rendered_alone_equals_its_grid_tile(engine: LocalEngine, text: str) -> None:
    grid = await imagine(engine, text, f"alone-grid-{text}")
    alone = await imagine(engine, text, f"alone-3-{text}", tile_indices=(3,))
    assert alone.seeds == (7,)
    assert alone.grid is not None and len(alone.images) == 1
    difference = np.abs(pixels(alone.images[0]) - pixels(grid.images[2]))
    assert difference.max() <= 2, f"tile 3 differs by up to {difference.max()}"
    pair = await imagine(engine, text, f"alone-24-{text}", tile_indices=(2, 4))
    assert pair.seeds == (6, 8)
    assert np.abs(pixels(pair.images[1]) - pixels(grid.images[3])).max() <= 2


async def test_chaos_widens_the_spread_between_tiles_deterministically(engine: LocalEngine) -> None:
    def spread(result: GenerationResult) -> float:
        tiles = [pixels(t).astype(float) for t in result.images]
        return float(np.mean([np.abs(a - b).mean() for i, a in enumerate(tiles) for b in tiles[i + 1 :]]))

    calm = await imagine(engine, "a house --seed 11", "chaos-0")
    wild = await imagine(engine, "a house --seed 11 --chaos 100", "chaos-100")
    again = await imagine(engine, "a house --seed 11 --chaos 100", "chaos-100b")
    assert [bytes(t) for t in wild.images] == [bytes(t) for t in again.images]
    assert not np.array_equal(pixels(calm.images[0]), pixels(wild.images[0]))
    assert spread(wild) > spread(calm)


async def test_aspect_ratios_become_sizes_within_the_native_budget(engine: LocalEngine) -> None:
    for text, expected in (("--ar 1:1", (64, 64)), ("--ar 2:3", (48, 72)), ("--ar 4:1", (128, 32))):
        result = await imagine(engine, f"a tree {text} --seed 1", f"ar-{text}", tile_indices=(1,))
        assert (result.width, result.height) == expected
        assert pixels(result.images[0]).shape == (expected[1], expected[0], 3)


async def test_explicit_size_steps_and_guidance(engine: LocalEngine) -> None:
    request = GenerateRequest(prompt="a tree", seed=3, width=96, height=32, steps=3, guidance=2.5)
    result = await engine.run(request, job_id="explicit")
    assert (result.width, result.height, result.steps, result.guidance) == (96, 32, 3, 2.5)


async def test_quality_scales_steps_and_stylize_maps_to_guidance(engine: LocalEngine) -> None:
    base = await imagine(engine, "a cat --seed 2", "q-base", tile_indices=(1,))
    low = await imagine(engine, "a cat --seed 2 --quality .5 --stylize 1000", "q-low", tile_indices=(1,))
    raw = await imagine(engine, "a cat --seed 2 --stylize 0", "q-raw", tile_indices=(1,))
    assert base.steps == 4 and low.steps == 2
    assert raw.guidance < base.guidance < low.guidance
    assert base.guidance == 5.0 and low.guidance == 10.0


async def test_negative_prompt_and_seamless_tiling_change_the_image(engine: LocalEngine) -> None:
    plain = await imagine(engine, "a wall --seed 9", "plain", tile_indices=(1,))
    negative = await imagine(engine, "a wall --seed 9 --no bricks", "negative", tile_indices=(1,))
    tiled = await imagine(engine, "a wall --seed 9 --tile", "tiled", tile_indices=(1,))
    plain_again = await imagine(engine, "a wall --seed 9", "plain-again", tile_indices=(1,))
    assert not np.array_equal(pixels(plain.images[0]), pixels(negative.images[0]))
    assert not np.array_equal(pixels(plain.images[0]), pixels(tiled.images[0]))
    # circular padding is per job: the next job is back to normal
    assert np.array_equal(pixels(plain.images[0]), pixels(plain_again.images[0]))


@pytest.fixture(scope="module")
def dpm_fp16_model(tiny_model, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The tiny model with a DPM-Solver++ scheduler and half-precision weights on disk."""
    import shutil

    import torch
    from diffusers import DPMSolverMultistepScheduler, UNet2DConditionModel

    folder = tmp_path_factory.mktemp("dpm") / "model"
    shutil.copytree(tiny_model, folder)
    DPMSolverMultistepScheduler(
        beta_schedule="scaled_linear",
        beta_start=0.00085,
        beta_end=0.012,
        timestep_spacing="trailing",
        final_sigmas_type="zero",
    ).save_config(str(folder / "scheduler"))
    unet = UNet2DConditionModel.from_pretrained(str(folder / "unet")).to(torch.float16)
    unet.save_pretrained(str(folder / "unet"), safe_serialization=True)
    return folder


async def test_other_schedulers_and_half_precision_files_work(dpm_fp16_model) -> None:  # type: ignore[no-untyped-def]
    from engine.api import VariationRequest

    local = LocalEngine(model=str(dpm_fp16_model), device="cpu", threads=1, preview_every=1)
    try:
        previews: list[bytes | None] = []
        grid = await local.run(
            GenerateRequest(prompt="a red circle", seed=3, steps=3),
            job_id="dpm",
            on_progress=lambda p: previews.append(p.preview),
        )
        alone = await local.run(
            GenerateRequest(prompt="a red circle", seed=3, steps=3, tile_indices=(3,)), job_id="d3"
        )
        assert np.abs(pixels(alone.images[0]) - pixels(grid.images[2])).max() <= 2
        assert len(previews) == 3 and previews[0] is not None
        varied = await local.run(VariationRequest(source=grid.images[0], prompt="a", seed=1), job_id="dv")
        assert len(varied.images) == 4
    finally:
        await local.close()
