"""Every bad request gets the typed error with a message naming the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.api import GenerateRequest, UpscaleRequest, VariationRequest
from engine.errors import InvalidRequest, UnknownModel
from engine.local import LocalEngine


@pytest.mark.parametrize(
    ("request_", "error", "message"),
    [
        (GenerateRequest(prompt="  ", seed=1), InvalidRequest, "prompt is empty"),
        (GenerateRequest(prompt="x" * 1001, seed=1), InvalidRequest, "too long"),
        (GenerateRequest(prompt="a", seed=1, aspect=(9, 1)), InvalidRequest, "aspect ratio"),
        (GenerateRequest(prompt="a", seed=1, aspect=(0, 1)), InvalidRequest, "aspect ratio"),
        (GenerateRequest(prompt="a", seed=-1), InvalidRequest, "seed"),
        (GenerateRequest(prompt="a", seed=1, tile_indices=(5,)), InvalidRequest, "Tiles"),
        (GenerateRequest(prompt="a", seed=1, tile_indices=()), InvalidRequest, "Tiles"),
        (GenerateRequest(prompt="a", seed=1, tile_indices=(2, 2)), InvalidRequest, "Tiles"),
        (GenerateRequest(prompt="a", seed=1, steps=0), InvalidRequest, "Steps"),
        (GenerateRequest(prompt="a", seed=1, guidance=99.0), InvalidRequest, "Guidance"),
        (GenerateRequest(prompt="a", seed=1, chaos=101), InvalidRequest, "chaos"),
        (GenerateRequest(prompt="a", seed=1, width=64), InvalidRequest, "both width and height"),
        (GenerateRequest(prompt="a", seed=1, width=60, height=64), InvalidRequest, "multiple of 8"),
        (GenerateRequest(prompt="a", seed=1, width=64, height=4096), InvalidRequest, "aspect ratio"),
        (GenerateRequest(prompt="a", seed=1, width=256, height=264), InvalidRequest, "height"),
        (GenerateRequest(prompt="a", seed=1, quality=0.3), InvalidRequest, "quality"),
        (GenerateRequest(prompt="a", seed=4_294_967_295), InvalidRequest, "seed"),
        (GenerateRequest(prompt="a", seed=1, model="nope"), UnknownModel, "Unknown model `nope`"),
        (GenerateRequest(prompt="a", seed=1, model="../tiny"), UnknownModel, "Unknown model"),
        (
            VariationRequest(source=b"x", prompt="a", seed=1, strength="huge"),
            InvalidRequest,
            "subtle or strong",
        ),  # type: ignore[arg-type]
        (UpscaleRequest(source=b"x", prompt="a", seed=1, scale=8), InvalidRequest, "2, 3 or 4"),
    ],
)
async def test_bad_requests_raise_typed_errors(
    engine: LocalEngine, request_: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        await engine.run(request_, job_id="bad")  # type: ignore[arg-type]


async def test_unknown_model_lists_the_available_ones(engine: LocalEngine, tiny_model: Path) -> None:
    with pytest.raises(UnknownModel) as raised:
        await engine.run(GenerateRequest(prompt="a", seed=1, model="sdxl"), job_id="m")
    # The configured folder is named by its folder name: users never see the server's paths.
    assert f"`{tiny_model.name}`" in str(raised.value) and str(tiny_model.parent) not in str(raised.value)
    from engine.local.registry import ModelRegistry

    registry = ModelRegistry(str(tiny_model), tiny_model.parent / "no-models-here")
    assert registry.resolve(tiny_model.name).source == str(tiny_model)  # the shown name works in --model


async def test_missing_default_model_names_the_setting(tmp_path: Path) -> None:
    local = LocalEngine(model="default", device="cpu", models_dir=tmp_path)
    try:
        with pytest.raises(UnknownModel, match="ENGINE_MODEL"):
            await local.run(GenerateRequest(prompt="a", seed=1), job_id="d")
        assert local.models() == []
    finally:
        await local.close()


async def test_hub_id_offline_fails_naming_the_setting(tmp_path: Path) -> None:
    local = LocalEngine(model="someone/not-downloaded-model", device="cpu", models_dir=tmp_path)
    try:
        with pytest.raises(UnknownModel, match="ENGINE_MODEL") as raised:
            await local.run(GenerateRequest(prompt="a", seed=1), job_id="h")
        assert "someone/not-downloaded-model" in str(raised.value)
    finally:
        await local.close()


async def test_folder_without_model_index_is_unknown(tmp_path: Path) -> None:
    local = LocalEngine(model=str(tmp_path), device="cpu", models_dir=tmp_path)
    try:
        with pytest.raises(UnknownModel, match=r"model_index\.json"):
            await local.run(GenerateRequest(prompt="a", seed=1), job_id="f")
    finally:
        await local.close()


async def test_models_in_the_models_dir_are_available_by_name(tiny_model: Path) -> None:
    local = LocalEngine(model="default", device="cpu", models_dir=tiny_model.parent)
    try:
        [info] = local.models()
        assert (info.name, info.native_size, info.default_steps, info.default_guidance) == (
            "tiny",
            64,
            4,
            5.0,
        )
        result = await local.run(
            GenerateRequest(prompt="a", seed=1, model="tiny", tile_indices=(1,)), job_id="n"
        )
        assert result.model == "tiny"
    finally:
        await local.close()
