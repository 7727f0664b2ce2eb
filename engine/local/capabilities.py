"""What a model can do: one description, derived from its pipeline's components (torch-free).

The same function reads a model folder (``model_index.json`` and each component's config, so the bot can
refuse a parameter before anything is loaded or charged) and a loaded pipeline (its components' configs).
Every rule elsewhere — sizes, default steps and guidance, negative prompts, ``--chaos``, ``--tile``,
image-to-image, previews — reads the :class:`Description`, never the pipeline's class name.

Family defaults (used unless ``imaginebot.json`` overrides them): Stable Diffusion 1.x/2.x and SDXL 30 steps,
guidance 7.5; SD3 28 / 7; Flux-schnell 4 steps and no guidance, Flux-dev 28 / 3.5 (distilled guidance);
PixArt-Σ and Sana 20 / 4.5; LCM 4 / 1.5 (distilled guidance, at most ``original_inference_steps``);
SD/SDXL-Turbo 4 steps without guidance (recognised by "turbo" in the model's name: nothing in its configs
tells it apart).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from engine.api import MAX_STEPS, Capabilities, GuidanceKind

SETTINGS_FILE = "imaginebot.json"
Img2Img = Literal["pipeline", "components", "none"]

_NO_TILE = (
    "its transformer gives each position its own embedding, so circular padding cannot make it seamless"
)
_NO_NEGATIVE_DISTILLED = "its guidance is distilled into the model, so there is no negative pass"
_NO_NEGATIVE_NONE = "it runs without classifier-free guidance, so a negative prompt has no effect"


@dataclass(frozen=True, slots=True)
class Family:
    """How one diffusers family is driven (read by the renderer)."""

    name: str
    steps: int
    guidance: float
    native: int
    guidance_kind: GuidanceKind = "cfg"
    true_cfg: bool = False  # the negative prompt runs through ``true_cfg_scale`` (Flux)
    packed: bool = False  # latents are 2×2 patches packed into tokens (Flux)
    binning: bool = False  # the pipeline snaps sizes to aspect bins unless told not to
    seamless: bool = True  # circular padding of the denoiser's and VAE's convolutions tiles seamlessly
    img2img: Img2Img = "pipeline"
    inpaint: bool = True
    min_multiple: int = 8  # the pipeline's own check on width and height


FAMILIES: dict[str, Family] = {
    "sd": Family("sd", 30, 7.5, 512),
    "sdxl": Family("sdxl", 30, 7.5, 1024),
    "lcm": Family("lcm", 4, 1.5, 512, guidance_kind="distilled"),
    "turbo": Family("turbo", 4, 0.0, 512),  # SD-Turbo / SDXL-Turbo: adversarially distilled, no guidance
    "sd3": Family("sd3", 28, 7.0, 1024, seamless=False),
    "flux-dev": Family(
        "flux-dev", 28, 3.5, 1024, guidance_kind="distilled", true_cfg=True, packed=True, seamless=False
    ),
    "flux-schnell": Family(
        "flux-schnell", 4, 0.0, 1024, guidance_kind="none", true_cfg=True, packed=True, seamless=False
    ),
    "pixart": Family(
        "pixart", 20, 4.5, 1024, binning=True, seamless=False, img2img="components", inpaint=False
    ),
    # Sana's transformer has no position embeddings (unless ``interpolation_scale`` is set) and mixes tokens
    # with convolutions and attention only: with circular padding it is translation-equivariant on the torus.
    "sana": Family("sana", 20, 4.5, 1024, binning=True, img2img="components", inpaint=False, min_multiple=32),
    "unknown": Family("unknown", 30, 7.5, 512, seamless=False, img2img="none", inpaint=False),
}
TRUE_CFG_SCALE = 4.0  # Flux's true classifier-free guidance scale when a negative prompt is given


@dataclass(frozen=True, slots=True)
class Description:
    family: Family
    native_size: int
    default_steps: int
    default_guidance: float
    vae_factor: int
    capabilities: Capabilities


Configs = Mapping[str, Mapping[str, Any]]


def family_of(configs: Configs, name: str = "") -> Family:
    """The family from the components: the denoiser's class, a second text encoder, the scheduler (and, for
    Turbo models, whose configs are plain SD/SDXL ones, the model's name)."""
    denoiser = configs.get("transformer") or configs.get("unet") or {}
    kind = denoiser.get("_class_name", "")
    if kind == "FluxTransformer2DModel":
        return FAMILIES["flux-dev" if denoiser.get("guidance_embeds") else "flux-schnell"]
    by_transformer = {
        "SD3Transformer2DModel": "sd3",
        "PixArtTransformer2DModel": "pixart",
        "SanaTransformer2DModel": "sana",
    }
    if kind in by_transformer:
        return FAMILIES[by_transformer[kind]]
    if kind == "UNet2DConditionModel":
        scheduler = configs.get("scheduler", {}).get("_class_name")
        if scheduler == "LCMScheduler" or denoiser.get("time_cond_proj_dim"):
            return FAMILIES["lcm"]
        if "turbo" in name.lower():
            return FAMILIES["turbo"]
        return FAMILIES["sdxl" if "text_encoder_2" in configs else "sd"]
    return FAMILIES["unknown"]


def _vae_factor(vae: Mapping[str, Any]) -> int:
    blocks = vae.get("block_out_channels") or vae.get("encoder_block_out_channels") or (0, 0, 0, 0)
    return int(2 ** (len(blocks) - 1))


def _size_multiple(family: Family, denoiser: Mapping[str, Any], vae_factor: int) -> int:
    multiple = _latent_multiple(family, denoiser, vae_factor)
    return multiple * -(-family.min_multiple // multiple)  # the smallest multiple of both


def _latent_multiple(family: Family, denoiser: Mapping[str, Any], vae_factor: int) -> int:
    patch = int(denoiser.get("patch_size") or 1)
    if family.packed:
        return vae_factor * 2 * patch
    if denoiser.get("_class_name") == "UNet2DConditionModel":
        return vae_factor  # it upsamples to the sizes it saw on the way down, so any latent size works
    if "block_out_channels" in denoiser:  # other UNets need every downsampling to divide evenly
        return vae_factor * 2 ** (len(denoiser["block_out_channels"]) - 1)
    return vae_factor * patch


def _max_steps(scheduler: Mapping[str, Any]) -> int:
    if scheduler.get("_class_name") == "LCMScheduler":
        return min(MAX_STEPS, int(scheduler.get("original_inference_steps") or 50))
    return MAX_STEPS


def describe(configs: Configs, settings: Mapping[str, Any] | None = None, *, name: str = "") -> Description:
    """The description of a pipeline made of components with these ``configs`` (each with its
    ``_class_name``), with ``imaginebot.json``'s ``settings`` overriding native size, steps and guidance."""
    settings = settings or {}
    family = family_of(configs, name)
    denoiser = configs.get("transformer") or configs.get("unet") or {}
    vae_factor = _vae_factor(configs.get("vae", {}))
    native = settings.get("native_size")
    if not isinstance(native, int) or native <= 0:
        sample = denoiser.get("sample_size")
        native = sample * vae_factor if isinstance(sample, int) else family.native
    steps = settings.get("default_steps")
    steps = steps if isinstance(steps, int) and steps > 0 else family.steps
    guidance = settings.get("default_guidance")
    guidance = float(guidance) if isinstance(guidance, int | float) and guidance >= 0 else family.guidance

    kind = family.guidance_kind
    if kind == "cfg" and guidance <= 1.0:
        kind = "none"
    reasons: dict[str, str] = {}
    negative = kind == "cfg" or family.true_cfg
    if not negative:
        reasons["negative_prompt"] = _NO_NEGATIVE_DISTILLED if kind == "distilled" else _NO_NEGATIVE_NONE
    if kind == "none":
        reasons["guidance"] = "it runs without guidance, which `--stylize` scales"
    seamless = family.seamless and denoiser.get("interpolation_scale") is None  # no absolute positions
    if not seamless:
        reasons["tile"] = _NO_TILE
    known = family.name != "unknown"
    if not known:
        reasons["chaos"] = "the engine does not know how this pipeline takes prompt embeddings"
        reasons["img2img"] = "the engine has no image-to-image path for this pipeline"
    elif family.img2img == "none":
        reasons["img2img"] = "diffusers has no image-to-image pipeline for it"
    if not family.inpaint:
        reasons["inpaint"] = "diffusers has no inpainting pipeline for it"
    capabilities = Capabilities(
        family=family.name,
        size_multiple=_size_multiple(family, denoiser, vae_factor),
        guidance=kind,
        negative_prompt=negative,
        max_steps=_max_steps(configs.get("scheduler", {})),
        chaos=known,
        tile=seamless,
        img2img=known and family.img2img != "none",
        inpaint=family.inpaint,
        preview=True,
        reasons=tuple(sorted(reasons.items())),
    )
    return Description(family, int(native), int(steps), float(guidance), vae_factor, capabilities)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_settings(folder: Path | None) -> dict[str, Any]:
    return _read_json(folder / SETTINGS_FILE) if folder is not None else {}


def folder_configs(folder: Path) -> dict[str, dict[str, Any]]:
    """Each component's config from a diffusers folder, keyed by component name."""
    index = _read_json(folder / "model_index.json")
    configs: dict[str, dict[str, Any]] = {}
    for name, value in index.items():
        if name.startswith("_") or not isinstance(value, list) or len(value) != 2 or value[1] is None:
            continue
        config = _read_json(folder / name / "config.json") or _read_json(
            folder / name / "scheduler_config.json"
        )
        configs[name] = {**config, "_class_name": value[1]}
    return configs


def describe_folder(folder: Path | None, name: str = "") -> Description:
    """The description of a model folder (``None``: a hub id not yet loaded — Stable Diffusion defaults)."""
    if folder is None:
        return describe({"unet": {"_class_name": "UNet2DConditionModel"}}, name=name)
    return describe(folder_configs(folder), read_settings(folder), name=name or folder.name)


def pipeline_configs(pipe: Any) -> dict[str, dict[str, Any]]:
    """Each loaded component's config, keyed by component name."""
    configs: dict[str, dict[str, Any]] = {}
    for name, component in pipe.components.items():
        if component is None:
            continue
        config = getattr(component, "config", None)
        data = dict(config) if isinstance(config, Mapping) else {}
        configs[name] = {**data, "_class_name": type(component).__name__}
    return configs


def describe_pipeline(pipe: Any, folder: Path | None, name: str = "") -> Description:
    return describe(pipeline_configs(pipe), read_settings(folder), name=name)
