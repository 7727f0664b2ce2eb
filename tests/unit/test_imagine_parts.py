"""The /imagine feature's pure parts: button ids, job parameters, message texts and result images."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image

from bot.imagine import _ids, _render, _requests, _text
from engine.api import GenerateRequest, GenerationResult, UpscaleRequest, VariationRequest
from engine.prompt import parse_prompt


def test_custom_ids_round_trip_through_the_templates() -> None:
    cases = [
        (_ids.upscale_id(42, 2), _ids.UPSCALE_TEMPLATE, {"job": "42", "tile": "2"}),
        (_ids.variation_id(7, 4), _ids.VARIATION_TEMPLATE, {"job": "7", "tile": "4"}),
        (_ids.reroll_id(9), _ids.REROLL_TEMPLATE, {"job": "9"}),
        (_ids.vary_id(5, "subtle"), _ids.VARY_TEMPLATE, {"job": "5", "strength": "subtle"}),
        (_ids.cancel_id(3), _ids.CANCEL_TEMPLATE, {"job": "3"}),
    ]
    templates = {template for _, template, _ in cases}
    for custom_id, template, groups in cases:
        assert custom_id.startswith("ib1:") and len(custom_id) <= 100
        match = re.fullmatch(template, custom_id)
        assert match is not None and match.groupdict() == groups
        # Exactly one template claims each id, so no button is dispatched twice.
        assert [t for t in templates if re.fullmatch(t, custom_id)] == [template]
    assert re.fullmatch(_ids.UPSCALE_TEMPLATE, _ids.upscale_id(2**63 - 1, 1))


@pytest.mark.parametrize(
    "make", [lambda: _ids.upscale_id(1, 5), lambda: _ids.variation_id(0, 1), lambda: _ids.cancel_id(-3)]
)
def test_custom_ids_refuse_impossible_values(make: object) -> None:
    with pytest.raises(ValueError):
        make()  # type: ignore[operator]


def test_job_parameters_rebuild_the_same_requests() -> None:
    parsed = parse_prompt(
        "a fox --ar 3:2 --seed 12 --no snow, rain --chaos 30 --stylize 250 --quality .5 --tile"
    )
    params = _requests.generate_params(parsed.request)
    assert params["aspect"] == [3, 2]
    assert _requests.generate_request(params) == parsed.request
    assert _requests.display_prompt(params) == parsed.normalized

    reroll = _requests.generate_request(_requests.reroll_params(params, 99))
    assert reroll.seed == 99 and reroll.prompt == "a fox" and reroll.chaos == 30

    variation = _requests.build_request(
        "variation", _requests.variation_params(params, seed=5, strength="subtle"), b"png"
    )
    assert isinstance(variation, VariationRequest)
    assert (variation.source, variation.seed, variation.strength, variation.tile) == (
        b"png",
        5,
        "subtle",
        True,
    )
    assert variation.negative_prompt == "snow, rain"

    upscale = _requests.build_request("upscale", _requests.upscale_params(params, seed=13), b"png")
    assert isinstance(upscale, UpscaleRequest) and (upscale.seed, upscale.scale) == (13, 2)
    with pytest.raises(ValueError):
        _requests.build_request("upscale", params, None)


def test_message_texts() -> None:
    head = _text.headline("imagine", "a fox --seed 1", 77)
    assert head == "**a fox --seed 1** - <@77>"
    assert _text.waiting(head, 1).endswith("(Waiting to start)")
    assert _text.waiting(head, 3).endswith("(Waiting to start, number 3 in the queue)")
    assert _text.progress(head, 0.314).endswith("(31%)")
    assert _text.progress(head, 1.0).endswith("(99%)")
    assert _text.headline("upscale", "p", 1, tile=2) == "**p** - Image #2 <@1>"
    assert _text.headline("variation", "p", 1, strength="subtle") == "**p** - Variations (Subtle) by <@1>"
    long = _text.headline("imagine", "x" * 5000, 1)
    assert len(_text.failed(long, "y" * 60)) <= _text.MAX_CONTENT


def _png(width: int, height: int, seed: int = 0) -> bytes:
    noise = Image.effect_noise((width, height), 64 + seed).convert("RGB")
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    return buffer.getvalue()


def test_results_are_saved_as_png_and_the_grid_compacted_under_the_limit(tmp_path: Path) -> None:
    tiles = tuple(_png(256, 256, seed) for seed in range(4))
    grid = _png(512, 512, 9)
    result = GenerationResult(
        kind="imagine", images=tiles, seeds=(1, 2, 3, 4), width=256, height=256, model="m", grid=grid
    )
    saved = _render.save_result(tmp_path, 17, result)
    assert [image.tile for image in saved.images] == [1, 2, 3, 4]
    assert [image.seed for image in saved.images] == [1, 2, 3, 4]
    assert all(Path(image.path).read_bytes() == tile for image, tile in zip(saved.images, tiles, strict=True))
    assert saved.grid_path is not None and Path(saved.grid_path).read_bytes() == grid
    assert not list(tmp_path.rglob("*.part"))

    # The grid is posted as the PNG itself when it fits; as a JPEG only to fit.
    assert _render.attachment(grid, 10 * 1024 * 1024, name="grid-17") == ("grid-17.png", grid)
    name, data = _render.attachment(grid, len(grid) // 2 + 64 * 1024, name="grid-17")
    assert name == "grid-17.jpg" and len(data) < len(grid)
    assert Image.open(io.BytesIO(data)).size == (512, 512)
    # A tight limit trades quality, then size, but always fits.
    name, small = _render.compact(grid, 100 * 1024, name="grid-17")
    assert len(small) <= 100 * 1024 - 16 * 1024 or Image.open(io.BytesIO(small)).width <= 64

    assert _render.attachment(tiles[0], 10 * 1024 * 1024, name="up") == ("up.png", tiles[0])
    assert _render.attachment(tiles[0], 80 * 1024, name="up")[0] == "up.jpg"


def test_generate_request_defaults_survive_json() -> None:
    request = GenerateRequest(prompt="p", seed=3)
    assert _requests.generate_request(_requests.generate_params(request)) == request


def test_cancel_without_a_number_picks_the_latest_job_of_this_server_only() -> None:
    from datetime import UTC, datetime

    from bot.db import JobRecord
    from bot.imagine._cog import latest_job

    def job(job_id: int, guild_id: int | None) -> JobRecord:
        fields = dict.fromkeys(
            (
                "message_id",
                "model",
                "seeds",
                "error",
                "parent_job_id",
                "parent_tile",
                "grid_path",
                "finished_at",
            )
        )
        return JobRecord(
            id=job_id, kind="imagine", status="queued", user_id=1, guild_id=guild_id, channel_id=10,
            prompt="p", params={}, cost=1, created_at=datetime.now(UTC), **fields,
        )  # fmt: skip

    mine = [job(1, 100), job(2, 200), job(3, 100), job(4, 200)]
    assert latest_job(mine, 100).id == 3  # type: ignore[union-attr]  # not job 4, in another server
    assert latest_job(mine, 200).id == 4  # type: ignore[union-attr]
    assert latest_job(mine, 300) is None  # none here: never a job of another server
    assert latest_job(mine, None) is None  # from a DM: only DM jobs
    assert latest_job([*mine, job(5, None)], None).id == 5  # type: ignore[union-attr]
