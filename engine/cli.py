"""Operator CLI: ``python -m engine imagine|upscale|vary|zoom|pan|square|vary-region|describe|tiny|serve``,
progress bars, one-line errors."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from engine.api import (
    PAN_DIRECTIONS,
    UPSCALE_MODES,
    GenerationResult,
    InpaintRequest,
    OutpaintRequest,
    Progress,
    Request,
    UpscaleRequest,
    VariationRequest,
    random_seed,
)
from engine.errors import EngineError
from engine.prompt import parse_prompt

EXIT_ERROR = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description="Run the image engine locally.")
    sub = parser.add_subparsers(dest="command", required=True)

    def engine_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--model", default=os.environ.get("ENGINE_MODEL") or "default", help="model name/folder"
        )
        p.add_argument(
            "--device", default=os.environ.get("ENGINE_DEVICE") or None, help="auto, cpu, cuda, mps"
        )
        p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
        for flag, setting, helptext in (
            ("--dtype", "ENGINE_DTYPE", "auto, fp32, fp16, bf16"),
            ("--offload", "ENGINE_OFFLOAD", "none, model, sequential (CUDA only)"),
            ("--vae-tiling", "ENGINE_VAE_TILING", "auto, on, off"),
            ("--compile", "ENGINE_COMPILE", "off, default, max-autotune (torch.compile of the denoiser)"),
            ("--quantize", "ENGINE_QUANTIZE", "none, bnb-8bit, bnb-4bit, torchao-int8"),
        ):
            p.add_argument(flag, default=os.environ.get(setting) or None, help=f"{helptext} [{setting}]")
        p.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
        p.add_argument("--quiet", action="store_true", help="no progress bar")

    imagine = sub.add_parser("imagine", help="a 2×2 grid from a prompt (Midjourney-style parameters)")
    imagine.add_argument("prompt", help='e.g. "a red circle --ar 3:2 --seed 7 --no text"')
    imagine.add_argument("-o", "--output", type=Path, required=True, help="grid PNG to write")
    imagine.add_argument("--tiles", action="store_true", help="also write OUTPUT_1.png … OUTPUT_4.png")
    engine_options(imagine)

    tools = (
        ("upscale", "one tile made 2× larger"),
        ("vary", "four variations of a tile"),
        ("zoom", "zoom out: a grid of four with the tile shrunk into the centre"),
        ("pan", "a grid of four with the tile extended by half its width/height"),
        ("square", "a grid of four with the short side extended to a square"),
        ("vary-region", "a grid of four with only the white part of a mask redrawn"),
    )
    for name, helptext in tools:
        p = sub.add_parser(name, help=helptext)
        p.add_argument("source", type=Path, help="tile image (PNG/JPEG/WebP)")
        p.add_argument("--prompt", default="", help="the tile's prompt")
        p.add_argument("--seed", type=int, default=None)
        p.add_argument("-o", "--output", type=Path, required=True)
        if name != "upscale":
            p.add_argument("--tiles", action="store_true", help="also write OUTPUT_1.png … OUTPUT_4.png")
        if name == "vary":
            p.add_argument("--strength", choices=("subtle", "strong"), default="strong")
        elif name == "zoom":
            p.add_argument("--factor", type=float, default=2.0, help="1.0–2.0 (default 2)")
        elif name == "pan":
            p.add_argument("--direction", choices=PAN_DIRECTIONS, required=True)
        elif name == "vary-region":
            p.add_argument("--mask", type=Path, required=True, help="mask image: white = redraw")
        elif name == "upscale":
            p.add_argument("--mode", choices=UPSCALE_MODES, default="standard")
            p.add_argument("--scale", type=int, default=2, choices=(2, 3, 4))
            p.add_argument(
                "--upscaler",
                default=os.environ.get("ENGINE_UPSCALER") or None,
                help="a diffusers upscaler pipeline (folder or hub id) instead of an image-to-image pass",
            )
        engine_options(p)

    from engine.ray.serve_cli import add_parser as add_serve_parser

    add_serve_parser(sub)

    describe = sub.add_parser("describe", help="four candidate prompts for an image, most likely first")
    describe.add_argument("image", type=Path, help="image to describe (PNG/JPEG/WebP)")
    describe.add_argument(
        "--describer",
        default=os.environ.get("ENGINE_DESCRIBER") or None,
        help="a CLIP model folder (default: ENGINE_DESCRIBER, else the model's own CLIP)",
    )
    engine_options(describe)

    tiny = sub.add_parser("tiny", help="write a tiny random-weight test model folder")
    tiny.add_argument("path", type=Path)
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument(
        "--family",
        choices=("sd", "sdxl", "sd3", "flux", "flux-dev", "pixart", "sana", "lcm"),
        default=None,
        help="a tiny pipeline of this diffusers family instead of the tiny Stable Diffusion model",
    )
    return parser


def _request(args: argparse.Namespace) -> Request:
    from dataclasses import replace

    seed = args.seed if getattr(args, "seed", None) is not None else random_seed()
    if args.command == "imagine":
        request: Request = parse_prompt(args.prompt).request
    else:
        source = _read(args.source)
        common = {"source": source, "prompt": args.prompt, "seed": seed}
        if args.command == "vary":
            request = VariationRequest(**common, strength=args.strength)
        elif args.command == "zoom":
            request = OutpaintRequest(**common, mode="zoom", zoom=args.factor)
        elif args.command == "pan":
            request = OutpaintRequest(**common, mode="pan", direction=args.direction)
        elif args.command == "square":
            request = OutpaintRequest(**common, mode="square")
        elif args.command == "vary-region":
            request = InpaintRequest(**common, mask=_read(args.mask))
        else:
            request = UpscaleRequest(**common, scale=args.scale, mode=args.mode)
    if args.steps is not None:
        request = replace(request, steps=args.steps)
    return request


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise EngineError(f"Cannot read {path}: {error.strerror}.") from None


async def _run(args: argparse.Namespace, request: Request) -> GenerationResult:
    from tqdm import tqdm

    from engine.factory import create_engine

    engine = create_engine(
        model=args.model,
        device=args.device,
        threads=args.threads,
        preview_every=0,
        upscaler=getattr(args, "upscaler", None),
        dtype=args.dtype,
        offload=args.offload,
        vae_tiling=args.vae_tiling,
        compile=args.compile,
        quantize=args.quantize,
    )
    bar = tqdm(total=0, unit="step", disable=args.quiet, file=sys.stderr, desc=args.command)

    def on_progress(progress: Progress) -> None:
        bar.total = progress.total
        bar.n = progress.step
        bar.refresh()

    try:
        return await engine.run(request, job_id="cli", on_progress=on_progress)
    finally:
        bar.close()
        await engine.close()


def _write(args: argparse.Namespace, result: GenerationResult) -> None:
    output: Path = args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(result.grid if result.grid is not None else result.images[0])
    written = [output]
    if getattr(args, "tiles", False):
        for index, tile in enumerate(result.images, start=1):
            path = output.with_name(f"{output.stem}_{index}{output.suffix or '.png'}")
            path.write_bytes(tile)
            written.append(path)
    seeds = ", ".join(str(seed) for seed in result.seeds)
    print(
        f"{', '.join(map(str, written))}: {result.kind} {result.width}×{result.height}, "
        f"model {result.model}, seeds {seeds}, {result.steps} steps, guidance {result.guidance:g}, "
        f"{result.timings.get('total', 0.0):.2f}s"
    )


def _serve(args: argparse.Namespace) -> int:
    from engine.ray.cluster import ClusterUnavailable
    from engine.ray.serve_cli import run

    try:
        return run(args)
    except ClusterUnavailable as error:
        raise EngineError(str(error)) from None
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] != "ray":
            raise
        raise EngineError("Ray is not installed: pip install -e '.[ray]'.") from None


def _describe(args: argparse.Namespace) -> int:
    from engine.api import DescribeRequest
    from engine.factory import create_engine

    try:
        image = args.image.read_bytes()
    except OSError as error:
        raise EngineError(f"Cannot read {args.image}: {error.strerror}.") from None

    async def run() -> None:
        engine = create_engine(
            model=args.model,
            device=args.device,
            threads=args.threads,
            preview_every=0,
            describer=args.describer,
            preload=False,  # only the describer is needed
        )
        try:
            description = await engine.describe(DescribeRequest(image=image), job_id="cli")
        finally:
            await engine.close()
        for number, (prompt, score) in enumerate(
            zip(description.prompts, description.scores, strict=True), start=1
        ):
            print(f"{number}. {prompt}  ({score:.3f})")
        print(f"described by {description.describer}", file=sys.stderr)

    asyncio.run(run())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    try:
        if args.command == "tiny":
            from engine.tiny import build_tiny_family, build_tiny_model

            if args.family:
                print(build_tiny_family(args.path, args.family, seed=args.seed))
            else:
                print(build_tiny_model(args.path, seed=args.seed))
            return 0
        if args.command == "serve":
            return _serve(args)

        if args.command == "describe":
            return _describe(args)
        request = _request(args)
        result = asyncio.run(_run(args, request))
        _write(args, result)
    except EngineError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_ERROR
    return 0
