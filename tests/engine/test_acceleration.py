"""Acceleration settings (ENGINE_DTYPE/OFFLOAD/VAE_TILING/COMPILE/QUANTIZE) on the tiny model, on CPU."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0
from PIL import Image

from engine.api import GenerateRequest, Progress
from engine.errors import EngineFailure, InvalidSetting
from engine.factory import create_engine
from engine.local import LocalEngine, acceleration
from engine.local.acceleration import AccelerationOptions, accelerate, choose_dtype, load_kwargs, vae_memory
from engine.local.models import load_model
from engine.local.registry import ModelSpec

CPU = torch.device("cpu")


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


@pytest.fixture()
def pipe(tiny_model: Path) -> Any:
    """A fresh copy of the tiny pipeline (tests change its modules)."""
    return load_model(ModelSpec(name="tiny", source=str(tiny_model), local=True), CPU).pipe


# -- settings -----------------------------------------------------------------------------------------------


def test_defaults_and_spellings_parse() -> None:
    assert AccelerationOptions.parse() == AccelerationOptions("auto", "none", "auto", "off", "none")
    options = AccelerationOptions.parse(
        dtype=" BF16 ", offload="None", vae_tiling="false", compile="on", quantize="off"
    )
    assert options == AccelerationOptions("bf16", "none", "off", "default", "none")
    assert AccelerationOptions.parse(dtype="float16", compile="max-autotune-no-cudagraphs") == (
        AccelerationOptions(dtype="fp16", compile="max-autotune")
    )
    assert AccelerationOptions.parse(dtype="", offload="") == AccelerationOptions()


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("dtype", "fp8"),
        ("offload", "gpu"),
        ("vae_tiling", "sometimes"),
        ("compile", "fast"),
        ("quantize", "int3"),
    ],
)
def test_an_unknown_value_is_one_line_naming_the_setting(setting: str, value: str) -> None:
    with pytest.raises(InvalidSetting) as error:
        AccelerationOptions.parse(**{setting: value})
    message = str(error.value)
    assert message.startswith(f"ENGINE_{setting.upper()} `{value}` is not one of ")
    assert "\n" not in message


def test_a_bad_setting_stops_create_engine_before_anything_loads(tiny_model: Path) -> None:
    with pytest.raises(InvalidSetting, match="ENGINE_OFFLOAD `always`"):
        create_engine(model=str(tiny_model), device="cpu", threads=1, preview_every=0, offload="always")


@pytest.mark.parametrize(("value", "package"), [("bnb-4bit", "bitsandbytes"), ("torchao-int8", "torchao")])
def test_quantization_without_its_backend_is_refused_clearly(value: str, package: str) -> None:
    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed here")
    with pytest.raises(InvalidSetting, match=rf"ENGINE_QUANTIZE={value} needs the `{package}` package"):
        AccelerationOptions.parse(quantize=value)


def test_offload_without_accelerate_is_refused_clearly() -> None:
    if importlib.util.find_spec("accelerate") is not None:
        assert AccelerationOptions.parse(offload="Model").offload == "model"
        return
    with pytest.raises(InvalidSetting) as error:
        AccelerationOptions.parse(offload="Model")
    assert str(error.value) == (
        "ENGINE_OFFLOAD=model needs the `accelerate` package, which is not installed: "
        "pip install -e '.[gpu]', or set ENGINE_OFFLOAD=none."
    )


@pytest.mark.skipif(
    importlib.util.find_spec("torchao") is None or importlib.util.find_spec("accelerate") is None,
    reason="torchao and accelerate are not installed (pip install -e '.[quantize-torchao]')",
)
def test_torchao_int8_quantizes_the_denoiser_and_still_renders(tiny_model: Path) -> None:
    spec = ModelSpec(name="tiny", source=str(tiny_model), local=True)
    model = load_model(spec, CPU, AccelerationOptions.parse(quantize="torchao-int8"))
    attention = model.pipe.unet.down_blocks[0].attentions[0].transformer_blocks[0].attn1
    assert type(attention.to_q.weight).__name__ == "Int8Tensor"
    images = model.pipe("a red circle", num_inference_steps=2, height=64, width=64, output_type="np").images
    assert images.shape == (1, 64, 64, 3) and np.isfinite(images).all()


def test_auto_dtype_is_fp32_on_cpu_for_every_family() -> None:
    auto = AccelerationOptions()
    for denoiser in ("unet", "transformer", None):
        assert choose_dtype(auto, CPU, denoiser) is torch.float32
    assert choose_dtype(AccelerationOptions(dtype="bf16"), CPU, "unet") is torch.bfloat16
    # on a GPU: fp16 for UNets (and on MPS); bf16 for transformers only where CUDA has it
    assert choose_dtype(auto, torch.device("mps"), "transformer") is torch.float16
    assert choose_dtype(auto, torch.device("cuda"), "unet") is torch.float16


def test_the_tiny_model_loads_in_fp32_on_cpu(tiny_model: Path) -> None:
    kwargs = load_kwargs(AccelerationOptions(), CPU, str(tiny_model), local=True)
    assert kwargs == {"dtype": torch.float32, "low_cpu_mem_usage": False}
    assert acceleration.read_denoiser_name(str(tiny_model), local=True) == "unet"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            AccelerationOptions(offload="model"),
            "ENGINE_OFFLOAD=model needs a CUDA device; the engine runs on cpu",
        ),
        (AccelerationOptions(offload="sequential"), "ENGINE_OFFLOAD=sequential needs a CUDA device"),
        (AccelerationOptions(dtype="fp16"), "ENGINE_DTYPE=fp16 is for GPUs; on CPU use fp32"),
        (AccelerationOptions(quantize="bnb-8bit"), "ENGINE_QUANTIZE=bnb-8bit .* needs a CUDA device"),
    ],
)
def test_what_the_cpu_cannot_do_is_refused(pipe: Any, options: AccelerationOptions, message: str) -> None:
    with pytest.raises(InvalidSetting, match=message):
        options.check_device(CPU)
    with pytest.raises(InvalidSetting, match=message):
        accelerate(pipe, options, CPU)


async def test_offload_on_cpu_fails_jobs_with_the_reason(tiny_model: Path) -> None:
    engine = LocalEngine(
        model=str(tiny_model), device="cpu", threads=1, acceleration=AccelerationOptions(offload="model")
    )
    try:
        with pytest.raises(
            EngineFailure, match=r"could not start \(ENGINE_OFFLOAD=model needs a CUDA device"
        ):
            await engine.run(GenerateRequest(prompt="a cat", seed=1, steps=2), job_id="offload")
    finally:
        await engine.close()


def test_the_cli_says_what_is_wrong_in_one_line(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.cli import main

    base = ["imagine", "a cat --seed 1", "-o", str(tmp_path / "grid.png"), "--model", str(tiny_model)]
    assert main([*base, "--device", "cpu", "--quiet", "--dtype", "fp8"]) == 2
    assert (
        capsys.readouterr().err.strip() == "error: ENGINE_DTYPE `fp8` is not one of auto, fp32, fp16, bf16."
    )
    assert main([*base, "--device", "cpu", "--quiet", "--offload", "model"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1
    if importlib.util.find_spec("accelerate") is None:
        assert error[0].startswith("error: ENGINE_OFFLOAD=model needs the `accelerate` package")
    else:
        assert error[0] == (
            "error: The image engine could not start (ENGINE_OFFLOAD=model needs a CUDA device; the engine "
            "runs on cpu: set ENGINE_OFFLOAD=none.)."
        )
    assert not (tmp_path / "grid.png").exists()


# -- what accelerate() switches on --------------------------------------------------------------------------


def test_defaults_on_cpu_keep_fp32_and_only_add_sdpa_and_vae_memory_switches(pipe: Any) -> None:
    pipe.vae.set_attn_processor(AttnProcessor())
    done = accelerate(pipe, AccelerationOptions(), CPU)
    assert done == ["sdpa", "vae slicing", "vae tiling above 1024 px"]
    assert pipe.unet.dtype is torch.float32 and pipe.device == CPU
    assert {type(p) for p in pipe.vae.attn_processors.values()} == {AttnProcessor2_0}
    assert pipe.unet._compiled_call_impl is None
    assert pipe.unet.conv_in.weight.is_contiguous()  # channels_last is for CUDA only


def test_plain_attention_is_switched_to_sdpa_with_the_same_output(pipe: Any) -> None:
    unet = pipe.unet
    unet.set_attn_processor(AttnProcessor())
    torch.manual_seed(0)
    sample, text = torch.randn(1, 4, 8, 8), torch.randn(1, 5, 32)
    with torch.no_grad():
        plain = unet(sample, 10, encoder_hidden_states=text).sample
        assert "switched" in acceleration.use_sdpa(unet)[0]
        fused = unet(sample, 10, encoder_hidden_states=text).sample
    assert {type(p) for p in unet.attn_processors.values()} == {AttnProcessor2_0}
    assert torch.allclose(plain, fused, atol=1e-5)
    assert acceleration.use_sdpa(unet) == ["sdpa"]


def test_vae_tiling_switches_on_above_the_threshold_and_keeps_the_size(
    pipe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    vae = pipe.vae
    monkeypatch.setattr(acceleration, "AUTO_TILE_SIDE", 128)
    done = vae_memory(vae, "auto")
    assert done == ["vae slicing", "vae tiling above 128 px"]
    tiled_calls: list[tuple[int, ...]] = []
    tiled_decode = vae.tiled_decode

    def spy(z: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        tiled_calls.append(tuple(z.shape))
        return tiled_decode(z, *args, **kwargs)

    monkeypatch.setattr(vae, "tiled_decode", spy)
    torch.manual_seed(0)
    small, big = torch.randn(2, 4, 16, 16), torch.randn(1, 4, 24, 40)  # 128×128 px and 192×320 px
    with torch.no_grad():
        small_image = vae.decode(small).sample
        assert tiled_calls == []  # at the threshold: one pass, as before
        big_tiled = vae.decode(big).sample
        assert tiled_calls == [(1, 4, 24, 40)]
        vae_memory(vae, "off")
        big_whole = vae.decode(big).sample
    assert small_image.shape == (2, 3, 128, 128)
    assert big_tiled.shape == big_whole.shape == (1, 3, 192, 320)
    assert not vae.use_tiling and not vae.use_slicing
    # the tiles are blended, not pasted: close to the one-pass decode, never a different picture
    correlation = torch.corrcoef(torch.stack([big_tiled.flatten(), big_whole.flatten()]))[0, 1]
    print(f"tiled vs one-pass decode: correlation {correlation:.3f}")
    assert correlation > 0.5


def test_vae_tiling_on_uses_the_vaes_own_tile_size(pipe: Any) -> None:
    assert vae_memory(pipe.vae, "on") == ["vae slicing", "vae tiling above 64 px"]
    assert pipe.vae.use_tiling


def test_compile_is_applied_to_the_denoiser_in_place(pipe: Any) -> None:
    unet = pipe.unet
    done = accelerate(pipe, AccelerationOptions(compile="max-autotune"), CPU)
    assert "torch.compile (max-autotune)" in done
    assert pipe.unet is unet and type(unet).__name__ == "UNet2DConditionModel"
    assert unet._compiled_call_impl is not None


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("IMAGINEBOT_COMPILE_TEST"),
    reason="inductor compiles the tiny UNet in ~5 min on a shared 2-core CPU; set IMAGINEBOT_COMPILE_TEST=1",
)
def test_compiled_tiny_unet_matches_eager(pipe: Any) -> None:
    unet = pipe.unet
    torch.manual_seed(0)
    sample, text = torch.randn(1, 4, 8, 8), torch.randn(1, 5, 32)
    with torch.no_grad():
        eager = unet(sample, 10, encoder_hidden_states=text).sample
        acceleration.compile_denoiser(unet, "default")
        compiled = unet(sample, 10, encoder_hidden_states=text).sample
    assert torch.allclose(eager, compiled, atol=1e-4)


# -- through LocalEngine ------------------------------------------------------------------------------------


async def test_bf16_with_vae_tiling_through_local_engine_gives_a_right_grid(tiny_model: Path) -> None:
    engine = LocalEngine(
        model=str(tiny_model),
        device="cpu",
        threads=1,
        preview_every=1,
        acceleration=AccelerationOptions.parse(dtype="bf16", vae_tiling="on"),
    )
    progress: list[Progress] = []
    try:
        request = GenerateRequest(prompt="a red circle", seed=3, width=96, height=80, steps=2)
        result = await asyncio.wait_for(engine.run(request, job_id="bf16", on_progress=progress.append), 120)
    finally:
        await engine.close()
    assert (result.width, result.height) == (96, 80)
    assert result.grid is not None and pixels(result.grid).shape == (160, 192, 3)
    tiles = [pixels(tile) for tile in result.images]
    assert all(tile.shape == (80, 96, 3) for tile in tiles)
    assert len({tile.tobytes() for tile in tiles}) == 4
    assert all(tile.std() > 1 for tile in tiles), "a flat tile means the bf16 decode broke"
    assert [p.step for p in progress][-1] == 2
