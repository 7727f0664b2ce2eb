"""Multi-prompts: parsing weights (torch-free) and mixing text embeddings by weight in real pipelines."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.errors import InvalidRequest
from engine.local.weights import mix, supports, weighted_embeddings
from engine.multiprompt import format_weighted, split_weighted

SHIPPED = Path(__file__).resolve().parents[2] / "engine" / "models" / "default"


def test_parts_and_weights() -> None:
    assert split_weighted("a red circle") == (("a red circle", 1.0),)
    assert split_weighted("a red circle:: blue background::2") == (
        ("a red circle", 1.0),
        ("blue background", 2.0),
    )
    assert split_weighted("hot:: dog") == (("hot", 1.0), ("dog", 1.0))
    assert split_weighted("a::1.5 b::-0.5 c") == (("a", 1.5), ("b", -0.5), ("c", 1.0))
    assert split_weighted("a::.5 b::2", "text, frame") == (
        ("a", 0.5), ("b", 2.0), ("text", -0.5), ("frame", -0.5),
    )  # fmt: skip
    assert format_weighted(split_weighted("a circle::2 square")) == "a circle::2 square::1"


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("a::-1 b::1", "add up to more than 0"),
        ("a::-2 b", "add up to more than 0"),
        (":: b", "part is empty"),
        ("a:: ::2", "part is empty"),
        ("a::1000 b", "from -100 to 100"),
        ("::".join("abcdefghi"), "at most 8 parts"),
    ],
)
def test_bad_weights_are_refused(prompt: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        split_weighted(prompt)


def test_mix_is_the_normalised_weighted_sum() -> None:
    a, b = torch.ones(1, 2, 3), torch.full((1, 2, 3), 4.0)
    assert torch.allclose(mix([a, b], [1, 2]), torch.full((1, 2, 3), 3.0))
    assert torch.allclose(mix([a, b], [2, -0.5]), torch.full((1, 2, 3), (2 - 2) / 1.5))
    assert mix([a.half(), b.half()], [1, 1]).dtype == torch.float16


def _pipe(folder: Path):  # type: ignore[no-untyped-def]
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline.from_pretrained(str(folder), torch_dtype=torch.float32).to("cpu")


@pytest.mark.skipif(not (SHIPPED / "model_index.json").exists(), reason="no shipped model")
def test_the_shipped_model_mixes_parts_by_weight_and_the_mix_differs_from_each_part() -> None:
    pipe = _pipe(SHIPPED)
    assert supports(pipe)
    device = torch.device("cpu")
    red = weighted_embeddings(pipe, (("a red circle", 1.0),), device, model="default")["prompt_embeds"]
    blue = weighted_embeddings(pipe, (("a blue square", 1.0),), device, model="default")["prompt_embeds"]
    both = weighted_embeddings(
        pipe, split_weighted("a red circle::1 a blue square::1"), device, model="default"
    )
    assert torch.allclose(both["prompt_embeds"], (red + blue) / 2, atol=1e-5)
    assert not torch.allclose(both["prompt_embeds"], red) and not torch.allclose(both["prompt_embeds"], blue)
    leaning = weighted_embeddings(
        pipe, split_weighted("a red circle::3 a blue square::1"), device, model="default"
    )
    assert torch.allclose(leaning["prompt_embeds"], (3 * red + blue) / 4, atol=1e-5)

    def draw(embeds: torch.Tensor):  # type: ignore[no-untyped-def]
        generator = torch.Generator().manual_seed(1)
        return pipe(prompt_embeds=embeds, num_inference_steps=2, generator=generator, output_type="np").images

    images, alone = draw(both["prompt_embeds"]), draw(red)
    assert abs(images - alone).mean() > 1e-3  # the mixed prompt draws something else than one part alone


def test_a_tiny_sd_model_mixes_too(tiny_model: Path) -> None:
    pipe = _pipe(tiny_model)
    device = torch.device("cpu")
    parts = split_weighted("a cat::2 a dog::-0.5")
    cat = weighted_embeddings(pipe, (("a cat", 1.0),), device, model="tiny")["prompt_embeds"]
    dog = weighted_embeddings(pipe, (("a dog", 1.0),), device, model="tiny")["prompt_embeds"]
    mixed = weighted_embeddings(pipe, parts, device, model="tiny")["prompt_embeds"]
    assert torch.allclose(mixed, (2 * cat - 0.5 * dog) / 1.5, atol=1e-5)


@pytest.mark.skipif(not (SHIPPED / "model_index.json").exists(), reason="no shipped model")
async def test_a_multi_prompt_grid_through_the_engine_differs_from_each_part_alone() -> None:
    import io

    import numpy as np
    from PIL import Image

    from engine.api import GenerateRequest, VariationRequest
    from engine.local import LocalEngine

    def pixels(data: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32)

    engine = LocalEngine(model=None, device="cpu", threads=1)
    try:
        grids = {}
        for prompt in ("a red circle::1 a blue square::1", "a red circle", "a blue square"):
            result = await engine.run(GenerateRequest(prompt=prompt, seed=3), job_id=prompt)
            assert result.grid is not None
            grids[prompt] = pixels(result.grid)
        mixed = grids["a red circle::1 a blue square::1"]
        assert np.abs(mixed - grids["a red circle"]).mean() > 2
        assert np.abs(mixed - grids["a blue square"]).mean() > 2
        varied = await engine.run(
            VariationRequest(
                source=result.images[0], prompt="a red circle::2 a blue square --no green", seed=5
            ),
            job_id="vary",
        )
        assert len(varied.images) == 4
        with pytest.raises(InvalidRequest, match="--chaos"):
            await engine.run(GenerateRequest(prompt="a::1 b::1", seed=1, chaos=10), job_id="chaos")
    finally:
        await engine.close()


def _tiny_sdxl():  # type: ignore[no-untyped-def]
    """A tiny SDXL pipeline from config (diffusers' fast-test sizes) with the shipped tokenizer, offline."""
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    torch.manual_seed(0)
    tokenizer = CLIPTokenizer.from_pretrained(str(SHIPPED / "tokenizer"))
    text = CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=tokenizer.model_max_length, projection_dim=32,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, hidden_act="gelu",
    )  # fmt: skip
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=80, cross_attention_dim=64,
    )  # fmt: skip
    vae = AutoencoderKL(
        block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
    )  # fmt: skip
    return StableDiffusionXLPipeline(
        vae=vae, text_encoder=CLIPTextModel(text), text_encoder_2=CLIPTextModelWithProjection(text),
        tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet, scheduler=EulerDiscreteScheduler(),
    )  # fmt: skip


@pytest.mark.skipif(not (SHIPPED / "tokenizer").exists(), reason="no shipped tokenizer")
def test_sdxl_mixes_the_text_and_the_pooled_embeddings_and_renders() -> None:
    pipe = _tiny_sdxl()
    assert supports(pipe)
    device = torch.device("cpu")

    def alone(text: str) -> dict[str, torch.Tensor]:
        return weighted_embeddings(pipe, ((text, 1.0),), device, model="sdxl")

    red, blue = alone("a red circle"), alone("a blue square")
    mixed = weighted_embeddings(
        pipe, split_weighted("a red circle::1 a blue square::3"), device, model="sdxl"
    )
    for name in ("prompt_embeds", "pooled_prompt_embeds"):
        assert torch.allclose(mixed[name], (red[name] + 3 * blue[name]) / 4, atol=1e-5)
        assert not torch.allclose(mixed[name], red[name])
    generator = torch.Generator().manual_seed(0)
    images = pipe(
        **mixed, num_inference_steps=2, height=32, width=32, generator=generator, output_type="np"
    ).images
    assert images.shape == (1, 32, 32, 3)


def test_families_without_clip_style_prompt_encoding_are_refused() -> None:
    class Transformer:  # a pipeline with a different encode_prompt, as PixArt/SD3/Flux have
        transformer = object()

        def encode_prompt(self, prompt: str, do_classifier_free_guidance: bool = True) -> None: ...

    assert not supports(Transformer())
    with pytest.raises(InvalidRequest, match=r"Stable Diffusion 1\.x/2\.x and SDXL"):
        weighted_embeddings(Transformer(), (("a", 1.0), ("b", 1.0)), torch.device("cpu"), model="other")
