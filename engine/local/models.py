"""Device selection and model loading; a cache of loaded pipelines owned by the worker thread."""

from __future__ import annotations

import copy
import gc
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image
from diffusers.utils import logging as diffusers_logging
from transformers.utils import logging as transformers_logging

from engine.api import ModelInfo
from engine.errors import UnknownModel
from engine.local.acceleration import AccelerationOptions, accelerate, load_kwargs
from engine.local.capabilities import Description, describe_pipeline
from engine.local.preview import LatentPreviewer
from engine.local.registry import ModelSpec, model_info
from engine.local.upscaler import LoadedUpscaler, load_upscaler
from engine.names import display_name

log = logging.getLogger(__name__)


def select_device(requested: str | None) -> torch.device:
    """``requested`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``) or, when empty/``auto``, CUDA → MPS → CPU."""
    name = (requested or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(
            f"ENGINE_DEVICE `{requested}` is not a device (use auto, cpu, cuda, cuda:N or mps)."
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("ENGINE_DEVICE asks for CUDA but no CUDA device is available.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("ENGINE_DEVICE asks for MPS but MPS is not available.")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"ENGINE_DEVICE `{requested}` is not supported (use auto, cpu, cuda or mps).")
    return device


def dtype_for(device: torch.device) -> torch.dtype:
    return torch.float16 if device.type in ("cuda", "mps") else torch.float32


@dataclass(slots=True)
class LoadedModel:
    """One loaded text-to-image pipeline plus its description (what it can do and how to drive it)."""

    spec: ModelSpec
    info: ModelInfo
    description: Description
    pipe: Any
    device: torch.device
    scheduler_template: Any = None  # a pristine scheduler; each job runs on its own deep copy
    preview_decoder: Any = None  # an optional AutoencoderTiny for previews (ENGINE_PREVIEW_DECODER)
    _img2img: Any = field(default=None)
    _inpaint: Any = field(default=None)
    _previewer: LatentPreviewer | None = field(default=None)
    _previewer_failed: bool = field(default=False)

    @property
    def multiple(self) -> int:
        """Width and height must be multiples of this."""
        return self.description.capabilities.size_multiple

    def fresh_scheduler(self) -> Any:
        return copy.deepcopy(self.scheduler_template)

    @property
    def previewer(self) -> LatentPreviewer | None:
        """The latent→RGB map, fitted on first use; ``None`` (and logged once) if the VAE cannot be fitted."""
        if self._previewer is None and not self._previewer_failed:
            try:
                self._previewer = LatentPreviewer.fit(self.pipe.vae, scale_factor=self.description.vae_factor)
            except Exception as error:
                self._previewer_failed = True
                log.warning(
                    "previews are off for model %s: the latent map could not be fitted (%s)",
                    self.spec.name,
                    error,
                )
        return self._previewer

    @property
    def img2img(self) -> Any:
        """An image-to-image pipeline sharing this model's loaded components (no second copy)."""
        if self._img2img is None:
            self._img2img = AutoPipelineForImage2Image.from_pipe(self.pipe)
            self._img2img.set_progress_bar_config(disable=True)
        return self._img2img

    @property
    def inpaint(self) -> Any:
        """The family's inpainting pipeline on this model's loaded components (latent blending for ordinary
        UNets/transformers). Raises ``ValueError`` when diffusers has none for this pipeline class."""
        if self._inpaint is None:
            self._inpaint = AutoPipelineForInpainting.from_pipe(self.pipe)
            self._inpaint.set_progress_bar_config(disable=True)
        return self._inpaint


def load_model(
    spec: ModelSpec, device: torch.device, acceleration: AccelerationOptions | None = None
) -> LoadedModel:
    """Load ``spec`` onto ``device`` with ``acceleration`` (dtype, quantization, offload, …). Raises
    :class:`UnknownModel` with a message naming ENGINE_MODEL."""
    acceleration = acceleration or AccelerationOptions()
    kwargs = load_kwargs(acceleration, device, spec.source, local=spec.local)
    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    try:
        pipe = AutoPipelineForText2Image.from_pretrained(spec.source, local_files_only=spec.local, **kwargs)
    except Exception as error:
        log.warning("could not load model %s from %s: %s", spec.name, spec.source, error)
        log.debug("model load traceback", exc_info=True)
        if spec.local:
            raise UnknownModel(
                f"Model `{display_name(spec.name)}` could not be loaded from its folder; check ENGINE_MODEL."
            ) from None
        raise UnknownModel(
            f"Model `{display_name(spec.name)}` is not a local folder and could not be downloaded "
            "(offline?); "
            "set ENGINE_MODEL to a local diffusers folder or `default`."
        ) from None
    accelerate(pipe, acceleration, device)  # instead of pipe.to(device): offload, SDPA, VAE tiling, compile
    pipe.set_progress_bar_config(disable=True)
    description = describe_pipeline(
        pipe, Path(spec.source) if spec.local else None, display_name(spec.source)
    )
    log.info(
        "loaded model %s (%s, %s family) on %s, native %spx",
        spec.name,
        spec.source,
        description.family.name,
        device,
        description.native_size,
    )
    model = LoadedModel(
        spec=spec,
        info=model_info(spec, description),
        description=description,
        pipe=pipe,
        device=device,
        scheduler_template=copy.deepcopy(pipe.scheduler),
    )
    _ = model.previewer  # fit the preview map now (a failure only turns previews off)
    return model


class ModelCache:
    """Loaded models by source; at most ``capacity`` kept (``ENGINE_MODELS_LOADED``, least recently used
    evicted), so switching between the configured model and another does not reload either."""

    def __init__(
        self, device: torch.device, capacity: int = 2, acceleration: AccelerationOptions | None = None
    ) -> None:
        self.device = device
        self.acceleration = acceleration or AccelerationOptions()
        self.capacity = max(1, capacity)
        self._models: dict[str, LoadedModel] = {}
        self._upscaler: LoadedUpscaler | None = None
        self._upscaler_error: tuple[ModelSpec, UnknownModel] | None = None

    def upscaler(self, spec: ModelSpec) -> LoadedUpscaler:
        """The dedicated upscaler for ``spec``, loaded on first use and kept. A failed load is remembered,
        so later upscales fail at once instead of holding the queue up with another download attempt."""
        if self._upscaler is not None and self._upscaler.spec == spec:
            return self._upscaler
        if self._upscaler_error is not None and self._upscaler_error[0] == spec:
            raise self._upscaler_error[1]
        self._upscaler = None
        try:
            self._upscaler = load_upscaler(spec, self.device, dtype_for(self.device))
        except UnknownModel as error:
            self._upscaler_error = (spec, error)
            raise
        return self._upscaler

    def get(self, spec: ModelSpec) -> tuple[LoadedModel, bool]:
        """The loaded model for ``spec`` and whether it had to be loaded now."""
        model = self._models.pop(spec.source, None)
        loaded_now = model is None
        if model is None:
            while len(self._models) >= self.capacity:
                self._models.pop(next(iter(self._models)))
                free_memory(self.device)
            model = load_model(spec, self.device, self.acceleration)
        self._models[spec.source] = model
        return model, loaded_now

    def loaded(self) -> list[LoadedModel]:
        return list(self._models.values())

    def clear(self) -> None:
        self._models.clear()
        self._upscaler = None
        free_memory(self.device)


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


def is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()
