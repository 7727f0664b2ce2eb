"""A small f=8 autoencoder (128 px ↔ 16×16×4 latents), initialised as a near-exact pooling/upsampling pair
and then trained on the data.

Measured on this data, ``AutoencoderKL`` learns slowly from scratch: after 200 steps its held-out error was
still 39/255. Its group norms remove each group's mean and spread, so a flat background's absolute colour has
to be smuggled through channel patterns before the last norm. This module uses diffusers' ``AutoencoderTiny``
(no normalisation; ``StableDiffusionPipeline`` loads it like any VAE) and starts it near the answer:

- encoder: latent channels 0–2 are the 8×8 average colour (scaled to −1…1), channel 3 starts near zero and is
  free to learn whatever edge detail helps;
- decoder: a smooth 8× upsampling of channels 0–2; every residual block starts as the identity.

Training then only has to sharpen edges. Latents are made unit-variance by ``scaling_factor``.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from engine.training import shapes
from engine.training.common import (
    MetricLog,
    load_checkpoint,
    restore_rng,
    rng_state,
    save_checkpoint,
    seed_everything,
    to_tensor,
)

log = logging.getLogger(__name__)

ImageSource = Any  # Callable[[random.Random, int, int], np.ndarray]


@dataclass(frozen=True)
class AutoencoderSettings:
    image_size: int = 128
    width: int = 24
    levels: int = 4  # f = 2 ** (levels - 1)
    latent_channels: int = 4
    steps: int = 500
    crop: int = 64
    batch: int = 16
    lr: float = 1e-3
    warmup: int = 20
    seed: int = 2
    checkpoint_every: int = 100


def shapes_images(rng: random.Random, n: int, size: int) -> np.ndarray:
    """``n`` rendered training scenes (uint8 n×size×size×3)."""
    return np.stack([np.asarray(shapes.render(shapes.sample_scene(rng), size)) for _ in range(n)])


def build_autoencoder(settings: AutoencoderSettings) -> Any:
    """An ``AutoencoderTiny`` initialised as 8×8 average pooling (encoder) and smooth upsampling (decoder)."""
    from diffusers import AutoencoderTiny

    torch.manual_seed(settings.seed)
    vae = AutoencoderTiny(
        encoder_block_out_channels=(settings.width,) * settings.levels,
        decoder_block_out_channels=(settings.width,) * settings.levels,
        num_encoder_blocks=(0,) + (1,) * (settings.levels - 1),
        num_decoder_blocks=(1,) * settings.levels,
        latent_channels=settings.latent_channels,
        scaling_factor=1.0,
    )
    init_pooling_pair(vae)
    return vae


@torch.no_grad()
def init_pooling_pair(vae: Any) -> None:
    """Set the encoder to average-pool RGB into latent channels 0–2 and the decoder to upsample them back.

    Every ``AutoencoderTinyBlock`` becomes the identity (its last conv is zeroed; inputs are ≥ 0, so the
    ReLUs pass them unchanged). The extra latent channels and all other weights keep a small random start so
    they can learn."""
    from diffusers.models.autoencoders.vae import AutoencoderTinyBlock

    def identity_rgb(conv: torch.nn.Conv2d, scale: float = 1.0) -> None:
        conv.weight.mul_(0.01)
        k = conv.kernel_size[0] // 2
        for c in range(3):
            conv.weight[c, :, :, :] = 0.0
            conv.weight[c, c, k, k] = scale
        if conv.bias is not None:
            conv.bias[:3] = 0.0

    def zero_last(block: AutoencoderTinyBlock) -> None:
        last = block.conv[-1]
        last.weight.zero_()
        last.bias.zero_()

    encoder = list(vae.encoder.layers)
    decoder = list(vae.decoder.layers)
    for module in encoder + decoder:
        if isinstance(module, AutoencoderTinyBlock):
            zero_last(module)
    # Encoder: input is the image in 0…1. conv_in copies RGB; each stride-2 conv averages a 2×2 window
    # (taps (1,1),(1,2),(2,1),(2,2) of a padded 3×3 kernel); conv_out maps 0…1 to −1…1.
    convs = [m for m in encoder if isinstance(m, torch.nn.Conv2d)]
    identity_rgb(convs[0])
    for conv in convs[1:-1]:
        identity_rgb(conv, 0.0)
        for c in range(3):
            conv.weight[c, c, 1:, 1:] = 0.25
    out = convs[-1]
    out.weight.mul_(0.01)
    out.weight[:3] = 0.0
    for c in range(3):
        out.weight[c, c, 1, 1] = 2.0
    assert out.bias is not None
    out.bias[:3] = -1.0
    # Decoder: latent −1…1 → 0…1 in channels 0–2, then each upsample's conv blurs with [1,2,1]/4 ⊗ [1,2,1]/4.
    convs = [m for m in decoder if isinstance(m, torch.nn.Conv2d)]
    first = convs[0]
    first.weight.mul_(0.01)
    first.weight[:3] = 0.0
    for c in range(3):
        first.weight[c, c, 1, 1] = 0.5
    assert first.bias is not None
    first.bias[:3] = 0.5
    blur = torch.tensor([1.0, 2.0, 1.0])
    blur = torch.outer(blur, blur) / 16
    for conv in convs[1:]:
        conv.weight.mul_(0.01)
        conv.weight[:3] = 0.0
        for c in range(3):
            conv.weight[c, c] = blur if conv is not convs[-1] else 0.0
            if conv is convs[-1]:
                conv.weight[c, c, 1, 1] = 1.0
        if conv.bias is not None:
            conv.bias[:3] = 0.0


def random_crops(batch: torch.Tensor, crop: int, rng: random.Random) -> torch.Tensor:
    size = batch.shape[-1]
    out = []
    for image in batch:
        top, left = rng.randrange(0, size - crop + 1, 8), rng.randrange(0, size - crop + 1, 8)
        out.append(image[:, top : top + crop, left : left + crop])
    return torch.stack(out)


def reconstruct(vae: Any, x: torch.Tensor) -> torch.Tensor:
    return vae.decode(vae.encode(x).latents).sample


def reconstruction_loss(vae: Any, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    recon = reconstruct(vae, x)
    l1 = (recon - x).abs().mean()
    return l1 + 0.5 * (recon - x).pow(2).mean(), l1


@torch.no_grad()
def reconstruction_error(vae: Any, images: np.ndarray) -> dict[str, float]:
    """Mean absolute error (0–255 scale), PSNR and the worst pixel error over ``images`` (uint8)."""
    vae.eval()
    x = to_tensor(images)
    recon = torch.cat([reconstruct(vae, x[i : i + 16]) for i in range(0, len(x), 16)])
    recon = recon.clamp(-1, 1)
    diff = (recon - x) * 127.5
    mse = diff.pow(2).mean().item()
    return {
        "mae": diff.abs().mean().item(),
        "psnr": 10 * math.log10(255**2 / max(mse, 1e-8)),
        "p99_abs": diff.abs().flatten().quantile(0.99).item() if diff.numel() < 16_000_000 else float("nan"),
    }


@torch.no_grad()
def set_scaling_factor(vae: Any, images: np.ndarray) -> dict[str, Any]:
    """Set ``scaling_factor`` so scaled latents have unit variance; returns the latents' statistics."""
    vae.eval()
    x = to_tensor(images)
    latents = torch.cat([vae.encode(x[i : i + 16]).latents for i in range(0, len(x), 16)])
    std = latents.std().item()
    vae.register_to_config(scaling_factor=1.0 / std)
    return {
        "channel_mean": latents.mean(dim=(0, 2, 3)).tolist(),
        "channel_std": latents.std(dim=(0, 2, 3)).tolist(),
        "scaling_factor": 1.0 / std,
    }


def train_autoencoder(
    out: Path,
    settings: AutoencoderSettings,
    *,
    images: ImageSource = shapes_images,
    progress: bool = True,
) -> dict[str, Any]:
    """Train, set the scaling factor and save to ``out/final``; checkpoints to ``out/ckpt.pt``."""
    seed_everything(settings.seed)
    vae = build_autoencoder(settings)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=settings.lr, weight_decay=0.0)
    rng = random.Random(settings.seed)
    step, elapsed = 0, 0.0
    ckpt_path = out / "ckpt.pt"
    state = load_checkpoint(ckpt_path)
    if state is not None:
        vae.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        rng.setstate(state["rng"])
        restore_rng(state["global_rng"])
        step, elapsed = state["step"], state["elapsed"]
        log.info("resumed autoencoder training at step %d", step)
    metrics = MetricLog(out / "log.jsonl")
    held = images(random.Random(settings.seed + 1000), 32, settings.image_size)
    total = settings.steps

    def lr_at(i: int) -> float:
        if i < settings.warmup:
            return settings.lr * (i + 1) / settings.warmup
        return settings.lr * (
            0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (i - settings.warmup) / (total - settings.warmup)))
        )

    bar = tqdm(total=total, initial=step, desc="autoencoder", disable=not progress)
    vae.train()
    while step < total:
        started = time.perf_counter()
        batch = random_crops(to_tensor(images(rng, settings.batch, settings.image_size)), settings.crop, rng)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        loss, l1 = reconstruction_loss(vae, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        step += 1
        elapsed += time.perf_counter() - started
        bar.update(1)
        bar.set_postfix(l1=f"{l1.item() * 127.5:.2f}")
        if step % 20 == 0:
            metrics.write(step=step, elapsed=elapsed, loss=loss.item(), l1_255=l1.item() * 127.5)
        if step % settings.checkpoint_every == 0 or step == total:
            error = reconstruction_error(vae, held)
            vae.train()
            metrics.write(step=step, elapsed=elapsed, **{f"held_{k}": v for k, v in error.items()})
            bar.write(f"autoencoder step {step}: {error}")
            save_checkpoint(
                ckpt_path,
                {
                    "model": vae.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "rng": rng.getstate(),
                    "global_rng": rng_state(),
                    "step": step,
                    "elapsed": elapsed,
                },
            )
    bar.close()
    stats = set_scaling_factor(vae, images(random.Random(settings.seed + 2000), 256, settings.image_size))
    error = reconstruction_error(vae, held)
    vae.save_pretrained(str(out / "final"))
    return {
        "steps": step,
        "train_seconds": round(elapsed, 1),
        "parameters": sum(p.numel() for p in vae.parameters()),
        "reconstruction": error,
        "latents": stats,
        "settings": asdict(settings),
    }


@torch.no_grad()
def encode_dataset(vae: Any, seed: int, count: int, size: int, *, progress: bool = True) -> dict[str, Any]:
    """Render ``count`` training scenes and encode them: scaled latents (fp16, N×C×h×w, unit variance, what
    the UNet sees) + each scene's attributes."""
    vae.eval()
    rng = random.Random(seed)
    latents: list[torch.Tensor] = []
    scenes: list[shapes.Scene] = []
    bar = tqdm(total=count, desc="encode", disable=not progress)
    while len(scenes) < count:
        batch_scenes = [shapes.sample_scene(rng) for _ in range(min(64, count - len(scenes)))]
        images = np.stack([np.asarray(shapes.render(s, size)) for s in batch_scenes])
        latents.append((vae.encode(to_tensor(images)).latents * vae.config.scaling_factor).half())
        scenes += batch_scenes
        bar.update(len(batch_scenes))
    bar.close()
    return {"latents": torch.cat(latents), "scenes": [asdict(s) for s in scenes]}


@dataclass(frozen=True)
class DecoderSettings:
    """Decoder-only fine-tuning: the encoder (and so the latent space the UNet learned) stays fixed."""

    steps: int = 600
    image_size: int = 128
    crop: int = 64
    batch: int = 16
    lr: float = 5e-4
    seed: int = 5
    checkpoint_every: int = 100


def finetune_decoder(
    source: Path,
    out: Path,
    settings: DecoderSettings,
    *,
    images: ImageSource = shapes_images,
    progress: bool = True,
) -> dict[str, Any]:
    """Sharpen the decoder of the autoencoder at ``source``; save the whole autoencoder to ``out/final``."""
    from diffusers import AutoencoderTiny

    seed_everything(settings.seed)
    vae = AutoencoderTiny.from_pretrained(str(source))
    vae.encoder.requires_grad_(False)
    optimizer = torch.optim.AdamW(vae.decoder.parameters(), lr=settings.lr, weight_decay=0.0)
    rng = random.Random(settings.seed)
    step, elapsed = 0, 0.0
    ckpt_path = out / "ckpt.pt"
    state = load_checkpoint(ckpt_path)
    if state is not None:
        vae.decoder.load_state_dict(state["decoder"])
        optimizer.load_state_dict(state["optimizer"])
        rng.setstate(state["rng"])
        restore_rng(state["global_rng"])
        step, elapsed = state["step"], state["elapsed"]
    metrics = MetricLog(out / "log.jsonl")
    held = images(random.Random(1002), 32, settings.image_size)
    before = reconstruction_error(vae, held)
    bar = tqdm(total=settings.steps, initial=step, desc="decoder", disable=not progress)
    vae.decoder.train()
    while step < settings.steps:
        started = time.perf_counter()
        batch = random_crops(to_tensor(images(rng, settings.batch, settings.image_size)), settings.crop, rng)
        lr = settings.lr * 0.5 * (1 + math.cos(math.pi * step / settings.steps))
        for group in optimizer.param_groups:
            group["lr"] = lr
        with torch.no_grad():
            latents = vae.encode(batch).latents
        recon = vae.decode(latents).sample
        l1 = (recon - batch).abs().mean()
        loss = l1 + 0.5 * (recon - batch).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.decoder.parameters(), 1.0)
        optimizer.step()
        step += 1
        elapsed += time.perf_counter() - started
        bar.update(1)
        bar.set_postfix(l1=f"{l1.item() * 127.5:.2f}")
        if step % 20 == 0:
            metrics.write(step=step, elapsed=elapsed, loss=loss.item(), l1_255=l1.item() * 127.5)
        if step % settings.checkpoint_every == 0 or step == settings.steps:
            save_checkpoint(
                ckpt_path,
                {
                    "decoder": vae.decoder.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "rng": rng.getstate(),
                    "global_rng": rng_state(),
                    "step": step,
                    "elapsed": elapsed,
                },
            )
    bar.close()
    after = reconstruction_error(vae, held)
    vae.save_pretrained(str(out / "final"))
    return {
        "steps": step,
        "train_seconds": round(elapsed, 1),
        "reconstruction_before": before,
        "reconstruction": after,
        "settings": asdict(settings),
    }
