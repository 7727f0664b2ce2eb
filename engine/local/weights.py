"""Multi-prompts in the engine: each part's text embeddings from the pipeline's own ``encode_prompt``, mixed
by weight (normalised by the total) and passed to the pipeline as ``prompt_embeds`` (plus the pooled
embeddings SDXL needs).

Families whose ``encode_prompt`` returns CLIP-style ``(prompt_embeds, …)`` per prompt are supported: Stable
Diffusion 1.x/2.x (and the shipped model) and SDXL (LCM and Turbo models included). Other families are refused
before anything is charged, from their capabilities (``multiprompt`` in :mod:`engine.local.capabilities`,
checked by :meth:`engine.api.ModelInfo.check`); the refusal here is only a backstop.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch

from engine.errors import InvalidRequest
from engine.multiprompt import Parts

UNSUPPORTED = (
    "Multi-prompts (`::`) work with Stable Diffusion 1.x/2.x and SDXL models; `{model}` is a {family} model."
)


def mix(tensors: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """``Σ wᵢ·tᵢ / Σ wᵢ``, computed in float32 and returned in the tensors' dtype."""
    total = float(sum(weights))
    if total <= 0:
        raise InvalidRequest("The weights of a multi-prompt must add up to more than 0.")
    mixed = sum(
        (tensor.float() * (weight / total) for tensor, weight in zip(tensors, weights, strict=True)),
        torch.zeros_like(tensors[0], dtype=torch.float32),
    )
    return mixed.to(tensors[0].dtype)


def _kind(pipe: Any) -> str | None:
    encode = getattr(pipe, "encode_prompt", None)
    if encode is None or getattr(pipe, "unet", None) is None:
        return None
    names = list(inspect.signature(encode).parameters)
    if names[:2] == ["prompt", "prompt_2"] and getattr(pipe, "text_encoder_2", None) is not None:
        return "sdxl"
    if names[:4] == ["prompt", "device", "num_images_per_prompt", "do_classifier_free_guidance"]:
        return "sd"
    return None


def supports(pipe: Any) -> bool:
    return _kind(pipe) is not None


@torch.no_grad()
def weighted_embeddings(
    pipe: Any, parts: Parts, device: torch.device, *, model: str
) -> dict[str, torch.Tensor]:
    """The pipeline keyword arguments for one prompt made of weighted ``parts`` (batch size 1)."""
    kind = _kind(pipe)
    texts = [text for text, _ in parts]
    weights = [weight for _, weight in parts]
    if kind == "sd":
        embeds = [pipe.encode_prompt(text, device, 1, False)[0] for text in texts]
        return {"prompt_embeds": mix(embeds, weights)}
    if kind == "sdxl":
        encoded = [
            pipe.encode_prompt(
                prompt=text, device=device, num_images_per_prompt=1, do_classifier_free_guidance=False
            )
            for text in texts
        ]
        return {
            "prompt_embeds": mix([e[0] for e in encoded], weights),
            "pooled_prompt_embeds": mix([e[2] for e in encoded], weights),
        }
    raise InvalidRequest(UNSUPPORTED.format(model=model, family=type(pipe).__name__.removesuffix("Pipeline")))
