"""Seamless tiling: circular padding on every convolution for the length of one job."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from torch import nn


@contextmanager
def seamless(modules: Iterable[nn.Module | None], enabled: bool = True) -> Iterator[None]:
    """Switch the padded ``Conv2d`` layers of ``modules`` to circular padding, restoring them on exit."""
    changed: list[tuple[nn.Conv2d, Any]] = []
    try:
        if enabled:
            for module in modules:
                if module is None:
                    continue
                for layer in module.modules():
                    if isinstance(layer, nn.Conv2d) and layer.padding != (0, 0):
                        changed.append((layer, layer.padding_mode))
                        layer.padding_mode = "circular"  # type: ignore[assignment]
        yield
    finally:
        for layer, mode in changed:
            layer.padding_mode = mode
