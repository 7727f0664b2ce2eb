"""How faithful upscales are, read by the pixel judge (``engine/training/judge.py``), in one run.

For a fixed set of ``shapes`` prompts, renders the 2×2 grids on the shipped model, upscales every tile
2× in each mode (``standard`` = U1–U4 and ``subtle`` = Upscale (Subtle), both the sharpened resize;
``creative`` = Upscale (Creative), the model's pass)
and counts the tiles whose five judged attributes (size, colour, shape, position, background) all read
the same on the upscale as on the tile. A plain Lanczos resize is the baseline (what the judge itself
gets wrong at twice the size). Also reports the seconds per upscale.

``python bench/upscale_faithfulness.py [--prompts 12] [--modes subtle,standard,creative] [--threads 1]``
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


async def _main(args: argparse.Namespace) -> None:
    from PIL import Image

    from engine.api import GenerateRequest, UpscaleRequest
    from engine.local import LocalEngine, params
    from engine.training import judge, shapes

    def reading(data: bytes) -> dict[str, str | None]:
        return judge.read(Image.open(io.BytesIO(data)).convert("RGB")).attributes()

    rng = random.Random(args.seed)
    prompts = [shapes.caption(shapes.sample_scene(rng, pairs="all")) for _ in range(args.prompts)]
    engine = LocalEngine(model=args.model, device="cpu", threads=args.threads, preload=True)
    try:
        tiles: list[tuple[str, int, bytes]] = []
        for index, prompt in enumerate(prompts):
            grid = await engine.run(GenerateRequest(prompt=prompt, seed=1000 + 4 * index), job_id=f"g{index}")
            tiles += [(prompt, seed, tile) for seed, tile in zip(grid.seeds, grid.images, strict=True)]
        sources = [reading(tile) for _, _, tile in tiles]
        print(f"{len(prompts)} prompts, {len(tiles)} tiles, model {args.model or 'default'}")

        def count(readings: list[dict[str, str | None]]) -> tuple[int, dict[str, int]]:
            kept, changed = 0, {}
            for source, after in zip(sources, readings, strict=True):
                diff = [key for key in source if after[key] != source[key]]
                kept += not diff
                for key in diff:
                    changed[key] = changed.get(key, 0) + 1
            return kept, changed

        def lanczos(data: bytes) -> dict[str, str | None]:
            image = Image.open(io.BytesIO(data)).convert("RGB")
            return judge.read(
                image.resize((image.width * 2, image.height * 2), Image.Resampling.LANCZOS)
            ).attributes()

        kept, changed = count([lanczos(tile) for _, _, tile in tiles])
        print(
            f"{'Lanczos resize':>18}: every attribute kept on {kept}/{len(tiles)} = "
            f"{kept / len(tiles):.0%}; changed {changed or '-'}"
        )

        def how(mode: str) -> str:
            strength = params.UPSCALE_STRENGTHS.get(mode)
            return "sharpened resize" if strength is None else f"strength {strength:g}"

        for mode in args.modes.split(","):
            started = time.perf_counter()
            readings = []
            for number, (prompt, seed, tile) in enumerate(tiles):
                request = UpscaleRequest(source=tile, prompt=prompt, seed=seed, mode=mode)  # type: ignore[arg-type]
                result = await engine.run(request, job_id=f"{mode}-{number}")
                readings.append(reading(result.images[0]))
            seconds = (time.perf_counter() - started) / len(tiles)
            kept, changed = count(readings)
            print(
                f"{mode:>18} ({how(mode)}): every attribute kept on "
                f"{kept}/{len(tiles)} = {kept / len(tiles):.0%}; changed {changed or '-'}; "
                f"{seconds:.2f} s per upscale"
            )
    finally:
        await engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    parser.add_argument("--prompts", type=int, default=12)
    parser.add_argument("--modes", default="subtle,standard,creative")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
