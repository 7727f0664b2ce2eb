"""Zoom Out, Pan, Make Square and Vary (Region) on every diffusers family (tiny random-weight pipelines from
:mod:`engine.tiny`, 64 px native, 2 steps) through ``LocalEngine``: a family with an inpainting pipeline runs
its own (built ``from_pipe``) at exact sizes on its size multiple, keeps the source pixels exactly, reports
progress and stops on cancel through the scheduler-step hook; one without is refused by ``Engine.check``."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from engine.api import GenerateRequest, InpaintRequest, ModelInfo, OutpaintRequest, Progress
from engine.errors import Cancelled, InvalidRequest
from engine.local import LocalEngine
from engine.tiny import build_tiny_family

STEPS = 2
INPAINTS = {"sd": True, "sdxl": True, "sd3": True, "flux": True, "pixart": False, "sana": False}


@pytest.fixture(scope="module", params=sorted(INPAINTS))
def family(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, LocalEngine]]:
    root = tmp_path_factory.mktemp(f"edit-{request.param}")
    build_tiny_family(root / request.param, request.param)
    local = LocalEngine(model=request.param, models_dir=root, device="cpu", threads=1, preload=True)
    yield request.param, local
    asyncio.run(local.close())


def _rgb(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def _info(local: LocalEngine) -> ModelInfo:
    [info] = [i for i in local.models() if i.name == local.default_model]
    return info


async def test_tools_run_on_every_family_that_can_inpaint(family: tuple[str, LocalEngine]) -> None:
    name, local = family
    caps = _info(local).capabilities
    assert caps.inpaint is INPAINTS[name]
    source = await local.run(
        GenerateRequest(prompt="a red circle", seed=1, aspect=(3, 2), tile_indices=(1,), steps=STEPS),
        job_id="src",
    )
    tile, width, height = source.images[0], source.width, source.height
    zoom = OutpaintRequest(source=tile, prompt="a red circle", seed=3, mode="zoom", zoom=1.5, steps=STEPS)
    pan = OutpaintRequest(source=tile, prompt="a red circle", seed=3, mode="pan", direction="up", steps=STEPS)
    region = InpaintRequest(source=tile, prompt="a blue square", seed=5, regions=(1, 2), steps=STEPS)
    if not caps.inpaint:
        for request in (zoom, pan, region):
            with pytest.raises(InvalidRequest, match=rf"Model `{name}` cannot .*inpainting pipeline"):
                local.check(request)
        return
    multiple = caps.size_multiple
    assert multiple == (16 if name in ("sd3", "flux") else 8)
    progress: list[Progress] = []
    zoomed = await local.run(zoom, job_id="zoom", on_progress=progress.append)
    assert progress and progress[-1].step == progress[-1].total, "progress through the scheduler-step hook"
    assert (zoomed.width, zoomed.height) == (width, height) and len(zoomed.images) == 4
    panned = await local.run(pan, job_id="pan")
    extra = panned.height - height
    assert panned.width == width and extra >= height // 2 and panned.height % multiple == 0
    for image in panned.images:
        assert np.array_equal(_rgb(image)[extra:], _rgb(tile))
    varied = await local.run(region, job_id="region")
    assert (varied.width, varied.height) == (width, height)
    top = -(-height // 3)  # regions 1 and 2 are the top third
    kept = _rgb(tile)[top:]
    assert all(np.array_equal(_rgb(image)[top:], kept) for image in varied.images)


async def test_a_tool_job_stops_on_cancel(family: tuple[str, LocalEngine]) -> None:
    name, local = family
    if not INPAINTS[name] or name not in ("sd3", "flux"):
        pytest.skip("one 16-multiple family with an inpainting pipeline is enough")
    tile = (
        await local.run(GenerateRequest(prompt="x", seed=1, tile_indices=(1,), steps=STEPS), job_id="c0")
    ).images[0]

    def cancel_at_first_step(progress: Progress) -> None:
        local.cancel("cancel-me")

    with pytest.raises(Cancelled):
        await local.run(
            OutpaintRequest(source=tile, prompt="x", seed=1, mode="zoom", steps=STEPS),
            job_id="cancel-me",
            on_progress=cancel_at_first_step,
        )
