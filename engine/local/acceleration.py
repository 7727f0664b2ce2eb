"""Speed and memory switches for big models on real GPUs, applied once when a pipeline is loaded.

Two calls from model loading: :func:`load_kwargs` before ``from_pretrained`` (the dtype and diffusers'
quantization config) and :func:`accelerate` right after it (instead of ``pipe.to(device)``: offload,
attention, channels_last, VAE tiling/slicing, torch.compile). :class:`AccelerationOptions` holds the
``ENGINE_DTYPE``/``ENGINE_OFFLOAD``/``ENGINE_VAE_TILING``/``ENGINE_COMPILE``/``ENGINE_QUANTIZE`` settings and
checks them without torch, so a bad value stops start-up before anything loads; checks that need the device
(offload and bitsandbytes need CUDA) raise when the engine's thread picks its device.

Torch-free at import: torch and diffusers are imported inside the functions that need them.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import InvalidSetting

log = logging.getLogger(__name__)

DTYPES = ("auto", "fp32", "fp16", "bf16")
OFFLOADS = ("none", "model", "sequential")
VAE_TILINGS = ("auto", "on", "off")
COMPILES = ("off", "default", "max-autotune")
QUANTIZATIONS = ("none", "bnb-8bit", "bnb-4bit", "torchao-int8")
# ENGINE_VAE_TILING=auto: decodes with a side above this many pixels go through the VAE in overlapping tiles.
AUTO_TILE_SIDE = 1024
_COMPILE_MODES = {"default": None, "max-autotune": "max-autotune-no-cudagraphs"}
_QUANT_PACKAGES = {"bnb-8bit": "bitsandbytes", "bnb-4bit": "bitsandbytes", "torchao-int8": "torchao"}
_EXTRAS = {"bitsandbytes": "quantize-bnb", "torchao": "quantize-torchao"}


def _choice(setting: str, value: str | None, allowed: tuple[str, ...], aliases: dict[str, str]) -> str:
    text = (value or allowed[0]).strip().lower() or allowed[0]
    text = aliases.get(text, text)
    if text not in allowed:
        raise InvalidSetting(f"{setting} `{value}` is not one of {', '.join(allowed)}.")
    return text


@dataclass(frozen=True, slots=True)
class AccelerationOptions:
    """The acceleration settings, checked. Build with :meth:`parse`; the defaults change nothing on CPU."""

    dtype: str = "auto"
    offload: str = "none"
    vae_tiling: str = "auto"
    compile: str = "off"
    quantize: str = "none"

    @classmethod
    def parse(
        cls,
        *,
        dtype: str | None = None,
        offload: str | None = None,
        vae_tiling: str | None = None,
        compile: str | None = None,
        quantize: str | None = None,
    ) -> AccelerationOptions:
        """Check the raw settings (``None``/empty = default). Raises :class:`InvalidSetting` with one line
        naming the setting, also when the package offload or quantization needs is not installed."""
        on_off = {"true": "on", "1": "on", "yes": "on", "false": "off", "0": "off", "no": "off"}
        options = cls(
            dtype=_choice(
                "ENGINE_DTYPE",
                dtype,
                DTYPES,
                {"float32": "fp32", "float16": "fp16", "half": "fp16", "bfloat16": "bf16"},
            ),
            offload=_choice("ENGINE_OFFLOAD", offload, OFFLOADS, {"off": "none", "no": "none"}),
            vae_tiling=_choice("ENGINE_VAE_TILING", vae_tiling, VAE_TILINGS, on_off),
            compile=_choice(
                "ENGINE_COMPILE",
                compile,
                COMPILES,
                {**on_off, "on": "default", "max-autotune-no-cudagraphs": "max-autotune"},
            ),
            quantize=_choice("ENGINE_QUANTIZE", quantize, QUANTIZATIONS, {"off": "none", "no": "none"}),
        )
        package = _QUANT_PACKAGES.get(options.quantize)
        if package is not None:
            for needed in (package, "accelerate"):
                if importlib.util.find_spec(needed) is None:
                    raise InvalidSetting(
                        f"ENGINE_QUANTIZE={options.quantize} needs the `{needed}` package, which is not "
                        f"installed: pip install -e '.[{_EXTRAS[package]}]', or set ENGINE_QUANTIZE=none."
                    )
        if options.offload != "none" and importlib.util.find_spec("accelerate") is None:
            raise InvalidSetting(
                f"ENGINE_OFFLOAD={options.offload} needs the `accelerate` package, which is not installed: "
                "pip install -e '.[gpu]', or set ENGINE_OFFLOAD=none."
            )
        return options

    def check_device(self, device: Any) -> None:
        """Refuse what the device cannot do: offload and bitsandbytes need CUDA, fp16 a GPU (PyTorch's CPU
        kernels lack parts of it), bf16 on CUDA a GPU that has it."""
        kind = str(getattr(device, "type", device))
        if self.offload != "none" and kind != "cuda":
            raise InvalidSetting(
                f"ENGINE_OFFLOAD={self.offload} needs a CUDA device; the engine runs on {kind}: "
                "set ENGINE_OFFLOAD=none."
            )
        if self.quantize.startswith("bnb-") and kind != "cuda":
            raise InvalidSetting(
                f"ENGINE_QUANTIZE={self.quantize} (bitsandbytes) needs a CUDA device; the engine runs on "
                f"{kind}: use torchao-int8 or none."
            )
        if self.dtype == "fp16" and kind == "cpu":
            raise InvalidSetting("ENGINE_DTYPE=fp16 is for GPUs; on CPU use fp32 (auto) or bf16.")
        if self.dtype == "bf16" and kind == "cuda":
            import torch

            if not torch.cuda.is_bf16_supported():
                raise InvalidSetting("ENGINE_DTYPE=bf16 is not supported by this GPU; use fp16 or auto.")


# -- the model family, as far as acceleration cares: which component denoises -----------------------------


def denoiser_name(components: Any) -> str | None:
    """``"transformer"`` (SD3, Flux, PixArt, Sana…) or ``"unet"`` (SD 1.x/2.x, SDXL, LCM) from a pipeline, its
    components dict or its ``model_index.json`` dict; ``None`` when neither is there."""
    if not isinstance(components, dict):
        components = getattr(components, "components", {}) or {}
    for name in ("transformer", "unet"):
        value = components.get(name)
        if value is not None and value != [None, None]:
            return name
    return None


def read_denoiser_name(source: str, *, local: bool) -> str | None:
    """The denoiser of a model folder (read from its ``model_index.json``) or hub id (its cached or
    downloaded ``model_index.json``; ``None`` when it cannot be had)."""
    if local:
        try:
            index = json.loads((Path(source) / "model_index.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return denoiser_name(index) if isinstance(index, dict) else None
    try:
        from diffusers import DiffusionPipeline

        return denoiser_name(dict(DiffusionPipeline.load_config(source)))
    except Exception:
        return None


def choose_dtype(options: AccelerationOptions, device: Any, denoiser: str | None) -> Any:
    """The torch dtype to load in: the setting, or for ``auto`` fp32 on CPU, bf16 for transformer
    denoisers on a GPU that supports it, fp16 otherwise (UNets, MPS); bf16 with ``torchao-int8``."""
    import torch

    explicit = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if options.dtype in explicit:
        return explicit[options.dtype]
    if options.quantize == "torchao-int8":
        return torch.bfloat16  # diffusers' torchao integer quantization runs in bf16
    kind = str(getattr(device, "type", device))
    if kind == "cpu":
        return torch.float32
    if kind == "cuda" and denoiser == "transformer" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def quantization_config(options: AccelerationOptions, denoiser: str | None, dtype: Any) -> Any:
    """diffusers' ``PipelineQuantizationConfig`` quantizing the denoiser's weights, or ``None``."""
    if options.quantize == "none":
        return None
    from diffusers import BitsAndBytesConfig, PipelineQuantizationConfig, TorchAoConfig

    config: Any
    if options.quantize == "bnb-4bit":
        config = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype
        )
    elif options.quantize == "bnb-8bit":
        config = BitsAndBytesConfig(load_in_8bit=True)
    else:
        from torchao.quantization import Int8WeightOnlyConfig

        config = TorchAoConfig(Int8WeightOnlyConfig())
    return PipelineQuantizationConfig(quant_mapping={denoiser or "unet": config})


def load_kwargs(options: AccelerationOptions, device: Any, source: str, *, local: bool) -> dict[str, Any]:
    """Keyword arguments for ``from_pretrained``: ``dtype``, ``low_cpu_mem_usage`` and, when quantizing,
    ``quantization_config``. Raises :class:`InvalidSetting` for what ``device`` cannot do."""
    options.check_device(device)
    denoiser = read_denoiser_name(source, local=local)
    dtype = choose_dtype(options, device, denoiser)
    kwargs: dict[str, Any] = {"dtype": dtype, "low_cpu_mem_usage": False}
    quantization = quantization_config(options, denoiser, dtype)
    if quantization is not None:
        kwargs.update(quantization_config=quantization, low_cpu_mem_usage=True)
    return kwargs


# -- after loading ----------------------------------------------------------------------------------------


def accelerate(pipe: Any, options: AccelerationOptions, device: Any) -> list[str]:
    """Place ``pipe`` on ``device`` (or set up CPU offload) and switch on what ``options`` ask for; returns
    what was done, for the log. Call once per loaded pipeline, instead of ``pipe.to(device)``."""
    import torch

    device = torch.device(device)
    options.check_device(device)
    done: list[str] = []
    name = denoiser_name(pipe)
    denoiser = getattr(pipe, name) if name else None
    if denoiser is not None:
        done += use_sdpa(denoiser)
        if name == "unet" and device.type == "cuda" and not options.quantize.startswith("bnb-"):
            denoiser.to(memory_format=torch.channels_last)
            done.append("channels_last")
    if options.offload == "model":
        pipe.enable_model_cpu_offload(device=device)
        done.append("model offload")
    elif options.offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
        done.append("sequential offload")
    else:
        pipe.to(device)
    vae = getattr(pipe, "vae", None)
    if vae is not None:
        use_sdpa(vae)
        done += vae_memory(vae, options.vae_tiling)
    if denoiser is not None and options.compile != "off":
        compile_denoiser(denoiser, options.compile)
        done.append(f"torch.compile ({options.compile})")
    dtype = getattr(denoiser, "dtype", None)
    log.info("acceleration on %s, %s: %s", device, dtype, ", ".join(done) or "nothing")
    return done


def use_sdpa(model: Any) -> list[str]:
    """Make sure attention runs through PyTorch's fused ``scaled_dot_product_attention``: plain
    ``AttnProcessor`` instances (the slow, memory-hungry path) are replaced by ``AttnProcessor2_0``; other
    processors (already SDPA, family-specific ones, adapters) are kept."""
    processors = getattr(model, "attn_processors", None)
    if not processors:
        return []
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    plain = [key for key, processor in processors.items() if type(processor) is AttnProcessor]
    if plain:
        model.set_attn_processor(
            {key: AttnProcessor2_0() if key in plain else processor for key, processor in processors.items()}
        )
        return [f"sdpa ({len(plain)} attention layers switched from the plain processor)"]
    return ["sdpa"]


def vae_memory(vae: Any, mode: str) -> list[str]:
    """VAE slicing (a batch decodes one image at a time) and tiling (big images decode in overlapping
    tiles). ``auto``: slicing on, tiling only for images with a side above :data:`AUTO_TILE_SIDE` px (or the
    VAE's own tile size when larger); ``on``: both, tiles at the VAE's own size; ``off``: neither."""
    if mode == "off":
        for method in ("disable_slicing", "disable_tiling"):
            if hasattr(vae, method):
                getattr(vae, method)()
        return []
    done = []
    if hasattr(vae, "enable_slicing"):
        vae.enable_slicing()
        done.append("vae slicing")
    if hasattr(vae, "enable_tiling"):
        vae.enable_tiling()
        own = _own_tile_side(vae)
        if own is not None:
            set_tile_side(vae, max(own, AUTO_TILE_SIDE) if mode == "auto" else own)
        side = tile_side(vae)
        done.append(f"vae tiling above {side} px" if side else "vae tiling")
    return done


def tile_side(vae: Any) -> int | None:
    """The side in pixels above which ``vae`` decodes in tiles (``None`` when not known)."""
    side = getattr(vae, "tile_sample_min_size", None) or getattr(vae, "tile_sample_min_height", None)
    return int(side) if isinstance(side, int | float) else None


def _own_tile_side(vae: Any) -> int | None:
    sample = getattr(vae.config, "sample_size", None)
    if isinstance(sample, list | tuple) and sample:
        sample = sample[0]
    if hasattr(vae, "tile_sample_min_size") and isinstance(sample, int):
        return sample  # AutoencoderKL's own default tile
    if not hasattr(vae, "_imaginebot_own_tile"):
        vae._imaginebot_own_tile = tile_side(vae)
    own = vae._imaginebot_own_tile
    return int(own) if own else None


def set_tile_side(vae: Any, side: int) -> None:
    """Tile only images with a side above ``side`` px, in tiles that size (latent tiles scaled to match)."""
    current = tile_side(vae)
    if current is None:
        return
    if hasattr(vae, "tile_sample_min_size"):
        factor = 2 ** (len(getattr(vae.config, "block_out_channels", [0])) - 1)
        vae.tile_sample_min_size = side
        vae.tile_latent_min_size = side // factor
    elif hasattr(vae, "tile_sample_min_height"):
        vae.tile_sample_min_height = vae.tile_sample_min_width = side
        for attr in ("tile_sample_stride_height", "tile_sample_stride_width"):  # keep the overlap ratio
            if hasattr(vae, attr):
                setattr(vae, attr, int(getattr(vae, attr) * side / current))


def compile_denoiser(model: Any, mode: str) -> None:
    """``torch.compile`` the denoiser in place (the module keeps its class and config). The first call at each
    new size compiles (tens of seconds to minutes on a GPU); later calls at that size run the compiled
    graph."""
    model.compile(mode=_COMPILE_MODES[mode])
