"""A parameter the configured model cannot take is refused before anything is charged or queued."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import World


@pytest.fixture(scope="session")
def lcm_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from engine.tiny import build_tiny_family

    return build_tiny_family(tmp_path_factory.mktemp("lcm") / "lcm", "lcm")


async def test_a_refused_parameter_names_the_model_and_charges_nothing(world: World, lcm_model: Path) -> None:
    await world.start_bot(engine_model=str(lcm_model))
    quota = await world.quota()
    before = await quota.status(world.guild.id, world.alice.id)

    refused = await world.imagine(world.alice, "a cat --no dogs")
    await refused.wait_acked(timeout=5)
    assert refused.original is not None and refused.original.ephemeral
    text = refused.original.content
    assert (
        "Model `lcm` cannot take `--no`" in text
        and str(lcm_model) not in text
        and "Nothing was charged" in text
    )
    assert (await quota.status(world.guild.id, world.alice.id)).remaining == before.remaining
    assert await (await world.jobs()).user_active_jobs(world.alice.id) == []

    unknown = await world.imagine(world.alice, "a cat --model no-such-model")
    await unknown.wait_acked(timeout=5)
    assert unknown.original is not None and unknown.original.ephemeral
    assert "Unknown model `no-such-model`" in unknown.original.content
    assert (await quota.status(world.guild.id, world.alice.id)).remaining == before.remaining

    grid = await world.wait_result(await world.imagine(world.alice, "a cat --seed 3"))
    assert {"U1", "V4", "🔄"} <= set(grid.button_labels), (
        "LCM takes variations and upscales: their buttons are shown"
    )
