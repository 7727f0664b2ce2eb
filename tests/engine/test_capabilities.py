"""Capabilities derived from the component configs of published models (config values only, no weights)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.local.capabilities import describe, describe_folder

KL_8X = {"_class_name": "AutoencoderKL", "block_out_channels": [128, 256, 512, 512]}
CLIP = {"_class_name": "CLIPTextModel"}
PUBLISHED = {
    "sd15": {
        "unet": {"_class_name": "UNet2DConditionModel", "sample_size": 64},
        "vae": KL_8X,
        "text_encoder": CLIP,
    },
    "sd21": {
        "unet": {"_class_name": "UNet2DConditionModel", "sample_size": 96},
        "vae": KL_8X,
        "text_encoder": CLIP,
    },
    "sdxl": {
        "unet": {"_class_name": "UNet2DConditionModel", "sample_size": 128},
        "vae": KL_8X,
        "text_encoder": CLIP,
        "text_encoder_2": {"_class_name": "CLIPTextModelWithProjection"},
    },
    "sd35": {
        "transformer": {"_class_name": "SD3Transformer2DModel", "sample_size": 128, "patch_size": 2},
        "vae": KL_8X,
    },
    "flux-schnell": {"transformer": {"_class_name": "FluxTransformer2DModel", "patch_size": 1}, "vae": KL_8X},
    "flux-dev": {
        "transformer": {"_class_name": "FluxTransformer2DModel", "patch_size": 1, "guidance_embeds": True},
        "vae": KL_8X,
    },
    "pixart-sigma": {
        "transformer": {"_class_name": "PixArtTransformer2DModel", "sample_size": 128, "patch_size": 2},
        "vae": KL_8X,
    },
    "sana": {
        "transformer": {"_class_name": "SanaTransformer2DModel", "sample_size": 32, "patch_size": 1},
        "vae": {
            "_class_name": "AutoencoderDC",
            "encoder_block_out_channels": [128, 256, 512, 512, 1024, 1024],
        },
    },
    "lcm-dreamshaper": {
        "unet": {"_class_name": "UNet2DConditionModel", "sample_size": 96, "time_cond_proj_dim": 256},
        "vae": KL_8X,
        "scheduler": {"_class_name": "LCMScheduler", "original_inference_steps": 50},
    },
}


@pytest.mark.parametrize(
    ("model", "name", "native", "multiple", "steps", "guidance", "kind", "negative", "tile", "max_steps"),
    [
        ("sd15", "", 512, 8, 30, 7.5, "cfg", True, True, 150),
        ("sd21", "", 768, 8, 30, 7.5, "cfg", True, True, 150),
        ("sdxl", "", 1024, 8, 30, 7.5, "cfg", True, True, 150),
        ("sdxl", "stabilityai/sdxl-turbo", 1024, 8, 4, 0.0, "none", False, True, 150),
        ("sd35", "", 1024, 16, 28, 7.0, "cfg", True, False, 150),
        ("flux-schnell", "", 1024, 16, 4, 0.0, "none", True, False, 150),
        ("flux-dev", "", 1024, 16, 28, 3.5, "distilled", True, False, 150),
        ("pixart-sigma", "", 1024, 16, 20, 4.5, "cfg", True, False, 150),
        ("sana", "", 1024, 32, 20, 4.5, "cfg", True, True, 150),
        ("lcm-dreamshaper", "", 768, 8, 4, 1.5, "distilled", False, True, 50),
    ],
)
def test_published_models_are_described_from_their_configs(
    model: str,
    name: str,
    native: int,
    multiple: int,
    steps: int,
    guidance: float,
    kind: str,
    negative: bool,
    tile: bool,
    max_steps: int,
) -> None:
    description = describe(PUBLISHED[model], name=name)
    caps = description.capabilities
    assert (description.native_size, caps.size_multiple) == (native, multiple)
    assert (description.default_steps, description.default_guidance) == (steps, guidance)
    assert (caps.guidance, caps.negative_prompt, caps.tile, caps.max_steps) == (
        kind,
        negative,
        tile,
        max_steps,
    )
    assert caps.img2img and caps.chaos
    for feature in ("negative_prompt", "tile"):
        if not getattr(caps, feature):
            assert caps.why_not(feature) != "not supported", "every refusal says why"


def test_imaginebot_json_overrides_the_family_defaults(tmp_path: Path) -> None:
    folder = tmp_path / "my-sdxl"
    folder.mkdir()
    (folder / "model_index.json").write_text(
        json.dumps(
            {"_class_name": "StableDiffusionXLPipeline", "unet": ["diffusers", "UNet2DConditionModel"]}
        )
    )
    (folder / "imaginebot.json").write_text(json.dumps({"default_steps": 12, "default_guidance": 1.0}))
    description = describe_folder(folder)
    assert (description.default_steps, description.default_guidance) == (12, 1.0)
    assert description.capabilities.guidance == "none" and not description.capabilities.negative_prompt


def test_sana_with_position_embeddings_refuses_tile() -> None:
    configs = {"transformer": {"_class_name": "SanaTransformer2DModel", "interpolation_scale": 1.0}}
    caps = describe(configs).capabilities
    assert not caps.tile and "position" in caps.why_not("tile")


def test_an_unknown_pipeline_refuses_what_the_engine_cannot_drive() -> None:
    caps = describe({"transformer": {"_class_name": "SomeNewTransformer"}}).capabilities
    assert (caps.family, caps.img2img, caps.chaos, caps.tile) == ("unknown", False, False, False)
    assert "image-to-image" in caps.why_not("img2img")
