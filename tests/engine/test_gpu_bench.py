"""The GPU benchmark's CPU smoke mode at its smallest setting: SD1.5 blocks (widths ÷8), every switch."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "gpu_bench.py"


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("gpu_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_bench"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_cpu_smoke_run_reports_every_switch(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _bench()
    rows = bench.main(
        [
            "--device",
            "cpu",
            "--models",
            "sd15",
            "--sizes",
            "32",
            "--steps",
            "1",
            "--threads",
            "1",
            "--rounds",
            "1",
        ]
    )
    labels = [row.switches.label for row in rows]
    assert labels == ["fp32 plain attention", "fp32 SDPA", "bf16 SDPA", "bf16 SDPA channels_last"]
    for row in rows:
        assert row.its > 0 and math.isfinite(row.its)
        assert row.grid_s > 0 and math.isfinite(row.grid_s)
    out = capsys.readouterr().out
    assert "SMOKE TEST" in out and "about 54 it/s" in out and "about 105 it/s" in out


def test_shrunk_sdxl_configs_stay_consistent() -> None:
    import json

    bench = _bench()
    sdxl = bench.shrink(json.loads(bench.CONFIGS.read_text())["sdxl"], 8)
    unet, encoders = sdxl["unet"], sdxl["text_encoders"]
    assert unet["block_out_channels"] == [40, 80, 160]
    assert unet["cross_attention_dim"] == sum(e["hidden_size"] for e in encoders) == 96 + 160
    assert unet["projection_class_embeddings_input_dim"] == 160 + 6 * 32
    full = bench.shrink(json.loads(bench.CONFIGS.read_text())["sdxl"], 1)["unet"]
    assert full["cross_attention_dim"] == 2048 and full["projection_class_embeddings_input_dim"] == 2816
