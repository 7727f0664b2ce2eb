"""Renderer-level behaviour: cancellation inside the denoising loop, seamless padding, previews."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from engine.api import GenerateRequest
from engine.errors import Cancelled
from engine.local.preview import LatentPreviewer
from engine.local.render import JobControl, render
from engine.local.tiling import seamless


def test_cancel_stops_within_one_step_and_skips_the_decode(loaded, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    decodes = 0
    original = loaded.pipe.vae.decode

    def counting_decode(*args: object, **kwargs: object) -> object:
        nonlocal decodes
        decodes += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(loaded.pipe.vae, "decode", counting_decode)
    cancelled = False
    reported: list[int] = []

    def report(step: int, total: int, preview: bytes | None) -> None:
        nonlocal cancelled
        reported.append(step)
        if step == 3:
            cancelled = True

    control = JobControl(cancelled=lambda: cancelled, report=report)
    with pytest.raises(Cancelled):
        render(loaded, GenerateRequest(prompt="a", seed=1, steps=20), control)
    assert reported == [1, 2, 3]
    assert decodes == 0

    reported.clear()
    cancelled = False
    render(
        loaded,
        GenerateRequest(prompt="a", seed=1, steps=2),
        JobControl(cancelled=lambda: False, report=report),
    )
    assert reported == [1, 2] and decodes == 1


def test_seamless_switches_padding_for_the_job_only(loaded) -> None:  # type: ignore[no-untyped-def]
    modules = [loaded.pipe.unet, loaded.pipe.vae]
    padded = [
        m for module in modules for m in module.modules() if isinstance(m, nn.Conv2d) and m.padding != (0, 0)
    ]
    assert padded and all(m.padding_mode == "zeros" for m in padded)
    with seamless(modules):
        assert all(m.padding_mode == "circular" for m in padded)
    assert all(m.padding_mode == "zeros" for m in padded)
    with pytest.raises(RuntimeError), seamless(modules):
        raise RuntimeError("job failed")
    assert all(m.padding_mode == "zeros" for m in padded)
    with seamless(modules, enabled=False):
        assert all(m.padding_mode == "zeros" for m in padded)


def test_seamless_output_wraps_around() -> None:
    conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    nn.init.ones_(conv.weight)
    image = torch.zeros(1, 1, 4, 4)
    image[..., :, 0] = 1.0  # a stripe on the left edge
    with seamless([conv]):
        wrapped = conv(image)
    plain = conv(image)
    assert wrapped[0, 0, 1, 3] > 0  # the right edge sees the left edge
    assert plain[0, 0, 1, 3] == 0


def test_preview_is_a_small_jpeg_laid_out_like_the_grid(loaded) -> None:  # type: ignore[no-untyped-def]
    latents = torch.randn(4, 4, 6, 9, generator=torch.Generator().manual_seed(0))
    jpeg = loaded.previewer.render(latents, sigma=3.0)
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == "JPEG"
    assert image.size[0] / image.size[1] == pytest.approx(18 / 12)
    assert 128 <= max(image.size) <= 256
    assert len(jpeg) < 20_000


class _LinearVae(nn.Module):
    """A stand-in VAE encoder whose latents are a known linear function of the 8×8-averaged colours."""

    def __init__(self) -> None:
        super().__init__()
        self.mix = nn.Conv2d(3, 4, 1)
        self.config = SimpleNamespace(scaling_factor=0.5, shift_factor=None)

    def encode(self, images: torch.Tensor) -> SimpleNamespace:
        mean = self.mix(F.avg_pool2d(images, 8))
        return SimpleNamespace(latent_dist=SimpleNamespace(mean=mean))


def test_preview_map_inverts_a_linear_encoder() -> None:
    torch.manual_seed(0)
    vae = _LinearVae()
    previewer = LatentPreviewer.fit(vae, scale_factor=8)
    colours = torch.tensor([[0.9, -0.8, -0.7], [-0.5, 0.6, 0.1], [0.0, 0.0, 1.0]]).view(3, 3, 1, 1)
    with torch.no_grad():
        latents = vae.mix(colours) * vae.config.scaling_factor
    recovered = torch.einsum("nchw,cd->nd", latents, previewer.weight) + previewer.bias
    assert torch.allclose(recovered, colours.view(3, 3), atol=1e-3)


def test_each_job_gets_its_own_scheduler(loaded) -> None:  # type: ignore[no-untyped-def]
    control = JobControl(cancelled=lambda: False, report=lambda *_: None)
    render(loaded, GenerateRequest(prompt="a", seed=1, steps=1, tile_indices=(1,)), control)
    first = loaded.pipe.scheduler
    render(loaded, GenerateRequest(prompt="a", seed=1, steps=1, tile_indices=(1,)), control)
    second = loaded.pipe.scheduler
    assert first is not second and second is not loaded.scheduler_template
    assert type(second) is type(loaded.scheduler_template)
    assert dict(second.config) == dict(loaded.scheduler_template.config)
    assert loaded.scheduler_template.step_index is None  # the template never runs


def test_out_of_memory_on_a_gpu_retries_one_tile_at_a_time(loaded, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    from engine.local import render as render_module

    request = GenerateRequest(prompt="a", seed=1, steps=2)
    control = JobControl(cancelled=lambda: False, report=lambda *_: None)
    normal = render(loaded, request, control)
    on_gpu = dataclasses.replace(loaded, device=torch.device("cuda"))
    real_call = render_module._Call.__call__
    batches: list[int] = []

    def call(self, kwargs_for, batch, **options):  # type: ignore[no-untyped-def]
        batches.append(len(batch))
        if len(batch) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.model = loaded
        return real_call(self, kwargs_for, batch, **options)

    monkeypatch.setattr(render_module._Call, "__call__", call)
    retried = render(on_gpu, request, control)
    assert batches == [4, 1, 1, 1, 1]
    for tile, again in zip(normal.images, retried.images, strict=True):
        a = np.asarray(Image.open(io.BytesIO(tile))).astype(int)
        b = np.asarray(Image.open(io.BytesIO(again))).astype(int)
        assert np.abs(a - b).max() <= 2

    def always_exhausted(self, kwargs_for, batch, **options):  # type: ignore[no-untyped-def]
        batches.append(len(batch))
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(render_module._Call, "__call__", always_exhausted)
    batches.clear()
    with pytest.raises(torch.OutOfMemoryError):
        render(on_gpu, request, control)
    assert batches == [4, 1], "one retry at batch 1, then give up"
    batches.clear()
    with pytest.raises(torch.OutOfMemoryError):
        render(loaded, request, control)
    assert batches == [4], "no retry on the CPU"


async def test_out_of_memory_becomes_a_clear_error(engine, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from engine.errors import OutOfMemory

    def exhausted(*args: object, **kwargs: object) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr("engine.local.render.generate", exhausted)
    with pytest.raises(OutOfMemory, match="ran out of memory"):
        await engine.run(GenerateRequest(prompt="a", seed=1), job_id="oom")


def test_grids_and_variations_are_one_batched_call(loaded, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from engine.api import VariationRequest
    from engine.local import render as render_module

    real_call = render_module._Call.__call__
    calls: list[tuple[int, int, list[int]]] = []

    def spy(self, kwargs_for, batch, **options):  # type: ignore[no-untyped-def]
        kwargs = kwargs_for(batch)
        seeds = [g.initial_seed() for g in kwargs["generator"]]
        calls.append((len(kwargs["prompt"]), len(seeds), seeds))
        return real_call(self, kwargs_for, batch, **options)

    monkeypatch.setattr(render_module._Call, "__call__", spy)
    control = JobControl(cancelled=lambda: False, report=lambda *_: None)
    grid = render(loaded, GenerateRequest(prompt="a", seed=100, steps=1), control)
    assert calls == [(4, 4, [100, 101, 102, 103])]
    calls.clear()
    render(loaded, VariationRequest(source=grid.images[0], prompt="a", seed=7, steps=1), control)
    assert calls == [(4, 4, [7, 8, 9, 10])]


def test_device_selection_and_precision() -> None:
    from engine.local.models import dtype_for, select_device

    assert select_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert select_device(None).type == expected
    assert select_device("auto").type == expected
    with pytest.raises(ValueError, match="ENGINE_DEVICE"):
        select_device("tpu")
    assert dtype_for(torch.device("cpu")) == torch.float32
    assert dtype_for(torch.device("cuda")) == torch.float16


def test_preview_noise_level_only_for_variance_exploding_latents() -> None:
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler

    from engine.local.preview import current_sigma

    euler = EulerDiscreteScheduler()
    euler.set_timesteps(4)
    euler._step_index = 1
    assert current_sigma(euler) == pytest.approx(float(euler.sigmas[1]))
    for variance_preserving in (DPMSolverMultistepScheduler(), DDIMScheduler()):
        variance_preserving.set_timesteps(4)
        assert current_sigma(variance_preserving) is None
