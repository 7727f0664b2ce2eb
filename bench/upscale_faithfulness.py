"""How faithful upscales are, read by the pixel judge (``engine/training/judge.py``), in one run.

For a fixed set of ``shapes`` prompts, renders the 2×2 grids on the shipped model, upscales every tile 2× at
each strength asked for, and counts the tiles whose five judged attributes (size, colour, shape, position,
background) all read the same on the upscale as on the tile. Also reports the seconds per upscale.

``python bench/upscale_faithfulness.py [--prompts N] [--strengths 0.15,0.2,0.3,0.4] [--threads 1]``
(``--strengths`` names the image-to-image strength; ``subtle``/``standard``/``creative`` take the engine's.)
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


def _label_strengths(text: str) -> list[tuple[str, float | None]]:
    from engine.local import params

    out: list[tuple[str, float | None]] = []
    for item in text.split(","):
        item = item.strip()
        if item in params.UPSCALE_STRENGTHS:
            out.append((item, params.UPSCALE_STRENGTHS[item]))
        else:
            out.append((f"strength {float(item):g}", float(item)))
    return out


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
        for label, strength in _label_strengths(args.strengths):
            assert strength is not None
            params.UPSCALE_STRENGTHS["standard"] = strength  # read by the worker at each job
            kept = 0
            changed: dict[str, int] = {}
            started = time.perf_counter()
            for number, ((prompt, seed, tile), source) in enumerate(zip(tiles, sources, strict=True)):
                result = await engine.run(
                    UpscaleRequest(source=tile, prompt=prompt, seed=seed), job_id=f"{label}-{number}"
                )
                after = reading(result.images[0])
                diff = [key for key in source if after[key] != source[key]]
                kept += not diff
                for key in diff:
                    changed[key] = changed.get(key, 0) + 1
            seconds = (time.perf_counter() - started) / len(tiles)
            rate = kept / len(tiles)
            print(
                f"{label:>16} (strength {strength:g}): every attribute kept on {kept}/{len(tiles)} "
                f"= {rate:.0%} of tiles; changed {changed or '-'}; {seconds:.2f} s per upscale"
            )
        params.UPSCALE_STRENGTHS["standard"] = params.UPSCALE_STRENGTH
    finally:
        await engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    parser.add_argument("--prompts", type=int, default=12)
    parser.add_argument("--strengths", default="subtle,standard,creative")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
