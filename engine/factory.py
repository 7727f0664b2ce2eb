"""Build the configured engine. Torch-free at import: the local engine is imported when called."""

from __future__ import annotations

from pathlib import Path

from engine.api import Engine


def create_engine(
    *,
    model: str | None,
    device: str | None,
    threads: int | None,
    preview_every: int,
    models_dir: Path | None = None,
    upscaler: str | None = None,
) -> Engine:
    """The in-process engine for ``model`` (``ENGINE_MODEL``: ``default``, a diffusers folder or a hub id) on
    ``device`` (``ENGINE_DEVICE``: auto/cpu/cuda/mps), with ``threads`` torch threads (``None`` = torch's
    default) and a preview every ``preview_every`` steps (0 = none); upscales go through ``upscaler``
    (``ENGINE_UPSCALER``: a diffusers upscaler folder or hub id) when set. The model starts loading at
    once, on the engine's thread."""
    from engine.local import LocalEngine

    return LocalEngine(
        model=model,
        device=device,
        threads=threads,
        preview_every=preview_every,
        models_dir=models_dir,
        preload=True,
        upscaler=upscaler,
    )
