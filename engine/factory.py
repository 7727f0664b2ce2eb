"""Build the configured engine. Torch-free at import: the local engine is imported when called."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from engine.api import Engine

if TYPE_CHECKING:
    from engine.ray.options import RaySettings


def create_engine(
    *,
    model: str | None,
    device: str | None,
    threads: int | None,
    preview_every: int,
    models_dir: Path | None = None,
    upscaler: str | None = None,
    backend: str = "local",
    ray_settings: RaySettings | None = None,
    describer: str | None = None,
    preload: bool = True,
    dtype: str | None = None,
    offload: str | None = None,
    vae_tiling: str | None = None,
    compile: str | None = None,
    quantize: str | None = None,
    models_loaded: int = 2,
    preview_decoder: str | None = None,
) -> Engine:
    """The in-process engine for ``model`` (``ENGINE_MODEL``: ``default``, a diffusers folder or a hub id) on
    ``device`` (``ENGINE_DEVICE``: auto/cpu/cuda/mps), with ``threads`` torch threads (``None`` = torch's
    default) and a preview every ``preview_every`` steps (0 = none); upscales go through ``upscaler``
    (``ENGINE_UPSCALER``: a diffusers upscaler folder or hub id) when set; ``/describe`` uses ``describer``
    (``ENGINE_DESCRIBER``: a CLIP folder) or the model's own CLIP. ``dtype``, ``offload``, ``vae_tiling``,
    ``compile`` and ``quantize`` are the ``ENGINE_DTYPE``/``ENGINE_OFFLOAD``/``ENGINE_VAE_TILING``/
    ``ENGINE_COMPILE``/``ENGINE_QUANTIZE`` settings (see :mod:`engine.local.acceleration`); a bad value
    raises :class:`~engine.errors.InvalidSetting` here. ``models_loaded`` (``ENGINE_MODELS_LOADED``) models
    stay loaded at once; previews are decoded by ``preview_decoder`` (``ENGINE_PREVIEW_DECODER``, a
    TAESD-style AutoencoderTiny folder) when set. With ``preload`` the model starts loading at once, on
    the engine's thread.

    ``backend="ray"`` (``ENGINE_BACKEND``) returns a :class:`engine.ray.client.RayEngine` instead: jobs run
    on the Ray Serve app that ``python -m engine serve`` deployed (with its own engine settings), reached at
    ``ray_settings.ray_address``; ``model`` only names the default until the app answers."""
    if backend == "ray":
        import importlib.util

        from engine.errors import InvalidSetting

        if importlib.util.find_spec("ray") is None:
            raise InvalidSetting(
                'ENGINE_BACKEND=ray needs Ray Serve: install the extra with pip install -e ".[ray]".'
            )
        from engine.ray.client import RayEngine
        from engine.ray.options import RaySettings

        return RayEngine(ray_settings or RaySettings(), default_model=model)
    if backend != "local":
        raise ValueError(f"ENGINE_BACKEND must be `local` or `ray`, not `{backend}`.")
    from engine.local import LocalEngine
    from engine.local.acceleration import AccelerationOptions

    acceleration = AccelerationOptions.parse(
        dtype=dtype, offload=offload, vae_tiling=vae_tiling, compile=compile, quantize=quantize
    )
    return LocalEngine(
        model=model,
        device=device,
        threads=threads,
        preview_every=preview_every,
        models_dir=models_dir,
        preload=preload,
        upscaler=upscaler,
        describer=describer,
        acceleration=acceleration,
        models_loaded=models_loaded,
        preview_decoder=preview_decoder,
    )
