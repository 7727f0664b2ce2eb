"""Engine fixtures: a tiny random-weight Stable Diffusion folder built once per session, and engines on it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from engine.local import LocalEngine
from engine.tiny import build_tiny_model

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny", seed=0)


@pytest.fixture(scope="session")
def engine(tiny_model: Path) -> Iterator[LocalEngine]:
    """One engine for the session: its worker serves callers on any event loop."""
    local = LocalEngine(model=str(tiny_model), device="cpu", threads=1, preview_every=2, preload=True)
    yield local
    asyncio.run(local.close())


@pytest.fixture(scope="session")
def loaded(tiny_model: Path):  # type: ignore[no-untyped-def]
    """The tiny model loaded directly (for renderer-level tests)."""
    from engine.local.models import load_model
    from engine.local.registry import ModelSpec

    return load_model(ModelSpec(name="tiny", source=str(tiny_model), local=True), torch.device("cpu"))
