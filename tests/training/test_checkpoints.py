"""Checkpoints load with weights_only: a file that would run code when unpickled is refused, unrun."""

from __future__ import annotations

import pathlib
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.training import diffusion, export
from engine.training.common import (
    UnsafeCheckpoint,
    load_checkpoint,
    restore_rng,
    rng_state,
    save_checkpoint,
)


class _Payload:
    """Unpickling this creates ``marker``: what a hostile checkpoint could do with any function."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (pathlib.Path.touch, (self.marker,))


@pytest.mark.parametrize(
    "loader", [load_checkpoint, diffusion.load_latents, export.load_snapshot], ids=lambda f: f.__name__
)
def test_a_checkpoint_that_would_run_code_is_refused_without_running_it(
    tmp_path: Path, loader: object
) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "ckpt.pt"
    torch.save({"unet": {"w": torch.zeros(2)}, "ema": {}, "extra": _Payload(marker)}, path)

    with pytest.raises(UnsafeCheckpoint, match=r"ckpt\.pt holds more than tensors and plain data"):
        loader(path)  # type: ignore[operator]
    assert not marker.exists()


def _draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_random_states_survive_a_checkpoint_round_trip(tmp_path: Path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    save_checkpoint(tmp_path / "ckpt.pt", {"global_rng": rng_state(), "step": 7})
    expected = _draws()
    _draws()

    state = load_checkpoint(tmp_path / "ckpt.pt")
    assert state is not None and state["step"] == 7
    restore_rng(state["global_rng"])
    assert _draws() == expected


def test_a_checkpoint_written_before_plain_random_states_still_resumes(tmp_path: Path) -> None:
    np.random.seed(4)
    old_style = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    torch.save({"global_rng": old_style}, tmp_path / "old.pt")
    expected = float(np.random.rand())

    state = load_checkpoint(tmp_path / "old.pt")
    assert state is not None
    restore_rng(state["global_rng"])
    assert float(np.random.rand()) == expected
