"""``ENGINE_UPSCALER``: upscales through a dedicated diffusers upscaler (a tiny ×4 one built here)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from engine.api import GenerateRequest, Progress, UpscaleRequest
from engine.errors import Cancelled, UnknownModel
from engine.local import LocalEngine
from engine.tiny import build_tiny_upscaler


@pytest.fixture(scope="module")
def upscaler_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_upscaler(tmp_path_factory.mktemp("upscalers") / "x4")


@pytest.fixture(scope="module")
def upscaling_engine(tiny_model: Path, upscaler_dir: Path) -> Iterator[LocalEngine]:
    local = LocalEngine(model=str(tiny_model), device="cpu", threads=1, upscaler=str(upscaler_dir))
    yield local
    asyncio.run(local.close())


def size(png: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(png)).size


@pytest.fixture
async def tile(engine: LocalEngine) -> bytes:
    result = await engine.run(GenerateRequest(prompt="a red circle", seed=4, aspect=(3, 2)), job_id="up-src")
    return result.images[0]


@pytest.mark.parametrize("scale", [2, 4])
async def test_upscales_go_through_the_upscaler_to_the_requested_size(
    upscaling_engine: LocalEngine, tile: bytes, scale: int
) -> None:
    seen: list[Progress] = []
    request = UpscaleRequest(source=tile, prompt="a red circle", seed=5, scale=scale, steps=3)
    result = await upscaling_engine.run(request, job_id=f"x{scale}", on_progress=seen.append)
    await asyncio.sleep(0)  # progress callbacks are delivered through the loop
    assert size(tile) == (72, 48)
    assert result.kind == "upscale" and result.seeds == (5,) and result.grid is None
    assert size(result.images[0]) == (72 * scale, 48 * scale) == (result.width, result.height)
    # The upscaler's own steps and guidance (9), not the model's image-to-image settings (guidance 5).
    assert (result.steps, result.guidance) == (3, 9.0)
    assert [(p.step, p.total) for p in seen] == [(1, 3), (2, 3), (3, 3)]
    again = await upscaling_engine.run(request, job_id=f"x{scale}-again")
    assert again.images == result.images


async def test_without_an_upscaler_the_image_to_image_pass_is_used(engine: LocalEngine, tile: bytes) -> None:
    result = await engine.run(
        UpscaleRequest(source=tile, prompt="a red circle", seed=5, steps=3), job_id="i2i"
    )
    assert size(result.images[0]) == (144, 96) and result.guidance == 5.0


async def test_cancelling_an_upscale_stops_it(upscaling_engine: LocalEngine, tile: bytes) -> None:
    def cancel(_progress: Progress) -> None:
        upscaling_engine.cancel("up-cancel")

    request = UpscaleRequest(source=tile, prompt="a red circle", seed=5, steps=50)
    with pytest.raises(Cancelled):
        await upscaling_engine.run(request, job_id="up-cancel", on_progress=cancel)


async def test_an_unreachable_upscaler_fails_the_upscale_with_a_message_naming_the_setting(
    tiny_model: Path, tile: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.local import models

    loads: list[str] = []
    real_load = models.load_upscaler

    def counted(spec: object, *args: object) -> object:
        loads.append(str(spec))
        return real_load(spec, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(models, "load_upscaler", counted)
    local = LocalEngine(model=str(tiny_model), device="cpu", threads=1, upscaler="someone/missing-upscaler")
    try:
        for attempt in range(2):  # the second fails from the remembered error, without another load
            with pytest.raises(UnknownModel, match="ENGINE_UPSCALER"):
                request = UpscaleRequest(source=tile, prompt="a red circle", seed=1)
                await local.run(request, job_id=f"u-missing-{attempt}")
        assert len(loads) == 1
        grid = await local.run(GenerateRequest(prompt="a red circle", seed=1), job_id="g-after")
        assert grid.grid is not None  # the engine keeps serving other jobs
    finally:
        await local.close()


def test_a_folder_that_is_not_a_diffusers_model_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(UnknownModel, match="ENGINE_UPSCALER"):
        LocalEngine(model="default", device="cpu", upscaler=str(tmp_path))


async def test_an_upscaler_folder_that_fails_to_load_is_named_without_its_path(
    tiny_model: Path, tile: bytes, tmp_path: Path
) -> None:
    broken = tmp_path / "private" / "x4-upscaler"
    broken.mkdir(parents=True)
    (broken / "model_index.json").write_text('{"_class_name": "StableDiffusionUpscalePipeline"}')
    local = LocalEngine(model=str(tiny_model), device="cpu", threads=1, upscaler=str(broken))
    try:
        with pytest.raises(UnknownModel) as refused:
            await local.run(UpscaleRequest(source=tile, prompt="a red circle", seed=1), job_id="u-broken")
        assert "`x4-upscaler`" in refused.value.message and str(tmp_path) not in refused.value.message
    finally:
        await local.close()


def test_a_folder_without_a_model_is_refused_at_start_without_its_path(tmp_path: Path) -> None:
    folder = tmp_path / "private" / "upscaler"
    folder.mkdir(parents=True)
    with pytest.raises(UnknownModel) as refused:
        LocalEngine(model="default", device="cpu", upscaler=str(folder))
    assert "`upscaler`" in refused.value.message and str(tmp_path) not in refused.value.message
