"""GPU benchmark: Stable Diffusion 1.5 and SDXL architectures, random weights, one row per speed switch.

The pipelines are built from the published component configs in ``gpu_bench_configs.json`` (no download;
a local tokenizer like ``engine/tiny.py``'s), so the speed is the real architectures' speed while the images
are noise. For each model, cumulative switches:

1. fp32, plain attention (``AttnProcessor``: attention as explicit matmuls + softmax)
2. fp32, SDPA (PyTorch's fused ``scaled_dot_product_attention``; diffusers' and the engine's default)
3. half precision (fp16 on CUDA, and bf16 where the GPU has it; bf16 on CPU), SDPA
4. + channels_last memory format for the UNet
5. + ``torch.compile`` of the UNet (CUDA: ``max-autotune-no-cudagraphs``; CPU: only with ``--compile``)

Reported: denoiser it/s (best of the timed UNet calls for one image with classifier-free guidance, i.e. a
UNet batch of 2: the usual "it/s"), seconds for a 2×2 grid (four images in one pipeline call, text encoding
and VAE decode included) and ratios against row 1, all measured in this one run (without CUDA: rows
interleaved over three rounds, each row's best kept, since a shared CPU is noisy).

With CUDA: full widths, 512² (SD1.5) / 1024² (SDXL), 25 steps. On CPU a SMOKE TEST: widths divided by 8
(same blocks, layers and heads), 64² / 128², 2 steps, one torch thread; its figures only show that the
switches work, not what a GPU would do.

``python bench/gpu_bench.py [--models sd15,sdxl] [--steps N] [--sizes 512,1024] [--divisor N] [--compile]``
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIGS = Path(__file__).with_name("gpu_bench_configs.json")
PROMPT = "a red circle above a blue square"
ANCHORS = (
    "published reference, H100, SD1.5 512², batch 1 with CFG: about 54 it/s with plain diffusers fp16, "
    "about 105 it/s with stable-fast"
)


@dataclass(frozen=True, slots=True)
class Switches:
    label: str
    dtype: str  # fp32 | fp16 | bf16
    sdpa: bool = True
    channels_last: bool = False
    compile: bool = False


@dataclass(frozen=True, slots=True)
class Row:
    model: str
    switches: Switches
    its: float  # denoiser iterations per second (UNet batch 2)
    grid_s: float  # one 2×2 grid, whole pipeline
    warmup_s: float  # first call (includes torch.compile's compile)


def shrink(spec: dict[str, Any], divisor: int) -> dict[str, Any]:
    """The model's configs with every width divided by ``divisor`` (blocks, layers and heads kept)."""
    spec = copy.deepcopy(spec)
    if divisor == 1:
        return spec
    unet, vae, encoders = spec["unet"], spec["vae"], spec["text_encoders"]
    for config in (unet, vae):
        config["block_out_channels"] = [c // divisor for c in config["block_out_channels"]]
        config["norm_num_groups"] = max(1, config["norm_num_groups"] // divisor)
    for encoder in encoders:
        for key in ("hidden_size", "intermediate_size", "projection_dim"):
            encoder[key] //= divisor
    unet["cross_attention_dim"] = sum(e["hidden_size"] for e in encoders)
    if "addition_time_embed_dim" in unet:
        unet["addition_time_embed_dim"] //= divisor
        unet["projection_class_embeddings_input_dim"] = (
            encoders[-1]["projection_dim"] + 6 * unet["addition_time_embed_dim"]
        )
    return spec


def build_pipeline(name: str, spec: dict[str, Any], workdir: Path) -> Any:
    """A random-weight SD1.5 (``StableDiffusionPipeline``) or SDXL (``StableDiffusionXLPipeline``)."""
    import torch
    import transformers
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTokenizer

    from engine.tiny import write_tokenizer_files

    vocab_size = write_tokenizer_files(workdir / f"{name}-tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(str(workdir / f"{name}-tokenizer"), model_max_length=77)
    torch.manual_seed(0)
    encoders = []
    for config in spec["text_encoders"]:
        config = dict(config)
        model_class = getattr(transformers, config.pop("class"))
        encoders.append(
            model_class(
                CLIPTextConfig(
                    **config,
                    vocab_size=vocab_size,
                    max_position_embeddings=77,
                    bos_token_id=tokenizer.bos_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                    pad_token_id=tokenizer.pad_token_id,
                )
            ).eval()
        )
    unet: Any = UNet2DConditionModel(**spec["unet"])
    vae: Any = AutoencoderKL(**spec["vae"])
    unet.eval()
    vae.eval()
    scheduler = EulerDiscreteScheduler(**spec["scheduler"])
    pipe: Any
    if len(encoders) == 2:
        pipe = StableDiffusionXLPipeline(
            vae=vae,
            text_encoder=encoders[0],
            text_encoder_2=encoders[1],
            tokenizer=tokenizer,
            tokenizer_2=tokenizer,
            unet=unet,
            scheduler=scheduler,
        )
    else:
        pipe = StableDiffusionPipeline(
            vae=vae,
            text_encoder=encoders[0],
            tokenizer=tokenizer,
            unet=unet,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def row_switches(device: str, compile_on_cpu: bool) -> list[Switches]:
    import torch

    half = ["fp16"] if device == "cuda" else ["bf16"]
    if device == "cuda" and torch.cuda.is_bf16_supported():
        half.append("bf16")
    rows = [Switches("fp32 plain attention", "fp32", sdpa=False), Switches("fp32 SDPA", "fp32")]
    rows += [Switches(f"{h} SDPA", h) for h in half]
    rows.append(Switches(f"{half[0]} SDPA channels_last", half[0], channels_last=True))
    if device == "cuda" or compile_on_cpu:
        rows.append(
            Switches(f"{half[0]} SDPA channels_last compile", half[0], channels_last=True, compile=True)
        )
    return rows


def apply(pipe: Any, switches: Switches, device: str) -> None:
    """Set ``pipe`` to ``switches`` (rows are applied in order; compile comes last and stays)."""
    import torch
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    from engine.local.acceleration import compile_denoiser

    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[switches.dtype]
    pipe.to(device, dtype)
    pipe.unet.set_attn_processor(AttnProcessor2_0() if switches.sdpa else AttnProcessor())
    pipe.vae.set_attn_processor(AttnProcessor2_0() if switches.sdpa else AttnProcessor())
    fmt = torch.channels_last if switches.channels_last else torch.contiguous_format
    pipe.unet.to(memory_format=fmt)
    if switches.compile:
        compile_denoiser(pipe.unet, "max-autotune" if device == "cuda" else "default")


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def denoiser_its(pipe: Any, size: int, steps: int, device: str) -> tuple[float, float]:
    """(iterations per second of the best of ``max(steps, 5)`` UNet calls at batch 2, seconds of the first
    call)."""
    import torch

    unet = pipe.unet
    dtype = unet.dtype
    latent = size // pipe.vae_scale_factor
    sample = torch.randn(2, unet.config.in_channels, latent, latent, device=device, dtype=dtype)
    text = torch.randn(2, 77, unet.config.cross_attention_dim, device=device, dtype=dtype)
    extra = {}
    if unet.config.addition_embed_type == "text_time":
        pooled = unet.config.projection_class_embeddings_input_dim - 6 * unet.config.addition_time_embed_dim
        time_ids = torch.tensor([[size, size, 0, 0, size, size]] * 2, device=device, dtype=dtype)
        extra["added_cond_kwargs"] = {
            "text_embeds": torch.randn(2, pooled, device=device, dtype=dtype),
            "time_ids": time_ids,
        }
    timestep = torch.tensor(500, device=device)
    calls: list[float] = []
    with torch.inference_mode():
        for _ in range(max(steps, 5) + 2):  # the first two calls warm up (and compile)
            started = time.perf_counter()
            unet(sample, timestep, encoder_hidden_states=text, **extra)
            _sync(device)
            calls.append(time.perf_counter() - started)
    # the best call: on a shared machine the least disturbed one; on a GPU close to the median
    return 1 / min(calls[2:]), calls[0]


def grid_seconds(pipe: Any, size: int, steps: int, device: str) -> float:
    """Seconds for one 2×2 grid (four images in one call, CFG 7.5), after a 1-step warm-up at that shape."""
    import torch

    def grid(n: int) -> None:
        pipe(
            PROMPT,
            negative_prompt="blurry",
            height=size,
            width=size,
            num_inference_steps=n,
            guidance_scale=7.5,
            num_images_per_prompt=4,
            generator=torch.Generator(device).manual_seed(0),
            output_type="pt",
        )

    with torch.inference_mode():
        grid(1)
        _sync(device)
        started = time.perf_counter()
        grid(steps)
        _sync(device)
        return time.perf_counter() - started


def measure(pipe: Any, switches: Switches, size: int, steps: int, device: str, its_only: bool) -> Row:
    apply(pipe, switches, device)
    its, warmup = denoiser_its(pipe, size, steps, device)
    grid = float("nan") if its_only else grid_seconds(pipe, size, steps, device)
    return Row("", switches, its, grid, warmup)


def run(
    models: Sequence[str],
    *,
    device: str,
    sizes: dict[str, int],
    steps: int,
    divisor: int,
    compile_on_cpu: bool,
    rounds: int = 1,
    its_only: bool = False,
) -> list[Row]:
    """Every switch row for every model; rows without compile are measured ``rounds`` times, interleaved,
    keeping each row's best (on a shared machine, the least disturbed), the compile row once at the end."""
    specs = json.loads(CONFIGS.read_text(encoding="utf-8"))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="imaginebot-gpu-bench-") as workdir:
        for name in models:
            pipe = build_pipeline(name, shrink(specs[name], divisor), Path(workdir))
            params = sum(p.numel() for p in pipe.unet.parameters())
            print(f"\n{name}: UNet {params / 1e6:.0f}M parameters, {sizes[name]}², {steps} steps", flush=True)
            plan = row_switches(device, compile_on_cpu)
            best: dict[str, Row] = {}
            for _ in range(max(1, rounds)):
                for switches in (s for s in plan if not s.compile):
                    row = measure(pipe, switches, sizes[name], steps, device, its_only)
                    old = best.get(switches.label)
                    if old is not None:
                        row = Row(
                            "", switches, max(row.its, old.its), min(row.grid_s, old.grid_s), old.warmup_s
                        )
                    best[switches.label] = row
            for switches in (s for s in plan if s.compile):
                best[switches.label] = measure(pipe, switches, sizes[name], steps, device, its_only)
            del pipe
            base = best[plan[0].label]
            print(f"  {'switches':<36} {'it/s':>8} {'×':>6} {'grid s':>8} {'×':>6} {'1st call s':>10}")
            for switches in plan:
                row = best[switches.label]
                rows.append(Row(name, switches, row.its, row.grid_s, row.warmup_s))
                print(
                    f"  {switches.label:<36} {row.its:8.2f} {row.its / base.its:6.2f} {row.grid_s:8.2f} "
                    f"{base.grid_s / row.grid_s:6.2f} {row.warmup_s:10.2f}",
                    flush=True,
                )
    return rows


def main(argv: Sequence[str] | None = None) -> list[Row]:
    import torch
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="sd15,sdxl", help="comma-separated: sd15, sdxl")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (CUDA 25, CPU 2)")
    parser.add_argument("--sizes", default=None, help="SD1.5,SDXL image side (CUDA 512,1024; CPU 64,128)")
    parser.add_argument("--divisor", type=int, default=None, help="divide widths by this (CUDA 1, CPU 8)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--compile", action="store_true", help="also torch.compile on CPU (takes minutes)")
    parser.add_argument(
        "--rounds", type=int, default=None, help="interleaved rounds, best kept (CUDA 1, CPU 3)"
    )
    parser.add_argument("--its-only", action="store_true", help="denoiser it/s only, no grids")
    args = parser.parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    full = device == "cuda"
    torch.set_num_threads(args.threads)
    sides = [int(s) for s in (args.sizes or ("512,1024" if full else "64,128")).split(",")]
    steps = args.steps or (25 if full else 2)
    divisor = args.divisor or (1 if full else 8)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    print(
        f"GPU bench on {device} ({torch.__version__}), one run; × = speed-up over the first row of each model"
    )
    if not full or divisor != 1:
        print(
            f"SMOKE TEST (not GPU figures): widths ÷{divisor}, {'/'.join(map(str, sides))} px, "
            f"{steps} steps, {torch.get_num_threads()} torch thread(s), best of {args.rounds or 3} rounds"
            + ("" if device == "cuda" or args.compile else "; torch.compile row skipped on CPU (--compile)")
        )
    print(ANCHORS)
    sizes = {"sd15": sides[0], "sdxl": sides[-1]}
    return run(
        models,
        device=device,
        sizes=sizes,
        steps=steps,
        divisor=divisor,
        compile_on_cpu=args.compile,
        rounds=args.rounds or (1 if full else 3),
        its_only=args.its_only,
    )


if __name__ == "__main__":
    main()
