"""Cheap progress previews: a linear latent→RGB map (fitted once per VAE), no VAE decode."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from engine.local.images import grid_image

PREVIEW_MIN_SIDE = 128  # small latents are enlarged (by a whole factor) to at least this
JPEG_QUALITY = 70
_FIT_IMAGES = 4
_FIT_PATCHES = 8


@dataclass(frozen=True, slots=True)
class LatentPreviewer:
    """``rgb = latents · weight + bias`` per latent pixel (rgb in [-1, 1])."""

    weight: torch.Tensor  # (channels, 3)
    bias: torch.Tensor  # (3,)

    @classmethod
    def fit(cls, vae: Any, *, scale_factor: int, seed: int = 0) -> LatentPreviewer:
        """Least-squares fit of the map on a few random colour-patch images through ``vae``'s encoder."""
        generator = torch.Generator().manual_seed(seed)
        patch = scale_factor * 2
        colours = torch.rand(_FIT_IMAGES, 3, _FIT_PATCHES, _FIT_PATCHES, generator=generator) * 2 - 1
        images = colours.repeat_interleave(patch, dim=2).repeat_interleave(patch, dim=3)
        param = next(vae.parameters())
        with torch.no_grad():
            encoded = vae.encode(images.to(param.device, param.dtype))
            # AutoencoderKL returns a distribution; AutoencoderTiny (the shipped model's) and AutoencoderDC
            # (Sana's) plain latents.
            if hasattr(encoded, "latent_dist"):
                mean = encoded.latent_dist.mean
            else:
                mean = encoded.latents if hasattr(encoded, "latents") else encoded.latent
            latents = mean.float().cpu()
        shift = getattr(vae.config, "shift_factor", None) or 0.0
        latents = (latents - shift) * vae.config.scaling_factor
        targets = F.avg_pool2d(images, scale_factor)
        x = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
        y = targets.permute(0, 2, 3, 1).reshape(-1, 3)
        x1 = torch.cat([x, torch.ones(len(x), 1)], dim=1)
        solution = torch.linalg.lstsq(x1, y).solution
        return cls(weight=solution[:-1].contiguous(), bias=solution[-1].contiguous())

    def render(self, latents: torch.Tensor, *, sigma: float | None = None) -> bytes:
        """A small JPEG of the current latents (one tile, or tiles laid out like the final grid)."""
        with torch.no_grad():
            values = latents.detach().float().cpu()
            if sigma is not None:
                values = values / (sigma * sigma + 1.0) ** 0.5
            rgb = values.permute(0, 2, 3, 1) @ self.weight + self.bias
            pixels = ((rgb.clamp(-1, 1) + 1) * 127.5).to(torch.uint8).numpy()
        return _jpeg([Image.fromarray(tile) for tile in pixels])


def _jpeg(tiles: list[Image.Image]) -> bytes:
    image = grid_image(tiles)
    factor = -(-PREVIEW_MIN_SIDE // max(image.size))
    if factor > 1:
        image = image.resize((image.width * factor, image.height * factor), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def load_preview_decoder(folder: str, device: torch.device, dtype: torch.dtype) -> Any:
    """A TAESD-style ``AutoencoderTiny`` folder (``ENGINE_PREVIEW_DECODER``) for sharper previews."""
    from diffusers import AutoencoderTiny

    decoder = AutoencoderTiny.from_pretrained(folder, torch_dtype=dtype, local_files_only=True)
    return decoder.to(device).eval()


def decoded_preview(decoder: Any, latents: torch.Tensor) -> bytes:
    """A JPEG of ``latents`` decoded by a tiny decoder (as a pipeline would with it as its VAE)."""
    config = decoder.config
    param = next(decoder.parameters())
    with torch.no_grad():
        values = latents.detach().to(param.device, param.dtype) / config.scaling_factor
        values = values + (getattr(config, "shift_factor", None) or 0.0)
        pixels = decoder.decode(values).sample.float().clamp(-1, 1)
        arrays = ((pixels.permute(0, 2, 3, 1) + 1) * 127.5).to(torch.uint8).cpu().numpy()
    return _jpeg([Image.fromarray(a) for a in arrays])


def unpack_latents(latents: torch.Tensor, height: int, width: int, vae_factor: int) -> torch.Tensor:
    """Flux-style packed latents ``(batch, tokens, channels·4)`` back to ``(batch, channels, h, w)``."""
    batch, _, packed = latents.shape
    h, w = 2 * (height // (vae_factor * 2)), 2 * (width // (vae_factor * 2))
    latents = latents.view(batch, h // 2, w // 2, packed // 4, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return latents.reshape(batch, packed // 4, h, w)


def current_sigma(scheduler: Any) -> float | None:
    """The noise level of the latents a sampler step just produced, for schedulers whose latents grow with
    the noise (k-diffusion style, ``init_noise_sigma`` > 1); ``None`` for variance-preserving ones."""
    if float(getattr(scheduler, "init_noise_sigma", 1.0)) <= 1.0 + 1e-6:
        return None
    sigmas = getattr(scheduler, "sigmas", None)
    index = getattr(scheduler, "step_index", None)
    if sigmas is None or index is None or index >= len(sigmas):
        return None
    return float(sigmas[index])
