"""``python -m engine.training <stage>``: data → clip → autoencoder → latents → diffusion → refine → decoder
→ export → evaluate.

``all --out engine/models/default`` runs every stage in order; each stage checkpoints under ``--runs`` and
resumes where it stopped, and a finished stage is skipped when run again.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

from engine.training import STAGE_ORDER

STAGES = (*STAGE_ORDER, "all")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.training", description=__doc__)
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--runs", type=Path, default=Path("runs/default"), help="working directory")
    parser.add_argument("--out", type=Path, default=Path("engine/models/default"), help="exported model")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: measured fastest on shared cores)"
    )
    parser.add_argument(
        "--data", type=Path, default=None, help="a user image–caption folder instead of shapes"
    )
    parser.add_argument(
        "--minutes", type=float, default=None, help="diffusion: stop after this much training"
    )
    parser.add_argument("--steps", type=int, default=None, help="override the stage's step count")
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="evaluate/export: a diffusion checkpoint"
    )
    parser.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="refine: start from this exported model folder instead of the diffusion stage",
    )
    parser.add_argument("--model", type=Path, default=None, help="evaluate: a diffusers model folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    from engine.training import pipeline
    from engine.training.common import UnsafeCheckpoint

    try:
        result = pipeline.run_stage(args.stage, args)
    except UnsafeCheckpoint as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if result is not None:
        print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
