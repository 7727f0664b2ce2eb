"""Helpers every stage shares: seeding, atomic resumable checkpoints, metric logs, image tensors."""

from __future__ import annotations

import json
import os
import pickle
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` with ``torch.save`` atomically (a crash never leaves a half-written checkpoint)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


class UnsafeCheckpoint(ValueError):
    """A checkpoint holding more than tensors and plain data: unpickling it could run code."""


def _numpy_globals() -> list[Any]:
    """What checkpoints written before rng_state() stored plain lists need: numpy's RNG key array."""
    reconstruct = getattr(np, "_core", np.core).multiarray._reconstruct
    return [reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def read_checkpoint(path: Path) -> Any:
    """``torch.load`` with ``weights_only=True``: tensors, containers, numbers and strings only (plus the
    numpy array older checkpoints keep their RNG state in), so a file from elsewhere cannot run code."""
    with torch.serialization.safe_globals(_numpy_globals()):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            detail = str(error).split("\n\n")[-1].strip().splitlines()[0] if str(error) else "unknown content"
            raise UnsafeCheckpoint(
                f"{path} holds more than tensors and plain data ({detail}); refusing to load it, since "
                "unpickling it could run code. Use checkpoints written by this training code."
            ) from None


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    state = read_checkpoint(path)
    if not isinstance(state, dict):
        raise UnsafeCheckpoint(f"{path} is not a training checkpoint (a {type(state).__name__}).")
    return state


def rng_state() -> dict[str, Any]:
    """The global RNGs' states as plain data (no numpy objects), so checkpoints load with weights_only."""
    name, keys, position, has_gauss, cached = np.random.get_state(legacy=True)
    numpy_state = (str(name), [int(k) for k in keys], int(position), int(has_gauss), float(cached))
    return {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached))
    torch.set_rng_state(state["torch"])


class MetricLog:
    """Appends one JSON object per line (step, elapsed seconds, metrics) to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **record: Any) -> None:
        record.setdefault("time", time.time())
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 N×H×W×3 → float N×3×H×W in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """float N×3×H×W in [-1, 1] → uint8 N×H×W×3."""
    array = ((tensor.detach().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return array.permute(0, 2, 3, 1).cpu().numpy()


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
