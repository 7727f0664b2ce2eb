"""The one request model: each request validates itself, has one JSON form, and is checked against a model's
capabilities (torch-free, as the bot uses it before charging)."""

from __future__ import annotations

import json

import pytest

from engine.api import (
    Capabilities,
    GenerateRequest,
    ModelInfo,
    UpscaleRequest,
    VariationRequest,
)
from engine.errors import InvalidRequest
from engine.prompt import parse_prompt


def info(**capabilities: object) -> ModelInfo:
    return ModelInfo(
        name="/srv/models/tiny-flux",
        native_size=512,
        default_steps=4,
        default_guidance=0.0,
        source="/srv/models/tiny-flux",
        capabilities=Capabilities(**capabilities),  # type: ignore[arg-type]
    )


def test_requests_round_trip_through_json() -> None:
    request = parse_prompt("a fox --ar 3:2 --no rain --chaos 20 --quality .5 --seed 9").request
    data = json.loads(json.dumps(request.to_json()))
    assert GenerateRequest.from_json(data) == request
    variation = VariationRequest(source=b"png", prompt="a fox", seed=3, strength="subtle", tile=True)
    assert VariationRequest.from_json(variation.to_json(), b"png") == variation
    upscale = UpscaleRequest(source=b"png", prompt="a fox", seed=3, scale=4)
    assert "source" not in upscale.to_json()
    assert UpscaleRequest.from_json(upscale.to_json(), b"png") == upscale


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"prompt": "a", "seed": 1, "quality": 2.0}, "--quality"),  # the parser's rule, everywhere
        ({"prompt": "a", "seed": 4_294_967_293}, "seed"),  # refused, never clamped
        ({"prompt": "a", "seed": 1, "aspect": [9, 1]}, "aspect ratio"),
        ({"prompt": "a"}, "incomplete"),
    ],
)
def test_stored_requests_are_validated_when_restored(data: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidRequest, match=needle):
        GenerateRequest.from_json(data)


def test_model_checks_name_the_model_without_its_path_and_the_parameter() -> None:
    no_negative = info(negative_prompt=False, reasons=(("negative_prompt", "its guidance is distilled"),))
    with pytest.raises(
        InvalidRequest, match=r"^Model `tiny-flux` cannot take `--no`: its guidance is distilled\.$"
    ):
        no_negative.check(GenerateRequest(prompt="a", seed=1, negative_prompt="b"))
    no_negative.check(GenerateRequest(prompt="a", seed=1))
    with pytest.raises(InvalidRequest, match="cannot take `--tile`"):
        info(tile=False).check(GenerateRequest(prompt="a", seed=1, tile=True))
    with pytest.raises(InvalidRequest, match="cannot take `--chaos`"):
        info(chaos=False).check(GenerateRequest(prompt="a", seed=1, chaos=5))
    with pytest.raises(InvalidRequest, match="cannot take `--stylize`"):
        info(guidance="none").check(GenerateRequest(prompt="a", seed=1, stylize=300))
    with pytest.raises(InvalidRequest, match="at most 50 steps"):
        info(max_steps=50).check(GenerateRequest(prompt="a", seed=1, steps=60))
    with pytest.raises(InvalidRequest, match="multiple of 16"):
        info(size_multiple=16).check(GenerateRequest(prompt="a", seed=1, width=520, height=512))
    with pytest.raises(InvalidRequest, match="cannot make variations"):
        info(img2img=False).check(VariationRequest(source=b"", prompt="a", seed=1))
    with pytest.raises(InvalidRequest, match="cannot make upscales"):
        info(img2img=False).check(UpscaleRequest(source=b"", prompt="a", seed=1, mode="creative"))
    # U1–U4 and Upscale (Subtle) are a sharpened resize (no model pass): every model makes them.
    info(img2img=False).check(UpscaleRequest(source=b"", prompt="a", seed=1))
    info(img2img=False).check(UpscaleRequest(source=b"", prompt="a", seed=1, mode="subtle"))
    assert info().capabilities.to_json()["reasons"] == {}
