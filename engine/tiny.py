"""A tiny random-weight Stable Diffusion pipeline built from config, for fast offline tests and demos.

The images are noise-like, but every component is a real diffusers/transformers class: UNet, VAE, CLIP text
encoder, a byte-level BPE tokenizer whose vocabulary is written here, and a scheduler. A 2×2 grid at the
native 64 px takes a fraction of a second on one CPU thread.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.training.tokenizer import SPECIALS, bytes_to_unicode

NATIVE_SIZE = 64
DEFAULT_STEPS = 4
_MERGES = ("t h", "th e</w>", "r e", "i n", "a n", "o n", "e r", "c i", "ci r", "cir c", "l e</w>")


def write_tokenizer_files(directory: Path) -> int:
    """Write a CLIP-style ``vocab.json`` + ``merges.txt``; returns the vocabulary size."""
    directory.mkdir(parents=True, exist_ok=True)
    symbols = list(bytes_to_unicode().values())
    tokens = [*symbols, *(s + "</w>" for s in symbols)]
    tokens += ["".join(merge.split()) for merge in _MERGES]
    tokens += list(SPECIALS)
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(_MERGES) + "\n", encoding="utf-8")
    return len(vocab)


def _tokenizer(vocab_dir: Path) -> tuple[Any, int]:
    from transformers import CLIPTokenizer

    vocab_size = write_tokenizer_files(vocab_dir)
    return CLIPTokenizer.from_pretrained(str(vocab_dir), model_max_length=32), vocab_size


def _text_encoder(tokenizer: Any, vocab_size: int, *, layers: int) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=layers,
            num_attention_heads=4,
            max_position_embeddings=32,
            projection_dim=32,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )


def _save(pipe: Any, path: Path, vocab_dir: Path) -> None:
    pipe.save_pretrained(str(path), safe_serialization=True)
    for leftover in vocab_dir.iterdir():
        leftover.unlink()
    vocab_dir.rmdir()


def build_tiny_model(path: Path, *, seed: int = 0) -> Path:
    """Write a tiny random-weight ``StableDiffusionPipeline`` folder (64 px native) at ``path``; return it."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )

    path = Path(path)
    vocab_dir = path / "_vocab"
    tokenizer, vocab_size = _tokenizer(vocab_dir)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=NATIVE_SIZE // 8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        norm_num_groups=8,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 16, 16),
        layers_per_block=1,
        norm_num_groups=8,
        latent_channels=4,
        sample_size=NATIVE_SIZE,
    )
    text_encoder = _text_encoder(tokenizer, vocab_size, layers=2)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="trailing",
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    _save(pipe, path, vocab_dir)
    (path / "imaginebot.json").write_text(
        json.dumps({"native_size": NATIVE_SIZE, "default_steps": DEFAULT_STEPS, "default_guidance": 5.0}),
        encoding="utf-8",
    )
    return path


def build_tiny_upscaler(path: Path, *, seed: int = 0) -> Path:
    """Write a tiny random-weight ``StableDiffusionUpscalePipeline`` folder (×4, the layout of Stable
    Diffusion's x4 upscaler) at ``path``; return it."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DDPMScheduler,
        StableDiffusionUpscalePipeline,
        UNet2DConditionModel,
    )

    path = Path(path)
    vocab_dir = path / "_vocab"
    tokenizer, vocab_size = _tokenizer(vocab_dir)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=7,  # the noisy latents and the low-resolution image
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        num_class_embeds=1000,  # the noise level added to the low-resolution image
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(8, 8, 16),
        layers_per_block=1,
        norm_num_groups=8,
        latent_channels=4,
        scaling_factor=0.08333,
    )
    text_encoder = _text_encoder(tokenizer, vocab_size, layers=1)
    pipe = StableDiffusionUpscalePipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        low_res_scheduler=DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.0001, beta_end=0.02),
        scheduler=DDIMScheduler(prediction_type="v_prediction", timestep_spacing="trailing"),
        max_noise_level=350,
    )
    _save(pipe, path, vocab_dir)
    return path
