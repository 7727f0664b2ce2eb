"""A tiny random-weight Stable Diffusion pipeline built from config, for fast offline tests and demos.

The images are noise-like, but every component is a real diffusers/transformers class: UNet, VAE, CLIP text
encoder, a byte-level BPE tokenizer whose vocabulary is written here, and a scheduler. A 2×2 grid at the
native 64 px takes a fraction of a second on one CPU thread.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.training.tokenizer import SPECIALS, bytes_to_unicode

NATIVE_SIZE = 64
DEFAULT_STEPS = 4
_MERGES = ("t h", "th e</w>", "r e", "i n", "a n", "o n", "e r", "c i", "ci r", "cir c", "l e</w>")


def write_tokenizer_files(directory: Path) -> int:
    """Write a CLIP-style ``vocab.json`` + ``merges.txt``; returns the vocabulary size."""
    directory.mkdir(parents=True, exist_ok=True)
    symbols = list(bytes_to_unicode().values())
    tokens = [*symbols, *(s + "</w>" for s in symbols)]
    tokens += ["".join(merge.split()) for merge in _MERGES]
    tokens += list(SPECIALS)
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(_MERGES) + "\n", encoding="utf-8")
    return len(vocab)


def _tokenizer(vocab_dir: Path) -> tuple[Any, int]:
    from transformers import CLIPTokenizer

    vocab_size = write_tokenizer_files(vocab_dir)
    return CLIPTokenizer.from_pretrained(str(vocab_dir), model_max_length=32), vocab_size


def _text_encoder(tokenizer: Any, vocab_size: int, *, layers: int) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=layers,
            num_attention_heads=4,
            max_position_embeddings=32,
            projection_dim=32,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )


def _save(pipe: Any, path: Path, vocab_dir: Path) -> None:
    pipe.save_pretrained(str(path), safe_serialization=True)
    for leftover in vocab_dir.iterdir():
        leftover.unlink()
    vocab_dir.rmdir()


def build_tiny_model(path: Path, *, seed: int = 0) -> Path:
    """Write a tiny random-weight ``StableDiffusionPipeline`` folder (64 px native) at ``path``; return it."""
    import torch
    from diffusers import (
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
    )

    path = Path(path)
    vocab_dir = path / "_vocab"
    tokenizer, vocab_size = _tokenizer(vocab_dir)
    torch.manual_seed(seed)
    unet = _sd_unet()
    vae = _vae_8x(latent_channels=4)
    text_encoder = _text_encoder(tokenizer, vocab_size, layers=2)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="trailing",
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    _save(pipe, path, vocab_dir)
    (path / "imaginebot.json").write_text(
        json.dumps({"native_size": NATIVE_SIZE, "default_steps": DEFAULT_STEPS, "default_guidance": 5.0}),
        encoding="utf-8",
    )
    return path


def build_tiny_upscaler(path: Path, *, seed: int = 0) -> Path:
    """Write a tiny random-weight ``StableDiffusionUpscalePipeline`` folder (×4, the layout of Stable
    Diffusion's x4 upscaler) at ``path``; return it."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DDPMScheduler,
        StableDiffusionUpscalePipeline,
        UNet2DConditionModel,
    )

    path = Path(path)
    vocab_dir = path / "_vocab"
    tokenizer, vocab_size = _tokenizer(vocab_dir)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=7,  # the noisy latents and the low-resolution image
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        num_class_embeds=1000,  # the noise level added to the low-resolution image
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(8, 8, 16),
        layers_per_block=1,
        norm_num_groups=8,
        latent_channels=4,
        scaling_factor=0.08333,
    )
    text_encoder = _text_encoder(tokenizer, vocab_size, layers=1)
    pipe = StableDiffusionUpscalePipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        low_res_scheduler=DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.0001, beta_end=0.02),
        scheduler=DDIMScheduler(prediction_type="v_prediction", timestep_spacing="trailing"),
        max_noise_level=350,
    )
    _save(pipe, path, vocab_dir)
    return path


# -- tiny pipelines of the other diffusers families (tests and demos) ----------------------------------------

FAMILIES = ("sd", "sdxl", "sd3", "flux", "flux-dev", "pixart", "sana", "lcm")


_CHARACTERS = ["\u2581", *(chr(c) for c in range(33, 127))]  # "▁" (word start) and printable ASCII


def _t5_tokenizer() -> Any:
    """A T5 (Unigram) tokenizer over single characters; unknown characters become ``<unk>``."""
    from transformers import T5TokenizerFast  # type: ignore[attr-defined]

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), *((c, -1.0) for c in _CHARACTERS)]
    return T5TokenizerFast(vocab=vocab, extra_ids=0)


def _gemma_tokenizer() -> Any:
    """A Gemma (BPE, byte fallback) tokenizer over single characters and the 256 byte tokens."""
    from transformers import GemmaTokenizerFast  # type: ignore[attr-defined]

    tokens = [
        "<pad>",
        "<eos>",
        "<bos>",
        "<unk>",
        "<mask>",
        *_CHARACTERS,
        *(f"<0x{b:02X}>" for b in range(256)),
    ]
    return GemmaTokenizerFast(vocab={token: index for index, token in enumerate(tokens)}, merges=[])


def _t5_encoder(tokenizer: Any) -> Any:
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(
        T5Config(  # type: ignore[call-arg]
            vocab_size=len(tokenizer),
            d_model=32,
            d_kv=8,
            d_ff=37,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.pad_token_id,
        )
    )


def _clip(tokenizer: Any, vocab_size: int, *, projection: bool) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=32,
        projection_dim=32,
        hidden_act="gelu",
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)


def _vae_8x(latent_channels: int, **extra: Any) -> Any:
    """An 8× ``AutoencoderKL`` (four blocks, like the real ones) with few channels."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 16, 16),
        layers_per_block=1,
        norm_num_groups=8,
        latent_channels=latent_channels,
        sample_size=NATIVE_SIZE,
        **extra,
    )


def _sd_unet(*, time_cond_proj_dim: int | None = None) -> Any:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=NATIVE_SIZE // 8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        norm_num_groups=8,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        time_cond_proj_dim=time_cond_proj_dim,
    )


def _family_pipeline(family: str, vocab_dir: Path) -> tuple[Any, dict[str, Any]]:
    """The tiny pipeline of ``family`` (configs after diffusers' fast tests, with an 8× VAE) and the
    ``imaginebot.json`` settings it needs (only where the configs cannot tell)."""
    import diffusers as d

    clip_tokenizer, clip_vocab = _tokenizer(vocab_dir)
    pipe: Any
    if family in ("sd", "lcm"):
        lcm = family == "lcm"
        scheduler: Any = (
            d.LCMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1)
            if lcm
            else d.EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
        )
        pipe = d.StableDiffusionPipeline(
            vae=_vae_8x(4),
            text_encoder=_clip(clip_tokenizer, clip_vocab, projection=False),
            tokenizer=clip_tokenizer,
            unet=_sd_unet(time_cond_proj_dim=256 if lcm else None),
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        return pipe, {}
    if family == "sdxl":
        unet = d.UNet2DConditionModel(
            sample_size=NATIVE_SIZE // 8,
            block_out_channels=(16, 32),
            layers_per_block=1,
            in_channels=4,
            out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(2, 4),
            use_linear_projection=True,
            addition_embed_type="text_time",
            addition_time_embed_dim=8,
            transformer_layers_per_block=(1, 1),
            projection_class_embeddings_input_dim=80,  # 6 × 8 time ids + the 32-wide pooled text
            cross_attention_dim=64,
            norm_num_groups=8,
        )
        pipe = d.StableDiffusionXLPipeline(
            vae=_vae_8x(4),
            text_encoder=_clip(clip_tokenizer, clip_vocab, projection=False),
            text_encoder_2=_clip(clip_tokenizer, clip_vocab, projection=True),
            tokenizer=clip_tokenizer,
            tokenizer_2=clip_tokenizer,
            unet=unet,
            scheduler=d.EulerDiscreteScheduler(
                beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
            ),
        )
        return pipe, {}
    if family == "sd3":
        t5 = _t5_tokenizer()
        pipe = d.StableDiffusion3Pipeline(
            transformer=d.SD3Transformer2DModel(
                sample_size=NATIVE_SIZE // 8,
                patch_size=2,
                in_channels=16,
                out_channels=16,
                num_layers=1,
                attention_head_dim=8,
                num_attention_heads=4,
                caption_projection_dim=32,
                joint_attention_dim=32,
                pooled_projection_dim=64,
            ),
            vae=_vae_8x(
                16,
                use_quant_conv=False,
                use_post_quant_conv=False,
                shift_factor=0.0609,
                scaling_factor=1.5035,
            ),
            text_encoder=_clip(clip_tokenizer, clip_vocab, projection=True),
            text_encoder_2=_clip(clip_tokenizer, clip_vocab, projection=True),
            text_encoder_3=_t5_encoder(t5),
            tokenizer=clip_tokenizer,
            tokenizer_2=clip_tokenizer,
            tokenizer_3=t5,
            scheduler=d.FlowMatchEulerDiscreteScheduler(shift=3.0),
        )
        return pipe, {}
    if family in ("flux", "flux-dev"):
        t5 = _t5_tokenizer()
        pipe = d.FluxPipeline(
            transformer=d.FluxTransformer2DModel(
                patch_size=1,
                in_channels=16,  # 4 latent channels packed 2×2
                num_layers=1,
                num_single_layers=1,
                attention_head_dim=16,
                num_attention_heads=2,
                joint_attention_dim=32,
                pooled_projection_dim=32,
                axes_dims_rope=(4, 4, 8),
                guidance_embeds=family == "flux-dev",  # FLUX.1-dev takes distilled guidance; schnell none
            ),
            vae=_vae_8x(
                4, use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0609, scaling_factor=1.5035
            ),
            text_encoder=_clip(clip_tokenizer, clip_vocab, projection=False),
            text_encoder_2=_t5_encoder(t5),
            tokenizer=clip_tokenizer,
            tokenizer_2=t5,
            scheduler=d.FlowMatchEulerDiscreteScheduler(),
        )
        return pipe, {"native_size": NATIVE_SIZE}  # Flux's transformer config has no sample size
    if family == "pixart":
        t5 = _t5_tokenizer()
        pipe = d.PixArtSigmaPipeline(
            transformer=d.PixArtTransformer2DModel(
                sample_size=NATIVE_SIZE // 8,
                num_layers=2,
                patch_size=2,
                attention_head_dim=8,
                num_attention_heads=3,
                caption_channels=32,
                in_channels=4,
                cross_attention_dim=24,
                out_channels=8,
                attention_bias=True,
                activation_fn="gelu-approximate",
                num_embeds_ada_norm=1000,
                norm_type="ada_norm_single",
                norm_elementwise_affine=False,
                norm_eps=1e-6,
            ),
            vae=_vae_8x(4),
            text_encoder=_t5_encoder(t5),
            tokenizer=t5,
            scheduler=d.DDIMScheduler(),
        )
        return pipe, {}
    if family == "sana":
        from transformers import Gemma2Config, Gemma2Model

        gemma = _gemma_tokenizer()
        text_encoder = Gemma2Model(
            Gemma2Config(  # type: ignore[call-arg]
                head_dim=16,
                hidden_size=8,
                intermediate_size=64,
                max_position_embeddings=8192,
                num_attention_heads=2,
                num_hidden_layers=1,
                num_key_value_heads=2,
                vocab_size=len(gemma),
                pad_token_id=gemma.pad_token_id,
                bos_token_id=gemma.bos_token_id,
                eos_token_id=gemma.eos_token_id,
                attn_implementation="eager",
            )
        )
        vae = d.AutoencoderDC(
            in_channels=3,
            latent_channels=4,
            attention_head_dim=2,
            encoder_block_types=("ResBlock", "ResBlock", "ResBlock", "EfficientViTBlock"),
            decoder_block_types=("ResBlock", "ResBlock", "ResBlock", "EfficientViTBlock"),
            encoder_block_out_channels=(8, 8, 8, 8),
            decoder_block_out_channels=(8, 8, 8, 8),
            encoder_qkv_multiscales=((), (), (), (5,)),
            decoder_qkv_multiscales=((), (), (), (5,)),
            encoder_layers_per_block=(1, 1, 1, 1),
            decoder_layers_per_block=(1, 1, 1, 1),
            downsample_block_type="conv",
            upsample_block_type="interpolate",
            decoder_norm_types="rms_norm",
            decoder_act_fns="silu",
            scaling_factor=0.41407,
        )
        pipe = d.SanaPipeline(
            transformer=d.SanaTransformer2DModel(
                patch_size=1,
                in_channels=4,
                out_channels=4,
                num_layers=1,
                num_attention_heads=2,
                attention_head_dim=4,
                num_cross_attention_heads=2,
                cross_attention_head_dim=4,
                cross_attention_dim=8,
                caption_channels=8,
                sample_size=NATIVE_SIZE // 8,
            ),
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=gemma,
            scheduler=d.FlowMatchEulerDiscreteScheduler(shift=7.0),
        )
        return pipe, {}
    raise ValueError(f"unknown family {family!r}; one of {', '.join(FAMILIES)}")


def build_tiny_family(path: Path, family: str, *, seed: int = 0) -> Path:
    """Write a tiny random-weight pipeline folder of ``family`` (one of :data:`FAMILIES`) at ``path``.

    Configs follow diffusers' own fast tests (``get_dummy_components``) with an 8× VAE (so sizes are
    realistic: 64 px native, 8 px latents), local byte-level tokenizers, and no download."""
    import torch

    path = Path(path)
    vocab_dir = path / "_vocab"
    torch.manual_seed(seed)
    pipe, settings = _family_pipeline(family, vocab_dir)
    _save(pipe, path, vocab_dir)
    if settings:
        (path / "imaginebot.json").write_text(json.dumps(settings), encoding="utf-8")
    return path
