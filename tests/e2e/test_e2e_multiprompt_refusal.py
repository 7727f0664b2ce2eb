"""A multi-prompt on a family that cannot mix its parts is refused before anything is charged or queued."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import World


@pytest.fixture(scope="session")
def sd3_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from engine.tiny import build_tiny_family

    return build_tiny_family(tmp_path_factory.mktemp("sd3") / "sd3", "sd3")


async def test_a_multi_prompt_the_model_cannot_mix_charges_nothing(world: World, sd3_model: Path) -> None:
    await world.start_bot(engine_model=str(sd3_model))
    quota = await world.quota()
    before = await quota.status(world.guild.id, world.alice.id)

    refused = await world.imagine(world.alice, "a red circle:: a blue square::2")
    await refused.wait_acked(timeout=5)
    assert refused.original is not None and refused.original.ephemeral
    text = refused.original.content
    assert "Model `sd3` cannot take a multi-prompt (`::`)" in text and "Nothing was charged" in text
    assert str(sd3_model) not in text
    assert (await quota.status(world.guild.id, world.alice.id)).remaining == before.remaining
    assert await (await world.jobs()).user_active_jobs(world.alice.id) == []
    assert not [m for m in world.fake.messages(world.channel, viewer=world.bob) if m.author.bot]
