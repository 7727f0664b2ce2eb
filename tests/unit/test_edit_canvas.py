"""Edit requests validate themselves; canvases put the source where the tools say and keep it exactly."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from engine.api import Capabilities, InpaintRequest, ModelInfo, OutpaintRequest, UpscaleRequest
from engine.errors import InvalidRequest
from engine.local.canvas import (
    Canvas,
    composite,
    outpaint_canvas,
    pan_canvas,
    region_mask,
    square_canvas,
    user_mask,
    zoom_canvas,
)


def _source(width: int = 72, height: int = 48) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _kept(canvas: Canvas, source: Image.Image, box: tuple[int, int]) -> bool:
    left, top = box
    inner = np.asarray(canvas.image)[top : top + source.height, left : left + source.width]
    mask = np.asarray(canvas.mask)[top : top + source.height, left : left + source.width]
    return bool(np.array_equal(inner, np.asarray(source)) and not mask.any())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "zoom", "zoom": 2.5}, "zoom factor must be from 1 to 2"),
        ({"mode": "zoom", "zoom": 0.9}, "zoom factor"),
        ({"mode": "pan"}, "pan direction"),
        ({"mode": "pan", "direction": "sideways"}, "pan direction"),
        ({"mode": "square", "direction": "left"}, "only used when panning"),
        ({"mode": "spin"}, "Unknown outpaint mode"),
    ],
)
def test_outpaint_requests_refuse_bad_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        OutpaintRequest(source=b"x", prompt="p", seed=1, **kwargs).validate()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "Choose the region"),
        ({"regions": (1,), "mask": b"m"}, "not both"),
        ({"regions": (0,)}, "cells from 1 to 9"),
        ({"regions": (2, 2)}, "distinct"),
        ({"regions": tuple(range(1, 10))}, "plain variation"),
        ({"regions": (1,), "strength": 0.0}, "strength"),
    ],
)
def test_inpaint_requests_refuse_bad_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        InpaintRequest(source=b"x", prompt="p", seed=1, **kwargs).validate()  # type: ignore[arg-type]


def test_upscale_mode_is_checked() -> None:
    assert UpscaleRequest(source=b"x", prompt="", seed=1, mode="subtle").mode == "subtle"
    with pytest.raises(InvalidRequest, match="upscale mode"):
        UpscaleRequest(source=b"x", prompt="", seed=1, mode="wild").validate()  # type: ignore[arg-type]


def test_tool_requests_round_trip_through_json_and_are_validated_when_restored() -> None:
    requests = [
        OutpaintRequest(source=b"x", prompt="p", seed=1, mode="pan", direction="up", negative_prompt="n"),
        OutpaintRequest(source=b"x", prompt="p", seed=1, mode="zoom", zoom=1.5),
        InpaintRequest(source=b"x", prompt="p", seed=3, regions=(1, 5), strength=0.8),
        UpscaleRequest(source=b"x", prompt="p", seed=3, mode="creative"),
    ]
    for request in requests:
        data = json.loads(json.dumps(request.to_json()))
        assert "source" not in data
        assert type(request).from_json(data, b"x") == request
    mask = InpaintRequest(source=b"x", prompt="p", seed=3, mask=b"m")
    assert "mask" not in mask.to_json()
    assert InpaintRequest.from_json(mask.to_json(), b"x", mask=b"m") == mask
    with pytest.raises(InvalidRequest, match="zoom factor"):
        OutpaintRequest.from_json({"prompt": "p", "seed": 1, "mode": "zoom", "zoom": 3}, b"x")
    with pytest.raises(InvalidRequest, match="Regions must be distinct"):
        InpaintRequest.from_json({"prompt": "p", "seed": 1, "regions": [0, 1]}, b"x")


def test_a_model_without_inpainting_refuses_the_tools_naming_it() -> None:
    plain = ModelInfo("pixart", 64, 2, 4.5, "x", Capabilities(family="pixart", inpaint=False))
    able = dataclasses.replace(plain, capabilities=Capabilities(family="sd", inpaint=True))
    for request in (
        OutpaintRequest(source=b"x", prompt="p", seed=1, mode="square"),
        InpaintRequest(source=b"x", prompt="p", seed=1, regions=(2,)),
    ):
        with pytest.raises(InvalidRequest, match="Model `pixart` cannot"):
            plain.check(request)
        able.check(request)
    # Upscale (Subtle) is a resize without a model pass: even a model without image-to-image makes it.
    none = dataclasses.replace(plain, capabilities=Capabilities(img2img=False))
    none.check(UpscaleRequest(source=b"x", prompt="", seed=1, mode="subtle"))
    with pytest.raises(InvalidRequest, match="cannot make upscales"):
        none.check(UpscaleRequest(source=b"x", prompt="", seed=1, mode="creative"))


def test_zoom_shrinks_the_source_into_the_centre_at_the_same_size() -> None:
    source = _source()
    canvas = zoom_canvas(source, 2.0)
    assert canvas.size == (72, 48)
    small = source.resize((36, 24), Image.Resampling.LANCZOS)
    assert _kept(canvas, small, (18, 12))
    assert np.asarray(canvas.mask).mean() == pytest.approx(255 * 0.75)
    assert zoom_canvas(source, 1.5).mask.getbbox() == (0, 0, 72, 48)


@pytest.mark.parametrize(
    ("direction", "size", "box"),
    [
        ("left", (112, 48), (40, 0)),
        ("right", (112, 48), (0, 0)),
        ("up", (72, 72), (0, 24)),
        ("down", (72, 72), (0, 0)),
    ],
)
def test_pan_extends_by_half_towards_the_direction(
    direction: str, size: tuple[int, int], box: tuple[int, int]
) -> None:
    source = _source()
    canvas = pan_canvas(source, direction, multiple=8, native=64)  # type: ignore[arg-type]
    assert canvas.size == size
    assert _kept(canvas, source, box)
    assert canvas.size[0] % 8 == 0 and canvas.size[1] % 8 == 0
    # the new strip starts from the source's edge colours, stretched outwards
    image = np.asarray(canvas.image)
    if direction == "left":
        assert np.array_equal(image[:, 0], image[:, 40])


def test_pan_and_square_refuse_beyond_the_aspect_limit() -> None:
    wide = _source(128, 32)
    with pytest.raises(InvalidRequest, match=r"6:1\), beyond the 4:1 aspect limit"):
        pan_canvas(wide, "left", multiple=8, native=64)
    assert pan_canvas(wide, "up", multiple=8, native=64).size == (128, 48)
    with pytest.raises(InvalidRequest, match="256×288, larger than 256 px on a side"):
        pan_canvas(_source(256, 192), "down", multiple=8, native=64)
    with pytest.raises(InvalidRequest, match="already square"):
        outpaint_canvas(_source(64, 64), "square", multiple=8, native=64)


def test_square_extends_the_short_side_on_both_sides() -> None:
    source = _source()
    canvas = square_canvas(source, native=64)
    assert canvas.size == (72, 72)
    assert _kept(canvas, source, (0, 12))


def test_region_cells_and_user_masks() -> None:
    mask = np.asarray(region_mask((72, 48), (1, 9))) > 0
    assert mask[:16, :24].all() and mask[32:, 48:].all()
    assert mask.sum() == 2 * 24 * 16
    painted = Image.new("L", (10, 10), 0)
    painted.paste(200, (0, 0, 5, 10))
    resized = np.asarray(user_mask(painted, (72, 48)))
    assert set(np.unique(resized)) == {0, 255} and resized[:, :36].all() and not resized[:, 36:].any()
    with pytest.raises(InvalidRequest, match="empty"):
        user_mask(Image.new("L", (8, 8), 0), (72, 48))
    with pytest.raises(InvalidRequest, match="whole image"):
        user_mask(Image.new("L", (8, 8), 255), (72, 48))


def test_composite_keeps_the_pixels_outside_the_mask_exactly() -> None:
    source = _source()
    canvas = Canvas(source, region_mask(source.size, (5,)))
    generated = Image.new("RGB", source.size, (1, 2, 3))
    out = np.asarray(composite(generated, canvas)).astype(int)
    inside = np.asarray(canvas.mask) > 0
    assert np.array_equal(out[~inside], np.asarray(source).astype(int)[~inside])
    assert (out[inside] == (1, 2, 3)).all()
