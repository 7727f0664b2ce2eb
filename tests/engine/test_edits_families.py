"""Zoom Out and Pan on tiny random-weight SDXL and SD3 models: the family's own inpainting pipeline (built
``from_pipe``) runs, the outputs have the exact sizes and the source pixels are kept exactly."""

from __future__ import annotations

import asyncio
import copy
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from engine.api import GenerateRequest, GenerationResult, ModelInfo, OutpaintRequest
from engine.local import LocalEngine
from engine.tiny import _save, _text_encoder, _tokenizer

NATIVE = 64


def _vae(latent_channels: int, **extra: Any) -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 16, 16),
        layers_per_block=1,
        norm_num_groups=8,
        latent_channels=latent_channels,
        sample_size=NATIVE,
        **extra,
    )


def _text_encoder_with_projection(tokenizer: Any, vocab_size: int) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    return CLIPTextModelWithProjection(
        CLIPTextConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=4,
            max_position_embeddings=32,
            projection_dim=32,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )


def _finish(pipe: Any, path: Path, vocab_dir: Path) -> Path:
    _save(pipe, path, vocab_dir)
    settings = {"native_size": NATIVE, "default_steps": 2, "default_guidance": 2.0}
    (path / "imaginebot.json").write_text(json.dumps(settings), encoding="utf-8")
    return path


def build_tiny_sdxl(path: Path) -> Path:
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

    vocab_dir = path / "_vocab"
    tokenizer, vocab_size = _tokenizer(vocab_dir)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=NATIVE // 8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=8,
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=8 * 6 + 32,
        cross_attention_dim=64,
    )
    pipe = StableDiffusionXLPipeline(
        vae=_vae(4),
        text_encoder=_text_encoder(tokenizer, vocab_size, layers=1),
        text_encoder_2=_text_encoder_with_projection(tokenizer, vocab_size),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=EulerDiscreteScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012),
    )
    return _finish(pipe, path, vocab_dir)


def build_tiny_sd3(vocab_dir: Path) -> Any:
    """In memory: without its optional T5 encoder an SD3 pipeline cannot be loaded back from a folder."""
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline

    tokenizer, vocab_size = _tokenizer(vocab_dir)
    torch.manual_seed(0)
    transformer = SD3Transformer2DModel(
        sample_size=NATIVE // 8,
        patch_size=1,
        in_channels=16,
        out_channels=16,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=4,
        joint_attention_dim=64,
        caption_projection_dim=32,
        pooled_projection_dim=64,
    )
    pipe = StableDiffusion3Pipeline(
        transformer=transformer,
        vae=_vae(16, shift_factor=0.0609, scaling_factor=1.5035),
        text_encoder=_text_encoder_with_projection(tokenizer, vocab_size),
        text_encoder_2=_text_encoder_with_projection(tokenizer, vocab_size),
        text_encoder_3=None,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        tokenizer_3=None,
        scheduler=FlowMatchEulerDiscreteScheduler(),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def sdxl_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEngine]:
    folder = build_tiny_sdxl(tmp_path_factory.mktemp("sdxl") / "model")
    local = LocalEngine(model=str(folder), device="cpu", threads=1, preload=True)
    yield local
    asyncio.run(local.close())


def _rgb(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def _check(zoom: GenerationResult, pan: GenerationResult, tile: bytes, width: int, height: int) -> None:
    assert (zoom.width, zoom.height) == (width, height) and len(zoom.images) == 4
    assert (pan.width, pan.height) == (width, height + 24) and len(pan.images) == 4
    source = _rgb(tile)
    for image in pan.images:
        pixels = _rgb(image)
        assert pixels.shape[:2] == (height + 24, width)
        assert np.array_equal(pixels[24:], source)


async def test_zoom_and_pan_on_a_tiny_sdxl_model(sdxl_engine: LocalEngine) -> None:
    grid = await sdxl_engine.run(
        GenerateRequest(prompt="a red circle", seed=1, aspect=(3, 2), tile_indices=(1,)), job_id="src"
    )
    assert (grid.width, grid.height) == (72, 48)
    tile = grid.images[0]
    zoom = await sdxl_engine.run(
        OutpaintRequest(source=tile, prompt="a red circle", seed=3, mode="zoom", zoom=1.5), job_id="zoom"
    )
    pan = await sdxl_engine.run(
        OutpaintRequest(source=tile, prompt="a red circle", seed=3, mode="pan", direction="up"), job_id="pan"
    )
    _check(zoom, pan, tile, 72, 48)


def test_zoom_and_pan_on_a_tiny_sd3_model(tmp_path: Path) -> None:
    from engine.local import edit
    from engine.local.models import LoadedModel
    from engine.local.preview import LatentPreviewer
    from engine.local.registry import ModelSpec
    from engine.local.render import JobControl

    pipe = build_tiny_sd3(tmp_path / "vocab")
    spec = ModelSpec(name="tiny-sd3", source=str(tmp_path), local=True)
    model = LoadedModel(
        spec=spec,
        info=ModelInfo(name="tiny-sd3", native_size=NATIVE, default_steps=2, default_guidance=2.0, source=""),
        pipe=pipe,
        device=torch.device("cpu"),
        multiple=8,
        previewer=LatentPreviewer.fit(pipe.vae, scale_factor=8),
        scheduler_template=copy.deepcopy(pipe.scheduler),
    )
    assert type(edit.inpaint_pipeline(model)).__name__ == "StableDiffusion3InpaintPipeline"
    steps: list[int] = []
    control = JobControl(cancelled=lambda: False, report=lambda step, total, preview: steps.append(step))
    rng = np.random.default_rng(0)
    source = Image.fromarray(rng.integers(0, 256, (48, 72, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    source.save(buffer, format="PNG")
    tile = buffer.getvalue()
    zoom = edit.outpaint(
        model, OutpaintRequest(source=tile, prompt="a red circle", seed=3, mode="zoom"), control
    )
    pan = edit.outpaint(
        model,
        OutpaintRequest(source=tile, prompt="a red circle", seed=3, mode="pan", direction="up"),
        control,
    )
    assert steps, "progress is reported"
    _check(zoom, pan, tile, 72, 48)
