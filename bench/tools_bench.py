"""Seconds per tool under an upscale (Upscale (Subtle/Creative), U, Zoom Out, Pan, Make Square, Vary (Region))
on the shipped model, measured in one run through ``LocalEngine`` (worker-thread time, best of ``--repeats``),
with the 2×2 ``/imagine`` grid as the unit they are compared with.

``python bench/tools_bench.py [--model PATH] [--threads 1] [--repeats 2]``
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPT = "a large red circle on a blue background"


async def _main(args: argparse.Namespace) -> None:
    from engine.api import GenerateRequest, InpaintRequest, OutpaintRequest, Request, UpscaleRequest
    from engine.local import LocalEngine

    engine = LocalEngine(model=args.model, device="cpu", threads=args.threads, preload=True)
    try:
        square = (await engine.run(GenerateRequest(prompt=PROMPT, seed=7), job_id="src")).images[0]
        wide = await engine.run(GenerateRequest(prompt=PROMPT, seed=7, aspect=(3, 2)), job_id="wide")
        actions: list[tuple[str, Request]] = [
            ("imagine (2×2 grid)", GenerateRequest(prompt=PROMPT, seed=1)),
            ("U (upscale 2×)", UpscaleRequest(source=square, prompt=PROMPT, seed=1)),
            ("Upscale (Subtle)", UpscaleRequest(source=square, prompt=PROMPT, seed=1, mode="subtle")),
            ("Upscale (Creative)", UpscaleRequest(source=square, prompt=PROMPT, seed=1, mode="creative")),
            ("Zoom Out 2x", OutpaintRequest(source=square, prompt=PROMPT, seed=1, mode="zoom", zoom=2.0)),
            ("Zoom Out 1.5x", OutpaintRequest(source=square, prompt=PROMPT, seed=1, mode="zoom", zoom=1.5)),
            ("Pan ⬅️", OutpaintRequest(source=square, prompt=PROMPT, seed=1, mode="pan", direction="left")),
            ("Pan ⬆️", OutpaintRequest(source=square, prompt=PROMPT, seed=1, mode="pan", direction="up")),
            (
                "Make Square (3:2)",
                OutpaintRequest(source=wide.images[0], prompt=PROMPT, seed=1, mode="square"),
            ),
            ("Vary (Region) 1 cell", InpaintRequest(source=square, prompt=PROMPT, seed=1, regions=(5,))),
        ]
        base = None
        print(f"model {args.model or 'default'}, {args.threads} torch thread(s), best of {args.repeats}")
        for name, request in actions:
            best = float("inf")
            size = ""
            for attempt in range(args.repeats):
                result = await engine.run(request, job_id=f"{name}-{attempt}")
                best = min(best, result.timings["total"])
                size = f"{len(result.images)}× {result.width}×{result.height}, {result.steps} steps"
            base = base or best
            print(f"{name:>22}: {best:6.2f} s ({best / base:4.2f}× the grid)  [{size}]")
    finally:
        await engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
