"""Multi-prompts (``a:: b::2``) per family: mixed on the UNet families (SD 1.x/2.x, SDXL, LCM), refused
up front by ``Engine.check`` (before anything runs or is charged) on the others, from their capabilities."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from engine.errors import InvalidRequest
from engine.local import LocalEngine
from engine.prompt import parse_prompt
from engine.tiny import FAMILIES, build_tiny_family

MIXED = {"sd", "sdxl", "lcm"}
MULTI = "a red circle:: a blue square::2"


@pytest.fixture(scope="module")
def family_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("multiprompt-families")
    for family in FAMILIES:
        build_tiny_family(root / family, family)
    return root


@pytest.mark.parametrize("family", FAMILIES)
def test_multi_prompts_are_mixed_or_refused_before_running(family: str, family_dir: Path) -> None:
    local = LocalEngine(model=family, models_dir=family_dir, device="cpu", threads=1)
    try:
        request = replace(parse_prompt(MULTI).request, steps=2)
        info = local.check(replace(parse_prompt("a red circle").request, steps=2))
        assert info.capabilities.multiprompt == (family in MIXED)
        if family not in MIXED:
            with pytest.raises(InvalidRequest, match=rf"Model `{family}` cannot take a multi-prompt"):
                local.check(request)
            assert "Stable Diffusion" in info.capabilities.why_not("multiprompt")
            return
        local.check(request)
        if family == "lcm":  # SD and SDXL mixing is tested with the engine's multi-prompt tests
            result = asyncio.run(local.run(request, job_id="multi"))
            assert len(result.images) == 4
    finally:
        asyncio.run(local.close())
