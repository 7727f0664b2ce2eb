"""Diffusion training: a ``UNet2DConditionModel`` learns to predict the noise (ε) added by a diffusers
scheduler's forward process, conditioned on every token's hidden state of the CLIP text encoder.

- Noise schedule: DDPM ``linear`` betas 1e-4…0.02 over 1000 steps. Its last step leaves almost no signal
  (√ᾱ_T ≈ 0.007), so the network cannot learn to read the background colour from the noise's mean — a
  schedule with more terminal signal (SD's ``scaled_linear``) teaches exactly that and then gets colours
  wrong when sampling starts from pure noise.
- Loss: mean-squared ε error with Min-SNR-γ weighting (γ = 5), which spends the effort on the noisy steps
  where colour, shape and position are decided.
- Refinement (``refine`` stage, :data:`REFINE`): the same network continues on the v-prediction objective
  (v = √ᾱ·ε − √(1−ᾱ)·x₀, the same bound with the target rewritten) on the zero-terminal-SNR rescaling of
  the same betas. Measured on the ε model: its samples place the object where the starting noise
  suggests, whatever the prompt says (position right on 8% of tiles, chance is 20%). In x₀ terms the
  ε loss weighs an error by the SNR, about 0 at the noise levels where the layout is decided, and sampling
  had to start at t = 699, where the model reads the layout out of the noise. v-prediction weighs those
  steps by 1 (capped at γ for the clean end) and lets sampling start from pure noise at t = 999.
- Caption dropout (empty caption) for classifier-free guidance.
- The text encoder starts from the CLIP stage and is fine-tuned with the UNet at a lower learning rate.
- Optional CLIP-similarity term: decode the predicted clean image and pull its CLIP embedding towards the
  caption's (``clip_weight`` > 0; costly, so applied to a few low-noise samples per batch).
- An exponential moving average of the weights is what gets exported.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from engine.training import shapes
from engine.training.common import (
    MetricLog,
    load_checkpoint,
    read_checkpoint,
    restore_rng,
    rng_state,
    save_checkpoint,
    seed_everything,
    write_json,
)

log = logging.getLogger(__name__)

DIFFUSION_STYLE = shapes.CaptionStyle(p_size=0.75, p_position=0.75, p_background=0.75)


@dataclass(frozen=True)
class DiffusionSettings:
    channels: tuple[int, ...] = (32, 64, 128)
    layers_per_block: int = 1
    heads: int = 4
    # Wide groups (8 channels each at the top level) so global colour survives the group norms.
    norm_groups: int = 4
    steps: int = 2071  # what the shipped model trained (60 min on 2 shared cores)
    batch: int = 32
    lr: float = 8e-4
    text_lr_factor: float = 0.3
    warmup: int = 200
    caption_dropout: float = 0.1
    min_snr_gamma: float = 5.0
    ema_decay: float = 0.999
    clip_weight: float = 0.0
    clip_samples: int = 4
    seed: int = 4
    checkpoint_every: int = 100
    snapshot_every: int = 500
    prediction: str = "epsilon"  # or "v_prediction"
    zero_terminal_snr: bool = False


# The refine stage: v-prediction on zero-terminal-SNR betas, starting from the diffusion stage's EMA weights
# (same architecture; these fields change).
REFINE: dict[str, Any] = {
    "steps": 7000,  # what the shipped model trained (70 min on 2 shared cores)
    "lr": 3e-4,
    "warmup": 100,
    "prediction": "v_prediction",
    "zero_terminal_snr": True,
    "seed": 5,
}


def noise_scheduler_config(settings: DiffusionSettings | None = None) -> dict[str, Any]:
    settings = settings or DiffusionSettings()
    return {
        "num_train_timesteps": 1000,
        "beta_schedule": "linear",
        "beta_start": 0.0001,
        "beta_end": 0.02,
        "prediction_type": settings.prediction,
        "rescale_betas_zero_snr": settings.zero_terminal_snr,
        "clip_sample": False,
        "steps_offset": 1,
    }


def build_unet(settings: DiffusionSettings, latent_channels: int, latent_size: int, context_dim: int) -> Any:
    from diffusers import UNet2DConditionModel

    blocks = len(settings.channels)
    return UNet2DConditionModel(
        sample_size=latent_size,
        in_channels=latent_channels,
        out_channels=latent_channels,
        block_out_channels=settings.channels,
        layers_per_block=settings.layers_per_block,
        norm_num_groups=settings.norm_groups,
        down_block_types=("CrossAttnDownBlock2D",) * blocks,
        up_block_types=("CrossAttnUpBlock2D",) * blocks,
        cross_attention_dim=context_dim,
        attention_head_dim=settings.heads,
        addition_embed_type="text",
        addition_embed_type_num_heads=settings.heads,
        resnet_time_scale_shift="scale_shift",
    )


def text_encoder_from_clip(clip_dir: Path) -> Any:
    """A ``CLIPTextModel`` holding the text tower of the CLIP stage's model."""
    from transformers import CLIPModel, CLIPTextModel

    clip: Any = CLIPModel.from_pretrained(str(clip_dir))
    text = CLIPTextModel(clip.config.text_config)
    # transformers 5 keeps the whole CLIPTextModel as ``clip.text_model``; 4.x keeps only its transformer.
    target: Any = text.text_model if hasattr(text, "text_model") else text
    target.load_state_dict(clip.text_model.state_dict())
    return text


class CaptionedLatents:
    """Pre-encoded latents of ``shapes`` scenes; each draw writes a fresh caption for the sampled scene."""

    def __init__(self, data: dict[str, Any], style: shapes.CaptionStyle = DIFFUSION_STYLE) -> None:
        self.latents = data["latents"]
        self.scenes = [shapes.Scene(**s) for s in data["scenes"]]
        self.style = style

    def __len__(self) -> int:
        return len(self.scenes)

    def batch(self, rng: random.Random, n: int) -> tuple[torch.Tensor, list[str]]:
        index = [rng.randrange(len(self.scenes)) for _ in range(n)]
        captions = [shapes.caption(self.scenes[i], rng, self.style) for i in index]
        return self.latents[index].float(), captions


class EMA:
    def __init__(self, modules: dict[str, torch.nn.Module], decay: float) -> None:
        self.decay = decay
        self.shadow = {name: copy.deepcopy(module.state_dict()) for name, module in modules.items()}

    @torch.no_grad()
    def update(self, modules: dict[str, torch.nn.Module], step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        for name, module in modules.items():
            shadow = self.shadow[name]
            for key, value in module.state_dict().items():
                if value.dtype.is_floating_point:
                    shadow[key].mul_(decay).add_(value, alpha=1 - decay)
                else:
                    shadow[key].copy_(value)


def tokenize(tokenizer: Any, captions: list[str]) -> torch.Tensor:
    return tokenizer(
        captions,
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids


def min_snr_weights(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor, gamma: float) -> torch.Tensor:
    """Min-SNR-γ for the ε objective: an x₀ error counts min(SNR, γ) times."""
    snr = alphas_cumprod[timesteps] / (1 - alphas_cumprod[timesteps])
    return torch.minimum(snr, torch.full_like(snr, gamma)) / snr


def v_weights(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor, gamma: float) -> torch.Tensor:
    """For the v objective: an x₀ error counts min(SNR + 1, γ) times, so at least once even at SNR 0."""
    snr_plus_one = 1 / (1 - alphas_cumprod[timesteps])
    return torch.minimum(snr_plus_one, torch.full_like(snr_plus_one, gamma)) / snr_plus_one


class Trainer:
    """Holds the models, optimizer, EMA and data; ``step()`` does one optimisation step."""

    def __init__(
        self,
        settings: DiffusionSettings,
        tokenizer: Any,
        text_encoder: Any,
        latents: CaptionedLatents,
        *,
        clip_model: Any | None = None,
        vae: Any | None = None,
        unet_weights: dict[str, torch.Tensor] | None = None,
    ) -> None:
        from diffusers import DDPMScheduler

        seed_everything(settings.seed)
        self.settings = settings
        self.tokenizer = tokenizer
        self.text_encoder = text_encoder
        self.data = latents
        sample = latents.latents[:1]
        self.unet = build_unet(settings, sample.shape[1], sample.shape[-1], text_encoder.config.hidden_size)
        if unet_weights is not None:
            self.unet.load_state_dict(unet_weights)
        self.scheduler: Any = DDPMScheduler(**noise_scheduler_config(settings))
        self.optimizer = torch.optim.AdamW(
            [
                {"params": list(self.unet.parameters()), "lr_factor": 1.0},
                {"params": list(self.text_encoder.parameters()), "lr_factor": settings.text_lr_factor},
            ],
            lr=settings.lr,
            weight_decay=0.01,
        )
        self.ema = EMA(self.modules(), settings.ema_decay)
        self.rng = random.Random(settings.seed)
        self.generator = torch.Generator().manual_seed(settings.seed)
        self.step_count = 0
        self.elapsed = 0.0
        self.clip_model = clip_model
        self.vae = vae
        if settings.clip_weight > 0 and (clip_model is None or vae is None):
            raise ValueError("the CLIP-similarity term needs the CLIP model and the autoencoder")

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"unet": self.unet, "text_encoder": self.text_encoder}

    def lr_at(self, step: int) -> float:
        return self.settings.lr * min(1.0, (step + 1) / self.settings.warmup)

    def step(self) -> dict[str, float]:
        settings = self.settings
        started = time.perf_counter()
        self.unet.train()
        self.text_encoder.train()
        clean, captions = self.data.batch(self.rng, settings.batch)
        captions = ["" if self.rng.random() < settings.caption_dropout else c for c in captions]
        context = self.text_encoder(tokenize(self.tokenizer, captions))[0]
        noise = torch.randn(clean.shape, generator=self.generator)
        timesteps = torch.randint(
            0, self.scheduler.config.num_train_timesteps, (len(clean),), generator=self.generator
        )
        noisy = self.scheduler.add_noise(clean, noise, timesteps)
        predicted = self.unet(noisy, timesteps, encoder_hidden_states=context).sample
        alphas_cumprod = self.scheduler.alphas_cumprod
        if settings.prediction == "v_prediction":
            target = self.scheduler.get_velocity(clean, noise, timesteps)
            weights = v_weights(alphas_cumprod, timesteps, settings.min_snr_gamma)
        else:
            target = noise
            weights = min_snr_weights(alphas_cumprod, timesteps, settings.min_snr_gamma)
        per_sample = (predicted - target).pow(2).mean(dim=(1, 2, 3))
        loss = (weights * per_sample).mean()
        record = {"loss": loss.item(), "mse": per_sample.mean().item()}
        if settings.clip_weight > 0:
            clip_term = self.clip_similarity_term(noisy, predicted, timesteps, captions)
            loss = loss + settings.clip_weight * clip_term
            record["clip_term"] = clip_term.item()
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(self.step_count) * group["lr_factor"]
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]], 1.0)
        self.optimizer.step()
        self.step_count += 1
        self.ema.update(self.modules(), self.step_count)
        self.elapsed += time.perf_counter() - started
        return record

    def clip_similarity_term(
        self, noisy: torch.Tensor, predicted: torch.Tensor, timesteps: torch.Tensor, captions: list[str]
    ) -> torch.Tensor:
        """1 − cosine(CLIP image of the predicted clean image, CLIP text of its caption) on a few samples."""
        from engine.training.clip import _features, text_input

        assert self.clip_model is not None and self.vae is not None
        chosen = [i for i in torch.argsort(timesteps).tolist() if captions[i]][: self.settings.clip_samples]
        if not chosen:
            return predicted.sum() * 0.0
        alpha = self.scheduler.alphas_cumprod[timesteps[chosen]].view(-1, 1, 1, 1)
        if self.settings.prediction == "v_prediction":
            x0 = alpha.sqrt() * noisy[chosen] - (1 - alpha).sqrt() * predicted[chosen]
        else:
            x0 = (noisy[chosen] - (1 - alpha).sqrt() * predicted[chosen]) / alpha.sqrt()
        images = self.vae.decode(x0 / self.vae.config.scaling_factor).sample.clamp(-1, 1)
        size = self.clip_model.config.vision_config.image_size
        pixels = F.interpolate(images, size=(size, size), mode="area")
        image_emb = F.normalize(_features(self.clip_model.get_image_features(pixel_values=pixels)), dim=-1)
        with torch.no_grad():
            ids = text_input(self.tokenizer, [captions[i] for i in chosen])
            text_emb = F.normalize(_features(self.clip_model.get_text_features(input_ids=ids)), dim=-1)
        return (1 - (image_emb * text_emb).sum(-1)).mean()

    def state(self) -> dict[str, Any]:
        return {
            "unet": self.unet.state_dict(),
            "text_encoder": self.text_encoder.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "ema": self.ema.shadow,
            "rng": self.rng.getstate(),
            "generator": self.generator.get_state(),
            "global_rng": rng_state(),
            "step": self.step_count,
            "elapsed": self.elapsed,
            "settings": asdict(self.settings),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.unet.load_state_dict(state["unet"])
        self.text_encoder.load_state_dict(state["text_encoder"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.ema.shadow = state["ema"]
        self.rng.setstate(state["rng"])
        self.generator.set_state(state["generator"])
        restore_rng(state["global_rng"])
        self.step_count = state["step"]
        self.elapsed = state["elapsed"]

    def snapshot(self) -> dict[str, Any]:
        """The EMA weights (what gets exported) with the step and training time they belong to."""
        return {
            "unet": {k: v.clone() for k, v in self.ema.shadow["unet"].items()},
            "text_encoder": {k: v.clone() for k, v in self.ema.shadow["text_encoder"].items()},
            "step": self.step_count,
            "elapsed": self.elapsed,
            "settings": asdict(self.settings),
        }


def train(
    out: Path,
    trainer: Trainer,
    *,
    minutes: float | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run ``trainer`` to its step count (or ``minutes`` of training time), checkpointing and snapshotting."""
    settings = trainer.settings
    ckpt_path = out / "ckpt.pt"
    state = load_checkpoint(ckpt_path)
    if state is not None:
        trainer.load_state(state)
        log.info("resumed diffusion training at step %d (%.0f s)", trainer.step_count, trainer.elapsed)
    metrics = MetricLog(out / "log.jsonl")
    bar = tqdm(total=settings.steps, initial=trainer.step_count, desc="diffusion", disable=not progress)
    losses: list[float] = []
    while trainer.step_count < settings.steps:
        if minutes is not None and trainer.elapsed >= minutes * 60:
            log.info("time budget of %.1f min reached at step %d", minutes, trainer.step_count)
            break
        record = trainer.step()
        losses.append(record["loss"])
        bar.update(1)
        bar.set_postfix(loss=f"{record['loss']:.4f}")
        step = trainer.step_count
        if step % 20 == 0:
            metrics.write(step=step, elapsed=trainer.elapsed, **{**record, "loss": sum(losses) / len(losses)})
            losses.clear()
        if step % settings.snapshot_every == 0:
            save_checkpoint(out / "snapshots" / f"step_{step:05d}.pt", trainer.snapshot())
        if step % settings.checkpoint_every == 0:
            save_checkpoint(ckpt_path, trainer.state())
    bar.close()
    save_checkpoint(ckpt_path, trainer.state())
    final = trainer.snapshot()
    save_checkpoint(out / "final.pt", final)
    return {
        "steps": trainer.step_count,
        "train_seconds": round(trainer.elapsed, 1),
        "settings": asdict(settings),
    }


def load_latents(path: Path) -> CaptionedLatents:
    return CaptionedLatents(read_checkpoint(path))


@dataclass
class Start:
    """Where the refine stage starts: text encoder, UNet weights and the settings they were trained with."""

    text_encoder: Any
    unet: dict[str, torch.Tensor]
    settings: DiffusionSettings
    source: str


def starting_point(runs: Path, model_dir: Path | None) -> Start:
    """The diffusion stage's EMA snapshot, or an exported model folder (``--init-from``, trained with the
    default architecture)."""
    from transformers import CLIPTextModel

    if model_dir is None:
        from engine.training.export import load_snapshot, snapshot_settings

        snapshot = load_snapshot(runs / "diffusion" / "final.pt")
        text_encoder = text_encoder_from_clip(runs / "clip" / "final")
        text_encoder.load_state_dict(snapshot["text_encoder"])
        source = f"diffusion stage step {snapshot['step']}"
        return Start(text_encoder, snapshot["unet"], snapshot_settings(snapshot), source)
    from diffusers import UNet2DConditionModel

    text_encoder = CLIPTextModel.from_pretrained(str(model_dir / "text_encoder"), dtype=torch.float32)
    unet: Any = UNet2DConditionModel.from_pretrained(str(model_dir / "unet"), torch_dtype=torch.float32)
    return Start(text_encoder, unet.state_dict(), DiffusionSettings(), str(model_dir))


def run(args: argparse.Namespace, stage: str = "diffusion") -> dict[str, Any]:
    """The ``diffusion`` stage (or ``refine``, which continues from it) on ``shapes`` latents under
    ``args.runs``."""
    from engine.training.pipeline import load_tokenizer

    runs: Path = args.runs
    out = runs / stage
    summary_path = out / "summary.json"
    if summary_path.exists() and args.steps is None and args.minutes is None:
        return json.loads(summary_path.read_text())
    tokenizer = load_tokenizer(runs)
    settings, unet_weights, source = DiffusionSettings(), None, "CLIP text tower, new UNet"
    if stage == "refine":
        start = starting_point(runs, getattr(args, "init_from", None))
        settings = dataclasses.replace(start.settings, **REFINE)
        text_encoder, unet_weights, source = start.text_encoder, start.unet, start.source
    else:
        text_encoder = text_encoder_from_clip(runs / "clip" / "final")
    if args.steps:
        settings = dataclasses.replace(settings, steps=args.steps)
    trainer = Trainer(
        settings, tokenizer, text_encoder, load_latents(runs / "latents.pt"), unet_weights=unet_weights
    )
    summary = train(out, trainer, minutes=args.minutes, progress=not args.quiet)
    summary["started_from"] = source
    summary["parameters"] = {
        "unet": sum(p.numel() for p in trainer.unet.parameters()),
        "text_encoder": sum(p.numel() for p in trainer.text_encoder.parameters()),
    }
    write_json(summary_path, summary)
    return summary
