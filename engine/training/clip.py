"""Contrastive CLIP training: image and text encoders mapped into one space by cosine similarity.

The loss is the symmetric cross-entropy over the scaled cosine-similarity matrix with a learnable temperature
(``logit_scale``). In procedural data several captions in a batch can truly describe one image (``a red
circle`` fits every red circle), so the targets spread evenly over every caption that matches the image
instead of pretending those are negatives; with a user folder only identical captions count as matches.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
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

CLIP_STYLE = shapes.CaptionStyle(p_size=0.6, p_position=0.6, p_background=0.6)


@dataclass(frozen=True)
class ClipSettings:
    image_size: int = 64
    hidden: int = 128
    layers: int = 3
    heads: int = 4
    patch: int = 16
    steps: int = 700
    batch: int = 96
    lr: float = 1e-3
    warmup: int = 60
    weight_decay: float = 0.05
    seed: int = 1
    checkpoint_every: int = 200


class PairSource(Protocol):
    """Where image–caption batches come from."""

    def batch(self, rng: random.Random, n: int, size: int) -> tuple[np.ndarray, list[str], np.ndarray]:
        """``n`` uint8 images (size×size×3), their captions, and an n×n matrix: caption j fits image i."""
        ...


class ShapesPairs:
    """Training pairs from the ``shapes`` generator (held-out colour–shape pairs never appear)."""

    def __init__(self, style: shapes.CaptionStyle = CLIP_STYLE, pairs: str = "train") -> None:
        self.style = style
        self.pairs = pairs

    def batch(self, rng: random.Random, n: int, size: int) -> tuple[np.ndarray, list[str], np.ndarray]:
        scenes = [shapes.sample_scene(rng, pairs=self.pairs) for _ in range(n)]
        captions = [shapes.caption(s, rng, self.style) for s in scenes]
        images = np.stack([np.asarray(shapes.render(s, size)) for s in scenes])
        return images, captions, fit_matrix(scenes, captions)


def fit_matrix(scenes: list[shapes.Scene], captions: list[str]) -> np.ndarray:
    mentioned = [shapes.parse_caption(c) for c in captions]
    return np.array([[shapes.scene_matches(s, m) for m in mentioned] for s in scenes], dtype=bool)


def build_clip(vocab_size: int, tokenizer: Any, settings: ClipSettings) -> Any:
    from transformers import CLIPConfig, CLIPModel, CLIPTextConfig, CLIPVisionConfig

    text = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=settings.hidden,
        intermediate_size=settings.hidden * 4,
        num_hidden_layers=settings.layers,
        num_attention_heads=settings.heads,
        max_position_embeddings=tokenizer.model_max_length,
        projection_dim=settings.hidden,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    vision = CLIPVisionConfig(
        hidden_size=settings.hidden,
        intermediate_size=settings.hidden * 4,
        num_hidden_layers=settings.layers,
        num_attention_heads=settings.heads,
        image_size=settings.image_size,
        patch_size=settings.patch,
        projection_dim=settings.hidden,
    )
    config = CLIPConfig(
        text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=settings.hidden
    )
    return CLIPModel(config)


def image_input(images: np.ndarray, size: int) -> torch.Tensor:
    """uint8 N×H×W×3 at any size → the CLIP vision input (N×3×size×size in [-1, 1])."""
    if images.shape[1] != size:
        images = np.stack(
            [np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.BOX)) for im in images]
        )
    return to_tensor(images)


def text_input(tokenizer: Any, captions: list[str]) -> torch.Tensor:
    return tokenizer(
        captions,
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids


def embed(
    model: Any, tokenizer: Any, images: np.ndarray | None, captions: list[str] | None, size: int
) -> tuple:
    """Unit-norm image and/or text embeddings (``None`` where not asked)."""
    img = txt = None
    if images is not None:
        img = F.normalize(_features(model.get_image_features(pixel_values=image_input(images, size))), dim=-1)
    if captions is not None:
        txt = F.normalize(
            _features(model.get_text_features(input_ids=text_input(tokenizer, captions))), dim=-1
        )
    return img, txt


def _features(output: Any) -> torch.Tensor:
    """``get_*_features`` returns a tensor in older transformers and an output object in newer ones."""
    if isinstance(output, torch.Tensor):
        return output
    pooled = getattr(output, "pooler_output", None)
    return pooled if pooled is not None else output[0]


def contrastive_loss(
    img: torch.Tensor, txt: torch.Tensor, scale: torch.Tensor, fits: torch.Tensor
) -> torch.Tensor:
    """Symmetric cross-entropy over cosine similarities; targets spread over every caption that fits."""
    logits = scale * img @ txt.t()
    fits = fits.float()
    image_targets = fits / fits.sum(1, keepdim=True).clamp_min(1)
    text_targets = fits.t() / fits.t().sum(1, keepdim=True).clamp_min(1)
    loss_i = -(image_targets * F.log_softmax(logits, dim=1)).sum(1).mean()
    loss_t = -(text_targets * F.log_softmax(logits.t(), dim=1)).sum(1).mean()
    return (loss_i + loss_t) / 2


@torch.no_grad()
def retrieval_accuracy(model: Any, tokenizer: Any, scenes: list[shapes.Scene], size: int) -> dict[str, float]:
    """Top-1 image→text and text→image accuracy among ``scenes`` with full captions.

    A retrieved item counts as right when its caption describes the image (duplicates of one description
    are interchangeable)."""
    model.eval()
    captions = [shapes.caption(s) for s in scenes]
    images = np.stack([np.asarray(shapes.render(s, size)) for s in scenes])
    img, txt = embed(model, tokenizer, images, captions, size)
    sims = img @ txt.t()
    fits = torch.from_numpy(fit_matrix(scenes, captions))
    rows = torch.arange(len(scenes))
    i2t = fits[rows, sims.argmax(1)].float().mean().item()
    t2i = fits[sims.argmax(0), rows].float().mean().item()
    return {"image_to_text": i2t, "text_to_image": t2i, "chance": 1.0 / len(scenes)}


def eval_scenes(seed: int, n: int, pairs: str) -> list[shapes.Scene]:
    rng = random.Random(seed)
    return [shapes.sample_scene(rng, pairs=pairs) for _ in range(n)]


def train_clip(
    out: Path,
    tokenizer: Any,
    settings: ClipSettings,
    *,
    source: PairSource | None = None,
    init: Path | None = None,
    evaluate: Callable[[Any], dict[str, Any]] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train (or fine-tune ``init``) a CLIPModel; checkpoints to ``out/ckpt.pt``, saves ``out/final``."""
    from transformers import CLIPModel

    source = source or ShapesPairs()
    seed_everything(settings.seed)
    model: Any
    if init is not None:
        model = CLIPModel.from_pretrained(str(init))
        size = int(model.config.vision_config.image_size)
    else:
        model = build_clip(len(tokenizer), tokenizer, settings)
        size = settings.image_size
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    rng = random.Random(settings.seed)
    step, elapsed = 0, 0.0
    ckpt_path = out / "ckpt.pt"
    state = load_checkpoint(ckpt_path)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        rng.setstate(state["rng"])
        restore_rng(state["global_rng"])
        step, elapsed = state["step"], state["elapsed"]
        log.info("resumed CLIP training at step %d", step)
    metrics = MetricLog(out / "log.jsonl")

    def lr_at(i: int) -> float:
        if i < settings.warmup:
            return settings.lr * (i + 1) / settings.warmup
        progress_ = (i - settings.warmup) / max(1, settings.steps - settings.warmup)
        return settings.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress_)))

    bar = tqdm(total=settings.steps, initial=step, desc="clip", disable=not progress)
    model.train()
    while step < settings.steps:
        started = time.perf_counter()
        images, captions, fits = source.batch(rng, settings.batch, size)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        img = F.normalize(_features(model.get_image_features(pixel_values=image_input(images, size))), dim=-1)
        txt = F.normalize(
            _features(model.get_text_features(input_ids=text_input(tokenizer, captions))), dim=-1
        )
        scale = model.logit_scale.exp().clamp(max=100.0)
        loss = contrastive_loss(img, txt, scale, torch.from_numpy(fits))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100.0))
        step += 1
        elapsed += time.perf_counter() - started
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}", scale=f"{scale.item():.1f}")
        if step % 20 == 0:
            metrics.write(step=step, elapsed=elapsed, loss=loss.item(), scale=scale.item())
        if step % settings.checkpoint_every == 0 or step == settings.steps:
            record: dict[str, Any] = {}
            if evaluate is not None:
                record = evaluate(model)
                model.train()
                metrics.write(step=step, elapsed=elapsed, **record)
                bar.write(f"clip step {step}: {record}")
            save_checkpoint(
                ckpt_path,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "rng": rng.getstate(),
                    "global_rng": rng_state(),
                    "step": step,
                    "elapsed": elapsed,
                },
            )
    bar.close()
    model.eval()
    final = out / "final"
    model.save_pretrained(str(final))
    tokenizer.save_pretrained(str(final))
    summary = {"steps": step, "train_seconds": round(elapsed, 1), "settings": asdict(settings)}
    if evaluate is not None:
        summary["retrieval"] = evaluate(model)
    return summary


def shapes_evaluator(tokenizer: Any, size: int, n: int = 64) -> Callable[[Any], dict[str, Any]]:
    """Retrieval accuracy on fixed seen and held-out scenes."""
    seen = eval_scenes(1001, n, "train")
    held = eval_scenes(1002, n, "held_out")

    def evaluate(model: Any) -> dict[str, Any]:
        return {
            "seen": retrieval_accuracy(model, tokenizer, seen, size),
            "held_out": retrieval_accuracy(model, tokenizer, held, size),
        }

    return evaluate
