"""Install exactly what the Dockerfile installs into a fresh venv, then prove that set can generate.

Images cannot be pulled on the CI machines, so this stands in for ``docker build``: every ``COPY`` from the
build context is copied into a scratch folder laid out like the image's WORKDIR, every ``pip install`` of the
Dockerfile runs there with the venv's pip, and then, inside that venv:

* every pipeline class the engine can load (diffusers' text-to-image and image-to-image auto-pipeline
  tables, the dedicated upscalers) imports as a real class, not a stand-in for a missing dependency;
* every module of ``bot`` and ``engine`` imports (none needs a development tool);
* the shipped default model, as installed into site-packages, renders a 2-step image.

Run by ``make check-image`` (and .ci/run). Usage: ``python3 tests/container/check_install.py [--keep]``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dockerfile import ROOT, Dockerfile

SMOKE = r"""
import os, sys
import torch
torch.set_num_threads(1)
from diffusers.pipelines.auto_pipeline import (
    AUTO_IMAGE2IMAGE_PIPELINES_MAPPING, AUTO_TEXT2IMAGE_PIPELINES_MAPPING)
from diffusers.utils import DummyObject
import diffusers, transformers
import engine, engine.local.engine, engine.local.models
from engine.local.upscaler import KINDS

if "site-packages" not in engine.__file__:
    sys.exit(f"engine imported from the source folder, not the installed package: {engine.__file__}")
import importlib, importlib.util, pkgutil, bot
modules = [m.name for p in (bot, engine) for m in pkgutil.walk_packages(p.__path__, p.__name__ + ".")]
# engine.ray is the optional `ray` extra (not in this image): its modules import ray itself.
optional = ("engine.ray.",) if importlib.util.find_spec("ray") is None else ()
for name in modules:  # no module needs a development tool (pytest, playwright, ...) that the image lacks
    if not name.endswith("__main__") and ".migrations." not in name and not name.startswith(optional):
        importlib.import_module(name)
classes = {*AUTO_TEXT2IMAGE_PIPELINES_MAPPING.values(), *AUTO_IMAGE2IMAGE_PIPELINES_MAPPING.values()}
classes |= {getattr(diffusers, name) for name in KINDS}
stand_ins = sorted(c.__name__ for c in classes if isinstance(c, DummyObject))
if stand_ins or isinstance(transformers.CLIPTextModel, DummyObject):
    sys.exit(f"pipelines that cannot run with torch {torch.__version__}: {stand_ins or ['CLIPTextModel']}")
from pathlib import Path
from engine.local.models import load_model
from engine.local.registry import ModelRegistry
registry = ModelRegistry("default", Path(engine.__file__).parent / "models")
model = load_model(registry.resolve(None), torch.device("cpu"))
pipe, size = model.pipe, model.info.native_size
image = pipe("a red circle", num_inference_steps=2, height=size, width=size, output_type="pil").images[0]
versions = ", ".join(f"{m.__name__} {m.__version__}" for m in (torch, transformers, diffusers))
width, height = image.size
print(f"{versions}: {len(classes)} pipeline classes import; {type(pipe).__name__} rendered {width}x{height}")
"""


def _copy_context(dockerfile: Dockerfile, app: Path) -> None:
    for sources, destination in dockerfile.copies:
        target = app / Path(destination.removeprefix(dockerfile.workdir).lstrip("/") or ".")
        for source in sources:
            origin = ROOT / source
            into = target / origin.name if destination.endswith("/") or len(sources) > 1 else target
            into.parent.mkdir(parents=True, exist_ok=True)
            if origin.is_dir():
                shutil.copytree(
                    origin, into, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
                )
            else:
                shutil.copy2(origin, into)


def _run(command: list[str], cwd: Path) -> None:
    print("+", " ".join(command), flush=True)
    started = time.monotonic()
    subprocess.run(command, cwd=cwd, check=True)
    print(f"  ({time.monotonic() - started:.0f} s)", flush=True)


def main() -> int:
    dockerfile = Dockerfile.read()
    if not dockerfile.base.startswith("python:"):
        # A base image's own packages (say, its torch) cannot be reproduced without pulling it.
        print(f"check-image: cannot check the base image {dockerfile.base} (python:* only)", file=sys.stderr)
        return 1
    if not dockerfile.pip_installs:
        print("check-image: the Dockerfile installs nothing with pip", file=sys.stderr)
        return 1
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="imaginebot-image-"))
    try:
        app = scratch / "app"
        app.mkdir()
        _copy_context(dockerfile, app)
        _run([sys.executable, "-m", "venv", str(scratch / "venv")], scratch)
        python = str(scratch / "venv" / "bin" / "python")
        for arguments in dockerfile.pip_installs:
            # --no-compile: the same files, without byte-compiling them (minutes of CPU for transformers).
            _run([python, "-m", "pip", "install", "--quiet", "--no-compile", *arguments], app)
        env = {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
        env |= {"DIFFUSERS_VERBOSITY": "error", "TRANSFORMERS_VERBOSITY": "error"}
        result = subprocess.run([python, "-c", SMOKE], cwd=scratch, env=env, check=False)
        if result.returncode != 0:
            print("check-image: the Dockerfile's install set cannot generate", file=sys.stderr)
            return 1
        print(f"check-image: passed in {time.monotonic() - started:.0f} s")
        return 0
    finally:
        if "--keep" in sys.argv:
            print(f"check-image: kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
