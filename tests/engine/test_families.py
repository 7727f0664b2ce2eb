"""Every diffusers family through ``LocalEngine`` and the CLI: tiny random-weight pipelines of SD 1.x, SDXL,
SD3, Flux, PixArt-Σ, Sana and LCM (built offline once per session, 64 px native, 2 steps).

Each Midjourney parameter either works on a family or is refused by ``Engine.check`` before the job runs."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.api import GenerateRequest, ModelInfo, Progress, UpscaleRequest, VariationRequest
from engine.errors import Cancelled, InvalidRequest
from engine.local import LocalEngine
from engine.prompt import parse_prompt
from engine.tiny import FAMILIES, build_tiny_family

STEPS = 2
EXPECTED = {  # what each family's description must say (measured on the tiny folders)
    "sd": dict(size_multiple=8, guidance="cfg", negative_prompt=True, tile=True, max_steps=150),
    "sdxl": dict(size_multiple=8, guidance="cfg", negative_prompt=True, tile=True, max_steps=150),
    "lcm": dict(size_multiple=8, guidance="distilled", negative_prompt=False, tile=True, max_steps=50),
    "sd3": dict(size_multiple=16, guidance="cfg", negative_prompt=True, tile=False, max_steps=150),
    "flux": dict(size_multiple=16, guidance="none", negative_prompt=True, tile=False, max_steps=150),
    "flux-dev": dict(size_multiple=16, guidance="distilled", negative_prompt=True, tile=False, max_steps=150),
    "pixart": dict(size_multiple=16, guidance="cfg", negative_prompt=True, tile=False, max_steps=150),
    "sana": dict(size_multiple=32, guidance="cfg", negative_prompt=True, tile=True, max_steps=150),
}
DEFAULTS = {"sd": (30, 7.5), "sdxl": (30, 7.5), "lcm": (4, 1.5), "sd3": (28, 7.0), "flux": (4, 0.0)}
DEFAULTS |= {"flux-dev": (28, 3.5)}
DEFAULTS |= {"pixart": (20, 4.5), "sana": (20, 4.5)}


@pytest.fixture(scope="session")
def family_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("families")
    for family in FAMILIES:
        build_tiny_family(root / family, family)
    return root


@pytest.fixture(scope="session", params=FAMILIES)
def family(request: pytest.FixtureRequest, family_dir: Path) -> Iterator[tuple[str, LocalEngine]]:
    local = LocalEngine(
        model=request.param, models_dir=family_dir, device="cpu", threads=1, preview_every=1, preload=True
    )
    yield request.param, local
    asyncio.run(local.close())


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def request(text: str, **changes: object) -> GenerateRequest:
    return replace(parse_prompt(text).request, **{"steps": STEPS, **changes})


def info_of(local: LocalEngine) -> ModelInfo:
    [info] = [i for i in local.models() if i.name == local.default_model]
    return info


def test_descriptions_come_from_the_components(family: tuple[str, LocalEngine]) -> None:
    name, local = family
    info = info_of(local)
    caps = info.capabilities
    assert {key: getattr(caps, key) for key in EXPECTED[name]} == EXPECTED[name]
    assert (info.default_steps, info.default_guidance) == DEFAULTS[name]
    assert info.native_size == 64
    assert caps.img2img and caps.chaos and caps.preview


@pytest.mark.parametrize("aspect", ["3:2", "9:16", "1:1"])
async def test_grid_at_exact_multiples_with_progress_and_previews(
    family: tuple[str, LocalEngine], aspect: str
) -> None:
    name, local = family
    multiple = info_of(local).capabilities.size_multiple
    progress: list[Progress] = []
    result = await local.run(
        request(f"a red circle --ar {aspect} --seed 3"),
        job_id=f"{name}-{aspect}",
        on_progress=progress.append,
    )
    await asyncio.sleep(0)  # progress is delivered on this loop
    assert result.width % multiple == 0 and result.height % multiple == 0
    assert result.width * result.height <= 64 * 64
    if aspect != "1:1":
        assert (result.width > result.height) == (aspect == "3:2"), "the orientation must follow --ar"
    assert len(result.images) == 4 and result.grid is not None
    assert pixels(result.grid).shape == (2 * result.height, 2 * result.width, 3)
    assert [p.step for p in progress] == [1, 2] and {p.total for p in progress} == {STEPS}
    assert progress[0].preview is not None, "a preview at step 1 of 2"
    Image.open(io.BytesIO(progress[0].preview)).verify()


async def test_tile_alone_equals_its_grid_tile_with_chaos(family: tuple[str, LocalEngine]) -> None:
    name, local = family
    text = "a green star --seed 11 --chaos 60"
    grid = await local.run(request(text), job_id=f"{name}-alone-grid")
    alone = await local.run(request(text, tile_indices=(3,)), job_id=f"{name}-alone-3")
    assert np.abs(pixels(alone.images[0]) - pixels(grid.images[2])).max() <= 2
    calm = await local.run(request("a green star --seed 11"), job_id=f"{name}-calm")
    assert not np.array_equal(pixels(calm.images[0]), pixels(grid.images[0])), "--chaos must change the tiles"


async def test_negative_prompt_works_or_is_refused_up_front(family: tuple[str, LocalEngine]) -> None:
    name, local = family
    with_no = request("a cat --seed 5 --no dogs")
    if not info_of(local).capabilities.negative_prompt:
        with pytest.raises(InvalidRequest, match=rf"Model `{name}` cannot take `--no`: .*distilled"):
            local.check(with_no)
        return
    plain = await local.run(request("a cat --seed 5"), job_id=f"{name}-plain")
    negative = await local.run(with_no, job_id=f"{name}-no")
    assert not np.array_equal(pixels(plain.images[0]), pixels(negative.images[0])), "--no must be honoured"


async def test_stylize_changes_guidance_or_is_refused_up_front(family: tuple[str, LocalEngine]) -> None:
    name, local = family
    styled = request("a cat --seed 5 --stylize 500", tile_indices=(1,))
    if info_of(local).capabilities.guidance == "none":
        with pytest.raises(
            InvalidRequest, match=rf"Model `{name}` cannot take `--stylize`: .*without guidance"
        ):
            local.check(styled)
        return
    result = await local.run(styled, job_id=f"{name}-styled")
    assert result.guidance > info_of(local).default_guidance


async def test_tile_is_seamless_or_refused_up_front(family: tuple[str, LocalEngine]) -> None:
    name, local = family
    tiled = request("bricks --seed 2 --tile", tile_indices=(1,))
    if not info_of(local).capabilities.tile:
        with pytest.raises(InvalidRequest, match=rf"Model `{name}` cannot take `--tile`: .*seamless"):
            local.check(tiled)
        return
    plain = await local.run(replace(tiled, tile=False), job_id=f"{name}-untiled")
    seamless = await local.run(tiled, job_id=f"{name}-tiled")
    assert not np.array_equal(pixels(plain.images[0]), pixels(seamless.images[0]))


@pytest.mark.parametrize("family_name", ["sd", "sdxl", "lcm", "sana"])
def test_tile_makes_the_generator_periodic(family_dir: Path, family_name: str) -> None:
    """Truly seamless: with ``tile`` on, starting noise shifted by a quarter of the tile (wrapping around)
    gives the same image shifted the same way, so no position is an edge. Without it, it does not."""
    import torch

    from engine.local import render as render_module
    from engine.local.models import load_model
    from engine.local.registry import ModelSpec

    model = load_model(ModelSpec(family_name, str(family_dir / family_name), local=True), torch.device("cpu"))
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    control = render_module.JobControl(cancelled=lambda: False, report=lambda *_: None)

    def image(latents: torch.Tensor, tile: bool) -> np.ndarray:
        def kwargs_for(batch: list[int]) -> dict[str, object]:
            return {
                **render_module._text_kwargs(model, "bricks", "", model.info.default_guidance, 1),
                "latents": latents,
                "num_inference_steps": 1,
                "height": 64,
                "width": 64,
            }

        call = render_module._Call(model.pipe, model, control, tile=tile, chaos=None, trim=None)
        return np.asarray(call(kwargs_for, [0], part=(0, 1))[0]).astype(np.int16)

    shifted = torch.roll(noise, shifts=(2, 4), dims=(2, 3))
    for tile, periodic in ((True, True), (False, False)):
        moved = np.roll(image(noise, tile), shift=(16, 32), axis=(0, 1))
        difference = int(np.abs(moved - image(shifted, tile)).max())
        assert (difference <= 2) == periodic, f"tile={tile}: max difference {difference}"


async def test_vary_and_upscale_at_exact_sizes(family: tuple[str, LocalEngine]) -> None:
    name, local = family
    grid = await local.run(request("a boat --ar 3:2 --seed 9", tile_indices=(1,)), job_id=f"{name}-src")
    source = grid.images[0]
    size = (grid.width, grid.height)
    varied = await local.run(
        VariationRequest(source=source, prompt="a boat", seed=4, steps=STEPS), job_id=f"{name}-vary"
    )
    assert (varied.width, varied.height) == size and len(varied.images) == 4
    assert all(pixels(t).shape[:2] == size[::-1] for t in varied.images)
    assert len({bytes(t) for t in varied.images}) == 4, "four seeds, four variations of one source"
    upscaled = await local.run(
        UpscaleRequest(source=source, prompt="a boat", seed=4, steps=STEPS), job_id=f"{name}-up"
    )
    assert (upscaled.width, upscaled.height) == (2 * size[0], 2 * size[1])


async def test_cancel_stops_within_one_step(family: tuple[str, LocalEngine]) -> None:
    name, local = family
    steps: list[int] = []

    def on_progress(progress: Progress) -> None:
        steps.append(progress.step)
        local.cancel(f"{name}-cancel")

    with pytest.raises(Cancelled):
        await local.run(
            request("a slow one --seed 1", steps=8), job_id=f"{name}-cancel", on_progress=on_progress
        )
    assert 1 <= len(steps) <= 2, f"stopped after {len(steps)} of 8 steps"


async def test_a_failing_preview_never_fails_the_job(
    family: tuple[str, LocalEngine], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from engine.local.preview import LatentPreviewer

    name, local = family

    def broken(*_args: object, **_kwargs: object) -> bytes:
        raise RuntimeError("preview exploded")

    monkeypatch.setattr(LatentPreviewer, "render", broken)
    progress: list[Progress] = []
    with caplog.at_level(logging.WARNING, logger="engine.local.render"):
        result = await local.run(
            request("x --seed 1", steps=4), job_id=f"{name}-broken-preview", on_progress=progress.append
        )
    await asyncio.sleep(0)
    assert len(result.images) == 4
    assert len(progress) == 4 and all(p.preview is None for p in progress)
    assert [r.message for r in caplog.records].count(
        f"previews stopped for this job (model {name}): preview exploded"
    ) == 1


def test_cli_imagine_vary_upscale(family: tuple[str, LocalEngine], family_dir: Path, tmp_path: Path) -> None:
    from engine.cli import main

    name, _ = family
    model = str(family_dir / name)
    grid = tmp_path / "grid.png"
    args = ["--model", model, "--device", "cpu", "--threads", "1", "--steps", "2", "--quiet"]
    assert main(["imagine", "a kite --ar 9:16 --seed 4", "-o", str(grid), "--tiles", *args]) == 0
    tile = tmp_path / "grid_1.png"
    width, height = Image.open(tile).size
    assert width < height and Image.open(grid).size == (2 * width, 2 * height)
    upscaled = tmp_path / "up.png"
    assert main(["upscale", str(tile), "--prompt", "a kite", "-o", str(upscaled), *args]) == 0
    assert Image.open(upscaled).size == (2 * width, 2 * height)


def test_two_models_stay_loaded_so_switching_does_not_reload(family_dir: Path) -> None:
    import torch

    from engine.local.models import ModelCache
    from engine.local.registry import ModelSpec

    first, second = (ModelSpec(name, str(family_dir / name), local=True) for name in ("sd", "lcm"))
    cache = ModelCache(torch.device("cpu"))  # ENGINE_MODELS_LOADED's default: 2
    assert [cache.get(spec)[1] for spec in (first, second, first, second, first)] == [
        True,
        True,
        False,
        False,
        False,
    ]
    single = ModelCache(torch.device("cpu"), capacity=1)
    assert [single.get(spec)[1] for spec in (first, second, first)] == [True, True, True]


def test_cli_builds_a_tiny_family(tmp_path: Path) -> None:
    from engine.cli import main

    assert main(["tiny", str(tmp_path / "pixart"), "--family", "pixart"]) == 0
    assert '"PixArtSigmaPipeline"' in (tmp_path / "pixart" / "model_index.json").read_text()


async def test_a_tiny_preview_decoder_draws_the_previews(family_dir: Path, tmp_path: Path) -> None:
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
        latent_channels=4,
    ).save_pretrained(tmp_path / "taesd")
    local = LocalEngine(
        model=str(family_dir / "sd"),
        device="cpu",
        threads=1,
        preview_every=1,
        preview_decoder=str(tmp_path / "taesd"),
    )
    try:
        calls: list[tuple[int, ...]] = []
        progress: list[Progress] = []
        result = await local.run(request("x --seed 1", steps=3), job_id="taesd", on_progress=progress.append)
        await asyncio.sleep(0)
        assert local._preview_decoder is not None
        local._preview_decoder.decoder.register_forward_hook(
            lambda _m, args, _o: calls.append(tuple(args[0].shape))
        )
        await local.run(request("x --seed 1", steps=3), job_id="taesd-2", on_progress=progress.append)
        assert len(result.images) == 4
        assert calls == [(4, 4, 8, 8)] * 2, "one decoded preview per step but the last"
        assert all(p.preview is not None for p in progress if p.step < p.total)
    finally:
        await local.close()
